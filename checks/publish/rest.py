"""A small GitHub REST client for the Actions side: retries that are safe, and a clear word on 403.

Retries follow `mlgate.retry`, the policy the bot follows too, with the publisher's knobs
(`PUBLISH_POLICY`):

- 5xx and network errors: retried with exponential backoff (1, 2, 4, 8 … s, capped, plus a little
  jitter), at most `max_attempts` tries in all; a `Retry-After` header wins over the backoff.
- Rate limits (429, or 403 with `X-RateLimit-Remaining: 0`, `Retry-After` or GitHub's rate-limit
  message): wait `Retry-After` seconds if given, else until `X-RateLimit-Reset`, else a minute
  (doubling when it repeats); waits beyond `max_total_wait` in all are not slept through but reported.
- A request that is not idempotent (creating a check run) is never re-sent blindly after a 5xx or
  a network error, because GitHub may have acted on it: the caller passes `recover`, which looks
  for what the first attempt may have created (see `mlgate.checks.publish.run`); only when it finds
  nothing is the request sent again (`resend_unconfirmed`: a check run carries a unique
  `external_id`, so the next lookup finds a duplicate). A rate-limit answer means the request was
  refused, so re-sending it after the wait is safe.
- Other 4xx are not retried. 403/404 on a write become `NoWriteAccess` (the token of a
  `pull_request` run from a fork is read-only: GitHub answers "Resource not accessible by
  integration").
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

import requests

from mlgate.retry import (
    Failure,
    RateLimitedError,
    Retrier,
    RetryPolicy,
    UncertainWriteError,
    classify_requests_error,
)

DEFAULT_API_URL = "https://api.github.com"
# A job may wait out a long rate limit (up to 10 minutes in all); the bot's worker defers instead.
PUBLISH_POLICY = RetryPolicy(max_attempts=5, backoff_initial=1.0, backoff_max=30.0, max_total_wait=600.0,
                             resend_unconfirmed=True)


class GitHubError(Exception):
    """A request GitHub refused or that kept failing; `status` is the HTTP status (0: no answer)."""

    def __init__(self, message: str, status: int = 0, method: str = "", path: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.path = path


class NoWriteAccess(GitHubError):
    """The token cannot write here (fork PRs get read-only tokens; or `checks: write` is missing)."""


class _Answered(Exception):
    """GitHub answered with an error status (raised inside a request so the retry policy sees it)."""

    def __init__(self, resp: requests.Response) -> None:
        super().__init__(f"HTTP {resp.status_code}: {_message(resp)}")
        self.resp = resp


def _message(resp: requests.Response) -> str:
    try:
        body = resp.json()
    except ValueError:
        return resp.text[:200].strip()
    if isinstance(body, dict):
        return str(body.get("message", ""))[:300]
    return ""


def _classify(exc: BaseException) -> Failure | None:
    if isinstance(exc, _Answered):
        return Failure(exc.resp.status_code, dict(exc.resp.headers), _message(exc.resp))
    found = classify_requests_error(exc)
    if found is None and isinstance(exc, requests.RequestException):
        return Failure(None, sent=True)  # no answer: it may have reached GitHub
    return found


def _jitter() -> float:
    return random.uniform(0.0, 0.25)


class GitHub:
    """REST calls against one repository (`owner/name`) with `token`.

    `policy`, `sleep`, `clock` and `jitter` are the retry policy's (tests inject them); `log`
    receives one line per retry (the job log)."""

    def __init__(self, api_url: str | None, token: str | None, repository: str, *,
                 policy: RetryPolicy | None = None, session: requests.Session | None = None,
                 log: Callable[[str], None] = print, timeout: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = _jitter) -> None:
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.repository = repository
        self.policy = policy or PUBLISH_POLICY
        self.session = session or requests.Session()
        self.log = log
        self.timeout = timeout
        self.retrier = Retrier(self.policy, _classify, sleep=sleep, clock=clock, jitter=jitter,
                               report=lambda line: log(f"mlgate: {line}"))
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

        def send() -> Any:
            resp = self.session.request(method, url, json=json, params=params, timeout=self.timeout)
            if resp.status_code >= 400:
                raise _Answered(resp)
            if resp.status_code == 204 or not resp.content:
                return None
            return resp.json()

        where = f"{method} {path}"
        attempts = self.policy.max_attempts
        try:
            return self.retrier.call(send, what=where, idempotent=idempotent, confirm=recover)
        except _Answered as exc:
            status, said = exc.resp.status_code, f"HTTP {exc.resp.status_code}: {_message(exc.resp)}"
            if status >= 500:  # retried until the attempts ran out
                raise GitHubError(f"{where} failed after {attempts} attempts: {said}", status, method, path) from None
            if write and status in (403, 404):
                raise NoWriteAccess(f"{where}: {said}", status, method, path) from None
            raise GitHubError(f"{where}: {said}", status, method, path) from None
        except RateLimitedError as exc:
            answer = exc.__cause__.resp if isinstance(exc.__cause__, _Answered) else None
            status = answer.status_code if answer is not None else 0
            said = _message(answer) if answer is not None else ""
            if exc.attempts_spent:
                raise GitHubError(f"{where} failed after {attempts} attempts: rate limited (HTTP {status}): {said}",
                                  status, method, path) from None
            raise GitHubError(f"{where}: rate limited for {exc.wait:.0f} s more (over the "
                              f"{self.policy.max_total_wait:.0f} s we wait): {said}", status, method, path) from None
        except UncertainWriteError as exc:
            raise GitHubError(f"{where} failed and is not safe to repeat: {exc}", 0, method, path) from None
        except requests.RequestException as exc:
            raise GitHubError(f"{where} failed after {attempts} attempts: {type(exc).__name__}: {exc}", 0, method,
                              path) from None

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)
