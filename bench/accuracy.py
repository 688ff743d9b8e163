"""Accuracy of reliefmatch against the ID-exact join and Splink on synthetic Jilin rosters.

Rosters come from data/generate.py (several seeds and corruption scales), go through the real
ingest (`ingest_roster(..., validate=False)` → `linkage_view`) and are linked civil×poverty,
health×civil and health×poverty. Pairs are scored against the generator's truth: precision,
recall, F1, blocking pairs completeness, recall by ID defect (either side) and on homophone names.
Splink (benchmark-only extra: `pip install "splink>=5,<6"`) is skipped with a note if missing.

Run: .venv/bin/python bench/accuracy.py [--civil 20000] [--seeds 1 2 3] [--corruption 1.0 2.0]
     [--methods reliefmatch id_exact splink] [--errors]
"""
from __future__ import annotations

import argparse
import logging
import re
import resource
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from data.generate import generate_rosters, true_pairs, write_rosters  # noqa: E402
from matchers.linkage import link, load_settings  # noqa: E402
from matchers.linkage.decision import one_to_one  # noqa: E402
from matchers.pipeline import ingest_roster, linkage_view  # noqa: E402

WORK = ROOT / "bench" / "work"
FLOWS = (("civil", "poverty"), ("health", "civil"), ("health", "poverty"))
COSMETIC = {"clean", "lowercase", "space", "fullwidth", "apostrophe"}   # normalisation restores the ID
BROKEN_ORDER = {"blank": 3, "typo": 2, "transposition": 2, "scientific": 2, "zeros": 2, "legacy15": 1}
METHODS = ("reliefmatch", "id_exact", "splink")


@dataclass
class Roster:
    records: pd.DataFrame
    view: pd.DataFrame
    truth: pd.DataFrame   # indexed by row: id_corruption, name_corruption


def id_defect(kind: pd.Series) -> pd.Series:
    """clean (incl. cosmetic dirt), legacy15, corrupted (content changed) or blank."""
    return pd.Series(np.select(
        [kind.isin(COSMETIC), kind.eq("legacy15"), kind.eq("blank")], ["clean", "legacy15", "blank"], "corrupted"
    ), index=kind.index)


def load_rosters(n_civil: int, seed: int, corruption: float, say) -> tuple[dict[str, Roster], pd.DataFrame]:
    folder = WORK / f"rosters_c{n_civil}_s{seed}_x{corruption:g}"
    t0 = time.perf_counter()
    rosters = generate_rosters(seed, n_civil, corruption=corruption)
    paths = write_rosters(rosters, folder, "fast")
    say(f"generated {n_civil} civil rows (seed {seed}, corruption {corruption:g}) in {time.perf_counter() - t0:.1f}s")
    out = {}
    for kind in ("civil", "poverty", "health"):
        t0 = time.perf_counter()
        ingest = ingest_roster(paths[kind], kind, WORK / "cache", validate=False)
        records = pd.read_parquet(ingest.records_path)
        truth = rosters.truth_for(kind).set_index("row")[["id_corruption", "name_corruption"]]
        out[kind] = Roster(records, linkage_view(records), truth)
        say(f"ingested {kind}: {len(records)} rows in {time.perf_counter() - t0:.1f}s"
            f"{' (cache)' if ingest.from_cache else ''}")
    return out, rosters.truth


def clean_raw_id(raw: pd.Series) -> pd.Series:
    """What an office does today: NFKC, drop spaces/apostrophes/hyphens, upper-case X; 18 chars only."""
    uniq = pd.Series(raw.dropna().unique())
    cleaned = uniq.map(lambda v: re.sub(r"[\s'\-]", "", unicodedata.normalize("NFKC", str(v))).upper())
    lookup = dict(zip(uniq, cleaned))
    out = raw.map(lookup)
    return out.where(out.str.fullmatch(r"\d{17}[\dX]").fillna(False).astype(bool))


def link_id_exact(left: Roster, right: Roster) -> tuple[pd.DataFrame, float]:
    lid = pd.DataFrame({"left_key": left.records["record_key"], "id": clean_raw_id(left.records["id_number_raw"])}).dropna()
    rid = pd.DataFrame({"right_key": right.records["record_key"], "id": clean_raw_id(right.records["id_number_raw"])}).dropna()
    pairs = lid.merge(rid, on="id")[["left_key", "right_key"]]
    return pairs, float("nan")


