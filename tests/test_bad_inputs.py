"""A corpus of malformed roster files, generated at test time.

Each file either stops with one InputError line that names the file and says what to do, or is
read with every data row kept, so that standardising accounts for each row (used, or rejected
with a reason). No message may carry a planted personal value.
"""
from __future__ import annotations

import io
import random
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from matchers.standardise import standardise_roster
from schemas.errors import InputError
from schemas.readers import READ_PROBLEM, read_roster
from schemas.rosters import roster_schema
from tests.conftest import LEAK_ID, LEAK_NAME, PLANTED_VALUES, SAMPLE_ROSTERS, csv_text, make_id, write_parquet, write_xlsx

HEADERS, ROWS = SAMPLE_ROSTERS["civil"]
HEADER_LINE = ",".join(HEADERS)
GOOD = [",".join(r) for r in ROWS]
TRACEBACK_MARKS = ("Traceback", 'File "', ", in ", "Error:", "Exception", "<class", "0x")


@dataclass(frozen=True)
class Fails:
    """The reader must stop with an InputError whose message contains `says`."""

    says: str
    row: object = None  # the data row the message must name, None for none, ANY_ROW for any


@dataclass(frozen=True)
class Reads:
    """The reader must keep `rows` data rows; `flagged` of them carry a READ_PROBLEM."""

    rows: int
    flagged: tuple[int, ...] = ()
    trailing: int = 0


ANY_ROW = object()
Builder = Callable[[Path], Path]


def text_file(name: str, text: str, encoding: str = "utf-8") -> Builder:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(text.encode(encoding))
        return path
    return build


