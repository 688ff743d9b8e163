"""Address parsing and division-code resolution for Jilin (22xxxx).

Addresses repeat across rosters, so parsing runs once per distinct string. Counties are
resolved against schemas/divisions_jilin.csv, which keeps renamed and abolished codes, so an
old name or an ID's old area code still lands on today's county.
"""
from __future__ import annotations

import csv
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pandas as pd

import schemas
from matchers.columnar import blank_as_null, python_frame
from schemas.readers import arrow_strings

JILIN_PROVINCE = "吉林省"
JILIN_PREFIX = "22"
ADDRESS_COLUMNS = [
    "addr_province",
    "addr_prefecture",
    "addr_county",
    "addr_county_code",
    "addr_town",
    "addr_village",
    "addr_detail",
    "addr_norm",
]

# Renamed or merged counties whose successor cannot be found by name; old code -> current code.
RENAMED_COUNTIES: dict[str, str] = {
    "220321": "220184",  # 怀德县 became 公主岭市 (1985)
    "222121": "220184",  # 怀德县, 四平地区 era
    "222221": "220581",  # 海龙县 became 梅河口市 (1985)
    "222322": "220881",  # 洮安县 became 洮南市 (1987)
    "220603": "220605",  # 三岔子区 became 江源县 (1994), now 江源区
}

_PROVINCES = (
    "北京市 天津市 上海市 重庆市 河北省 山西省 辽宁省 吉林省 黑龙江省 江苏省 浙江省 安徽省 福建省 "
    "江西省 山东省 河南省 湖北省 湖南省 广东省 海南省 四川省 贵州省 云南省 陕西省 甘肃省 青海省 "
    "台湾省 内蒙古自治区 广西壮族自治区 西藏自治区 宁夏回族自治区 新疆维吾尔自治区 "
    "香港特别行政区 澳门特别行政区"
).split()
_MUNICIPALITIES = frozenset({"北京市", "天津市", "上海市", "重庆市"})
_AUTONOMY_SUFFIXES = ("朝鲜族自治县", "满族自治县", "蒙古族自治县", "自治县")
_COUNTY_SUFFIXES = _AUTONOMY_SUFFIXES + ("县", "市", "区")
# A bare name (公主岭, 长春) followed by one of these is part of a street or place name.
_BARE_GUARD = frozenset("县市区省州路街道巷胡村镇乡屯社组号楼小里山河沟大")

_DASHES = re.compile(r"[\u2010-\u2015\u2212\uff0d~\uff5e_]")
_DROP = re.compile(r"[\s,，、;；:：\"'“”‘’()（）\[\]【】<>《》{}]")
_CN_DIGITS = "零〇一二两三四五六七八九十百千"
_UNITS = "单元|组|社|屯|号|栋|幢|室|楼|层|队"
_ORDINAL = re.compile(rf"第(?=[0-9{_CN_DIGITS}]+(?:{_UNITS}))")
_CN_NUMERAL_BEFORE_UNIT = re.compile(rf"(?<![{_CN_DIGITS}])([{_CN_DIGITS}]+)(?={_UNITS})")
_BUILDING_UNIT_ROOM = re.compile(r"(\d+)-(\d+)-(\d+)(?:室|号)?")
_BUILDING = re.compile(r"(\d+)(?:号楼|幢|栋)")
_ROOM_AFTER_UNIT = re.compile(r"单元(\d+)(?![\d室号层])")
_DETAIL_NEEDS_WORK = re.compile(rf"[0-9#第]|[{_CN_DIGITS}](?:{_UNITS})")  # else normalise_detail changes nothing
_TOWN_SUFFIX = re.compile(r"街道办事处|街道|镇|乡|苏木")
_VILLAGE_SUFFIX = re.compile(r"村民委员会|村委会|社区居民委员会|社区居委会|社区|居民委员会|居委会|村")
_VILLAGE_CANON = {
    "村民委员会": "村",
    "村委会": "村",
    "社区居民委员会": "社区",
    "社区居委会": "社区",
    "居民委员会": "居委会",
}
_PLACE_MAX = 8
_AFTER_TOWN_IN_STREET = frozenset("路街道巷村")  # 新乡路, 古镇街: a street named after a place
_AFTER_VILLAGE_IN_STREET = frozenset("路街道巷")
_SUFFIX_CHARACTERS = "街道办事处镇乡苏木村民委员会社区居"  # a place name is more than its suffix words
_NO_DIGITS = re.compile(r"[0-9#\-号]")
_FOREIGN_PREFECTURE = re.compile(r"^([^\d#\-]{1,6}?(?:市|自治州|地区|盟))")
_FOREIGN_COUNTY = re.compile(r"^([^\d#\-]{1,7}?(?:区|县|旗|市))")
_NOT_A_COUNTY = ("小区", "社区", "园区", "校区", "景区")
_DEVELOPMENT_ZONE = re.compile(r"^([^\d#\-]{1,12}?(?:开发区|新区|示范区|高新区|经开区|汽开区|净月区))")


