"""How a sandbox write's cost grows with the sandbox's size: PRs, comments, statuses and pushes.

    python bench/sandbox_writes.py [--repos 20] [--prs 20] [--checkpoints 10,100,400] [--profile]

Starts one local GitHub sandbox in this process (sandbox/harness.py) with two webhooks per
repository (as bench/load.py has: the bot's and a push-only one, both answered by a loopback sink),
then opens PRs round-robin over `--repos` repositories through the REST API (a branch ref, a file
committed on it with the contents API, the pull request), commenting on and setting a status for
each. When the total number of open PRs reaches a checkpoint it prints the median milliseconds per
write of each kind over the last `--window` PRs, plus a `git push` over HTTP
(`SandboxServer.push_files`, what bench/load.py's set-up does per PR), the state's size on disk and
the number of webhook deliveries. `--profile` samples every thread's Python stack (every 5 ms) for
the whole run and prints the functions seen most often (self and cumulative), a poor man's py-spy.

A benchmark, not a test: it prints, it does not assert. Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import collections
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

OWNER, AUTHOR = "alice", "bob"


IDLE = {"threading.py:wait", "selectors.py:select", "socket.py:accept", "queue.py:get",
        "socketserver.py:serve_forever", "threading.py:_wait_for_tstate_lock"}


class StackSampler:
    """Counts the functions on every thread's stack (but the sampler's and the caller's) every ``interval`` s."""

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.self_counts: collections.Counter[str] = collections.Counter()
        self.cum_counts: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self.idle_lines: set[str] = set()  # file:function:line where a thread sleeps (found at start)
        self._stop = threading.Event()
        self._skip = {threading.get_ident()}
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> StackSampler:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        self._skip.add(threading.get_ident())
        while not self._stop.wait(self.interval):
            for tid, frame in sys._current_frames().items():
                if tid in self._skip:
                    continue
                names = []
                top = f"{Path(frame.f_code.co_filename).name}:{frame.f_code.co_name}:{frame.f_lineno}"
                f: Any = frame
                while f is not None:
                    code = f.f_code
                    names.append(f"{Path(code.co_filename).name}:{code.co_name}")
                    f = f.f_back
                # idle threads (waiting on a queue, a socket, a lock) sit in these frames: skip them
                if names[0] in IDLE or top in self.idle_lines:
                    continue
                self.samples += 1
                self.self_counts[top] += 1
                for name in set(names):
                    self.cum_counts[name] += 1

    def report(self, top: int = 25) -> str:
        lines = [f"busy samples: {self.samples} (every {self.interval * 1000:.0f} ms, all sandbox threads)",
                 "cumulative (share of busy samples with the function on the stack):"]
        for name, n in self.cum_counts.most_common(top):
            lines.append(f"  {100 * n / max(1, self.samples):5.1f}%  {name}")
        lines.append("self (share of busy samples with this line on top; a C call such as a lock wait "
                     "counts for its line):")
        for name, n in self.self_counts.most_common(top):
            lines.append(f"  {100 * n / max(1, self.samples):5.1f}%  {name}")
        return "\n".join(lines)


