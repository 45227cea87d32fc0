"""Who may see a repository's pages.

The rule (decided by `may_view`, pure): a repository the bot has no record of does not exist here;
a public one is visible to anyone; a private one only to a signed-in viewer whose permission on
it, asked of GitHub's permission API with the bot's credentials, is at least `read`. When GitHub
cannot say (the bot lost access, an error), a repository counts as private and unreadable: fail
closed. Every "no" is the same 404 as a name that does not exist, so nothing hints that a private
repository is there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from mlgate.bot.github.facts import Permission

log = logging.getLogger(__name__)
CACHE_SECONDS = 60.0


class RepoAccess(Protocol):
    def is_private(self, repo: str) -> bool | None:
        """True private, False public, None: GitHub does not show it to the bot (or an error)."""
        ...

    def permission(self, repo: str, login: str) -> Permission:
        ...


def may_view(private: bool | None, login: str | None, permission: Permission | None) -> bool:
    """Pure: public → yes; private or unknown → only a signed-in viewer with at least read."""
    if private is False:
        return True
    if not login or permission is None:
        return False
    return permission.at_least(Permission.READ)


class ForgeAccess:
    """`RepoAccess` over the bot's forges, with a short cache (pages are reloaded often)."""

    def __init__(self, forge_for: Callable[[str], object], clock: Callable[[], float] = time.monotonic,
                 ttl: float = CACHE_SECONDS) -> None:
        self.forge_for, self.clock, self.ttl = forge_for, clock, ttl
        self._cache: dict[tuple[str, str], tuple[float, object]] = {}
        self._lock = threading.Lock()

    def _cached(self, key: tuple[str, str], get: Callable[[], object]) -> object:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and now - hit[0] < self.ttl:
                return hit[1]
        value = get()
        with self._lock:
            self._cache[key] = (now, value)
        return value

    def is_private(self, repo: str) -> bool | None:
        def get() -> bool | None:
            try:
                return self.forge_for(repo).repository_private(repo)  # type: ignore[attr-defined,no-any-return]
            except Exception as exc:  # fail closed
                log.warning("visibility of %s unknown (%s); treated as private", repo, type(exc).__name__)
                return None

        return self._cached(("private", repo.lower()), get)  # type: ignore[return-value]

    def permission(self, repo: str, login: str) -> Permission:
        def get() -> Permission:
            try:
                return self.forge_for(repo).permission(repo, login)  # type: ignore[attr-defined,no-any-return]
            except Exception as exc:
                log.warning("permission of %s on %s unknown (%s); treated as none", login, repo, type(exc).__name__)
                return Permission.NONE

        return self._cached((f"perm:{login.lower()}", repo.lower()), get)  # type: ignore[return-value]


def viewable(access: RepoAccess, repo: str, login: str | None) -> bool:
    private = access.is_private(repo)
    if private is False:
        return True
    perm = access.permission(repo, login) if login else None
    return may_view(private, login, perm)
