"""GitHub API calls per merged PR of the merge queue, measured on the local sandbox.

Ten PRs (each green on its own CI) are opened and evaluated; then every one gets `/merge` and the
bot (real GitHubForge over HTTP, handlers, queue runner, SQLite state) runs until all landed, with
a fake CI posting `ci/tests` (with a workflow's GITHUB_TOKEN) on each pushed staging commit. The bot
is a GitHub App registered from `app.yml` (the manifest flow) and installed on the repository, as in
production. The sandbox's call log counts every request the App made (installation tokens and the
JWT calls that mint them) from the first `/merge` on: command handling (permission, PR facts
for the gates, reaction), the evaluations that events trigger, staging builds, the fast-forward and
the comments. GETs answered ``304 Not Modified`` (the Forge's conditional requests, see
bot/github/conditional.py) are listed on their own: GitHub does not count them against the rate
limit. Target: at most 10 counted calls per merged PR. ``--no-conditional`` measures the bot
without conditional requests (the "before" column of docs/benchmarks.md).

    python bench/queue_api_calls.py [--prs 10] [--no-conditional] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlgate.bot.github.client import ForgeOptions, forge_factory
from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.settings import Settings
from mlgate.bot.store.engine import create_store_engine
from mlgate.bot.store.inbox import Inbox
from mlgate.bot.wiring import build_dispatcher
from mlgate.sandbox.harness import SandboxServer, WebhookSink

CHECK, SECRET = "ci/tests", "bench-secret"
ZERO = "0" * 40


def run(prs: int, batch_delay: float = 1.0, conditional: bool = True) -> dict[str, Any]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        gh = SandboxServer(tmp / "gh", users=("alice", "bob")).start()
        sink = WebhookSink().start()
        try:
            return _run(gh, sink, tmp, prs, batch_delay, conditional)
        finally:
            sink.stop()
            gh.stop()


def _run(gh: SandboxServer, sink: WebhookSink, tmp: Path, prs: int, batch_delay: float,
         conditional: bool) -> dict[str, Any]:
    src = tmp / "src"
    (src / ".github").mkdir(parents=True)
    (src / CONFIG_PATH).write_text(f"version: 1\nmerge:\n  required_checks: [{CHECK}]\n  batch_size: {max(prs, 1)}\n")
    (src / "README.md").write_text("# bench\n")
    repo = gh.create_repo("alice", "bench", "alice", from_dir=src)["full_name"]
    gh.api("PUT", f"/repos/{repo}/collaborators/bob", "alice", json={"permission": "push"}).raise_for_status()
    app = gh.register_app_from_manifest(owner="alice", webhook_url=sink.url, name="mlgate-bench")
    gh.install_app(app.id, "alice", repositories=["bench"])
    ci_token = gh.actions_token(repo)
    db = f"sqlite:///{tmp / 'bot.sqlite'}"
    Inbox.open(db).close()
    settings = Settings(github_url=gh.api_url, auth_mode="app", app_id=app.id, private_key=app.private_key,
                        webhook_secret=app.webhook_secret, database_url=db)
    bot = build_dispatcher(settings, create_store_engine(db),
                           forges=forge_factory(settings, ForgeOptions(seconds_between_writes=0,
                                                                   conditional_requests=conditional)))
    assert bot.queue is not None
    bot.queue_knobs["batch_delay_seconds"] = batch_delay
    ci_runs: list[str] = []
    seen = 0

    def ci(payload: dict[str, Any]) -> None:
        ref, sha = payload.get("ref", ""), payload.get("after", ZERO)
        branch = ref.removeprefix("refs/heads/")
        if not ref.startswith("refs/heads/") or sha == ZERO or branch == "main" or branch.startswith("mlgate/tmp/"):
            return
        if branch.startswith("mlgate/staging/"):
            ci_runs.append(sha)
        gh.api("POST", f"/repos/{repo}/statuses/{sha}", ci_token,
               json={"state": "success", "context": CHECK}).raise_for_status()

    def settle() -> None:
        nonlocal seen
        for _ in range(200):
            gh.wait_for_webhooks(timeout=30)
            new, seen = sink.deliveries[seen:], len(sink.deliveries)
            if not new:
                wakeup = bot.queue.store.load(repo).wakeup_at  # type: ignore[union-attr]
                if wakeup is None or wakeup - time.time() > 5:
                    return
                time.sleep(max(0.0, wakeup - time.time()) + 0.05)
                bot.tick()
                continue
            refs: set[tuple[str, int]] = set()
            for d in new:
                if not d.signature_ok(app.webhook_secret or ""):
                    raise RuntimeError(f"bad signature on {d.event} {d.guid}")
                if d.event == "push":
                    ci(d.payload)
                refs |= bot.handle(d.event, d.payload, d.guid)
            for ref in sorted(refs):
                bot.evaluate(*ref)
        raise RuntimeError("the bot did not settle")

    settle()
    numbers = []
    for i in range(prs):
        gh.push_files("alice", "bench", f"change-{i}", {f"c{i}.txt": f"{i}\n"}, "bob", base="main")
        numbers.append(int(gh.open_pr("alice", "bench", f"change-{i}", "bob")["number"]))
    settle()
    gh.reset_calls()
    started = time.monotonic()
    for n in numbers:
        gh.api("POST", f"/repos/{repo}/issues/{n}/comments", "alice", json={"body": "/merge"}).raise_for_status()
    settle()
    seconds = time.monotonic() - started
    sent = [c for c in gh.calls()["calls"] if c.get("app_id") == app.id]
    calls = [c for c in sent if c["status"] != 304]  # what GitHub counts against the rate limit
    state = bot.queue.state(repo)  # type: ignore[union-attr]
    merged = sum(1 for p in state.pulls if p.status == "merged")
    by_endpoint = Counter(f"{c['method']} {c['operation'] or c['path']}" for c in calls)
    not_modified = Counter(f"{c['method']} {c['operation'] or c['path']}" for c in sent if c["status"] == 304)
    return {
        "prs": prs,
        "merged": merged,
        "ci_runs": len(ci_runs),
        "bot_api_calls": len(calls),
        "api_calls_per_merged_pr": round(len(calls) / merged, 2) if merged else None,
        "seconds": round(seconds, 1),
        "requests_sent": len(sent),
        "not_modified_304": len(sent) - len(calls),
        "by_endpoint": dict(by_endpoint.most_common()),
        "not_modified_by_endpoint": dict(not_modified.most_common()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prs", type=int, default=10)
    parser.add_argument("--no-conditional", action="store_true", help="send no If-None-Match (the old client)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.prs, conditional=not args.no_conditional)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['merged']}/{result['prs']} PRs merged in {result['ci_runs']} CI run(s), {result['seconds']} s")
    print(f"GitHub API calls by the bot, counted against the rate limit: {result['bot_api_calls']} = "
          f"{result['api_calls_per_merged_pr']} per merged PR (target <= 10)")
    for endpoint, count in result["by_endpoint"].items():
        print(f"  {count:4d}  {endpoint}")
    print(f"GETs answered 304 Not Modified (not counted by GitHub): {result['not_modified_304']}")
    for endpoint, count in result["not_modified_by_endpoint"].items():
        print(f"  {count:4d}  {endpoint}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