def link_reliefmatch(left: Roster, right: Roster, truth: pd.DataFrame, say, keep_scored: bool = False):
    settings = load_settings("chinese_rosters")
    result = link(left.view, right.view, settings, truth_pairs=truth, keep_scored=keep_scored)
    completeness = float(result.blocking_report["pairs_completeness"].iloc[-1])
    return result.pairs, completeness, result


def splink_frame(records: pd.DataFrame, kind: str) -> pd.DataFrame:
    """Minimal generic cleaning a competent Splink user does: NFKC, strip, X upper-case,
    birth date and sex from 18-digit IDs, one free-text address, digits-only phone."""
    def nfkc(series: pd.Series) -> pd.Series:
        uniq = pd.Series(series.dropna().astype(str).unique())
        lookup = dict(zip(uniq, uniq.map(lambda v: re.sub(r"\s+", "", unicodedata.normalize("NFKC", v)))))
        out = series.map(lookup)
        return out.where(out.str.len() > 0)

    ids = nfkc(records["id_number_raw"]).str.replace(r"['\-]", "", regex=True).str.upper()
    ids = ids.where(ids.str.len() > 0)
    is18 = ids.str.fullmatch(r"\d{17}[\dX]").fillna(False).astype(bool)
    dob = ids.str[6:14].where(is18)
    dob = dob.where(pd.to_datetime(dob, format="%Y%m%d", errors="coerce").notna())
    id_sex = ids.str[16].where(is18).map(lambda d: None if pd.isna(d) else ("男" if int(d) % 2 else "女"))
    stated = records["sex"].where(records["sex"].isin(["男", "女"])) if "sex" in records else pd.Series(None, index=records.index)
    if kind == "civil":
        address = records["address"]
    elif kind == "poverty":
        address = records[["province", "prefecture", "county", "town", "village"]].fillna("").astype(str).agg("".join, axis=1)
    else:
        address = records["current_address"]
    phone = records["phone"].fillna("").astype(str).str.replace(r"\D", "", regex=True)
    return pd.DataFrame({
        "record_key": records["record_key"].astype("int64"),
        "id_number": ids,
        "name": nfkc(records["name"]),
        "dob": dob,
        "sex": id_sex.where(id_sex.notna(), stated),
        "address": nfkc(address),
        "county": records["county_code"],
        "phone": phone.where(phone.str.len() >= 7),
    })


def link_splink(left: Roster, right: Roster, left_kind: str, right_kind: str, truth: pd.DataFrame, seed: int):
    import duckdb
    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    con = duckdb.connect()
    con.execute("SET threads=2")
    db = DuckDBAPI(connection=con)
    a = db.register(splink_frame(left.records, left_kind), table_name="a_left")
    b = db.register(splink_frame(right.records, right_kind), table_name="b_right")
    blocking = [block_on("id_number"), block_on("name", "dob"), block_on("name", "county"),
                block_on("dob", "county"), block_on("phone")]
    settings = SettingsCreator(
        link_type="link_only",
        unique_id_column_name="record_key",
        comparisons=[
            cl.LevenshteinAtThresholds("id_number", [1, 2]),
            cl.JaroWinklerAtThresholds("name", [0.9, 0.75, 0.6]).configure(term_frequency_adjustments=True),
            cl.DateOfBirthComparison("dob", input_is_string=True, datetime_format="%Y%m%d"),
            cl.ExactMatch("sex"),
            cl.JaccardAtThresholds("address", [0.9, 0.7, 0.5]),
            cl.ExactMatch("phone"),
        ],
        blocking_rules_to_generate_predictions=blocking,
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = Linker([a, b], settings, log_level=logging.ERROR)
    linker.training.estimate_probability_two_random_records_match([block_on("id_number")], recall=0.9)
    linker.training.estimate_u_using_random_sampling(max_pairs=1e7, seed=seed)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_number"))
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("name", "dob"))
    scored = linker.inference.predict().as_duckdbpyrelation()
    cand = scored.project("source_dataset_l, record_key_l AS unique_id_l, record_key_r AS unique_id_r, match_weight, match_probability").df()
    swap = cand["source_dataset_l"].astype(str).str.contains("b_right").to_numpy()
    lk = np.where(swap, cand["unique_id_r"], cand["unique_id_l"]).astype(np.int64)
    rk = np.where(swap, cand["unique_id_l"], cand["unique_id_r"]).astype(np.int64)
    keys = pd.DataFrame({"left_key": lk, "right_key": rk})
    completeness = len(keys.drop_duplicates().merge(truth, on=["left_key", "right_key"])) / max(len(truth), 1)
    ok = cand["match_probability"].to_numpy() >= 0.5
    w = cand["match_weight"].to_numpy()[ok]
    keep = one_to_one(lk[ok], rk[ok], w)
    pairs = pd.DataFrame({"left_key": lk[ok][keep], "right_key": rk[ok][keep]})
    con.close()
    return pairs, completeness


