"""Roster readers: every format and encoding, Chinese header aliases, IDs kept as exact text."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from matchers.standardise import standardise_roster
from schemas.readers import READ_PROBLEM, read_roster
from schemas.rosters import roster_schema
from tests.conftest import LEAK_ID, LEAK_NAME, SAMPLE_ROSTERS, csv_text, make_id, write_parquet, write_xlsx

CIVIL = roster_schema("civil")
POVERTY = roster_schema("poverty")
HEALTH = roster_schema("health")
ID_A = make_id("22010219650315002")
ID_B = make_id("22240119780704003")


def assert_sample(raw, kind: str) -> None:
    headers, rows = SAMPLE_ROSTERS[kind]
    schema = roster_schema(kind)
    assert raw.rows_read == len(rows)
    assert raw.frame[schema.row_column].tolist() == list(range(1, len(rows) + 1))
    assert raw.frame["name"].tolist() == [r[headers.index("姓名")] for r in rows]
    assert raw.frame["id_number"].tolist()[0] == LEAK_ID
    assert (raw.frame[READ_PROBLEM] == "").all()


@pytest.mark.parametrize("kind", ["civil", "poverty", "health"])
@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8-sig"), ("gb18030", "gb18030")])
def test_csv_encodings(write_roster, kind, encoding, expected):
    raw = read_roster(write_roster(kind, encoding=encoding), roster_schema(kind))
    assert (raw.file_format, raw.encoding, raw.header_row) == ("csv", expected, 1)
    assert_sample(raw, kind)


def test_gbk_only_characters_survive(write_roster):
    rows = [["1", "喆䶮", ID_A, "城市低保", "在保", "长春市", ""]]
    raw = read_roster(write_roster(rows=rows, encoding="gb18030"), CIVIL)
    assert raw.frame.loc[0, "name"] == "喆䶮"


def test_utf16_unicode_text_export(write_roster):
    """Excel's 'Unicode text': UTF-16 with a BOM, tab separated."""
    path = write_roster("health", encoding="utf-16", delimiter="\t", line_end="\r\n", name="health.txt")
    raw = read_roster(path, HEALTH)
    assert raw.encoding == "utf-16-le"
    assert_sample(raw, "health")


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_detected(write_roster, delimiter):
    rows = [["1", LEAK_NAME, LEAK_ID, "城市低保", "在保", "长春市, 朝阳区", "13912345678"]]
    raw = read_roster(write_roster(rows=rows, delimiter=delimiter), CIVIL)
    assert raw.frame.loc[0, "address"] == "长春市, 朝阳区"
    assert raw.frame.loc[0, "id_number"] == LEAK_ID


def test_format_comes_from_bytes_not_name(write_roster, tmp_path):
    as_xlsx = write_roster(fmt="csv", name="really_csv.xlsx")
    as_csv = write_roster(fmt="xlsx", name="really_xlsx.csv")
    as_dat = write_roster(fmt="parquet", name="really_parquet.dat")
    assert read_roster(as_xlsx, CIVIL).file_format == "csv"
    assert read_roster(as_csv, CIVIL).file_format == "xlsx"
    assert read_roster(as_dat, CIVIL).file_format == "parquet"


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_title_row_above_header(write_roster, fmt):
    raw = read_roster(write_roster(fmt=fmt, title="长春市朝阳区2024年城乡低保对象花名册"), CIVIL)
    assert raw.header_row == 2
    assert_sample(raw, "civil")


@pytest.mark.parametrize("id_header", ["身份证号码", "公民身份号码", "sfzh", "SFZH", "身份证号", "证件号码",
                                       "身份证件号码", " 身份证号码 ", "身份证　号码", "身份证\n号码", "ｓｆｚｈ"])
def test_id_header_aliases(write_roster, id_header):
    headers = ["序号", "姓名", id_header, "救助类别", "状态", "家庭住址", "联系电话"]
    raw = read_roster(write_roster(headers=headers), CIVIL)
    assert raw.frame["id_number"].tolist()[0] == LEAK_ID
    assert raw.header_map["id_number"] == id_header.strip()


def test_full_width_parentheses_and_spaces_in_headers(write_roster):
    headers = ["户 编 号", "姓　名", "证件号码", "户类型", "乡(镇)", "村（社区）"]
    rows = [["H1", "王建国", ID_A, "监测户", "其塔木镇", "前进村"]]
    raw = read_roster(write_roster("poverty", headers=headers, rows=rows), POVERTY)
    assert raw.frame.loc[0, ["household_id", "name", "town", "village"]].tolist() == ["H1", "王建国", "其塔木镇", "前进村"]
    assert raw.unmapped_headers == []


