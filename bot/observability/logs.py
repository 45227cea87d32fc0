"""Structured logs: `MLGATE_LOG_FORMAT=json` writes one JSON object per line with the repository,
PR, SHA and delivery id of what is being done, and secrets are never written in any format.

Fields of a JSON line: `ts`, `level`, `logger`, `msg`, and when known `delivery` (the webhook
delivery being handled: a context variable the worker sets), `event` (a name such as
`queue.batch_built` or `github.write`), `repo`, `pr`, `sha`, plus any other `extra=` a call passes.
Redaction: the configured secrets (webhook secret, GitHub token, the App's private key, the metrics
token) and anything shaped like a GitHub token, a bearer header or a PEM key are replaced by `***`
in the message and every field, whatever the format.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import time
from collections.abc import Iterable, Iterator
from typing import Any

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"
FIELDS = ("event", "repo", "pr", "sha", "delivery")
_STANDARD = set(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}
_TOKEN_SHAPES = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|(?i:bearer|token)\s+[A-Za-z0-9._~+/=-]{20,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----)",
    re.DOTALL,
)
REDACTED = "***"

_delivery: contextvars.ContextVar[str | None] = contextvars.ContextVar("mlgate_delivery", default=None)


@contextlib.contextmanager
def delivery_context(delivery_id: str | None) -> Iterator[None]:
    """Every line logged inside carries `delivery` (the worker wraps each delivery in it)."""
    token = _delivery.set(delivery_id)
    try:
        yield
    finally:
        _delivery.reset(token)


def current_delivery() -> str | None:
    return _delivery.get()


class Redactor(logging.Filter):
    """Replaces secrets in the message and the fields of every record (attach to the handlers)."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return _TOKEN_SHAPES.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.scrub(record.getMessage())
        record.args = None
        if record.exc_info:
            record.exc_text = self.scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, self.scrub(value))
        if getattr(record, "delivery", None) is None:
            record.delivery = current_delivery()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_") or value is None:
                continue
            line[key] = value if isinstance(value, (str, int, float, bool)) else str(value)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, sort_keys=True)


def configure(level: str = "INFO", fmt: str = "text", secrets: Iterable[str | None] = ()) -> logging.Handler:
    """Log to stderr in `fmt` (text or json) with secrets redacted; replaces the root's handlers."""
    if fmt not in LOG_FORMATS:
        raise ValueError(f"MLGATE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(Redactor(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    logging.getLogger("alembic").setLevel(max(logging.WARNING, root.level))
    return handler
