"""`mlgate demo`: the whole bot against a local GitHub, in one command, with a story.

What runs (all in this process, on loopback ports chosen by the OS, files in a temp directory):

- the GitHub sandbox (sandbox), with users alice (owner), bob (the ML reviewer), carol (a
  contributor), github-actions (the fake CI: its check runs come from the app `github-actions`,
  the one `merge.gate_app` trusts) and mlgate-bot (the bot's token);
- the bot itself: the webhook app (bot/intake/app.py) and the worker (bot/intake/worker.py) with a SQLite file,
  exactly as `mlgate serve` runs them, receiving the sandbox's signed webhooks;
- a fake CI that reacts to pushes on PR branches and the queue's `mlgate/staging/**` /
  `mlgate/try/**` branches by running the real `mlgate check all` on the pushed tree, with
  `.github/mlgate.yml` taken from `main` as the mlgate actions do (a PR cannot loosen its own
  gates), and posting the `mlgate/<gate>` check runs (results JSON in output.text, carrying the
  config's hash in `versions.config_sha256`) plus a `tests` run;
- a fake CD system that marks each new deployment successful.

The story (examples/arrests, trained first): a PR that retrains the model with `--variant unfair`
is blocked by the bias gate; a PR that triples the model's parameters for no gain (`--variant
bloated`) is blocked by the budget gate; a PR touching training code waits for bob; the good PRs
are `/merge`d and land; the landed version goes to staging and is rolled back with `/rollback
staging`; `/deploy production` is refused until the version ran in shadow and the shadow gate
passed on it (a shadow job stands in for the user's: it runs `mlgate check shadow` on the
deployed commit, first on too little traffic), and the production deployment carries the model
card. Each report comment is printed as it changes; a summary ends the run. Every step has a
deadline: a step that does not complete is reported as failed, and the steps that depend on it as
skipped, rather than hanging.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from mlgate.checks.config.models import DEPLOY_GATES
from mlgate.names import REPORT_MARKER, STAGING_BRANCH_PREFIX, TEMP_BRANCH_PREFIX, reply_marker
from mlgate.sandbox.harness import SandboxServer, WebhookSink, run_git

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "arrests"
OWNER, REPO_NAME = "alice", "arrests"
REPO = f"{OWNER}/{REPO_NAME}"
BOT, CI, REVIEWER, CONTRIBUTOR = "mlgate-bot", "github-actions", "bob", "carol"
ZERO = "0" * 40
Echo = Callable[[str], None]


@dataclass
class Step:
    name: str
    outcome: str = "skipped"  # ok, failed, skipped
    detail: str = ""


@dataclass
class DemoResult:
    steps: list[Step] = field(default_factory=list)
    ci_runs: int = 0
    seconds: float = 0.0
    urls: dict[str, str] = field(default_factory=dict)
    stop: Callable[[], None] | None = None  # set with keep=True: stops the servers

    @property
    def ok(self) -> bool:
        return all(s.outcome == "ok" for s in self.steps)

    def step(self, name: str) -> Step:
        s = Step(name)
        self.steps.append(s)
        return s


class StepFailed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The fake CI and CD


class FakeCI:
    """Runs `mlgate check all` on every pushed PR/staging/try head and publishes the check runs."""

    def __init__(self, sandbox: SandboxServer, sink: WebhookSink, secret: str, echo: Echo) -> None:
        self.sandbox, self.sink, self.secret, self.echo = sandbox, sink, secret, echo
        self.runs: list[tuple[str, str, str]] = []  # (branch, sha, status)
        self._seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="demo-ci", daemon=True)
        self.work = Path(tempfile.mkdtemp(prefix="mlgate-demo-ci-"))

    def start(self) -> FakeCI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)
        shutil.rmtree(self.work, ignore_errors=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            new = self.sink.deliveries[self._seen:]
            self._seen += len(new)
            for d in new:
                if d.event != "push" or not d.signature_ok(self.secret):
                    continue
                ref, sha = d.payload.get("ref", ""), d.payload.get("after", ZERO)
                branch = ref.removeprefix("refs/heads/")
                if sha == ZERO or branch == "main" or branch.startswith(TEMP_BRANCH_PREFIX):
                    continue
                try:
                    self.run(branch, sha)
                except Exception as exc:  # a broken CI run must not stop the demo's CI
                    self.echo(f"  [ci] run on {branch} failed: {exc}")
            self._stop.wait(0.2)

    def run(self, branch: str, sha: str) -> None:
        tree = self.work / sha
        if not tree.exists():
            run_git("clone", "-q", self.sandbox.clone_url(OWNER, REPO_NAME, CI), str(tree))
            run_git("checkout", "-q", sha, cwd=tree)
        # The config comes from the base branch, never from the pushed tree (what `mlgate check
        # --config-ref` does in the actions): the bot refuses a result computed with any other.
        run_git("fetch", "-q", "origin", "main", cwd=tree)
        base_config = subprocess.run(["git", "show", "origin/main:.github/mlgate.yml"], cwd=tree, check=True,
                                     capture_output=True).stdout
        (tree / ".github" / "mlgate.yml").write_bytes(base_config)
        config_hash = "sha256:" + hashlib.sha256(base_config).hexdigest()
        out = tree / "mlgate-results.json"
        env = {**os.environ, "GITHUB_SHA": sha}
        env.pop("GITHUB_ACTIONS", None)
        proc = subprocess.run(
            [*mlgate_command(), "check", "all", "--config", ".github/mlgate.yml", "--baseline", "baseline/results.json",
             "--json", str(out)],
            cwd=tree, env=env, capture_output=True, text=True, timeout=300, check=False,
        )
        if not out.exists():
            raise RuntimeError(f"mlgate check wrote no results (exit {proc.returncode}): {proc.stderr[-500:]}")
        results = json.loads(out.read_text())
        self.publish(sha, "tests", "success", "tests", "demo CI: the example has no unit tests", None)
        for gate in results.get("gates", []):
            if gate.get("gate") in DEPLOY_GATES:  # judged after a shadow deployment: see shadow_job
                continue
            one = {**results, "gates": [gate], "status": gate.get("status")}
            one["versions"] = {k: v for k, v in results.get("versions", {}).items() if k != "files"}
            one["versions"].setdefault("config_sha256", config_hash)
            conclusion = "failure" if gate.get("status") in ("fail", "error") else "success"
            summary = str(gate.get("summary") or gate.get("status"))
            self.publish(sha, f"mlgate/{gate['gate']}", conclusion, f"{gate['gate']}: {gate.get('status')}",
                         summary, json.dumps(one))
        self.runs.append((branch, sha, results.get("status", "?")))
        self.echo(f"  [ci] {branch} @ {sha[:7]}: mlgate check all → {results.get('status')}: {results.get('summary')}")

    def publish(self, sha: str, name: str, conclusion: str, title: str, summary: str, text: str | None) -> None:
        output: dict[str, Any] = {"title": title, "summary": summary[:60000]}
        if text is not None:
            output["text"] = text
        resp = self.sandbox.api("POST", f"/repos/{REPO}/check-runs", CI, json={
            "name": name, "head_sha": sha, "status": "completed", "conclusion": conclusion, "output": output})
        resp.raise_for_status()


def mlgate_command() -> list[str]:
    script = Path(sys.executable).parent / "mlgate"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from mlgate.cli import main; main()"]


# ---------------------------------------------------------------------------------------------
# The world: sandbox, bot, CI


class World:
    def __init__(self, root: Path, echo: Echo) -> None:
        self.root, self.echo = root, echo
        self.secret = "demo-" + os.urandom(8).hex()
        self.stoppers: list[Callable[[], None]] = []
        self.reports: dict[int, str] = {}  # the latest report comment of each PR (readable text)
        self.printed: dict[int, str] = {}  # what was last printed of it (see report_update)

    # --- start-up --------------------------------------------------------------------------
    def start(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self.sandbox = SandboxServer(self.root / "sandbox", users=("alice", REVIEWER, CONTRIBUTOR, CI, BOT)).start()
        self.stoppers.append(self.sandbox.stop)
        self._start_bot()
        self.sink = WebhookSink().start()
        self.stoppers.append(self.sink.stop)
        self.ci = FakeCI(self.sandbox, self.sink, self.secret, self.echo).start()
        self.stoppers.append(self.ci.stop)

    def _start_bot(self) -> None:
        from werkzeug.serving import make_server

        from mlgate.bot.github.client import ForgeOptions, forge_factory
        from mlgate.bot.intake.worker import Worker, WorkerConfig
        from mlgate.bot.settings import Settings
        from mlgate.bot.store.inbox import Inbox
        from mlgate.bot.wiring import build_dispatcher, build_web_app

        self.db_path = self.root / "mlgate.sqlite3"
        oauth = self.sandbox.admin("POST", "/apps", json={"slug": "mlgate-dashboard", "owner": "alice"}).json()
        settings = Settings(
            webhook_secret=self.secret, database_url=f"sqlite:///{self.db_path}", github_url=self.sandbox.api_url,
            auth_mode="token", github_token=BOT, debounce_seconds=0.2, debounce_max_seconds=2.0,
            poll_interval_seconds=0.2, retry_backoff_seconds=0.5, worker_threads=2,
            # the dashboard's sign-in: an OAuth client of the sandbox (sandbox/oauth.py)
            oauth_client_id=oauth["client_id"], oauth_client_secret=oauth["client_secret"],
            session_secret=os.urandom(16).hex(), github_web_url=self.sandbox.url,
        )
        store = Inbox.open(settings.database_url)
        forges = forge_factory(settings, ForgeOptions(seconds_between_writes=0))
        dispatcher = build_dispatcher(settings, store.engine, forges=forges)
        worker = Worker(store, dispatcher, WorkerConfig.from_settings(settings))
        worker.start()
        app = build_web_app(settings, store, worker, forges=forges)  # the webhook and the dashboard
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, name="demo-bot-http", daemon=True)
        thread.start()
        self.bot_url = f"http://127.0.0.1:{server.server_port}"
        self.dispatcher = dispatcher

        def stop() -> None:
            server.shutdown()
            server.server_close()
            worker.stop(timeout=10)
            store.close()

        self.stoppers.append(stop)

    def stop(self) -> None:
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as exc:  # keep stopping the rest
                self.echo(f"  (stopping: {exc})")
        self.stoppers.clear()

    # --- the repository --------------------------------------------------------------------
    def create_repo(self, project: Path) -> str:
        src = self.root / "src"
        shutil.copytree(project, src, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
        train(src, "baseline")
        config = src / ".github" / "mlgate.yml"
        text = config.read_text()
        # The example's review rule names a team; the sandbox repository is a user's, so bob stands in.
        text = text.replace("teams: [ml-fairness-team]", f"users: [{REVIEWER}]")
        config.write_text(text)
        self.sandbox.create_repo(OWNER, REPO_NAME, OWNER, from_dir=src)
        for login in (REVIEWER, CONTRIBUTOR, CI, BOT):
            self.api("PUT", f"/repos/{REPO}/collaborators/{login}", OWNER, json={"permission": "push"})
        self.sandbox.add_hook(OWNER, REPO_NAME, f"{self.bot_url}/webhook", self.secret, OWNER)
        self.sandbox.add_hook(OWNER, REPO_NAME, self.sink.url, self.secret, OWNER, events=("push",))
        return self.head("main")

    def api(self, method: str, path: str, token: str, **kw: Any) -> Any:
        resp = self.sandbox.api(method, path, token, **kw)
        if resp.status_code >= 400:
            raise StepFailed(f"{method} {path} → {resp.status_code}: {resp.text[:300]}")
        return resp.json() if resp.content else None

    def head(self, branch: str) -> str:
        return str(self.api("GET", f"/repos/{REPO}/branches/{branch}", OWNER)["commit"]["sha"])

    def change(self, branch: str, author: str, message: str, edit: Callable[[Path], None]) -> str:
        """Clone main as `author`, let `edit` change the tree, commit, push `branch`; the new SHA."""
        work = self.root / "work" / branch
        shutil.rmtree(work, ignore_errors=True)
        run_git("clone", "-q", self.sandbox.clone_url(OWNER, REPO_NAME, author), str(work))
        run_git("checkout", "-q", "-b", branch, cwd=work)
        edit(work)
        run_git("add", "-A", cwd=work)
        run_git("-c", f"user.name={author}", "-c", f"user.email={author}@users.noreply.sandbox", "commit", "-q",
                "-m", message, cwd=work)
        run_git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
        return run_git("rev-parse", "HEAD", cwd=work).strip()

    def open_pr(self, branch: str, author: str, title: str) -> int:
        return int(self.api("POST", f"/repos/{REPO}/pulls", author,
                            json={"head": branch, "base": "main", "title": title})["number"])

    def comment(self, number: int, user: str, body: str) -> int:
        return int(self.api("POST", f"/repos/{REPO}/issues/{number}/comments", user, json={"body": body})["id"])

    def ask(self, number: int, user: str, command: str, timeout: float) -> str:
        """Comment `command` and return the bot's reply (printed), found by its reply marker."""
        marker = reply_marker(self.comment(number, user, command))
        self.echo(f"  {user}: {command} (on #{number})")
        reply = self.wait(f"the bot's reply to {command}", lambda: next(
            (c["body"] for c in self.bot_comments(number) if marker in c["body"]), None), timeout)
        text = _readable(reply)
        self.echo("  bot: " + text.replace("\n", "\n       "))
        return text

    def settle(self, grace: float = 1.5) -> None:
        """Let the sandbox deliver its webhooks and the worker handle them (debounce + poll)."""
        self.sandbox.wait_for_webhooks(timeout=30)
        time.sleep(grace)

    def cd(self, deployment: dict[str, Any], state: str) -> None:
        """The fake CD system reports how the rollout went."""
        self.api("POST", f"/repos/{REPO}/deployments/{deployment['id']}/statuses", CI,
                 json={"state": state, "description": f"demo CD: {state}"})
        self.echo(f"  [cd] deployment {deployment['id']} ({deployment['environment']}, {deployment['sha'][:7]}): "
                  f"{state}")

    def pull(self, number: int) -> dict[str, Any]:
        return dict(self.api("GET", f"/repos/{REPO}/pulls/{number}", OWNER))

    def mlgate_check(self, sha: str) -> dict[str, Any] | None:
        data = self.api("GET", f"/repos/{REPO}/commits/{sha}/check-runs", OWNER, params={"check_name": "mlgate"})
        runs = [r for r in data["check_runs"] if r["name"] == "mlgate"]
        return runs[0] if runs else None

    def bot_comments(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.api("GET", f"/repos/{REPO}/issues/{number}/comments", OWNER)
                if c["user"]["login"] == BOT]

    def deployments(self) -> list[dict[str, Any]]:
        return sorted(self.api("GET", f"/repos/{REPO}/deployments", OWNER), key=lambda d: d["id"])

    # --- watching --------------------------------------------------------------------------
    def show_reports(self, numbers: tuple[int, ...]) -> None:
        """Print each PR's report comment once each time what it says changes (see `report_update`)."""
        for number in numbers:
            for c in self.bot_comments(number):
                if REPORT_MARKER not in c["body"]:
                    continue
                self.reports[number] = _readable(c["body"])
                key, lines = report_update(number, self.printed.get(number), c["body"])
                self.printed[number] = key
                for line in lines:
                    self.echo(line)

    def wait(self, what: str, cond: Callable[[], Any], timeout: float, watch: tuple[int, ...] = ()) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.show_reports(watch)
            value = cond()
            if value:
                self.show_reports(watch)
                return value
            if time.monotonic() > deadline:
                raise StepFailed(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.4)


