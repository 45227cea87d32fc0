"""Service settings, read once from the environment.

Every problem is reported with the variable's name so an operator can fix it without reading
code, and no secret (webhook secret, private key, token, database password) ever appears in a
repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_DATABASE_URL = "sqlite:///mlgate.sqlite3"
DEFAULT_GITHUB_URL = "https://api.github.com"
GITHUB_MAX_PAYLOAD_BYTES = 25 * 1024 * 1024  # GitHub caps webhook payloads at 25 MiB
WORKER_MODES = ("process", "thread")  # where `mlgate serve` runs its delivery worker (MLGATE_SERVE_WORKER_MODE)
GITHUB_DELIVERY_TIMEOUT = 10.0  # GitHub gives up on a webhook delivery after 10 s
GITHUB_REDELIVERY_DAYS = 3  # GitHub redelivers (on request) deliveries of the past 3 days only

AuthMode = Literal["app", "token", "none"]


class SettingsError(ValueError):
    """A missing, malformed or contradictory environment variable (the message names it)."""


def _mask_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def normalize_database_url(url: str) -> str:
    """`postgres://` and `postgresql://` mean psycopg 3 here (the driver we depend on)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


@dataclass(frozen=True)
class Settings:
    """Everything the service and the worker need; secrets are kept out of repr()."""

    webhook_secret: str | None = field(default=None, repr=False)
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    github_url: str = DEFAULT_GITHUB_URL
    auth_mode: AuthMode = "none"
    app_id: int | None = None
    private_key: str | None = field(default=None, repr=False)
    github_token: str | None = field(default=None, repr=False)
    bot_login: str | None = None  # the bot's login, if known; else asked from GitHub once (the app's slug, or /user)
    max_body_bytes: int = GITHUB_MAX_PAYLOAD_BYTES
    serve_worker: bool = True
    serve_worker_mode: str = "thread"  # thread: inside each web process; process: a drain process next to gunicorn
    worker_threads: int = 4
    lease_seconds: float = 60.0
    max_attempts: int = 5
    retry_backoff_seconds: float = 1.0
    retry_backoff_max_seconds: float = 300.0
    debounce_seconds: float = 2.0
    debounce_max_seconds: float = 15.0
    resync_interval_seconds: float = 900.0
    poll_interval_seconds: float = 0.5
    sqlite_busy_timeout_ms: int = 10_000
    sqlite_synchronous: str = "FULL"
    intake_timeout_seconds: float = 5.0
    retention_days: float = 14.0
    metrics_token: str | None = field(default=None, repr=False)  # GET /metrics wants `Bearer <it>` when set
    log_format: str = "text"  # text or json (bot/observability/logs.py)
    log_level: str = "INFO"

    def secrets(self) -> tuple[str, ...]:
        """Every secret value, for the log redactor (never logged, in any format)."""
        return tuple(s for s in (self.webhook_secret, self.github_token, self.private_key, self.metrics_token) if s)
    # The dashboard (docs/dashboard.md): signing in with the GitHub App's OAuth client, the session
    # cookie's key, GitHub's web root (the OAuth pages), and the dashboard's own public URL.
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = field(default=None, repr=False)
    session_secret: str | None = field(default=None, repr=False)
    github_web_url: str | None = None  # default: derived from github_url (https://github.com for api.github.com)
    dashboard_url: str | None = None

    @property
    def database_url_masked(self) -> str:
        return _mask_url(self.database_url)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}"
            for name in ("github_url", "auth_mode", "app_id", "max_body_bytes", "serve_worker", "worker_threads")
        )
        secret = "set" if self.webhook_secret else "unset"
        return f"Settings(database_url={self.database_url_masked!r}, webhook_secret=<{secret}>, {shown})"

    __str__ = __repr__


DEFAULTS = Settings()  # what an unset variable means; the worker's config derives its defaults from these


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _number(env: Mapping[str, str], name: str, default: float, *, integer: bool = False, minimum: float = 0) -> float:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value: float = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise SettingsError(f"{name} must be {kind}, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {raw!r}")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    raw = _get(env, name)
    if raw is None:
        return default
    if raw.lower() not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}, got {raw!r}")
    return raw.lower()


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _get(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} must be one of 1/0, true/false, yes/no, on/off, got {raw!r}")


