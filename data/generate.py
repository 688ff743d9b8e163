"""Seeded synthetic Jilin assistance rosters (civil, poverty, health) with linkage ground truth.

Everything is random (numpy Generator only, so a seed reproduces every byte) and vectorised, so a
million-row civil roster is cheap enough for benchmarks. The dirt injected into IDs, names,
addresses and dates mirrors what real office exports contain; truth.csv records, per roster row,
which person it is and which ID/name corruption it carries.

CLI: python data/generate.py --seed 7 --civil 2000 --out DIR [--format sample|fast]
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from data import names_pool as pool  # noqa: E402

CIVIL_COLUMNS: tuple[str, ...] = (
    "序号", "行政区划代码", "家庭编号", "户主姓名", "姓名", "与户主关系", "身份证号码", "性别",
    "救助类别", "月保障金额", "纳入日期", "状态", "家庭住址", "联系电话",
)
POVERTY_COLUMNS: tuple[str, ...] = (
    "序号", "省", "市", "县", "乡镇", "行政村", "户编号", "姓名", "证件号码", "与户主关系", "户类型",
    "监测对象类别", "主要风险", "是否享受低保", "是否特困供养", "年人均纯收入", "联系电话",
)
HEALTH_COLUMNS: tuple[str, ...] = (
    "序号", "姓名", "性别", "身份证号", "联系电话", "现住址", "户籍地址", "报告地区", "病例类型",
    "诊断日期", "转归",
)
TRUTH_COLUMNS: tuple[str, ...] = ("file", "row", "person_id", "id_corruption", "name_corruption", "junk")
FILES: tuple[str, ...] = ("civil", "poverty", "health")
ID_COLUMN = {"civil": "身份证号码", "poverty": "证件号码", "health": "身份证号"}

ID_CORRUPTIONS: tuple[str, ...] = (
    "clean", "lowercase", "space", "fullwidth", "apostrophe", "legacy15", "scientific", "zeros",
    "typo", "transposition", "blank",
)
NAME_CORRUPTIONS: tuple[str, ...] = ("clean", "space", "homophone", "lookalike", "traditional", "dot")

# label -> (rate, relative). A relative rate applies to eligible rows only (legacy15: people born
# before 2000; lowercase: IDs ending in X; dot: minority names); the others are shares of all rows.
# Applied in this order, each row gets at most one; all rates are multiplied by `corruption`.
ID_CORRUPTION_RATES: dict[str, tuple[float, bool]] = {
    "legacy15": (0.02, True),
    "scientific": (0.01, False),
    "zeros": (0.003, False),
    "typo": (0.015, False),
    "transposition": (0.007, False),
    "lowercase": (0.2, True),
    "space": (0.01, False),
    "fullwidth": (0.005, False),
    "apostrophe": (0.01, False),
}
BLANK_ID_RATES: dict[str, float] = {"civil": 0.03, "poverty": 0.005, "health": 0.05}
NAME_CORRUPTION_RATES: dict[str, tuple[float, bool]] = {
    "dot": (0.5, True),
    "homophone": (0.02, False),
    "lookalike": (0.005, False),
    "traditional": (0.01, False),
    "space": (0.02, False),
}
JUNK_RATE = 0.001
JUNK_MARKERS = ("合计", "小计", "以下空白", "")
JUNK_COLUMN = {"civil": "家庭编号", "poverty": "户编号", "health": "现住址"}

ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
CHECK_CHARACTERS = np.array(list("10X98765432"), dtype=object)
MOBILE_PREFIXES = np.array(
    [*range(130, 140), 150, 151, 152, 153, 155, 156, 157, 158, 159, *range(180, 190)], dtype=np.int64
)
FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
EPOCH = np.datetime64("1970-01-01", "D")
EXCEL_EPOCH = np.datetime64("1899-12-30", "D")

# Household templates: H head, S spouse, C child, F father, M mother, G grandchild,
# L child-in-law, O other. Children are adjacent so twins and look-alike siblings are neighbours.
HOUSEHOLD_TEMPLATES: tuple[tuple[str, float], ...] = (
    ("H", 0.30),
    ("HS", 0.27 * 0.55), ("HC", 0.27 * 0.33), ("HM", 0.27 * 0.07), ("HG", 0.27 * 0.05),
    ("HSC", 0.19 * 0.62), ("HCC", 0.19 * 0.15), ("HSM", 0.19 * 0.08), ("HSG", 0.19 * 0.08),
    ("HCG", 0.19 * 0.07),
    ("HSCC", 0.13 * 0.55), ("HSCL", 0.13 * 0.12), ("HSCM", 0.13 * 0.13), ("HSCG", 0.13 * 0.10),
    ("HCCC", 0.13 * 0.10),
    ("HSCCC", 0.07 * 0.30), ("HSCLG", 0.07 * 0.35), ("HSCCM", 0.07 * 0.20), ("HSFMC", 0.07 * 0.15),
    ("HSCLGG", 0.04 * 0.50), ("HSCCFM", 0.04 * 0.30), ("HSCCCO", 0.04 * 0.20),
)
ROLES = "HSCFMGLO"
TWIN_RATE = 0.06
ALIKE_SIBLING_RATE = 0.35
MINORITY_HOUSEHOLD_RATE = 0.003
OLD_ID_CODE_RATE = 0.7
OTHER_COUNTY_ID_RATE = 0.05
MIGRANT_RATE = 0.04


@dataclass
class Rosters:
    """The three rosters (all cells str, export headers), the row-level truth and the clean people."""

    civil: pd.DataFrame
    poverty: pd.DataFrame
    health: pd.DataFrame
    truth: pd.DataFrame
    people: pd.DataFrame

    def frame(self, file: str) -> pd.DataFrame:
        return {"civil": self.civil, "poverty": self.poverty, "health": self.health}[file]

    def truth_for(self, file: str) -> pd.DataFrame:
        return self.truth[self.truth["file"] == file].reset_index(drop=True)


def generate_rosters(
    seed: int,
    n_civil: int,
    poverty_ratio: float = 0.7,
    health_ratio: float = 0.05,
    corruption: float = 1.0,
    poverty_overlap: float = 0.5,
    health_sources: tuple[float, float, float] = (0.4, 0.3, 0.3),
    junk_rate: float = JUNK_RATE,
) -> Rosters:
    """Generate civil/poverty/health rosters and their truth, deterministically from `seed`.

    n_civil is the civil row count (junk rows included); poverty and health row counts are
    round(ratio * n_civil). poverty_overlap is the share of poverty people also in civil (whole
    households); health_sources the shares of health people drawn from civil, poverty (not
    already drawn) and people in no roster.
    """
    if n_civil < 1:
        raise ValueError("n_civil must be positive")
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(7)]
    geo = _build_geo(streams[0])
    n_rows = {
        "civil": int(n_civil),
        "poverty": int(round(poverty_ratio * n_civil)),
        "health": int(round(health_ratio * n_civil)),
    }
    n_junk = {f: int(round(junk_rate * corruption * n)) for f, n in n_rows.items()}
    n_people = {f: n_rows[f] - n_junk[f] for f in FILES}

    hh = _draw_households(streams[1], geo, n_people, poverty_overlap)
    persons = _draw_persons(streams[2], geo, hh)

    assistance = _draw_assistance(streams[6], hh)
    civil, civil_truth = _civil_roster(streams[3], geo, hh, persons, assistance, n_junk["civil"], corruption)
    poverty, poverty_truth = _poverty_roster(
        streams[4], geo, hh, persons, assistance, n_junk["poverty"], corruption
    )
    health, health_truth = _health_roster(
        streams[5], geo, hh, persons, n_people["health"], n_junk["health"], corruption, health_sources
    )
    truth = pd.concat([civil_truth, poverty_truth, health_truth], ignore_index=True)
    people = pd.DataFrame({
        "person_id": persons.person_id,
        "id_number": persons.id18,
        "name": persons.name,
        "sex": np.where(persons.male, "男", "女").astype(object),
        "birth_date": persons.birth.astype(np.dtypes.StringDType()).astype(object),
        "county_code": geo.county_code[hh.county[persons.hh]],
    })
    return Rosters(civil=civil, poverty=poverty, health=health, truth=truth, people=people)


def true_pairs(truth: pd.DataFrame, left_file: str, right_file: str) -> pd.DataFrame:
    """Row pairs (1-based data-row numbers) of the same person in two files; junk rows never pair."""
    def side(file: str) -> pd.DataFrame:
        part = truth[(truth["file"] == file) & (pd.to_numeric(truth["junk"]) == 0)]
        part = part[part["person_id"].fillna("").astype(str) != ""]
        return pd.DataFrame({"row": part["row"].astype(np.int64), "person_id": part["person_id"].astype(str)})

    left, right = side(left_file), side(right_file)
    pairs = left.merge(right, on="person_id", suffixes=("_left", "_right"))
    pairs = pairs.rename(columns={"row_left": "left_row", "row_right": "right_row"})
    pairs = pairs[["left_row", "right_row"]]
    if left_file == right_file:
        pairs = pairs[pairs["left_row"] != pairs["right_row"]]
    return pairs.sort_values(["left_row", "right_row"]).reset_index(drop=True)


def write_rosters(rosters: Rosters, out_dir: str | Path, format: str = "sample") -> dict[str, Path]:
    """Write the rosters as exported by offices ("sample") or as plain UTF-8 CSV ("fast"), plus truth.csv."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    if format == "sample":
        paths["civil"] = out / "civil.csv"
        rosters.civil.to_csv(paths["civil"], index=False, encoding="gb18030")
        paths["poverty"] = out / "poverty.xlsx"
        _write_poverty_xlsx(rosters.poverty, rosters.truth_for("poverty"), paths["poverty"])
        paths["health"] = out / "health.csv"
        rosters.health.to_csv(paths["health"], index=False, encoding="utf-8-sig")
    elif format == "fast":
        for file in FILES:
            paths[file] = out / f"{file}.csv"
            rosters.frame(file).to_csv(paths[file], index=False, encoding="utf-8")
    else:
        raise ValueError("format must be 'sample' or 'fast'")
    paths["truth"] = out / "truth.csv"
    rosters.truth.to_csv(paths["truth"], index=False, encoding="utf-8")
    return paths