DETAILS_MARKER = "<!-- mlgate-details -->"  # where the report's first screen ends (templates/comment.md.j2)


def report_update(number: int, printed: str | None, body: str) -> tuple[str, list[str]]:
    """What to print for PR `number`'s report comment `body`, given what was printed last.

    (the new "printed" key, the lines to print). A report still waiting for its checks is one line
    (its verdict), printed when that line changes; a report with a verdict is printed once as its
    first screen (verdict, what blocks, what to do next), with a pointer to the rest of the comment,
    and again only when that first screen changes. So each report reads once, never twice.
    """
    head, _, rest = body.partition(DETAILS_MARKER)
    summary = _readable(head)
    verdict = next((line for line in summary.splitlines() if line.startswith("## ")), "")
    if verdict.startswith("## ⏳"):
        key = "pending: " + verdict
        if key == printed:
            return key, []
        return key, [f"  report on #{number}: {verdict.removeprefix('## ')} (the gates have not all reported yet)"]
    if summary == printed:
        return summary, []
    lines = ["", f"  ┌── report comment on #{number} (edited in place) " + "─" * 30]
    lines += [f"  │ {line}" for line in summary.splitlines()]
    more = len([line for line in _readable(rest).splitlines() if line.strip() not in ("", "---")])
    if more:
        lines.append(f"  │ … and {more} more lines in the comment: the gate table, each gate's numbers and charts, "
                     "the review rules")
    lines.append("  └" + "─" * 70)
    return summary, lines


