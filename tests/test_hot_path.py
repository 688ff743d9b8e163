"""The fast paths on a million rows give exactly what the plain pandas versions give."""
from __future__ import annotations

from unittest.mock import patch

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from matchers import outputs
from matchers.addresses import ADDRESS_COLUMNS, address_columns, parse_address
from matchers.columnar import is_arrow_text, read_list, to_pandas
from matchers.names import name_columns, standardise_names
from matchers.outputs import FORMULA_TRIGGERS, excel_safe, write_table
from matchers.pipeline import _shown_text, display_fields, read_for_rules
from matchers.policy import _category_text
from matchers.privacy import _mask_plain, mask_id_numbers
from matchers.standardise import _all_blank, _blank, _county_prefix, _per_value, _records_table
from schemas.readers import TEXT

cells = st.one_of(st.none(), st.text(alphabet="0123456789Xx 中=+-@\t\r\n*", max_size=22))


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, max_size=20))
def test_masked_ids_as_privacy_masks_them(values: list[str | None]) -> None:
    ids = pd.Series(values, dtype=object)
    assert mask_id_numbers(ids).tolist() == _mask_plain(ids).tolist()


def test_masked_ids_of_non_text_fall_back() -> None:
    ids = pd.Series(["11010519491231002X", 12345, None], dtype=object)
    assert mask_id_numbers(ids).tolist() == _mask_plain(ids).tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, max_size=20))
def test_category_text_as_strip(values: list[str | None]) -> None:
    series = pd.Series(values, dtype=object)
    plain = series.astype("object").where(series.notna(), "").astype(str).str.strip()
    assert _category_text(series).tolist() == plain.tolist()


@settings(max_examples=200, deadline=None)
@given(st.lists(cells, max_size=20))
def test_category_text_of_a_categorical_as_of_its_text(values: list[str | None]) -> None:
    series = pd.Series(values, dtype="string")
    assert _category_text(series.astype("category")).tolist() == _category_text(series).tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(cells, max_size=20))
def test_shown_text_of_a_categorical_as_of_its_text(values: list[str | None]) -> None:
    series = pd.Series(values, dtype="string")
    assert _shown_text(series.astype("category")).tolist() == _shown_text(series).tolist()


def test_rules_read_categories_as_categoricals_and_show_them_as_before(tmp_path) -> None:
    records = pd.DataFrame({"civil_row": [2, 3, 4], "name": ["张三", "李四", None],
                            "assistance_type": [" 城市低保", None, "特困供养"], "status": ["在保", "在保", None],
                            "id_number": ["11010519491231002X", None, "110105194912310021"],
                            "id_number_raw": ["11010519491231002X", "x", "110105194912310021"]}).astype(
        {c: "string" for c in ("name", "assistance_type", "status", "id_number_raw")})
    records.to_parquet(tmp_path / "records.parquet", index=False)
    read = read_for_rules(tmp_path / "records.parquet")
    assert isinstance(read["assistance_type"].dtype, pd.CategoricalDtype)
    assert read["name"].tolist() == records["name"].tolist()
    assert display_fields(read, "civil", reveal_ids=True).equals(display_fields(records, "civil", reveal_ids=True))


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


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(cells, st.one_of(st.none(), st.sampled_from(["户主", "=SUM(A1)", "+1", "否"]))), max_size=12))
def test_a_list_read_with_its_text_in_arrow_is_written_as_before(tmp_path_factory, rows) -> None:
    """The history step rewrites lists read by read_list: the same CSV and Parquet bytes as from Python text."""
    frame = pd.DataFrame({"civil_row": np.arange(len(rows), dtype="int64") + 2,
                          "name": pd.Series([r[0] for r in rows], dtype=object),
                          "kind": pd.Series([r[1] for r in rows], dtype=object),
                          "match_probability": np.linspace(0.5, 1.0, len(rows)), "flag": [r[0] is None for r in rows]})
    folder = tmp_path_factory.mktemp("lists")
    write_table(frame, folder, "before", csv=False)
    read = read_list(folder / "before.parquet")
    assert all(is_arrow_text(read[c]) for c in ("name", "kind") if frame[c].notna().any())  # else Arrow's null type
    for duckdb_from_rows in (1, 10**6):  # DuckDB's CSV writer, and pandas'
        names = [f"{how}{duckdb_from_rows}" for how in ("plain", "arrow")]
        with patch.object(outputs, "DUCKDB_CSV_ROWS", duckdb_from_rows):
            for name, written in zip(names, (frame, read)):
                write_table(written, folder, name)
        for suffix in ("csv", "parquet"):
            assert (folder / f"{names[0]}.{suffix}").read_bytes() == (folder / f"{names[1]}.{suffix}").read_bytes()