@dataclass(frozen=True)
class _Alias:
    """A spelling of a division: the codes it may mean and whether it is a suffix-less form."""

    codes: tuple[str, ...]
    bare: bool


@dataclass
class _Divisions:
    current_name: dict[str, str] = field(default_factory=dict)
    latest_name: dict[str, str] = field(default_factory=dict)
    parents: dict[str, set[str]] = field(default_factory=dict)
    current_code: dict[str, str] = field(default_factory=dict)
    counties: dict[str, _Alias] = field(default_factory=dict)
    prefectures: dict[str, _Alias] = field(default_factory=dict)
    provinces: dict[str, _Alias] = field(default_factory=dict)
    county_shape: "_AliasShape | None" = None
    prefecture_shape: "_AliasShape | None" = None
    province_shape: "_AliasShape | None" = None


@dataclass(frozen=True)
class _AliasShape:
    """A table's aliases of two or more characters by their first two, longest first: a lookup tries only those."""

    by_start: dict[str, tuple[tuple[str, _Alias], ...]]

    @classmethod
    def of(cls, table: dict[str, _Alias]) -> "_AliasShape":
        by_start: dict[str, list[tuple[str, _Alias]]] = {}
        for alias in sorted((a for a in table if len(a) >= 2), key=len, reverse=True):
            by_start.setdefault(alias[:2], []).append((alias, table[alias]))
        return cls({start: tuple(aliases) for start, aliases in by_start.items()})


def load_divisions() -> list[dict[str, str]]:
    """Rows of schemas/divisions_jilin.csv as text (codes keep their leading digits)."""
    path = Path(schemas.__file__).parent / "divisions_jilin.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        return [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(handle)]


def _stem(name: str) -> tuple[str, str]:
    """(stem, kind) where kind is 县, 市 or 区; autonomous counties count as 县."""
    for suffix in _COUNTY_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)], "县" if suffix in _AUTONOMY_SUFFIXES else suffix
    return name, ""


# Upgrades go county -> city -> district, never a city back to a county (通化市 is not 通化县).
_ALLOWED_SUCCESSION = {"县": {"县", "市", "区"}, "市": {"市", "区"}, "区": {"区", "市"}, "": set()}


def _end_key(row: dict[str, str]) -> int:
    return int(row["end_year"]) if row["end_year"] else 10_000


