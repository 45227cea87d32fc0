"""The retry policy as a table, the Retrier with an injected sleep, and write spacing."""

from __future__ import annotations

import threading

import pytest
import requests
import urllib3

from mlgate.retry import (
    Failure,
    RateLimitedError,
    Retrier,
    RetryPolicy,
    Spacer,
    UncertainWriteError,
    classify_requests_error,
    plan,
)

NOW = 1_000_000.0
POLICY = RetryPolicy()
SECONDARY = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."


@pytest.mark.parametrize(
    ("failure", "idempotent", "attempt", "retry", "wait"),
    [
        # 5xx: backoff for idempotent calls, doubling, capped
        (Failure(502), True, 1, True, 1.0),
        (Failure(503), True, 3, True, 4.0),
        (Failure(500), True, 5, True, 16.0),
        (Failure(502), True, 6, False, 30.0),  # attempts spent
        # a non-idempotent call is never re-sent after a 5xx or a dropped connection
        (Failure(502), False, 1, False, 0.0),
        (Failure(None, sent=True), False, 1, False, 0.0),
        # ... unless the request provably never left
        (Failure(None, sent=False), False, 1, True, 1.0),
        (Failure(None, sent=True), True, 2, True, 2.0),
        # primary rate limit: until X-RateLimit-Reset, plus a second
        (Failure(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 30)}), False, 1, True, 31.0),
        (Failure(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW) - 5)}), True, 1, True, 1.0),
        # secondary: Retry-After wins over everything; writes too (GitHub refused before acting)
        (Failure(403, {"Retry-After": "12", "X-RateLimit-Remaining": "0"}, SECONDARY), False, 1, True, 12.0),
        (Failure(429, {"Retry-After": "0"}), True, 1, True, 0.0),
        # secondary without headers: a minute, doubling
        (Failure(403, {}, SECONDARY), True, 1, True, 60.0),
        (Failure(403, {}, SECONDARY), True, 2, True, 120.0),
        (Failure(403, {}, SECONDARY), True, 3, False, 240.0),  # beyond the 180 s budget
        # a 5xx with Retry-After: GitHub's wait wins over the backoff
        (Failure(503, {"Retry-After": "7"}), True, 1, True, 7.0),
        # the primary limit's message alone (no headers) is a rate limit too
        (Failure(403, {}, "API rate limit exceeded for installation ID 1."), False, 1, True, 60.0),
        # final answers
        (Failure(403, {}, "Resource not accessible by integration"), True, 1, False, 0.0),
        (Failure(404, {}, "Not Found"), True, 1, False, 0.0),
        (Failure(422, {}, "Validation Failed"), True, 1, False, 0.0),
        (Failure(401, {}, "Bad credentials"), True, 1, False, 0.0),
    ],
)
def test_plan(failure, idempotent, attempt, retry, wait):
    decision = plan(POLICY, failure, attempt=attempt, waited=0.0, now=NOW, idempotent=idempotent)
    assert (decision.retry, decision.wait) == (retry, wait), decision.reason


def test_plan_flags_ambiguous_writes_and_rate_limits():
    assert plan(POLICY, Failure(502), attempt=1, waited=0, now=NOW, idempotent=False).ambiguous
    assert not plan(POLICY, Failure(422), attempt=1, waited=0, now=NOW, idempotent=False).ambiguous
    limited = plan(POLICY, Failure(429, {"Retry-After": "5"}), attempt=1, waited=0, now=NOW, idempotent=False)
    assert limited.rate_limited and not limited.ambiguous


def test_plan_respects_the_total_wait_budget():
    decision = plan(POLICY, Failure(502), attempt=2, waited=179.0, now=NOW, idempotent=True)
    assert not decision.retry and "budget" in decision.reason


class Boom(Exception):
    def __init__(self, failure: Failure) -> None:
        self.failure = failure


def classify(exc: BaseException) -> Failure | None:
    return exc.failure if isinstance(exc, Boom) else None


def scripted(*outcomes):
    """A callable that raises or returns the outcomes in order, counting calls."""
    state = {"calls": 0}

    def fn():
        outcome = outcomes[state["calls"]]
        state["calls"] += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    fn.state = state
    return fn


def retrier(sleeps: list[float], **policy) -> Retrier:
    return Retrier(RetryPolicy(**policy), classify, sleep=sleeps.append, clock=lambda: NOW)


def test_retrier_retries_and_sleeps_the_planned_waits():
    sleeps: list[float] = []
    fn = scripted(Boom(Failure(502)), Boom(Failure(429, {"Retry-After": "9"})), "ok")
    assert retrier(sleeps).call(fn, what="x", idempotent=True) == "ok"
    assert sleeps == [1.0, 9.0] and fn.state["calls"] == 3


def test_retrier_reraises_unclassified_and_final_errors_untouched():
    sleeps: list[float] = []
    with pytest.raises(KeyError):
        retrier(sleeps).call(scripted(KeyError("k")), what="x", idempotent=True)
    final = Boom(Failure(404))
    with pytest.raises(Boom) as info:
        retrier(sleeps).call(scripted(final), what="x", idempotent=True)
    assert info.value is final and sleeps == []


def test_rate_limit_beyond_budget_raises_rate_limited_with_the_wait():
    sleeps: list[float] = []
    fn = scripted(Boom(Failure(403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 600)})))
    with pytest.raises(RateLimitedError, match="retry in 601 s") as info:
        retrier(sleeps).call(fn, what="list PRs", idempotent=True)
    assert info.value.wait == 601.0 and sleeps == []