def test_a_large_list_read_in_chunks_is_written_as_before(tmp_path) -> None:
    """Parquet reads more than 131,072 rows in chunks, and the chunks move where the writer splits its pages."""
    rng = np.random.default_rng(1)
    values = np.array([f"v{i}" + "身份证号一致" * 4 for i in range(16_000)], dtype=object)
    frame = pd.DataFrame({"civil_row": np.arange(140_000), "explanation": values[rng.integers(0, 16_000, 140_000)]})
    write_table(frame, tmp_path, "before", csv=False)
    read = read_list(tmp_path / "before.parquet")
    assert pa.array(read["explanation"].array).num_chunks == 2
    write_table(read, tmp_path, "after", csv=False)
    assert (tmp_path / "after.parquet").read_bytes() == (tmp_path / "before.parquet").read_bytes()


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


@settings(max_examples=200, deadline=None)
@given(st.lists(st.booleans(), max_size=40), st.integers(1, 6))
def test_rejected_rows_leave_the_table_as_a_filter_would(rejected, max_slices):
    """Pieces between rejected rows, or one filter when there would be too many: the same rows either way."""
    import pyarrow as pa

    import matchers.standardise as standardise

    mask = np.array(rejected, dtype=bool)
    table = pa.table({"row": np.arange(len(mask), dtype=np.int64), "text": [f"v{i}" for i in range(len(mask))]})
    expected = table.filter(pa.array(~mask))
    previous, standardise.MAX_SLICES = standardise.MAX_SLICES, max_slices
    try:
        kept = standardise._without_rows(table, mask)
    finally:
        standardise.MAX_SLICES = previous
    assert kept.equals(expected) and kept.schema == table.schema


PLACE_TEXT = st.text(st.sampled_from(list("吉林省长春市朝阳区 \u3000\t\x1c\x85\xa0a1")), max_size=6)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(*[st.none() | PLACE_TEXT] * 5), min_size=1, max_size=8))
def test_poverty_address_text_in_arrow_is_the_stripped_parts_joined(rows):
    """The poverty roster's five place columns, each str.strip()-ed and joined, whether in Arrow or per value."""
    from matchers.addresses import arrow_text
    from matchers.standardise import POVERTY_PLACE_COLUMNS, _address_text
    from schemas.readers import TEXT

    frame = pd.DataFrame(rows, columns=list(POVERTY_PLACE_COLUMNS)).astype(TEXT)
    expected = ["".join((value or "").strip() for value in row) for row in rows]
    assert _address_text(frame, "poverty").tolist() == expected
    assert _address_text(frame.astype(object), "poverty").tolist() == expected
    column = frame["county"]
    assert arrow_text(column).to_pylist() == arrow_text(column.astype(object)).to_pylist() == list(
        None if value is None else value for value, in zip(column.astype(object).where(column.notna(), None)))


