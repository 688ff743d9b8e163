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


def test_a_step_ends_its_stage_and_relayed_messages_land_on_its_line() -> None:
    from flows.progress import stage_done, stage_reporter

    stages, _ = _display(True)
    with stages:
        set_reporter(stages)
        try:
            relayed = stage_reporter()  # a child's messages, passed on by a relay thread
            relay = threading.Thread(target=lambda: (relayed("reading civil roster"), relayed("standardising civil roster")))
            relay.start()
            relay.join()
            tasks = {t.description: t.finished for t in stages._progress.tasks}
            assert tasks == {"reading civil roster": True, "standardising civil roster": False}
            stage_done()  # the step that asked for them returns
            assert all(t.finished for t in stages._progress.tasks)
            clock = stages._progress.tasks[-1].finished_time
            report("linking civil × poverty")
            assert stages._progress.tasks[1].finished_time == clock  # not restarted or extended by later stages
        finally:
            set_reporter(None)