def _readable(body: str) -> str:
    """The comment without its HTML comments (the bot's hidden state), trailing blank lines trimmed."""
    text = re.sub(r"<!--.*?-->", "", body, flags=re.S)
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def train(project: Path, variant: str) -> None:
    proc = subprocess.run([sys.executable, "train.py", "--variant", variant], cwd=project, capture_output=True,
                          text=True, timeout=600, check=False)
    if proc.returncode != 0:
        raise StepFailed(f"python train.py --variant {variant} failed: {proc.stderr[-800:]}")


# ---------------------------------------------------------------------------------------------
# The story


def run_demo(echo: Echo = click.echo, *, keep: bool = False, step_timeout: float = 120.0,
             project: Path = EXAMPLE, root: Path | None = None) -> DemoResult:
    """Play the story; returns what happened. `keep`: leave the servers running (returns at once)."""
    started = time.monotonic()
    result = DemoResult()
    own_root = root is None
    root = root or Path(tempfile.mkdtemp(prefix="mlgate-demo-"))
    world = World(root, echo)
    try:
        _play(world, result, echo, step_timeout, project)
    finally:
        result.seconds = time.monotonic() - started
        result.ci_runs = len(world.ci.runs) if hasattr(world, "ci") else 0
        _summary(result, echo)
        if keep and hasattr(world, "sandbox"):
            echo(f"\nServers kept running (--keep). Sandbox: {world.sandbox.url}  (tokens are the user names, "
                 f"e.g. `Authorization: token alice`)  Bot: {world.bot_url}  Database: {world.db_path}")
            echo(f"Dashboard: {world.bot_url}/{REPO}  (all repositories: {world.bot_url}/; sign in as any "
                 "sandbox user, e.g. alice)")
            echo("Press Ctrl-C to stop.")
            result.stop = world.stop
        else:
            world.stop()
            if own_root:
                shutil.rmtree(root, ignore_errors=True)
    return result


