"""End to end over real HTTP: the local GitHub sandbox, its signed webhooks, the real GitHubForge
(PyGithub) and the bot's handlers. A PR touching training code gets one report comment and a failing
`mlgate` check; an approval by an allowed reviewer turns the check green and edits the same comment.

The deliveries the sandbox sends are fed to the Dispatcher the way the worker does (handle every
delivery, then evaluate the PRs it returned), including the events the bot's own writes cause, so
the test also proves that the bot settles instead of looping on itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.bot.github.client import ForgeOptions, forge_factory
from mlgate.bot.intake.handlers import Handlers
from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.pr.report import decode_state
from mlgate.bot.settings import Settings
from mlgate.bot.wiring import build_dispatcher
from mlgate.names import REPORT_MARKER
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.bot.conftest import running_sandbox
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

SECRET = "e2e-webhook-secret"
BOT = "mlgate-bot"
CONFIG = """\
version: 1
review:
  rules:
    - name: training code
      paths: ["train.py"]
      users: [bob]
"""


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    with running_sandbox(tmp_path_factory.mktemp("e2e-sandbox"), ("alice", "bob", "carol", BOT)) as srv:
        yield srv


class Driver:
    """Feeds the sandbox's webhook deliveries to the dispatcher, as the worker would."""

    def __init__(self, sandbox: SandboxServer, sink: WebhookSink, bot: Handlers, repo: str) -> None:
        self.sandbox, self.sink, self.bot, self.repo = sandbox, sink, bot, repo
        self.seen = 0
        self.handled: list[tuple[str, Any]] = []

    def settle(self, max_rounds: int = 6) -> int:
        """Deliver until nothing new arrives; returns the rounds it took (the bot must not loop)."""
        for rounds in range(1, max_rounds + 1):
            assert self.sandbox.wait_for_webhooks(timeout=30), "sandbox webhooks did not drain"
            new = self.sink.deliveries[self.seen:]
            self.seen = len(self.sink.deliveries)
            if not new:
                return rounds
            refs: set[tuple[str, int]] = set()
            for d in new:
                assert d.signature_ok(SECRET), f"bad signature on {d.event} {d.guid}"
                if d.payload.get("repository", {}).get("full_name") != self.repo:
                    continue
                self.handled.append((d.event, d.payload.get("action")))
                refs |= self.bot.handle(d.event, d.payload, d.guid)
            for repo, number in sorted(refs):
                self.bot.evaluate(repo, number)
        pytest.fail(f"the bot did not settle within {max_rounds} rounds: {self.handled[-20:]}")


def mlgate_check(sandbox: SandboxServer, repo: str, sha: str) -> dict[str, Any]:
    resp = sandbox.api("GET", f"/repos/{repo}/commits/{sha}/check-runs", "alice", params={"check_name": "mlgate"})
    resp.raise_for_status()
    runs = [r for r in resp.json()["check_runs"] if r["name"] == "mlgate"]
    assert len(runs) == 1, f"expected one mlgate check run on {sha}, got {len(runs)}"
    return runs[0]


def reports(sandbox: SandboxServer, repo: str, number: int) -> list[dict[str, Any]]:
    resp = sandbox.api("GET", f"/repos/{repo}/issues/{number}/comments", "alice")
    resp.raise_for_status()
    return [c for c in resp.json() if REPORT_MARKER in (c.get("body") or "")]