ADDRESS_TEXT = st.text(st.sampled_from(list("第第19村组号-a\u00e9中 ")), max_size=8)  # cleaned text: no line breaks


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | ADDRESS_TEXT, max_size=12), st.integers(0, 3))
def test_addresses_are_cut_at_their_first_number_as_the_regex_groups_cut_them(values, skip):
    """Head and tail as the capture groups split them; also for a slice of an array (offsets not from zero)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from matchers.addresses import split_at_first_number

    text = pa.array(["1第1"] * skip + values, type=pa.string()).slice(skip)
    groups = pc.extract_regex(text, r"^(?P<head>[^0-9]*?)(?P<tail>第?[0-9].*)?$")
    head, tail = split_at_first_number(text)
    assert head.to_pylist() == pc.struct_field(groups, "head").to_pylist()
    assert tail.to_pylist() == pc.fill_null(pc.struct_field(groups, "tail"), "").to_pylist()


def _clean_every_text(text: pa.Array) -> pa.Array:
    """_clean_vectorised's four passes over every text, as it ran before it skipped clean ones."""
    import pyarrow.compute as pc

    from matchers.addresses import _DROP

    text = pc.utf8_normalize(text, "NFKC")
    text = pc.replace_substring_regex(text, _DROP.pattern, "")
    text = pc.replace_substring(text, "#", "号")
    return pc.replace_substring_regex(text, r"[\x{2010}-\x{2015}\x{2212}\x{ff0d}~\x{ff5e}_]", "-")


# ASCII, CJK ideographs at both ends of their blocks and their neighbours, and what NFKC or _clean changes:
# full-width forms, a compatibility ideograph, a Kangxi radical, a circled digit, combining and composing
# characters (e + U+0301, Hangul jamo), other spaces, Chinese punctuation and dashes
unclean_text = st.one_of(st.none(), st.text(st.sampled_from([
    *"aZ09-./#~_ ,;:\"'()[]<>{}\t\x7f", *"\u3400\u4dbf\u4dc0\u4e00\u9fff\ua000\u33ff",
    *"中村号１Ａ－～\uff5e\uf900\u2f00\u2460\u0301\u00e9\u1100\u1161\u3000\u00a0，、（）【】\u2010\u2212"]), max_size=10))


@settings(max_examples=300, deadline=None)
@given(st.lists(unclean_text, max_size=20))
def test_addresses_cleaned_only_where_cleaning_may_change_them_as_when_all_are(values: list[str | None]) -> None:
    from matchers.addresses import _clean_vectorised

    assert _clean_vectorised(pd.Series(values, dtype=object)).to_pylist() == \
        _clean_every_text(pa.array(values, type=pa.string())).to_pylist()


# Two differences the column path has always had from parse_address are left out: a 第 and Chinese
# numeral right before the first digit ("第三1社") are cut from the digit and kept, where the whole
# text's normalise_detail drops the 第; and '#' is 号 before any digit too ("#市" reads as a place).
address_text = st.one_of(st.none(), st.lists(st.sampled_from([
    *"吉林省长春市朝阳区南关二道江镇乡村社区组号-－~1234５一二三十单元栋室楼 ,，",
    "吉林省", "长春市", "朝阳区", "公主岭市", "街道", "社区", "单元", "号楼", "12"]), max_size=12).map("".join))


@settings(max_examples=150, deadline=None)
@given(st.lists(address_text, max_size=25))
@example(["长春市朝阳区南关社区单元3", "12号", None, ""])  # a room after a 单元 that ends the head; no head
def test_address_columns_in_arrow_as_each_address_parsed_alone(values: list[str | None]) -> None:
    columns = address_columns(pd.Series(values * 2, dtype=object))  # repeated: parsed once per distinct value
    assert list(columns) == ADDRESS_COLUMNS
    for i, value in enumerate(values * 2):
        expected = (None,) * len(ADDRESS_COLUMNS) if value is None else parse_address(value)
        assert tuple(columns[c][i].as_py() for c in ADDRESS_COLUMNS) == expected


name_text = st.one_of(st.none(), st.text(alphabet=st.sampled_from(list("张張伟偉司馬欧阳於单·•. 王aB１")), max_size=5))


