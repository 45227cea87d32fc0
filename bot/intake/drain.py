"""`mlgate serve --worker-mode process`: the delivery worker in a drain process of its own, next to gunicorn.

Why a process and not threads in the web process: the worker's database work, payload decoding
and handlers hold the GIL the webhook requests need; in its own process the worker drains while
intake runs and the web process's CPU per request stays flat whatever the handlers cost. Why it is
not the default: on SQLite the drain process meets intake at the database's write lock across
processes (SQLite's busy handler sleeps 1, 2, 5, 10 … ms instead of the in-process write gate that
serves intake first), and on two shared cores the flat-out throughput and the p99 were not better
than with threads (docs/benchmarks.md, bench/webhook.py).

- `WakePipe`: the web processes write the serial key of each new delivery (one line, non-blocking;
  a full pipe drops the note, the worker's poll finds the delivery anyway); the drain process reads
  them and wakes its scheduler at once instead of at the next poll. End of file means every web
  process is gone (gunicorn's master and its workers hold the write end): the drain process stops
  then, so it never outlives `mlgate serve`, even when serve was killed with SIGKILL.
- `DrainProcess`: runs `mlgate worker --wake-fd N` and, from gunicorn's master loop (about once a
  second), starts it again when it ended (with a growing pause when it keeps dying at once); on
  stop, SIGTERM (running handlers finish) and SIGKILL after the grace period. A killed drain process
  loses nothing: its deliveries stay pending and their leases expire (MLGATE_LEASE_SECONDS).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

log = logging.getLogger(__name__)

_MAX_NOTE = 512  # bytes of one note (a key is at most 255 characters): below PIPE_BUF, so writes are atomic


class WakePipe:
    """The notes from the web processes to the drain process (see the module docstring)."""

    def __init__(self) -> None:
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        os.set_inheritable(self.read_fd, False)

    def notify(self, key: str) -> None:
        """Called by a request thread after a new delivery was committed: never blocks, never raises."""
        note = key.replace("\n", " ").encode("utf-8", "replace")[: _MAX_NOTE - 1] + b"\n"
        try:
            os.write(self.write_fd, note)
        except OSError as exc:  # full (the drain process is behind or restarting) or closed: polling covers it
            if exc.errno not in (errno.EAGAIN, errno.EPIPE, errno.EBADF):
                log.debug("wake note not sent: %s", exc)

    def close(self) -> None:
        for fd in (self.read_fd, self.write_fd):
            with contextlib.suppress(OSError):
                os.close(fd)


def follow_wake_pipe(fd: int, wake: Callable[[str], None], on_eof: Callable[[], None]) -> threading.Thread:
    """Drain process side: a daemon thread calling `wake(key)` per note and `on_eof()` at end of file."""

    def run() -> None:
        pending = b""
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError as exc:
                log.error("wake pipe unreadable (%s); stopping", exc)
                data = b""
            if not data:
                log.info("mlgate serve is gone (wake pipe closed); stopping")
                on_eof()
                return
            *notes, pending = (pending + data).split(b"\n")
            for key in dict.fromkeys(notes):  # a burst to one repository wakes once
                wake(key.decode("utf-8", "replace"))

    thread = threading.Thread(target=run, name="mlgate-wake-pipe", daemon=True)
    thread.start()
    return thread


class DrainProcess:
    """Starts, watches and stops the drain process (see the module docstring). Used by gunicorn's
    master only: `check` and `stop` run in its main loop."""

    def __init__(self, command: Sequence[str], wake: WakePipe, *, env: dict[str, str] | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.command = [*command, "--wake-fd", str(wake.read_fd)]
        self.wake = wake
        self.env = env
        self.monotonic = monotonic
        self.proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._next_start = 0.0
        self._pause = 1.0
        self._stopping = False

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, env=self.env, pass_fds=(self.wake.read_fd,))
        self._started_at = self.monotonic()
        log.info("drain worker process started (pid %d)", self.proc.pid)

    def check(self) -> None:
        """Start the drain process again if it ended. gunicorn's master reaps every child (its
        waitpid(-1)), so the exit status is not known here: `poll()` only says it is gone."""
        if self._stopping or self.proc is None or self.proc.poll() is None:
            return
        now = self.monotonic()
        if self._next_start == 0.0:
            # Died within a minute of its start: wait longer each time (at most a minute), so a
            # process that cannot start does not spin; otherwise start it again at once.
            quick = now - self._started_at < 60.0
            self._pause = min(60.0, self._pause * 2) if quick else 1.0
            self._next_start = now + (self._pause if quick else 0.0)
            log.error("drain worker process (pid %d) ended; starting a new one%s", self.proc.pid,
                      f" in {self._pause:.0f} s" if quick else "")
        if now >= self._next_start:
            self._next_start = 0.0
            self.start()

    def stop(self, timeout: float) -> None:
        """SIGTERM (running handlers finish, leases are given back), SIGKILL after `timeout`."""
        self._stopping = True
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("drain worker process (pid %d) did not stop in %.0f s; killing it", proc.pid, timeout)
            proc.kill()
            proc.wait(10)


__all__ = ["DrainProcess", "WakePipe", "follow_wake_pipe"]
