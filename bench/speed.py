"""Province-scale speed: reliefmatch end to end against Splink's linking and the exact-ID floor.

Each measurement is a separate process (wall seconds; peak RSS of its largest process), repeated;
the table shows medians, with the fastest and slowest run (wall_range: the machine's noise).
Rosters come from data/generate.py (seeded, "fast" CSV format).

- reliefmatch: `reliefmatch crosscheck` and `reliefmatch health-match` as an officer runs them
  (read, validate, standardise, link, rules, write), with a fresh state folder ("cold"), and
  health-match again after the month's crosscheck ("warm": civil and poverty rosters reused by
  file hash, as the biweekly run does). In-flow stage timings come from the run's manifest.
- splink: linking alone (benchmark-only extra `pip install "splink>=5,<6"`), on rosters the
  pipeline has already standardised, set up as in bench/accuracy.py.
- floor: DuckDB reads the same CSV files and joins on the exact normalised ID, once per flow.

Run: .venv/bin/python bench/speed.py [--sizes 50000 200000 1000000] [--repeat 3] [--tools ...]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "work"
PY = sys.executable
CLI = str(Path(PY).with_name("reliefmatch"))
TOOLS = ("reliefmatch", "splink", "floor")
# An officer's machine keeps Prefect's database between runs; a fresh one per run would time
# Prefect's schema migrations, not reliefmatch. Standardised-roster caches are fresh per run.
PREFECT_HOME = WORK / "prefect-home"

FLOOR_SCRIPT = """
import sys, duckdb
con = duckdb.connect(); con.execute("SET threads=2")
d = sys.argv[1]
def rel(name, column):
    return con.sql(f"SELECT upper(trim(replace(\\"{column}\\", ' ', ''))) AS id FROM read_csv('{d}/{name}.csv', all_varchar=true)")
civil, poverty, health = rel("civil", "身份证号码"), rel("poverty", "证件号码"), rel("health", "身份证号")
flow = sys.argv[2]
pairs = [(civil, poverty)] if flow == "crosscheck" else [(health, civil), (health, poverty)]
n = 0
for left, right in pairs:
    n += left.filter("length(id) = 18").join(right.filter("length(id) = 18").set_alias("r"), "id").count("*").fetchall()[0][0]
print(n)
"""

SPLINK_SCRIPT = """
import sys, time, json
sys.path.insert(0, sys.argv[1])
from bench.accuracy import Roster, link_splink
from matchers.pipeline import ingest_roster, linkage_view
from data.generate import true_pairs
import pandas as pd
d, flow, cache = sys.argv[2], sys.argv[3], sys.argv[4]
rosters = {}
for kind in ("civil", "poverty", "health"):
    ingest = ingest_roster(f"{d}/{kind}.csv", kind, __import__("pathlib").Path(cache), validate=False)
    records = pd.read_parquet(ingest.records_path)
    rosters[kind] = Roster(records, linkage_view(records), None)
truth = pd.read_csv(f"{d}/truth.csv", dtype=str, keep_default_na=False)
links = [("civil", "poverty")] if flow == "crosscheck" else [("health", "civil"), ("health", "poverty")]
began = time.perf_counter()
scores = []
for left, right in links:
    tp = true_pairs(truth, left, right).rename(columns={"left_row": "left_key", "right_row": "right_key"}).astype("int64")
    pairs, _ = link_splink(rosters[left], rosters[right], left, right, tp, 1)
    scores.append((pairs, tp))
seconds = time.perf_counter() - began
hits = sum(len(p.merge(t, on=["left_key", "right_key"])) for p, t in scores)
found = sum(len(p) for p, _ in scores); true = sum(len(t) for _, t in scores)
print(json.dumps({"link_seconds": seconds, "tp": hits, "found": found, "true": true}))
"""


RSS_WRAPPER = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:]).returncode
print("PEAK_RSS_KIB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def run_measured(command: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (GiB, the largest process of the child's tree) and stdout of one run."""
    began = time.perf_counter()
    proc = subprocess.run([PY, "-c", RSS_WRAPPER, *command], capture_output=True, env=env, cwd=ROOT, text=True)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(command[:3])} failed:\n{proc.stderr[-2000:]}")
    kib = int(proc.stderr.rsplit("PEAK_RSS_KIB", 1)[1].split()[0])
    return wall, kib / 2**20, proc.stdout


def rosters_for(n_civil: int, seed: int) -> Path:
    folder = WORK / f"speed_c{n_civil}_s{seed}"
    if not (folder / "truth.csv").exists():
        sys.path.insert(0, str(ROOT))
        from data.generate import generate_rosters, write_rosters

        write_rosters(generate_rosters(seed, n_civil), folder, "fast")
    return folder


