"""The merge queue's state as JSON: the store keeps it, and a restart resumes from it.

`state_from_json(state_to_json(s)) == s` for every state; a foreign or damaged document is
refused with a ValueError that names the field, never half-read.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Union

from mlgate.bot.queue.model import QueueState

SCHEMA = "mlgate.queue/v1"


def state_to_json(state: QueueState) -> dict[str, Any]:
    """A JSON-ready dict (`schema` tagged); `state_from_json` gives back an equal state."""
    return {"schema": SCHEMA, "state": _encode(state)}


def state_from_json(data: Mapping[str, Any]) -> QueueState:
    """Rebuild a state; raises ValueError naming what is wrong with a foreign or damaged document."""
    if not isinstance(data, Mapping):
        raise ValueError(f"queue state must be an object, got {type(data).__name__}")
    if data.get("schema") != SCHEMA:
        raise ValueError(f"queue state schema is {data.get('schema')!r}, expected {SCHEMA!r}")
    try:
        return _decode(QueueState, data.get("state"), "state")
    except (TypeError, KeyError) as exc:
        raise ValueError(f"queue state is malformed: {exc}") from exc


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_encode(v) for v in value]
    return value


_HINTS: dict[type, dict[str, Any]] = {}


def _decode(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value, where)
    if origin is tuple:
        if not isinstance(value, list):
            raise ValueError(f"{where} must be a list, got {type(value).__name__}")
        (item, _) = typing.get_args(tp)
        return tuple(_decode(item, v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be an object, got {type(value).__name__}")
        hints = _HINTS.get(tp) or _HINTS.setdefault(tp, typing.get_type_hints(tp))
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - names)
        if unknown:
            raise ValueError(f"{where} has unknown field {unknown[0]!r}")
        kwargs = {k: _decode(hints[k], v, f"{where}.{k}") for k, v in value.items()}
        return tp(**kwargs)
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{where} must be a number, got {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
            raise ValueError(f"{where} must be {tp.__name__}, got {value!r}")
        return value
    raise TypeError(f"cannot decode {tp!r} at {where}")