def _play(world: World, result: DemoResult, echo: Echo, timeout: float, project: Path) -> None:
    # --- set-up ---
    step = result.step("start the sandbox, the bot and the fake CI; push the trained example")
    try:
        world.start()
        result.urls = {"sandbox": world.sandbox.url, "bot": world.bot_url, "dashboard": f"{world.bot_url}/{REPO}"}
        echo(f"sandbox {world.sandbox.url}  ·  bot {world.bot_url}  ·  SQLite {world.db_path}")
        echo(f"training examples/arrests and pushing it to {REPO} …")
        base = world.create_repo(project)
        step.outcome, step.detail = "ok", f"main at {base[:7]}"
        echo(f"pushed {REPO}@{base[:7]}")
    except Exception as exc:
        step.outcome, step.detail = "failed", str(exc)
        return

    def play(name: str, fn: Callable[[], str], needs: tuple[Step, ...] = ()) -> Step:
        step = result.step(name)
        missing = [s.name for s in needs if s.outcome != "ok"]
        if missing:
            step.detail = "needs: " + "; ".join(missing)
            echo(f"\n## {name}\n  skipped ({step.detail})")
            return step
        echo(f"\n## {name}")
        try:
            step.detail = fn()
            step.outcome = "ok"
        except Exception as exc:  # the story goes on; the summary says what failed
            step.outcome, step.detail = "failed", str(exc)
            echo(f"  FAILED: {exc}")
        return step

    state: dict[str, Any] = {}

    def unfair() -> str:
        sha = world.change("unfair-model", CONTRIBUTOR, "Add colour as a feature (retrained)",
                           lambda tree: train(tree, "unfair"))
        number = world.open_pr("unfair-model", CONTRIBUTOR, "Retrain with colour as a feature")
        echo(f"  carol opened #{number}: python train.py --variant unfair")
        check = world.wait("the mlgate check to fail on the bias gate",
                           lambda: _completed(world.mlgate_check(sha)), timeout, (number,))
        if check["conclusion"] != "failure" or "bias" not in world.reports.get(number, ""):
            raise StepFailed(f"expected a failing mlgate check naming the bias gate, got {check['conclusion']}")
        return f"#{number} blocked: {check['output']['title']}"

    def training() -> str:
        sha = world.change("tune-training", CONTRIBUTOR, "Document the training split",
                           lambda tree: _append(tree / "train.py", "\n# The split is by year: see CUTOFF_YEAR.\n"))
        number = world.open_pr("tune-training", CONTRIBUTOR, "Document the training split")
        state["training"] = number
        echo(f"  carol opened #{number}, which touches train.py")

        def asks_for_review() -> dict[str, Any] | None:
            report = world.reports.get(number, "")
            if REVIEWER not in report or "not reported yet" in report:
                return None  # wait for the CI's gates too: the PR then waits for the review only
            return _completed(world.mlgate_check(sha))

        check = world.wait("the report to ask for bob's review", asks_for_review, timeout, (number,))
        if check["conclusion"] == "success":
            raise StepFailed("the mlgate check passed without the required review")
        echo(f"  the mlgate check is {check['conclusion']} until {REVIEWER} approves; bob approves")
        world.api("POST", f"/repos/{REPO}/pulls/{number}/reviews", REVIEWER, json={"event": "APPROVE"})
        world.wait("the mlgate check to turn green after the approval",
                   lambda: (_completed(world.mlgate_check(sha)) or {}).get("conclusion") == "success", timeout,
                   (number,))
        return f"#{number} was blocked on the review rule, green after bob's approval"

    def good() -> str:
        numbers = []
        for i, (path, text) in enumerate((("docs/serving.md", "Serving notes.\n"),
                                          ("docs/monitoring.md", "Monitoring notes.\n"),
                                          ("docs/faq.md", "FAQ.\n")), start=1):
            branch = f"docs-{i}"
            def edit(tree: Path, p: str = path, t: str = text) -> None:
                _write(tree / p, t)

            world.change(branch, CONTRIBUTOR, f"Add {path}", edit)
            numbers.append(world.open_pr(branch, CONTRIBUTOR, f"Add {path}"))
        state["good"] = numbers
        echo(f"  carol opened {', '.join(f'#{n}' for n in numbers)} (documentation only)")
        for n in numbers:
            sha = world.pull(n)["head"]["sha"]
            def green(s: str = sha) -> bool:
                return (_completed(world.mlgate_check(s)) or {}).get("conclusion") == "success"

            world.wait(f"#{n}'s gates", green, timeout, tuple(numbers))
        return f"{', '.join(f'#{n}' for n in numbers)} green"

    def merge() -> str:
        first, numbers = state["training"], state["good"]
        before = len(world.ci.runs)
        pushes = len(world.sink.deliveries)
        world.comment(first, OWNER, "/merge")

        def staging_pushed() -> bool:
            staging = f"refs/heads/{STAGING_BRANCH_PREFIX}"
            return any(d.event == "push" and str(d.payload.get("ref", "")).startswith(staging)
                       for d in world.sink.deliveries[pushes:])

        world.wait(f"the queue to start testing #{first}", staging_pushed, timeout, (first,))
        echo(f"  alice: /merge on #{first}, then on {', '.join(f'#{n}' for n in numbers)} while it is tested")
        for n in numbers:
            world.comment(n, OWNER, "/merge")
        world.wait(f"#{first} to land", lambda: world.pull(first).get("merged"), timeout * 2, (first,))
        world.wait("the three good PRs to land", lambda: all(world.pull(n).get("merged") for n in numbers),
                   timeout * 2, tuple(numbers))
        state["v2"] = world.head("main")
        staging = [r for r in world.ci.runs[before:] if r[0].startswith(STAGING_BRANCH_PREFIX)]
        history = world.api("GET", f"/repos/{REPO}/commits", OWNER, params={"sha": "main", "per_page": 20})
        echo(f"  main: {' ← '.join(c['sha'][:7] for c in history[:6])}")
        batches = "in one batch" if len(staging) == 2 else f"in {len(staging) - 1} batches"
        return (f"#{first} landed first; the three landed {batches}, main at {state['v2'][:7]}; "
                f"{len(staging)} staging CI runs for 4 PRs")

    def deploy_and_roll_back() -> str:
        v2 = state["v2"]

        def staging() -> list[dict[str, Any]]:
            return [d for d in world.deployments() if d["environment"] == "staging"]

        # The CD system: every landed version the bot sends to staging rolls out fine.
        world.wait(f"the staging deployment of {v2[:7]}", lambda: any(d["sha"] == v2 for d in staging()), timeout)
        done = staging()
        for dep in done:
            version = dep["payload"]["version"]
            echo(f"  deployment {dep['id']} → staging: code {dep['sha'][:7]}, model {str(version['model'])[:19]}, "
                 f"data {str(version['data'])[:19]}, PRs {dep['payload']['prs']}")
            world.cd(dep, "success")
        if len(done) < 2:
            raise StepFailed(f"expected two landed versions in staging, found {len(done)}")
        previous = done[-2]["sha"]
        world.settle()  # the bot records the statuses from their webhooks before the command reads them
        number = state["good"][0]
        world.ask(number, OWNER, "/rollback staging", timeout)
        back = world.wait(f"a new staging deployment of {previous[:7]}",
                          lambda: next((d for d in staging() if d["id"] > done[-1]["id"]), None), timeout)
        if back["sha"] != previous:
            raise StepFailed(f"the rollback deployed {back['sha'][:7]}, expected {previous[:7]}")
        world.cd(back, "success")
        return f"staging ran {v2[:7]}; /rollback redeployed {previous[:7]} (deployment {back['id']})"

    def production() -> str:
        return story_production(world, echo, timeout, state["good"], state["v2"])

    def bloated() -> str:
        return story_bloated(world, echo, timeout)

    play("1. a PR that degrades a group's false negative rate is blocked", unfair)
    play("2. a PR that triples the model's parameters for no gain is blocked by the budget gate", bloated)
    s2 = play("3. a PR touching training code waits for an allowed reviewer", training)
    s3 = play("4. three good PRs pass their gates", good)
    s4 = play("5. /merge: the reviewed PR lands first, then the three good ones together", merge, needs=(s2, s3))
    s5 = play("6. the landed version goes to staging and is rolled back", deploy_and_roll_back, needs=(s4,))
    play("7. production needs a shadow deployment and a passed shadow gate; a failed rollout is reported on the PRs",
         production, needs=(s5,))