def categorise(pairs: pd.DataFrame, left: Roster, right: Roster) -> pd.DataFrame:
    """Per pair: the worse ID defect of the two sides, and whether either name is a homophone variant."""
    lt = left.truth.reindex(pairs["left_key"].to_numpy())
    rt = right.truth.reindex(pairs["right_key"].to_numpy())
    ld = id_defect(lt["id_corruption"].fillna("clean").reset_index(drop=True))
    rd = id_defect(rt["id_corruption"].fillna("clean").reset_index(drop=True))
    rank = {"clean": 0, "legacy15": 1, "corrupted": 2, "blank": 3}
    worse = np.where(ld.map(rank).to_numpy() >= rd.map(rank).to_numpy(), ld.to_numpy(), rd.to_numpy())
    homophone = (lt["name_corruption"].to_numpy() == "homophone") | (rt["name_corruption"].to_numpy() == "homophone")
    out = pairs.reset_index(drop=True).copy()
    out["id_defect"] = worse
    out["homophone"] = homophone
    return out


def score(pred: pd.DataFrame, truth: pd.DataFrame, left: Roster, right: Roster) -> dict[str, float]:
    pred = pred[["left_key", "right_key"]].drop_duplicates()
    t = categorise(truth, left, right)
    hit = t.merge(pred.assign(found=True), on=["left_key", "right_key"], how="left")["found"].notna().to_numpy()
    tp = int(hit.sum())
    precision = tp / len(pred) if len(pred) else 0.0
    recall = tp / len(t) if len(t) else float("nan")
    row = {"links": len(pred), "true": len(t), "fp": len(pred) - tp, "fn": len(t) - tp,
           "P": precision, "R": recall, "F1": 2 * precision * recall / (precision + recall) if tp else 0.0}
    for cat in ("clean", "legacy15", "corrupted", "blank"):
        m = t["id_defect"].to_numpy() == cat
        row[f"R_{cat}"] = hit[m].mean() if m.any() else float("nan")
        row[f"n_{cat}"] = int(m.sum())
    broken = np.isin(t["id_defect"].to_numpy(), ["corrupted", "blank"])
    row["R_broken"] = hit[broken].mean() if broken.any() else float("nan")
    hom = t["homophone"].to_numpy()
    row["R_homophone"] = hit[hom].mean() if hom.any() else float("nan")
    row["n_homophone"] = int(hom.sum())
    return row


def print_errors(result, truth: pd.DataFrame, left: Roster, right: Roster, limit: int = 25) -> None:
    """False positives and false negatives grouped by gamma pattern, to find causes not symptoms."""
    scored = result.scored
    gcols = [c for c in scored.columns if c.startswith("gamma_")]
    links = result.pairs[["left_key", "right_key"]].assign(linked=True)
    t = truth.assign(true=True)
    s = scored.merge(links, on=["left_key", "right_key"], how="left").merge(t, on=["left_key", "right_key"], how="left")
    s["linked"] = s["linked"].notna()
    s["true"] = s["true"].notna()
    fp = s[s["linked"] & ~s["true"]]
    fn = s[~s["linked"] & s["true"]]
    unblocked = len(t) - int(s["true"].sum())
    print(f"      FP {len(fp)}  FN {len(fn)} (scored) + {unblocked} never blocked")
    for label, part in (("FP", fp), ("FN", fn)):
        if len(part):
            g = part.groupby(gcols).agg(n=("match_weight", "size"), w=("match_weight", "median")).sort_values("n", ascending=False)
            print(f"      {label} by gamma pattern ({', '.join(c[6:] for c in gcols)}):")
            print("\n".join("        " + line for line in g.head(limit).to_string().splitlines()))
    if unblocked:
        missing = truth.merge(s[s["true"]][["left_key", "right_key"]], on=["left_key", "right_key"], how="left", indicator=True)
        missing = categorise(missing[missing["_merge"] == "left_only"][["left_key", "right_key"]], left, right)
        print("      never blocked by ID defect:", missing["id_defect"].value_counts().to_dict(),
              "homophone:", int(missing["homophone"].sum()))


