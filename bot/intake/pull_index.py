"""Which open PRs a head SHA belongs to, learnt from payloads and evaluations (in memory, per process)."""

from __future__ import annotations

import threading
from collections.abc import Iterable


class PullIndex:
    """head SHA → open PRs, and repo → installation id, learnt from payloads and evaluations.

    In memory and per process. A repository the index has never listed is "cold": the caller then
    re-evaluates every open PR once (a resync), which lists them. Once listed, a lookup returns the
    open PRs with that head plus those whose head is not known yet (listed but not evaluated), so a
    failed evaluation never hides a PR. The worker's periodic resync repairs anything missed.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._heads: dict[str, dict[int, str | None]] = {}  # repo -> number -> head sha (None: unknown)
        self._warm: set[str] = set()
        self._installations: dict[str, int] = {}

    def remember(self, repo: str, number: int, head_sha: str | None, open_: bool = True) -> None:
        with self._lock:
            heads = self._heads.setdefault(repo, {})
            if open_ and head_sha:
                heads[number] = head_sha
            else:
                heads.pop(number, None)

    def mark_warm(self, repo: str, numbers: Iterable[int]) -> None:
        """The complete list of open PRs, from a resync."""
        numbers = set(numbers)
        with self._lock:
            heads = self._heads.setdefault(repo, {})
            for gone in set(heads) - numbers:
                heads.pop(gone, None)
            for number in numbers:
                heads.setdefault(number, None)
            self._warm.add(repo)

    def pulls_with_head(self, repo: str, sha: str) -> set[int] | None:
        """Open PRs whose head is `sha` or unknown; None when this repository was never listed."""
        with self._lock:
            if repo not in self._warm:
                return None
            return {n for n, head in self._heads.get(repo, {}).items() if head in (sha, None)}

    def set_installation(self, repo: str, installation_id: int) -> None:
        with self._lock:
            self._installations[repo] = installation_id

    def installation(self, repo: str) -> int | None:
        with self._lock:
            return self._installations.get(repo)
