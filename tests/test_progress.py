"""The terminal's stage list: one line per stage, per thread; details stay on their stage's line."""
from __future__ import annotations

import io
import threading

from rich.console import Console

from flows.progress import StageDisplay, report, report_detail, set_reporter


def _display(terminal: bool) -> tuple[StageDisplay, io.StringIO]:
    out = io.StringIO()
    return StageDisplay(Console(file=out, force_terminal=terminal, width=100)), out


def test_each_thread_finishes_only_its_own_stage() -> None:
    stages, _ = _display(True)
    with stages:
        stages.opening("starting the flow")
        set_reporter(stages)
        try:
            worker = threading.Thread(target=lambda: report("reading poverty roster"))
            report("reading civil roster")
            worker.start()
            worker.join()
            report_detail("blocking rule id_exact: 10 pairs")
            tasks = {t.description: t.finished for t in stages._progress.tasks}
            assert tasks == {"starting the flow": True, "reading poverty roster": False,
                             "reading civil roster · blocking rule id_exact: 10 pairs": False}
            report("standardising civil roster")
            tasks = {t.description: t.finished for t in stages._progress.tasks}
            assert tasks["reading civil roster"] and not tasks["reading poverty roster"]
        finally:
            set_reporter(None)
    assert all(t.finished for t in stages._progress.tasks)


def test_nothing_is_printed_off_a_terminal() -> None:
    quiet, out = _display(False)
    with quiet:
        quiet("reading civil roster")
    assert out.getvalue() == ""