def test_training_change_needs_an_allowed_approval_then_goes_green(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / CONFIG_PATH).write_text(CONFIG)
    (src / "train.py").write_text("LEARNING_RATE = 0.1\n")
    (src / "README.md").write_text("# model\n")
    created = sandbox.create_repo("alice", "ml-e2e", "alice", from_dir=src)
    repo = created["full_name"]
    for login, perm in (("bob", "push"), ("carol", "push"), (BOT, "push")):
        resp = sandbox.api("PUT", f"/repos/{repo}/collaborators/{login}", "alice", json={"permission": perm})
        resp.raise_for_status()
    sandbox.add_hook("alice", "ml-e2e", sink.url, SECRET, "alice")

    settings = Settings(github_url=sandbox.api_url, app_id=None, private_key=None, github_token=BOT)
    bot = build_dispatcher(settings, forges=forge_factory(settings, ForgeOptions(seconds_between_writes=0)))
    drive = Driver(sandbox, sink, bot, repo)
    drive.settle()

    # carol changes the training script and, in the same PR, tries to drop the rule that guards it.
    weaker = CONFIG.replace('paths: ["train.py"]', 'paths: ["nothing/**"]')
    head = sandbox.push_files("alice", "ml-e2e", "tune", {"train.py": "LEARNING_RATE = 0.2\n", CONFIG_PATH: weaker},
                              "carol", message="Raise the learning rate", base="main")
    pr = sandbox.open_pr("alice", "ml-e2e", "tune", "carol", title="Raise the learning rate <b>now</b> @bob")
    number = pr["number"]
    drive.settle()

    run = mlgate_check(sandbox, repo, head)
    assert (run["status"], run["conclusion"]) == ("completed", "failure"), run
    (comment,) = reports(sandbox, repo, number)
    assert comment["user"]["login"] == BOT
    body = comment["body"]
    assert "training code" in body and "1 more approval needed from @\u200bbob" in body
    assert "Config: .github/mlgate.yml on main" in body  # the base's rule counts, not the PR's weaker copy
    assert decode_state(body)["applying"] == ["training code"]

    # The owner approves, but only bob may approve training code: still failing, approval shown as ignored.
    sandbox.api("POST", f"/repos/{repo}/pulls/{number}/reviews", "alice", json={"event": "APPROVE"}).raise_for_status()
    drive.settle()
    assert mlgate_check(sandbox, repo, head)["conclusion"] == "failure"
    (again,) = reports(sandbox, repo, number)
    assert again["id"] == comment["id"]
    assert "Not counted: alice (approved): not one of this rule" in again["body"]

    # bob, the allowed reviewer, approves the head: green, and the same comment is edited in place.
    sandbox.api("POST", f"/repos/{repo}/pulls/{number}/reviews", "bob", json={"event": "APPROVE"}).raise_for_status()
    rounds = drive.settle()
    run = mlgate_check(sandbox, repo, head)
    assert (run["status"], run["conclusion"]) == ("completed", "success"), run
    (final,) = reports(sandbox, repo, number)
    assert final["id"] == comment["id"] and final["body"] != comment["body"]
    assert "| training code | ✅ approved | bob | 0 |" in final["body"]
    assert rounds <= 3, "the bot kept reacting to its own writes"

    # A burst of re-evaluations with nothing new writes nothing.
    before = (final["updated_at"], run["id"], run.get("completed_at"))
    for _ in range(3):
        bot.evaluate(repo, number)
    (same,) = reports(sandbox, repo, number)
    run = mlgate_check(sandbox, repo, head)
    assert (same["updated_at"], run["id"], run.get("completed_at")) == before
    handled = set(drive.handled)
    for expected in (("pull_request", "opened"), ("pull_request_review", "submitted"), ("issue_comment", "created")):
        assert expected in handled, handled


