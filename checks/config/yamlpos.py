"""YAML loading that remembers where every key was, so config errors can name the line.

PyYAML's safe loader forgets positions and silently keeps the last of two duplicate keys; this
walks the composed node tree instead, records the line of every key path, and refuses duplicates.
"""

from __future__ import annotations

from typing import Any

import yaml

from mlgate.checks.errors import ConfigError

KeyPath = tuple[str | int, ...]


def load_with_lines(text: str, source: str) -> tuple[Any, dict[KeyPath, int]]:
    """Parse YAML text into plain Python data plus a map key path → 1-based line number."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, cmark = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and cmark and (not mark or cmark.line != mark.line):
            problem += f", {context} started at line {cmark.line + 1}"
        raise ConfigError(f"malformed YAML{line}: {problem}", where=source) from exc
    lines: dict[KeyPath, int] = {}
    if node is None:
        return None, lines
    return _build(node, (), lines, source), lines


def _build(node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], source: str) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node, source)
            if key == "<<":
                raise ConfigError(f"YAML merge keys ('<<') are not supported (line {key_node.start_mark.line + 1})",
                                  where=source)
            if key in out:
                raise ConfigError(
                    f"duplicate key {_dotted((*path, key))!r} (line {key_node.start_mark.line + 1})", where=source
                )
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _build(value_node, (*path, key), lines, source)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), lines, source) for i, item in enumerate(node.value)]
    return _scalar(node, source)


def _scalar(node: yaml.Node, source: str = "") -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError, yaml.YAMLError) as exc:  # e.g. a date such as 2021-13-01
        raise ConfigError(
            f"invalid value {node.value!r} (line {node.start_mark.line + 1}): {exc}", where=source or None
        ) from exc
    finally:
        loader.dispose()


def _dotted(path: KeyPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


dotted = _dotted


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of the deepest known prefix of `path` (a missing key points at its parent)."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None
