"""Fault injection and the call log, for testing how the bot copes and counting what it costs.

A fault matches a method and an OpenAPI template (or a literal path, ``*`` for any) and fires for
the next ``count`` matching calls: answer 500/502, a 403 secondary rate limit with ``Retry-After``,
or just a delay before the real answer.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. "
    "If you reach out to GitHub Support for help, please include the request ID."
)


API_KINDS = ("500", "502", "secondary_rate_limit", "delay")
# Webhook faults: GitHub promises neither order nor exactly-once delivery.
WEBHOOK_KINDS = ("duplicate", "reorder")


@dataclass
class Fault:
    id: int
    method: str  # "*" or GET/POST/...
    path: str  # OpenAPI template like /repos/{owner}/{repo}/pulls, a literal path, or a glob
    kind: str  # an API kind ("500" | "502" | "secondary_rate_limit" | "delay") or a webhook kind
    count: int = 1
    delay: float = 0.0
    retry_after: int = 1
    hits: int = 0
    event: str = "*"  # webhook faults: the event (or "*") and, optionally, the action they match
    action: str | None = None
    size: int = 1  # reorder: how many deliveries are held and then sent in reverse order

    def matches(self, method: str, template: str | None, path: str) -> bool:
        if self.kind not in API_KINDS or self.method not in ("*", method):
            return False
        return self.path in (template, path) or fnmatch.fnmatchcase(path, self.path)

    def matches_delivery(self, event: str, action: str | None) -> bool:
        return (self.kind in WEBHOOK_KINDS and self.event in ("*", event)
                and (self.action is None or self.action == action))


@dataclass
class FaultTable:
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next: int = 1

    def add(self, method: str, path: str, kind: str, count: int = 1, delay: float = 0.0,
            retry_after: int = 1, event: str = "*", action: str | None = None) -> Fault:
        """API kinds fire on the next ``count`` matching calls. ``duplicate`` sends each of the next
        ``count`` matching deliveries twice (same GUID); ``reorder`` holds the next ``count`` (>= 2)
        and sends them in reverse order, or whatever it holds after ``delay`` seconds (default 2)."""
        if kind not in API_KINDS + WEBHOOK_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        if kind == "reorder" and count < 2:
            raise ValueError("a reorder fault needs count >= 2 (the deliveries it swaps)")
        with self._lock:
            fault = Fault(self._next, method.upper(), path, kind, count, delay if delay or kind != "reorder" else 2.0,
                          retry_after, event=event, action=action, size=count)
            self._next += 1
            self.faults.append(fault)
            return fault

    def take_delivery(self, event: str, action: str | None) -> Fault | None:
        """The first armed webhook fault for this delivery, consuming one of its shots."""
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches_delivery(event, action):
                    fault.count -= 1
                    fault.hits += 1
                    return fault
        return None

    def take(self, method: str, template: str | None, path: str) -> Fault | None:
        """The first armed fault for this call, consuming one of its shots."""
        with self._lock:
            for fault in self.faults:
                if fault.count > 0 and fault.matches(method, template, path):
                    fault.count -= 1
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def as_json(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.faults]


@dataclass
class CallLog:
    """Every API call: method, operation template, status; counted per operation."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, method: str, template: str | None, path: str, status: int, who: str, *,
               kind: str = "user", app_id: int | None = None, need: str | None = None,
               used: dict[str, str] | None = None) -> None:
        """One call; ``need`` is the permission the endpoint asks of an App (app_permissions.yml),
        ``used`` the part of an installation token's permissions that satisfied it (None: unmet)."""
        with self._lock:
            self.calls.append({"method": method, "operation": template, "path": path, "status": status,
                               "as": who, "kind": kind, "app_id": app_id, "needs": need, "used": used,
                               "at": time.time()})

    def exercised(self, app_id: int) -> dict[str, Any]:
        """What an App's installation tokens used: the union of the permission sets that satisfied
        its calls (``permissions``) and the calls no permission it holds satisfied (``unmet``)."""
        used: dict[str, str] = {}
        unmet: list[str] = []
        with self._lock:
            calls = [c for c in self.calls if c.get("kind") == "installation" and c.get("app_id") == app_id]
        for call in calls:
            if call["needs"] in (None, "none", "app-jwt"):
                continue
            if call["used"] is None:
                unmet.append(f"{call['method']} {call['operation']} needs {call['needs']}")
                continue
            for perm, level in call["used"].items():
                if used.get(perm) != "write":
                    used[perm] = level
        return {"permissions": dict(sorted(used.items())), "unmet": sorted(set(unmet)), "calls": len(calls)}

    def summary(self) -> dict[str, Any]:
        with self._lock:
            counts = Counter(f"{c['method']} {c['operation'] or c['path']}" for c in self.calls)
            return {"total": len(self.calls), "by_endpoint": dict(sorted(counts.items())),
                    "calls": list(self.calls)}

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
