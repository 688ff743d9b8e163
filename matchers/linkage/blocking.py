"""Candidate pairs: the union of equality blocking rules, executed in DuckDB.

Rules run in order; each reports the pairs it generated and how many were new. Blocks whose
pair count exceeds the cap (a namesake block of a common name in one county) are skipped
and counted, so the cost stays bounded and the loss is visible in the report.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

from .settings import BlockingRule, LinkageSettings

POS = "__pos"


@dataclass
class Candidates:
    left_pos: np.ndarray
    right_pos: np.ndarray
    report: pd.DataFrame


def _referenced_columns(frame: pd.DataFrame, expressions: list[str]) -> list[str]:
    words = set()
    for expr in expressions:
        words.update(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", expr))
    return [c for c in frame.columns if c in words]


def _side_table(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, columns: list[str]) -> None:
    data = pd.DataFrame({c: frame[c].astype("string") for c in columns})
    data[POS] = np.arange(len(frame), dtype=np.int64)
    con.register(f"{name}_src", data)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_src")
    con.unregister(f"{name}_src")


def _keys_sql(side: str, expressions: list[str]) -> str:
    keys = ", ".join(f"NULLIF(CAST(({e}) AS VARCHAR), '') AS k{i}" for i, e in enumerate(expressions))
    not_null = " AND ".join(f"k{i} IS NOT NULL" for i in range(len(expressions)))
    return f"SELECT * FROM (SELECT {POS} AS pos, {keys} FROM {side}) WHERE {not_null}"


def generate_candidates(
    left: pd.DataFrame,
    right: pd.DataFrame,
    settings: LinkageSettings,
    truth: tuple[np.ndarray, np.ndarray] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Candidates:
    """Union of all blocking rules as row positions (left, right), sorted, deduplicated."""
    con = duckdb.connect()
    try:
        con.execute(f"SET threads={int(settings.duckdb_threads)}")
        left_exprs = [e for r in settings.blocking_rules for e, _ in r.on]
        right_exprs = [e for r in settings.blocking_rules for _, e in r.on]
        _side_table(con, "lside", left, _referenced_columns(left, left_exprs))
        _side_table(con, "rside", right, _referenced_columns(right, right_exprs))
        con.execute("CREATE TEMP TABLE cand (li BIGINT, ri BIGINT)")
        if truth is not None:
            con.register("truth_src", pd.DataFrame({"li": truth[0].astype(np.int64), "ri": truth[1].astype(np.int64)}))
            con.execute("CREATE TEMP TABLE truth AS SELECT DISTINCT li, ri FROM truth_src")
            n_truth = con.execute("SELECT count(*) FROM truth").fetchone()[0]
        rows = []
        for rule in settings.blocking_rules:
            rows.append(_run_rule(con, rule, settings.max_block_pairs, truth is not None, n_truth if truth is not None else 0))
            if progress:
                progress(f"blocking rule {rule.name}: {rows[-1]['pairs_generated']} pairs, {rows[-1]['new_pairs']} new")
        pairs = con.execute("SELECT li, ri FROM cand ORDER BY li, ri").fetchnumpy()
        total = {
            "rule": "(union)",
            "pairs_generated": int(sum(r["pairs_generated"] for r in rows)),
            "new_pairs": int(len(pairs["li"])),
            "blocks_capped": int(sum(r["blocks_capped"] for r in rows)),
            "pairs_capped": int(sum(r["pairs_capped"] for r in rows)),
        }
        if truth is not None:
            found = con.execute("SELECT count(*) FROM truth JOIN cand USING (li, ri)").fetchone()[0]
            total["truth_found"] = int(found)
            total["pairs_completeness"] = found / n_truth if n_truth else float("nan")
        rows.append(total)
        report = pd.DataFrame(rows)
        return Candidates(
            np.asarray(pairs["li"], dtype=np.int64), np.asarray(pairs["ri"], dtype=np.int64), report
        )
    finally:
        con.close()


def _run_rule(con: duckdb.DuckDBPyConnection, rule: BlockingRule, default_cap: int, with_truth: bool, n_truth: int) -> dict:
    cap = int(rule.max_block_pairs or default_cap)
    lexprs = [le for le, _ in rule.on]
    rexprs = [re_ for _, re_ in rule.on]
    k = [f"k{i}" for i in range(len(rule.on))]
    keys = ", ".join(k)
    con.execute(f"CREATE OR REPLACE TEMP TABLE lk AS {_keys_sql('lside', lexprs)}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE rk AS {_keys_sql('rside', rexprs)}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE capped AS
        SELECT {keys}, lc.n * rc.n AS np
        FROM (SELECT {keys}, count(*)::BIGINT AS n FROM lk GROUP BY ALL) lc
        JOIN (SELECT {keys}, count(*)::BIGINT AS n FROM rk GROUP BY ALL) rc USING ({keys})
        WHERE lc.n * rc.n > {cap}"""
    )
    blocks_capped, pairs_capped = con.execute("SELECT count(*), coalesce(sum(np), 0) FROM capped").fetchone()
    on = " AND ".join(f"l.{c} = r.{c}" for c in k)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE rp AS
        SELECT l.pos AS li, r.pos AS ri
        FROM (SELECT * FROM lk ANTI JOIN capped USING ({keys})) l
        JOIN rk r ON {on}"""
    )
    con.execute("CREATE OR REPLACE TEMP TABLE newp AS SELECT li, ri FROM rp ANTI JOIN cand USING (li, ri)")
    generated = con.execute("SELECT count(*) FROM rp").fetchone()[0]
    new = con.execute("SELECT count(*) FROM newp").fetchone()[0]
    con.execute("INSERT INTO cand SELECT li, ri FROM newp")
    row = {
        "rule": rule.name,
        "pairs_generated": int(generated),
        "new_pairs": int(new),
        "blocks_capped": int(blocks_capped),
        "pairs_capped": int(pairs_capped),
    }
    if with_truth:
        found = con.execute("SELECT count(*) FROM truth JOIN rp USING (li, ri)").fetchone()[0]
        cumulative = con.execute("SELECT count(*) FROM truth JOIN cand USING (li, ri)").fetchone()[0]
        row["truth_found"] = int(found)
        row["pairs_completeness"] = cumulative / n_truth if n_truth else float("nan")
    for t in ("lk", "rk", "capped", "rp", "newp"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return row
