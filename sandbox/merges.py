"""GitHub notices *in the background* that a push made a pull request's head part of its base (a
bors-style fast-forward to a staging commit, or a manual push) and only then marks the PR merged,
sometimes seconds later. Until then the PR is open; deleting its head branch first closes it as
*not merged* (bors-ng's known problem), and the later detection finds nothing to do.

Pushes record what to check in ``state["pending_merges"]`` (so it survives a restart); this
detector acts on each record after ``delay`` seconds, or only when asked (``delay`` None), which
lets tests order "head deleted" before "merge detected" without sleeping.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from mlgate.sandbox import domain
from mlgate.sandbox.git import GitRepo
from mlgate.sandbox.store import Store

J = dict[str, Any]
log = logging.getLogger(__name__)
DEFAULT_DELAY = 0.2  # seconds; GitHub takes "a moment", occasionally much longer
POLL_SECONDS = 0.02


class MergeDetector:
    """Runs pending merge detections in a background thread (see the module docstring)."""

    def __init__(self, store: Store, dispatcher: Any, delay: float | None = DEFAULT_DELAY) -> None:
        self.store = store
        self.dispatcher = dispatcher
        self.delay = delay
        self.app: Any = None  # the Flask app: payloads build URLs from its config (set by create_app)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sandbox-merge-detector", daemon=True)
        self._thread.start()

    def pending(self) -> list[J]:
        with self.store.lock:
            return [dict(p) for p in self.store.state.get("pending_merges", [])]

    def busy(self) -> bool:
        """True while a detection is waiting for its delay (a held one in manual mode is not waiting)."""
        return self.delay is not None and bool(self.pending())

    def detect_now(self) -> int:
        """Run every pending detection at once (tests in manual mode call this); returns how many PRs
        were marked merged."""
        with self.store.lock:
            return self._process(None)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            delay = self.delay
            if delay is None:
                continue
            with self.store.lock:
                if self.store.state.get("pending_merges"):
                    self._process(time.time() - delay)

    def _process(self, cutoff: float | None) -> int:
        """Run the detections recorded at or before ``cutoff`` (all of them for None)."""
        pending = self.store.state.get("pending_merges", [])
        ready = [p for p in pending if cutoff is None or p["at"] <= cutoff]
        if not ready:
            return 0
        self.store.state["pending_merges"] = [p for p in pending if p not in ready]
        merged = 0
        with self.app.app_context() if self.app is not None else contextlib.nullcontext():
            for item in ready:
                try:
                    merged += self._detect(item)
                except Exception:  # the detector must not die; a record it cannot handle is dropped
                    log.exception("merge detection for %s#%s failed", item.get("repo"), item.get("number"))
        self.store.save()
        return merged

    def _detect(self, item: J) -> bool:
        """Mark the PR merged if it is still open and its current head is in its base branch now."""
        repo = self.store.state["repos"].get(item["repo"])
        pr = repo["pulls"].get(str(item["number"])) if repo else None
        if repo is None or pr is None or repo["issues"][str(pr["number"])]["state"] != "open":
            return False
        git = GitRepo(self.store.git_dir(repo))
        tip = git.ref_sha(f"refs/heads/{pr['base_ref']}")
        if tip is None or not git.is_ancestor(pr["head_sha"], tip):
            return False
        domain.close_pull(self.store, self.dispatcher, repo, pr, item["sender"], merged=True,
                          merge_sha=pr["head_sha"], base_before=item.get("base_before"))
        pr["base_sha"] = tip
        return True