def _resolve_current_codes(rows: list[dict[str, str]], d: _Divisions) -> None:
    county_rows = [r for r in rows if r["level"] == "county"]
    current_counties = {r["code"]: r["name"] for r in county_rows if not r["end_year"]}
    current_prefectures = {
        r["name"]: r["code"] for r in rows if r["level"] == "prefecture" and not r["end_year"]
    }
    by_name: dict[str, list[str]] = {}
    by_stem: dict[str, list[tuple[str, str]]] = {}
    for code, name in current_counties.items():
        by_name.setdefault(name, []).append(code)
        stem, kind = _stem(name)
        by_stem.setdefault(stem, []).append((code, kind))
    for code in {r["code"] for r in county_rows}:
        if code in RENAMED_COUNTIES:
            d.current_code[code] = RENAMED_COUNTIES[code]
            continue
        if code in current_counties:
            d.current_code[code] = code
            continue
        name = d.latest_name[code]
        stem, kind = _stem(name)
        successors = by_name.get(name) or []
        if not successors and name in current_prefectures:
            successors = [current_prefectures[name]]
        if not successors:
            successors = [c for c, k in by_stem.get(stem, []) if k in _ALLOWED_SUCCESSION[kind]]
        d.current_code[code] = successors[0] if len(successors) == 1 else code


def _county_aliases(name: str) -> list[tuple[str, bool]]:
    """Spellings of a county name: full, short autonomous form, bare stem of a 市/县."""
    aliases = [(name, False)]
    stem, kind = _stem(name)
    if name.endswith(_AUTONOMY_SUFFIXES):
        aliases.append((stem + "县", False))
        if "尔罗斯" in stem:
            short = stem.split("尔罗斯")[0]
            aliases += [(short + "县", False), (short, True)]
    if kind in ("县", "市") and len(stem) >= 2:
        aliases.append((stem, True))
    return aliases


def _add_alias(table: dict[str, _Alias], alias: str, code: str, bare: bool) -> None:
    known = table.get(alias)
    if known is None:
        table[alias] = _Alias((code,), bare)
    elif code not in known.codes:
        table[alias] = _Alias(known.codes + (code,), known.bare and bare)
    elif known.bare and not bare:
        table[alias] = _Alias(known.codes, False)


@lru_cache(maxsize=1)
def _divisions() -> _Divisions:
    rows = load_divisions()
    d = _Divisions()
    for row in sorted(rows, key=_end_key):
        d.latest_name[row["code"]] = row["name"]
        d.parents.setdefault(row["code"], set()).add(row["parent_code"])
        if not row["end_year"]:
            d.current_name[row["code"]] = row["name"]
    _resolve_current_codes(rows, d)

    prefecture_names = {r["name"] for r in rows if r["level"] == "prefecture"}
    current_county_names = {
        r["name"]: r["code"] for r in rows if r["level"] == "county" and not r["end_year"]
    }
    # Current names first: a historical spelling never makes a current one ambiguous (延吉县 vs 延吉市).
    current_aliases: set[str] = set()
    for row in sorted(rows, key=lambda r: bool(r["end_year"])):
        if row["level"] != "county" or row["name"] in prefecture_names:
            continue
        code = current_county_names.get(row["name"], d.current_code[row["code"]])
        for alias, bare in _county_aliases(row["name"]):
            if row["end_year"] and alias in current_aliases:
                continue
            if not row["end_year"]:
                current_aliases.add(alias)
            _add_alias(d.counties, alias, code, bare)

    for row in rows:
        if row["level"] != "prefecture":
            continue
        code = row["code"]
        if code not in d.current_name:
            continue
        name = row["name"]
        _add_alias(d.prefectures, name, code, False)
        if name.endswith("自治州"):
            base = name[:2]
            _add_alias(d.prefectures, base + "州", code, False)
            _add_alias(d.prefectures, base, code, True)
        elif name.endswith("市") and name != "吉林市":
            _add_alias(d.prefectures, name[:-1], code, True)

    for name in _PROVINCES:
        _add_alias(d.provinces, name, name, False)
        short = re.sub(r"(壮族|回族|维吾尔)?(自治区|特别行政区|省|市)$", "", name)
        if short != name:
            _add_alias(d.provinces, short, name, True)
    d.county_shape, d.prefecture_shape = _AliasShape.of(d.counties), _AliasShape.of(d.prefectures)
    d.province_shape = _AliasShape.of(d.provinces)
    return d


