"""End to end over real HTTP: the local GitHub sandbox, its signed webhooks, the real GitHubForge
(PyGithub) and the bot's handlers. A PR touching training code gets one report comment and a failing
`mlgate` check; an approval by an allowed reviewer turns the check green and edits the same comment.

The deliveries the sandbox sends are fed to the Dispatcher the way the worker does (handle every
delivery, then evaluate the PRs it returned), including the events the bot's own writes cause, so
the test also proves that the bot settles instead of looping on itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
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
from tests.bot.bot_app import BotApp, install_bot
from tests.bot.conftest import running_sandbox
from tests.conftest import wait_until

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out

TOKEN_BOT = "mlgate-bot"  # a user whose token runs the bot in token mode
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
    with running_sandbox(tmp_path_factory.mktemp("e2e-sandbox"), ("alice", "bob", "carol", TOKEN_BOT)) as srv:
        yield srv


class Driver:
    """Feeds the sandbox's webhook deliveries to the dispatcher, as the worker would."""

    def __init__(self, sandbox: SandboxServer, sink: WebhookSink, bot: Handlers, repo: str, secret: str) -> None:
        self.sandbox, self.sink, self.bot, self.repo, self.secret = sandbox, sink, bot, repo, secret
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
                assert d.signature_ok(self.secret), f"bad signature on {d.event} {d.guid}"
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
    for login, perm in (("bob", "push"), ("carol", "push")):
        resp = sandbox.api("PUT", f"/repos/{repo}/collaborators/{login}", "alice", json={"permission": perm})
        resp.raise_for_status()
    app = install_bot(sandbox, sink.url, ["ml-e2e"])
    bot = build_dispatcher(app.settings(), forges=app.forges())
    drive = Driver(sandbox, sink, bot, repo, app.secret)
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
    assert comment["user"]["login"] == app.login
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
    sandbox.api("PUT", f"/repos/{repo}/collaborators/carol", "alice", json={"permission": "pull"}).raise_for_status()
    app = install_bot(sandbox, sink.url, ["ml-cmd"])
    bot = build_dispatcher(app.settings(), forges=app.forges())
    drive = Driver(sandbox, sink, bot, repo, app.secret)
    sandbox.push_files("alice", "ml-cmd", "change", {"train.py": "x = 2\n"}, "alice", base="main")
    number = sandbox.open_pr("alice", "ml-cmd", "change", "alice")["number"]
    drive.settle()

    carol = sandbox.api("POST", f"/repos/{repo}/issues/{number}/comments", "carol", json={"body": "/merge"})
    carol.raise_for_status()
    alice = sandbox.api("POST", f"/repos/{repo}/issues/{number}/comments", "alice", json={"body": "/merge p=1"})
    alice.raise_for_status()
    drive.settle()

    comments = sandbox.api("GET", f"/repos/{repo}/issues/{number}/comments", "alice").json()
    replies = [c["body"] for c in comments if c["user"]["login"] == app.login and REPORT_MARKER not in c["body"]]
    assert len(replies) == 2, replies
    assert any("needs **write** permission" in r and "you have **read**" in r for r in replies)
    assert any("merge queue is not available" in r for r in replies)

    def reactions(comment_id: int) -> list[tuple[str, str]]:
        resp = sandbox.api("GET", f"/repos/{repo}/issues/comments/{comment_id}/reactions", "alice")
        resp.raise_for_status()
        return [(r["user"]["login"], r["content"]) for r in resp.json()]

    assert reactions(carol.json()["id"]) == [(app.login, "confused")]
    assert reactions(alice.json()["id"]) == []  # answered by the "not available" reply, no 👍 on top