# ---------------------------------------------------------------------------------------------
# Story steps of the model practices: the budget gate, and the shadow gate before production


def story_bloated(world: World, echo: Echo, timeout: float) -> str:
    """A PR that encodes every feature three times: three times the parameters, the same AUC."""
    sha = world.change("bigger-model", CONTRIBUTOR, "Encode every feature three times (retrained)",
                       lambda tree: train(tree, "bloated"))
    number = world.open_pr("bigger-model", CONTRIBUTOR, "A bigger model")
    echo(f"  carol opened #{number}: python train.py --variant bloated")
    check = world.wait("the mlgate check to fail on the budget gate",
                       lambda: _completed(world.mlgate_check(sha)), timeout, (number,))
    if check["conclusion"] != "failure" or "budget" not in world.reports.get(number, ""):
        raise StepFailed(f"expected a failing mlgate check naming the budget gate, got {check['conclusion']}")
    runs = world.api("GET", f"/repos/{REPO}/commits/{sha}/check-runs", OWNER)["check_runs"]
    failed = sorted(r["name"] for r in runs if r["name"].startswith("mlgate/") and r["conclusion"] == "failure")
    if failed != ["mlgate/budget"]:
        raise StepFailed(f"expected the budget gate alone to fail, got {failed}")
    return f"#{number} blocked by mlgate/budget alone: {check['output']['title']}"


