"""The feature registry file (`features.yaml`) and the path patterns it and the config use.

Format (paths are relative to the repository root, i.e. the directory mlgate runs in)::

    features:
      - name: age_bucket                      # unique, required
        description: Age in 10-year buckets.  # required by default (features.require)
        owner: "@data-team"                   # required by default
        code: src/features/age.py::age_bucket # path, path::symbol, a glob, or a list of these
        docs: docs/features/age_bucket.md     # optional; a file, a directory or an http(s) URL

A bare list of entries (without `features:`) is accepted too. Unknown keys, duplicate names and
malformed YAML are input errors naming the file and line: a typo such as `ownr:` must not read as
"no owner" and pass review unnoticed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError, field_validator

from mlgate.checks.config.yamlpos import dotted, line_of, load_with_lines
from mlgate.checks.errors import ConfigError, InputError
from mlgate.checks.gates.limits import StrictModel

_WILDCARDS = set("*?[")


class _Entry(StrictModel):
    """One registry entry as written; validated so unknown keys and wrong types are caught."""

    name: str
    description: str | None = None
    owner: str | None = None
    code: str | list[str] | None = None
    docs: str | None = None

    @field_validator("name")
    @classmethod
    def _named(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("name must not be blank")
        return v.strip()


class _File(StrictModel):
    features: list[dict[str, Any]]


@dataclass(frozen=True)
class CodeLocation:
    """`path`, `path::symbol` or a glob; `symbol` may be dotted (`Class.method`)."""

    path: str
    symbol: str | None = None

    @classmethod
    def parse(cls, text: str) -> CodeLocation:
        path, sep, symbol = text.strip().partition("::")
        return cls(normalize(path), symbol.strip() or None if sep else None)

    @property
    def text(self) -> str:
        return f"{self.path}::{self.symbol}" if self.symbol else self.path

    def matches(self, file: str) -> bool:
        return path_matches(self.path, file)


@dataclass(frozen=True)
class Feature:
    name: str
    line: int
    description: str | None = None
    owner: str | None = None
    code: tuple[CodeLocation, ...] = ()
    docs: str | None = None
    entry: dict[str, Any] = field(default_factory=dict, compare=False)  # as written, to compare revisions

    def field_value(self, name: str) -> str | None:
        value = {"description": self.description, "owner": self.owner, "docs": self.docs}.get(name)
        if name == "code":
            value = ", ".join(loc.text for loc in self.code)
        return value if value and value.strip() else None


@dataclass(frozen=True)
class Registry:
    path: str
    features: tuple[Feature, ...]

    def names(self) -> set[str]:
        return {f.name for f in self.features}


def parse_registry(text: str, source: str) -> Registry:
    """Parse registry text; InputError naming `source`, the entry and the line on any problem."""
    try:
        data, lines = load_with_lines(text, source)
    except ConfigError as exc:  # the registry is an input file, not config: exit code stays 2
        raise InputError(str(exc).removeprefix(f"{source}: "), where=source) from None
    if data is None:
        raise InputError("the registry is empty; expected a `features:` list", where=source)
    if isinstance(data, list):
        data, lines = {"features": data}, {("features", *k): v for k, v in lines.items()}
    if not isinstance(data, dict):
        found = type(data).__name__
        raise InputError(f"expected a `features:` list at the top level, got {found}", where=source)
    try:
        items = _File.model_validate(data).features
    except ValidationError as exc:
        raise InputError(_describe(exc, lines, ()), where=source) from None
    features: list[Feature] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        path = ("features", i)
        try:
            entry = _Entry.model_validate(item)
        except ValidationError as exc:
            raise InputError(_describe(exc, lines, path), where=source) from None
        line = line_of(lines, path) or 0
        if entry.name in seen:
            raise InputError(
                f"duplicate feature name {entry.name!r} (line {line}; first on line {seen[entry.name]})",
                where=source,
            )
        seen[entry.name] = line
        codes = [entry.code] if isinstance(entry.code, str) else entry.code or []
        features.append(
            Feature(
                name=entry.name,
                line=line,
                description=entry.description,
                owner=entry.owner,
                code=tuple(CodeLocation.parse(c) for c in codes if c.strip()),
                docs=normalize(entry.docs) if entry.docs and entry.docs.strip() else None,
                entry=entry.model_dump(exclude_none=True),
            )
        )
    return Registry(source, tuple(features))


def load_registry(path: Path, display: str) -> Registry:
    if not path.is_file():
        raise InputError("feature registry not found (features.registry)", where=display)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the feature registry: {exc}", where=display) from exc
    return parse_registry(text, display)


def _describe(exc: ValidationError, lines: dict, base: tuple[str | int, ...]) -> str:
    """'features[2].ownr (line 9): unknown key' for the first few validation errors."""
    parts = []
    for err in exc.errors()[:3]:
        raw = err["loc"]
        # keep the key, then list indices; drop the union member names pydantic inserts
        loc = (*base, *raw[:1], *(p for p in raw[1:] if isinstance(p, int)))
        line = line_of(lines, loc)
        msg = {"extra_forbidden": "unknown key", "missing": "required key is missing"}.get(
            err["type"], err["msg"].removeprefix("Value error, ")
        )
        if err["type"] == "extra_forbidden" and len(base) == 2:
            msg += f" (allowed: {', '.join(_Entry.model_fields)})"
        parts.append(f"{dotted(loc)}{f' (line {line})' if line else ''}: {msg}")
    return "; ".join(parts)


def normalize(path: str) -> str:
    """A config/registry path as git prints it: forward slashes, no leading './'."""
    p = path.strip().replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def has_wildcard(pattern: str) -> bool:
    return any(c in _WILDCARDS for c in pattern)


@lru_cache(maxsize=512)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """Compile a glob: `*` and `?` stay within one directory, `**` spans any number of them."""
    p = normalize(pattern)
    if p.endswith("/"):
        p += "**"
    out, i = "", 0
    while i < len(p):
        if p.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif p.startswith("**", i):
            out, i = out + ".*", i + 2
        elif p[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif p[i] == "?":
            out, i = out + "[^/]", i + 1
        elif p[i] == "[" and (end := p.find("]", i + 2)) != -1:
            inner = p[i + 1 : end]
            inner = "^" + inner[1:] if inner.startswith("!") else inner
            out, i = out + "[" + inner.replace("\\", "\\\\") + "]", end + 1
        else:
            out, i = out + re.escape(p[i]), i + 1
    return re.compile(out)


def path_matches(pattern: str, file: str) -> bool:
    """Does a repository path match a pattern: a glob, a file, or a directory (everything under it)?"""
    pattern, file = normalize(pattern), normalize(file)
    if glob_regex(pattern).fullmatch(file):
        return True
    return not has_wildcard(pattern) and file.startswith(pattern.rstrip("/") + "/")


def static_prefix(pattern: str) -> str:
    """The directory part of a pattern before its first wildcard, where a file walk can start."""
    parts = normalize(pattern).rstrip("/").split("/")
    fixed: list[str] = []
    for part in parts:
        if has_wildcard(part):
            break
        fixed.append(part)
    return "/".join(fixed)
