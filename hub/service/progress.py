"""How long work says how far it is (seeding, a rebuild, an import, a catch-up): on a terminal a
bar with its rate and the time left (`rich`); elsewhere, in logs and CI, plain lines, one at each
tenth of the work and at least every `EVERY_SECONDS`, then one when it ends."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from rich.progress import Progress, Task, TaskID
    from rich.text import Text

Say = Callable[[str], None]

EVERY_SECONDS = 5.0
"""The longest a plain-line meter stays silent while work goes on."""
STEPS = 10
"""A plain-line meter also speaks at each of this many equal parts of the work."""


def meter(
    what: str,
    total: int | None,
    *,
    unit: str = "",
    say: Say | None,
    stream: TextIO | None = None,
) -> Meter:
    """A meter of `total` pieces of work (None: not known). With no `say` it is silent; when
    `stream` (default standard output) is a terminal it draws a bar there; otherwise it gives
    its lines to `say`."""
    stream = stream or sys.stdout
    if say is not None and _terminal(stream):
        return _Bar(what, total, unit, stream)
    return Meter(what, total, unit, say)


def _terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


class Meter:
    """Counts one piece of work as it goes (`advance`) and says how far it is in plain lines.
    As a context manager it is finished on the way out, "stopped" if the work raised, so that
    no bar outlives its work."""

    def __init__(self, what: str, total: int | None, unit: str, say: Say | None) -> None:
        self.what, self.total, self.unit, self.say = what, total, unit, say
        self.done = 0
        self.started = self.shown = time.monotonic()
        self._step = 0
        self._seconds: float | None = None

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        self.finish("done" if kind is None else "stopped")

    def advance(self, by: int = 1) -> None:
        self.done += by
        if self.say is None:
            return
        now = time.monotonic()
        step = self._step
        if self.total:
            if self.done >= self.total:
                self.total = self.done  # more came in while it ran; the end has its own line
                return
            step = self.done * STEPS // self.total
        if step > self._step or now - self.shown >= EVERY_SECONDS:
            self._step, self.shown = step, now
            self.say(self._line(now))

    def finish(self, word: str = "done") -> float:
        """Say that the work ended (`word`), how much and how fast, unless it was said already;
        return its seconds."""
        if self._seconds is None:
            self._seconds = time.monotonic() - self.started
            self._said(word, self._seconds)
        return self._seconds

    def _said(self, word: str, seconds: float) -> None:
        if self.say is not None:
            self.say(
                f"{self.what}: {word}, {self.done}{self._unit} in {seconds:.1f} s "
                f"({self.done / max(seconds, 1e-9):.0f}{self._unit}/s)"
            )

    @property
    def _unit(self) -> str:
        return f" {self.unit}" if self.unit else ""

    def _line(self, now: float) -> str:
        rate = self.done / max(now - self.started, 1e-9)
        if not self.total:
            return f"{self.what}: {self.done}{self._unit} so far ({rate:.0f}{self._unit}/s)"
        left = (self.total - self.done) / rate if rate else None
        return (
            f"{self.what}: {self.done}/{self.total}{self._unit} "
            f"({100 * self.done // self.total}%), {rate:.0f}{self._unit}/s, "
            f"{_duration(left)} left"
        )


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "unknown time"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


class _Bar(Meter):
    """A meter drawn as a bar on a terminal; the bars of one process share one display."""

    def __init__(self, what: str, total: int | None, unit: str, stream: TextIO) -> None:
        super().__init__(what, total, unit, None)
        self._task = _BARS.add(stream, what, total, unit)

    def advance(self, by: int = 1) -> None:
        self.done += by
        _BARS.advance(self._task, by, self.done)

    def _said(self, word: str, seconds: float) -> None:
        _BARS.close(self._task, self.done)


class _Display:
    """The `rich` display of every bar open in this process (it allows one at a time), started
    with the first bar and stopped when the last one finishes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._progress: Progress | None = None
        self._open = 0

    def add(self, stream: TextIO, what: str, total: int | None, unit: str) -> TaskID:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with self._lock:
            if self._progress is None:
                self._progress = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TaskProgressColumn(),
                    _rate_column(),
                    TimeElapsedColumn(),
                    TextColumn("elapsed,"),
                    TimeRemainingColumn(),
                    TextColumn("left"),
                    console=Console(file=stream),
                    speed_estimate_period=10,
                )
                self._progress.start()
            self._open += 1
            return self._progress.add_task(what, total=total, unit=unit)

    def advance(self, task: TaskID, by: int, done: int) -> None:
        progress = self._progress
        if progress is None:
            return
        total = next((t.total for t in progress.tasks if t.id == task), None)
        progress.update(task, advance=by, total=max(total, done) if total else None)

    def close(self, task: TaskID, done: int) -> None:
        with self._lock:
            if self._progress is None:
                return
            total = next((t.total for t in self._progress.tasks if t.id == task), None)
            # how far the work got (a stopped bar is not shown full)
            self._progress.update(task, completed=done, total=max(total or done, done))
            self._progress.stop_task(task)
            self._open -= 1
            if self._open == 0:
                self._progress.stop()
                self._progress = None


def _rate_column() -> object:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class Rate(ProgressColumn):
        """The pieces of work done a second, in the task's unit."""

        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            unit = task.fields.get("unit") or "it"
            return Text("?" if speed is None else f"{speed:.0f} {unit}/s", style="progress.data")

    return Rate()


_BARS = _Display()