def bytes_file(name: str, data: bytes) -> Builder:
    def build(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path
    return build


def lines(*rows: str, end: str = "\n") -> str:
    return end.join(rows) + end


def xlsx_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    buffer = io.BytesIO()
    write_xlsx(buffer, sheets)  # openpyxl saves to file objects too
    return buffer.getvalue()


def zip_bytes(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def xlsx_with_broken_sheet() -> bytes:
    """A valid workbook whose sheet XML is cut in half."""
    source = zipfile.ZipFile(io.BytesIO(VALID_XLSX))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for info in source.infolist():
            data = source.read(info)
            archive.writestr(info, data[: len(data) // 2] if info.filename == "xl/worksheets/sheet1.xml" else data)
    return buffer.getvalue()


def garbage(seed: int, size: int, alphabet: range = range(256)) -> bytes:
    rng = random.Random(seed)
    return bytes(rng.choice(alphabet) for _ in range(size))


def directory(tmp: Path) -> Path:
    path = tmp / "roster_folder.csv"
    path.mkdir()
    return path


def truncated_parquet(tmp: Path) -> Path:
    path = write_parquet(tmp / "cut.parquet", {h: [r[i] for r in ROWS] for i, h in enumerate(HEADERS)})
    path.write_bytes(path.read_bytes()[:-40])
    return path


def parquet_without_id(tmp: Path) -> Path:
    return write_parquet(tmp / "no_id.parquet", {"姓名": [LEAK_NAME], "救助类别": ["城市低保"], "状态": ["在保"]})


def parquet_with_nested_column(tmp: Path) -> Path:
    return write_parquet(tmp / "nested.parquet", {"姓名": [LEAK_NAME], "身份证号码": [[1, 2]],
                                                  "救助类别": ["城市低保"], "状态": ["在保"]})


BIG_CELL = "长" * 10_000_000
MILLION_BLANK = ",,,,,,\n" * 1_000_000
FLOAT_IDS = lines(HEADER_LINE, f"1,{LEAK_NAME},2.20102199001011E+17,城市低保,在保,,", f"2,李淑芬,{make_id('22010219650315002')}.0,城市低保,在保,,")
OPEN_LAST = ",".join(ROWS[0][:-1]) + ',"' + ROWS[0][-1]
VALID_XLSX = xlsx_bytes({"Sheet1": [HEADERS, *ROWS]})
BIG5_HEADERS = lines("序號,姓名,身份證號碼,救助類別,狀態", f"1,張三,{LEAK_ID},城市低保,在保").encode("big5")

CASES: dict[str, tuple[Builder, Fails | Reads]] = {
    "empty": (bytes_file("empty.csv", b""), Fails("empty")),
    "only blank lines": (text_file("blank.csv", "\n\n \n\r\n"), Fails("only blank lines")),
    "header only": (text_file("header.csv", lines(HEADER_LINE)), Fails("no data rows")),
    "header and blank rows": (text_file("blank_rows.csv", lines(HEADER_LINE, ",,,,,,", ",,,,,,", "")), Fails("no data rows")),
    "title only": (text_file("title.csv", "长春市低保名册\n"), Fails("no recognisable")),
    "header below row 10": (text_file("deep.csv", "\n".join(["说明"] * 11 + [HEADER_LINE, *GOOD])), Fails("no recognisable")),
    "binary garbage": (bytes_file("garbage.csv", garbage(1, 4096)), Fails("binary")),
    "high bytes garbage": (bytes_file("high.csv", garbage(2, 4096, range(0x80, 0x100))), Fails("neither UTF-8 nor GB18030")),
    "truncated xlsx": (bytes_file("cut.xlsx", VALID_XLSX[: len(VALID_XLSX) // 2]), Fails("damaged or truncated")),
    "xlsx with a damaged sheet": (bytes_file("corrupt.xlsx", xlsx_with_broken_sheet()), Fails("damaged", row=ANY_ROW)),
    "zip not xlsx": (bytes_file("archive.xlsx", zip_bytes({"roster.csv": HEADER_LINE})), Fails("ZIP archive")),
    "ods": (bytes_file("calc.xlsx", zip_bytes({"mimetype": "application/vnd.oasis.opendocument.spreadsheet"})), Fails("OpenDocument")),
    "old xls": (bytes_file("old.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)), Fails("97-2003")),
    "password xlsx": (bytes_file("locked.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504) + "EncryptedPackage".encode("utf-16-le")), Fails("password")),
    "html saved as xls": (text_file("web.xls", f"<html><body><table><tr><th>姓名</th><th>身份证号码</th></tr><tr><td>{LEAK_NAME}</td><td>{LEAK_ID}</td></tr></table></body></html>"), Fails("HTML")),
    "excel 2003 xml": (text_file("xml.xls", '<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"><Row><Cell><Data>姓名</Data></Cell></Row></Workbook>'), Fails("XML")),
    "json": (text_file("roster.csv", f'[{{"姓名": "{LEAK_NAME}", "身份证号码": "{LEAK_ID}"}}]'), Fails("JSON")),
    "pdf": (bytes_file("roster.csv", b"%PDF-1.7\n" + garbage(3, 200)), Fails("PDF")),
    "wrong sheet name": (bytes_file("book.xlsx", VALID_XLSX), Fails("no sheet named")),
    "data on second sheet": (bytes_file("two.xlsx", xlsx_bytes({"说明": [["填表说明"]], "名册": [HEADERS, *ROWS]})), Fails("'名册'")),
    "duplicated headers": (text_file("dup.csv", lines(HEADER_LINE + ",公民身份号码", *[g + "," + LEAK_ID for g in GOOD])), Fails("both mean")),
    "blank headers": (text_file("blank_head.csv", lines("序号,姓名,,身份证号码,救助类别,状态,,", f"1,{LEAK_NAME},x,{LEAK_ID},城市低保,在保,,y", "2,李淑芬,,,城市低保,在保,,")), Reads(2)),
    "missing required column": (text_file("missing.csv", lines("序号,姓名,救助类别,状态", f"1,{LEAK_NAME},城市低保,在保")), Fails("missing required column")),
    "wrong roster kind": (text_file("health.csv", csv_text(*SAMPLE_ROSTERS["health"])), Fails("missing required column")),
    "few NUL bytes": (text_file("nul.csv", lines(HEADER_LINE, GOOD[0].replace("在保", "在\x00保"), GOOD[1], GOOD[2])), Reads(3, flagged=(1,))),
    "mixed line endings": (text_file("mixed.csv", HEADER_LINE + "\r\n" + GOOD[0] + "\n" + GOOD[1] + "\r" + GOOD[2] + "\r\n"), Reads(3)),
    "BOM in the middle": (text_file("bom.csv", "\ufeff" + lines(HEADER_LINE, GOOD[0], "\ufeff" + GOOD[1], GOOD[2])), Reads(3)),
    "10 MB single cell": (text_file("big_cell.csv", lines(HEADER_LINE, GOOD[0], f"2,{BIG_CELL},{LEAK_ID},城市低保,在保,,")), Reads(2, flagged=(2,))),
    "million empty rows": (text_file("million.csv", lines(HEADER_LINE, *GOOD) + MILLION_BLANK), Reads(3, trailing=1_000_000)),
    "million bare newlines": (text_file("newlines.csv", lines(HEADER_LINE, *GOOD) + "\n" * 1_000_000), Reads(3, trailing=1_000_000)),
    "too many fields": (text_file("wide.csv", lines(HEADER_LINE, GOOD[0], "2,李淑芬,长春市,朝阳区," + LEAK_ID + ",城市低保,在保,,", GOOD[2])), Reads(3, flagged=(2,))),
    "too few fields": (text_file("narrow.csv", lines(HEADER_LINE, GOOD[0], f"2,{LEAK_NAME},{LEAK_ID}", GOOD[2])), Reads(3, flagged=(2,))),
    "quoted cells and a ragged row": (text_file("quoted_ragged.csv", lines(HEADER_LINE, GOOD[0].replace("长春市朝阳区幸福路88号", '"长春市,朝阳区幸福路88号"'), f'2,"{LEAK_NAME}"', GOOD[2])), Reads(3, flagged=(2,))),
    "trailing empty fields": (text_file("trail.csv", lines(HEADER_LINE + ",,", GOOD[0], GOOD[1] + ",,,,", GOOD[2])), Reads(3, flagged=(2,))),
    "separator after every data row": (text_file("trail_all.csv", lines(HEADER_LINE, *[g + "," for g in GOOD])), Reads(3)),
    "blank trailing header cells": (text_file("trail_head.csv", lines(HEADER_LINE + ",,", *GOOD)), Reads(3)),
    "shifted row with empty tail": (text_file("shift.csv", lines(HEADER_LINE, GOOD[0], "2,李淑芬,长春市,朝阳区,x,城市低保,在保,,", GOOD[2])), Reads(3, flagged=(2,))),
    "unterminated quote": (text_file("quote.csv", lines(HEADER_LINE, GOOD[0], f'2,"{LEAK_NAME},{LEAK_ID},城市低保,在保,,', *GOOD[1:], *GOOD)), Fails("never closed", row=2)),
    "unterminated quote in last column": (text_file("quote_end.csv", lines(HEADER_LINE, OPEN_LAST, *GOOD[1:], *GOOD)), Fails("never closed", row=1)),
    "quote after unquoted text": (text_file("quote_late.csv", lines(HEADER_LINE, GOOD[0] + '"', *GOOD[1:])), Reads(3)),
    "stray quote inside a cell": (text_file("stray.csv", lines(HEADER_LINE, GOOD[0].replace(LEAK_NAME, '泄"露测试'), *GOOD[1:])), Reads(3)),
    "repeated header": (text_file("twice.csv", lines(HEADER_LINE, *GOOD, HEADER_LINE, *GOOD)), Reads(7, flagged=(4,))),
    "IDs as floats": (text_file("floats.csv", FLOAT_IDS), Reads(2)),
    "dates from the year 3000": (text_file("future.csv", lines(HEADER_LINE + ",纳入日期", *[g + ",3000-01-01" for g in GOOD])), Reads(3)),
    "every field blank in the middle": (text_file("holes.csv", lines(HEADER_LINE, GOOD[0], ",,,,,,", ",,,,,,", GOOD[1])), Reads(4)),
    "directory": (directory, Fails("folder")),
    "missing file": (lambda tmp: tmp / "nowhere.csv", Fails("does not exist")),
    "latin-1 text": (text_file("latin.csv", lines("xm,sfzh,jzlb,状态".replace("状态", "zt"), "Jos\xe9 M\xfcller \xff,x,y,z"), "latin-1"), Fails("neither UTF-8 nor GB18030")),
    "big5 text": (bytes_file("big5.csv", BIG5_HEADERS), Fails("no recognisable")),
    "utf-8 with a damaged byte": (bytes_file("damaged.csv", lines(HEADER_LINE, *GOOD).encode().replace("李".encode(), b"\xe6\x9d", 1)), Reads(3, flagged=(2,))),
    "utf-16 unicode text": (text_file("unicode.txt", csv_text(HEADERS, ROWS, delimiter="\t", line_end="\r\n"), "utf-16"), Reads(3)),
    "utf-16 without BOM": (text_file("unicode_nobom.txt", csv_text(["xm", "sfzh", "jzlb", "状态"], [["Li", LEAK_ID, "x", "y"]] * 40, "\t"), "utf-16-le"), Reads(40)),
    "semicolon separated": (text_file("semi.csv", csv_text(HEADERS, ROWS, delimiter=";")), Reads(3)),
    "tab separated": (text_file("tab.csv", csv_text(HEADERS, ROWS, delimiter="\t")), Reads(3)),
    "xlsx with float IDs": (bytes_file("float_ids.xlsx", xlsx_bytes({"Sheet1": [HEADERS, *[[*r[:2], float(r[2]), *r[3:]] for r in ROWS]]})), Reads(3)),
    "xlsx header only": (bytes_file("head.xlsx", xlsx_bytes({"Sheet1": [HEADERS]})), Fails("no data rows")),
    "xlsx empty sheet": (bytes_file("blank.xlsx", xlsx_bytes({"Sheet1": []})), Fails("no recognisable")),
    "truncated parquet": (truncated_parquet, Fails("Parquet")),
    "parquet without ID column": (parquet_without_id, Fails("missing required column")),
    "parquet with nested column": (parquet_with_nested_column, Fails("cannot be read as text")),
}

SHEETS = {"wrong sheet name": "名册"}


def read_or_error(path: Path, sheet: str | None) -> tuple[object, InputError | None]:
    try:
        return read_roster(path, roster_schema("civil"), sheet=sheet), None
    except InputError as error:
        return None, error


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(tmp_path, case):
    build, expected = CASES[case]
    path = build(tmp_path)
    raw, error = read_or_error(path, SHEETS.get(case))
    if isinstance(expected, Fails):
        assert error is not None, f"{case}: read {raw.rows_read} rows instead of failing"
        message = str(error)
        assert path.name in message
        assert expected.says in message
        assert expected.row is ANY_ROW or error.row == expected.row
        assert "\n" not in message and error.fix
        assert not [mark for mark in TRACEBACK_MARKS if mark in message], message
        assert not [value for value in PLANTED_VALUES if value in message], message
        return
    assert error is None, f"{case}: {error}"
    assert raw.rows_read == expected.rows
    assert raw.trailing_blank_rows == expected.trailing
    flagged = raw.frame.loc[raw.frame[READ_PROBLEM] != "", "civil_row"].tolist()
    assert tuple(flagged) == expected.flagged
    problems = " ".join(raw.frame[READ_PROBLEM])
    assert not [value for value in PLANTED_VALUES if value in problems]
    standard = standardise_roster(raw)
    used, rejected = standard.records["civil_row"].tolist(), standard.rejects["row"].tolist()
    assert sorted(used + rejected) == list(range(1, raw.rows_read + 1))
    assert set(flagged) <= set(rejected)
    assert (standard.rejects["reason"].str.len() > 0).all()


def test_corpus_is_large_enough():
    assert len(CASES) >= 30


def test_ragged_rows_are_rejected_with_the_reason(tmp_path):
    path = text_file("narrow.csv", lines(HEADER_LINE, GOOD[0], f"2,{LEAK_NAME},{LEAK_ID}", GOOD[2]))(tmp_path)
    standard = standardise_roster(read_roster(path, roster_schema("civil")))
    reason = standard.rejects.set_index("row").loc[2, "reason"]
    assert "3 fields but the header has 7" in reason


def test_float_ids_are_marked_truncated(tmp_path):
    standard = standardise_roster(read_roster(text_file("floats.csv", FLOAT_IDS)(tmp_path), roster_schema("civil")))
    status = dict(zip(standard.records["civil_row"], standard.records["id_status"]))
    assert status == {1: "truncated", 2: "valid"}


def test_huge_cell_is_cut_before_standardising(tmp_path):
    path = text_file("long_cell.csv", lines(HEADER_LINE, GOOD[0], f"2,{'长' * 5000},{LEAK_ID},城市低保,在保,,"))(tmp_path)
    raw = read_roster(path, roster_schema("civil"))
    assert raw.frame["name"].str.len().tolist() == [4, 1000]
    assert "more than 1000 characters" in raw.frame.loc[1, READ_PROBLEM]
