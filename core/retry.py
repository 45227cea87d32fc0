"""When to retry a GitHub call, how long to wait, and when a write's fate is unknown: one policy for mlgate.

The policy is a pure function (`plan`) over a plain `Failure`, so every rule is table-tested
without HTTP; `Retrier` applies it with an injected clock, sleep and jitter. It imports neither
PyGithub nor the bot: the bot's client (`bot/github/client.py`, `bot/github/auth.py`) and the
actions' publishing client (`checks/publish/rest.py`) translate their exceptions into a `Failure`
and differ only in their `RetryPolicy`.

The rules (GitHub's REST guidance on rate limits and server errors):

* A rate-limit refusal (403/429 with ``Retry-After``, with ``X-RateLimit-Remaining: 0``, or with
  the secondary-rate-limit message) is retried for every method, writes included: GitHub refused
  the request before acting on it. ``Retry-After`` wins; else wait until ``X-RateLimit-Reset``;
  else (a secondary limit without headers) at least a minute, doubling on repeats.
* A 5xx answer or a connection failure is retried with exponential backoff for idempotent calls
  (a ``Retry-After`` header, when GitHub sends one, wins over the backoff).
  For a non-idempotent call (POST creating a comment or a check run) it is *ambiguous*: GitHub may
  have applied it. The call is never re-sent blindly; the caller may pass ``confirm`` which looks
  for the created object, and if that finds nothing `UncertainWriteError` is raised, or, with
  ``RetryPolicy.resend_unconfirmed`` (a write whose object would be found next time, such as a
  check run with a unique ``external_id``), the call is sent again.
  Only a connection that provably never reached GitHub (connect error/timeout) is re-sent at once.
* Everything else (4xx) is final.
* The total time slept for one call is capped (``max_total_wait``); a rate limit that would need a
  longer wait raises `RateLimitedError` with the time to come back, so the worker can defer the
  job instead of blocking a thread for up to an hour.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import requests

log = logging.getLogger(__name__)

T = TypeVar("T")

# 403 messages of a rate-limit refusal: "API rate limit exceeded …", "You have exceeded a secondary rate limit …"
_RATE_LIMIT_MESSAGES = ("rate limit", "abuse detection")


class ForgeError(Exception):
    """Base of the errors the GitHub client raises on purpose."""


class RateLimitedError(ForgeError):
    """GitHub asks us to wait longer than the retry budget allows (or the attempts ran out); try again
    after `wait` seconds."""

    def __init__(self, what: str, wait: float, *, attempts_spent: bool = False) -> None:
        why = "no attempts left" if attempts_spent else "longer than the retry budget"
        super().__init__(f"{what}: GitHub rate limit; retry in {wait:.0f} s ({why})")
        self.wait = wait
        self.attempts_spent = attempts_spent


class UncertainWriteError(ForgeError):
    """A non-idempotent write failed in a way that leaves open whether GitHub applied it.

    It was not re-sent (that could duplicate a comment or check run) and, when a `confirm` lookup
    was possible, the object was not found. Re-run the action later: the report comment is found
    again by its marker, so a later attempt cannot duplicate it.
    """


@dataclass(frozen=True)
class Failure:
    """What went wrong with one HTTP attempt, in plain data."""

    status: int | None  # None: no HTTP response arrived
    headers: Mapping[str, str] = field(default_factory=dict)
    message: str = ""
    sent: bool = True  # False only when the request provably never reached GitHub

    def header(self, name: str) -> str | None:
        lname = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lname:
                return str(value)
        return None


@dataclass(frozen=True)
class RetryPolicy:
    """Knobs of the retry rules; defaults suit a webhook worker (a job may take a few minutes)."""

    max_attempts: int = 6  # attempts in total, the first included
    max_total_wait: float = 180.0  # seconds slept across all attempts of one call
    backoff_initial: float = 1.0  # first wait after a 5xx or connection error, doubled each time
    backoff_max: float = 30.0
    secondary_wait: float = 60.0  # a secondary limit without headers: "wait at least one minute"
    reset_margin: float = 1.0  # added to X-RateLimit-Reset: the reset second itself may still be limited
    resend_unconfirmed: bool = False  # send an ambiguous write again when `confirm` found no trace of it


@dataclass(frozen=True)
class RetryDecision:
    """`wait` seconds then retry; or give up. `ambiguous`: a write may have been applied."""

    retry: bool
    wait: float = 0.0
    reason: str = ""
    rate_limited: bool = False
    ambiguous: bool = False


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        return float(text.strip())
    except ValueError:
        return None


def is_rate_limited(failure: Failure) -> bool:
    if failure.status not in (403, 429):
        return False
    if failure.header("Retry-After") is not None or failure.header("X-RateLimit-Remaining") == "0":
        return True
    message = failure.message.lower()
    return failure.status == 429 or any(m in message for m in _RATE_LIMIT_MESSAGES)


def _rate_limit_wait(policy: RetryPolicy, failure: Failure, attempt: int, now: float) -> float:
    retry_after = _number(failure.header("Retry-After"))
    if retry_after is not None:
        return max(retry_after, 0.0)
    if failure.header("X-RateLimit-Remaining") == "0":
        reset = _number(failure.header("X-RateLimit-Reset"))
        if reset is not None:
            return max(reset - now, 0.0) + policy.reset_margin
    return policy.secondary_wait * 2 ** (attempt - 1)


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    return min(policy.backoff_initial * 2 ** (attempt - 1), policy.backoff_max)


def plan(
    policy: RetryPolicy, failure: Failure, *, attempt: int, waited: float, now: float, idempotent: bool,
    jitter: float = 0.0,
) -> RetryDecision:
    """Decide what to do after attempt number `attempt` (1-based) failed with `failure`.

    `waited` is the time already slept for this call; `now` is the Unix time (for X-RateLimit-Reset);
    `jitter` is added to a backoff wait (never to a wait GitHub asked for).
    """
    if is_rate_limited(failure):
        wait = _rate_limit_wait(policy, failure, attempt, now)
        reason = f"rate limited (HTTP {failure.status})"
        if attempt >= policy.max_attempts:
            return RetryDecision(False, wait, reason + "; attempts spent", rate_limited=True)
        if waited + wait > policy.max_total_wait:
            return RetryDecision(False, wait, reason, rate_limited=True)
        return RetryDecision(True, wait, reason, rate_limited=True)
    if failure.status is None:
        reason = "connection failed" if failure.sent else "connection failed before the request was sent"
    elif failure.status >= 500:
        reason = f"server error (HTTP {failure.status})"
    else:
        return RetryDecision(False, 0.0, f"HTTP {failure.status} is final")
    if not idempotent and failure.sent:
        return RetryDecision(False, 0.0, reason + " on a non-idempotent call", ambiguous=True)
    asked = _number(failure.header("Retry-After"))
    wait = max(asked, 0.0) if asked is not None else _backoff(policy, attempt) + jitter
    if attempt >= policy.max_attempts or waited + wait > policy.max_total_wait:
        return RetryDecision(False, wait, reason + "; retry budget spent")
    return RetryDecision(True, wait, reason)


def classify_requests_error(exc: BaseException) -> Failure | None:
    """A `Failure` for a requests transport error (None for anything else)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return Failure(None, sent=False)
    if isinstance(exc, requests.exceptions.ConnectionError):
        reason = exc.args[0] if exc.args else None
        inner = getattr(reason, "reason", reason)
        name = type(inner).__name__
        sent = name not in ("NewConnectionError", "NameResolutionError", "ConnectTimeoutError")
        return Failure(None, sent=sent)
    if isinstance(exc, (requests.exceptions.Timeout, requests.exceptions.ChunkedEncodingError)):
        return Failure(None, sent=True)
    return None