def _private_key(env: Mapping[str, str]) -> str | None:
    inline = env.get("MLGATE_PRIVATE_KEY") or None
    path = _get(env, "MLGATE_PRIVATE_KEY_PATH")
    if inline and path:
        raise SettingsError("set only one of MLGATE_PRIVATE_KEY and MLGATE_PRIVATE_KEY_PATH, not both")
    if path:
        try:
            key = Path(path).expanduser().read_text(encoding="utf-8")
        except OSError as exc:
            raise SettingsError(f"MLGATE_PRIVATE_KEY_PATH: cannot read {path!r}: {exc.strerror or exc}") from None
        source = "MLGATE_PRIVATE_KEY_PATH"
    elif inline:
        # Many secret stores flatten newlines; accept the literal two-character "\n" too.
        key = inline.replace("\\n", "\n") if "\\n" in inline and "\n" not in inline else inline
        source = "MLGATE_PRIVATE_KEY"
    else:
        return None
    if "PRIVATE KEY-----" not in key:
        raise SettingsError(f"{source} does not look like a PEM private key (no '-----BEGIN ... PRIVATE KEY-----')")
    return key


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    require_webhook_secret: bool = True,
    require_github: bool = True,
) -> Settings:
    """Read and validate the settings.

    `require_webhook_secret` is off for `mlgate worker` (it never sees a webhook);
    `require_github` is off for tools that only touch the database.
    """
    env = os.environ if env is None else env
    d = DEFAULTS
    secret = env.get("MLGATE_WEBHOOK_SECRET") or None
    if require_webhook_secret and not secret:
        raise SettingsError("MLGATE_WEBHOOK_SECRET is not set: use the secret configured on the GitHub App's webhook")

    database_url = normalize_database_url(_get(env, "MLGATE_DATABASE_URL") or DEFAULT_DATABASE_URL)
    try:
        parsed = make_url(database_url)
    except ArgumentError:
        raise SettingsError(
            "MLGATE_DATABASE_URL is not a database URL (expected e.g. sqlite:///mlgate.sqlite3 "
            "or postgresql://user@host/db)"
        ) from None
    if parsed.get_backend_name() not in {"sqlite", "postgresql"}:
        raise SettingsError(
            f"MLGATE_DATABASE_URL: unsupported database {parsed.get_backend_name()!r} (use sqlite or postgresql)"
        )

    github_url = (_get(env, "MLGATE_GITHUB_URL") or DEFAULT_GITHUB_URL).rstrip("/")
    if not github_url.startswith(("http://", "https://")):
        raise SettingsError(f"MLGATE_GITHUB_URL must start with http:// or https://, got {github_url!r}")

    app_id_raw = _get(env, "MLGATE_APP_ID")
    token = env.get("MLGATE_GITHUB_TOKEN") or None
    key = _private_key(env)
    app_id: int | None = None
    mode: AuthMode = "none"
    if app_id_raw is not None or key is not None:
        if token:
            raise SettingsError(
                "set either MLGATE_GITHUB_TOKEN (token mode) or MLGATE_APP_ID with MLGATE_PRIVATE_KEY(_PATH) "
                "(GitHub App mode), not both"
            )
        if app_id_raw is None:
            raise SettingsError("MLGATE_APP_ID is not set but a private key is: GitHub App mode needs both")
        if key is None:
            raise SettingsError("MLGATE_PRIVATE_KEY or MLGATE_PRIVATE_KEY_PATH is not set: GitHub App mode needs it")
        try:
            app_id = int(app_id_raw)
        except ValueError:
            raise SettingsError(f"MLGATE_APP_ID must be the numeric App ID, got {app_id_raw!r}") from None
        mode = "app"
    elif token:
        mode = "token"
    elif require_github:
        raise SettingsError(
            "no GitHub credentials: set MLGATE_APP_ID and MLGATE_PRIVATE_KEY (or MLGATE_PRIVATE_KEY_PATH) "
            "for GitHub App mode, or MLGATE_GITHUB_TOKEN for token mode"
        )

    debounce = _number(env, "MLGATE_DEBOUNCE_SECONDS", d.debounce_seconds)
    debounce_max = _number(env, "MLGATE_DEBOUNCE_MAX_SECONDS", d.debounce_max_seconds)
    if debounce_max < debounce:
        raise SettingsError(
            f"MLGATE_DEBOUNCE_MAX_SECONDS ({debounce_max:g}) must not be smaller than "
            f"MLGATE_DEBOUNCE_SECONDS ({debounce:g})"
        )
    intake_timeout = _number(env, "MLGATE_INTAKE_TIMEOUT_SECONDS", d.intake_timeout_seconds, minimum=0.1)
    if intake_timeout > GITHUB_DELIVERY_TIMEOUT - 1:
        raise SettingsError(
            f"MLGATE_INTAKE_TIMEOUT_SECONDS must be at most {GITHUB_DELIVERY_TIMEOUT - 1:g} (GitHub gives up on a "
            f"delivery after {GITHUB_DELIVERY_TIMEOUT:g} s), got {intake_timeout:g}"
        )
    # A purged delivery id counts as new again, so keep them at least as long as GitHub redelivers.
    retention_days = _number(env, "MLGATE_RETENTION_DAYS", d.retention_days)
    if retention_days < GITHUB_REDELIVERY_DAYS:
        raise SettingsError(
            f"MLGATE_RETENTION_DAYS must be at least {GITHUB_REDELIVERY_DAYS} (GitHub can redeliver a delivery of "
            f"the past {GITHUB_REDELIVERY_DAYS} days, and a purged one would be handled twice), got {retention_days:g}"
        )
    log_format = (_get(env, "MLGATE_LOG_FORMAT") or d.log_format).lower()
    if log_format not in ("text", "json"):
        raise SettingsError(f"MLGATE_LOG_FORMAT must be text or json, got {log_format!r}")
    log_level = (_get(env, "MLGATE_LOG_LEVEL") or d.log_level).upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise SettingsError(f"MLGATE_LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, got {log_level!r}")
    sqlite_synchronous = (_get(env, "MLGATE_SQLITE_SYNCHRONOUS") or d.sqlite_synchronous).upper()
    if sqlite_synchronous not in {"FULL", "NORMAL"}:
        raise SettingsError(f"MLGATE_SQLITE_SYNCHRONOUS must be FULL or NORMAL, got {sqlite_synchronous!r}")
    oauth_id, oauth_secret = _get(env, "MLGATE_OAUTH_CLIENT_ID"), env.get("MLGATE_OAUTH_CLIENT_SECRET") or None
    if bool(oauth_id) != bool(oauth_secret):
        raise SettingsError("set both MLGATE_OAUTH_CLIENT_ID and MLGATE_OAUTH_CLIENT_SECRET (the GitHub App's OAuth "
                            "client) for signing in to the dashboard, or neither")
    urls = {name: (_get(env, name) or "").rstrip("/") or None
            for name in ("MLGATE_GITHUB_WEB_URL", "MLGATE_DASHBOARD_URL")}
    for name, url in urls.items():
        if url and not url.startswith(("http://", "https://")):
            raise SettingsError(f"{name} must start with http:// or https://, got {url!r}")
    return Settings(
        oauth_client_id=oauth_id,
        oauth_client_secret=oauth_secret,
        session_secret=env.get("MLGATE_SESSION_SECRET") or None,
        github_web_url=urls["MLGATE_GITHUB_WEB_URL"],
        dashboard_url=urls["MLGATE_DASHBOARD_URL"],
        sqlite_synchronous=sqlite_synchronous,
        webhook_secret=secret,
        database_url=database_url,
        github_url=github_url,
        auth_mode=mode,
        app_id=app_id,
        private_key=key,
        github_token=token,
        bot_login=_get(env, "MLGATE_BOT_LOGIN"),
        max_body_bytes=int(_number(env, "MLGATE_MAX_BODY_BYTES", GITHUB_MAX_PAYLOAD_BYTES, integer=True, minimum=1)),
        serve_worker=_flag(env, "MLGATE_SERVE_WORKER", d.serve_worker),
        serve_worker_mode=_choice(env, "MLGATE_SERVE_WORKER_MODE", WORKER_MODES, d.serve_worker_mode),
        worker_threads=int(_number(env, "MLGATE_WORKER_THREADS", d.worker_threads, integer=True, minimum=1)),
        lease_seconds=_number(env, "MLGATE_LEASE_SECONDS", d.lease_seconds, minimum=1),
        max_attempts=int(_number(env, "MLGATE_MAX_ATTEMPTS", d.max_attempts, integer=True, minimum=1)),
        retry_backoff_seconds=_number(env, "MLGATE_RETRY_BACKOFF_SECONDS", d.retry_backoff_seconds),
        retry_backoff_max_seconds=_number(env, "MLGATE_RETRY_BACKOFF_MAX_SECONDS", d.retry_backoff_max_seconds),
        debounce_seconds=debounce,
        debounce_max_seconds=debounce_max,
        resync_interval_seconds=_number(env, "MLGATE_RESYNC_INTERVAL_SECONDS", d.resync_interval_seconds, minimum=1),
        poll_interval_seconds=_number(env, "MLGATE_POLL_INTERVAL_SECONDS", d.poll_interval_seconds, minimum=0.01),
        sqlite_busy_timeout_ms=int(_number(env, "MLGATE_SQLITE_BUSY_TIMEOUT_MS", d.sqlite_busy_timeout_ms,
                                           integer=True)),
        intake_timeout_seconds=intake_timeout,
        retention_days=retention_days,
        metrics_token=env.get("MLGATE_METRICS_TOKEN") or None,
        log_format=log_format,
        log_level=log_level,
    )