def test_unknown_headers_are_reported_not_fatal(write_roster):
    headers = ["序号", "姓名", "身份证号码", "救助类别", "状态", "备注"]
    rows = [["1", "李淑芬", ID_A, "城市低保", "在保", "无"]]
    raw = read_roster(write_roster(headers=headers, rows=rows), CIVIL)
    assert raw.unmapped_headers == ["备注"]
    assert raw.frame.loc[0, "address"] == ""


def test_csv_id_column_with_blanks_stays_exact_text(write_roster):
    ids = [ID_A, "", ID_B, "", "610104620927690"]
    rows = [[str(i), f"人{i}", v, "城市低保", "在保", "", ""] for i, v in enumerate(ids, 1)]
    path = write_roster(rows=rows)
    assert pd.read_csv(path)["身份证号码"].dtype == "float64"  # what a naive read would have done
    raw = read_roster(path, CIVIL)
    assert raw.frame["id_number"].tolist() == ids


def test_leading_zeros_and_numeric_looking_text_stay(write_roster):
    rows = [["007", "李淑芬", ID_A, "城市低保", "在保", "", "013912345678"]]
    raw = read_roster(write_roster(rows=rows), CIVIL)
    assert raw.frame.loc[0, ["seq", "phone"]].tolist() == ["007", "013912345678"]


def test_quoted_multiline_cell_stays_in_its_row(write_roster):
    rows = [["1", "李淑芬", ID_A, "城市低保", "在保", "长春市\n朝阳区", ""], ["2", "金光日", ID_B, "特困供养", "在保", "", ""]]
    raw = read_roster(write_roster(rows=rows), CIVIL)
    assert raw.rows_read == 2
    assert raw.frame["address"].tolist() == ["长春市\n朝阳区", ""]


def test_blank_row_in_the_middle_keeps_numbering(write_roster):
    rows = [SAMPLE_ROSTERS["civil"][1][0], [""] * 7, SAMPLE_ROSTERS["civil"][1][1], [""] * 7, [""] * 7]
    raw = read_roster(write_roster(rows=rows), CIVIL)
    assert raw.rows_read == 3 and raw.trailing_blank_rows == 2
    standard = standardise_roster(raw)
    assert standard.records["civil_row"].tolist() == [1, 3]
    assert standard.rejects[["row", "reason"]].values.tolist() == [[2, "blank row"]]


def test_xlsx_first_sheet_and_named_sheet(tmp_path):
    headers, rows = SAMPLE_ROSTERS["civil"]
    health_headers, health_rows = SAMPLE_ROSTERS["health"]
    path = write_xlsx(tmp_path / "book.xlsx", {"民政": [headers, *rows], "卫健": [health_headers, *health_rows]})
    assert_sample(read_roster(path, CIVIL), "civil")
    raw = read_roster(path, HEALTH, sheet="卫健")
    assert_sample(raw, "health")
    assert raw.file_format == "xlsx" and raw.encoding is None


def test_xlsx_sheet_name_matches_loosely(tmp_path):
    headers, rows = SAMPLE_ROSTERS["civil"]
    path = write_xlsx(tmp_path / "book.xlsx", {"说明": [["本表说明"]], "Sheet2": [headers, *rows]})
    assert_sample(read_roster(path, CIVIL, sheet="sheet2"), "civil")


def test_xlsx_cells_are_rendered_as_excel_shows_them(tmp_path):
    headers = ["序号", "姓名", "身份证号码", "救助类别", "状态", "纳入日期", "月保障金额", "联系电话"]
    rows = [
        [1, "李淑芬", float(LEAK_ID), "城市低保", "在保", datetime(2021, 3, 1), 652.5, 13912345678],
        [2, "金光日", int(ID_A), "农村低保", "在保", date(3000, 1, 1), 0.1 + 0.2, None],
        [3, "赵敏", 610104620927690, "特困供养", "在保", "2020/2/3", 500.0, "0433-2512345"],
        [4, "王建国", ID_B, "特困供养", "在保", None, None, None],
    ]
    path = write_xlsx(tmp_path / "typed.xlsx", {"Sheet1": [headers, *rows]})
    # openpyxl writes every big number as a float; a tool can write the exact integer, but a numeric
    # cell is still not trusted beyond Excel's 15 significant digits (the workbook may have been re-saved).
    rewrite_zip_member(path, "xl/worksheets/sheet1.xml", lambda xml: xml.replace(
        f"<v>{float(int(ID_A))!r}</v>".encode(), f"<v>{ID_A}</v>".encode()))
    raw = read_roster(path, CIVIL)
    frame = raw.frame
    ids = frame["id_number"].tolist()
    assert ids[0] == "2.20102199001011E+17" and ids[2:] == ["610104620927690", ID_B]
    assert ids[1].endswith("E+17") and ids[1].replace(".", "").startswith(ID_A[:14])
    assert frame["enrolled_date"].tolist() == ["2021-03-01", "3000-01-01", "2020/2/3", ""]
    assert frame["monthly_amount"].tolist() == ["652.5", "0.3", "500", ""]
    assert frame["phone"].tolist() == ["13912345678", "", "0433-2512345", ""]
    assert frame["seq"].tolist() == ["1", "2", "3", "4"]
    standard = standardise_roster(raw)
    status = dict(zip(standard.records["civil_row"], standard.records["id_status"]))
    assert status[1] == "truncated" and status[2] == "truncated"