def _match_prefix(text: str, shape: _AliasShape) -> tuple[str, _Alias] | None:
    """Longest alias at the start of text; a bare alias must not run into a street or suffix."""
    for alias, entry in shape.by_start.get(text[:2], ()):
        if text.startswith(alias):
            size = len(alias)
            if entry.bare and len(text) > size and text[size] in _BARE_GUARD:
                continue
            return alias, entry
    return None


def _is_missing_code(code: object) -> bool:
    try:
        return code is None or bool(pd.isna(code))
    except (TypeError, ValueError):
        return False


def prefecture_code(code: str | None) -> str | None:
    """Prefecture-level code of a county code: first four digits then 00."""
    if _is_missing_code(code):
        return None
    text = str(code).strip()
    return text[:4] + "00" if len(text) >= 4 else None


def _current_code_one(code: str) -> str:
    return _divisions().current_code.get(code, code)


def county_name(code: str | None) -> str | None:
    """Today's name of the county (or successor) that a Jilin code, old or new, refers to."""
    if _is_missing_code(code):
        return None
    d = _divisions()
    current = _current_code_one(str(code).strip())
    return d.current_name.get(current) or d.latest_name.get(current)


def current_county_code(codes: pd.Series) -> pd.Series:
    """Any Jilin county code (e.g. an ID's first six digits) mapped to today's code."""
    plain = pd.api.types.is_string_dtype(codes) and not isinstance(codes.dtype, pd.CategoricalDtype)
    text = codes if plain else codes.astype("string")
    mapped = text.map(_divisions().current_code, na_action="ignore")
    result = mapped.where(mapped.notna(), text)
    return result.astype(object).where(result.notna(), None)


_CN_DIGIT_VALUES = {c: i for i, c in enumerate("零一二三四五六七八九")} | {"〇": 0, "两": 2}
_CN_DIGIT_TEXT = str.maketrans({c: str(v) for c, v in _CN_DIGIT_VALUES.items()})
_CN_MULTIPLIERS = {"十": 10, "百": 100, "千": 1000}


def _cn_to_int(numeral: str) -> int:
    """Small Chinese numerals: 三 -> 3, 十五 -> 15, 二十三 -> 23, 一零一 -> 101, 两百 -> 200."""
    if not any(c in _CN_MULTIPLIERS for c in numeral):
        return int(numeral.translate(_CN_DIGIT_TEXT))
    total, current = 0, 0
    for char in numeral:
        if char in _CN_DIGIT_VALUES:
            current = _CN_DIGIT_VALUES[char]
        else:
            total += (current or 1) * _CN_MULTIPLIERS[char]
            current = 0
    return total + current


def normalise_detail(detail: str) -> str:
    """Unify 号/#, building-unit-room notation and numerals placed right before a unit word."""
    if not _DETAIL_NEEDS_WORK.search(detail):
        return detail
    text = detail.replace("#", "号")
    text = _ORDINAL.sub("", text)
    text = _CN_NUMERAL_BEFORE_UNIT.sub(lambda m: str(_cn_to_int(m.group(1))), text)
    text = _BUILDING_UNIT_ROOM.sub(r"\1栋\2单元\3室", text)
    text = _BUILDING.sub(r"\1栋", text)
    return _ROOM_AFTER_UNIT.sub(r"单元\1室", text)


def _clean(raw: str) -> str:
    text = unicodedata.normalize("NFKC", raw)
    return _DASHES.sub("-", _DROP.sub("", text))