def shadow_job(world: World, sha: str, requests: int | None) -> dict[str, Any]:
    """The user's shadow job: once the shadow deployment of `sha` has served `requests` requests (None:
    all of them), export both models' answers, run the shadow gate on that commit with the base
    branch's config, and publish `mlgate/shadow` there. Returns the gate's result."""
    tree = world.ci.work / f"shadow-{sha[:12]}-{requests or 'all'}"
    run_git("clone", "-q", world.sandbox.clone_url(OWNER, REPO_NAME, CI), str(tree))
    run_git("checkout", "-q", sha, cwd=tree)
    base_config = subprocess.run(["git", "show", "origin/main:.github/mlgate.yml"], cwd=tree, check=True,
                                 capture_output=True).stdout
    (tree / ".github" / "mlgate.yml").write_bytes(base_config)
    export = tree / "artifacts" / "shadow_export.parquet"
    if requests is not None:
        import pandas as pd

        pd.read_parquet(export).head(requests).to_parquet(export, index=False)
    out = tree / "shadow-results.json"
    proc = subprocess.run([*mlgate_command(), "check", "shadow", "--config", ".github/mlgate.yml", "--json", str(out)],
                          cwd=tree, env={**os.environ, "GITHUB_SHA": sha}, capture_output=True, text=True,
                          timeout=300, check=False)
    if not out.exists():
        raise StepFailed(f"mlgate check shadow wrote no results (exit {proc.returncode}): {proc.stderr[-500:]}")
    results = json.loads(out.read_text())
    gate = results["gates"][0]
    results["versions"] = {k: v for k, v in results.get("versions", {}).items() if k != "files"}
    results["versions"].setdefault("config_sha256", "sha256:" + hashlib.sha256(base_config).hexdigest())
    conclusion = "failure" if gate.get("status") in ("fail", "error") else "success"
    world.ci.publish(sha, "mlgate/shadow", conclusion, f"shadow: {gate.get('status')}",
                     str(gate.get("summary") or gate.get("status")), json.dumps(results))
    served = "every request" if requests is None else f"the first {requests} requests"
    echo = world.echo
    echo(f"  [shadow job] {served} of the shadow deployment of {sha[:7]}: mlgate check shadow → "
         f"{gate.get('status')}: {gate.get('summary')}")
    return dict(gate)


