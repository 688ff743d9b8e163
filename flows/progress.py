"""Stage messages for the terminal. The CLI installs a reporter; under a scheduler nothing is shown.

Kept out of Prefect's logs on purpose: progress goes to the person at the terminal only.
"""
from __future__ import annotations

from typing import Callable

_reporter: Callable[[str], None] | None = None


def set_reporter(reporter: Callable[[str], None] | None) -> None:
    global _reporter
    _reporter = reporter


def report(message: str) -> None:
    if _reporter is not None:
        _reporter(message)
