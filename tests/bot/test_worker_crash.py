"""Kill a real worker process with SIGKILL in the middle of a delivery, restart it, and check that
every stored delivery is processed exactly once and in order (SQLite file and PostgreSQL).

The recording dispatcher below is also used by the multi-process test in test_worker.py: the
worker subprocesses import it with `--dispatcher tests.bot.test_worker_crash:build_recording_dispatcher`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from mlgate.bot.settings import Settings
from mlgate.bot.store.engine import create_store_engine
from mlgate.bot.store.inbox import Delivery, Inbox
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

REPO_ROOT = Path(__file__).resolve().parents[2]
DISPATCHER = "tests.bot.test_worker_crash:build_recording_dispatcher"

test_metadata = sa.MetaData()
handled = sa.Table(
    "test_handled",
    test_metadata,
    sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.String(100), nullable=False),
    sa.Column("repo", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer(), nullable=False),
)


class RecordingDispatcher:
    """Records every handled delivery in `test_handled` (in the bot's own database).

    With MLGATE_TEST_BLOCK_DELIVERY and MLGATE_TEST_BLOCK_MARKER set, handling that delivery
    writes the marker file and hangs (once: a restarted worker finds the marker and goes on).
    """

    def __init__(self, database_url: str) -> None:
        self.engine = create_store_engine(database_url, pool_size=4)
        self.block_id = os.environ.get("MLGATE_TEST_BLOCK_DELIVERY")
        self.marker = os.environ.get("MLGATE_TEST_BLOCK_MARKER")
        self.max_sleep = float(os.environ.get("MLGATE_TEST_SLEEP_MS", "0")) / 1000

    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[tuple[str, int]]:
        if delivery_id == self.block_id and self.marker and not os.path.exists(self.marker):
            Path(self.marker).write_text(str(os.getpid()))
            time.sleep(3600)
        if self.max_sleep:
            time.sleep(random.uniform(0, self.max_sleep))
        repo = payload["repository"]["full_name"]
        with self.engine.begin() as conn:
            conn.execute(handled.insert().values(delivery_id=delivery_id, repo=repo, pid=os.getpid()))
        return {(repo, int(payload["number"]))}

    def evaluate(self, repo: str, number: int) -> None:
        return None

    def resync(self, repo: str) -> set[tuple[str, int]]:
        return set()


def build_recording_dispatcher(settings: Settings, _engine: sa.Engine) -> RecordingDispatcher:
    return RecordingDispatcher(settings.database_url)


# ---------------------------------------------------------------------------------- helpers for both tests


def prepare(url: str) -> Inbox:
    store = Inbox.open(url)
    test_metadata.create_all(store.engine)
    return store


def add_deliveries(store: Inbox, repos: list[str], per_repo: int, seed: int = 1) -> list[str]:
    """Inbox `per_repo` deliveries for each repo, interleaved at random; returns ids in received order."""
    order = [repo for repo in repos for _ in range(per_repo)]
    random.Random(seed).shuffle(order)
    counters: dict[str, int] = defaultdict(int)
    ids = []
    for repo in order:
        n = counters[repo]
        counters[repo] += 1
        delivery_id = f"{repo.replace('/', '_')}-{n:04d}"
        payload = {"action": "completed", "number": n % 3 + 1, "repository": {"full_name": repo},
                   "installation": {"id": 1}}
        assert store.add_delivery(Delivery(delivery_id, "check_run", "completed", repo, 1, payload))
        ids.append(delivery_id)
    return ids


def handled_rows(store: Inbox) -> list[tuple[int, str, str, int]]:
    with store.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(handled).order_by(handled.c.seq))]


def start_worker(url: str, cwd: Path, log: Path, **env: str) -> subprocess.Popen:
    environment = {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "MLGATE_DATABASE_URL": url,
        "MLGATE_POLL_INTERVAL_SECONDS": "0.05",
        "MLGATE_LEASE_SECONDS": "2",
        "MLGATE_WORKER_THREADS": "3",
        "MLGATE_DEBOUNCE_SECONDS": "0.1",
        "MLGATE_DEBOUNCE_MAX_SECONDS": "0.5",
        "MLGATE_LOG_LEVEL": "WARNING",
        **env,
    }
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "mlgate", "worker", "--dispatcher", DISPATCHER],
                                cwd=cwd, env=environment, stdout=out, stderr=subprocess.STDOUT)


def stop_worker(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def assert_exactly_once_in_order(store: Inbox, received: list[str]) -> None:
    rows = handled_rows(store)
    counts: dict[str, int] = defaultdict(int)
    for _, delivery_id, _, _ in rows:
        counts[delivery_id] += 1
    twice = {d: c for d, c in counts.items() if c > 1}
    assert not twice, f"handled more than once: {twice}"
    assert set(counts) == set(received), f"never handled: {sorted(set(received) - set(counts))[:10]}"
    by_repo_handled: dict[str, list[str]] = defaultdict(list)
    for _, delivery_id, repo, _ in rows:
        by_repo_handled[repo].append(delivery_id)
    by_repo_received: dict[str, list[str]] = defaultdict(list)
    for record in store.deliveries():
        by_repo_received[record.repo].append(record.delivery_id)
    assert dict(by_repo_handled) == dict(by_repo_received)
    assert {record.status for record in store.deliveries()} == {"done"}


# ---------------------------------------------------------------------------------- the crash test


@pytest.mark.slow
def test_sigkill_mid_delivery_then_restart_processes_everything_exactly_once(db_url: str, tmp_path: Path) -> None:
    store = prepare(db_url)
    repos = ["crash/a", "crash/b", "crash/c"]
    received = add_deliveries(store, repos, per_repo=12)
    victim = [d for d in received if d.startswith("crash_a")][4]  # the 5th delivery of crash/a
    marker = tmp_path / "blocked"
    log = tmp_path / "worker.log"
    procs: list[subprocess.Popen] = []
    try:
        first = start_worker(db_url, tmp_path, log, MLGATE_TEST_BLOCK_DELIVERY=victim,
                             MLGATE_TEST_BLOCK_MARKER=str(marker))
        procs.append(first)
        assert wait_until(marker.exists, 30), log.read_text()
        # Let the other repositories finish, so the kill lands while exactly the victim is in flight.
        others = [d for d in received if not d.startswith("crash_a")]
        assert wait_until(lambda: all(store.delivery(d).status == "done" for d in others), 30), log.read_text()
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)

        row = store.delivery(victim)
        assert (row.status, row.attempts) == ("pending", 1)
        assert row.lease_owner is not None and f":{first.pid}:" in row.lease_owner
        handled_a = [r[1] for r in handled_rows(store) if r[2] == "crash/a"]
        assert handled_a == [d for d in received if d.startswith("crash_a")][:4]
        behind = [d for d in received if d.startswith("crash_a")][5:]
        assert all(store.delivery(d).status == "pending" and store.delivery(d).attempts == 0 for d in behind)

        second = start_worker(db_url, tmp_path, log)
        procs.append(second)
        assert wait_until(lambda: store.counts() == {"done": len(received)}, 60), (store.counts(), log.read_text())
        assert_exactly_once_in_order(store, received)
        row = store.delivery(victim)
        assert row.attempts == 2  # the killed attempt, then the one after the lease expired
        assert {r[3] for r in handled_rows(store) if r[1] == victim} == {second.pid}
    finally:
        for proc in procs:
            stop_worker(proc)
        store.close()
    assert "Traceback" not in log.read_text()