def _take_place(text: str, suffixes: re.Pattern[str], kind: str) -> tuple[str | None, str]:
    """Leading town or village name (…镇/乡/街道, …村/社区), if it reads like one."""
    for m in suffixes.finditer(text, 0, _PLACE_MAX + 7):
        body = text[: m.start()]
        if not body or len(body) > _PLACE_MAX or _NO_DIGITS.search(body) or not body.strip(_SUFFIX_CHARACTERS):
            continue
        following = text[m.end() : m.end() + 1]
        suffix = m.group(0)
        if kind == "town" and (following in _AFTER_TOWN_IN_STREET and suffix in ("乡", "镇")):
            continue
        if kind == "village" and suffix == "村" and following in _AFTER_VILLAGE_IN_STREET:
            continue
        if suffixes.match(text, m.end()):
            continue
        canonical = "街道" if suffix == "街道办事处" else _VILLAGE_CANON.get(suffix, suffix)
        name = body if (suffix != canonical and body.endswith(canonical)) else body + canonical
        return name, text[m.end() :]
    return None, text


def _resolve_county(alias: _Alias, prefecture: str | None) -> str | None:
    if len(alias.codes) == 1:
        return alias.codes[0]
    if prefecture:
        d = _divisions()
        within = [
            c
            for c in alias.codes
            if prefecture_code(c) == prefecture or prefecture in d.parents.get(c, ())
        ]
        if len(within) == 1:
            return within[0]
    return None


_Division = tuple  # (province, prefecture, county, county_code, rest of the text)


def _parse_division(text: str) -> _Division:
    """Province, prefecture and county at the start of a cleaned address, and what follows them."""
    d = _divisions()
    province = prefecture = county = code = None
    prefecture_code_ = None
    foreign = False

    hit = _match_prefix(text, d.province_shape)
    if hit:
        province = hit[1].codes[0]
        text = text[len(hit[0]) :]
        foreign = province != JILIN_PROVINCE
    if not foreign:
        hit = _match_prefix(text, d.prefecture_shape)
        if hit:
            prefecture_code_ = hit[1].codes[0]
            prefecture = d.current_name[prefecture_code_]
            text = text[len(hit[0]) :]
        hit = _match_prefix(text, d.county_shape)
        if hit:
            code = _resolve_county(hit[1], prefecture_code_)
            county = (d.current_name.get(code) or d.latest_name.get(code)) if code else hit[0]
            text = text[len(hit[0]) :]
        elif province is None and prefecture is None:
            pm = _FOREIGN_PREFECTURE.match(text)
            cm = _FOREIGN_COUNTY.match(text[pm.end() :]) if pm else None
            if pm and cm and not cm.group(1).endswith(_NOT_A_COUNTY):
                foreign = True
        if not foreign and county is None:
            zone = _DEVELOPMENT_ZONE.match(text)
            if zone:
                county = zone.group(1)
                text = text[zone.end() :]
    if foreign:
        if province not in _MUNICIPALITIES:
            pm = _FOREIGN_PREFECTURE.match(text)
            if pm:
                prefecture = pm.group(1)
                text = text[pm.end() :]
        cm = _FOREIGN_COUNTY.match(text)
        if cm and not cm.group(1).endswith(_NOT_A_COUNTY):
            county = cm.group(1)
            text = text[cm.end() :]
    elif code:
        prefecture = d.current_name.get(code[:4] + "00") or prefecture  # the prefecture of a county code
        province = JILIN_PROVINCE
    elif prefecture:
        province = JILIN_PROVINCE
    return (province, prefecture, county, code, text)


def _parse_places(rest: str, after_town: dict[str, tuple[str | None, str | None]] | None = None
                  ) -> tuple[str | None, str | None, str | None]:
    """Town, village and normalised detail of what follows the county.

    after_town: village and detail already read, by the text after the town (a town's villages
    and their 组/社 repeat under every spelling of the town and county); filled in as they are read.
    """
    town, rest = _take_place(rest, _TOWN_SUFFIX, "town")
    known = after_town.get(rest) if after_town is not None else None
    if known is None:
        village, detail = _take_place(rest, _VILLAGE_SUFFIX, "village")
        known = (village, normalise_detail(detail) or None)
        if after_town is not None:
            after_town[rest] = known
    return (town, *known)