def f1_from_matches(out: Path, truth: pd.DataFrame, flow: str) -> tuple[int, int, int]:
    sys.path.insert(0, str(ROOT))
    from data.generate import true_pairs

    matches = pd.read_parquet(out / "matches.parquet")
    links = [("civil", "poverty")] if flow == "crosscheck" else [("health", "civil"), ("health", "poverty")]
    tp = found = true = 0
    for left, right in links:
        t = true_pairs(truth, left, right).astype("int64")
        got = matches[[f"{left}_row", f"{right}_row"]].dropna().astype("int64")
        got.columns = ["left_row", "right_row"]
        tp += len(got.merge(t, on=["left_row", "right_row"]))
        found += len(got)
        true += len(t)
    return tp, found, true


def prf(tp: int, found: int, true: int) -> tuple[float, float, float]:
    p = tp / found if found else 0.0
    r = tp / true if true else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


@contextmanager
def scratch_folders() -> Iterator[Callable[[], Path]]:
    """Temporary state folders (standardised rosters, outputs: half a gigabyte each at 1M rows), all removed
    when the block ends, also when a run fails or is interrupted."""
    made: list[Path] = []

    def make() -> Path:
        made.append(Path(tempfile.mkdtemp(prefix="rm-bench-")))
        return made[-1]

    try:
        yield make
    finally:
        for folder in made:
            shutil.rmtree(folder, ignore_errors=True)


def compile_project() -> None:
    """The project's modules compiled, as `make install` leaves them.

    An editable install runs them from the working tree: edited since, and with
    PYTHONDONTWRITEBYTECODE set (as on this machine), every process of every run compiled them again.
    """
    import compileall

    for package in ("flows", "matchers", "schemas"):
        compileall.compile_dir(ROOT / package, quiet=1)


def measure_reliefmatch(folder: Path, truth: pd.DataFrame, repeat: int) -> list[dict]:
    compile_project()
    with scratch_folders() as scratch:
        return _measure_reliefmatch(folder, truth, repeat, scratch)


def _measure_reliefmatch(folder: Path, truth: pd.DataFrame, repeat: int, scratch: Callable[[], Path]) -> list[dict]:
    """Each repeat in fresh state folders; the F1 is read from the last repeat's lists."""
    rows = []
    inputs = {k: str(folder / f"{k}.csv") for k in ("civil", "poverty", "health")}
    runs: dict[str, list] = {"crosscheck": [], "health-match (cold)": [], "health-match (warm)": []}
    previous: list[Path] = []
    for _ in range(repeat):
        home = scratch()
        env = dict(os.environ, RELIEFMATCH_HOME=str(home), PREFECT_HOME=str(PREFECT_HOME))
        out = home / "out"
        cross = [CLI, "crosscheck", "--civil", inputs["civil"], "--poverty", inputs["poverty"], "--out", str(out / "c"), "--period", "2026-11"]
        health = [CLI, "health-match", "--health", inputs["health"], "--civil", inputs["civil"], "--poverty", inputs["poverty"], "--period", "2026-11"]
        cold_home = scratch()
        runs["health-match (cold)"].append((*run_measured(health + ["--out", str(out / "hc")], dict(os.environ, RELIEFMATCH_HOME=str(cold_home), PREFECT_HOME=str(PREFECT_HOME))), out / "hc"))
        runs["crosscheck"].append((*run_measured(cross, env), out / "c"))
        runs["health-match (warm)"].append((*run_measured(health + ["--out", str(out / "hw")], env), out / "hw"))
        for name, results in runs.items():
            wall, rss, _, path = results[-1]
            manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
            results[-1] = (wall, rss, manifest, path)
        for done in [*previous, cold_home]:  # only the last repeat's lists are read again
            shutil.rmtree(done, ignore_errors=True)
        previous = [home]
    for name, results in runs.items():
        manifest = results[-1][2]
        flow = "crosscheck" if name == "crosscheck" else "health"
        tp, found, true = f1_from_matches(results[-1][3], truth, flow)
        stages = {k: statistics.median(r[2]["run"]["timings_seconds"][k] for r in results) for k in manifest["run"]["timings_seconds"]}
        rows.append({
            "tool": f"reliefmatch {name}", "flow": flow,
            "wall_s": statistics.median(r[0] for r in results), "wall_range": wall_range(r[0] for r in results),
            "in_flow_s": statistics.median(r[2]["run"]["total_seconds"] for r in results),
            "peak_rss_gib": max(r[1] for r in results),
            "pairs_compared": sum(b.get("pairs_generated", 0) for link in manifest["linkage"].values()
                                  for b in link["blocking"] if b.get("rule") == "(union)"),
            "f1": prf(tp, found, true)[2], "precision": prf(tp, found, true)[0], "recall": prf(tp, found, true)[1],
            "stages": ", ".join(f"{k} {v:.1f}" for k, v in stages.items()),
        })
    return rows


