"""GitHub's permission rules for Apps, as data: what an installation token needs for each endpoint
and what an App needs before it may subscribe to each webhook event (``app_permissions.yml``).

Pure functions over plain dicts, so the sandbox's enforcement, the App registration checks and
the call log all read the same table; the table says where it comes from.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DATA = Path(__file__).with_name("app_permissions.yml")
LEVELS = {"read": 1, "write": 2, "admin": 3}
NO_ACCESS = "Resource not accessible by integration"
Grant = Mapping[str, str]


@dataclass(frozen=True)
class Need:
    """One requirement: ``kind`` is permissions | none | app-jwt | not-for-apps; for ``permissions``,
    ``any_of`` lists the alternative sets (each a tuple of (permission, level) pairs, all needed)."""

    kind: str
    any_of: tuple[tuple[tuple[str, str], ...], ...] = ()

    def satisfied_by(self, granted: Grant) -> dict[str, str] | None:
        """The first alternative ``granted`` covers (as a dict), {} when nothing is needed, else None."""
        if self.kind == "none":
            return {}
        if self.kind != "permissions":
            return None
        for option in self.any_of:
            if all(covers(granted, perm, level) for perm, level in option):
                return dict(option)
        return None

    def header(self) -> str:
        """GitHub's ``X-Accepted-GitHub-Permissions`` value: alternatives split by ``;``, a set's
        members by ``,`` (``issues=write; pull_requests=write``)."""
        return "; ".join(",".join(f"{p}={lv}" for p, lv in option) for option in self.any_of)

    def describe(self) -> str:
        if self.kind != "permissions":
            return self.kind
        return " or ".join(" and ".join(f"{p}: {lv}" for p, lv in option) for option in self.any_of)


def covers(granted: Grant, permission: str, level: str) -> bool:
    """True when ``granted`` gives ``permission`` at ``level`` or higher (write includes read)."""
    have = granted.get(permission)
    return have is not None and LEVELS.get(have, 0) >= LEVELS[level]


def _parse(value: Any, where: str) -> Need:
    if value in ("none", "app-jwt", "not-for-apps"):
        return Need(value)
    options = value if isinstance(value, list) else [value]
    parsed: list[tuple[tuple[str, str], ...]] = []
    for option in options:
        if not isinstance(option, dict) or not option:
            raise ValueError(f"{where}: a requirement is a mapping, a list of mappings, or a keyword")
        for perm, level in option.items():
            if level not in LEVELS:
                raise ValueError(f"{where}: level {level!r} of {perm!r} is not read, write or admin")
        parsed.append(tuple(sorted(option.items())))
    return Need("permissions", tuple(parsed))


@dataclass(frozen=True)
class Rules:
    endpoints: dict[str, Need]
    events: dict[str, Need]
    known: frozenset[str]

    def endpoint(self, method: str, template: str) -> Need | None:
        return self.endpoints.get(f"{method.upper()} {template}")

    def event(self, name: str) -> Need | None:
        return self.events.get(name)


@functools.cache
def rules() -> Rules:
    """The table, loaded once."""
    raw = yaml.safe_load(DATA.read_text())
    endpoints = {key: _parse(value, key) for key, value in raw["endpoints"].items()}
    events = {key: _parse(value, key) for key, value in raw["events"].items()}
    return Rules(endpoints, events, frozenset(raw["known_permissions"]))


ALWAYS_DELIVERED = ("installation", "installation_repositories")


def normalise(permissions: Mapping[str, Any] | None) -> dict[str, str]:
    """GitHub gives every App ``metadata: read``; ``none`` entries mean no access."""
    out = {str(k): str(v) for k, v in (permissions or {}).items() if v not in (None, "none")}
    out.setdefault("metadata", "read")
    return out


def permission_problems(permissions: Mapping[str, Any]) -> list[str]:
    """Unknown permission names or levels, in GitHub's words where it has them."""
    known = rules().known
    problems = []
    for name, level in permissions.items():
        if name not in known:
            problems.append(f"default_permissions: {name!r} is not a GitHub App permission")
        elif level not in (*LEVELS, "none"):
            problems.append(f"default_permissions: {name} must be read or write, not {level!r}")
    return problems


def event_problems(events: Iterable[str], permissions: Grant) -> list[str]:
    """Events the App may not subscribe to: unknown ones, or ones its permissions do not cover."""
    problems = []
    for event in events:
        need = rules().event(event)
        if need is None:
            problems.append(f"default_events: {event!r} is not a webhook event the sandbox knows")
        elif need.satisfied_by(permissions) is None:
            problems.append(f"default_events: {event} needs the {need.describe()} permission")
    return problems


def subset_problem(requested: Mapping[str, Any], granted: Grant) -> str | None:
    """A token may ask for fewer permissions than the installation has, never more."""
    for name, level in requested.items():
        if level in LEVELS and not covers(granted, name, level):
            return "The permissions requested are not granted to this installation."
    return None


def delivers(app_events: Iterable[str], granted: Grant, event: str) -> bool:
    """Does an App with these subscriptions and permissions receive ``event``?"""
    if event in ALWAYS_DELIVERED:
        return True
    need = rules().event(event)
    return event in set(app_events) and need is not None and need.satisfied_by(granted) is not None
