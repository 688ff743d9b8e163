"""The fast paths on a million rows give exactly what the plain pandas versions give."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from hypothesis import given, settings
from hypothesis import strategies as st

from matchers.outputs import FORMULA_TRIGGERS, excel_safe, write_table
from matchers.policy import _category_text
from matchers.privacy import _mask_plain, mask_id_numbers
from matchers.standardise import _all_blank, _blank, _county_prefix, _per_value

cells = st.one_of(st.none(), st.text(alphabet="0123456789Xx 中=+-@\t\r\n*", max_size=22))


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, max_size=20))
def test_masked_ids_as_privacy_masks_them(values: list[str | None]) -> None:
    ids = pd.Series(values, dtype=object)
    assert mask_id_numbers(ids).tolist() == _mask_plain(ids).tolist()


def test_masked_ids_of_non_text_fall_back() -> None:
    ids = pd.Series(["220102194705250518", 12345, None], dtype=object)
    assert mask_id_numbers(ids).tolist() == _mask_plain(ids).tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, max_size=20))
def test_category_text_as_strip(values: list[str | None]) -> None:
    series = pd.Series(values, dtype=object)
    plain = series.astype("object").where(series.notna(), "").astype(str).str.strip()
    assert _category_text(series).tolist() == plain.tolist()


def test_category_text_of_mixed_values() -> None:
    series = pd.Series([1.0, " a ", None, True], dtype=object)
    assert _category_text(series).tolist() == ["1.0", "a", "", "True"]


@settings(max_examples=100, deadline=None)
@given(st.lists(cells, max_size=12), st.lists(cells, max_size=12))
def test_excel_safe_as_before(first: list[str | None], second: list[str | None]) -> None:
    n = min(len(first), len(second))
    frame = pd.DataFrame({"a": pd.Series(first[:n], dtype=object), "b": pd.Series(second[:n], dtype="string"),
                          "n": np.arange(n)})
    out = excel_safe(frame)
    for column in ("a", "b"):
        text = frame[column].astype("string")
        hostile = text.str.startswith(FORMULA_TRIGGERS).fillna(False).to_numpy()
        expected = text.where(~hostile, "'" + text) if hostile.any() else frame[column]
        assert out[column].tolist() == expected.tolist()
    assert frame["a"].tolist() == first[:n]  # the caller's frame is untouched


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(cells, cells, cells), max_size=15))
def test_all_blank_as_every_column(rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["a", "b", "c"], dtype=object)
    expected = np.logical_and.reduce([_blank(frame[c]) for c in frame.columns]) if len(frame) else np.ones(0, bool)
    assert _all_blank(frame, ["a", "b", "c"]).tolist() == expected.tolist()


def test_write_table_without_csv(tmp_path) -> None:
    written = write_table(pd.DataFrame({"a": ["=1"]}), tmp_path, "t", csv=False)
    assert written == {"csv": "t.csv", "parquet": "t.parquet", "rows": 1}
    assert not (tmp_path / "t.csv").exists()
    assert pq.read_table(tmp_path / "t.parquet").column("a").to_pylist() == ["=1"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet="2201 ３x\t", max_size=9)), max_size=15))
def test_per_value_as_pandas(values: list[str | None]) -> None:
    series = pd.Series(values, dtype="string")
    assert _per_value(series, str.strip).tolist() == series.fillna("").astype(str).str.strip().tolist()
    code = series.fillna("").astype(str).str.strip().str[:6]
    assert _per_value(series, _county_prefix).tolist() == code.where(code.str.fullmatch(r"22\d{4}"), None).tolist()


whitespace_cells = st.one_of(st.none(), st.text(alphabet=st.sampled_from(
    [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["a", "中", "\u200b", "\ufeff", "\x00"]), max_size=6))


@settings(max_examples=300, deadline=None)
@given(st.lists(whitespace_cells, min_size=1, max_size=20))
def test_blank_on_arrow_text_as_str_strip(values: list[str | None]) -> None:
    expected = np.array([v is None or v.strip() == "" for v in values])
    assert (_blank(pd.Series(values, dtype="string[pyarrow]")) == expected).all()
    assert (_blank(pd.Series(values, dtype=object)) == expected).all()