@contextmanager
def running_service(sandbox: SandboxServer, tmp_path: Path, repo_name: str) -> Iterator[BotApp]:
    """The whole bot as `mlgate serve` runs it, in App mode: the Flask app storing the App's signed
    webhooks, and the worker thread (debounced) routing and evaluating them through the real
    GitHubForge. The App (from app.yml) is installed on alice's `repo_name`, which must exist."""
    import threading

    from werkzeug.serving import make_server

    from mlgate.bot.intake.app import create_app
    from mlgate.bot.intake.worker import Worker, WorkerConfig
    from mlgate.bot.store.inbox import Inbox

    served: dict[str, Any] = {}  # the bot's Flask app, once the App it serves is registered

    def wsgi(environ: Any, start_response: Any) -> Any:
        if "app" not in served:
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"starting"]
        return served["app"](environ, start_response)

    http = make_server("127.0.0.1", 0, wsgi, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        bot_app = install_bot(sandbox, f"http://127.0.0.1:{http.server_port}/webhook", [repo_name])
        settings = bot_app.settings(
            database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}", debounce_seconds=0.2, debounce_max_seconds=1.0,
            poll_interval_seconds=0.05, worker_threads=2,
        )
        store = Inbox.open(settings.database_url)
        dispatcher = build_dispatcher(settings, store.engine, forges=bot_app.forges(settings))
        worker = Worker(store, dispatcher, WorkerConfig.from_settings(settings))
        served["app"] = create_app(settings, store=store, on_delivery=worker.wake)
        worker.start()
        try:
            yield bot_app
        finally:
            worker.stop(timeout=10)
            store.close()
    finally:
        http.shutdown()
        http.server_close()


def service_repo(sandbox: SandboxServer, tmp_path: Path, name: str) -> str:
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / CONFIG_PATH).write_text(CONFIG)
    (src / "train.py").write_text("EPOCHS = 3\n")
    repo = sandbox.create_repo("alice", name, "alice", from_dir=src)["full_name"]
    for login in ("bob", "carol"):
        resp = sandbox.api("PUT", f"/repos/{repo}/collaborators/{login}", "alice", json={"permission": "push"})
        resp.raise_for_status()
    return str(repo)


def check_conclusion(sandbox: SandboxServer, repo: str, sha: str) -> str | None:
    resp = sandbox.api("GET", f"/repos/{repo}/commits/{sha}/check-runs", "alice", params={"check_name": "mlgate"})
    runs = [r for r in resp.json().get("check_runs", []) if r["name"] == "mlgate"]
    return runs[0]["conclusion"] if runs else None


def test_through_the_service_webhook_store_worker(sandbox: SandboxServer, tmp_path: Path) -> None:
    """The whole bot: the sandbox posts the App's signed webhooks to the Flask app, which stores them;
    the worker thread (debounced) routes and evaluates them through the real GitHubForge."""
    repo = service_repo(sandbox, tmp_path, "ml-service")
    with running_service(sandbox, tmp_path, "ml-service"):
        head = sandbox.push_files("alice", "ml-service", "more-epochs", {"train.py": "EPOCHS = 5\n"}, "carol",
                                  base="main")
        number = sandbox.open_pr("alice", "ml-service", "more-epochs", "carol")["number"]

        def conclusion() -> str | None:
            return check_conclusion(sandbox, repo, head)

        assert wait_until(lambda: conclusion() == "failure", timeout=30), "no failing mlgate check from the service"
        assert wait_until(lambda: len(reports(sandbox, repo, number)) == 1, timeout=10)
        (first,) = reports(sandbox, repo, number)

        approve = sandbox.api("POST", f"/repos/{repo}/pulls/{number}/reviews", "bob", json={"event": "APPROVE"})
        approve.raise_for_status()
        assert wait_until(lambda: conclusion() == "success", timeout=30), "the approval did not turn the check green"
        assert wait_until(lambda: "✅ approved" in reports(sandbox, repo, number)[0]["body"], timeout=10)
        (final,) = reports(sandbox, repo, number)
        assert final["id"] == first["id"]


