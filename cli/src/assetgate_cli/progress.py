"""Progress: rich bars on a terminal (a bar per file and a total), plain lines otherwise, nothing when quiet."""

from __future__ import annotations

import sys
import threading
import time
from typing import Optional

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


def human(n: float) -> str:
    for unit in ('B', 'KiB', 'MiB', 'GiB', 'TiB'):
        if abs(n) < 1024 or unit == 'TiB':
            return f'{n:.0f} {unit}' if unit == 'B' else f'{n:.1f} {unit}'
        n /= 1024
    return f'{n} B'


class Reporter:
    """Thread-safe byte counting for many files at once."""

    def __init__(self, mode: str):
        self.mode = mode  # 'rich', 'plain' or 'quiet'
        self._lock = threading.Lock()
        self._progress: Optional[Progress] = None
        self._total: Optional[TaskID] = None
        self._plain: dict = {}
        if mode == 'rich':
            self._progress = Progress(
                TextColumn('{task.description}', justify='left'),
                BarColumn(),
                DownloadColumn(binary_units=True),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=False,
            )

    @classmethod
    def choose(cls, quiet: bool, json_output: bool) -> Reporter:
        if quiet or json_output:
            return cls('quiet')
        return cls('rich' if sys.stderr.isatty() else 'plain')

    def __enter__(self) -> Reporter:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def total(self, size: Optional[int]) -> None:
        if self._progress is not None:
            self._total = self._progress.add_task('total', total=size)

    def file(self, name: str, size: Optional[int]) -> FileProgress:
        task = None
        if self._progress is not None:
            task = self._progress.add_task(name[:40], total=size)
        return FileProgress(self, name, size, task)

    def message(self, text: str) -> None:
        if self.mode == 'quiet':
            return
        if self._progress is not None:
            self._progress.console.print(text, markup=False, highlight=False)
        else:
            print(text, file=sys.stderr, flush=True)


class FileProgress:
    def __init__(self, reporter: Reporter, name: str, size: Optional[int], task):
        self.reporter, self.name, self.size, self.task = reporter, name, size, task
        self.done = 0
        self._started = time.monotonic()
        self._last_line = 0.0

    def advance(self, n: int) -> None:
        r = self.reporter
        with r._lock:
            self.done += n
            if r._progress is not None:
                r._progress.update(self.task, advance=n)
                if r._total is not None:
                    r._progress.update(r._total, advance=n)
            elif r.mode == 'plain':
                now = time.monotonic()
                if now - self._last_line >= 2.0:
                    self._last_line = now
                    print(self._line(now), file=sys.stderr, flush=True)

    def back(self, n: int) -> None:
        """Bytes that will be sent again (a failed part)."""
        self.advance(-n)

    def finish(self) -> None:
        r = self.reporter
        if r.mode == 'plain':
            print(self._line(time.monotonic(), final=True), file=sys.stderr, flush=True)

    def _line(self, now: float, final: bool = False) -> str:
        elapsed = max(now - self._started, 1e-6)
        rate = self.done / elapsed
        if final:
            return f'{self.name}: {human(self.done)} in {elapsed:.1f} s ({human(rate)}/s)'
        if self.size:
            eta = (self.size - self.done) / rate if rate > 0 else 0
            return (
                f'{self.name}: {100 * self.done / self.size:.0f}% {human(self.done)} of {human(self.size)}, '
                f'{human(rate)}/s, {eta:.0f} s left'
            )
        return f'{self.name}: {human(self.done)}, {human(rate)}/s'