def _write_poverty_xlsx(frame: pd.DataFrame, truth: pd.DataFrame, path: Path) -> None:
    """IDs as text cells, except the Excel-mangled ones (zeros, scientific) which are numbers, as in Excel."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("防返贫监测对象")
    ws.append(list(frame.columns))
    id_pos = list(frame.columns).index("证件号码")
    kinds = truth["id_corruption"].to_numpy()
    for values, kind in zip(frame.itertuples(index=False, name=None), kinds):
        row: list[object] = [v if v != "" else None for v in values]
        row[0] = int(values[0])
        if kind == "zeros":
            row[id_pos] = int(values[id_pos])
        elif kind == "scientific":
            row[id_pos] = float(values[id_pos])
        ws.append(row)
    wb.save(path)


@dataclass(frozen=True)
class _Lexicon:
    """Character-indexed name pools plus homophone, look-alike and traditional-form tables."""

    chars: np.ndarray            # object; the last entry is "" so index -1 means "no character"
    surnames: np.ndarray         # object
    surname_p: dict[str, np.ndarray]
    whole: dict[tuple[bool, bool], tuple[np.ndarray, np.ndarray, np.ndarray]]
    char_pool: dict[tuple[bool, bool], tuple[np.ndarray, np.ndarray]]   # (male, leading) -> chars, p
    hom_start: np.ndarray
    hom_count: np.ndarray
    hom_flat: np.ndarray
    lookalike: dict[str, tuple[str, ...]]
    char_flag_look: np.ndarray
    surname_flag_look: np.ndarray
    char_flag_trad: np.ndarray
    surname_flag_trad: np.ndarray


def _text(values: np.ndarray, width: int = 0) -> np.ndarray:
    """Integers as an object array of str, zero-padded to `width` (StringDType is the fast path)."""
    text = np.asarray(values).astype(np.dtypes.StringDType())
    if width:
        text = np.strings.zfill(text, width)
    return text.astype(object)


def _zipf(n: int, exponent: float = 0.9) -> np.ndarray:
    w = 1.0 / np.arange(2, n + 2, dtype=float) ** exponent
    return w / w.sum()


@lru_cache(maxsize=1)
def _lexicon() -> _Lexicon:
    from pypinyin import lazy_pinyin

    groups = pool.load_surnames()
    surname_list = list(dict.fromkeys(s for g in groups.values() for s, _ in g))
    s_index = {s: i for i, s in enumerate(surname_list)}
    surname_p = {}
    for group, items in groups.items():
        p = np.zeros(len(surname_list))
        for s, w in items:
            p[s_index[s]] += w
        surname_p[group] = p / p.sum()

    name_lists = [pool.MALE_NAMES_OLD, pool.MALE_NAMES_NEW, pool.FEMALE_NAMES_OLD, pool.FEMALE_NAMES_NEW]
    ordered = [ch for lst in name_lists for name in lst for ch in name]
    ordered += list(pool.MALE_CHARS) + list(pool.FEMALE_CHARS) + list(pool.common_chars())
    ordered += [ch for pair in pool.LOOKALIKE_PAIRS for ch in pair]
    char_list = list(dict.fromkeys(ordered))
    c_index = {c: i for i, c in enumerate(char_list)}
    chars = np.array(char_list + [""], dtype=object)

    whole = {}
    for male, old, lst in ((True, True, pool.MALE_NAMES_OLD), (True, False, pool.MALE_NAMES_NEW),
                           (False, True, pool.FEMALE_NAMES_OLD), (False, False, pool.FEMALE_NAMES_NEW)):
        c1 = np.array([c_index[n[0]] for n in lst], dtype=np.int64)
        c2 = np.array([c_index[n[1]] if len(n) > 1 else -1 for n in lst], dtype=np.int64)
        whole[(male, old)] = (c1, c2, _zipf(len(lst)))
    char_pool = {}
    for male, chars_of_sex in ((True, pool.MALE_CHARS), (False, pool.FEMALE_CHARS)):
        for leading in (True, False):
            picked = [c for c in chars_of_sex if leading or c not in pool.LEADING_ONLY_CHARS]
            char_pool[(male, leading)] = (np.array([c_index[c] for c in picked]), _zipf(len(picked), 0.7))

    readings: dict[str, list[int]] = {}
    for i, ch in enumerate(char_list):
        readings.setdefault(lazy_pinyin(ch)[0], []).append(i)
    hom_start = np.zeros(len(chars), dtype=np.int64)
    hom_count = np.zeros(len(chars), dtype=np.int64)
    flat: list[int] = []
    for i, ch in enumerate(char_list):
        others = [j for j in readings[lazy_pinyin(ch)[0]] if j != i]
        hom_start[i], hom_count[i] = len(flat), len(others)
        flat.extend(others)

    lookalike: dict[str, list[str]] = {}
    for a, b in pool.LOOKALIKE_PAIRS:
        lookalike.setdefault(a, []).append(b)
        lookalike.setdefault(b, []).append(a)
    look = {k: tuple(v) for k, v in lookalike.items()}
    s2t = _converter("s2t")
    return _Lexicon(
        chars=chars,
        surnames=np.array(surname_list, dtype=object),
        surname_p=surname_p,
        whole=whole,
        char_pool=char_pool,
        hom_start=hom_start,
        hom_count=hom_count,
        hom_flat=np.array(flat, dtype=np.int64),
        lookalike=look,
        char_flag_look=np.array([c in look for c in chars]),
        surname_flag_look=np.array([any(c in look for c in s) for s in surname_list]),
        char_flag_trad=np.array([c != "" and s2t.convert(c) != c for c in chars]),
        surname_flag_trad=np.array([s2t.convert(s) != s for s in surname_list]),
    )


@lru_cache(maxsize=2)
def _converter(config: str):
    import opencc

    return opencc.OpenCC(config)


@lru_cache(maxsize=1)
def _number_tables() -> tuple[np.ndarray, np.ndarray]:
    """Arabic and Chinese renderings of 0..999 (二十三, 五百零一)."""
    digits = "零一二三四五六七八九"

    def chinese(n: int) -> str:
        if n < 10:
            return digits[n]
        if n < 100:
            tens, ones = divmod(n, 10)
            return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")
        hundreds, rest = divmod(n, 100)
        if rest == 0:
            return digits[hundreds] + "百"
        if rest < 10:
            return digits[hundreds] + "百零" + digits[rest]
        tens, ones = divmod(rest, 10)
        return digits[hundreds] + "百" + digits[tens] + "十" + (digits[ones] if ones else "")

    arabic = np.array([str(i) for i in range(1000)], dtype=object)
    return arabic, np.array([chinese(i) for i in range(1000)], dtype=object)


@dataclass
class _Geo:
    county_code: np.ndarray
    county_name: np.ndarray
    prefecture_name: np.ndarray
    county_p: np.ndarray
    urban_p: np.ndarray
    group_suffix: np.ndarray
    old_code: np.ndarray          # old ID area code or "" per county
    old_code_last_year: np.ndarray
    old_name: np.ndarray          # old county name still seen in addresses, or ""
    v_county: np.ndarray
    v_urban: np.ndarray
    v_town: np.ndarray
    v_village: np.ndarray
    v_code12: np.ndarray
    group_start: np.ndarray       # (county, urban) -> first gazetteer row
    group_count: np.ndarray
    roads: np.ndarray


def _current_counties() -> list[dict[str, str]]:
    """Current Jilin counties (no end year) with their current prefecture's name."""
    with open(ROOT / "schemas" / "divisions_jilin.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    current = [r for r in rows if not r["end_year"]]
    prefectures = {r["code"]: r["name"] for r in current if r["level"] == "prefecture"}
    counties = [dict(r, prefecture=prefectures[r["parent_code"]]) for r in current
                if r["level"] == "county" and r["parent_code"] in prefectures]
    return sorted(counties, key=lambda r: r["code"])


def _build_geo(rng: np.random.Generator) -> _Geo:
    counties = _current_counties()
    n = len(counties)
    code = np.array([c["code"] for c in counties], dtype=object)
    name = np.array([c["name"] for c in counties], dtype=object)
    parent = [c["parent_code"] for c in counties]
    per_pref = {p: parent.count(p) for p in set(parent)}
    weight = np.array([pool.PREFECTURE_WEIGHTS.get(p, 0.02) / per_pref[p] for p in parent])
    urban_p = np.array([0.8 if nm.endswith("区") else 0.45 if nm.endswith("市") else 0.2 for nm in name])
    old = {current: (old_code, last) for old_code, current, last in pool.OLD_ID_CODES}
    old_names = dict(pool.OLD_COUNTY_NAMES)

    v_county, v_urban, v_town, v_village, v_code = [], [], [], [], []
    group_start = np.zeros((n, 2), dtype=np.int64)
    group_count = np.zeros((n, 2), dtype=np.int64)
    for ci, county in enumerate(counties):
        district = county["name"].endswith("区")
        n_street = int(rng.integers(6, 12) if district else rng.integers(2, 5))
        n_town = int(rng.integers(2, 5) if district else rng.integers(10, 18))
        group_start[ci, 1] = len(v_county)
        for k, stem in enumerate(rng.choice(pool.STREET_STEMS, n_street, replace=False)):
            n_comm = int(rng.integers(4, 9))
            for j, comm in enumerate(rng.choice(pool.COMMUNITY_STEMS, n_comm, replace=False)):
                v_county.append(ci), v_urban.append(True), v_town.append(stem + "街道")
                v_village.append(comm + "社区"), v_code.append(f"{county['code']}{k + 1:03d}{j + 1:03d}")
        group_count[ci, 1] = len(v_county) - group_start[ci, 1]
        group_start[ci, 0] = len(v_county)
        n_zhen = n_xiang = 0
        for stem in rng.choice(pool.TOWN_STEMS, n_town, replace=False):
            if rng.random() < 0.3:
                n_xiang += 1
                town, town_code = stem + "乡", 200 + n_xiang
            else:
                n_zhen += 1
                town, town_code = stem + "镇", 100 + n_zhen
            n_vil = int(rng.integers(6, 16))
            for j, vil in enumerate(rng.choice(pool.VILLAGE_STEMS, n_vil, replace=False)):
                v_county.append(ci), v_urban.append(False), v_town.append(town)
                v_village.append(vil + "村"), v_code.append(f"{county['code']}{town_code:03d}{201 + j:03d}")
        group_count[ci, 0] = len(v_county) - group_start[ci, 0]
    roads = np.array([stem + rng.choice(pool.ROAD_SUFFIXES) for stem in pool.ROAD_STEMS], dtype=object)
    return _Geo(
        county_code=code,
        county_name=name,
        prefecture_name=np.array([c["prefecture"] for c in counties], dtype=object),
        county_p=weight / weight.sum(),
        urban_p=urban_p,
        group_suffix=np.where(rng.random(n) < 0.65, "社", "组").astype(object),
        old_code=np.array([old.get(c, ("", 0))[0] for c in code], dtype=object),
        old_code_last_year=np.array([old.get(c, ("", 0))[1] for c in code], dtype=np.int64),
        old_name=np.array([old_names.get(c, "") for c in code], dtype=object),
        v_county=np.array(v_county, dtype=np.int64),
        v_urban=np.array(v_urban),
        v_town=np.array(v_town, dtype=object),
        v_village=np.array(v_village, dtype=object),
        v_code12=np.array(v_code, dtype=object),
        group_start=group_start,
        group_count=group_count,
        roads=roads,
    )


@dataclass
class _Households:
    """Candidate households (column arrays) and which roster each one was allocated to."""

    county: np.ndarray
    urban: np.ndarray
    village: np.ndarray
    template: np.ndarray
    size: np.ndarray
    kept: np.ndarray
    korean: np.ndarray
    minority: np.ndarray
    phone: np.ndarray
    road: np.ndarray
    house_no: np.ndarray
    building: np.ndarray
    unit: np.ndarray
    room: np.ndarray
    group_no: np.ndarray
    tun: np.ndarray
    civil: np.ndarray        # indices of civil households
    overlap: np.ndarray      # civil households also on the poverty roster
    poverty_only: np.ndarray
    general: np.ndarray      # in no roster; the health roster draws some of their people


def _templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Template probabilities, sizes, and a padded role-code matrix."""
    p = np.array([w for _, w in HOUSEHOLD_TEMPLATES])
    sizes = np.array([len(t) for t, _ in HOUSEHOLD_TEMPLATES])
    roles = np.full((len(sizes), sizes.max()), -1, dtype=np.int64)
    for i, (t, _) in enumerate(HOUSEHOLD_TEMPLATES):
        roles[i, : len(t)] = [ROLES.index(r) for r in t]
    return p / p.sum(), sizes, roles


def _phones(rng: np.random.Generator, n: int) -> np.ndarray:
    prefix = rng.choice(MOBILE_PREFIXES, n)
    return _text(prefix * 10**8 + rng.integers(0, 10**8, n))


def _draw_households(rng: np.random.Generator, geo: _Geo, n_people: dict[str, int],
                     overlap: float) -> _Households:
    """Household-level draws, then allocation to civil, poverty (rural-leaning overlap) and no roster."""
    p, sizes, _ = _templates()
    mean_size = float(p @ sizes)
    civil_people, pov_people = n_people["civil"], n_people["poverty"]
    general_people = n_people["health"]
    rural_share = float(geo.county_p @ (1.0 - geo.urban_p))
    need = civil_people + pov_people * (1.1 - overlap) / rural_share + general_people
    n = int(need / mean_size * 1.1) + 500

    county = rng.choice(len(geo.county_code), n, p=geo.county_p)
    urban = rng.random(n) < geo.urban_p[county]
    urban &= geo.group_count[county, 1] > 0
    village = geo.group_start[county, urban.astype(int)] + (
        rng.random(n) * geo.group_count[county, urban.astype(int)]
    ).astype(np.int64)
    template = rng.choice(len(p), n, p=p)
    size = sizes[template]
    yanbian = np.array([code.startswith("2224") for code in geo.county_code])
    korean = yanbian[county] & (rng.random(n) < 0.45)

    hh = _Households(
        county=county, urban=urban, village=village, template=template, size=size, kept=size.copy(),
        korean=korean, minority=rng.random(n) < MINORITY_HOUSEHOLD_RATE, phone=_phones(rng, n),
        road=rng.integers(0, len(geo.roads), n), house_no=rng.integers(1, 400, n),
        building=rng.integers(1, 37, n), unit=rng.integers(1, 7, n),
        room=rng.integers(1, 19, n) * 100 + rng.integers(1, 5, n),
        group_no=rng.integers(1, 13, n),
        tun=np.where(rng.random(n) < 0.25, rng.integers(0, len(pool.TUN_STEMS), n), -1),
        civil=np.empty(0, np.int64), overlap=np.empty(0, np.int64),
        poverty_only=np.empty(0, np.int64), general=np.empty(0, np.int64),
    )

    cum = np.cumsum(size)
    last = int(np.searchsorted(cum, civil_people))
    if last >= n:
        raise RuntimeError("household pool too small")
    hh.kept[last] = size[last] - (cum[last] - civil_people)
    hh.civil = np.arange(last + 1)

    target = int(round(pov_people * overlap))
    target = min(target, civil_people)
    if target > 0:
        weight = np.where(urban[hh.civil], 0.15, 1.0)
        keys = rng.random(len(hh.civil)) ** (1.0 / weight)
        order = hh.civil[np.argsort(-keys, kind="stable")]
        ocum = np.cumsum(hh.kept[order])
        m = int(np.searchsorted(ocum, target))
        hh.overlap = np.sort(order[: m + 1])
    overlap_people = int(hh.kept[hh.overlap].sum())

    rest = np.arange(last + 1, n)
    rural_rest = rest[~urban[rest]]
    need_pov = pov_people - overlap_people
    if need_pov > 0:
        rcum = np.cumsum(size[rural_rest])
        j = int(np.searchsorted(rcum, need_pov))
        if j >= len(rural_rest):
            raise RuntimeError("household pool too small")
        hh.poverty_only = rural_rest[: j + 1]
        hh.kept[rural_rest[j]] = size[rural_rest[j]] - (rcum[j] - need_pov)
    free = np.ones(n, dtype=bool)
    free[: last + 1] = False
    free[hh.poverty_only] = False
    remaining = np.flatnonzero(free)
    gcum = np.cumsum(size[remaining])
    g = int(np.searchsorted(gcum, max(general_people, 1)))
    hh.general = remaining[: g + 1]
    return hh


@dataclass
class _Persons:
    hh: np.ndarray
    pos: np.ndarray
    role: np.ndarray
    s_idx: np.ndarray
    male: np.ndarray
    birth: np.ndarray            # datetime64[D]
    surname: np.ndarray          # object
    given: np.ndarray            # object
    c1: np.ndarray
    c2: np.ndarray
    minority: np.ndarray
    name: np.ndarray
    id18: np.ndarray
    id15: np.ndarray
    phone: np.ndarray
    person_id: np.ndarray
    relationship: np.ndarray
    head: np.ndarray             # person index of the household head, per person
    in_civil: np.ndarray
    in_poverty: np.ndarray
    general: np.ndarray


def _draw_persons(rng: np.random.Generator, geo: _Geo, hh: _Households) -> _Persons:
    """Members of the allocated households: roles, ages, surnames by family line, names, IDs, phones."""
    lex = _lexicon()
    _, _, role_matrix = _templates()
    households = np.concatenate([hh.civil, hh.poverty_only, hh.general])
    kept = hh.kept[households]
    n = int(kept.sum())
    p_hh = np.repeat(households, kept)
    starts = np.repeat(np.cumsum(kept) - kept, kept)
    pos = np.arange(n) - starts
    head = starts
    template = hh.template[p_hh]
    role = role_matrix[template, pos]
    n_hh = len(households)
    hh_local = np.repeat(np.arange(n_hh), kept)

    has = {r: np.array([r in t for t, _ in HOUSEHOLD_TEMPLATES]) for r in "SFMG"}
    head_male_h = rng.random(n_hh) < 0.62
    decade = rng.choice(np.arange(1930, 2000, 10), n_hh, p=[0.06, 0.15, 0.24, 0.24, 0.15, 0.10, 0.06])
    head_year_h = decade + rng.integers(0, 10, n_hh)
    t_h = hh.template[households]
    with_parents = has["F"][t_h] | has["M"][t_h]
    head_year_h = np.where(with_parents, rng.integers(1958, 1996, n_hh), head_year_h)
    head_year_h = np.where(has["G"][t_h], rng.integers(1935, 1969, n_hh), head_year_h)
    head_year = head_year_h[hh_local]
    head_male = head_male_h[hh_local]

    H, S, C, F, M, G, L, O = range(len(ROLES))
    coin = rng.random(n) < 0.5
    male = np.select(
        [role == H, role == S, role == F, role == M, role == L],
        [head_male, ~head_male, True, False, rng.random(n) < 0.15],
        default=coin,
    )
    offset = np.select(
        [role == H, role == S, role == C, role == F, role == M, role == G, role == L],
        [0, np.rint(rng.normal(0, 3, n)).astype(np.int64), rng.integers(20, 37, n),
         -rng.integers(22, 36, n), -rng.integers(20, 34, n), rng.integers(44, 63, n),
         rng.integers(20, 37, n)],
        default=0,
    )
    year = np.where(role == O, rng.integers(1930, 2016, n), head_year + offset)
    year = np.clip(year, 1930, 2020)
    year_start = (year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    year_len = np.where((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)), 366, 365)
    birth = year_start + (rng.random(n) * year_len).astype(np.int64)

    korean_h = hh.korean[households]
    surname_h = np.where(korean_h, rng.choice(len(lex.surnames), n_hh, p=lex.surname_p["korean"]),
                         rng.choice(len(lex.surnames), n_hh, p=lex.surname_p["han"]))
    partner_h = np.where(korean_h & (rng.random(n_hh) < 0.7),
                         rng.choice(len(lex.surnames), n_hh, p=lex.surname_p["korean"]),
                         rng.choice(len(lex.surnames), n_hh, p=lex.surname_p["han"]))
    family_h = np.where(head_male_h | ~has["S"][t_h], surname_h, partner_h)
    own = np.where(korean_h[hh_local] & (rng.random(n) < 0.7),
                   rng.choice(len(lex.surnames), n, p=lex.surname_p["korean"]),
                   rng.choice(len(lex.surnames), n, p=lex.surname_p["han"]))
    s_idx = np.select(
        [role == H, role == F, role == S, (role == C) | (role == G)],
        [surname_h[hh_local], surname_h[hh_local], partner_h[hh_local], family_h[hh_local]],
        default=own,
    )

    c1, c2 = _given_names(rng, lex, male, year)
    twins = np.zeros(n, dtype=bool)
    first_child = np.array([t.find("C") for t, _ in HOUSEHOLD_TEMPLATES])
    child_rank = np.where(role == C, pos - first_child[template], -1)
    for rank in (1, 2):
        idx = np.flatnonzero(child_rank == rank)
        kind = rng.random(len(idx))
        twin = idx[kind < TWIN_RATE]
        alike = idx[(kind >= TWIN_RATE) & (kind < TWIN_RATE + ALIKE_SIBLING_RATE)]
        for group, is_twin in ((twin, True), (alike, False)):
            prev = group - 1
            fill_prev = c2[prev] < 0
            c2[prev[fill_prev]] = _pool_chars(rng, lex, male[prev[fill_prev]])
            c1[group] = c1[prev]
            fresh = _pool_chars(rng, lex, male[group])
            for _ in range(10):
                clash = fresh == c2[prev]
                if not clash.any():
                    break
                fresh[clash] = _pool_chars(rng, lex, male[group[clash]])
            c2[group] = fresh
            if is_twin:
                birth[group] = birth[prev]
                year[group] = year[prev]
                twins[group] = True
    chars = lex.chars
    surname = lex.surnames[s_idx]
    given = chars[c1] + chars[c2]
    minority = hh.minority[p_hh]
    name = surname + given
    if minority.any():
        mi = np.flatnonzero(minority)
        m_male = np.array(pool.MINORITY_GIVEN_MALE, dtype=object)
        m_female = np.array(pool.MINORITY_GIVEN_FEMALE, dtype=object)
        fathers = np.array(pool.MINORITY_FATHER, dtype=object)
        first = np.where(male[mi], m_male[rng.integers(0, len(m_male), len(mi))],
                         m_female[rng.integers(0, len(m_female), len(mi))])
        father_idx = rng.integers(0, len(fathers), len(mi))
        father_idx = np.where(fathers[father_idx] == first, (father_idx + 1) % len(fathers), father_idx)
        name[mi] = first + pool.MIDDLE_DOT + fathers[father_idx]
        surname[mi] = ""
        given[mi] = name[mi]

    id18, id15 = _id_numbers(rng, geo, hh, p_hh, birth, year, male, twins)
    relationship = np.select(
        [role == H, role == S, role == C, role == F, role == M, role == G, role == L],
        ["户主", "配偶", np.where(male, "子", "女"), "父亲", "母亲", np.where(male, "孙子", "孙女"),
         np.where(male, "其他", "儿媳")],
        default="其他",
    ).astype(object)
    phone = np.where(role == H, hh.phone[p_hh], _phones(rng, n))
    civil_set = np.zeros(len(hh.county), dtype=bool)
    civil_set[hh.civil] = True
    pov_set = np.zeros(len(hh.county), dtype=bool)
    pov_set[hh.overlap] = True
    pov_set[hh.poverty_only] = True
    gen_set = np.zeros(len(hh.county), dtype=bool)
    gen_set[hh.general] = True
    person_id = "P" + _text(np.arange(1, n + 1), 8)
    return _Persons(
        hh=p_hh, pos=pos, role=role, s_idx=s_idx, male=male, birth=birth, surname=surname, given=given, c1=c1,
        c2=c2, minority=minority, name=name, id18=id18, id15=id15, phone=phone,
        person_id=person_id, relationship=relationship, head=head, in_civil=civil_set[p_hh],
        in_poverty=pov_set[p_hh], general=gen_set[p_hh],
    )


def _pool_chars(rng: np.random.Generator, lex: _Lexicon, male: np.ndarray, leading: bool = False) -> np.ndarray:
    out = np.empty(len(male), dtype=np.int64)
    for sex in (True, False):
        idx = np.flatnonzero(male == sex)
        chars, p = lex.char_pool[(sex, leading)]
        out[idx] = chars[rng.choice(len(chars), len(idx), p=p)]
    return out


def _given_names(rng: np.random.Generator, lex: _Lexicon, male: np.ndarray,
                 year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Given names as one or two character indices: popular whole names or composed from pools."""
    n = len(male)
    old = (year < 1980) | ((year < 1990) & (rng.random(n) < 0.5))
    single = rng.random(n) < 0.2
    c1 = np.where(single, _pool_chars(rng, lex, male), _pool_chars(rng, lex, male, leading=True))
    c2 = np.where(single, -1, _pool_chars(rng, lex, male))
    use_whole = rng.random(n) < 0.45
    for (sex, era), (w1, w2, p) in lex.whole.items():
        idx = np.flatnonzero(use_whole & (male == sex) & (old == era))
        pick = rng.choice(len(w1), len(idx), p=p)
        c1[idx], c2[idx] = w1[pick], w2[pick]
    return c1, c2


def _id_numbers(rng: np.random.Generator, geo: _Geo, hh: _Households, p_hh: np.ndarray,
                birth: np.ndarray, year: np.ndarray, male: np.ndarray,
                twins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique valid 18-digit IDs (and their 15-digit legacy form) from area, birth date and sex."""
    n = len(p_hh)
    county = hh.county[p_hh]
    area = geo.county_code[county].astype(np.int64)
    old = geo.old_code[county]
    use_old = (old != "") & (year <= geo.old_code_last_year[county]) & (rng.random(n) < OLD_ID_CODE_RATE)
    area[use_old] = old[use_old].astype(np.int64)
    other = rng.random(n) < OTHER_COUNTY_ID_RATE
    area[other] = geo.county_code[rng.integers(0, len(geo.county_code), int(other.sum()))].astype(np.int64)

    ymd = _yyyymmdd(birth)

    def draw_seq(k: int, is_male: np.ndarray) -> np.ndarray:
        return rng.integers(0, 100, k) * 10 + rng.integers(0, 5, k) * 2 + is_male.astype(np.int64)

    seq = draw_seq(n, male)
    prev = np.flatnonzero(twins) - 1
    seq[prev] = np.minimum(seq[prev], 979 + (seq[prev] % 2))
    tw = np.flatnonzero(twins)
    area[tw] = area[prev]
    seq[tw] = seq[prev] + np.where(male[tw] == male[prev], 2, 1)
    first17 = area * 10**11 + ymd * 1000 + seq
    for _ in range(50):
        dup = pd.Series(first17).duplicated().to_numpy()
        if not dup.any():
            break
        d = np.flatnonzero(dup)
        seq[d] = draw_seq(len(d), male[d])
        first17[d] = area[d] * 10**11 + ymd[d] * 1000 + seq[d]
    else:
        raise RuntimeError("could not make IDs unique")
    id18 = _text(first17) + CHECK_CHARACTERS[_check_index(first17)]
    id15 = _text(area * 10**9 + (ymd % 1_000_000) * 1000 + seq)
    return id18, id15


def _yyyymmdd(days: np.ndarray) -> np.ndarray:
    y = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]")
    m = months.astype(np.int64) % 12 + 1
    d = (days - months.astype("datetime64[D]")).astype(np.int64) + 1
    return y * 10000 + m * 100 + d


def _check_index(first17: np.ndarray) -> np.ndarray:
    """Vectorised ISO 7064 MOD 11-2: index into "10X98765432"."""
    total = np.zeros(len(first17), dtype=np.int64)
    rest = first17.copy()
    for k in range(16, -1, -1):
        rest, digit = np.divmod(rest, 10)
        total += digit * ID_WEIGHTS[k]
    return total % 11


def _choose(rng: np.random.Generator, eligible: np.ndarray, rate: float, relative: bool) -> np.ndarray:
    """Pick eligible rows so that about `rate` of all rows (or of eligible rows) are chosen."""
    draw = rng.random(len(eligible))
    n_eligible = int(eligible.sum())
    if n_eligible == 0 or rate <= 0:
        return np.zeros(len(eligible), dtype=bool)
    p = rate if relative else rate * len(eligible) / n_eligible
    return eligible & (draw < min(p, 1.0))


def _corrupt_ids(rng: np.random.Generator, persons: _Persons, rows: np.ndarray, blank_rate: float,
                 corruption: float) -> tuple[np.ndarray, np.ndarray]:
    """Apply at most one ID corruption per row; returns (values, labels)."""
    ids = persons.id18[rows].copy()
    n = len(rows)
    label = np.full(n, "clean", dtype=object)
    year = persons.birth[rows].astype("datetime64[Y]").astype(np.int64) + 1970
    ends_x = np.array([s[-1] == "X" for s in ids], dtype=bool) if n else np.zeros(0, bool)

    def pick(name: str, eligible: np.ndarray, rate: float, relative: bool) -> np.ndarray:
        chosen = _choose(rng, eligible & (label == "clean"), rate * corruption, relative)
        label[chosen] = name
        return np.flatnonzero(chosen)

    idx = pick("blank", np.ones(n, bool), blank_rate, False)
    ids[idx] = ""
    eligibility = {
        "legacy15": year < 2000, "scientific": ~ends_x, "zeros": ~ends_x, "lowercase": ends_x,
    }
    for name, (rate, relative) in ID_CORRUPTION_RATES.items():
        idx = pick(name, eligibility.get(name, np.ones(n, bool)), rate, relative)
        if len(idx) == 0:
            continue
        u = rng.random((len(idx), 2))
        values = ids[idx]
        if name == "legacy15":
            ids[idx] = persons.id15[rows[idx]]
        elif name == "scientific":
            ids[idx] = [_excel_scientific(v) for v in values]
        elif name == "zeros":
            ids[idx] = [v[:15] + "000" for v in values]
        elif name == "typo":
            ids[idx] = [_typo(v, a, b) for v, (a, b) in zip(values, u)]
        elif name == "transposition":
            ids[idx] = [_transpose(v, a) for v, (a, _) in zip(values, u)]
        elif name == "lowercase":
            ids[idx] = [v.replace("X", "x") for v in values]
        elif name == "space":
            ids[idx] = [_space(v, a, b) for v, (a, b) in zip(values, u)]
        elif name == "fullwidth":
            ids[idx] = [v.translate(FULLWIDTH) for v in values]
        elif name == "apostrophe":
            ids[idx] = ["'" + v for v in values]
    return ids, label


def _excel_scientific(id18: str) -> str:
    """What Excel shows for an 18-digit number: 15 significant digits, rounded, as 2.20102199001011E+17."""
    digits = str((int(id18) + 500) // 1000)
    mantissa = digits[1:].rstrip("0")
    return digits[0] + ("." + mantissa if mantissa else "") + f"E+{len(digits) + 2}"


def _typo(value: str, u_pos: float, u_digit: float) -> str:
    i = int(u_pos * 17)
    new = (int(value[i]) + 1 + int(u_digit * 9)) % 10
    return value[:i] + str(new) + value[i + 1:]


def _transpose(value: str, u_pos: float) -> str:
    spots = [i for i in range(len(value) - 1) if value[i] != value[i + 1]]
    i = spots[int(u_pos * len(spots))]
    return value[:i] + value[i + 1] + value[i] + value[i + 2:]


def _space(value: str, u_style: float, u_pos: float) -> str:
    if u_style < 0.5:
        return f"{value[:6]} {value[6:14]} {value[14:]}"
    i = 1 + int(u_pos * (len(value) - 1))
    return value[:i] + " " + value[i:]


def _corrupt_names(rng: np.random.Generator, persons: _Persons, rows: np.ndarray,
                   corruption: float) -> tuple[np.ndarray, np.ndarray]:
    """Apply at most one name corruption per row; returns (values, labels)."""
    lex = _lexicon()
    n = len(rows)
    names = persons.name[rows].copy()
    label = np.full(n, "clean", dtype=object)
    minority = persons.minority[rows]
    c1, c2 = persons.c1[rows], persons.c2[rows]
    han = ~minority
    surname_idx = persons.s_idx[rows]
    eligibility = {
        "dot": minority,
        "homophone": han & ((lex.hom_count[c1] > 0) | ((c2 >= 0) & (lex.hom_count[c2] > 0))),
        "lookalike": han & (lex.char_flag_look[c1] | lex.char_flag_look[c2]
                            | lex.surname_flag_look[surname_idx]),
        "traditional": han & (lex.char_flag_trad[c1] | lex.char_flag_trad[c2]
                              | lex.surname_flag_trad[surname_idx]),
        "space": han,
    }
    for name, (rate, relative) in NAME_CORRUPTION_RATES.items():
        chosen = _choose(rng, eligibility[name] & (label == "clean"), rate * corruption, relative)
        label[chosen] = name
        idx = np.flatnonzero(chosen)
        if len(idx) == 0:
            continue
        u = rng.random((len(idx), 3))
        surname = persons.surname[rows[idx]]
        if name == "dot":
            variants = np.array(pool.MIDDLE_DOT_VARIANTS, dtype=object)
            pick = variants[(u[:, 0] * len(variants)).astype(int)]
            names[idx] = [v.replace(pool.MIDDLE_DOT, p) for v, p in zip(names[idx], pick)]
        elif name == "homophone":
            a, b = c1[idx].copy(), c2[idx].copy()
            ok1 = lex.hom_count[a] > 0
            ok2 = (b >= 0) & (lex.hom_count[np.maximum(b, 0)] > 0)
            second = ok2 & (~ok1 | (u[:, 0] < 0.5))
            target = np.where(second, b, a)
            repl = lex.hom_flat[lex.hom_start[target] + (u[:, 1] * lex.hom_count[target]).astype(np.int64)]
            a = np.where(second, a, repl)
            b = np.where(second, repl, b)
            names[idx] = surname + lex.chars[a] + lex.chars[b]
        elif name == "lookalike":
            names[idx] = [_lookalike(v, lex.lookalike, p, q) for v, p, q in zip(names[idx], u[:, 0], u[:, 1])]
        elif name == "traditional":
            s2t = _converter("s2t")
            converted = {v: s2t.convert(v) for v in set(names[idx].tolist())}
            names[idx] = [converted[v] for v in names[idx]]
        elif name == "space":
            given = persons.given[rows[idx]]
            sep = np.where(u[:, 1] < 0.15, "\u3000", " ")
            names[idx] = [
                (s + g[0] + sp + g[1:]) if (q < 0.3 and len(g) > 1) else (s + sp + g)
                for s, g, sp, q in zip(surname, given, sep, u[:, 0])
            ]
    unchanged = (label != "clean") & (names == persons.name[rows])
    label[unchanged] = "clean"
    return names, label


def _lookalike(name: str, table: dict[str, tuple[str, ...]], u_pos: float, u_alt: float) -> str:
    spots = [i for i, ch in enumerate(name) if ch in table]
    i = spots[int(u_pos * len(spots))]
    options = table[name[i]]
    return name[:i] + options[int(u_alt * len(options))] + name[i + 1:]


def _render_dates(rng: np.random.Generator, days: np.ndarray, corruption: float) -> np.ndarray:
    """Dates in the formats office staff type: ISO, 2020/2/3, 20200203, 2020年2月3日, Excel serial."""
    uniq, inverse = np.unique(days, return_inverse=True)
    table = np.empty((len(uniq), 5), dtype=object)
    for i, day in enumerate(uniq.astype("datetime64[D]").tolist()):
        y, m, d = day.year, day.month, day.day
        serial = (np.datetime64(day, "D") - EXCEL_EPOCH).astype(np.int64)
        table[i] = (f"{y:04d}-{m:02d}-{d:02d}", f"{y}/{m}/{d}", f"{y:04d}{m:02d}{d:02d}",
                    f"{y}年{m}月{d}日", str(serial))
    other = np.array([0.15, 0.10, 0.10, 0.05]) * min(corruption, 2.0)
    p = np.concatenate([[1.0 - other.sum()], other])
    fmt = rng.choice(5, len(days), p=p)
    return table[inverse.reshape(-1), fmt]


def _render_addresses(rng: np.random.Generator, geo: _Geo, hh: _Households, hh_rows: np.ndarray,
                      corruption: float) -> np.ndarray:
    """Jilin-style household addresses with per-row variation in prefix, numerals and unit forms."""
    arabic, chinese = _number_tables()
    n = len(hh_rows)
    c = hh.county[hh_rows]
    v = hh.village[hh_rows]
    urban = hh.urban[hh_rows]

    def chance(p: float) -> np.ndarray:
        return rng.random(n) < min(p * corruption, 1.0)

    county = geo.county_name[c].copy()
    use_old = (geo.old_name[c] != "") & (rng.random(n) < 0.4)
    county[use_old] = geo.old_name[c][use_old]
    pref = geo.prefecture_name[c].copy()
    short = (pref == "延边朝鲜族自治州") & chance(0.5)
    pref[short] = "延边州"
    choices = np.stack([np.full(n, "", dtype=object), pref, "吉林省" + pref,
                        np.full(n, "吉林省", dtype=object)], axis=1)
    style = np.where(urban, 1, 3)
    vary = chance(0.5)
    style[vary] = rng.integers(0, 4, int(vary.sum()))
    prefix = choices[np.arange(n), style]

    out = prefix + county + geo.v_town[v]
    village = geo.v_village[v]

    ui = np.flatnonzero(urban)
    h = hh_rows[ui]
    m = len(ui)

    def sub_chance(p: float) -> np.ndarray:
        return rng.random(m) < min(p * corruption, 1.0)

    cn = sub_chance(0.05)
    house = np.where(cn, chinese[hh.house_no[h]], arabic[hh.house_no[h]])
    hao = np.where(sub_chance(0.1), "#", "号").astype(object)
    tail = house + hao
    dash = sub_chance(0.2)
    d, f = np.flatnonzero(dash), np.flatnonzero(~dash)
    room = _text(hh.room[h])
    unit = arabic[hh.unit[h]]
    tail[d] = tail[d] + arabic[hh.building[h[d]]] + "-" + unit[d] + "-" + room[d]
    building = np.where(cn[f], chinese[hh.building[h[f]]], arabic[hh.building[h[f]]])
    tail[f] = tail[f] + building + "栋" + unit[f] + "单元" + room[f] + "室"
    community = np.where(sub_chance(0.3), "", village[ui])
    out[ui] = out[ui] + community + geo.roads[hh.road[h]] + tail

    ri = np.flatnonzero(~urban)
    h = hh_rows[ri]
    m = len(ri)
    group_no = hh.group_no[h]
    group = np.where(sub_chance(0.4), arabic[group_no], chinese[group_no])
    suffix = geo.group_suffix[c[ri]]
    suffix = np.where(sub_chance(0.1), np.where(suffix == "社", "组", "社"), suffix)
    tuns = np.array([s + "屯" for s in pool.TUN_STEMS] + [""], dtype=object)
    tun_idx = hh.tun[h]
    group_part = np.where((tun_idx >= 0) & (rng.random(m) < 0.5), "", group + suffix)
    out[ri] = out[ri] + village[ri] + tuns[tun_idx] + group_part
    return out


def _report_area(geo: _Geo, county: np.ndarray) -> np.ndarray:
    return geo.prefecture_name[county] + geo.county_name[county]


def _with_junk(rng: np.random.Generator, file: str, columns: tuple[str, ...], data: dict[str, np.ndarray],
               truth: dict[str, np.ndarray], n_junk: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Scatter junk rows (no name, no ID) among the data rows, number 序号 and build the truth frame."""
    n_data = len(next(iter(data.values())))
    n = n_data + n_junk
    junk = np.zeros(n, dtype=bool)
    junk[rng.choice(n, n_junk, replace=False)] = True
    keep = np.flatnonzero(~junk)
    frame: dict[str, np.ndarray] = {}
    for col in columns:
        out = np.full(n, "", dtype=object)
        if col == "序号":
            out = _text(np.arange(1, n + 1))
        elif col in data:
            out[keep] = data[col]
        frame[col] = out
    junk_idx = np.flatnonzero(junk)
    markers = np.array(JUNK_MARKERS, dtype=object)
    frame[JUNK_COLUMN[file]][junk_idx] = markers[rng.integers(0, len(markers), n_junk)]
    if file == "civil":
        frame["月保障金额"][junk_idx] = _text(rng.integers(5000, 200000, n_junk))
    t = {
        "file": np.full(n, file, dtype=object),
        "row": np.arange(1, n + 1),
        "person_id": np.full(n, "", dtype=object),
        "id_corruption": np.full(n, "blank", dtype=object),
        "name_corruption": np.full(n, "clean", dtype=object),
        "junk": junk.astype(np.int64),
    }
    for key in ("person_id", "id_corruption", "name_corruption"):
        t[key][keep] = truth[key]
    return pd.DataFrame(frame, columns=list(columns)), pd.DataFrame(t, columns=list(TRUTH_COLUMNS))


def _order_by_village(geo: _Geo, hh: _Households, persons: _Persons, people: np.ndarray) -> np.ndarray:
    """Roster order: by village code, household, member position."""
    code = pd.factorize(geo.v_code12[hh.village[persons.hh[people]]], sort=True)[0]
    return people[np.lexsort((persons.pos[people], persons.hh[people], code))]


def _household_serial(keys: np.ndarray, households: np.ndarray) -> np.ndarray:
    """1-based serial of each household within its key group (e.g. county), in roster order."""
    frame = pd.DataFrame({"key": keys, "hh": households})
    first = ~frame.duplicated(["key", "hh"])
    serial = frame[first].groupby("key").cumcount() + 1
    return serial.reindex(frame.index).ffill().astype(np.int64).to_numpy()


@dataclass
class _Assistance:
    """Civil-affairs attributes per household; the poverty roster's 是否享受低保 derives from them."""

    category: np.ndarray
    status: np.ndarray
    amount: np.ndarray
    enrolled: np.ndarray      # days since 1970-01-01


def _draw_assistance(rng: np.random.Generator, hh: _Households) -> _Assistance:
    n = len(hh.county)
    category = np.where(hh.urban, "城市低保", "农村低保").astype(object)
    draw = rng.random(n)
    category[(hh.size <= 2) & (draw < 0.18)] = "特困供养"
    category[(draw >= 0.18) & (draw < 0.19)] = "孤儿"
    category[(draw >= 0.19) & (draw < 0.23)] = "临时救助"
    status = np.where(rng.random(n) < 0.92, "在保", "停保").astype(object)
    amount = np.select(
        [category == "城市低保", category == "农村低保", category == "特困供养", category == "孤儿"],
        [rng.integers(450, 751, n), rng.integers(280, 481, n), rng.integers(900, 1301, n),
         rng.integers(1400, 1701, n)],
        default=rng.integers(500, 3001, n),
    )
    first, last = (np.datetime64(d) - EPOCH for d in ("2012-01-01", "2024-12-31"))
    enrolled = rng.integers(first.astype(np.int64), last.astype(np.int64) + 1, n)
    return _Assistance(category=category, status=status, amount=amount, enrolled=enrolled)


def _civil_roster(rng: np.random.Generator, geo: _Geo, hh: _Households, persons: _Persons,
                  assistance: _Assistance, n_junk: int, corruption: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per member of a civil household, grouped by household in village-code order."""
    rows = _order_by_village(geo, hh, persons, np.flatnonzero(persons.in_civil))
    p_hh = persons.hh[rows]
    n_all = len(hh.county)

    category, status = assistance.category, assistance.status
    county_code = geo.county_code[hh.county[p_hh]]
    serial = _household_serial(county_code, p_hh)
    household_id = county_code + _text(serial, 7)
    head_phone = np.where(rng.random(n_all) < 0.1, "", hh.phone).astype(object)
    is_head = persons.pos[rows] == 0
    phone = np.where(is_head | (rng.random(len(rows)) < 0.6), head_phone[p_hh], "")
    ids, id_label = _corrupt_ids(rng, persons, rows, BLANK_ID_RATES["civil"], corruption)
    names, name_label = _corrupt_names(rng, persons, rows, corruption)
    data = {
        "行政区划代码": geo.v_code12[hh.village[p_hh]],
        "家庭编号": household_id,
        "户主姓名": persons.name[persons.head[rows]],
        "姓名": names,
        "与户主关系": persons.relationship[rows],
        "身份证号码": ids,
        "性别": np.where(persons.male[rows], "男", "女").astype(object),
        "救助类别": category[p_hh],
        "月保障金额": _text(assistance.amount[p_hh]),
        "纳入日期": _render_dates(rng, EPOCH + assistance.enrolled[p_hh], corruption),
        "状态": status[p_hh],
        "家庭住址": _render_addresses(rng, geo, hh, p_hh, corruption),
        "联系电话": phone,
    }
    truth = {"person_id": persons.person_id[rows], "id_corruption": id_label, "name_corruption": name_label}
    return _with_junk(rng, "civil", CIVIL_COLUMNS, data, truth, n_junk)


def _poverty_roster(rng: np.random.Generator, geo: _Geo, hh: _Households, persons: _Persons,
                    assistance: _Assistance, n_junk: int, corruption: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One row per poverty member; 是否享受低保/特困 follow the civil roster with ~3% disagreement."""
    rows = _order_by_village(geo, hh, persons, np.flatnonzero(persons.in_poverty))
    p_hh = persons.hh[rows]
    n_all = len(hh.county)

    htype_draw = rng.random(n_all)
    htype = np.where(htype_draw < 0.75, "脱贫户", np.where(htype_draw < 0.80, "未脱贫户", "监测户")).astype(object)
    mon_draw = rng.random(n_all)
    monitor = np.where(mon_draw < 0.40, "脱贫不稳定户", np.where(mon_draw < 0.85, "边缘易致贫户", "突发严重困难户"))
    monitor = np.where(htype == "监测户", monitor, "").astype(object)
    risks = np.array(["因病", "因残", "因学", "因灾", "因务工就业不稳", "缺劳动力", "其他"], dtype=object)
    risk_p = np.array([0.38, 0.2, 0.1, 0.06, 0.1, 0.12, 0.04])
    r1 = rng.choice(len(risks), n_all, p=risk_p)
    r2 = (r1 + 1 + rng.integers(0, len(risks) - 1, n_all)) % len(risks)
    two = rng.random(n_all) < 0.35
    epidemic = rng.random(n_all) < 0.08
    main_risk = np.where(two, risks[r1] + "、" + risks[r2], risks[r1])
    main_risk = np.where(epidemic, np.where(two, risks[r1] + "、因疫", "因疫"), main_risk).astype(object)

    in_civil = np.zeros(n_all, dtype=bool)
    in_civil[hh.civil] = True
    active = in_civil & (assistance.status == "在保")
    dibao = active & np.isin(assistance.category, ["城市低保", "农村低保"])
    tekun = active & (assistance.category == "特困供养")
    dibao ^= rng.random(n_all) < 0.03
    tekun ^= rng.random(n_all) < 0.03
    income = np.select(
        [htype == "脱贫户", htype == "监测户"],
        [rng.integers(8000, 26001, n_all), rng.integers(4500, 9501, n_all)],
        default=rng.integers(3000, 4601, n_all),
    )

    code12 = geo.v_code12[hh.village[p_hh]]
    serial = _household_serial(code12, p_hh)
    household_id = code12 + _text(serial, 4)
    relationship = persons.relationship[rows].copy()
    relationship[relationship == "户主"] = "本人"
    head_phone = np.where(rng.random(n_all) < 0.1, "", hh.phone).astype(object)
    own = rng.random(len(rows)) < 0.15
    phone = np.where(own, persons.phone[rows], head_phone[p_hh])
    ids, id_label = _corrupt_ids(rng, persons, rows, BLANK_ID_RATES["poverty"], corruption)
    names, name_label = _corrupt_names(rng, persons, rows, corruption)
    county = hh.county[p_hh]
    yes_no = np.array(["否", "是"], dtype=object)
    data = {
        "省": np.full(len(rows), "吉林省", dtype=object),
        "市": geo.prefecture_name[county],
        "县": geo.county_name[county],
        "乡镇": geo.v_town[hh.village[p_hh]],
        "行政村": geo.v_village[hh.village[p_hh]],
        "户编号": household_id,
        "姓名": names,
        "证件号码": ids,
        "与户主关系": relationship,
        "户类型": htype[p_hh],
        "监测对象类别": monitor[p_hh],
        "主要风险": main_risk[p_hh],
        "是否享受低保": yes_no[dibao[p_hh].astype(int)],
        "是否特困供养": yes_no[tekun[p_hh].astype(int)],
        "年人均纯收入": _text(income[p_hh]),
        "联系电话": phone,
    }
    truth = {"person_id": persons.person_id[rows], "id_corruption": id_label, "name_corruption": name_label}
    return _with_junk(rng, "poverty", POVERTY_COLUMNS, data, truth, n_junk)


def _health_roster(rng: np.random.Generator, geo: _Geo, hh: _Households, persons: _Persons,
                   n_people: int, n_junk: int, corruption: float,
                   sources: tuple[float, float, float]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cases drawn from civil, poverty and unrostered people, ordered by diagnosis date."""
    share = np.array(sources, dtype=float) / sum(sources)
    want_civil = int(round(share[0] * n_people))
    want_pov = int(round(share[1] * n_people))
    taken = np.zeros(len(persons.hh), dtype=bool)

    def draw(pool_mask: np.ndarray, k: int) -> np.ndarray:
        candidates = np.flatnonzero(pool_mask & ~taken)
        chosen = rng.choice(candidates, min(k, len(candidates)), replace=False)
        taken[chosen] = True
        return chosen

    picked = [draw(persons.in_civil, want_civil), draw(persons.in_poverty, want_pov)]
    picked.append(draw(persons.general, n_people - len(picked[0]) - len(picked[1])))
    rows = np.concatenate(picked)
    n = len(rows)

    diag = np.where(
        rng.random(n) < 0.7,
        (np.datetime64("2022-03-01") - EPOCH).astype(int) + rng.integers(0, 76, n),
        (np.datetime64("2022-11-15") - EPOCH).astype(int) + rng.integers(0, 61, n),
    )
    order = np.argsort(diag, kind="stable")
    rows, diag = rows[order], diag[order]
    p_hh = persons.hh[rows]
    home_county = hh.county[p_hh]

    home = _render_addresses(rng, geo, hh, p_hh, corruption)
    registered = _render_addresses(rng, geo, hh, p_hh, corruption)
    registered[rng.random(n) < 0.3] = ""
    report = _report_area(geo, home_county)
    current = home.copy()
    migrant = np.flatnonzero(rng.random(n) < MIGRANT_RATE)
    if len(migrant):
        elsewhere = rng.integers(0, len(hh.county), len(migrant))
        same = hh.county[elsewhere] == home_county[migrant]
        elsewhere[same] = (elsewhere[same] + 1) % len(hh.county)
        in_jilin = rng.random(len(migrant)) < 0.65
        report[migrant] = np.where(in_jilin, _report_area(geo, hh.county[elsewhere]), "")
        current[migrant] = _render_addresses(rng, geo, hh, elsewhere, corruption)
        outside = migrant[~in_jilin]
        areas = np.array([a for _, a in pool.OTHER_PROVINCE_AREAS], dtype=object)
        area = areas[rng.integers(0, len(areas), len(outside))]
        arabic, _ = _number_tables()
        report[outside] = area
        current[outside] = (area + geo.roads[rng.integers(0, len(geo.roads), len(outside))]
                            + arabic[rng.integers(1, 400, len(outside))] + "号"
                            + arabic[rng.integers(1, 30, len(outside))] + "栋"
                            + arabic[rng.integers(1, 7, len(outside))] + "单元"
                            + _text(rng.integers(1, 19, len(outside)) * 100 + 1) + "室")
    phone = np.where(rng.random(n) < 0.4, hh.phone[p_hh], persons.phone[rows])
    phone[rng.random(n) < 0.05] = ""
    outcome = np.array(["治疗中", "治愈出院", "死亡"], dtype=object)[rng.choice(3, n, p=[0.14, 0.85, 0.01])]
    ids, id_label = _corrupt_ids(rng, persons, rows, BLANK_ID_RATES["health"], corruption)
    names, name_label = _corrupt_names(rng, persons, rows, corruption)
    data = {
        "姓名": names,
        "性别": np.where(persons.male[rows], "男", "女").astype(object),
        "身份证号": ids,
        "联系电话": phone.astype(object),
        "现住址": current,
        "户籍地址": registered,
        "报告地区": report,
        "病例类型": np.where(rng.random(n) < 0.8, "确诊病例", "无症状感染者").astype(object),
        "诊断日期": _render_dates(rng, EPOCH + diag, corruption),
        "转归": outcome,
    }
    truth = {"person_id": persons.person_id[rows], "id_corruption": id_label, "name_corruption": name_label}
    return _with_junk(rng, "health", HEALTH_COLUMNS, data, truth, n_junk)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate seeded synthetic rosters with ground truth.")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--civil", type=int, required=True, help="civil roster rows")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--format", choices=("sample", "fast"), default="sample")
    parser.add_argument("--corruption", type=float, default=1.0, help="scales all corruption rates")
    parser.add_argument("--poverty-ratio", type=float, default=0.7)
    parser.add_argument("--health-ratio", type=float, default=0.05)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rosters = generate_rosters(args.seed, args.civil, poverty_ratio=args.poverty_ratio,
                               health_ratio=args.health_ratio, corruption=args.corruption)
    generated = time.perf_counter()
    paths = write_rosters(rosters, args.out, args.format)
    print(f"generated civil={len(rosters.civil)} poverty={len(rosters.poverty)} health={len(rosters.health)} "
          f"in {generated - started:.1f}s, written in {time.perf_counter() - generated:.1f}s")
    for file, path in paths.items():
        print(f"  {file}: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