def test_duplicated_and_reordered_deliveries_change_nothing(sandbox: SandboxServer, tmp_path: Path) -> None:
    """GitHub promises neither order nor exactly-once: every delivery arrives twice (same GUID), and
    a PR's `opened` arrives after the `synchronize` of a later push. The bot ends where it would
    have: one report, one reply and one reaction per command, the check on the latest head."""
    repo = service_repo(sandbox, tmp_path, "ml-faults")
    try:
        with running_service(sandbox, tmp_path, "ml-faults") as app:
            sandbox.inject_webhook_fault("reorder", event="pull_request", count=2, delay=5.0)  # matched first
            sandbox.inject_webhook_fault("duplicate", count=200)
            sandbox.push_files("alice", "ml-faults", "tune", {"train.py": "EPOCHS = 5\n"}, "carol", base="main")
            number = sandbox.open_pr("alice", "ml-faults", "tune", "carol")["number"]
            head = sandbox.push_files("alice", "ml-faults", "tune", {"train.py": "EPOCHS = 6\n"}, "carol")
            assert sandbox.wait_for_webhooks(timeout=30)
            hits = {f["kind"]: f["hits"] for f in sandbox.admin("GET", "/faults").json()}
            assert hits["reorder"] == 2 and hits["duplicate"] > 0, hits  # opened went after synchronize
            assert wait_until(lambda: check_conclusion(sandbox, repo, head) == "failure", timeout=30)
            command = sandbox.api("POST", f"/repos/{repo}/issues/{number}/comments", "carol", json={"body": "/merge"})
            command.raise_for_status()
            approve = sandbox.api("POST", f"/repos/{repo}/pulls/{number}/reviews", "bob", json={"event": "APPROVE"})
            approve.raise_for_status()
            assert wait_until(lambda: check_conclusion(sandbox, repo, head) == "success", timeout=30)

            def settled() -> bool:
                comments = sandbox.api("GET", f"/repos/{repo}/issues/{number}/comments", "alice").json()
                return any(c["user"]["login"] == app.login and REPORT_MARKER not in c["body"] for c in comments)

            assert wait_until(settled, timeout=30), "no reply to the command"
            assert sandbox.wait_for_webhooks(timeout=30)
            assert wait_until(lambda: "✅ approved" in reports(sandbox, repo, number)[0]["body"], timeout=10)
            comments = sandbox.api("GET", f"/repos/{repo}/issues/{number}/comments", "alice").json()
            mine = [c for c in comments if c["user"]["login"] == app.login]
            assert len([c for c in mine if REPORT_MARKER in c["body"]]) == 1
            assert len([c for c in mine if REPORT_MARKER not in c["body"]]) == 1  # one reply to one /merge
            reactions = sandbox.api("GET", f"/repos/{repo}/issues/comments/{command.json()['id']}/reactions", "alice")
            assert len(reactions.json()) == 1
            runs = sandbox.api("GET", f"/repos/{repo}/commits/{head}/check-runs", "alice").json()["check_runs"]
            assert len([r for r in runs if r["name"] == "mlgate"]) == 1
            dups = [d for d in sandbox.admin("GET", "/deliveries").json() if d.get("app_id") == app.app.id]
            assert len(dups) > len({d["guid"] for d in dups}), "the duplicate fault sent nothing twice"
    finally:
        sandbox.admin("DELETE", "/faults")  # faults left armed would hit the module's other tests


def test_token_mode_reports_the_verdict_as_a_commit_status(sandbox: SandboxServer, sink: WebhookSink,
                                                           tmp_path: Path) -> None:
    """GitHub refuses check runs to anything but an App, so with a user's token (MLGATE_GITHUB_TOKEN)
    the bot's verdict is the commit status `mlgate`: branch protection can require it the same way."""
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / CONFIG_PATH).write_text(CONFIG)
    (src / "train.py").write_text("LEARNING_RATE = 0.1\n")
    repo = sandbox.create_repo("alice", "ml-token", "alice", from_dir=src)["full_name"]
    for login in ("bob", "carol", TOKEN_BOT):
        resp = sandbox.api("PUT", f"/repos/{repo}/collaborators/{login}", "alice", json={"permission": "push"})
        resp.raise_for_status()
    secret = "token-mode-secret"
    sandbox.add_hook("alice", "ml-token", sink.url, secret, "alice")
    settings = Settings(github_url=sandbox.api_url, auth_mode="token", github_token=TOKEN_BOT)
    bot = build_dispatcher(settings, forges=forge_factory(settings, ForgeOptions(seconds_between_writes=0)))
    drive = Driver(sandbox, sink, bot, repo, secret)
    head = sandbox.push_files("alice", "ml-token", "tune", {"train.py": "LEARNING_RATE = 0.2\n"}, "carol", base="main")
    number = sandbox.open_pr("alice", "ml-token", "tune", "carol")["number"]
    drive.settle()

    def mlgate_status() -> dict[str, Any]:
        resp = sandbox.api("GET", f"/repos/{repo}/commits/{head}/status", "alice")
        resp.raise_for_status()
        (status,) = [s for s in resp.json()["statuses"] if s["context"] == "mlgate"]
        return dict(status)

    runs = sandbox.api("GET", f"/repos/{repo}/commits/{head}/check-runs", "alice").json()["check_runs"]
    assert [r["name"] for r in runs if r["name"] == "mlgate"] == []
    assert mlgate_status()["state"] == "failure"
    assert "review" in mlgate_status()["description"]
    (comment,) = reports(sandbox, repo, number)
    assert comment["user"]["login"] == TOKEN_BOT

    sandbox.api("POST", f"/repos/{repo}/pulls/{number}/reviews", "bob", json={"event": "APPROVE"}).raise_for_status()
    drive.settle()
    assert mlgate_status()["state"] == "success"
    count = len(sandbox.api("GET", f"/repos/{repo}/commits/{head}/statuses", "alice").json())
    bot.evaluate(repo, number)  # nothing new: no second status is written
    assert len(sandbox.api("GET", f"/repos/{repo}/commits/{head}/statuses", "alice").json()) == count


