"""The worker: order per repository, parallel repositories, lease takeover, retries, coalescing,
resync, and several real worker processes sharing one PostgreSQL database."""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from mlgate.bot.intake.worker import Worker, WorkerConfig, backoff_delay, repository_changes
from mlgate.bot.store.inbox import Delivery, Inbox
from tests.bot.conftest import fresh_database
from tests.bot.test_worker_crash import (
    add_deliveries,
    assert_exactly_once_in_order,
    handled_rows,
    prepare,
    start_worker,
    stop_worker,
)
from tests.conftest import wait_until

T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class StubDispatcher:
    """Records calls; `handle` returns the PR named in the payload, if any."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.handled: list[str] = []
        self.by_repo: dict[str, list[str]] = defaultdict(list)
        self.evaluated: list[tuple[str, int]] = []
        self.resynced: list[str] = []
        self.resync_result: dict[str, set[tuple[str, int]]] = {}
        self.fail: dict[str, int] = {}  # delivery id -> failures still to raise
        self.fail_evaluations = 0
        self.active: dict[str, int] = defaultdict(int)
        self.max_active_per_repo = 0
        self.max_sleep = 0.0

    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[tuple[str, int]]:
        repo = (payload.get("repository") or {}).get("full_name", "")
        with self.lock:
            self.active[repo] += 1
            self.max_active_per_repo = max(self.max_active_per_repo, self.active[repo])
        try:
            if self.max_sleep:
                time.sleep(random.uniform(0, self.max_sleep))
            with self.lock:
                if self.fail.get(delivery_id, 0) > 0:
                    self.fail[delivery_id] -= 1
                    raise RuntimeError(f"GitHub said 502 for {delivery_id}")
                self.handled.append(delivery_id)
                self.by_repo[repo].append(delivery_id)
            number = payload.get("number")
            return {(repo, number)} if isinstance(number, int) else set()
        finally:
            with self.lock:
                self.active[repo] -= 1

    def evaluate(self, repo: str, number: int) -> None:
        with self.lock:
            if self.fail_evaluations > 0:
                self.fail_evaluations -= 1
                raise RuntimeError("rate limited")
            self.evaluated.append((repo, number))

    def resync(self, repo: str) -> set[tuple[str, int]]:
        with self.lock:
            self.resynced.append(repo)
        return self.resync_result.get(repo, set())


def put(store: Inbox, delivery_id: str, repo: str = "octo/one", number: int | None = 1, event: str = "check_run",
        now: datetime = T0) -> None:
    payload: dict[str, Any] = {"action": "completed", "repository": {"full_name": repo}, "installation": {"id": 5}}
    if number is not None:
        payload["number"] = number
    assert store.add_delivery(Delivery(delivery_id, event, "completed", repo, 5, payload), now)


def make_worker(store: Inbox, dispatcher: StubDispatcher, clock: FakeClock | None = None, **config: Any) -> Worker:
    settings = {"threads": 4, "lease_seconds": 30, "max_attempts": 3, "retry_backoff_seconds": 1,
                "retry_backoff_max_seconds": 60, "debounce_seconds": 2, "debounce_max_seconds": 10,
                "poll_interval_seconds": 0.02, **config}
    return Worker(store, dispatcher, WorkerConfig(**settings), owner="test-worker",
                  **({"clock": clock} if clock else {}))


# ---------------------------------------------------------------------------------- pure parts


def test_backoff_doubles_up_to_the_cap() -> None:
    assert [backoff_delay(n, 1.0, 10.0) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_repository_changes_follow_installation_events() -> None:
    inst = {"id": 9}
    push = {"repository": {"full_name": "o/r"}, "installation": inst}
    assert repository_changes("push", push) == ({("o/r", 9)}, set())
    created = {"action": "created", "installation": inst, "repositories": [{"full_name": "o/a"}, {"full_name": "o/b"}]}
    assert repository_changes("installation", created) == ({("o/a", 9), ("o/b", 9)}, set())
    deleted = {**created, "action": "deleted"}
    assert repository_changes("installation", deleted) == (set(), {"o/a", "o/b"})
    changed = {"action": "added", "installation": inst, "repositories_added": [{"full_name": "o/c"}],
               "repositories_removed": [{"full_name": "o/a"}, {"bad": 1}]}
    assert repository_changes("installation_repositories", changed) == ({("o/c", 9)}, {"o/a"})
    assert repository_changes("ping", {"zen": "x"}) == (set(), set())


# ---------------------------------------------------------------------------------- order and parallelism


def test_each_repository_in_received_order_never_two_at_once(store: Inbox) -> None:
    repos = [f"octo/r{i}" for i in range(6)]
    order = [repo for repo in repos for _ in range(15)]
    random.Random(4).shuffle(order)
    expected: dict[str, list[str]] = defaultdict(list)
    for i, repo in enumerate(order):
        put(store, f"d-{i:03d}", repo=repo)
        expected[repo].append(f"d-{i:03d}")
    dispatcher = StubDispatcher()
    dispatcher.max_sleep = 0.003
    worker = make_worker(store, dispatcher)
    worker.run_pending()
    worker.stop()
    assert dict(dispatcher.by_repo) == dict(expected)
    assert dispatcher.max_active_per_repo == 1
    assert store.counts() == {"done": len(order)}


def test_different_repositories_run_in_parallel(store: Inbox) -> None:
    put(store, "a-1", repo="octo/a")
    put(store, "b-1", repo="octo/b")
    b_started = threading.Event()
    both_ran: list[bool] = []

    class Rendezvous(StubDispatcher):
        def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[tuple[str, int]]:
            if delivery_id == "b-1":
                b_started.set()
            else:  # a-1 can only finish if b-1 runs at the same time
                both_ran.append(b_started.wait(10))
            return super().handle(event, payload, delivery_id)

    worker = make_worker(store, Rendezvous(), threads=2)
    worker.run_pending()
    worker.stop()
    assert both_ran == [True]
    assert store.counts() == {"done": 2}


def test_background_worker_handles_new_deliveries_as_they_arrive(store: Inbox) -> None:
    dispatcher = StubDispatcher()
    dispatcher.max_sleep = 0.01  # slow enough that keys are often being drained when woken
    worker = make_worker(store, dispatcher, debounce_seconds=0.05, debounce_max_seconds=0.2,
                         poll_interval_seconds=3)  # deliveries must be handled on wake-ups, not polls
    worker.start()
    try:
        for i in range(30):
            repo = f"octo/r{i % 3}"
            put(store, f"live-{i:02d}", repo=repo, number=i % 2 + 1, now=datetime.now(timezone.utc))
            worker.wake(repo)  # as the web app does: a hint, no lost wake-up when the key is busy
        # Well within one poll interval: wake-ups alone must have got every delivery handled.
        assert wait_until(lambda: store.counts() == {"done": 30}, 2.5), store.counts()
        assert wait_until(lambda: store.evaluations() == [], 10)
    finally:
        worker.stop()
    for repo in ("octo/r0", "octo/r1", "octo/r2"):
        assert dispatcher.by_repo[repo] == sorted(dispatcher.by_repo[repo])
    assert {repo for repo, _ in dispatcher.evaluated} == {"octo/r0", "octo/r1", "octo/r2"}
    assert sorted(store.known_repositories()) == ["octo/r0", "octo/r1", "octo/r2"]


# ---------------------------------------------------------------------------------- crashes and failures


def test_a_crashed_workers_delivery_is_taken_over_after_its_lease(store: Inbox) -> None:
    put(store, "d-0")
    put(store, "d-1")
    lease = timedelta(seconds=30)
    store.acquire_keys(["octo/one"], "crashed", T0, lease)
    assert store.claim_next_delivery("octo/one", "crashed", T0, lease, 3).delivery_id == "d-0"
    dispatcher = StubDispatcher()
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock)
    clock.advance(29)
    assert worker.run_pending() == 0
    assert dispatcher.handled == []
    clock.advance(2)
    worker.run_pending()
    worker.stop()
    assert dispatcher.handled == ["d-0", "d-1"]
    assert store.delivery("d-0").attempts == 2
    assert store.delivery("d-1").attempts == 1


def test_failures_retry_with_backoff_and_hold_back_later_deliveries(store: Inbox) -> None:
    put(store, "d-0")
    put(store, "d-1")
    dispatcher = StubDispatcher()
    dispatcher.fail["d-0"] = 2
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock)
    worker.run_pending()
    row = store.delivery("d-0")
    assert (row.status, row.attempts, row.next_attempt_at) == ("pending", 1, T0 + timedelta(seconds=1))
    assert row.last_error == "RuntimeError: GitHub said 502 for d-0"
    assert dispatcher.handled == []  # d-1 waits behind d-0
    clock.advance(1)
    worker.run_pending()
    assert store.delivery("d-0").next_attempt_at == T0 + timedelta(seconds=3)  # 1 s later + 2 s
    clock.advance(1.9)
    worker.run_pending()
    assert dispatcher.handled == []
    clock.advance(0.1)
    worker.run_pending()
    worker.stop()
    assert dispatcher.handled == ["d-0", "d-1"]
    assert store.delivery("d-0").attempts == 3 and store.delivery("d-0").status == "done"


def test_after_max_attempts_a_delivery_is_failed_with_its_error_and_the_queue_moves_on(store: Inbox) -> None:
    put(store, "d-0")
    put(store, "d-1")
    dispatcher = StubDispatcher()
    dispatcher.fail["d-0"] = 99
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock)
    for _ in range(5):
        worker.run_pending()
        clock.advance(10)
    worker.stop()
    row = store.delivery("d-0")
    assert (row.status, row.attempts, row.last_error) == ("failed", 3, "RuntimeError: GitHub said 502 for d-0")
    assert dispatcher.handled == ["d-1"]


def test_a_handler_returning_the_wrong_shape_is_a_failure_not_a_crash(store: Inbox) -> None:
    put(store, "d-0")

    class Wrong(StubDispatcher):
        def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> Any:
            return {("octo/one", "7")}

    worker = make_worker(store, Wrong(), FakeClock())
    worker.run_pending()
    worker.stop()
    assert "Dispatcher.handle must return a set of (repo, number) tuples" in store.delivery("d-0").last_error


# ---------------------------------------------------------------------------------- coalescing and resync


def test_twenty_check_runs_within_seconds_give_one_evaluation(store: Inbox) -> None:
    dispatcher = StubDispatcher()
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock)
    for i in range(20):
        put(store, f"cr-{i}", number=7, now=clock())
        worker.run_pending()
        clock.advance(0.25)  # twenty check runs over five seconds
    assert len(dispatcher.handled) == 20
    assert dispatcher.evaluated == []  # the burst is still going on (debounce 2 s)
    clock.advance(1.0)
    worker.run_pending()
    assert dispatcher.evaluated == []
    clock.advance(1.0)
    worker.run_pending()
    assert dispatcher.evaluated == [("octo/one", 7)]
    clock.advance(60)
    worker.run_pending()
    worker.stop()
    assert dispatcher.evaluated == [("octo/one", 7)]
    assert store.evaluations() == []


def test_a_never_ending_stream_still_evaluates_by_the_max_wait(store: Inbox) -> None:
    dispatcher = StubDispatcher()
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock, debounce_max_seconds=5)
    evaluated_at = []
    for i in range(12):
        put(store, f"s-{i}", number=3, now=clock())
        worker.run_pending()
        if dispatcher.evaluated and not evaluated_at:
            evaluated_at.append(clock() - T0)
        clock.advance(1)
    worker.stop()
    assert evaluated_at == [timedelta(seconds=5)]
    assert len(dispatcher.evaluated) == 2  # t=5 and t=11: one per max-wait window


def test_failed_evaluations_are_retried(store: Inbox) -> None:
    dispatcher = StubDispatcher()
    dispatcher.fail_evaluations = 1
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock)
    put(store, "d-0", number=4)
    worker.run_pending()
    clock.advance(2)
    worker.run_pending()
    assert dispatcher.evaluated == []
    (row,) = store.evaluations()
    assert row.attempts == 1 and row.last_error == "RuntimeError: rate limited"
    clock.advance(1)
    worker.run_pending()
    worker.stop()
    assert dispatcher.evaluated == [("octo/one", 4)]


def test_resync_calls_the_dispatcher_per_known_repository_and_queues_what_it_returns(store: Inbox) -> None:
    store.add_repositories([("octo/a", 1), ("octo/b", 1)], T0)
    dispatcher = StubDispatcher()
    dispatcher.resync_result = {"octo/a": {("octo/a", 1), ("octo/a", 2)}}
    clock = FakeClock()
    worker = make_worker(store, dispatcher, clock, resync_interval_seconds=600)
    clock.advance(600)
    assert store.mark_resync_due(clock(), timedelta(seconds=600)) == 2
    worker.run_pending()
    assert sorted(dispatcher.resynced) == ["octo/a", "octo/b"]
    clock.advance(2)
    worker.run_pending()
    worker.stop()
    assert sorted(dispatcher.evaluated) == [("octo/a", 1), ("octo/a", 2)]


def test_the_background_loop_triggers_the_periodic_resync(store: Inbox) -> None:
    long_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    store.add_repositories([("octo/a", 1)], long_ago)
    dispatcher = StubDispatcher()
    worker = make_worker(store, dispatcher, resync_interval_seconds=60)
    worker.start()
    try:
        assert wait_until(lambda: dispatcher.resynced == ["octo/a"], 10)
    finally:
        worker.stop()


# ---------------------------------------------------------------------------------- several processes


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.postgres
def test_several_worker_processes_on_postgres_handle_each_delivery_once_in_order(tmp_path: Path) -> None:
    with fresh_database("postgres", tmp_path) as url:
        store = prepare(url)
        repos = [f"multi/r{i}" for i in range(8)]
        received = add_deliveries(store, repos, per_repo=20, seed=7)
        log = tmp_path / "workers.log"
        procs = [start_worker(url, tmp_path, log, MLGATE_TEST_SLEEP_MS="6", MLGATE_LEASE_SECONDS="10")
                 for _ in range(3)]
        try:
            # More deliveries while the workers run.
            received += add_deliveries(store, [f"multi/s{i}" for i in range(4)], per_repo=10, seed=8)
            total = len(received)
            assert wait_until(lambda: store.counts() == {"done": total}, 120), (store.counts(), log.read_text())
        finally:
            for proc in procs:
                stop_worker(proc)
        assert_exactly_once_in_order(store, received)
        pids = {row[3] for row in handled_rows(store)}
        assert len(pids) >= 2, f"only {pids} did any work"
        assert "Traceback" not in log.read_text()
        store.close()


# ---------------------------------------------------------------------------------- retention


def test_the_background_loop_purges_old_done_deliveries_and_nothing_else(store: Inbox) -> None:
    long_ago = datetime.now(timezone.utc) - timedelta(days=20)
    for i in range(7):
        put(store, f"old-{i}", repo=f"octo/r{i}", now=long_ago)
    old_worker = make_worker(store, StubDispatcher(), FakeClock(long_ago))
    assert old_worker.run_pending() == 7  # handled (done) 20 days ago
    old_worker.stop()
    put(store, "fails", repo="octo/bad", now=long_ago)
    failing = StubDispatcher()
    failing.fail["fails"] = 99
    old_worker = make_worker(store, failing, FakeClock(long_ago), max_attempts=1)
    old_worker.run_pending()
    old_worker.stop()
    assert store.counts() == {"done": 7, "failed": 1}

    dispatcher = StubDispatcher()
    worker = make_worker(store, dispatcher, retention_seconds=14 * 86400, purge_batch_size=3)
    put(store, "fresh", repo="octo/new")
    worker.start()
    try:
        assert wait_until(lambda: store.counts() == {"done": 1, "failed": 1}, 10), store.counts()
    finally:
        worker.stop()
    assert {row.delivery_id for row in store.deliveries()} == {"fresh", "fails"}
    assert dispatcher.handled == ["fresh"]


def test_retention_is_14_days_by_default_and_never_shorter_than_githubs_redelivery_window() -> None:
    from mlgate.bot.settings import SettingsError, load_settings

    env = {"MLGATE_WEBHOOK_SECRET": "s"}
    assert WorkerConfig.from_settings(load_settings(env, require_github=False)).retention_seconds == 14 * 86400
    week = load_settings({**env, "MLGATE_RETENTION_DAYS": "7"}, require_github=False)
    assert WorkerConfig.from_settings(week).retention_seconds == 7 * 86400
    with pytest.raises(SettingsError, match="MLGATE_RETENTION_DAYS must be at least 3"):
        load_settings({**env, "MLGATE_RETENTION_DAYS": "1"}, require_github=False)
