"""The store against a real SQLite file and a real PostgreSQL database (`db_url` and `store` are
tests/bot/conftest.py's fixtures: each test runs on both)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from mlgate.bot.store.engine import MIGRATIONS_DIR, StoreError, WriteGate, create_store_engine, migrate
from mlgate.bot.store.inbox import Delivery, Inbox
from mlgate.bot.store.tables import metadata
from tests.conftest import wait_until

T0 = datetime(2026, 11, 27, 12, 0, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=30)


def delivery(
    delivery_id: str,
    repo: str | None = "octo/one",
    event: str = "pull_request",
    action: str | None = "opened",
    installation: int | None = 7,
    **payload: object,
) -> Delivery:
    body: dict = {"action": action} if action else {}
    if repo:
        body["repository"] = {"full_name": repo}
    if installation is not None:
        body["installation"] = {"id": installation}
    body.update(payload)
    return Delivery(delivery_id, event, action, repo, installation, body)


# ---------------------------------------------------------------------------------- schema


def test_migrations_create_exactly_the_model_schema(db_url: str) -> None:
    engine = create_store_engine(db_url)
    migrate(engine)

    def ours(name: str | None, type_: str, _parent: object) -> bool:
        # Other modules add tables of their own in later revisions; this test is about mlgate.bot.store.tables.
        return type_ != "table" or name in metadata.tables

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": ours})
        diff = compare_metadata(context, metadata)
        versions = set(conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars())
    engine.dispose()
    assert diff == []
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert versions == set(ScriptDirectory.from_config(config).get_heads())


def test_migrating_twice_and_concurrently_is_harmless(db_url: str) -> None:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            Inbox.open(db_url).close()
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = Inbox.open(db_url)
    assert s.ping()
    s.close()


def test_sqlite_file_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}", busy_timeout_ms=1234)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL: survives a process crash
    engine.dispose()
    store = Inbox.open(f"sqlite:///{tmp_path / 'y.sqlite3'}")
    with store.intake_engine.connect() as conn:  # deliveries: FULL, they also survive a power cut
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    store.close()


def test_bad_sqlite_locations_are_refused_clearly(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        create_store_engine(f"sqlite:///{tmp_path / 'missing' / 'x.sqlite3'}")
    with pytest.raises(StoreError, match="not memory"):
        create_store_engine("sqlite://")
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        create_store_engine("mysql://u@h/db")


def test_ping_fails_when_the_schema_is_gone(store: Inbox) -> None:
    assert store.ping()
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE key_locks"))
    assert not store.ping()


# ---------------------------------------------------------------------------------- intake


def test_add_delivery_stores_fields_and_deduplicates(store: Inbox) -> None:
    assert store.add_delivery(delivery("d-1", title="naïve ✓ \u0000 <b>"), T0) is True
    assert store.add_delivery(delivery("d-1", title="other"), T0 + timedelta(seconds=1)) is False
    rows = store.deliveries()
    assert len(rows) == 1
    row = rows[0]
    assert (row.delivery_id, row.event, row.action, row.repo, row.installation_id, row.serial_key) == (
        "d-1",
        "pull_request",
        "opened",
        "octo/one",
        7,
        "octo/one",
    )
    assert (row.status, row.attempts, row.received_at) == ("pending", 0, T0)
    assert row.received_at.tzinfo is not None
    assert store.delivery_payload("d-1")["title"] == "naïve ✓ \u0000 <b>"


def test_deliveries_without_a_repository_get_their_own_lane(store: Inbox) -> None:
    store.add_delivery(delivery("i-1", repo=None, event="installation", action="created", installation=99), T0)
    store.add_delivery(delivery("g-1", repo=None, event="ping", action=None, installation=None), T0)
    keys = {row.delivery_id: row.serial_key for row in store.deliveries()}
    assert keys == {"i-1": "installation:99", "g-1": "global"}


def test_naive_datetimes_are_refused(store: Inbox) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        store.add_delivery(delivery("d-1"), datetime(2026, 1, 1))
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        store.request_evaluations([("octo/one", 1)], datetime(2026, 1, 1))


# ---------------------------------------------------------------------------------- key locks


def test_a_key_lock_is_exclusive_until_released_or_expired(store: Inbox) -> None:
    assert store.acquire_keys(["octo/one", "octo/two"], "a", T0, LEASE) == ["octo/one", "octo/two"]
    assert store.acquire_keys(["octo/one"], "b", T0 + timedelta(seconds=29), LEASE) == []
    assert store.acquire_keys(["octo/one"], "a", T0, LEASE) == ["octo/one"]  # re-entrant for the owner
    store.release_key("octo/one", "b")  # not the owner: no effect
    assert store.acquire_keys(["octo/one"], "b", T0 + timedelta(seconds=1), LEASE) == []
    store.release_key("octo/one", "a")
    assert store.acquire_keys(["octo/one"], "b", T0 + timedelta(seconds=1), LEASE) == ["octo/one"]
    # a's lease on octo/two runs out at T0+30: then anyone may take it
    assert store.acquire_keys(["octo/two"], "b", T0 + timedelta(seconds=31), LEASE) == ["octo/two"]


def test_renew_keeps_a_lock_past_its_first_lease(store: Inbox) -> None:
    store.acquire_keys(["octo/one"], "a", T0, LEASE)
    store.renew("a", ["octo/one"], [], T0 + timedelta(seconds=25), LEASE)
    assert store.acquire_keys(["octo/one"], "b", T0 + timedelta(seconds=40), LEASE) == []
    assert store.acquire_keys(["octo/one"], "b", T0 + timedelta(seconds=56), LEASE) == ["octo/one"]


def test_concurrent_acquirers_never_share_a_key(store: Inbox) -> None:
    now = T0
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def grab(owner: str) -> None:
        barrier.wait()
        if store.acquire_keys(["octo/hot"], owner, now, LEASE):
            winners.append(owner)

    threads = [threading.Thread(target=grab, args=(f"w{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_ready_keys_lists_work_not_locked_elsewhere(store: Inbox) -> None:
    for i, repo in enumerate(["octo/a", "octo/b", "octo/c"]):
        store.add_delivery(delivery(f"d-{i}", repo=repo), T0)
    store.request_evaluations([("octo/e", 1)], T0, debounce=timedelta(seconds=2))
    assert store.ready_keys(T0) == ["octo/a", "octo/b", "octo/c"]  # evaluation not due yet
    assert store.ready_keys(T0 + timedelta(seconds=3)) == ["octo/a", "octo/b", "octo/c", "octo/e"]
    store.acquire_keys(["octo/b"], "other", T0, LEASE)
    assert store.ready_keys(T0, exclude=["octo/a"]) == ["octo/c"]


# ---------------------------------------------------------------------------------- deliveries


def test_claims_follow_received_order_within_a_key(store: Inbox) -> None:
    for i in range(3):
        store.add_delivery(delivery(f"d-{i}"), T0)
    seen = []
    while (claimed := store.claim_next_delivery("octo/one", "a", T0, LEASE, 5)) is not None:
        seen.append(claimed.delivery_id)
        assert claimed.attempts == 1
        assert store.complete_delivery(claimed.id, "a", T0)
    assert seen == ["d-0", "d-1", "d-2"]
    assert {row.status for row in store.deliveries()} == {"done"}
    assert all(row.processed_at == T0 and row.lease_owner is None for row in store.deliveries())


def test_a_live_lease_blocks_the_key_and_an_expired_one_is_taken_over(store: Inbox) -> None:
    store.add_delivery(delivery("d-0"), T0)
    store.add_delivery(delivery("d-1"), T0)
    first = store.claim_next_delivery("octo/one", "dead", T0, LEASE, 5)
    assert first is not None and first.delivery_id == "d-0"
    # Another worker must not overtake d-0 while its lease lives.
    assert store.claim_next_delivery("octo/one", "b", T0 + timedelta(seconds=10), LEASE, 5) is None
    assert store.ready_keys(T0 + timedelta(seconds=10)) == []
    later = T0 + timedelta(seconds=31)
    assert store.ready_keys(later) == ["octo/one"]
    again = store.claim_next_delivery("octo/one", "b", later, LEASE, 5)
    assert again is not None and (again.delivery_id, again.attempts) == ("d-0", 2)
    # The dead worker's late completion is refused: it no longer holds the lease.
    assert store.complete_delivery(first.id, "dead", later) is False
    assert store.complete_delivery(again.id, "b", later) is True


def test_failure_backs_off_then_gives_up(store: Inbox) -> None:
    store.add_delivery(delivery("d-0"), T0)
    store.add_delivery(delivery("d-1"), T0)
    claimed = store.claim_next_delivery("octo/one", "a", T0, LEASE, 2)
    assert store.fail_delivery(claimed.id, "a", T0, "ValueError: boom", T0 + timedelta(seconds=5))
    # Backing off: d-1 must not overtake it.
    assert store.claim_next_delivery("octo/one", "a", T0 + timedelta(seconds=4), LEASE, 2) is None
    assert store.ready_keys(T0 + timedelta(seconds=4)) == []
    claimed = store.claim_next_delivery("octo/one", "a", T0 + timedelta(seconds=5), LEASE, 2)
    assert (claimed.delivery_id, claimed.attempts) == ("d-0", 2)
    store.fail_delivery(claimed.id, "a", T0 + timedelta(seconds=5), "ValueError: boom again", None)
    row = store.delivery("d-0")
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "ValueError: boom again")
    assert store.claim_next_delivery("octo/one", "a", T0 + timedelta(seconds=6), LEASE, 2).delivery_id == "d-1"
    assert store.retry_failed(["d-0"]) == 1
    assert store.delivery("d-0").status == "pending"


def test_a_delivery_whose_workers_keep_dying_is_failed_not_retried_forever(store: Inbox) -> None:
    store.add_delivery(delivery("d-0"), T0)
    store.add_delivery(delivery("d-1"), T0)
    now = T0
    for _ in range(2):
        assert store.claim_next_delivery("octo/one", "dying", now, LEASE, 2).delivery_id == "d-0"
        now += timedelta(seconds=31)
    nxt = store.claim_next_delivery("octo/one", "b", now, LEASE, 2)
    assert nxt.delivery_id == "d-1"
    row = store.delivery("d-0")
    assert row.status == "failed" and "worker stopped" in row.last_error


# ---------------------------------------------------------------------------------- evaluations


def test_requests_coalesce_with_a_debounce_capped_by_the_max_wait(store: Inbox) -> None:
    debounce, max_wait = timedelta(seconds=2), timedelta(seconds=5)
    for second in range(4):  # a request every second keeps pushing the due time...
        store.request_evaluations(
            [("octo/one", 3)], T0 + timedelta(seconds=second), debounce=debounce, max_wait=max_wait
        )
    (row,) = store.evaluations()
    assert row.due_at == T0 + timedelta(seconds=5)
    store.request_evaluations([("octo/one", 3)], T0 + timedelta(seconds=4), debounce=debounce, max_wait=max_wait)
    (row,) = store.evaluations()
    assert row.due_at == T0 + timedelta(seconds=5)  # ...but never past first request + max wait
    assert row.generation == 5
    assert store.claim_due_evaluations("octo/one", T0 + timedelta(seconds=4)) == []
    (due,) = store.claim_due_evaluations("octo/one", T0 + timedelta(seconds=5))
    assert (due.repo, due.number, due.generation) == ("octo/one", 3, 5)
    store.finish_evaluation(due)
    assert store.evaluations() == []


def test_a_request_during_an_evaluation_is_not_lost(store: Inbox) -> None:
    store.request_evaluations([("octo/one", 3)], T0)
    (due,) = store.claim_due_evaluations("octo/one", T0 + timedelta(seconds=3))
    store.request_evaluations([("octo/one", 3)], T0 + timedelta(seconds=4))  # arrives while evaluating
    store.finish_evaluation(due)
    (row,) = store.evaluations()
    assert row.due_at == T0 + timedelta(seconds=6)
    assert row.first_requested_at == T0 + timedelta(seconds=4)  # a new burst, with its own max wait


def test_failed_evaluation_is_retried_then_dropped(store: Inbox) -> None:
    store.request_evaluations([("octo/one", 3)], T0)
    (due,) = store.claim_due_evaluations("octo/one", T0 + timedelta(seconds=3))
    store.fail_evaluation(due, T0, "RuntimeError: api down", T0 + timedelta(seconds=10))
    (row,) = store.evaluations()
    assert (row.attempts, row.last_error, row.due_at) == (1, "RuntimeError: api down", T0 + timedelta(seconds=10))
    (due,) = store.claim_due_evaluations("octo/one", T0 + timedelta(seconds=10))
    store.fail_evaluation(due, T0, "RuntimeError: still down", None)
    assert store.evaluations() == []


def test_completion_queues_evaluations_and_notes_repositories_atomically(store: Inbox) -> None:
    store.add_delivery(delivery("d-0"), T0)
    claimed = store.claim_next_delivery("octo/one", "a", T0, LEASE, 5)
    store.complete_delivery(
        claimed.id,
        "a",
        T0,
        to_evaluate={("octo/one", 1), ("octo/two", 2)},
        seen_repos={("octo/one", 7), ("octo/two", None)},
        gone_repos=set(),
    )
    assert [(r.repo, r.number) for r in store.evaluations()] == [("octo/one", 1), ("octo/two", 2)]
    assert store.known_repositories() == ["octo/one", "octo/two"]
    store.add_delivery(delivery("d-1"), T0)
    claimed = store.claim_next_delivery("octo/one", "a", T0, LEASE, 5)
    store.complete_delivery(claimed.id, "a", T0, gone_repos={"octo/two"})
    assert store.known_repositories() == ["octo/one"]


def test_resync_is_flagged_once_per_interval_and_taken_once(store: Inbox) -> None:
    store.add_repositories([("octo/one", 1), ("octo/two", 1)], T0)
    interval = timedelta(minutes=15)
    assert store.mark_resync_due(T0 + timedelta(minutes=5), interval) == 0
    assert store.mark_resync_due(T0 + timedelta(minutes=15), interval) == 2
    assert store.mark_resync_due(T0 + timedelta(minutes=16), interval) == 0
    assert store.ready_keys(T0 + timedelta(minutes=16)) == ["octo/one", "octo/two"]
    assert store.take_resync("octo/one") is True
    assert store.take_resync("octo/one") is False


def test_report_comment_ids_upsert(store: Inbox) -> None:
    assert store.report_comment("octo/one", 5) is None
    store.set_report_comment("octo/one", 5, 111, T0)
    store.set_report_comment("octo/one", 5, 2**40, T0)
    assert store.report_comment("octo/one", 5) == 2**40
    store.forget_report_comment("octo/one", 5)
    assert store.report_comment("octo/one", 5) is None


def test_sqlite_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.sqlite3"
    store = Inbox.open(f"sqlite:///{path}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0  # never inside a commit
        size_before = path.stat().st_size
        for i in range(40):
            store.add_delivery(delivery(f"d-{i}", big="x" * 20_000), T0)
        assert path.stat().st_size == size_before  # everything still in the WAL
        wait_until(lambda: path.stat().st_size != size_before, 5)  # the checkpointer's thread, not ours
        assert path.stat().st_size > size_before + 40 * 20_000
    finally:
        store.close()
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0


def test_write_gate_serves_intake_first_but_not_forever() -> None:
    gate = WriteGate(urgent_streak=2)
    order: list[str] = []
    release = threading.Event()

    def holder() -> None:
        with gate.hold():
            release.wait(5)

    def waiter(name: str, urgent: bool) -> None:
        with gate.hold(urgent):
            order.append(name)

    def waiting(urgent: int, normal: int) -> bool:
        # the gate's own counts: a thread is queued exactly when the gate has counted it
        with gate._cond:
            return gate._held and (gate._urgent_waiting, gate._normal_waiting) == (urgent, normal)

    first = threading.Thread(target=holder)
    first.start()
    assert wait_until(lambda: waiting(0, 0), 5)
    threads = [threading.Thread(target=waiter, args=("worker", False))]
    threads[0].start()
    assert wait_until(lambda: waiting(0, 1), 5)
    for i in range(4):
        threads.append(threading.Thread(target=waiter, args=(f"intake{i}", True)))
        threads[-1].start()
    assert wait_until(lambda: waiting(4, 1), 5)
    release.set()
    for t in [first, *threads]:
        t.join(5)
    # Intake overtakes the waiting worker, but after two intake turns the worker gets one.
    assert order.index("worker") == 2
    assert sorted(order) == ["intake0", "intake1", "intake2", "intake3", "worker"]


def test_write_gate_gives_up_in_time_and_leaves_no_trace() -> None:
    gate = WriteGate()
    held, release = threading.Event(), threading.Event()

    def holder() -> None:
        with gate.hold():
            held.set()
            release.wait(10)

    thread = threading.Thread(target=holder)
    thread.start()
    assert held.wait(5)
    started = time.monotonic()
    with pytest.raises(TimeoutError), gate.hold(urgent=True, timeout=0.2):
        pass
    assert 0.15 < time.monotonic() - started < 2
    release.set()
    thread.join(5)
    assert (gate._urgent_waiting, gate._normal_waiting, gate._held) == (0, 0, False)
    with gate.hold(urgent=True, timeout=0.2):  # free again at once
        pass


def test_intake_writer_stores_the_good_deliveries_of_a_batch_with_a_bad_one(store: Inbox) -> None:
    """A row the database (or its JSON encoder) refuses fails alone; its neighbours are stored."""
    from mlgate.bot.intake.writer import IntakeWriter, NotStored

    writer = IntakeWriter(store, timeout=5)
    bad = Delivery("bad", "push", None, "octo/one", 7, {"unencodable": {1, 2}})  # a set is not JSON
    items = [delivery("good-1"), bad, delivery("good-2")]
    outcome: dict[str, object] = {}
    start = threading.Barrier(len(items))

    def add(item: Delivery) -> None:
        start.wait()
        try:
            outcome[item.delivery_id] = writer.add(item, T0)
        except NotStored as exc:
            outcome[item.delivery_id] = exc

    threads = [threading.Thread(target=add, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    writer.close()
    assert outcome["good-1"] is True and outcome["good-2"] is True
    assert isinstance(outcome["bad"], NotStored) and "not stored" in str(outcome["bad"])
    assert sorted(row.delivery_id for row in store.deliveries()) == ["good-1", "good-2"]


def test_an_intake_batch_stores_in_order_and_tells_new_from_redelivered(store: Inbox) -> None:
    """The group commit's batch: ids follow the batch's order (the received order the worker
    keeps), a delivery id stored before or repeated in the batch is not new, payloads are kept."""
    assert store.add_delivery(delivery("old"), T0)
    items = [(delivery("b-1"), T0), (delivery("old"), T0), (delivery("b-2", repo="octo/two"), T0),
             (delivery("b-1"), T0), (delivery("b-3", repo=None, installation=None), T0)]
    with store.intake_batch(5.0) as intake:
        assert intake.insert(items) == [True, False, True, False, True]
        assert intake.insert([]) == []
    rows = store.deliveries()
    assert [row.delivery_id for row in rows] == ["old", "b-1", "b-2", "b-3"]
    assert [row.id for row in rows] == sorted(row.id for row in rows)
    assert store.delivery_payload("b-2") == delivery("b-2", repo="octo/two").payload
    assert store.delivery("b-3").serial_key == "global"  # type: ignore[union-attr]
    claimed = store.claim_next_delivery("octo/one", "w", T0, LEASE, 5)
    assert claimed is not None and claimed.delivery_id == "old"


def test_an_intake_batch_that_fails_stores_none_of_it(store: Inbox) -> None:
    """A payload the JSON encoder refuses fails the whole transaction: no half-written batch."""
    bad = Delivery("bad", "push", None, "octo/one", 7, {"unencodable": {1, 2}})
    with pytest.raises(TypeError), store.intake_batch(5.0) as intake:
        intake.insert([(delivery("first"), T0), (bad, T0)])
    assert store.deliveries() == []
    with store.intake_batch(5.0) as intake:  # the connection is usable again
        assert intake.insert([(delivery("first"), T0)]) == [True]


# ---------------------------------------------------------------------------------- retention


def _handle(store: Inbox, delivery_id: str, key: str, at: datetime, *, fail: bool = False) -> None:
    """Claim `key`'s next delivery (it must be `delivery_id`) and finish it at `at`."""
    claimed = store.claim_next_delivery(key, "w", at, LEASE, 5)
    assert claimed is not None and claimed.delivery_id == delivery_id
    if fail:
        assert store.fail_delivery(claimed.id, "w", at, "RuntimeError: gave up", None)
    else:
        assert store.complete_delivery(claimed.id, "w", at)