def test_a_refused_review_request_is_reported_and_the_report_still_written(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """GitHub answers 422 to a review request for a team without access to the repository; the bot
    says so in its report instead of stopping before it (the check and the report are still written)."""
    org = {"login": "acme-e2e", "admins": ["alice"], "members": ["bob"]}
    sandbox.admin("POST", "/orgs", json=org).raise_for_status()
    sandbox.api("POST", "/orgs/acme-e2e/teams", "alice", json={"name": "ml-reviewers"}).raise_for_status()
    sandbox.api("PUT", "/orgs/acme-e2e/teams/ml-reviewers/memberships/bob", "alice",
                json={"role": "member"}).raise_for_status()
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    team_rule = "teams: [acme-e2e/ml-reviewers]\n      request_reviews: true"
    (src / CONFIG_PATH).write_text(CONFIG.replace("users: [bob]", team_rule))
    (src / "train.py").write_text("EPOCHS = 1\n")
    repo = sandbox.create_repo("acme-e2e", "gated", "alice", from_dir=src)["full_name"]
    sandbox.api("PUT", f"/repos/{repo}/collaborators/carol", "alice", json={"permission": "push"}).raise_for_status()
    app = install_bot(sandbox, sink.url, ["gated"], account="acme-e2e")
    bot = build_dispatcher(app.settings(), forges=app.forges())
    drive = Driver(sandbox, sink, bot, repo, app.secret)
    head = sandbox.push_files("acme-e2e", "gated", "tune", {"train.py": "EPOCHS = 2\n"}, "carol", base="main")
    number = sandbox.open_pr("acme-e2e", "gated", "tune", "carol")["number"]
    drive.settle()

    tried = [(c["status"], c["path"]) for c in sandbox.calls()["calls"] if c["path"].endswith("/requested_reviewers")]
    assert tried and tried[0][0] == 422, tried
    assert mlgate_check(sandbox, repo, head)["conclusion"] == "failure"
    (comment,) = reports(sandbox, repo, number)
    assert "Review request failed" in comment["body"]
    assert "HTTP 422" in comment["body"] and "Reviews may only be requested from collaborators" in comment["body"]
    requested = sandbox.api("GET", f"/repos/{repo}/pulls/{number}/requested_reviewers", "alice").json()
    assert requested["teams"] == []


def test_a_pr_with_more_files_than_github_lists_fails_the_review_gate_closed(
    sandbox: SandboxServer, sink: WebhookSink, tmp_path: Path
) -> None:
    """GitHub lists at most 3,000 of a PR's files; a training file past the 3,000th would escape the
    path-based review rules. The bot compares GitHub's `changed_files` with what it was given and
    refuses to judge what it cannot see."""
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / CONFIG_PATH).write_text(CONFIG)
    (src / "train.py").write_text("EPOCHS = 1\n")
    repo = sandbox.create_repo("alice", "ml-huge", "alice", from_dir=src)["full_name"]
    sandbox.api("PUT", f"/repos/{repo}/collaborators/carol", "alice", json={"permission": "push"}).raise_for_status()
    app = install_bot(sandbox, sink.url, ["ml-huge"])
    bot = build_dispatcher(app.settings(), forges=app.forges())
    drive = Driver(sandbox, sink, bot, repo, app.secret)
    files: dict[str, str | None] = {f"data/{i:04d}.csv": f"{i}\n" for i in range(3004)}
    files["train.py"] = "EPOCHS = 100\n"  # the 3,005th file in GitHub's order: never listed
    head = sandbox.push_files("alice", "ml-huge", "bulk", files, "carol", base="main")
    number = sandbox.open_pr("alice", "ml-huge", "bulk", "carol")["number"]
    drive.settle()

    run = mlgate_check(sandbox, repo, head)
    assert run["conclusion"] == "failure", run["output"]["summary"]
    (comment,) = reports(sandbox, repo, number)
    assert "GitHub lists at most 3,000 of a pull request's files and this one changes 3,005" in comment["body"]
    assert "cannot see 5 of them" in comment["body"]
