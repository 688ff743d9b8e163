"""Read roster exports (CSV in UTF-8/BOM/GB18030/UTF-16, XLSX, Parquet) as text, with row numbers.

Every value is read as text: an ID number must never pass through a float. The format is
detected from the file's bytes, not its name; so are the text encoding and the CSV delimiter.
A file that cannot be read stops with one InputError line; a readable file keeps every data
row, and a row that could not be read cleanly carries its reason in READ_PROBLEM.

Row numbers: the header is `header_row` (1-based, in spreadsheet rows); data row n is the
n-th row below it, blank rows in the middle included, so header_row + n is the row Excel shows.
"""
from __future__ import annotations

import csv
import io
import warnings
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import compress, islice
from operator import itemgetter
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from schemas.errors import InputError
from schemas.rosters import RosterSchema, header_key

HEADER_SCAN_ROWS = 10
HEAD_SCAN_CHARS = 1 << 20
EXCEL_SIGNIFICANT_DIGITS = 15
MAX_CELL_CHARS = 1000
MAX_CONTROL_SHARE = 0.05
MAX_NUL_SHARE = 0.01
CONTROL_BYTES = tuple(bytes([b]) for b in (*range(0, 9), *range(14, 32)))
READ_PROBLEM = "read_problem"
DELIMITERS = (",", "\t", ";", "|")
TEXT = pd.StringDtype("pyarrow")
SAVE_AS = "Open it in Excel and save it as .xlsx or as 'CSV UTF-8'"
OTHER_FORMATS = {
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"Rar!": "a RAR archive",
    b"7z\xbc\xaf\x27\x1c": "a 7-Zip archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "an SQLite database",
    b"{\\rtf": "an RTF document",
}


@dataclass
class RawRoster:
    """A roster as read: canonical text columns plus the 1-based data-row number."""

    kind: str
    path: Path
    frame: pd.DataFrame
    file_format: str
    encoding: str | None
    header_row: int
    header_map: dict[str, str]
    unmapped_headers: list[str] = field(default_factory=list)
    trailing_blank_rows: int = 0

    @property
    def rows_read(self) -> int:
        return len(self.frame)


@dataclass
class _Sheet:
    """What a format reader hands back: mapped text columns and per-row problems."""

    columns: dict[str, pd.Series]
    problems: np.ndarray
    header_at: int
    originals: dict[str, str]
    unmapped: list[str]
    trailing: int = 0
    encoding: str | None = None


def detect_format(path: Path, head: bytes) -> str:
    """'csv', 'xlsx' or 'parquet' from the leading bytes; other formats stop with a clear line."""
    if not head:
        raise InputError(path.name, "the file is empty", "Export the roster again; the file has no content")
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04"):
        return _zip_format(path)
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        if "EncryptedPackage".encode("utf-16-le") in path.read_bytes()[:1 << 20]:
            raise InputError(path.name, "the workbook is protected by a password",
                             "Open it in Excel, remove the password (File > Info > Protect Workbook) and save it as .xlsx")
        raise InputError(path.name, "the file is an old Excel 97-2003 workbook (.xls)", SAVE_AS)
    for magic, what in OTHER_FORMATS.items():
        if head.startswith(magic):
            raise InputError(path.name, f"the file is {what}, not a roster table",
                             "Export the roster from its system as .xlsx, CSV or Parquet")
    return "csv"


