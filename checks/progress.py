"""Progress of long checks on stderr: what a person at a terminal wants to see while a 40-second
bias check runs (rows read, groups computed, each gate started and done), and what a CI log does not.

On by default only when stderr is a terminal and the `CI` variable is unset; `--progress` turns it
on anywhere (a CI log that wants it), `--no-progress` off. The lines go to stderr, so stdout (the
Markdown report with `--markdown -`) stays clean. Code that does long work calls `note(...)`; it
costs nothing when nobody reports (the default outside `mlgate check`).
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from typing import TextIO

_current: contextvars.ContextVar[Progress | None] = contextvars.ContextVar("mlgate_progress", default=None)


class Progress:
    """Writes `mlgate: [12.3s] <what>` lines to a stream, timed from its start."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.started = clock()

    def note(self, message: str) -> None:
        self.stream.write(f"mlgate: [{self.clock() - self.started:5.1f}s] {message}\n")
        self.stream.flush()


def wanted(flag: bool | None, stream: TextIO | None = None, env: Mapping[str, str] | None = None) -> bool:
    """`--progress`/`--no-progress` if given; else on for a terminal outside CI."""
    if flag is not None:
        return flag
    stream = sys.stderr if stream is None else stream
    env = os.environ if env is None else env
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and not env.get("CI")


@contextlib.contextmanager
def reporting(enabled: bool, stream: TextIO | None = None) -> Iterator[Progress | None]:
    """Within the block, `note` writes to `stream` (stderr) when `enabled`."""
    progress = Progress(stream or sys.stderr) if enabled else None
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)


def note(message: str) -> None:
    """Report a step of long work (no-op unless `reporting` is on)."""
    progress = _current.get()
    if progress is not None:
        progress.note(message)