def test_commands_over_http_are_permission_checked(sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text("x = 1\n")
    repo = sandbox.create_repo("alice", "ml-cmd", "alice", from_dir=src)["full_name"]
    sandbox.api("PUT", f"/repos/{repo}/collaborators/{BOT}", "alice", json={"permission": "push"}).raise_for_status()
    sandbox.api("PUT", f"/repos/{repo}/collaborators/carol", "alice", json={"permission": "pull"}).raise_for_status()
    sandbox.add_hook("alice", "ml-cmd", sink.url, SECRET, "alice")
    settings = Settings(github_url=sandbox.api_url, app_id=None, private_key=None, github_token=BOT)
    bot = build_dispatcher(settings, forges=forge_factory(settings, ForgeOptions(seconds_between_writes=0)))
    drive = Driver(sandbox, sink, bot, repo)
    sandbox.push_files("alice", "ml-cmd", "change", {"train.py": "x = 2\n"}, "alice", base="main")
    number = sandbox.open_pr("alice", "ml-cmd", "change", "alice")["number"]
    drive.settle()

    carol = sandbox.api("POST", f"/repos/{repo}/issues/{number}/comments", "carol", json={"body": "/merge"})
    carol.raise_for_status()
    alice = sandbox.api("POST", f"/repos/{repo}/issues/{number}/comments", "alice", json={"body": "/merge p=1"})
    alice.raise_for_status()
    drive.settle()

    comments = sandbox.api("GET", f"/repos/{repo}/issues/{number}/comments", "alice").json()
    replies = [c["body"] for c in comments if c["user"]["login"] == BOT and REPORT_MARKER not in c["body"]]
    assert len(replies) == 2, replies
    assert any("needs **write** permission" in r and "you have **read**" in r for r in replies)
    assert any("merge queue is not available" in r for r in replies)

    def reactions(comment_id: int) -> list[tuple[str, str]]:
        resp = sandbox.api("GET", f"/repos/{repo}/issues/comments/{comment_id}/reactions", "alice")
        resp.raise_for_status()
        return [(r["user"]["login"], r["content"]) for r in resp.json()]

    assert reactions(carol.json()["id"]) == [(BOT, "confused")]
    assert reactions(alice.json()["id"]) == []  # answered by the "not available" reply, no 👍 on top


def test_through_the_service_webhook_store_worker(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The whole bot: the sandbox posts signed webhooks to the Flask app, which stores them; the
    worker thread (debounced) routes and evaluates them through the real GitHubForge."""
    import threading

    from werkzeug.serving import make_server

    from mlgate.bot.intake.app import create_app
    from mlgate.bot.intake.worker import Worker, WorkerConfig
    from mlgate.bot.settings import Settings
    from mlgate.bot.store.inbox import Inbox

    settings = Settings(
        webhook_secret=SECRET, database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}", github_url=sandbox.api_url,
        auth_mode="token", github_token=BOT, debounce_seconds=0.2, debounce_max_seconds=1.0,
        poll_interval_seconds=0.05, worker_threads=2,
    )
    store = Inbox.open(settings.database_url)
    dispatcher = build_dispatcher(settings, store.engine,
                                  forges=forge_factory(settings, ForgeOptions(seconds_between_writes=0)))
    worker = Worker(store, dispatcher, WorkerConfig.from_settings(settings))
    app = create_app(settings, store=store, on_delivery=worker.wake)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    worker.start()
    try:
        src = tmp_path / "src"
        (src / ".github").mkdir(parents=True)
        (src / CONFIG_PATH).write_text(CONFIG)
        (src / "train.py").write_text("EPOCHS = 3\n")
        repo = sandbox.create_repo("alice", "ml-service", "alice", from_dir=src)["full_name"]
        for login in ("bob", "carol", BOT):
            resp = sandbox.api("PUT", f"/repos/{repo}/collaborators/{login}", "alice", json={"permission": "push"})
            resp.raise_for_status()
        sandbox.add_hook("alice", "ml-service", f"http://127.0.0.1:{http.server_port}/webhook", SECRET, "alice")
        head = sandbox.push_files("alice", "ml-service", "more-epochs", {"train.py": "EPOCHS = 5\n"}, "carol",
                                  base="main")
        number = sandbox.open_pr("alice", "ml-service", "more-epochs", "carol")["number"]

        def conclusion() -> str | None:
            resp = sandbox.api("GET", f"/repos/{repo}/commits/{head}/check-runs", "alice",
                               params={"check_name": "mlgate"})
            runs = [r for r in resp.json().get("check_runs", []) if r["name"] == "mlgate"]
            return runs[0]["conclusion"] if runs else None

        assert wait_until(lambda: conclusion() == "failure", timeout=30), "no failing mlgate check from the service"
        assert wait_until(lambda: len(reports(sandbox, repo, number)) == 1, timeout=10)
        (first,) = reports(sandbox, repo, number)

        approve = sandbox.api("POST", f"/repos/{repo}/pulls/{number}/reviews", "bob", json={"event": "APPROVE"})
        approve.raise_for_status()
        assert wait_until(lambda: conclusion() == "success", timeout=30), "the approval did not turn the check green"
        assert wait_until(lambda: "✅ approved" in reports(sandbox, repo, number)[0]["body"], timeout=10)
        (final,) = reports(sandbox, repo, number)
        assert final["id"] == first["id"]
    finally:
        worker.stop(timeout=10)
        http.shutdown()
        http.server_close()