def _assemble(division: tuple[str | None, ...], places: tuple[str | None, str | None, str | None]
              ) -> tuple[str | None, ...]:
    """ADDRESS_COLUMNS from a division's (province, prefecture, county, county code, ...) and its places."""
    province, prefecture, county, code = division[:4]
    town, village, detail = places
    norm = "".join(p for p in (province, prefecture, county, town, village, detail) if p) or None
    return (province, prefecture, county, code, town, village, detail, norm)


def parse_address(raw: str) -> tuple[str | None, ...]:
    """One address to the ADDRESS_COLUMNS values."""
    text = _clean(raw)
    if not text:
        return (None,) * len(ADDRESS_COLUMNS)
    division = _parse_division(text)
    return _assemble(division, _parse_places(division[-1]))


def _parse_texts(texts: list[str]) -> list[tuple[str | None, ...]]:
    """The ADDRESS_COLUMNS values of each distinct cleaned text (all None for an empty one)."""
    divisions, places, head_division, head_place = _parse_heads(texts)
    return [_assemble(divisions[d], places[p]) for d, p in zip(head_division.tolist(), head_place.tolist())]


def _parse_uniques(raw: pd.Series, cleaned: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(per-row index into the parsed table, parsed table with a trailing all-None row), once per distinct value.

    cleaned: the text has been through _clean already (_clean_vectorised).
    """
    codes, uniques = pd.factorize(raw, use_na_sentinel=True)
    rows = _parse_texts(list(uniques) if cleaned else [_clean(str(value)) for value in uniques])
    rows.append((None,) * len(ADDRESS_COLUMNS))
    table = np.empty((len(rows), len(ADDRESS_COLUMNS)), dtype=object)
    table[:] = rows
    return np.where(codes < 0, len(rows) - 1, codes), table


_ROOM_AFTER_UNIT_RE2 = (r"单元([0-9]+)([^0-9室号层]|$)", r"单元\1室\2")
_ORDINAL_MARK = "第".encode()
_TAIL_NEEDS_PYTHON = rf"[{_CN_DIGITS}](?:{_UNITS})|第[{_CN_DIGITS}]"
_TAIL_RULES = (
    (rf"第([0-9]+(?:{_UNITS}))", r"\1", True),
    (r"([0-9]+)-([0-9]+)-([0-9]+)(?:室|号)?", r"\1栋\2单元\3室", True),
    (r"([0-9]+)(?:号楼|幢|栋)", r"\1栋", True),
    (*_ROOM_AFTER_UNIT_RE2, True),
)


def arrow_text(raw: pd.Series) -> pa.Array:
    """A text column as Arrow strings, NULL where missing; Arrow-backed text is taken as it is.

    Made into Python strings and back, a million addresses took 0.6 s; taken, 0.04 s.
    """
    values = arrow_strings(raw)
    if values is not None:
        return values.combine_chunks().cast(pa.string())
    return pa.array(raw.astype(object).where(raw.notna(), None), type=pa.string(), from_pandas=True)


# A text of printable ASCII and CJK ideographs only is its own NFKC (no compatibility form, nothing that
# composes): _clean can change it only through the ASCII it drops or rewrites. Any other character
# (full-width forms, Chinese punctuation, spaces, combining marks) sends the text through _clean.
_MAY_NEED_CLEANING = r"[^\x{21}-\x{7e}\x{3400}-\x{4dbf}\x{4e00}-\x{9fff}]|[,;:\"'()\[\]<>{}#~_]"


def _clean_vectorised(raw: pd.Series) -> pa.Array:
    """_clean over a whole column in Arrow (RE2): NFKC, dropped punctuation, one dash.

    Only the texts it may change go through it: on the 1M civil roster, whose addresses are
    mostly clean already, the four passes over every text took about a second.
    """
    text = arrow_text(raw)
    dirty = pc.fill_null(pc.match_substring_regex(text, _MAY_NEED_CLEANING), False)
    if not pc.any(dirty).as_py():
        return text
    cleaned = pc.utf8_normalize(text.filter(dirty), "NFKC")
    cleaned = pc.replace_substring_regex(cleaned, _DROP.pattern, "")
    cleaned = pc.replace_substring(cleaned, "#", "号")
    cleaned = pc.replace_substring_regex(cleaned, r"[\x{2010}-\x{2015}\x{2212}\x{ff0d}~\x{ff5e}_]", "-")
    return pc.replace_with_mask(text, dirty, cleaned)


def split_at_first_number(cleaned: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each address cut before its first digit (before a 第 right in front of it): head (NULL where the text is)
    and tail ("" without a digit).

    The cut is found by one regex search and made on the text's own bytes: extracting the two
    parts as regex groups took RE2 0.9 s per million addresses, this takes 0.2 s.
    """
    text = cleaned.cast(pa.string())
    first_digit = pc.fill_null(pc.find_substring_regex(text, "[0-9]"), -1).to_numpy()  # a byte offset
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=4 * text.offset)
    data = text.buffers()[2] or pa.py_buffer(b"")
    starts, ends = offsets[:-1], offsets[1:]
    cut = np.where(first_digit < 0, ends, starts + first_digit)
    room = np.flatnonzero(first_digit >= len(_ORDINAL_MARK))  # rows with room for a 第 before the digit
    before = cut[room] - len(_ORDINAL_MARK)
    octets = np.frombuffer(data, dtype=np.uint8)
    ordinal = np.ones(len(room), dtype=bool)
    for i, byte in enumerate(_ORDINAL_MARK):
        ordinal &= octets[before + i] == byte
    cut[room[ordinal]] = before[ordinal]
    bounds = np.empty(2 * len(text) + 1, dtype=np.int32)  # head i, tail i, head i+1 …: one run over the same bytes
    bounds[0:-1:2], bounds[1::2], bounds[-1] = starts, cut, offsets[-1]
    parts = pa.StringArray.from_buffers(2 * len(text), pa.py_buffer(bounds), data)
    heads, tails = (parts.take(pa.array(np.arange(first, 2 * len(text), 2))) for first in (0, 1))
    return pc.if_else(text.is_valid(), heads, pa.scalar(None, pa.string())), tails