def story_production(world: World, echo: Echo, timeout: float, numbers: list[int], v2: str) -> str:
    """`/deploy production` is refused until `shadow` has the version and `mlgate/shadow` passed on it
    (too little traffic first); the deployment then carries the model card; a failed rollout is
    reported on the PRs."""
    number = numbers[0]
    refused = world.ask(number, OWNER, "/deploy production", timeout)
    if "refused" not in refused or "mlgate/shadow" not in refused:
        raise StepFailed("production was not refused for want of a shadow deployment and the shadow gate")
    world.ask(number, OWNER, "/deploy shadow", timeout)
    shadow = world.wait("the shadow deployment", lambda: next(
        (d for d in world.deployments() if d["environment"] == "shadow"), None), timeout)
    world.cd(shadow, "success")
    world.settle()  # the bot records the status from its webhook
    early = shadow_job(world, v2, 200)
    if early.get("status") != "fail":
        raise StepFailed(f"200 shadow requests should not be enough evidence, the gate said {early.get('status')}")
    world.settle()
    refused = world.ask(number, OWNER, "/deploy production", timeout)
    if "refused" not in refused or "requests" not in refused:
        raise StepFailed("production was not refused with the shadow gate's failed limit")
    if shadow_job(world, v2, None).get("status") not in ("pass", "warn"):
        raise StepFailed("the shadow gate did not pass on the full shadow traffic")
    world.settle()
    world.ask(number, OWNER, "/deploy production", timeout)
    prod = world.wait("the production deployment", lambda: next(
        (d for d in world.deployments() if d["environment"] == "production"), None), timeout)
    card = (prod.get("payload") or {}).get("card") or {}
    if card.get("schema") != "mlgate.card/v1":
        raise StepFailed("the production deployment carries no model card")
    verdicts = ", ".join(f"{v['gate']} {v['status']}" for v in card.get("verdicts", []))
    echo(f"  deployment {prod['id']} → production: {prod.get('description')}")
    echo(f"  its model card: {card.get('name')}; model {str(card['versions'].get('model', {}).get('sha256'))[:19]}; "
         f"{verdicts}")
    notes_before = {n: len(world.bot_comments(n)) for n in numbers}
    world.cd(prod, "failure")
    last = numbers[-1]
    note = world.wait("the bot's comment on the PRs of the failed version", lambda: next(
        (c["body"] for c in world.bot_comments(last)[notes_before[last]:] if "production" in c["body"]), None),
        timeout)
    echo(f"  bot on #{last}: " + _readable(note).replace("\n", "\n       "))
    return (f"production refused until shadow had {v2[:7]} and mlgate/shadow passed (refused first on 200 "
            f"requests); deployed with its model card; the failed rollout was reported on "
            f"{', '.join(f'#{n}' for n in numbers)}")