def _payload_rows(store: Inbox) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM delivery_payloads")).scalar_one()


def test_purge_deletes_old_done_deliveries_and_their_payloads_in_batches(store: Inbox) -> None:
    now = T0 + timedelta(days=30)
    cutoff = now - timedelta(days=14)
    for i in range(5):  # done 20 days ago: purged
        store.add_delivery(delivery(f"old-{i}", repo=f"octo/old{i}"), T0)
        _handle(store, f"old-{i}", f"octo/old{i}", T0 + timedelta(days=10))
    store.add_delivery(delivery("recent", repo="octo/recent"), T0)  # received long ago, done 2 days ago: kept
    _handle(store, "recent", "octo/recent", now - timedelta(days=2))
    store.add_delivery(delivery("failed", repo="octo/failed"), T0)  # failed long ago: kept for the operator
    _handle(store, "failed", "octo/failed", T0 + timedelta(days=1), fail=True)
    store.add_delivery(delivery("pending", repo="octo/pending"), T0)  # never handled: kept
    store.add_delivery(delivery("leased", repo="octo/leased"), T0)  # being handled: kept
    assert store.claim_next_delivery("octo/leased", "w", now, LEASE, 5) is not None
    assert _payload_rows(store) == 9

    assert [store.purge_done_deliveries(cutoff, batch_size=2) for _ in range(4)] == [2, 2, 1, 0]
    left = {row.delivery_id: row.status for row in store.deliveries()}
    assert left == {"recent": "done", "failed": "failed", "pending": "pending", "leased": "pending"}
    assert _payload_rows(store) == 4
    assert store.delivery_payload("recent") is not None and store.delivery_payload("old-0") is None
    # A purged delivery id is a new delivery again (GitHub redelivers only the last 3 days).
    assert store.add_delivery(delivery("old-0", repo="octo/old0"), now) is True


def test_purge_leaves_a_delivery_completed_after_it_was_listed(store: Inbox) -> None:
    """The purge re-checks status and age when it deletes: a row retried and done again meanwhile stays."""
    store.add_delivery(delivery("d-0"), T0)
    _handle(store, "d-0", "octo/one", T0, fail=True)
    assert store.retry_failed(["d-0"]) == 1
    assert store.purge_done_deliveries(T0 + timedelta(days=1), batch_size=10) == 0
    _handle(store, "d-0", "octo/one", T0 + timedelta(days=2))
    assert store.purge_done_deliveries(T0 + timedelta(days=1), batch_size=10) == 0
    assert store.purge_done_deliveries(T0 + timedelta(days=3), batch_size=10) == 1