def rewrite_zip_member(path, member: str, change) -> None:
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = {info: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members.items():
            archive.writestr(info, change(data) if info.filename == member else data)


def test_xlsx_trailing_formatted_rows_are_counted(tmp_path):
    import openpyxl
    from openpyxl.styles import Font

    headers, rows = SAMPLE_ROSTERS["civil"]
    book = openpyxl.Workbook()
    sheet = book.active
    for row in [headers, *rows]:
        sheet.append(row)
    for r in range(5, 45):
        sheet.cell(row=r, column=2).font = Font(bold=True)
    book.save(tmp_path / "formatted.xlsx")
    raw = read_roster(tmp_path / "formatted.xlsx", CIVIL)
    assert raw.rows_read == 3
    assert raw.trailing_blank_rows == 40


def test_parquet_with_int64_and_float64_id_columns(tmp_path):
    names = ["李淑芬", "金光日", "赵敏"]
    int_ids = [int(ID_A), int(ID_B), 610104620927690]
    base = {"姓名": names, "现住址": ["长春市"] * 3, "报告地区": ["朝阳区"] * 3, "病例类型": ["确诊病例"] * 3}
    raw = read_roster(write_parquet(tmp_path / "int.parquet", {**base, "身份证号": int_ids}), HEALTH)
    assert raw.frame["id_number"].tolist() == [ID_A, ID_B, "610104620927690"]
    float_ids = [float(LEAK_ID), None, 610104620927690.0]
    raw = read_roster(write_parquet(tmp_path / "float.parquet", {**base, "身份证号": float_ids}), HEALTH)
    assert raw.frame["id_number"].tolist() == ["2.20102199001011E+17", "", "610104620927690"]
    assert raw.header_row == 1 and raw.file_format == "parquet"
    standard = standardise_roster(raw)
    assert len(standard.records) + len(standard.rejects) == 3
    assert standard.records.loc[standard.records["health_row"] == 1, "id_status"].item() == "truncated"


def test_parquet_dates_and_strings(tmp_path):
    import pyarrow as pa

    columns = {
        "序号": pa.array([1, 2], pa.int32()), "姓名": ["李淑芬", None], "身份证号码": [ID_A, ID_B],
        "救助类别": pa.array(["城市低保", "农村低保"]).dictionary_encode(), "状态": ["在保", "在保"],
        "纳入日期": pa.array([date(2021, 3, 1), None], pa.date32()),
    }
    raw = read_roster(write_parquet(tmp_path / "civil.parquet", columns), CIVIL)
    assert raw.frame["name"].tolist() == ["李淑芬", ""]
    assert raw.frame["enrolled_date"].tolist() == ["2021-03-01", ""]
    assert raw.frame["assistance_type"].tolist() == ["城市低保", "农村低保"]
    stamps = {**columns, "纳入日期": pa.array([datetime(2021, 3, 1), datetime(2021, 3, 1, 8, 30)], pa.timestamp("s"))}
    raw = read_roster(write_parquet(tmp_path / "stamps.parquet", stamps), CIVIL)
    assert raw.frame["enrolled_date"].tolist() == ["2021-03-01", "2021-03-01 08:30:00"]


def test_every_row_accounted_after_standardising(write_roster):
    rows = [*SAMPLE_ROSTERS["civil"][1], ["4", "", "", "城市低保", "在保", "", ""]]
    raw = read_roster(write_roster(rows=rows), CIVIL)
    standard = standardise_roster(raw)
    rows_seen = sorted([*standard.records["civil_row"], *standard.rejects["row"]])
    assert rows_seen == list(range(1, raw.rows_read + 1))
    assert (standard.rejects["reason"] != "").all()


# Line breaks inside cells are covered above; a line break followed by separators would look
# like a never-closed quote, which the reader refuses on purpose. Control characters are
# covered by test_control_characters_in_cells_are_kept: many of them make a file look binary.
cell_text = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff") | st.just("\t"),
                    max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cells=st.lists(st.tuples(cell_text, cell_text), min_size=1, max_size=5),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]), line_end=st.sampled_from(["\n", "\r\n"]),
       title=st.booleans(), blank_lines=st.integers(0, 3))
