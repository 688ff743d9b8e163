"""Shared fixtures: small rosters with Chinese headers, written in any supported format."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Callable, Sequence

import pytest

from matchers.ids import id_check_character

# Planted personal values: tests assert that no error message ever carries them.
LEAK_NAME = "泄露测试"
LEAK_ID = "220102199001011234"
PLANTED_VALUES = (LEAK_NAME, LEAK_ID, "13912345678", "幸福路88号")


def make_id(first17: str) -> str:
    """A resident ID number with its correct check character."""
    return first17 + id_check_character(first17)


SAMPLE_ROSTERS: dict[str, tuple[list[str], list[list[str]]]] = {
    "civil": (
        ["序号", "姓名", "身份证号码", "救助类别", "状态", "家庭住址", "联系电话"],
        [
            ["1", LEAK_NAME, LEAK_ID, "城市低保", "在保", "长春市朝阳区幸福路88号", "13912345678"],
            ["2", "李淑芬", make_id("22010219650315002"), "农村低保", "在保", "九台区西营城街道5社", ""],
            ["3", "金光日", make_id("22240119780704003"), "特困供养", "停保", "延吉市河南街道", "0433-2512345"],
        ],
    ),
    "poverty": (
        ["户编号", "姓名", "证件号码", "户类型", "乡（镇）", "行政村"],
        [
            ["H001", LEAK_NAME, LEAK_ID, "脱贫户", "西营城街道", "红光村"],
            ["H002", "王建国", make_id("22018119700101001"), "监测户", "其塔木镇", "前进村"],
        ],
    ),
    "health": (
        ["姓名", "身份证号", "现住址", "报告地区", "病例类型"],
        [
            [LEAK_NAME, LEAK_ID, "长春市朝阳区幸福路88号", "朝阳区", "确诊病例"],
            ["赵敏", make_id("22020219880808002"), "吉林市船营区", "船营区", "无症状感染者"],
        ],
    ),
}


def csv_text(headers: Sequence[str], rows: Sequence[Sequence[str]], delimiter: str = ",",
             line_end: str = "\n", title: str | None = None) -> str:
    """Rows as CSV text the way Excel writes it (quotes only where needed)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter, lineterminator=line_end)
    if title is not None:
        writer.writerow([title])
    writer.writerow(headers)
    writer.writerows(rows)
    return out.getvalue()


def write_xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    """A workbook with the given sheets (first one first); cell values keep their Python type."""
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def write_parquet(path: Path, columns: dict[str, object]) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)
    return path


RosterWriter = Callable[..., Path]


@pytest.fixture
def write_roster(tmp_path: Path) -> RosterWriter:
    """write_roster(kind, fmt='csv', ...) -> path of a small roster (see SAMPLE_ROSTERS).

    fmt: 'csv' (encoding, delimiter, line_end, title), 'xlsx' (sheet, title) or 'parquet'.
    headers/rows replace the sample's; name sets the file name (the format is never taken from it).
    """
    def write(kind: str = "civil", fmt: str = "csv", *, headers: Sequence[str] | None = None,
              rows: Sequence[Sequence[object]] | None = None, name: str | None = None,
              encoding: str = "utf-8", delimiter: str = ",", line_end: str = "\n",
              title: str | None = None, sheet: str = "Sheet1") -> Path:
        sample_headers, sample_rows = SAMPLE_ROSTERS[kind]
        headers = list(headers if headers is not None else sample_headers)
        rows = [list(r) for r in (rows if rows is not None else sample_rows)]
        path = tmp_path / (name or f"{kind}.{fmt}")
        if fmt == "csv":
            text = csv_text(headers, rows, delimiter, line_end, title)
            path.write_bytes(text.encode(encoding))
        elif fmt == "xlsx":
            write_xlsx(path, {sheet: ([[title]] if title else []) + [headers] + rows})
        elif fmt == "parquet":
            write_parquet(path, {h: [r[i] for r in rows] for i, h in enumerate(headers)})
        else:
            raise ValueError(fmt)
        return path

    return write


# Flows under Prefect: one private state home for the whole session, set before Prefect is imported
# (Prefect reads PREFECT_HOME at import), and one test-harness API started only when a test needs it.
import contextlib  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402

