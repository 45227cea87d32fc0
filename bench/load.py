"""Many repositories, several workers: the whole bot under load on one sandbox, with PostgreSQL.

    python bench/load.py [--repos 20] [--prs 20] [--merge-window 60] [--phases calm,kill]
                         [--database-url postgresql+psycopg://…] [--timeout S] [--auth app|token]
                         [--keep DIR] [--inject-fault lose|merge-twice|trust-everything]

One local GitHub sandbox holds `--repos` repositories of `--prs` open PRs each (10% of them break
the build once merged with the others: a fake CI reports `ci/tests` red on any commit whose tree has
the PR's `BROKEN` file, after a random 0.5–3 s). The bot runs as it does in production: a GitHub
App registered from app.yml through the sandbox's manifest flow and installed on the owner's
repositories (`--auth token`: a user token and repository hooks instead), one
`mlgate serve --no-worker` process taking the webhooks and two `mlgate worker` processes sharing a
fresh PostgreSQL database. Every PR gets `/merge` at a random moment within `--merge-window`
seconds; the run ends when every PR is merged or failed in the queue (or at `--timeout`, by default
the window + 240 s + 3 s per PR).

Reported per phase (`calm`, then `kill`: the same, with one worker SIGKILLed halfway through the
/merge window at the worst moment found within 15 s: while it holds a merge queue's feed lock,
between saving a queue step and carrying out its actions; its leases expire and the other worker
resumes what it held):

- total wall time from the first /merge to the last PR settled;
- deliveries lost: acknowledged (2xx) by `mlgate serve` but not handled (`done`) in the inbox within
  60 s of the phase settling (0);
- PRs merged twice: a PR head merged into a base branch more than once (git), or reported landed
  more than once (the bot's history) (0); landed PRs whose head is not on the base (0);
- base moves to a SHA on which the fake CI had not reported `ci/tests` green before the move (0),
  and BROKEN PRs on the base (0);
- worker utilisation: CPU seconds of each bot process over the wall time (one core = 100%);
- delivery-to-action latency: from the inbox's receipt to the worker having handled it (p50/p99).

`--inject-fault` checks that each counter can see its failure: `lose` (one in ten
`issue_comment.edited` deliveries always fails), `merge-twice` (a landed PR merged into main again by
hand after the phase, untested), `trust-everything` (the bot reads every required check green
before CI ran).

The GitHub write spacing (1 s per installation on GitHub) is off (`--write-spacing 0`) and the
sandbox's primary rate limit is raised (`--rate-limit`; GitHub gives a token 5,000 calls an hour,
which 400 PRs exhaust: the bot then waits for the reset, losing nothing): the numbers measure the
bot, not a sleep. Everything stays
on 127.0.0.1; counts and time are bounded. A benchmark, not a test: it prints, it does not assert
(the exit code is 1 when a zero is not a zero or a phase did not settle).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "load-secret"
BOT, AUTHOR, CI_USER, OWNER = "mlgate-bot", "bob", "carol", "alice"
CHECK = "ci/tests"
ZERO = "0" * 40


def dispatcher(settings: Any, engine: Any = None) -> Any:
    """MLGATE_DISPATCHER for the bot's processes: the real dispatcher, with the write spacing of
    MLGATE_LOAD_WRITE_SPACING and a short batch delay (bors-ng's batch_delay) for the queue."""
    from mlgate.bot.github.client import ForgeOptions, forge_factory
    from mlgate.bot.wiring import build_dispatcher

    spacing = float(os.environ.get("MLGATE_LOAD_WRITE_SPACING", "0"))
    fault = os.environ.get("MLGATE_LOAD_FAULT", "")
    forges = forge_factory(settings, ForgeOptions(seconds_between_writes=spacing))
    if fault == "trust-everything":
        forges = _trusting(forges)
    bot = build_dispatcher(settings, engine, forges=forges)
    bot.queue_knobs["batch_delay_seconds"] = float(os.environ.get("MLGATE_LOAD_BATCH_DELAY", "2"))
    if fault == "lose":
        handle = bot.handle

        def losing(event: str, payload: dict[str, Any], delivery_id: str) -> Any:
            if (event == "issue_comment" and payload.get("action") == "edited"
                    and int(hashlib.sha256(delivery_id.encode()).hexdigest(), 16) % 10 == 0):
                raise RuntimeError("injected fault: this delivery is never handled")
            return handle(event, payload, delivery_id)

        bot.handle = losing  # type: ignore[method-assign]
    return bot


def _trusting(forges: Any) -> Any:
    """The `trust-everything` fault: the bot reads a green `ci/tests` on every commit, before CI ran,
    so the queue lands staging commits untested (the red-base counter must see it)."""
    from mlgate.bot.github.facts import CheckRun

    def factory(repo: str, installation: int | None) -> Any:
        forge = forges(repo, installation)
        checks_on = forge.checks_on

        def lying(repo: str, sha: str) -> Any:
            return (*checks_on(repo, sha), CheckRun(CHECK, "completed", "success", None, sha, kind="status"))

        forge.checks_on = lying
        return forge

    for name in ("bot_login",):
        if hasattr(forges, name):
            setattr(factory, name, getattr(forges, name))
    return factory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"mlgate serve exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("mlgate serve did not start listening")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (Linux /proc), 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its direct children (gunicorn's worker under `mlgate serve`)."""
    total = cpu_seconds(pid)
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            total += cpu_seconds(int(stat.parent.name))
    return total


def sample_cpu(procs: list[subprocess.Popen[bytes]], last: dict[int, float], stop: threading.Event) -> None:
    """Keep the last CPU reading of each process (a killed one keeps what it had used)."""
    while not stop.wait(0.5):
        for proc in procs:
            if proc.poll() is None:  # a process killed just now reads 0 (gone): CPU time never decreases
                last[proc.pid] = max(last.get(proc.pid, 0.0), tree_cpu_seconds(proc.pid))


def fresh_database(admin_url: str) -> tuple[str, Any]:
    """CREATE DATABASE mlgate_load_<random> on the server of `admin_url`; (its URL, a drop function)."""
    import sqlalchemy as sa

    name = f"mlgate_load_{uuid.uuid4().hex[:8]}"
    url = sa.engine.make_url(admin_url)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


class FakeCI:
    """Reports `ci/tests` on pushed PR heads (green) and staging/try commits (red when the tree has a
    BROKEN file) after a random delay, from a small thread pool."""

    def __init__(self, gh: Any, ci_min: float, ci_max: float, seed: int) -> None:
        self.gh, self.ci_min, self.ci_max = gh, ci_min, ci_max
        self.random = random.Random(seed)
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="fake-ci")
        self.lock = threading.Lock()
        self.green: dict[tuple[str, str], float] = {}  # (repo, sha) -> monotonic time it was reported success
        self.runs = 0

    def on_push(self, payload: dict[str, Any]) -> None:
        ref, sha = str(payload.get("ref", "")), str(payload.get("after", ZERO))
        repo = str((payload.get("repository") or {}).get("full_name", ""))
        branch = ref.removeprefix("refs/heads/")
        if not ref.startswith("refs/heads/") or sha == ZERO or branch == "main" or branch.startswith("mlgate/tmp/"):
            return
        with self.lock:
            delay = self.random.uniform(self.ci_min, self.ci_max)
        self.pool.submit(self._run, repo, branch, sha, delay)

    def _run(self, repo: str, branch: str, sha: str, delay: float) -> None:
        time.sleep(delay)
        green = True
        if branch.startswith(("mlgate/staging/", "mlgate/try/")):
            resp = self.gh.api("GET", f"/repos/{repo}/contents/BROKEN", CI_USER, params={"ref": sha})
            green = resp.status_code == 404
            with self.lock:
                self.runs += 1
        resp = self.gh.api("POST", f"/repos/{repo}/statuses/{sha}", CI_USER,
                           json={"state": "success" if green else "failure", "context": CHECK})
        if resp.status_code == 201 and green:
            with self.lock:
                self.green.setdefault((repo, sha), time.monotonic())