class Retrier:
    """Runs a callable under `RetryPolicy`, translating exceptions with `classify`.

    `sleep`, `clock` and `jitter` (seconds added to each backoff wait) are injected so tests assert
    the exact waits without waiting; `report` receives one line per retry (default: this module's
    logger; the actions print theirs to the job log).
    """

    def __init__(
        self,
        policy: RetryPolicy,
        classify: Callable[[BaseException], Failure | None],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] = lambda: 0.0,
        report: Callable[[str], None] | None = None,
    ) -> None:
        self.policy = policy
        self.classify = classify
        self.sleep = sleep
        self.clock = clock
        self.jitter = jitter
        self.report = report

    def call(
        self,
        fn: Callable[[], T],
        *,
        what: str,
        idempotent: bool,
        confirm: Callable[[], T | None] | None = None,
    ) -> T:
        """Run `fn`; on an ambiguous write failure run `confirm` (idempotent) instead of re-sending."""
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:
                failure = self.classify(exc)
                if failure is None:
                    raise
                decision = plan(self.policy, failure, attempt=attempt, waited=waited, now=self.clock(),
                                idempotent=idempotent, jitter=self.jitter())
                if decision.retry:
                    self._note(logging.WARNING,
                               f"{what}: {decision.reason}; retrying in {decision.wait:.1f} s (attempt {attempt})")
                    self.sleep(decision.wait)
                    waited += decision.wait
                    continue
                if decision.rate_limited:
                    raise RateLimitedError(what, decision.wait,
                                           attempts_spent=attempt >= self.policy.max_attempts) from exc
                if not decision.ambiguous:
                    raise
                if confirm is None:
                    raise UncertainWriteError(f"{what}: {decision.reason}; not re-sent, outcome unknown") from exc
                self._note(logging.WARNING, f"{what}: {decision.reason}; checking whether it was applied instead "
                                            "of re-sending")
                self.sleep(self.policy.backoff_initial)
                waited += self.policy.backoff_initial
                found = self.call(confirm, what=f"{what} (confirm)", idempotent=True)
                if found is not None:
                    self._note(logging.INFO, f"{what}: the write had been applied despite the error")
                    return found
                if not self.policy.resend_unconfirmed or attempt >= self.policy.max_attempts:
                    raise UncertainWriteError(
                        f"{what}: {decision.reason}; not re-sent, and no trace of it was found (it may still appear)"
                    ) from exc
                self._note(logging.WARNING, f"{what}: no trace of it was found; sending it again (attempt {attempt})")

    def _note(self, level: int, line: str) -> None:
        if self.report is not None:
            self.report(line)
        else:
            log.log(level, "%s", line)


class Spacer:
    """Keeps at least `interval` seconds between calls to `wait`, across threads.

    GitHub asks integrations to leave at least one second between content-creating writes of one
    installation to stay clear of the secondary rate limits. One Spacer is shared by every forge of
    an installation (PyGithub's own throttle is per client object and sleeps with `time.sleep`).
    """

    def __init__(
        self,
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._last: float | None = None

    def wait(self) -> None:
        if self.interval <= 0:
            return
        with self._lock:
            now = self._clock()
            if self._last is not None and now < self._last + self.interval:
                self._sleep(self._last + self.interval - now)
                now = max(self._clock(), self._last + self.interval)
            self._last = now