def spread(values: pd.Series) -> str:
    v = values.dropna()
    if v.empty:
        return "n/a"
    if len(v) == 1:
        return f"{v.iloc[0]:.4f}"
    return f"{v.min():.4f}/{v.median():.4f}/{v.max():.4f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--civil", type=int, default=20_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--corruption", type=float, nargs="+", default=[1.0, 2.0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--flows", nargs="+", default=[f"{a}-{b}" for a, b in FLOWS])
    parser.add_argument("--errors", action="store_true", help="print reliefmatch errors by gamma pattern")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args()
    say = (lambda _m: None) if args.quiet else (lambda m: print("  ", m, file=sys.stderr, flush=True))
    methods = list(args.methods)
    if "splink" in methods:
        try:
            import splink  # noqa: F401
        except ImportError:
            print("note: splink is not installed (pip install 'splink>=5,<6'); skipping it")
            methods.remove("splink")
    logging.getLogger("splink").setLevel(logging.ERROR)

    rows = []
    for corruption in args.corruption:
        for seed in args.seeds:
            rosters, truth_rows = load_rosters(args.civil, seed, corruption, say)
            for flow in args.flows:
                lk, rk = flow.split("-")
                left, right = rosters[lk], rosters[rk]
                truth = true_pairs(truth_rows, lk, rk).rename(columns={"left_row": "left_key", "right_row": "right_key"})
                for method in methods:
                    t0 = time.perf_counter()
                    if method == "reliefmatch":
                        pred, completeness, result = link_reliefmatch(left, right, truth, say, keep_scored=args.errors)
                    elif method == "id_exact":
                        pred, completeness = link_id_exact(left, right)
                    else:
                        pred, completeness = link_splink(left, right, lk, rk, truth, seed)
                    elapsed = time.perf_counter() - t0
                    row = {"corruption": corruption, "seed": seed, "flow": flow, "method": method,
                           **score(pred, truth, left, right), "completeness": completeness, "seconds": elapsed}
                    rows.append(row)
                    print(f"   x{corruption:g} seed {seed} {flow:15s} {method:11s} P {row['P']:.4f} R {row['R']:.4f} "
                          f"F1 {row['F1']:.4f} | broken {row['R_broken']:.4f} hom {row['R_homophone']:.4f} | "
                          f"fp {row['fp']} fn {row['fn']} | PC {completeness:.4f} | {elapsed:.1f}s", flush=True)
                    if args.errors and method == "reliefmatch":
                        print_errors(result, truth, left, right)
    table = pd.DataFrame(rows)
    table.to_csv(WORK / f"accuracy_c{args.civil}.csv", index=False)
    metrics = ["P", "R", "F1", "completeness", "R_clean", "R_legacy15", "R_corrupted", "R_blank", "R_broken",
               "R_homophone", "seconds"]
    print(f"\nreliefmatch accuracy benchmark: {args.civil} civil rows, seeds {args.seeds}; "
          f"cells are min/median/max across seeds")
    for (corruption, flow), part in table.groupby(["corruption", "flow"], sort=False):
        sizes = part.iloc[0]
        print(f"\ncorruption x{corruption:g}  {flow}  (true pairs ~{int(sizes['true'])}: clean {sizes['n_clean']}, "
              f"legacy15 {sizes['n_legacy15']}, corrupted {sizes['n_corrupted']}, blank {sizes['n_blank']}, "
              f"homophone {sizes['n_homophone']})")
        summary = pd.DataFrame({m: {k: spread(part[part["method"] == m][k]) for k in metrics} for m in methods})
        print(summary.to_string())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"\npeak RSS of this process {peak:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