@dataclass
class Phase:
    name: str
    repos: list[str] = field(default_factory=list)
    broken: dict[tuple[str, int], bool] = field(default_factory=dict)
    repo_ids: set[int] = field(default_factory=set)
    serve_hooks: set[int] = field(default_factory=set)  # token mode: the bot's repository hooks
    main_moves: list[tuple[str, str, float]] = field(default_factory=list)  # (repo, sha, monotonic) pushes to main
    started: float = 0.0
    settled: float = 0.0
    killed: str | None = None
    fault: str | None = None


def start_bot(args: argparse.Namespace, db_url: str, api_url: str, port: int, logdir: Path, app: Any
              ) -> tuple[subprocess.Popen[bytes], list[subprocess.Popen[bytes]]]:
    """`app`: the GitHub App (SandboxApp) the bot runs as, or None for token mode (the `mlgate-bot` user)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLGATE_")}
    if app is not None:
        env.update({"MLGATE_APP_ID": str(app.id), "MLGATE_PRIVATE_KEY": app.private_key,
                    "MLGATE_WEBHOOK_SECRET": app.webhook_secret, "MLGATE_BOT_LOGIN": app.bot_login})
    else:
        env.update({"MLGATE_GITHUB_TOKEN": BOT, "MLGATE_WEBHOOK_SECRET": SECRET, "MLGATE_BOT_LOGIN": BOT})
    env = {**env, "PYTHONPATH": str(ROOT), "MLGATE_DATABASE_URL": db_url, "MLGATE_GITHUB_URL": api_url,
           "MLGATE_LOAD_FAULT": args.inject_fault if args.inject_fault in ("lose", "trust-everything") else "",
           "MLGATE_LOG_LEVEL": args.log_level, "MLGATE_DISPATCHER": "bench.load:dispatcher",
           "MLGATE_LOAD_WRITE_SPACING": str(args.write_spacing), "MLGATE_LEASE_SECONDS": str(args.lease_seconds),
           "MLGATE_WORKER_THREADS": str(args.worker_threads), "MLGATE_DEBOUNCE_SECONDS": "0.5",
           "MLGATE_DEBOUNCE_MAX_SECONDS": "3", "MLGATE_RESYNC_INTERVAL_SECONDS": "3600"}
    logdir.mkdir(parents=True, exist_ok=True)
    serve = subprocess.Popen([sys.executable, "-m", "mlgate", "serve", "--no-worker", "--port", str(port),
                              "--threads", "8"], cwd=logdir, env=env, stdout=subprocess.DEVNULL,
                             stderr=open(logdir / "serve.log", "wb"))  # noqa: SIM115 (closed with the process)
    wait_listening(port, serve)
    workers = [subprocess.Popen([sys.executable, "-m", "mlgate", "worker"], cwd=logdir, env=env,
                                stdout=subprocess.DEVNULL, stderr=open(logdir / f"worker-{i}.log", "wb"))  # noqa: SIM115
               for i in range(args.workers)]
    return serve, workers


def setup_phase(gh: Any, phase: Phase, args: argparse.Namespace, hook_url: str | None, sink_url: str, tmp: Path,
                rng: random.Random) -> None:
    """`hook_url`: the bot's webhook as a repository hook (token mode); None: the App's webhook delivers."""
    from mlgate.names import CONFIG_PATH

    for r in range(args.repos):
        name = f"{phase.name}-{r:02d}"
        src = tmp / f"src-{name}"
        (src / ".github").mkdir(parents=True)
        (src / CONFIG_PATH).write_text(f"version: 1\nmerge:\n  required_checks: [{CHECK}]\n"
                                       f"  batch_size: {args.batch_size}\n")
        (src / "README.md").write_text(f"# {name}\n")
        created = gh.create_repo(OWNER, name, OWNER, from_dir=src)
        repo = created["full_name"]
        phase.repo_ids.add(int(created["id"]))
        for login in (AUTHOR, CI_USER) + ((BOT,) if hook_url else ()):
            gh.api("PUT", f"/repos/{repo}/collaborators/{login}", OWNER, json={"permission": "push"}
                   ).raise_for_status()
        # The bot hears the repository from the start: a `/merge` approves the head the bot saw
        # (with GitHub's time, bot/commands/approval.py), so it must see the PRs opened. The App is
        # installed on all of the owner's repositories, so it hears a new one at once.
        if hook_url:
            phase.serve_hooks.add(int(gh.add_hook(OWNER, name, hook_url, SECRET, OWNER)["id"]))
        gh.add_hook(OWNER, name, sink_url, SECRET, OWNER, events=("push",))  # the fake CI
        phase.repos.append(repo)
        for i in range(args.prs):
            broken = rng.random() < args.fail_rate
            files = {f"f{i}.txt": f"{i}\n", **({"BROKEN": f"{i}\n"} if broken else {})}
            gh.push_files(OWNER, name, f"pr-{i}", files, AUTHOR, base="main", message=f"Change {i}")
            number = int(gh.open_pr(OWNER, name, f"pr-{i}", AUTHOR, title=f"Change {i}")["number"])
            phase.broken[(repo, number)] = broken


def kill_mid_feed(engine: Any, victim: subprocess.Popen[bytes], started: float, within: float = 15.0) -> str:
    """SIGKILL `victim` at the worst moment there is: while it holds a merge queue's feed lock, i.e. between
    saving a queue step and having carried out its actions (within `within` s; else wherever it is)."""
    import sqlalchemy as sa

    from mlgate.bot.queue.store import queue_feed_locks as locks

    mine = f"%:{victim.pid}:%"
    query = sa.select(locks.c.repo).where(locks.c.owner.like(mine)).limit(1)
    deadline = time.monotonic() + within
    repo = None
    with engine.connect() as conn:
        while repo is None and time.monotonic() < deadline:
            repo = conn.execute(query).scalar()
            conn.rollback()
            if repo is None:
                time.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        held = conn.execute(query).scalar()  # still its: it died mid-feed
    where = f"while feeding the merge queue of {held}" if held else "(not mid-feed)"
    return f"worker pid {victim.pid} SIGKILLed {time.monotonic() - started:.0f} s in {where}"


def queue_statuses(engine: Any, repo: str) -> dict[int, str]:
    from mlgate.bot.queue.store import QueueStore

    return {p.number: p.status for p in QueueStore(engine).load(repo).state.pulls}


def run_phase(gh: Any, sink: Any, ci: FakeCI, phase: Phase, args: argparse.Namespace, engine: Any,
              workers: list[subprocess.Popen[bytes]], rng: random.Random) -> None:
    """/merge every PR within the window (SIGKILL a worker halfway in the kill phase), then wait."""
    del sink
    pulls = sorted(phase.broken)
    times = sorted(rng.uniform(0, args.merge_window) for _ in pulls)
    order = pulls[:]
    rng.shuffle(order)
    phase.started = time.monotonic()
    kill_at = phase.started + args.merge_window / 2 if phase.name == "kill" else None
    for at, (repo, number) in zip(times, order, strict=True):
        delay = phase.started + at - time.monotonic()
        if kill_at is not None and time.monotonic() + max(0.0, delay) >= kill_at and phase.killed is None:
            time.sleep(max(0.0, kill_at - time.monotonic()))
            phase.killed = kill_mid_feed(engine, workers[0], phase.started)
            delay = phase.started + at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        gh.api("POST", f"/repos/{repo}/issues/{number}/comments", OWNER, json={"body": "/merge"}).raise_for_status()
    deadline = phase.started + args.timeout
    while time.monotonic() < deadline:
        if all(w.poll() is not None for w in workers):
            raise SystemExit("every mlgate worker process exited; see worker-*.log")
        done = 0
        for repo in phase.repos:
            statuses = queue_statuses(engine, repo)
            done += sum(1 for (r, n) in pulls if r == repo and statuses.get(n) in ("merged", "failed", "cancelled"))
        if done == len(pulls):
            break
        time.sleep(1.0)
    phase.settled = time.monotonic()


def settle_deliveries(gh: Any, inbox: Any, phase: Phase, app: Any, grace: float = 60.0) -> None:
    """Wait (at most `grace` s) until every delivery serve acknowledged is done: the last ones (closing
    events, the fake CI's last statuses) are still being handled when the last PR settles. What is
    still not done after the grace counts as lost."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        gh.wait_for_webhooks(timeout=10)
        acked = {d["guid"] for d in gh.admin("GET", "/deliveries").json()
                 if to_serve(d, phase, app) and 200 <= int(d.get("status_code") or 0) < 300}
        done = {r.delivery_id for r in inbox.deliveries("done")}
        if acked <= done:
            return
        time.sleep(1.0)


def to_serve(d: dict[str, Any], phase: Phase, app: Any) -> bool:
    """Is this sandbox delivery one for the bot's webhook, about a repository of `phase`?"""
    if app is not None:
        return d.get("app_id") == app.id and d.get("repository_id") in phase.repo_ids
    return d.get("hook_id") in phase.serve_hooks


def report(gh: Any, ci: FakeCI, phase: Phase, engine: Any, inbox: Any, cpu: dict[str, float],
           wall: float, ci_runs: int, app: Any, logdir: Path) -> dict[str, Any]:
    """Count each zero from what GitHub (the sandbox) and the fake CI saw, not from what the bot says,
    except "reported landed twice", which is the bot's own record (its dashboard history)."""
    import sqlalchemy as sa

    from mlgate.bot.history.tables import queue_events
    from mlgate.sandbox.git import GitRepo

    gh.wait_for_webhooks(timeout=60)
    # deliveries: what serve acknowledged vs what the inbox handled
    sent = [d for d in gh.admin("GET", "/deliveries").json() if to_serve(d, phase, app)]
    acked = {d["guid"] for d in sent if 200 <= int(d.get("status_code") or 0) < 300}
    records = {r.delivery_id: r for r in inbox.deliveries()}
    not_done = {g for g in acked if g not in records or records[g].status != "done"}
    refused = sum(1 for d in sent if not 200 <= int(d.get("status_code") or 0) < 300)
    latencies = sorted((r.processed_at - r.received_at).total_seconds() for g, r in records.items()
                       if g in acked and r.processed_at is not None)
    # merged twice (in git, and as the bot reported), landed PRs missing from the base, and base
    # moves to SHAs on which CI had not reported every required check green before the move
    twice = 0
    reported_twice = 0
    not_on_base = 0
    broken_landed = 0  # PRs whose BROKEN file reached main
    red_moves = 0
    statuses: Counter[str] = Counter()
    with engine.connect() as conn:
        landings = Counter((r.repo, r.number) for r in conn.execute(
            sa.select(queue_events.c.repo, queue_events.c.number).where(queue_events.c.kind == "merged")))
    for repo in phase.repos:
        queue = queue_statuses(engine, repo)
        statuses.update(queue.values())
        owner, name = repo.split("/")
        with gh.sandbox.store.lock:
            git = GitRepo(gh.sandbox.store.git_dir(gh.sandbox.store.repo(owner, name)))
        merged_in: Counter[str] = Counter()  # commits merged into main as a second (or later) parent
        for line in git.out("rev-list", "--first-parent", "--parents", "main").splitlines():
            merged_in.update(line.split()[2:])
        on_main = set(git.out("rev-list", "main").split())
        numbers = [n for (r, n) in phase.broken if r == repo]
        heads = {n: gh.api("GET", f"/repos/{repo}/pulls/{n}", OWNER).json()["head"]["sha"] for n in numbers}
        twice += sum(1 for h in heads.values() if merged_in[h] > 1)
        reported_twice += sum(1 for n in numbers if landings[(repo, n)] > 1)
        not_on_base += sum(1 for n in numbers if queue.get(n) == "merged" and heads[n] not in on_main)
        broken_landed += sum(1 for n in numbers if phase.broken[(repo, n)] and heads[n] in on_main)
        for r, sha, at in phase.main_moves:
            green_at = ci.green.get((repo, sha))
            if r == repo and (green_at is None or green_at > at):
                red_moves += 1
    expected = {"merged": sum(1 for b in phase.broken.values() if not b)}
    return {
        "phase": phase.name,
        "prs": len(phase.broken),
        "queue": dict(statuses),
        "merged_expected": expected["merged"],
        "wall_seconds": round(phase.settled - phase.started, 1),
        "settled": sum(statuses[s] for s in ("merged", "failed", "cancelled")) == len(phase.broken),
        "deliveries_to_serve": len(sent),
        "deliveries_not_acknowledged": refused,
        "deliveries_lost": len(not_done),
        "merged_twice": twice,
        "reported_landed_twice": reported_twice,
        "merged_but_not_on_base": not_on_base,
        "base_moves": sum(1 for r, _, _ in phase.main_moves if r in phase.repos),
        "base_at_sha_without_green_checks": red_moves,
        "broken_prs_on_base": broken_landed,
        "ci_runs_on_staging": ci_runs,
        "cpu_percent_of_one_core": {who: round(100 * sec / wall, 1) for who, sec in cpu.items()},
        "latency_p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "latency_p99_s": round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 3)
        if latencies else None,
        "killed": phase.killed,
        # the survivor's log: "merge queue of R: the feed of W stopped mid-way …; resuming" (bot/queue/runner.py)
        "queues_resumed_after_a_dead_feed": sorted({line.split("merge queue of ", 1)[1].split(":", 1)[0]
                                                    for f in logdir.glob("worker-*.log")
                                                    for line in f.read_text(errors="replace").splitlines()
                                                    if "stopped mid-way" in line
                                                    and any(f"merge queue of {r}:" in line for r in phase.repos)}),
        "fault": phase.fault,
        "unsettled": unsettled(engine, phase),
    }


def unsettled(engine: Any, phase: Phase) -> dict[str, Any]:
    """Where each repository that did not settle stands: its PRs' statuses and its lanes' builds."""
    from mlgate.bot.queue.store import QueueStore

    out: dict[str, Any] = {}
    now = time.time()
    for repo in phase.repos:
        row = QueueStore(engine).load(repo)
        counts = Counter(p.status for p in row.state.pulls)
        if set(counts) <= {"merged", "failed", "cancelled"}:
            continue
        wakeup = None if row.wakeup_at is None else round(row.wakeup_at - now)
        out[repo] = {"pulls": dict(counts), "wakeup_in_s": wakeup,
                     "builds": [f"{b.id} {b.state} {b.sha and b.sha[:10]} #{','.join(map(str, b.numbers))} "
                                f"requested {now - b.requested_at:.0f} s ago" for lane in row.state.lanes
                                for b in lane.chain]}
    return out


def merge_again(gh: Any, phase: Phase) -> str:
    """The `merge-twice` fault, done by hand after the phase: a merge commit on main with an already
    landed PR head as its second parent, pushed untested (the merged-twice and red-base counters must
    each count one)."""
    for repo, number in sorted(phase.broken):
        if phase.broken[(repo, number)]:
            continue
        head = gh.api("GET", f"/repos/{repo}/pulls/{number}", OWNER).json()["head"]["sha"]
        tip = gh.api("GET", f"/repos/{repo}/git/ref/heads/main", OWNER).json()["object"]["sha"]
        tree = gh.api("GET", f"/repos/{repo}/git/commits/{tip}", OWNER).json()["tree"]["sha"]
        commit = gh.api("POST", f"/repos/{repo}/git/commits", OWNER,
                        json={"message": f"Merge #{number} again", "tree": tree, "parents": [tip, head]})
        commit.raise_for_status()
        gh.api("PATCH", f"/repos/{repo}/git/refs/heads/main", OWNER,
               json={"sha": commit.json()["sha"]}).raise_for_status()
        return f"{repo}#{number} merged into main a second time by hand"
    raise SystemExit("merge-twice: no PR to merge again")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--prs", type=int, default=20, help="PRs per repository")
    parser.add_argument("--merge-window", type=float, default=60.0, help="every /merge within this many seconds")
    parser.add_argument("--fail-rate", type=float, default=0.1, help="share of PRs that break the build")
    parser.add_argument("--ci-min", type=float, default=0.5)
    parser.add_argument("--ci-max", type=float, default=3.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="mlgate worker processes")
    parser.add_argument("--worker-threads", type=int, default=4)
    parser.add_argument("--lease-seconds", type=float, default=10.0)
    parser.add_argument("--write-spacing", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=1_000_000,
                        help="the sandbox's primary rate limit per token and hour (GitHub: 5,000)")
    parser.add_argument("--phases", default="calm,kill")
    parser.add_argument("--timeout", type=float, default=None,
                        help="per phase, from the first /merge (default: the window + 240 s + 3 s per PR)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=os.environ.get("MLGATE_LOAD_DATABASE_URL")
                        or os.environ.get("MLGATE_TEST_POSTGRES_URL"),
                        help="a PostgreSQL server (a fresh database is created on it and dropped after)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", metavar="DIR", type=Path,
                        help="keep the bot's logs in DIR and do not drop the database (to investigate a run)")
    parser.add_argument("--log-level", default="WARNING", help="MLGATE_LOG_LEVEL of the bot's processes")
    parser.add_argument("--auth", choices=("app", "token"), default="app",
                        help="app: a GitHub App registered from app.yml and installed on the owner's "
                             "repositories, as in production; token: a user token and repository hooks")
    parser.add_argument("--inject-fault", choices=("lose", "merge-twice", "trust-everything"),
                        help="check the counters: lose (one in ten issue_comment.edited deliveries always fails), "
                             "merge-twice (a landed PR merged into main again by hand after the phase), "
                             "trust-everything (the bot reads every required check green before CI ran)")
    args = parser.parse_args(argv)
    if args.timeout is None:
        args.timeout = args.merge_window + 240 + 3.0 * args.repos * args.prs
    if not args.database_url or not args.database_url.startswith("postgresql"):
        parser.error("--database-url (or MLGATE_TEST_POSTGRES_URL) must name a PostgreSQL server")
    import json
    import logging

    from mlgate.bot.store.engine import create_store_engine
    from mlgate.bot.store.inbox import Inbox
    from mlgate.sandbox.harness import SandboxServer, WebhookSink

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the bot's processes, drop the database
    rng = random.Random(args.seed)
    results = []
    db_url, drop = fresh_database(args.database_url)
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="mlgate-load-") as tmp_name:
        tmp = Path(tmp_name)
        gh = SandboxServer(tmp / "gh", users=(OWNER, AUTHOR, CI_USER, BOT)).start()
        sink = WebhookSink().start()
        ci = FakeCI(gh, args.ci_min, args.ci_max, args.seed)
        for login in (BOT, CI_USER, OWNER, AUTHOR):  # one token's 5,000 an hour would end the run early
            gh.admin("POST", "/ratelimit", json={"login": login, "limit": args.rate_limit}).raise_for_status()
        try:
            Inbox.open(db_url).close()  # migrations, once
            port = free_port()
            hook_url = f"http://127.0.0.1:{port}/webhook"
            app = None
            if args.auth == "app":  # the manifest flow, as `mlgate app register` does on GitHub
                app = gh.register_app_from_manifest(owner=OWNER, webhook_url=hook_url, name="mlgate-load")
            serve, workers = start_bot(args, db_url, gh.api_url, port, args.keep or tmp, app)
            procs = [serve, *workers]
            if app is not None:
                installation = gh.install_app(app.id, OWNER)  # every repository of the owner, new ones too
                gh.admin("POST", "/ratelimit", json={"installation_id": installation, "limit": args.rate_limit}
                         ).raise_for_status()
            engine = create_store_engine(db_url)
            inbox = Inbox.open(db_url, run_migrations=False)
            pump_stop = threading.Event()
            seen = [0]
            main_moves: list[tuple[str, str, float]] = []

            def pump() -> None:  # the fake CI reacts to the push webhooks the sink receives
                while not pump_stop.is_set():
                    new = sink.deliveries[seen[0]:]
                    seen[0] += len(new)
                    for d in new:
                        if d.event != "push":
                            continue
                        payload = d.payload
                        if payload.get("ref") == "refs/heads/main" and payload.get("before") != ZERO:
                            main_moves.append((payload["repository"]["full_name"], payload["after"], time.monotonic()))
                        ci.on_push(payload)
                    pump_stop.wait(0.05)

            threading.Thread(target=pump, daemon=True).start()
            for name in [p.strip() for p in args.phases.split(",") if p.strip()]:
                phase = Phase(name, main_moves=main_moves, fault=args.inject_fault)
                setup_phase(gh, phase, args, hook_url if app is None else None, sink.url, tmp, rng)
                # the bot has seen every PR opened (and evaluated it) before the first /merge
                settle_deliveries(gh, inbox, phase, app, grace=120 + 1.0 * args.repos * args.prs)
                alive = [w for w in workers if w.poll() is None]
                watched = [serve, *alive]
                before = {w.pid: tree_cpu_seconds(w.pid) for w in watched}
                last = dict(before)
                sampling = threading.Event()

                sampler = threading.Thread(target=sample_cpu, args=(watched, last, sampling), daemon=True)
                sampler.start()
                runs_before = ci.runs
                started = time.monotonic()
                run_phase(gh, sink, ci, phase, args, engine, alive, rng)
                wall = time.monotonic() - started
                sampling.set()
                sampler.join()
                cpu = {("serve" if w is serve else f"worker {w.pid}" + (" (killed)" if w.poll() is not None else "")):
                       last[w.pid] - before[w.pid] for w in watched}
                if args.inject_fault == "merge-twice":
                    phase.fault = merge_again(gh, phase)
                    gh.wait_for_webhooks(timeout=30)
                    time.sleep(0.5)  # the pump notes the push to main
                settle_deliveries(gh, inbox, phase, app)
                results.append(report(gh, ci, phase, engine, inbox, cpu, wall, ci.runs - runs_before, app,
                                      args.keep or tmp))
                if not args.json:
                    print(json.dumps(results[-1], indent=2), flush=True)
            pump_stop.set()
            inbox.close()
            engine.dispose()
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            ci.pool.shutdown(wait=False, cancel_futures=True)
            sink.stop()
            gh.stop()
            if args.keep:
                print(f"kept: logs in {args.keep}, database {db_url}", file=sys.stderr)
            else:
                drop()
    if args.json:
        print(json.dumps(results, indent=2))
    bad = [r for r in results if r["deliveries_lost"] or r["merged_twice"] or r["reported_landed_twice"]
           or r["merged_but_not_on_base"] or r["base_at_sha_without_green_checks"] or r["broken_prs_on_base"]
           or not r["settled"]]
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
