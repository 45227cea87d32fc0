"""The dashboard's read-only queries (bot/web/queries.py) on both databases, over a store filled by
the bot's own writers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mlgate.bot.store.inbox import Inbox
from mlgate.bot.web import queries
from tests.bot.conftest import DB_KINDS, fresh_database
from tests.web.world import EVIL, seed

REPO = "o/r"
T0 = 1_764_493_200.0


@pytest.fixture(params=DB_KINDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    with fresh_database(request.param, tmp_path) as url:
        inbox = Inbox.open(url)
        seed(inbox.engine, REPO, T0)
        try:
            yield inbox.engine
        finally:
            inbox.close()


def test_the_queries_read_what_the_bot_recorded(engine) -> None:  # type: ignore[no-untyped-def]
    assert queries.known_repos(engine) == [REPO]
    assert queries.find_repo(engine, "O", "R") == REPO and queries.find_repo(engine, "o", "x") is None
    summary = queries.summary(engine, REPO)
    assert (summary.queue_length, summary.main_gates) == (4, "passing")

    page = queries.repo_page(engine, REPO)
    [lane] = page.lanes
    assert [(b.build_id, b.pulls, b.sha) for b in lane.running] == [(4, (4,), "d" * 40)]
    assert lane.summary.startswith("main: running (") and not lane.paused
    assert [(w.number, w.status) for w in lane.waiting] == [(6, "queued"), (5, "queued"), (7, "waiting")]
    assert EVIL in lane.waiting[2].waiting_on  # stored as written; the template escapes it
    assert [(b.build_id, b.outcome) for b in page.builds] == [(4, "running"), (3, "landed"), (2, "landed"),
                                                             (1, "landed")]
    assert page.merged == 3 and page.ci_runs_per_merged_pr == pytest.approx(4 / 3)
    assert page.median_merge_seconds == pytest.approx(360.0)  # testing at t-60, landed at t+300

    pull = queries.pull_page(engine, REPO, 4)
    assert pull is not None and [h.sha[0] for h in pull.heads] == ["4", "3"]
    assert pull.heads[0].rules[0].approved_by == ("bob",) and pull.status == "testing"
    assert queries.pull_page(engine, REPO, 99) is None

    models = queries.models_page(engine, REPO)
    assert [p.value for p in models.series["mlgate/quality"]["roc_auc"]] == [0.74, 0.75, 0.73]
    assert models.freshness == ("2002-01-31T00:00:00", "c" * 40, "pass")
    assert models.unused == ["colour (line 7)"]

    current, history = queries.deployments_page(engine, REPO)
    assert current["staging"].id == 103 and current["staging"].requested_by == "alice"
    assert [d.id for d in history] == [103, 102, 101]
    assert current["staging"].model == "sha256:1" + "0" * 63  # the version deployed: b…'s model


def test_a_paused_lane_shows_its_speculative_chain_and_held_prs(engine) -> None:  # type: ignore[no-untyped-def]
    """merge.parallel stacks builds: the page lists every build in flight in landing order, never
    lists a built PR as waiting, says the lane is paused and who holds what."""
    from mlgate.bot.queue.model import QUEUED, RUNNING, TESTING, Build, Lane, Pull, QueueState, StagedPull
    from mlgate.bot.queue.store import QueueStore

    def build(i: int, numbers: tuple[int, ...], sha: str) -> Build:
        return Build(i, "batch", "main", "mlgate/staging/main", tuple(StagedPull(n, str(n) * 40) for n in numbers),
                     "merge", (), T0, state=RUNNING, sha=sha, created_at=T0)

    state = QueueState(REPO, pulls=(
        Pull(8, "main", "8" * 40, TESTING, seq=8), Pull(9, "main", "9" * 40, TESTING, seq=9),
        Pull(10, "main", "a" * 40, QUEUED, seq=10, held=True, held_by="carol"),
        Pull(11, "main", "b" * 40, QUEUED, seq=11),
    ), lanes=(Lane("main", base_sha="c" * 40, build=build(20, (8,), "e" * 40), ahead=(build(21, (9,), "f" * 40),),
                   paused="incident 42", paused_by="alice", paused_at=T0),), next_id=22, next_seq=12)
    store = QueueStore(engine)
    store.save(store.load(REPO), state, wakeup_at=None, now=T0 + 3000, config_branch="main")
    [lane] = queries.repo_page(engine, REPO).lanes
    assert [(b.build_id, b.pulls) for b in lane.running] == [(20, (8,)), (21, (9,))]
    assert [w.number for w in lane.waiting] == [10, 11]
    assert lane.waiting[0].waiting_on == "held by carol"
    assert lane.paused and "paused by alice: incident 42" in lane.summary and "1 held" in lane.summary


def test_a_bisection_probe_is_shown_beside_the_chain_and_never_as_landing(engine) -> None:  # type: ignore[no-untyped-def]
    """merge.parallel > 1 bisects a failed batch with probes on the base tip: the page lists them
    apart from the builds that land, and the probed PRs wait with the probe's number."""
    from mlgate.bot.queue.model import QUEUED, RUNNING, TESTING, Build, Lane, Pull, QueueState, StagedPull
    from mlgate.bot.queue.store import QueueStore

    def build(i: int, kind: str, numbers: tuple[int, ...], sha: str) -> Build:
        return Build(i, kind, "main", f"mlgate/staging/main-{i}", tuple(StagedPull(n, str(n) * 40) for n in numbers),
                     "merge", (), T0, state=RUNNING, sha=sha, created_at=T0)

    state = QueueState(REPO, pulls=(
        Pull(8, "main", "8" * 40, TESTING, seq=8), Pull(9, "main", "9" * 40, QUEUED, seq=9),
        Pull(12, "main", "c" * 40, QUEUED, seq=12), Pull(13, "main", "d" * 40, QUEUED, seq=13),
    ), lanes=(Lane("main", base_sha="c" * 40, build=build(30, "batch", (8,), "e" * 40), suspects=(9, 12),
                   probes=(build(31, "probe", (9,), "f" * 40),)),), next_id=32, next_seq=14)
    store = QueueStore(engine)
    store.save(store.load(REPO), state, wakeup_at=None, now=T0 + 3000, config_branch="main")
    [lane] = queries.repo_page(engine, REPO).lanes
    assert [(b.build_id, b.pulls) for b in lane.running] == [(30, (8,))]
    assert [(b.build_id, b.pulls, b.sha) for b in lane.probes] == [(31, (9,), "f" * 40)]
    assert [(w.number, w.waiting_on) for w in lane.waiting][:2] == [
        (9, "in bisection probe 31: its batch failed"), (12, "re-test: its batch failed (bisecting)")]
    assert "testing #8" in lane.summary and "bisecting #9 alone" in lane.summary
    # The page says what a probe is, apart from the builds that land.
    from flask import Flask

    from mlgate.bot.web.views import DashboardConfig, register_dashboard

    class Public:
        def is_private(self, repo: str) -> bool:
            return False

        def permission(self, repo: str, login: str) -> object:
            raise AssertionError("a public page needs no permission")

    app = Flask("t")
    register_dashboard(app, engine, Public(), DashboardConfig(session_secret="s"))  # type: ignore[arg-type]
    html = app.test_client().get(f"/{REPO}").get_data(as_text=True)
    assert "Running batch 30" in html and "Bisection probe 31" in html and "a probe never lands" in html
    assert "Speculative batch 31" not in html and "ffffffffffff" in html
