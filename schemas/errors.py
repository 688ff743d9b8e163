"""Errors that reach the user as one clear line: which file, which row, what to do."""
from __future__ import annotations


class InputError(Exception):
    """Bad input that stops the run. The message must never carry personal data."""

    def __init__(self, file: str, problem: str, fix: str, row: int | None = None) -> None:
        self.file = file
        self.problem = problem
        self.fix = fix
        self.row = row
        where = f"{file}, row {row}" if row is not None else file
        super().__init__(f"{where}: {problem}. {fix}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str, int | None]]:
        """Rebuilt from its parts when it crosses a process boundary (rosters standardise in child processes)."""
        return (type(self), (self.file, self.problem, self.fix, self.row))