def _normalise_tails(tails: pa.Array) -> np.ndarray:
    """normalise_detail for the part of an address from its first digit on, in Arrow.

    Tails with Chinese numerals before a unit word (rare once a digit has started) go through
    the Python version, once per distinct value.
    """
    out = tails
    for pattern, replacement, is_regex in _TAIL_RULES:
        out = (pc.replace_substring_regex if is_regex else pc.replace_substring)(out, pattern, replacement)
    result = np.asarray(out.to_pandas(), dtype=object)
    slow = np.asarray(pc.fill_null(pc.match_substring_regex(tails, _TAIL_NEEDS_PYTHON), False))
    if slow.any():
        originals = np.asarray(tails.to_pandas(), dtype=object)
        result[slow] = [normalise_detail(t) for t in originals[slow]]
    return result


def address_columns(raw: pd.Series) -> dict[str, pa.Array]:
    """The ADDRESS_COLUMNS of each row as Arrow text, made from distinct values: no Python string per row.

    The administrative head of an address (up to its first digit) repeats across households and
    is parsed once per distinct value; the house-number tail, nearly unique, is normalised in
    Arrow. Splitting there changes nothing: no place name the parser reads contains a digit.
    """
    heads, tails = split_at_first_number(_clean_vectorised(raw))
    encoded = pc.dictionary_encode(heads)
    divisions, places, head_division, head_place = _parse_heads(encoded.dictionary.to_pylist())
    head = pc.fill_null(encoded.indices, len(head_division)).to_numpy()  # a NULL address: entry 0 of both tables
    row_division = pa.array(np.append(head_division, 0)[head])
    row_place = pa.array(np.append(head_place, 0)[head])
    columns = {name: pa.array(values, type=pa.string()).take(row_division)
               for name, values in zip(ADDRESS_COLUMNS[:4], zip(*divisions))}
    town, village, detail = (pa.array(values, type=pa.string()) for values in zip(*places))
    columns |= {"addr_town": town.take(row_place), "addr_village": village.take(row_place),
                "addr_detail": detail.take(row_place)}
    # addr_norm: the division's names, the town and village, then the detail; NULL when all are missing
    division_names = pa.array(["".join(p for p in division[:3] if p) for division in divisions], type=pa.string())
    prefix = pc.binary_join_element_wise(division_names.take(row_division), _joined(town, village).take(row_place), "")
    norm = pc.binary_join_element_wise(prefix, pc.fill_null(columns["addr_detail"], ""), "")
    norm = blank_as_null(norm)
    tail_codes = pc.dictionary_encode(tails)
    tail_norm = pa.array(_normalise_tails(tail_codes.dictionary), type=pa.string()).take(tail_codes.indices)
    has_tail = pc.not_equal(tail_norm, "")
    if pc.any(has_tail).as_py():
        joined = pc.binary_join_element_wise(pc.fill_null(columns["addr_detail"], ""), tail_norm, "")
        # a room number right after a 单元 that ended the head: the one rule that spans the split. A place name
        # never ends in 单元 nor holds a digit, so the rule changes the detail, never the names before it
        joined = pc.replace_substring_regex(joined, *_ROOM_AFTER_UNIT_RE2)
        columns["addr_detail"] = pc.if_else(has_tail, joined, columns["addr_detail"])
        norm = pc.if_else(has_tail, pc.binary_join_element_wise(prefix, joined, ""), norm)
    columns["addr_norm"] = norm
    return columns


