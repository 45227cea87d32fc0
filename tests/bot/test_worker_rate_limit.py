"""A delivery or evaluation refused by GitHub's rate limit waits for the limit and is never given up:
GitHub did not act on it, so the attempt is not counted (bot/intake/worker.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from mlgate.bot.store.inbox import Inbox
from mlgate.retry import RateLimitedError
from tests.bot.test_worker import T0, FakeClock, StubDispatcher, make_worker, put


class RateLimited(StubDispatcher):
    """Raises GitHub's rate-limit refusal `limited` times for deliveries and evaluations."""

    def __init__(self, limited: int, wait: float) -> None:
        super().__init__()
        self.limited, self.limited_evaluations, self.wait = limited, limited, wait

    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[tuple[str, int]]:
        with self.lock:
            if self.limited > 0:
                self.limited -= 1
                raise RateLimitedError("GET /repos/octo/one/pulls/1", self.wait)
        return super().handle(event, payload, delivery_id)

    def evaluate(self, repo: str, number: int) -> None:
        with self.lock:
            if self.limited_evaluations > 0:
                self.limited_evaluations -= 1
                raise RateLimitedError("GET /repos/octo/one/pulls/1", self.wait)
        super().evaluate(repo, number)


def test_a_rate_limited_delivery_waits_for_the_reset_and_is_never_failed(store: Inbox) -> None:
    put(store, "d-0", number=4)
    dispatcher = RateLimited(limited=10, wait=600)  # more refusals than max_attempts (3)
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock)
    for _ in range(10):
        worker.run_pending()
        row = store.delivery("d-0")
        assert row.status == "pending" and row.attempts == 0
        assert row.next_attempt_at == clock.now + timedelta(seconds=600)  # the limit's wait, not the backoff
        clock.advance(600)
    worker.run_pending()
    assert store.delivery("d-0").status == "done"
    assert dispatcher.handled == ["d-0"]
    for _ in range(11):  # its evaluation is refused ten times too, and still happens
        clock.advance(600)
        worker.run_pending()
    worker.stop()
    assert dispatcher.evaluated == [("octo/one", 4)]
    assert clock.now > T0