def _zip_format(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            mimetype = archive.read("mimetype")[:100] if "mimetype" in names else b""
    except (zipfile.BadZipFile, OSError, EOFError):
        raise InputError(path.name, "the file looks like an Excel workbook but is damaged or truncated",
                         "Copy or export the file again; if Excel can open it, save it again as .xlsx") from None
    if "xl/workbook.bin" in names:
        raise InputError(path.name, "the file is a binary Excel workbook (.xlsb)", SAVE_AS)
    if "xl/workbook.xml" in names:
        return "xlsx"
    if b"opendocument.spreadsheet" in mimetype:
        raise InputError(path.name, "the file is an OpenDocument spreadsheet (.ods)", SAVE_AS)
    raise InputError(path.name, "the file is a ZIP archive, not an Excel workbook",
                     "Extract the roster from the archive, or save it from Excel as .xlsx or CSV")


def decode_text(path: Path, data: bytes) -> tuple[str, str]:
    """UTF-16/32 by BOM, else UTF-8 (with or without BOM), else GB18030 (a superset of GBK/GB2312)."""
    for bom, encoding in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                          (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return _decode_strict(path, data[len(bom):], encoding), encoding
    sample = data[:4096]
    if len(sample) >= 64 and sample[1::2].count(0) > 0.9 * (len(sample) // 2) and sample[::2].count(0) == 0:
        return _decode_strict(path, data, "utf-16-le"), "utf-16-le"
    controls, nuls = sum(map(sample.count, CONTROL_BYTES)), data.count(0)
    if (controls >= 16 and controls > MAX_CONTROL_SHARE * len(sample)) or (nuls >= 8 and nuls > MAX_NUL_SHARE * len(data)):
        raise InputError(path.name, "the file is binary, not a text CSV (it is full of control bytes)",
                         "Export the roster again as .xlsx, CSV or Parquet")
    encoding, body = ("utf-8-sig", data[3:]) if data.startswith(b"\xef\xbb\xbf") else ("utf-8", data)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text, encoding = data.decode("gb18030"), "gb18030"
        except UnicodeDecodeError as exc:
            replaced = body.decode("utf-8", errors="replace")
            if replaced.count("\ufffd") <= max(1, len(data) // 10_000):
                return replaced.replace("\ufeff", ""), "utf-8+replaced"
            line = data[: exc.start].count(b"\n") + 1
            raise InputError(path.name, f"the text is neither UTF-8 nor GB18030 ({_guess_encoding(data)}; "
                             f"undecodable bytes on line {line})",
                             "Open it in Excel and save it as 'CSV UTF-8', then run again") from None
    if "\ufeff" in text:
        text = text.replace("\ufeff", "")
        encoding += "+stray-bom"
    return text, encoding


def _decode_strict(path: Path, data: bytes, encoding: str) -> str:
    try:
        return data.decode(encoding).replace("\ufeff", "")
    except UnicodeDecodeError as exc:
        raise InputError(path.name, f"the {encoding.upper()} text is damaged near byte {exc.start}",
                         "Export the roster again, preferably as 'CSV UTF-8' or .xlsx") from None


def _guess_encoding(data: bytes) -> str:
    """A hint for the message only: which encoding the bytes most look like."""
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:65536]).best()
    except Exception:  # the hint is optional; never let it hide the real problem
        best = None
    return f"it looks like {best.encoding}" if best is not None else "its encoding is unknown"


def _number_text(value: float | int) -> str:
    """A number as Excel shows it: 15 significant digits, so a float ID shows its lost tail."""
    if isinstance(value, int):
        return str(value)
    if value != value:
        return ""
    if value in (float("inf"), float("-inf")):
        return "#NUM!"
    if value.is_integer():
        whole = int(value)
        if len(str(abs(whole))) <= EXCEL_SIGNIFICANT_DIGITS:
            return str(whole)
        mantissa, exponent = f"{value:.{EXCEL_SIGNIFICANT_DIGITS - 1}E}".split("E")
        return f"{mantissa.rstrip('0').rstrip('.')}E{exponent}"
    return format(value, f".{EXCEL_SIGNIFICANT_DIGITS}g")


def _cell_text(value: object) -> str:
    """Text of a spreadsheet cell as Excel would show it.

    Any numeric cell went through a double in Excel and keeps 15 significant digits
    ("2.20102199001011E+17"), even where the file happens to store all the digits: a
    workbook re-saved by Excel would not, so the tail of a numeric ID is never trusted.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return _number_text(float(value) if isinstance(value, int) else value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    return str(value)


def _header_hits(rows: list[list[str]], schema: RosterSchema) -> tuple[int, int]:
    """(index, hits) of the first of the leading rows that names the most known fields."""
    index = schema.alias_index()
    best, best_hits = -1, 0
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        hits = len({index[k] for k in map(header_key, row) if k in index})
        if hits > best_hits:
            best, best_hits = i, hits
    return best, best_hits


def _no_header(path: Path, schema: RosterSchema, why: str = "") -> InputError:
    example = "/".join(schema.required[0].aliases[:3]) if schema.required else ""
    return InputError(path.name, f"no recognisable {schema.title} header in the first {HEADER_SCAN_ROWS} rows{why}",
                      f"Check that this is the {schema.kind} roster and that a row holds the column headers, e.g. {example}")


def _map_headers(path: Path, headers: list[str], schema: RosterSchema) -> tuple[dict[str, int], dict[str, str], list[str]]:
    index = schema.alias_index()
    positions: dict[str, int] = {}
    originals: dict[str, str] = {}
    unmapped: list[str] = []
    for pos, header in enumerate(headers):
        name = index.get(header_key(header))
        if name is None:
            if header_key(header):
                unmapped.append(str(header))
            continue
        if name in positions:
            raise InputError(
                path.name,
                f"columns {positions[name] + 1} '{originals[name]}' and {pos + 1} '{header}' both mean the field '{name}'",
                "Delete or rename one of them so that each field appears once",
            )
        positions[name] = pos
        originals[name] = str(header).strip()
    missing = [spec for spec in schema.required if spec.name not in positions]
    if missing:
        detail = "; ".join(f"'{spec.name}' (accepted headers: {' / '.join(spec.aliases)})" for spec in missing)
        raise InputError(path.name, f"missing required column {detail}",
                         "Rename the column to one of the accepted headers, or add the spelling to schemas/rosters.yaml")
    return positions, originals, unmapped


def _add_problem(problems: np.ndarray, mask: np.ndarray, text: str) -> None:
    """Append a reason to the rows in mask (several problems of one row are joined by '; ')."""
    if not mask.any():
        return
    current = problems[mask]
    problems[mask] = np.where(current == "", text, current + "; " + text)


def _text_series(values: pa.Array | pa.ChunkedArray | list) -> pd.Series:
    return pd.Series(pd.array(values, dtype=TEXT)).fillna("")


def _diagnose_text(path: Path, text: str, encoding: str, schema: RosterSchema) -> InputError:
    """Say what the text is when it holds no roster header."""
    head = text[:4096]
    start = head.lstrip()[:200].lower()
    controls = sum(head.count(c) for c in map(chr, (*range(0, 9), 11, 12, *range(14, 32))))
    if head and controls > 0.05 * len(head):
        return InputError(path.name, "the file is binary, not a text CSV",
                          "Export the roster again as .xlsx, CSV or Parquet")
    if start.startswith(("<!doctype html", "<html")) or "<table" in head.lower():
        return InputError(path.name, "the file is a web page (HTML), not a workbook or CSV, whatever its name says",
                          SAVE_AS + " (Save As, not rename)")
    if start.startswith("<?xml") or start.startswith("<"):
        what = "an Excel 2003 XML spreadsheet" if "office:spreadsheet" in head else "an XML document"
        return InputError(path.name, f"the file is {what}, not a roster table", SAVE_AS)
    if start.startswith(("{", "[")):
        return InputError(path.name, "the file holds JSON, not a roster table",
                          "Export the roster as .xlsx, CSV or Parquet")
    why = ""
    if encoding.startswith("gb18030"):
        why = f" (the text was read as GB18030; {_guess_encoding(text.encode('gb18030', 'replace'))})"
    return _no_header(path, schema, why)


def _sniff(path: Path, text: str, schema: RosterSchema, encoding: str) -> tuple[str, list[str], int, int, int]:
    """Delimiter, header cells, header row index, text offset of the data rows, their usual width."""
    head_end = len(text)
    newline = -1
    for _ in range(HEADER_SCAN_ROWS * 20):
        newline = text.find("\n", newline + 1)
        if newline < 0:
            break
        head_end = newline + 1
    head = text[: min(head_end if newline >= 0 else len(text), HEAD_SCAN_CHARS)]
    best: tuple[int, str, list[list[str]], list[int], int] | None = None
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(head), delimiter=delimiter)
        rows: list[list[str]] = []
        ends: list[int] = []
        try:
            for row in islice(reader, HEADER_SCAN_ROWS):
                rows.append(row)
                ends.append(reader.line_num)
        except csv.Error:
            pass
        at, hits = _header_hits(rows, schema)
        if hits and (best is None or hits > best[0]):
            best = (hits, delimiter, rows, ends, at)
    if best is None:
        raise _diagnose_text(path, text, encoding, schema)
    _, delimiter, rows, ends, at = best
    offset = 0
    for _ in range(ends[at]):
        found = text.find("\n", offset)
        if found < 0:
            offset = len(text)
            break
        offset = found + 1
    widths = [len(row) for row in rows[at + 1:] if any(v.strip() for v in row)]
    typical = max(set(widths), key=widths.count) if widths else len(rows[at])
    return delimiter, rows[at], at, offset, typical


def _split_trailing_blank_lines(body: str, delimiter: str) -> tuple[str, int]:
    """Cut lines holding nothing but separators and spaces off the end (Excel's formatted ranges)."""
    blank = "\n \t" + delimiter
    tail = body[-65536:]  # rstrip on the whole body would copy it (a million rows: a tenth of a second)
    kept = len(tail.rstrip(blank))
    kept = len(body) - len(tail) + kept if kept or len(tail) == len(body) else len(body.rstrip(blank))
    end = body.find("\n", kept)
    if end < 0:
        return body, 0
    tail = body[end + 1:]
    return body[: end + 1], tail.count("\n") + (1 if tail and not tail.endswith("\n") else 0)


def _parse_fast(body: str, delimiter: str, width: int, encoded: memoryview | None = None) -> list[pa.ChunkedArray] | None:
    """All columns via Arrow's parser, or None when a row does not have exactly `width` fields.

    encoded: the body's UTF-8 bytes when the file holds them as they are (see _utf8_body)."""
    names = [f"c{i}" for i in range(width)]
    try:
        table = pacsv.read_csv(
            pa.BufferReader(pa.py_buffer(encoded)) if encoded is not None else io.BytesIO(body.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values='"' in body,
                                             ignore_empty_lines=False, invalid_row_handler=lambda row: "error"),
            convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return [table.column(i) for i in range(width)]


def _parse_regular(body: str, delimiter: str, width: int, named: int, typical: int,
                   encoded: memoryview | None = None) -> list[pa.ChunkedArray] | None:
    """The fast path: every row has the header's width, or the usual width of the data rows when
    that only adds empty trailing fields or leaves out trailing columns without a header."""
    for fields in dict.fromkeys((width, typical)):
        if fields < width and fields < named:
            continue
        columns = _parse_fast(body, delimiter, fields, encoded)
        if columns is None:
            continue
        if fields < width:
            return columns + [pa.chunked_array([pa.nulls(len(columns[0]), pa.string()).fill_null("")])] * (width - fields)
        if all(pc.all(pc.equal(c, "")).as_py() is not False for c in columns[width:]):
            return columns[:width]
    return None


def _shifted_rows(lengths: np.ndarray, filled: np.ndarray, extra_filled: np.ndarray, width: int,
                  named: int) -> np.ndarray:
    """Problems of rows whose field count means their columns may have shifted.

    A row is fine with the header's width, short of trailing columns without a header, or with
    the file's usual width when that only adds empty trailing fields; any other width means an
    unquoted separator inside a cell or a lost field. Blank rows are left to the standardiser.
    """
    problems = np.full(len(lengths), "", dtype=object)
    if not len(lengths):
        return problems
    usual = int(np.bincount(lengths).argmax())
    fits = (lengths == width) | ((lengths >= named) & (lengths <= width)) | ((lengths == usual) & (usual > width))
    shifted = filled & (extra_filled | ~fits)
    for count in np.unique(lengths[shifted]):
        problems[shifted & (lengths == count)] = (f"row has {count} fields but the header has {width}: "
                                                  "the columns are shifted; fix the row's separators or quotes")
    return problems


def _not_blank(column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return pc.not_equal(pc.utf8_trim_whitespace(column), "").to_numpy(zero_copy_only=False).astype(bool)


def _parse_unquoted_ragged(body: str, delimiter: str, width: int) -> tuple[list[pa.Array], np.ndarray, np.ndarray, np.ndarray] | None:
    """Rows of any length when no cell is quoted: lines are rows, so group them by field count
    and let Arrow parse each group; no Python loop per row."""
    lines = body.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    n = len(lines)
    lengths = pc.count_substring(pa.array(lines, pa.string()), delimiter).to_numpy(zero_copy_only=False) + 1
    filled, extra_filled = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    order, chunks = [], [[] for _ in range(width)]
    for count in np.unique(lengths):
        mask = lengths == count
        idx = np.flatnonzero(mask)
        group = _parse_fast("\n".join(compress(lines, mask)) + "\n", delimiter, int(count))
        if group is None or len(group[0]) != len(idx):
            return None
        for column in group:
            filled[idx] |= _not_blank(column)
        for column in group[width:]:
            extra_filled[idx] |= _not_blank(column)
        order.append(idx)
        for pos in range(width):
            chunks[pos].extend(group[pos].chunks if pos < count else [pa.repeat(pa.scalar("", pa.string()), len(idx))])
    inverse = np.empty(n, dtype=np.int64)
    inverse[np.concatenate(order)] = np.arange(n)
    positions = pa.array(inverse)
    columns = [pc.take(pa.chunked_array(chunks[pos], pa.string()), positions) for pos in range(width)]
    return columns, lengths, filled, extra_filled


def _parse_csv_module(body: str, delimiter: str, width: int) -> tuple[list[pa.Array], np.ndarray, np.ndarray, np.ndarray]:
    """Rows of any length with quoted cells: the csv module splits them, Arrow does the rest."""
    rows = list(csv.reader(io.StringIO(body), delimiter=delimiter))
    lengths = np.fromiter(map(len, rows), dtype=np.int64, count=len(rows))
    for i in np.flatnonzero(lengths < width):
        rows[i] = rows[i] + [""] * (width - len(rows[i]))
    widest = int(lengths.max()) if len(rows) else width
    all_columns = [pa.array(list(map(itemgetter(p), rows)), pa.string()) if p < width else
                   pa.array([r[p] if len(r) > p else "" for r in (rows[i] for i in np.flatnonzero(lengths > p))], pa.string())
                   for p in range(widest)]
    filled = np.zeros(len(rows), dtype=bool)
    for column in all_columns[:width]:
        filled |= _not_blank(column)
    extra_filled = np.zeros(len(rows), dtype=bool)
    for p, column in enumerate(all_columns[width:], start=width):
        extra_filled[np.flatnonzero(lengths > p)] |= _not_blank(column)
    filled |= extra_filled
    return all_columns[:width], lengths, filled, extra_filled


def _check_unclosed_quote(path: Path, columns: list, delimiter: str, width: int) -> None:
    """A cell running over several lines that look like rows of their own: a quote never closed."""
    escaped = "\\" + delimiter if delimiter in "|;," else delimiter
    needed = max(1, (width - 1) // 2)
    pattern = "\n[^\n]*" + f"(?:{escaped}[^\n]*){{{needed}}}"
    for column in columns:
        hit = pc.match_substring_regex(column, pattern)
        if pc.any(hit).as_py():
            row = int(np.flatnonzero(np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool))[0]) + 1
            raise InputError(path.name, "a quote mark in this row is never closed, so the lines after it run into "
                             "one cell", 'Remove the stray quote mark (") or close it, then run again', row=row)


def _one_newline(text: str) -> str:
    """CRLF and a bare CR (old Mac) become LF, so mixed line endings split rows alike."""
    return text.replace("\r\n", "\n").replace("\r", "\n") if "\r" in text else text


def _utf8_body(data: bytes, text: str, encoding: str, start: int, end: int) -> memoryview | None:
    """The bytes of text[start:end] within the file, when text is the file's UTF-8 decoded unchanged.

    Arrow parses bytes: taken from the file, a million-row body is not encoded again (0.3 s).
    """
    if encoding not in ("utf-8", "utf-8-sig"):
        return None
    first = (3 if encoding == "utf-8-sig" else 0) + len(text[:start].encode("utf-8"))
    return memoryview(data)[first:len(data) - len(text[end:].encode("utf-8"))]


def _read_csv(path: Path, data: bytes, schema: RosterSchema) -> _Sheet:
    text, encoding = decode_text(path, data)
    decoded = text
    text = _one_newline(text)
    if not text or text.isspace():  # as not text.strip(), without copying the text
        raise InputError(path.name, "the file holds only blank lines", "Export the roster again")
    try:
        delimiter, headers, header_at, offset, typical = _sniff(path, text, schema, encoding)
    except InputError as first:
        if encoding != "gb18030":
            raise
        # UTF-8 with a few damaged bytes also decodes as GB18030, but into nonsense headers.
        text, encoding = _one_newline(data.decode("utf-8", errors="replace").replace("\ufeff", "")), "utf-8+replaced"
        try:
            delimiter, headers, header_at, offset, typical = _sniff(path, text, schema, encoding)
        except InputError:
            raise first from None
    positions, originals, unmapped = _map_headers(path, headers, schema)
    body, trailing = _split_trailing_blank_lines(text[offset:], delimiter)
    width = len(headers)
    named = max((i + 1 for i, h in enumerate(headers) if header_key(h)), default=width)
    quoted = '"' in body
    encoded = _utf8_body(data, text, encoding, offset, offset + len(body)) if text is decoded else None
    columns = _parse_regular(body, delimiter, width, named, typical, encoded) if body else [pa.array([], pa.string())] * width
    if columns is not None:
        problems = np.full(len(columns[0]), "", dtype=object)
    else:
        parsed = None if quoted else _parse_unquoted_ragged(body, delimiter, width)
        if parsed is None:
            previous_limit = csv.field_size_limit(1 << 30)
            try:
                parsed = _parse_csv_module(body, delimiter, width)
            finally:
                csv.field_size_limit(previous_limit)
        columns, lengths, filled, extra_filled = parsed
        problems = _shifted_rows(lengths, filled, extra_filled, width, named)
    lines = body.count("\n") + (1 if body and not body.endswith("\n") else 0)
    if quoted and len(columns[0]) < lines:
        _check_unclosed_quote(path, columns, delimiter, width)
    mapped = {name: _text_series(columns[pos]) for name, pos in positions.items()}
    if encoding.endswith("+replaced"):
        for series in mapped.values():
            _add_problem(problems, series.str.contains("\ufffd", regex=False).to_numpy(dtype=bool),
                         "the row holds bytes that are not valid UTF-8 text: fix them, or save the file as 'CSV UTF-8' again")
    return _Sheet(mapped, problems, header_at, originals, unmapped, trailing, encoding)


def _pick_sheet(path: Path, book, sheet: str | None):
    if not book.worksheets:
        raise InputError(path.name, "the workbook has no worksheet", SAVE_AS)
    if sheet is None:
        return book.worksheets[0]
    if sheet in book.sheetnames:
        return book[sheet]
    loose = [name for name in book.sheetnames if header_key(name) == header_key(sheet)]
    if len(loose) == 1:
        return book[loose[0]]
    raise InputError(path.name, f"there is no sheet named '{sheet}' (sheets: {', '.join(book.sheetnames)})",
                     "Name one of the listed sheets, or name none to read the first sheet")


def _sheet_head(ws) -> list[list[str]]:
    ws.reset_dimensions()
    return [[_cell_text(v) for v in row] for row in islice(ws.iter_rows(values_only=True), HEADER_SCAN_ROWS)]


def _read_xlsx(path: Path, schema: RosterSchema, sheet: str | None) -> _Sheet:
    import openpyxl

    # A file object, not the path: openpyxl would refuse a workbook whose name does not end in .xlsx.
    with warnings.catch_warnings(), path.open("rb") as handle:
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(handle, read_only=True, data_only=True)
        except Exception:  # openpyxl raises many kinds on damaged workbooks
            raise InputError(path.name, "the workbook cannot be opened: it is damaged or not a real .xlsx",
                             "Open it in Excel and save it again as .xlsx, or export as CSV") from None
        try:
            return _read_worksheet(path, book, _pick_sheet(path, book, sheet), schema)
        finally:
            book.close()


def _read_worksheet(path: Path, book, ws, schema: RosterSchema) -> _Sheet:
    done = 0
    try:
        ws.reset_dimensions()
        rows_iter = ws.iter_rows(values_only=True)
        head = list(islice(rows_iter, HEADER_SCAN_ROWS))
        head_text = [[_cell_text(v) for v in r] for r in head]
        header_at, hits = _header_hits(head_text, schema)
        if not hits:
            raise _no_header_in_sheet(path, book, ws, schema)
        headers = head_text[header_at]
        positions, originals, unmapped = _map_headers(path, headers, schema)
        rows = head[header_at + 1:]
        done = len(rows)
        for row in rows_iter:
            rows.append(row)
            done += 1
    except InputError:
        raise
    except Exception:  # damaged XML, impossible dates … openpyxl raises many kinds
        where = f"past data row {done}" if done else "up to its header"
        raise InputError(path.name, f"sheet '{ws.title}' is damaged: it could not be read {where}",
                         "Open it in Excel and save it again as .xlsx, or export as CSV",
                         row=done + 1 if done else None) from None
    columns = {}
    for name, pos in positions.items():
        cells = [r[pos] if pos < len(r) else None for r in rows]
        columns[name] = _text_series([v if type(v) is str else _cell_text(v) for v in cells])
    return _Sheet(columns, np.full(len(rows), "", dtype=object), header_at, originals, unmapped)


def _no_header_in_sheet(path: Path, book, ws, schema: RosterSchema) -> InputError:
    for other in book.worksheets:
        if other.title != ws.title and _header_hits(_sheet_head(other), schema)[1]:
            return InputError(path.name, f"sheet '{ws.title}' has no recognisable {schema.title} header, "
                              f"but sheet '{other.title}' has one", f"Choose the sheet '{other.title}'")
    return _no_header(path, schema, f" of sheet '{ws.title}'")


def _arrow_text(path: Path, column: pa.ChunkedArray, header: str) -> pa.ChunkedArray | list[str]:
    """A Parquet column as text; floats as Excel would show them, so float IDs show their lost tail."""
    kind = column.type
    if pa.types.is_floating(kind):
        values = pd.Series(column.to_numpy(zero_copy_only=False))
        uniques = values.dropna().unique()
        return values.map(dict(zip(uniques, map(_number_text, uniques.tolist())))).fillna("").tolist()
    if pa.types.is_timestamp(kind) or pa.types.is_date64(kind):
        text = pc.strftime(pc.cast(column, pa.timestamp("s"), safe=False), format="%Y-%m-%d %H:%M:%S")
        return pc.replace_substring_regex(text, r" 00:00:00$", "")
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
    try:
        return column.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise InputError(path.name, f"column '{header}' holds {kind} values, which cannot be read as text",
                         "Write that column as text, or export the roster as CSV") from None


def _read_parquet(path: Path, schema: RosterSchema) -> _Sheet:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception:  # pyarrow raises several kinds on damaged files
        raise InputError(path.name, "the Parquet file is damaged or truncated and cannot be read",
                         "Write the file again, or export the roster as CSV") from None
    headers = list(table.column_names)
    positions, originals, unmapped = _map_headers(path, headers, schema)
    columns = {name: _text_series(_arrow_text(path, table.column(pos), headers[pos])) for name, pos in positions.items()}
    return _Sheet(columns, np.full(table.num_rows, "", dtype=object), 0, originals, unmapped)


def arrow_strings(series: pd.Series) -> pa.ChunkedArray | None:
    """The Arrow strings behind a text column as the readers make it (TEXT), no copy; None for any other column."""
    if isinstance(series.dtype, pd.StringDtype) and series.dtype.storage == "pyarrow":
        values = pa.array(series.array)
        return values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    return None


def _may_hold_nul(series: pd.Series) -> bool:
    """False only when no cell can hold a NUL: the column's character bytes have no zero byte."""
    values = arrow_strings(series)
    if values is None:
        return True
    return any(chunk.buffers()[2] is not None and not np.all(np.frombuffer(chunk.buffers()[2], np.uint8))
               for chunk in values.chunks)


def _may_be_long(series: pd.Series) -> bool:
    """False only when no cell can exceed MAX_CELL_CHARS: none has that many bytes (a character is one or more)."""
    values = arrow_strings(series)
    return values is None or (pc.max(pc.binary_length(values)).as_py() or 0) > MAX_CELL_CHARS


MAX_HEADER_HITS = 4096  # past this many occurrences, Arrow searches the column cell by cell


def _rows_containing(values: pa.ChunkedArray, text: str) -> np.ndarray | None:
    """Rows whose cell may contain text (a superset), found by searching each chunk's bytes at once.

    None when the text occurs too often for that to pay off."""
    needle, rows, first_row = text.encode("utf-8"), [], 0
    for chunk in values.chunks:
        validity, offsets, data = chunk.buffers()
        if data is not None and len(chunk):
            wide = pa.types.is_large_string(chunk.type)
            bounds = np.frombuffer(offsets, np.int64 if wide else np.int32)[chunk.offset:chunk.offset + len(chunk) + 1]
            hay = data.slice(0, int(bounds[-1])).to_pybytes()
            found, at = [], hay.find(needle, int(bounds[0]))
            while at >= 0:
                if len(found) == MAX_HEADER_HITS:
                    return None
                found.append(at)
                at = hay.find(needle, at + 1)
            if found:
                rows.append(first_row + np.searchsorted(bounds, np.array(found), side="right") - 1)
        first_row += len(chunk)
    return np.unique(np.concatenate(rows)) if rows else np.zeros(0, dtype=np.int64)


def _equals_header(series: pd.Series, header: str) -> np.ndarray:
    """Cells that are the header text once stripped; only cells that contain it are stripped."""
    values = arrow_strings(series)
    rows = _rows_containing(values, header) if values is not None and header else None
    if rows is None:
        return (series.str.strip() == header).to_numpy(dtype=bool)
    out = np.zeros(len(series), dtype=bool)
    if len(rows):
        out[rows] = (series.iloc[rows].str.strip() == header).to_numpy(dtype=bool)
    return out


def _check_cells(sheet: _Sheet) -> None:
    """Flag (and defuse) cells no roster field can hold: NUL characters, huge cells, a repeated header.

    Each check first asks the column's bytes whether any cell can fail it: a clean million-row
    column is then not searched, measured and stripped cell by cell."""
    problems = sheet.problems
    repeated = np.zeros(len(problems), dtype=np.int64)
    for name, series in sheet.columns.items():
        if _may_hold_nul(series):
            nul = series.str.contains("\x00", regex=False).to_numpy(dtype=bool)
            if nul.any():
                _add_problem(problems, nul, "the row holds NUL characters (a damaged export): export it again")
                series = series.str.replace("\x00", "", regex=False)
        if _may_be_long(series):
            long = (series.str.len() > MAX_CELL_CHARS).to_numpy(dtype=bool)
            if long.any():
                _add_problem(problems, long, f"a cell holds more than {MAX_CELL_CHARS} characters, more than any "
                             "roster field: check the row's separators and quotes")
                series = series.where(~long, series.str.slice(0, MAX_CELL_CHARS))
        if sheet.originals.get(name):
            repeated += _equals_header(series, sheet.originals[name])
        sheet.columns[name] = series
    _add_problem(problems, repeated >= min(2, len(sheet.columns)),
                 "the row repeats the header (two exports pasted together?): delete it")


def _strip_trailing_blank(frame: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Rows after the last one with a non-blank cell are cut off and counted; looked for from the end."""
    if frame.empty:
        return frame, 0
    data = frame.drop(columns=[READ_PROBLEM])
    last, end, block = 0, len(frame), 1024
    while end > 0:
        start = max(end - block, 0)
        filled = np.zeros(end - start, dtype=bool)
        for column in data.columns:
            filled |= (data[column].iloc[start:end].str.strip() != "").to_numpy(dtype=bool)
        if filled.any():
            last = start + int(np.flatnonzero(filled).max()) + 1
            break
        end, block = start, block * 4
    return frame.iloc[:last].reset_index(drop=True), len(frame) - last


def read_roster(path: str | Path, schema: RosterSchema, sheet: str | None = None) -> RawRoster:
    """Read one export into canonical text columns; raises InputError with a fix on bad files."""
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "the file does not exist", "Check the path")
    if not path.is_file():
        raise InputError(str(path), "this is a folder, not a file" if path.is_dir() else "this is not a regular file",
                         "Pass the roster file itself")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
        file_format = detect_format(path, head)
        data = path.read_bytes() if file_format == "csv" else b""
    except OSError as exc:
        raise InputError(path.name, f"the file cannot be read ({exc.strerror or 'input/output error'})",
                         "Check the file's permissions and that it is not open elsewhere") from None
    if file_format == "csv":
        raw = _read_csv(path, data, schema)
    elif file_format == "xlsx":
        raw = _read_xlsx(path, schema, sheet)
    else:
        raw = _read_parquet(path, schema)
    _check_cells(raw)
    frame = pd.DataFrame(raw.columns)
    frame[READ_PROBLEM] = pd.array(raw.problems, dtype=TEXT)
    frame, trailing = _strip_trailing_blank(frame)
    if frame.empty:
        raise InputError(path.name, "the file has a header but no data rows",
                         "Check that the export contains the roster's rows")
    for spec in schema.fields:
        if spec.name not in frame.columns:
            frame[spec.name] = pd.array([""] * len(frame), dtype=TEXT)
    frame = frame[[spec.name for spec in schema.fields] + [READ_PROBLEM]]
    frame.insert(0, schema.row_column, np.arange(1, len(frame) + 1, dtype=np.int64))
    return RawRoster(schema.kind, path, frame, file_format, raw.encoding, raw.header_at + 1, raw.originals,
                     raw.unmapped, raw.trailing + trailing)