def _joined(*parts: pa.Array) -> pa.Array:
    """Each row's parts joined, a missing part as nothing."""
    return pc.binary_join_element_wise(*parts, "", null_handling="replace", null_replacement="")


_NO_DIVISION: tuple[str | None, ...] = (None,) * 4  # province, prefecture, county, county code
_NO_PLACES: tuple[str | None, ...] = (None,) * 3  # town, village, detail


def _parse_heads(texts: list[str]) -> tuple[list[tuple], list[tuple], np.ndarray, np.ndarray]:
    """Each distinct cleaned head's division and places, as numbers into two tables (entry 0: all None).

    A province's addresses spell a few hundred divisions, and the same town, village and street
    follow many spellings of one county: the columns are taken from these tables, not made of a
    tuple per head.
    """
    divisions: dict[tuple, int] = {_NO_DIVISION: 0}
    place_of: dict[str, int] = {}
    places = [_NO_PLACES]
    after_town: dict[str, tuple[str | None, str | None]] = {}
    head_division, head_place = [], []
    for text in texts:
        if not text:
            head_division.append(0)
            head_place.append(0)
            continue
        province, prefecture, county, code, rest = _parse_division(text)
        head_division.append(divisions.setdefault((province, prefecture, county, code), len(divisions)))
        place = place_of.get(rest)
        if place is None:
            place = place_of[rest] = len(places)
            places.append(_parse_places(rest, after_town))
        head_place.append(place)
    return list(divisions), places, np.array(head_division, dtype=np.int64), np.array(head_place, dtype=np.int64)


def standardise_addresses(raw: pd.Series) -> pd.DataFrame:
    """Parsed address columns (text and None), same index: address_columns as pandas."""
    return python_frame(address_columns(raw), raw.index)


def parse_county(text: pd.Series) -> pd.Series:
    """Current county code from a place column such as 报告地区 (长春市朝阳区) or 县 (朝阳区)."""
    index, table = _parse_uniques(text)
    column = ADDRESS_COLUMNS.index("addr_county_code")
    return pd.Series(table[index, column], index=text.index, name="county_code", dtype=object)
