"""Conditional GET requests (ETag / If-None-Match) under PyGithub, one cache per installation.

GitHub answers a GET that carries the ETag of its previous answer with ``304 Not Modified`` when
nothing changed, and a 304 does not count against the rate limit. The bot re-reads the same
things often (the base branch's config for every evaluation and command, the checks of a head
after each event, a commenter's permission), so every GET the Forge sends goes through here:

* the first answer (200 with an ``ETag``) is kept: URL (with its query) and ``Accept`` header →
  (ETag, headers, body);
* the next GET of that URL sends ``If-None-Match``; a 304 is answered from the kept body, with the
  fresh answer's headers (rate-limit counters) on top. A 304 means "the same bytes", so the answer
  is exactly what a full read would have given: nothing here can make the bot act on stale data.

Entries are dropped least recently used first beyond `max_entries` or `max_bytes` of bodies in
all, and a body over `max_body` characters is not kept.
The cache is shared by the threads of one installation (a lock guards it) and never by two
installations (different tokens may see different things).

PyGithub has no hook for this; `install(client, cache)` swaps the connection class of one
client's requester for a subclass that adds the header. It fails loudly (at construction) if a
PyGithub release renames what it replaces, rather than silently sending unconditional requests.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import ItemsView
from dataclasses import dataclass
from typing import Any

_ATTR = "_Requester__connectionClass"  # the requester's connection class (name-mangled)


@dataclass(frozen=True)
class Kept:
    etag: str
    headers: dict[str, str]
    body: str


class ConditionalCache:
    """URL → the last 200 answer with an ETag; counts how many GETs were answered 304."""

    def __init__(self, max_entries: int = 4096, max_body: int = 1 << 20, max_bytes: int = 64 << 20) -> None:
        self.max_entries = max_entries
        self.max_body = max_body
        self.max_bytes = max_bytes
        self.size = 0  # characters of the kept bodies
        self._entries: OrderedDict[tuple[str, str], Kept] = OrderedDict()
        self._lock = threading.Lock()
        self.not_modified = 0  # GETs answered 304 from the cache
        self.full = 0  # GETs answered in full

    def get(self, key: tuple[str, str]) -> Kept | None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:
                self._entries.move_to_end(key)
            return kept

    def put(self, key: tuple[str, str], kept: Kept) -> None:
        with self._lock:
            self.full += 1
            self._pop(key)
            if len(kept.body) > self.max_body:
                return
            self._entries[key] = kept
            self.size += len(kept.body)
            while len(self._entries) > self.max_entries or self.size > self.max_bytes:
                _, old = self._entries.popitem(last=False)
                self.size -= len(old.body)

    def drop(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._pop(key)

    def _pop(self, key: tuple[str, str]) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body)

    def count_not_modified(self) -> None:
        with self._lock:
            self.not_modified += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


class _Replayed:
    """A kept 200 answer, shaped like PyGithub's `RequestsResponse`."""

    def __init__(self, kept: Kept, fresh: Any) -> None:
        self.status = 200
        self.headers = {**kept.headers, **{k: v for k, v in fresh.getheaders()}}
        self._body = kept.body

    def getheaders(self) -> ItemsView[str, str]:
        return self.headers.items()

    def read(self) -> str:
        return self._body


def _conditional(base: type, cache: ConditionalCache) -> type:
    class Conditional(base):  # type: ignore[misc, valid-type]
        """PyGithub's connection, with If-None-Match on GETs and 304s answered from `cache`."""

        def getresponse(self) -> Any:
            if getattr(self, "verb", None) != "GET" or getattr(self, "stream", False):
                return super().getresponse()
            headers: dict[str, str] = dict(getattr(self, "headers", None) or {})
            key = (str(getattr(self, "url", "")), str(headers.get("Accept", "")))
            kept = cache.get(key)
            if kept is not None:
                self.headers = {**headers, "If-None-Match": kept.etag}
            response = super().getresponse()
            if response.status == 304 and kept is not None:
                cache.count_not_modified()
                return _Replayed(kept, response)
            etag = response.headers.get("ETag") if response.status == 200 else None
            if etag:
                cache.put(key, Kept(etag, dict(response.headers), response.read()))
            elif kept is not None:
                cache.drop(key)
            return response

    return Conditional


def install(client: Any, cache: ConditionalCache) -> None:
    """Make every GET of `client` (a `github.Github`; client.py is the only module importing PyGithub)
    conditional, answered from `cache` when GitHub says 304."""
    requester = client.requester
    base = getattr(requester, _ATTR, None)
    if not isinstance(base, type) or not hasattr(base, "getresponse"):
        raise RuntimeError("this PyGithub release has no per-requester connection class; "
                           "conditional requests (bot/github/conditional.py) need updating")
    setattr(requester, _ATTR, _conditional(base, cache))
