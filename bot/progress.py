"""Progress of a long command: a bar on a terminal, a plain line now and then anywhere else.

A bar redrawn with carriage returns turns into one long garbled line in a log file or a CI
job, so when stderr is not a terminal the same updates print as whole lines
("analyze: 1200/5000 articles (24%)") every `every_s` seconds, and once more at the end.

    with progress(total, "analyze", "articles") as bar:
        analyze_pending(..., progress=bar.update)
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, Any

import click

DEFAULT_EVERY_S = 10.0


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


class Progress:
    """Counts work done towards `total`; `update(n)` after each piece."""

    def __init__(
        self,
        total: int,
        label: str,
        unit: str,
        *,
        file: IO[str],
        tty: bool,
        every_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.total, self.label, self.unit = max(total, 0), label, unit
        self.file, self.tty, self.every_s, self.clock = file, tty, every_s, clock
        self.done = 0
        self._bar: Any = None
        self._started = self._last_line = 0.0

    def __enter__(self) -> Progress:
        self._started = self._last_line = self.clock()
        if self.tty:
            self._bar = click.progressbar(length=self.total, label=self.label, file=self.file)
            self._bar.__enter__()
        return self

    def update(self, n: int = 1) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = self.clock()
        if now - self._last_line >= self.every_s:
            self._last_line = now
            self._line()

    def _line(self, suffix: str = "") -> None:
        percent = 100 * self.done // self.total if self.total else 100
        click.echo(
            f"{self.label}: {self.done}/{self.total} {self.unit} ({percent}%){suffix}",
            file=self.file,
        )

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, tb)
            return
        elapsed = _duration(self.clock() - self._started)
        self._line(f" in {elapsed}" if kind is None else f", stopped after {elapsed}")


def progress(
    total: int,
    label: str,
    unit: str = "items",
    *,
    file: IO[str] | None = None,
    every_s: float = DEFAULT_EVERY_S,
    clock: Callable[[], float] = time.monotonic,
) -> Progress:
    """A progress reporter on `file` (stderr by default): a bar when it is a terminal, a line
    every `every_s` seconds and one at the end when it is not."""
    out = file if file is not None else sys.stderr
    isatty = getattr(out, "isatty", None)
    return Progress(
        total,
        label,
        unit,
        file=out,
        tty=bool(isatty and isatty()),
        every_s=every_s,
        clock=clock,
    )