def wall_range(seconds) -> str:
    """Fastest and slowest of the repeats: the machine's noise, next to the median."""
    values = sorted(seconds)
    return f"{values[0]:.1f}–{values[-1]:.1f}"


def measure_floor(folder: Path, repeat: int) -> list[dict]:
    rows = []
    for flow in ("crosscheck", "health"):
        results = [run_measured([PY, "-c", FLOOR_SCRIPT, str(folder), flow]) for _ in range(repeat)]
        rows.append({"tool": "floor (read + exact-ID join)", "flow": flow,
                     "wall_s": statistics.median(r[0] for r in results), "wall_range": wall_range(r[0] for r in results),
                     "peak_rss_gib": max(r[1] for r in results),
                     "pairs_compared": int(results[-1][2].strip())})
    return rows


def measure_splink(folder: Path, repeat: int) -> list[dict]:
    try:
        import splink  # noqa: F401
    except ImportError:
        print("splink is not installed (pip install 'splink>=5,<6'): skipped", file=sys.stderr)
        return []
    rows = []
    with scratch_folders() as scratch:
        cache = scratch()
        for flow in ("crosscheck", "health"):
            results = [run_measured([PY, "-c", SPLINK_SCRIPT, str(ROOT), str(folder), flow, str(cache)]) for _ in range(repeat)]
            data = [json.loads(r[2].strip().splitlines()[-1]) for r in results]
            p, r, f = prf(data[-1]["tp"], data[-1]["found"], data[-1]["true"])
            rows.append({"tool": "splink (linking only)", "flow": flow,
                         "wall_s": statistics.median(d["link_seconds"] for d in data),
                         "wall_range": wall_range(d["link_seconds"] for d in data),
                         "peak_rss_gib": max(x[1] for x in results), "f1": f, "precision": p, "recall": r})
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), choices=TOOLS)
    args = parser.parse_args()
    table = []
    for size in args.sizes:
        folder = rosters_for(size, args.seed)
        truth = pd.read_csv(folder / "truth.csv", dtype=str, keep_default_na=False)
        print(f"# {size:,} civil rows ({folder.name})", file=sys.stderr, flush=True)
        rows = []
        if "reliefmatch" in args.tools:
            rows += measure_reliefmatch(folder, truth, args.repeat)
        if "floor" in args.tools:
            rows += measure_floor(folder, args.repeat)
        if "splink" in args.tools:
            rows += measure_splink(folder, args.repeat)
        for row in rows:
            row["size"] = size
        table += rows
        report(table)
    return 0


def report(table: list[dict]) -> None:
    frame = pd.DataFrame(table)
    columns = [c for c in ("size", "tool", "flow", "wall_s", "wall_range", "in_flow_s", "peak_rss_gib", "pairs_compared",
                           "precision", "recall", "f1", "stages") if c in frame]
    print(frame[columns].to_string(index=False, float_format=lambda v: f"{v:.4f}" if v < 1 else f"{v:.2f}"))
    ratios = []
    for (size, flow), group in frame.groupby(["size", "flow"]):
        rm = group[group["tool"].str.startswith("reliefmatch") & ~group["tool"].str.contains("cold")]
        floor = group[group["tool"].str.startswith("floor")]
        splink = group[group["tool"].str.startswith("splink")]
        for _, row in rm.iterrows():
            ratio = {"size": size, "tool": row["tool"]}
            if len(floor):
                ratio["reliefmatch/floor"] = row["wall_s"] / floor["wall_s"].iloc[0]
            if len(splink):
                ratio["reliefmatch/splink"] = row["wall_s"] / splink["wall_s"].iloc[0]
            ratios.append(ratio)
    if ratios:
        print(pd.DataFrame(ratios).to_string(index=False, float_format=lambda v: f"{v:.2f}"))
    sizes = sorted(frame["size"].unique())
    if 200_000 in sizes and 1_000_000 in sizes:
        for tool in frame["tool"].unique():
            t = frame[frame["tool"] == tool].groupby("size")["wall_s"].sum()
            if 200_000 in t and 1_000_000 in t:
                print(f"growth 200k→1M ({tool}): {t[1_000_000] / t[200_000]:.2f}×")
    sys.stdout.flush()


if __name__ == "__main__":
    raise SystemExit(main())
