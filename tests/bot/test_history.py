"""The dashboard's history: the pure diff of two queue states, and the recorder the bot calls after
each delivery (a check run with a gate's results JSON becomes a row with its metrics) and each queue
step, wired by `build_dispatcher`."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from mlgate.bot.history.diff import diff
from mlgate.bot.history.tables import gate_runs, queue_builds, queue_events
from mlgate.bot.queue.model import (
    FAILED,
    MERGED,
    QUEUED,
    RUNNING,
    TESTING,
    Build,
    Evidence,
    Lane,
    Pull,
    QueueState,
    StagedPull,
)
from mlgate.bot.settings import Settings
from mlgate.bot.wiring import build_dispatcher, open_inbox
from tests.bot.fake_forge import FakeForge

R = "o/r"


def build(bid: int, *numbers: int, sha: str | None = "s" * 40) -> Build:
    return Build(bid, "batch", "main", "mlgate/staging/main", tuple(StagedPull(n, f"{n}" * 40) for n in numbers),
                 "merge", (), 100.0, state=RUNNING, sha=sha, created_at=100.0)


def test_a_batch_that_lands_gives_a_landed_build_and_merged_events() -> None:
    queued = QueueState(R, pulls=(Pull(1, "main", "1" * 40, QUEUED, seq=1), Pull(2, "main", "2" * 40, QUEUED, seq=2)))
    testing = QueueState(R, pulls=(Pull(1, "main", "1" * 40, TESTING, seq=1),
                                   Pull(2, "main", "2" * 40, TESTING, seq=2)),
                         lanes=(Lane("main", build=build(7, 1, 2)),))
    rows, events = diff(queued, testing, 150.0)
    assert [(r.build_id, r.outcome, r.pulls, r.finished_at) for r in rows] == [(7, "running", (1, 2), None)]
    assert [(e.number, e.kind, e.detail) for e in events] == [(1, "testing", "in build 7 at ssssssssssss"),
                                                              (2, "testing", "in build 7 at ssssssssssss")]
    landed = QueueState(R, pulls=(Pull(1, "main", "1" * 40, MERGED, seq=1, landed_sha="s" * 40),
                                  Pull(2, "main", "2" * 40, MERGED, seq=2, landed_sha="s" * 40)),
                        lanes=(Lane("main", base_sha="s" * 40),))
    rows, events = diff(testing, landed, 400.0)
    assert [(r.build_id, r.outcome, r.finished_at) for r in rows] == [(7, "landed", 400.0)]
    assert {(e.kind, e.detail) for e in events} == {("merged", "landed in ssssssssssss")}
    assert diff(landed, landed, 500.0) == ([], [])


def test_a_red_batch_is_split_and_a_rejected_pr_fails_with_the_evidence() -> None:
    testing = QueueState(R, pulls=(Pull(1, "main", "1" * 40, TESTING), Pull(2, "main", "2" * 40, TESTING)),
                         lanes=(Lane("main", build=build(3, 1, 2)),))
    evidence = Evidence(3, "s" * 40, (1, 2), ("tests: failure",))
    split = QueueState(R, pulls=(Pull(1, "main", "1" * 40, QUEUED), Pull(2, "main", "2" * 40, QUEUED)),
                       lanes=(Lane("main", suspects=(1, 2), evidence=evidence),))
    [row], _ = diff(testing, split, 200.0)
    assert (row.outcome, row.detail) == ("split", "tests: failure")
    failed = QueueState(R, pulls=(Pull(1, "main", "1" * 40, FAILED, reason="tests failed"),),
                        lanes=(Lane("main", evidence=evidence),))
    [row], [event] = diff(QueueState(R, pulls=(Pull(1, "main", "1" * 40, TESTING),),
                                     lanes=(Lane("main", build=build(3, 1)),)), failed, 300.0)
    assert row.outcome == "failed" and (event.kind, event.detail) == ("failed", "tests failed")


def _check_run(sha: str, name: str, conclusion: str, text: str | None) -> dict:
    return {"action": "completed", "repository": {"full_name": R, "default_branch": "main"},
            "check_run": {"id": 5, "name": name, "head_sha": sha, "status": "completed", "conclusion": conclusion,
                          "app": {"slug": "github-actions"}, "output": {"text": text}, "pull_requests": []}}


def test_the_bot_records_gate_results_and_queue_steps(tmp_path: Path) -> None:
    inbox = open_inbox(Settings(database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}"), run_migrations=True)
    try:
        forge = FakeForge()
        bot = build_dispatcher(Settings(bot_login="mlgate[bot]"), inbox.engine,
                               forges=lambda repo, installation=None: forge)
        results = {"gate": "quality", "status": "fail", "summary": "roc_auc 0.61 < 0.68",
                   "metrics": [{"name": "roc_auc", "value": 0.61, "status": "fail"}], "findings": [],
                   "details": {"rows": 10}}
        bot.handle("check_run", _check_run("a" * 40, "mlgate/quality", "failure", json.dumps(results)), "d1")
        bot.handle("check_run", _check_run("a" * 40, "tests", "success", None), "d2")
        bot.handle("check_run", {"check_run": "not a run", "repository": {"full_name": R}}, "d3")  # never raises
        with inbox.engine.connect() as conn:
            rows = {r.name: r for r in conn.execute(sa.select(gate_runs))}
        assert rows["mlgate/quality"].conclusion == "failure"
        assert rows["mlgate/quality"].results["metrics"] == [
            {"name": "roc_auc", "slice": "all", "value": 0.61, "status": "fail"}]
        assert rows["tests"].results is None
        # a queue step through the real runner is recorded as a build and events
        assert bot.queue is not None and bot.queue.on_step is not None and len(bot.evaluated) == 1
        before = QueueState(R, pulls=(Pull(9, "main", "9" * 40, QUEUED),))
        after = QueueState(R, pulls=(Pull(9, "main", "9" * 40, TESTING),), lanes=(Lane("main", build=build(1, 9)),))
        bot.queue.on_step(R, before, after, 50.0)
        with inbox.engine.connect() as conn:
            assert conn.execute(sa.select(queue_builds.c.outcome)).scalars().all() == ["running"]
            assert conn.execute(sa.select(queue_events.c.kind)).scalars().all() == ["testing"]
    finally:
        inbox.close()