def disk_bytes(data_dir: Path) -> int:
    """Bytes of sandbox state outside git and the delivery files."""
    return sum(p.stat().st_size for p in data_dir.iterdir() if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--prs", type=int, default=20, help="PRs per repository")
    parser.add_argument("--checkpoints", default="10,100,400", help="total PR counts to report at")
    parser.add_argument("--window", type=int, default=10, help="PRs whose writes make a checkpoint's medians")
    parser.add_argument("--pushes", type=int, default=3, help="git pushes timed at each checkpoint")
    parser.add_argument("--profile", action="store_true", help="sample the stacks of every thread")
    args = parser.parse_args(argv)

    import logging

    from mlgate.sandbox.harness import SandboxServer, WebhookSink

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    checkpoints = sorted(int(c) for c in args.checkpoints.split(",") if c.strip())
    total = args.repos * args.prs
    kinds = ("ref", "contents", "pull", "comment", "status")
    times: dict[str, list[float]] = {k: [] for k in kinds}
    rows = []
    with tempfile.TemporaryDirectory(prefix="mlgate-sandbox-writes-") as tmp:
        data_dir = Path(tmp) / "gh"
        gh = SandboxServer(data_dir, users=(OWNER, AUTHOR, "carol", "mlgate-bot")).start()
        sink = WebhookSink().start()
        sampler = StackSampler().start() if args.profile else None
        setup_started = time.monotonic()
        repos = []
        for r in range(args.repos):
            src = Path(tmp) / f"src-{r}"
            src.mkdir()
            (src / "README.md").write_text(f"# repo {r}\n")
            name = gh.create_repo(OWNER, f"repo-{r:02d}", OWNER, from_dir=src)["name"]
            for login in (AUTHOR, "carol"):
                gh.api("PUT", f"/repos/{OWNER}/{name}/collaborators/{login}", OWNER,
                       json={"permission": "push"}).raise_for_status()
            gh.add_hook(OWNER, name, sink.url, "s", OWNER)
            gh.add_hook(OWNER, name, sink.url, "s", OWNER, events=("push",))
            repos.append(name)
        setup_repos = time.monotonic() - setup_started

        def timed(kind: str, method: str, path: str, token: str, **kw: Any) -> Any:
            start = time.perf_counter()
            resp = gh.api(method, path, token, **kw)
            times[kind].append(time.perf_counter() - start)
            resp.raise_for_status()
            return resp.json()

        main_sha = {name: gh.api("GET", f"/repos/{OWNER}/{name}/git/ref/heads/main", OWNER).json()["object"]["sha"]
                    for name in repos}
        created = 0
        started = time.monotonic()
        for i in range(args.prs):
            for name in repos:
                repo = f"/repos/{OWNER}/{name}"
                branch = f"pr-{i}"
                timed("ref", "POST", f"{repo}/git/refs", AUTHOR, json={"ref": f"refs/heads/{branch}",
                                                                       "sha": main_sha[name]})
                content = base64.b64encode(f"{i}\n".encode()).decode()
                timed("contents", "PUT", f"{repo}/contents/f{i}.txt", AUTHOR,
                      json={"message": f"Change {i}", "branch": branch, "content": content})
                pr = timed("pull", "POST", f"{repo}/pulls", AUTHOR, json={"head": branch, "base": "main",
                                                                          "title": f"Change {i}"})
                timed("comment", "POST", f"{repo}/issues/{pr['number']}/comments", OWNER, json={"body": "/merge"})
                timed("status", "POST", f"{repo}/statuses/{pr['head']['sha']}", "carol",
                      json={"state": "success", "context": "ci/tests"})
                created += 1
                if created in checkpoints:
                    gh.wait_for_webhooks(timeout=600)
                    push = []
                    for k in range(args.pushes):
                        t0 = time.perf_counter()
                        gh.push_files(OWNER, name, f"push-{created}-{k}", {f"p{k}.txt": "x\n"}, AUTHOR, base="main")
                        push.append(time.perf_counter() - t0)
                    gh.wait_for_webhooks(timeout=600)
                    row = {"prs": created, **{k: 1000 * statistics.median(times[k][-args.window:]) for k in kinds},
                           "push": 1000 * statistics.median(push), "state_kb": disk_bytes(data_dir) / 1024,
                           "deliveries": len(gh.sandbox.store.state["deliveries"]),
                           "elapsed_s": time.monotonic() - started}
                    rows.append(row)
                    print(f"... {created} PRs after {row['elapsed_s']:.0f} s", file=sys.stderr, flush=True)
                if created >= total:
                    break
        gh.wait_for_webhooks(timeout=600)
        wall = time.monotonic() - started
        if sampler is not None:
            sampler.stop()
        sink.stop()
        gh.stop()
    load = os.getloadavg()
    print(f"sandbox writes: {args.repos} repos x {args.prs} PRs, 2 webhooks per repo; "
          f"load average at the end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    print(f"repos set up in {setup_repos:.1f} s; {created} PRs (5 writes each) in {wall:.1f} s")
    print(f"median ms per write over the last {args.window} PRs at each checkpoint")
    head = f"{'PRs':>5} {'ref':>7} {'content':>7} {'pull':>7} {'comment':>7} {'status':>7} {'push':>7} " \
           f"{'state KB':>9} {'deliv.':>7}"
    print(head)
    for r in rows:
        print(f"{r['prs']:>5} {r['ref']:7.1f} {r['contents']:7.1f} {r['pull']:7.1f} {r['comment']:7.1f} "
              f"{r['status']:7.1f} {r['push']:7.1f} {r['state_kb']:9.0f} {r['deliveries']:7d}")
    if sampler is not None:
        print(sampler.report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