# Test modules import this file again as tests.conftest: the second import must find the same folder.
FLOW_SESSION_DIR = Path(os.environ.get("RELIEFMATCH_TEST_DIR")
                        or Path(tempfile.gettempdir()) / f"reliefmatch-tests-{os.getpid()}-{os.urandom(4).hex()}")
os.environ["RELIEFMATCH_TEST_DIR"] = str(FLOW_SESSION_DIR)
os.environ["RELIEFMATCH_HOME"] = str(FLOW_SESSION_DIR / "home")
os.environ["PREFECT_HOME"] = str(FLOW_SESSION_DIR / "home" / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_LOGGING_LEVEL"] = "INFO"  # more reaches Prefect's log table than in production: a stricter leak scan
os.environ.pop("PREFECT_API_URL", None)
os.environ.pop("RELIEFMATCH_PERSON_KEY", None)


@pytest.fixture(scope="session", autouse=True)
def _remove_flow_session_dir():
    """The session folder holds synthetic personal data: gone when the session ends."""
    import shutil

    yield
    shutil.rmtree(FLOW_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def small_rosters() -> dict[str, Path]:
    """Generated civil/poverty/health rosters (300 civil rows) written as offices export them."""
    from data.generate import generate_rosters, write_rosters

    rosters = generate_rosters(seed=5, n_civil=300, junk_rate=0.02)
    paths = write_rosters(rosters, FLOW_SESSION_DIR / "rosters", format="sample")
    paths["people"] = FLOW_SESSION_DIR / "rosters" / "people.parquet"
    rosters.people.to_parquet(paths["people"], index=False)
    return paths


@pytest.fixture(scope="session")
def prefect_api() -> str:
    """Prefect's test harness (a temporary API and database) for the session; yields the API URL."""
    import flows.settings  # noqa: F401
    import prefect.main  # noqa: F401  (configures Prefect's logging now, on the session's stderr, not a test's)
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield PREFECT_API_URL.value()


class _Recorder(logging.Handler):
    """Every log record, formatted with its traceback, whatever handler would have shown it."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@contextlib.contextmanager
def capture_everything(into: list[str]):
    """Log records (all loggers) plus what reaches stdout/stderr, as file descriptors and as sys streams."""
    import io

    recorder = _Recorder()
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in ("prefect", "prefect.extra", "prefect._internal"))]
    for logger in loggers:
        logger.addHandler(recorder)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    sink = tempfile.TemporaryFile()
    streams = io.StringIO()
    try:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        with contextlib.redirect_stdout(streams), contextlib.redirect_stderr(streams):
            yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        os.close(saved[0])
        os.close(saved[1])
        for logger in loggers:
            logger.removeHandler(recorder)
        sink.seek(0)
        into.extend([sink.read().decode("utf-8", "replace"), streams.getvalue(), "\n".join(recorder.lines)])
        sink.close()


@dataclass
class FlowRuns:
    """Both flows run twice on the same inputs: out[name] is the output folder of each run."""

    out: dict[str, Path]
    summaries: dict[str, dict]
    output_text: list[str] = field(default_factory=list)


@pytest.fixture(scope="session")
def flow_runs(prefect_api: str, small_rosters: dict[str, Path]) -> FlowRuns:
    """crosscheck (with the infection list) and health matching, each run twice; the first run is cold."""
    from flows.jobs import crosscheck_flow, health_match_flow

    base = FLOW_SESSION_DIR / "runs"
    files = {k: str(small_rosters[k]) for k in ("civil", "poverty", "health")}
    runs = FlowRuns(out={}, summaries={})
    with capture_everything(runs.output_text):
        for attempt in ("first", "second"):
            for name, flow_fn, extra in (("crosscheck", crosscheck_flow, {"model": None}),
                                         ("health-match", health_match_flow, {})):
                out = base / f"{name}-{attempt}"
                state = flow_fn(**files, out=str(out), period="2026-11", reveal_ids=False, **extra, return_state=True)
                assert state.is_completed(), state.message
                runs.out[f"{name}-{attempt}"] = out
                runs.summaries[f"{name}-{attempt}"] = state.result()
    return runs
