"""The live display of ``corpusmill run``: the current stage, and per ingested source the files
done, rows read, rows per second and the time left, drawn with ``rich``.

:class:`RunDisplay` is a :class:`corpusmill.progress.Progress` (ingest reports to it) and the
``say`` callback of :func:`pipelines.runner.run_pipeline` (stage messages). The time left is
estimated from the bytes still to read, so files of different sizes do not mislead it.
"""

from __future__ import annotations

import threading
import time
from typing import Self

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress
from rich.text import Text

from corpusmill.progress import Progress


class _Counts(ProgressColumn):
    """``3/12 files  41,280 rows  182k rows/s`` for a source; nothing for the stage line."""

    def render(self, task: Task) -> Text:
        if "files" not in task.fields:
            return Text("")
        f = task.fields
        return Text(f"{f['files']}/{f['files_total']} files {f['rows']:>10,} rows "
                    f"{_rate(f['rows'], task.elapsed or 0.0):>13}")  # fmt: skip


def _rate(rows: int, seconds: float) -> str:
    if seconds <= 0:
        return ""
    r = rows / seconds
    return f"{r / 1e6:.1f}M rows/s" if r >= 1e6 else f"{r / 1e3:.1f}k rows/s" if r >= 1e3 else f"{r:.0f} rows/s"


class RunDisplay(Progress):
    """Stage messages and per-source ingest bars on one console, for the length of a ``with``."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._bars = RichProgress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=24),
            _Counts(),
            TimeRemainingColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=not console.is_terminal,  # logs and pipes get one line per source instead
        )
        self._stage = self._bars.add_task("starting", total=None)
        self._tasks: dict[str, TaskID] = {}
        self._counts: dict[str, list[int]] = {}
        self._started: dict[str, float] = {}
        self._lock = threading.Lock()

    def __enter__(self) -> Self:
        self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bars.update(self._stage, visible=False)
        self._bars.stop()

    # the runner's stage messages
    def say(self, message: str) -> None:
        self._bars.console.print(f"[dim]›[/] {escape(message)}", soft_wrap=True)
        self._bars.update(self._stage, description=escape(message.split(": [", 1)[0][:48]))

    # ingest's progress (rows arrive from the prefetch thread: counts are kept under a lock)
    def source_started(self, source: str, *, files: int, nbytes: int) -> None:
        with self._lock:
            self._counts[source] = [0, 0, max(nbytes, 1)]  # files done, rows read, bytes
            self._started[source] = time.perf_counter()
        self._tasks[source] = self._bars.add_task(
            f"ingest {escape(source)}", total=max(nbytes, 1), files=0, files_total=files, rows=0
        )

    def rows_read(self, source: str, rows: int) -> None:
        with self._lock:
            counts = self._counts[source]
            counts[1] += rows
            n = counts[1]
        self._bars.update(self._tasks[source], rows=n)

    def file_done(self, source: str, file: str, *, nbytes: int) -> None:
        with self._lock:
            counts = self._counts[source]
            counts[0] += 1
            n = counts[0]
        self._bars.update(self._tasks[source], advance=nbytes, files=n)

    def source_done(self, source: str) -> None:
        task = self._tasks[source]
        self._bars.update(task, completed=self._counts[source][2])
        self._bars.stop_task(task)
        if self._bars.disable:
            files, rows, _ = self._counts[source]
            seconds = time.perf_counter() - self._started[source]
            self.console.print(f"[dim]›[/] ingest {escape(source)}: {files} file(s), {rows:,} rows "
                               f"in {seconds:.1f}s ({_rate(rows, seconds)})")  # fmt: skip
