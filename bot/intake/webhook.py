"""Webhook signature verification and delivery parsing: pure functions, no I/O.

The signature is checked before anything else is looked at, in constant time, and only the
`sha256=` form is accepted (GitHub's legacy `X-Hub-Signature: sha1=` is refused). Error messages
never contain the body or the signature.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from mlgate.bot.store.inbox import Delivery

SIGNATURE_HEADER = "X-Hub-Signature-256"
EVENT_HEADER = "X-GitHub-Event"
DELIVERY_HEADER = "X-GitHub-Delivery"

_DELIVERY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$")
_EVENT_NAME = re.compile(r"^[a-z_]{1,100}$")
# GitHub's payloads nest about 10 levels (its examples: at most 7). A deeper body is refused
# before anything (the store's JSON encoder, a handler) recurses through it.
MAX_JSON_DEPTH = 100


class Headers(Protocol):
    """Request headers: looked up case-insensitively (werkzeug's `Headers`, or a dict in tests)."""

    def get(self, key: str, /) -> str | None: ...


class WebhookError(Exception):
    """A rejected request: `status` is the HTTP answer, `message` is safe to send back and log."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def sign(secret: str | bytes, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub would send for this body."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(secret: str | bytes, body: bytes, header: str | None) -> None:
    """Raise WebhookError(401) unless `header` is the sha256 HMAC of `body` under `secret`."""
    if not header:
        raise WebhookError(401, f"missing {SIGNATURE_HEADER}")
    algorithm, _, digest = header.partition("=")
    if algorithm != "sha256" or not digest:
        raise WebhookError(401, f"{SIGNATURE_HEADER} must be 'sha256=<hex digest>'")
    expected = sign(secret, body)
    # compare_digest on equal-type ASCII strings: constant time in the length of the input.
    if not hmac.compare_digest(expected.encode("ascii"), header.encode("utf-8", "replace")):
        raise WebhookError(401, "signature does not match")


def _indexed(value: str, where: str) -> str:
    """A payload string the store puts in its own column: PostgreSQL text cannot hold NUL."""
    if "\x00" in value:
        raise WebhookError(400, f"{where} contains a NUL character")
    return value


def _repo_name(payload: Mapping[str, Any]) -> str | None:
    repository = payload.get("repository")
    if isinstance(repository, Mapping):
        name = repository.get("full_name")
        if isinstance(name, str) and name:
            return _indexed(name[:255], "repository.full_name")
    return None


def _deeper_than(value: Any, limit: int) -> bool:
    """True when `value` nests more than `limit` objects/arrays: level by level, containers only
    (no recursion, so no recursion limit; list comprehensions keep the per-value cost in C)."""
    level = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            below += [c for c in (node.values() if type(node) is dict else node) if type(c) in (dict, list)]
        level = below
        depth += 1
    return False


def _installation_id(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation")
    if isinstance(installation, Mapping):
        value = installation.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _fast_loads(body: bytes) -> Any:
    """orjson's parse (a quarter of the standard library's CPU for GitHub's bodies), or None where
    its answer could differ from `_loads`, which then decides: anything orjson refuses (its
    messages differ; it also refuses lone surrogate escapes, 1e400 and nesting past 1024, which
    the standard library reads), and an installation id it read as a float (integers past 64 bits).
    The body is stored verbatim either way; only the fields below are taken from this parse."""
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(payload, dict):
        installation = payload.get("installation")
        if isinstance(installation, dict) and isinstance(installation.get("id"), float):
            return None
    return payload


def _loads(text: str) -> Any:
    """The standard library's parse, with the error messages the intake answers."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:
        raise WebhookError(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels") from None
    except ValueError as exc:
        # The position is safe to report; the content is not echoed.
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise WebhookError(400, f"body is not valid JSON{where}") from None


def parse_delivery(headers: Headers, body: bytes) -> Delivery:
    """Build a Delivery from a verified request, or raise WebhookError(400) saying what is wrong."""
    event = (headers.get(EVENT_HEADER) or "").strip()
    delivery_id = (headers.get(DELIVERY_HEADER) or "").strip()
    if not event:
        raise WebhookError(400, f"missing {EVENT_HEADER} header")
    if not delivery_id:
        raise WebhookError(400, f"missing {DELIVERY_HEADER} header")
    if not _EVENT_NAME.match(event):
        raise WebhookError(400, f"{EVENT_HEADER} is not an event name")
    if not _DELIVERY_ID.match(delivery_id):
        raise WebhookError(400, f"{DELIVERY_HEADER} must be 1-100 characters of letters, digits, '.', '_', ':', '-'")
    try:
        # GitHub sends UTF-8; json.loads(bytes) would also guess UTF-16 and UTF-32 and skip a BOM.
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookError(400, f"body is not UTF-8 (invalid byte at offset {exc.start})") from None
    payload = _fast_loads(body)
    if payload is None:
        payload = _loads(text)
    if not isinstance(payload, dict):
        raise WebhookError(400, "body must be a JSON object")
    # Nesting can be no deeper than the number of opening brackets in the text (those inside
    # strings only add to the count): two C-speed counts spare the walk for almost every body.
    if text.count("{") + text.count("[") > MAX_JSON_DEPTH and _deeper_than(payload, MAX_JSON_DEPTH):
        raise WebhookError(400, f"body is nested deeper than {MAX_JSON_DEPTH} levels")
    action = payload.get("action")
    return Delivery(
        delivery_id=delivery_id,
        event=event,
        action=_indexed(action[:100], "action") if isinstance(action, str) else None,
        repo=_repo_name(payload),
        installation_id=_installation_id(payload),
        payload=payload,
        body=text,
    )