def test_ambiguous_write_is_confirmed_not_resent():
    sleeps: list[float] = []
    post = scripted(Boom(Failure(502)), 99)
    confirm = scripted(None)
    with pytest.raises(UncertainWriteError, match="not re-sent"):
        retrier(sleeps).call(post, what="post", idempotent=False, confirm=confirm)
    assert post.state["calls"] == 1 and confirm.state["calls"] == 1

    found = scripted(41)
    assert retrier(sleeps).call(scripted(Boom(Failure(None))), what="post", idempotent=False, confirm=found) == 41

    with pytest.raises(UncertainWriteError, match="outcome unknown"):
        retrier(sleeps).call(scripted(Boom(Failure(504))), what="post", idempotent=False)


def test_confirm_lookup_is_itself_retried():
    sleeps: list[float] = []
    confirm = scripted(Boom(Failure(503)), 7)
    result = retrier(sleeps).call(scripted(Boom(Failure(502))), what="post", idempotent=False, confirm=confirm)
    assert result == 7 and sleeps == [1.0, 1.0]  # pause before the lookup, then the lookup's own backoff


def test_backoff_gets_the_jitter_and_a_rate_limit_wait_does_not():
    sleeps: list[float] = []
    fn = scripted(Boom(Failure(502)), Boom(Failure(429, {"Retry-After": "9"})), "ok")
    jittery = Retrier(RetryPolicy(), classify, sleep=sleeps.append, clock=lambda: NOW, jitter=lambda: 0.25)
    assert jittery.call(fn, what="x", idempotent=True) == "ok"
    assert sleeps == [1.25, 9.0]


def test_rate_limit_with_no_attempts_left_says_so():
    sleeps: list[float] = []
    fn = scripted(Boom(Failure(429, {"Retry-After": "1"})), Boom(Failure(429, {"Retry-After": "1"})))
    with pytest.raises(RateLimitedError, match="no attempts left") as info:
        retrier(sleeps, max_attempts=2).call(fn, what="x", idempotent=True)
    assert info.value.attempts_spent and sleeps == [1.0]


def test_resend_unconfirmed_sends_a_write_again_only_when_its_lookup_found_nothing():
    sleeps: list[float] = []
    post = scripted(Boom(Failure(502)), 99)
    confirm = scripted(None)
    assert retrier(sleeps, resend_unconfirmed=True).call(post, what="post", idempotent=False, confirm=confirm) == 99
    assert post.state["calls"] == 2 and confirm.state["calls"] == 1 and sleeps == [1.0]
    # found: never sent again
    post, found = scripted(Boom(Failure(502)), 99), scripted(7)
    assert retrier([], resend_unconfirmed=True).call(post, what="post", idempotent=False, confirm=found) == 7
    assert post.state["calls"] == 1
    # no way to look: unknown, not re-sent
    with pytest.raises(UncertainWriteError, match="outcome unknown"):
        retrier([], resend_unconfirmed=True).call(scripted(Boom(Failure(502))), what="post", idempotent=False)
    # the attempts run out: unknown
    post = scripted(Boom(Failure(502)), Boom(Failure(502)))
    with pytest.raises(UncertainWriteError, match="no trace"):
        retrier([], resend_unconfirmed=True, max_attempts=2).call(post, what="post", idempotent=False,
                                                                    confirm=scripted(None, None))
    assert post.state["calls"] == 2


def test_retries_go_to_the_report_when_one_is_given():
    lines: list[str] = []
    quiet = Retrier(RetryPolicy(), classify, sleep=lambda s: None, clock=lambda: NOW, report=lines.append)
    assert quiet.call(scripted(Boom(Failure(502)), "ok"), what="GET /x", idempotent=True) == "ok"
    assert lines == ["GET /x: server error (HTTP 502); retrying in 1.0 s (attempt 1)"]


def test_unsent_write_is_resent():
    sleeps: list[float] = []
    post = scripted(Boom(Failure(None, sent=False)), 5)
    assert retrier(sleeps).call(post, what="post", idempotent=False) == 5
    assert post.state["calls"] == 2


def test_classify_requests_errors():
    refused = requests.exceptions.ConnectionError(
        urllib3.exceptions.MaxRetryError(None, "/", urllib3.exceptions.NewConnectionError(None, "refused"))
    )
    assert classify_requests_error(refused) == Failure(None, sent=False)
    assert classify_requests_error(requests.exceptions.ConnectTimeout()) == Failure(None, sent=False)
    reset = requests.exceptions.ConnectionError(urllib3.exceptions.ProtocolError("Connection aborted."))
    assert classify_requests_error(reset) == Failure(None, sent=True)
    assert classify_requests_error(requests.exceptions.ReadTimeout()) == Failure(None, sent=True)
    assert classify_requests_error(ValueError()) is None


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def test_spacer_keeps_writes_a_second_apart():
    t = FakeTime()
    spacer = Spacer(1.0, clock=t.clock, sleep=t.sleep)
    spacer.wait()
    spacer.wait()
    t.now += 0.25
    spacer.wait()
    t.now += 5
    spacer.wait()
    assert t.sleeps == [1.0, 0.75]


def test_spacer_zero_interval_never_sleeps():
    t = FakeTime()
    spacer = Spacer(0, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        spacer.wait()
    assert t.sleeps == []


def test_spacer_serialises_threads():
    t = FakeTime()
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            t.sleep(seconds)

    spacer = Spacer(1.0, clock=t.clock, sleep=sleep)
    threads = [threading.Thread(target=spacer.wait) for _ in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert t.sleeps == [1.0] * 4 and t.now == 104.0