def _completed(run: dict[str, Any] | None) -> dict[str, Any] | None:
    return run if run and run.get("status") == "completed" else None


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _summary(result: DemoResult, echo: Echo) -> None:
    echo("\n## Summary")
    for s in result.steps:
        mark = {"ok": "✅", "failed": "❌", "skipped": "⏭️"}.get(s.outcome, "?")
        echo(f"  {mark} {s.name}: {s.outcome}{' — ' + s.detail if s.detail else ''}")
    echo(f"  {result.ci_runs} CI runs, {result.seconds:.0f} s")


def find_example(explicit: Path | None = None) -> Path:
    """The example project: --project, else next to the package (a checkout or an editable install),
    else ./examples/arrests (an installed wheel, run from the checkout)."""
    candidates = [explicit] if explicit else [EXAMPLE, Path.cwd() / "examples" / "arrests"]
    for candidate in candidates:
        if candidate is not None and (candidate / "train.py").is_file() and (candidate / ".github").is_dir():
            return candidate
    where = str(explicit) if explicit else "examples/arrests"
    raise click.UsageError(f"the example project was not found at {where}: run `mlgate demo` from the mlgate "
                           "checkout, or pass --project PATH")


@click.command("demo")
@click.option("--keep", is_flag=True, help="Leave the sandbox and the bot running afterwards, to explore.")
@click.option("--step-timeout", default=120.0, show_default=True, type=click.FloatRange(5, 3600),
              help="Seconds each step may wait for the bot or the CI.")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The example project to push (default: examples/arrests of the mlgate checkout).")
def demo(keep: bool, step_timeout: float, project: Path | None) -> None:
    """Run the bot against a local GitHub sandbox and play a short story."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = run_demo(keep=keep, step_timeout=step_timeout, project=find_example(project))
    if keep:
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            if result.stop is not None:
                result.stop()
    if not result.ok:
        raise SystemExit(1)


__all__ = ["DemoResult", "demo", "find_example", "run_demo"]
