"""Stage messages for the terminal. The CLI installs a reporter; under a scheduler nothing is shown.

Kept out of Prefect's logs on purpose: progress goes to the person at the terminal only.
"""
from __future__ import annotations

import threading
from typing import Any, Callable

_reporter: Callable[[str], None] | None = None


def set_reporter(reporter: Callable[[str], None] | None) -> None:
    global _reporter
    _reporter = reporter


def report(message: str) -> None:
    if _reporter is not None:
        _reporter(message)


def stage_reporter() -> Callable[[str], None]:
    """report bound to the calling thread's lane: for steps whose messages a relay thread passes on
    (a child process's), so they end the caller's stages and stage_done ends their last one."""
    lane = threading.get_ident()

    def in_lane(message: str) -> None:
        if _reporter is not None:
            staged = getattr(_reporter, "stage", None)
            staged(message, lane) if staged else _reporter(message)

    return in_lane


def stage_done() -> None:
    """The calling thread's step has ended: its stage stops its clock now, not at the next message."""
    finish = getattr(_reporter, "finish", None)
    if finish is not None:
        finish(threading.get_ident())


def report_detail(message: str, lane: int | None = None) -> None:
    """A detail of the current stage (a blocking rule's pair count): shown on that stage's line."""
    if _reporter is not None:
        detail = getattr(_reporter, "detail", None)
        detail(message, lane) if detail else _reporter(message)


def detail_reporter() -> Callable[[str], None]:
    """report_detail bound to the calling thread's stage: for callbacks run on other threads (relays)."""
    lane = threading.get_ident()
    return lambda message: report_detail(message, lane)


class StageDisplay:
    """A live list of the run's stages: each thread's current stage spins, finished ones keep their time.

    Concurrent tasks (two rosters ingesting at once) run in their own threads, so a new message
    from a thread finishes that thread's previous stage only.
    """

    def __init__(self, console: Any) -> None:
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self._progress = Progress(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"),
                                  TimeElapsedColumn(), console=console)
        self._shown = console.is_terminal  # piped or scheduled: no display, the summary only
        self._current: dict[int, Any] = {}
        self._opening = -1
        self._lock = threading.Lock()

    def __enter__(self) -> "StageDisplay":
        if self._shown:
            self._progress.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc: object) -> None:
        self.finish_all()
        if kind is not None:
            self.discard()
        if self._shown:
            self._progress.stop()

    def discard(self) -> None:
        """A failed run ends with its one-line message only: the stage list is cleared, not printed."""
        self._progress.live.transient = True

    def __call__(self, message: str) -> None:
        self.stage(message, threading.get_ident())

    def stage(self, message: str, lane: int) -> None:
        """A new stage on lane (a thread), ending that lane's previous one."""
        with self._lock:
            self._finish(lane)
            self._finish(self._opening)  # the first step's message ends the start-up stage, whichever thread sends it
            self._current[lane] = self._progress.add_task(message, total=None)

    def opening(self, message: str) -> None:
        """The stage before any task reports: its line ends when the first task's message arrives."""
        with self._lock:
            self._current[self._opening] = self._progress.add_task(message, total=None)

    def detail(self, message: str, lane: int | None = None) -> None:
        with self._lock:
            task = self._current.get(threading.get_ident() if lane is None else lane)
            if task is not None:
                stage = self._progress.tasks[task].fields.get("stage") or self._progress.tasks[task].description
                self._progress.update(task, description=f"{stage} · {message}", stage=stage)

    def finish(self, lane: int) -> None:
        with self._lock:
            self._finish(lane)

    def _finish(self, lane: int) -> None:
        task = self._current.pop(lane, None)
        if task is not None:
            stage = self._progress.tasks[task].fields.get("stage")
            self._progress.update(task, total=1, completed=1, **({"description": stage} if stage else {}))

    def finish_all(self) -> None:
        with self._lock:
            for lane in list(self._current):
                self._finish(lane)
