"""A small GitHub REST client for the Actions side: retries that are safe, and a clear word on 403.

Retry rules (the same ones the bot follows):

- 5xx and network errors: retried with exponential backoff (1, 2, 4, 8 … s, capped), at most
  `attempts` tries in all; a `Retry-After` header wins over the backoff.
- Rate limits (429, or 403 with `X-RateLimit-Remaining: 0` or GitHub's "secondary rate limit"
  message): wait `Retry-After` seconds if given, else until `X-RateLimit-Reset`, else 60 s; a wait
  longer than `max_wait` is not slept through but reported.
- A request that is not idempotent (creating a check run) is never re-sent blindly after a 5xx or
  a network error, because GitHub may have acted on it: the caller passes `recover`, which looks
  for what the first attempt may have created (see `mlgate.checks.publish.run`). A rate-limit answer means
  the request was refused, so re-sending it after the wait is safe.
- Other 4xx are not retried. 403/404 on a write become `NoWriteAccess` (the token of a
  `pull_request` run from a fork is read-only: GitHub answers "Resource not accessible by
  integration").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

DEFAULT_API_URL = "https://api.github.com"
RETRY_STATUSES = {500, 502, 503, 504}


class GitHubError(Exception):
    """A request GitHub refused or that kept failing; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


class NoWriteAccess(GitHubError):
    """The token cannot write here (fork PRs get read-only tokens; or `checks: write` is missing)."""


@dataclass
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_wait: float = 600.0  # longest rate-limit wait we sit through
    sleep: Callable[[float], None] = time.sleep
    now: Callable[[], float] = time.time
    jitter: Callable[[], float] = field(default=lambda: random.uniform(0.0, 0.25))


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    if isinstance(body, dict):
        return str(body.get("message", ""))[:300]
    return ""


def rate_limit_wait(resp: requests.Response, now: float) -> float | None:
    """Seconds to wait when the response is a rate-limit refusal; None when it is not one."""
    status = resp.status_code
    message = _message(resp).lower()
    limited = status == 429 or (
        status == 403
        and (resp.headers.get("X-RateLimit-Remaining") == "0" or "rate limit" in message
             or "Retry-After" in resp.headers)
    )
    if not limited:
        return None
    retry_after = resp.headers.get("Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            pass
    reset = resp.headers.get("X-RateLimit-Reset")
    if reset is not None and resp.headers.get("X-RateLimit-Remaining") == "0":
        try:
            return max(0.0, float(reset) - now) + 1.0
        except ValueError:
            pass
    return 60.0


class GitHub:
    """REST calls against one repository (`owner/name`) with `token`."""

    def __init__(self, api_url: str | None, token: str | None, repository: str, *,
                 policy: RetryPolicy | None = None, session: requests.Session | None = None,
                 log: Callable[[str], None] = print, timeout: float = 30.0) -> None:
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.repository = repository
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        self.log = log
        self.timeout = timeout
        self.session.headers.update({
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": "mlgate-actions",
        })
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"

    def repo_path(self, suffix: str) -> str:
        return f"/repos/{self.repository}{suffix}"

    def request(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None,
                idempotent: bool | None = None, write: bool = False,
                recover: Callable[[], Any] | None = None) -> Any:
        """Send one request with the retry rules above; return the decoded JSON (None for 204).

        For a non-idempotent request `recover()` is called before any re-send after a 5xx or a
        network error: it returns the result the lost attempt produced (then no re-send happens),
        or None when nothing was produced and sending again is safe.
        """
        if idempotent is None:
            idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE", "PATCH")
        url = self.api_url + path
        p = self.policy
        last = ""
        for attempt in range(1, p.attempts + 1):
            retry_in: float | None = None
            try:
                resp = self.session.request(method, url, json=json, params=params, timeout=self.timeout)
            except requests.RequestException as exc:
                last = f"{type(exc).__name__}: {exc}"
                resp = None
            if resp is not None:
                wait = rate_limit_wait(resp, p.now())
                if wait is not None:
                    last = f"HTTP {resp.status_code}: {_message(resp)}"
                    if wait > p.max_wait:
                        raise GitHubError(f"{method} {path}: rate limited for {wait:.0f} s more (over the "
                                          f"{p.max_wait:.0f} s we wait): {_message(resp)}", resp.status_code,
                                          method, path)
                    retry_in = wait
                elif resp.status_code in RETRY_STATUSES:
                    last = f"HTTP {resp.status_code}: {_message(resp)}"
                elif resp.status_code >= 400:
                    msg = f"{method} {path}: HTTP {resp.status_code}: {_message(resp)}"
                    if write and resp.status_code in (403, 404):
                        raise NoWriteAccess(msg, resp.status_code, method, path)
                    raise GitHubError(msg, resp.status_code, method, path)
                else:
                    if resp.status_code == 204 or not resp.content:
                        return None
                    return resp.json()
            if attempt == p.attempts:
                break
            if retry_in is None:  # 5xx or no answer: the request may have reached GitHub
                if not idempotent:
                    if recover is None:
                        raise GitHubError(f"{method} {path} failed ({last}) and is not safe to repeat",
                                          resp.status_code if resp is not None else 0, method, path)
                    found = recover()
                    if found is not None:
                        self.log(f"mlgate: {method} {path} failed ({last}) but had taken effect; not re-sent")
                        return found
                retry_after = resp.headers.get("Retry-After") if resp is not None else None
                try:
                    retry_in = float(retry_after) if retry_after else None
                except ValueError:
                    retry_in = None
                if retry_in is None:
                    retry_in = min(p.max_delay, p.base_delay * 2 ** (attempt - 1)) + p.jitter()
            self.log(f"mlgate: {method} {path}: {last}; retry {attempt + 1}/{p.attempts} in {retry_in:.1f} s")
            p.sleep(retry_in)
        raise GitHubError(f"{method} {path} failed after {p.attempts} attempts: {last}",
                          0 if resp is None else resp.status_code, method, path)

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)