def test_csv_round_trip_keeps_every_cell(tmp_path, cells, encoding, line_end, title, blank_lines):
    """Whatever text Excel would quote and write comes back exactly, in the same rows, whether Arrow
    parses the file's own UTF-8 bytes or the text encoded again (other encodings, CRLF)."""
    rows = [[name, "身份证", addr, "朝阳区", "确诊病例"] for name, addr in cells]
    text = csv_text(["姓名", "身份证号", "现住址", "报告地区", "病例类型"], rows, line_end=line_end,
                    title="2026年11月感染者名单" if title else None)
    path = tmp_path / "round.csv"
    path.write_bytes((text + (",,,,," + line_end) * blank_lines).encode(encoding))
    raw = read_roster(path, HEALTH)
    assert raw.frame[["name", "current_address"]].values.tolist() == [list(c) for c in cells]
    assert raw.frame["health_row"].tolist() == list(range(1, len(cells) + 1))
    assert (raw.header_row, raw.trailing_blank_rows) == (2 if title else 1, blank_lines)


@given(text=st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff") | st.sampled_from("\n\t,"),
                    max_size=30),
       bom=st.booleans(), data=st.data())
def test_the_body_parsed_from_the_file_bytes_is_the_body_text(text, bom, data):
    from schemas.readers import _utf8_body, decode_text

    raw = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    decoded, encoding = decode_text(Path("r.csv"), raw)
    start = data.draw(st.integers(0, len(decoded)))
    end = data.draw(st.integers(start, len(decoded)))
    body = _utf8_body(raw, decoded, encoding, start, end)
    assert body is None or bytes(body) == decoded[start:end].encode("utf-8")
    assert body is not None or encoding not in ("utf-8", "utf-8-sig")


def test_control_characters_in_cells_are_kept(write_roster):
    rows = [["1", "李淑芬\x1f", ID_A, "城市低保", "在保", "长春市\x0b朝阳区", "\x08"]]
    raw = read_roster(write_roster(rows=rows), CIVIL)
    assert raw.frame.loc[0, ["name", "address", "phone"]].tolist() == ["李淑芬\x1f", "长春市\x0b朝阳区", "\x08"]


def test_big_csv_reads_every_row(tmp_path):
    """100,000 rows (Arrow's parser, several blocks) come back complete and numbered; the speed is bench/'s."""
    row = f"1,李淑芬,{ID_A},城市低保,在保,长春市朝阳区,13912345678\n"
    path = tmp_path / "big.csv"
    path.write_text("序号,姓名,身份证号码,救助类别,状态,家庭住址,联系电话\n" + row * 100_000, encoding="utf-8")
    raw = read_roster(path, CIVIL)
    assert raw.rows_read == 100_000
    assert raw.frame["civil_row"].iloc[-1] == 100_000
    assert (raw.frame["id_number"] == ID_A).all() and (raw.frame[READ_PROBLEM] == "").all()


HEADERISH = st.sampled_from(["姓名", " 姓名", "姓名\u3000", "姓名x", "x姓名", "姓", "", " ", "张三", "\t姓名 "])


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(HEADERISH, max_size=30), split=st.integers(0, 30), skip=st.integers(0, 3),
       hits=st.integers(1, 5))
def test_header_cells_are_found_as_strip_finds_them(cells, split, skip, hits):
    """Cells equal to the header once stripped, whether the column is chunked, sliced, or searched cell by cell."""
    import pyarrow as pa

    import schemas.readers as readers
    from schemas.readers import TEXT, _equals_header

    values = pa.chunked_array([pa.array(cells[:split], pa.string()), pa.array(cells[split:], pa.string())]).slice(skip)
    series = pd.Series(pd.array(values, dtype=TEXT))
    expected = [cell.strip() == "姓名" for cell in cells[skip:]]
    previous, readers.MAX_HEADER_HITS = readers.MAX_HEADER_HITS, hits
    try:
        assert _equals_header(series, "姓名").tolist() == expected
    finally:
        readers.MAX_HEADER_HITS = previous


@settings(max_examples=60, deadline=None)
@given(filled=st.integers(0, 50), blank=st.sampled_from([0, 1, 1023, 1024, 1025, 5200]), holes=st.booleans())
def test_trailing_blank_rows_are_cut_and_counted(filled, blank, holes):
    from schemas.readers import TEXT, _strip_trailing_blank

    column = (["", " 李"] if holes else ["李"]) * filled + [" ", ""] * (blank // 2) + [""] * (blank % 2)
    frame = pd.DataFrame({"name": pd.array(column, dtype=TEXT), READ_PROBLEM: pd.array([""] * len(column), dtype=TEXT)})
    kept, cut = _strip_trailing_blank(frame)
    last = max((i + 1 for i, v in enumerate(column) if v.strip()), default=0)
    assert (len(kept), cut) == (last, len(column) - last)