@settings(max_examples=150, deadline=None)
@given(st.lists(name_text, max_size=25))
def test_name_columns_in_arrow_as_standardise_names(values: list[str | None]) -> None:
    columns = name_columns(pa.array(values * 2, type=pa.string()))
    expected = standardise_names(pd.Series(values * 2, dtype=object))
    assert list(columns) == [c for c in expected.columns if c != "name"]
    for column, arrow in columns.items():
        assert arrow.to_pylist() == expected[column].tolist()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(name_text, st.booleans()), max_size=8), st.permutations(["n", "t", "blank", "k"]))
def test_records_table_reads_back_as_the_frame_of_python_text(rows, order) -> None:
    """standardise_roster's table: its Arrow text typed and described as pyarrow describes Python strings."""
    text = {"t": pa.array([r[0] for r in rows], type=pa.string()), "blank": pa.nulls(len(rows), pa.string())}
    frame = pd.DataFrame({"n": np.arange(len(rows)), "k": pd.array([r[0] for r in rows], dtype=TEXT)})
    table = _records_table(frame, text, list(order))
    python = pd.DataFrame({c: frame[c] if c in frame else pd.Series(text[c].to_pylist(), dtype=object) for c in order})
    expected = pa.Table.from_pandas(python, preserve_index=False)
    assert table.schema.equals(expected.schema, check_metadata=True)
    assert table.equals(expected)
    pd.testing.assert_frame_equal(table.to_pandas(), expected.to_pandas())


@settings(max_examples=60, deadline=None)
@given(st.lists(name_text, min_size=1, max_size=6), st.sets(st.sampled_from(["a", "b", "c", "d"])))
def test_text_kept_in_arrow_takes_its_place_among_the_columns(values, kept) -> None:
    """columnar.to_pandas puts Arrow-backed columns where the table has them; the others as pyarrow converts them."""
    table = pa.table({name: pa.array(values, type=pa.string()) for name in ("a", "b", "c", "d")} |
                     {"n": pa.array(range(len(values)))})
    frame = to_pandas(table, arrow_text=kept)
    assert list(frame.columns) == table.column_names
    for name in table.column_names:
        assert is_arrow_text(frame[name]) == (name in kept)
        assert frame[name].astype(object).where(frame[name].notna(), None).tolist() == table.column(name).to_pylist()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=12))
def test_pairs_in_row_order_exactly_when_sorting_moves_none(pairs: list[tuple[int, int]]) -> None:
    from matchers.pipeline import _in_row_order

    left = np.array([p[0] for p in pairs], dtype=np.int64)
    right = np.array([p[1] for p in pairs], dtype=np.int64)
    assert _in_row_order(left, right) == (pairs == sorted(set(pairs)))


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
def test_match_table_in_row_order_whatever_order_the_pairs_come_in(order: str, monkeypatch) -> None:
    from matchers.pipeline import match_table

    monkeypatch.delenv("RELIEFMATCH_PERSON_KEY", raising=False)
    civil = pd.DataFrame({"civil_row": [1, 2, 3], "name": ["甲", "乙", "丙"], "id_number": [None] * 3,
                          "id_number_raw": ["", "", ""], "assistance_type": ["低保"] * 3, "status": ["正常"] * 3})
    poverty = pd.DataFrame({"poverty_row": [1, 2], "name": ["甲", "乙"], "id_number": [None] * 2,
                            "id_number_raw": ["", ""], "household_type": ["脱贫户"] * 2})
    pairs = pd.DataFrame({"civil_row": [1, 1, 2, 3], "poverty_row": [1, 2, 2, 1], "match_probability": [0.9, 0.5, 0.8, 0.7],
                          "match_method": ["fuzzy"] * 4, "review_required": [False, True, False, True],
                          "explanation": ["a", "b", "c", "d"]})
    if order == "shuffled":
        pairs = pairs.iloc[[2, 0, 3, 1]]
    table = match_table(pairs, civil, poverty, "civil", "poverty", reveal_ids=False)
    assert list(zip(table["civil_row"], table["poverty_row"])) == [(1, 1), (1, 2), (2, 2), (3, 1)]
    assert table["explanation"].tolist() == ["a", "b", "c", "d"] and table.index.equals(pd.RangeIndex(4))
