"""Webhook intake benchmark: the real service vs a bare Flask endpoint, both under gunicorn.

    python bench/webhook.py [--seconds 5] [--rounds 2] [--workers 1] [--threads 8]
                            [--drain thread|process|off]

Starts `mlgate serve` (via `python -m mlgate serve`) on loopback with a fresh SQLite file and a
bare Flask app answering 202 under the same gunicorn settings, drives signed deliveries at each
(a fixed 200 requests/s, then flat out with a few connections; the two servers take turns, phase
by phase, so a busy machine affects both alike), and prints throughput, p50/p99 latency and the
number of lost deliveries (acknowledged with 202 but not stored: must be 0), and the CPU time
each server spent per request (user + system, read from /proc: unlike req/s it does not depend on
what else shares the cores).
A worker with a no-op dispatcher drains the inbox while intake runs (`--drain`): `thread` runs it
inside the service process (`mlgate serve --worker`), `process` as a separate `mlgate worker`
process on the same database, `off` not at all. After the last phase the bench waits (at most
30 s) for the worker to finish and prints how many acknowledged deliveries ended `done`, from the
inbox. Every loop is bounded in time and count; traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-secret"
MAX_REQUESTS = 20_000  # hard bound per phase, whatever the duration


class NullDispatcher:
    """Does nothing: the benchmark measures intake, not GitHub."""

    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[tuple[str, int]]:
        return set()

    def evaluate(self, repo: str, number: int) -> None:
        return None

    def resync(self, repo: str) -> set[tuple[str, int]]:
        return set()


def null_dispatcher(_settings: Any, _engine: Any = None) -> NullDispatcher:
    """MLGATE_DISPATCHER's factory: (settings, the store's engine) -> Dispatcher."""
    return NullDispatcher()


def bare_app() -> Any:
    from flask import Flask

    app = Flask("bare")

    @app.post("/webhook")
    def webhook() -> Any:
        return {"status": "queued"}, 202

    return app


def example_body() -> bytes:
    """GitHub's pull_request.opened example when the npm packages are where the tests find them
    (tests/services.py; the benchmark installs nothing), else a similar one."""
    from tests.services import EXAMPLES_REL, ServiceError, find_octokit

    try:
        root = find_octokit()
    except ServiceError:
        root = None
    if root is not None:
        for entry in json.loads((root / EXAMPLES_REL).read_text(encoding="utf-8")):
            if entry["name"] == "pull_request":
                return json.dumps(entry["examples"][0]).encode()
    return json.dumps({"action": "opened", "number": 2, "repository": {"full_name": "bench/repo"},
                       "installation": {"id": 1}, "pull_request": {"body": "x" * 20000}}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("server did not start listening")


class Result:
    def __init__(self, name: str) -> None:
        self.name = name
        self.latencies: list[float] = []
        self.accepted: list[str] = []
        self.errors: dict[str, int] = {}
        self.elapsed = 0.0
        self.cpu = 0.0  # CPU seconds of the web processes during the phase
        self.drain_cpu = 0.0  # CPU seconds of the drain process (--drain process) during the phase
        self.lock = threading.Lock()

    def record(self, delivery_id: str, status: int | str, latency: float) -> None:
        with self.lock:
            self.latencies.append(latency)
            if status == 202:
                self.accepted.append(delivery_id)
            else:
                self.errors[str(status)] = self.errors.get(str(status), 0) + 1

    def line(self) -> str:
        n = len(self.latencies)
        if n == 0:
            return f"{self.name:<40} no requests"
        p50 = statistics.median(self.latencies) * 1000
        p99 = percentile(self.latencies, 0.99) * 1000
        errors = f" errors={self.errors}" if self.errors else ""
        drain = f" + drain process {1000 * self.drain_cpu / n:4.2f}" if self.drain_cpu else ""
        return (f"{self.name:<40} {n:>6} req {n / self.elapsed:>8.1f} req/s   p50 {p50:6.2f} ms   "
                f"p99 {p99:6.2f} ms   CPU {1000 * self.cpu / n:5.2f} ms/req{drain}{errors}")


def post(conn: http.client.HTTPConnection, body: bytes, signature: str, delivery_id: str) -> int:
    conn.request("POST", "/webhook", body=body, headers={
        "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery_id, "X-Hub-Signature-256": signature,
        "Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench"})
    response = conn.getresponse()
    response.read()
    return response.status


def drive(port: int, name: str, prefix: str, *, rate: float | None, seconds: float, connections: int) -> Result:
    """Fixed `rate` (open loop; latency counted from the scheduled send time) or flat out (rate None)."""
    from mlgate.bot.intake.webhook import sign

    body = example_body()
    signature = sign(SECRET, body)
    result = Result(name)
    counter = iter(range(MAX_REQUESTS))
    counter_lock = threading.Lock()
    start = time.perf_counter()
    deadline = start + seconds

    def next_slot() -> int | None:
        with counter_lock:
            return next(counter, None)

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while True:
            i = next_slot()
            if i is None:
                break
            scheduled = start + i / rate if rate else time.perf_counter()
            if scheduled >= deadline:
                break
            delay = scheduled - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            delivery_id = f"{prefix}-{i:06d}"
            try:
                status: int | str = post(conn, body, signature, delivery_id)
            except (OSError, http.client.HTTPException) as exc:
                status = type(exc).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            result.record(delivery_id, status, time.perf_counter() - scheduled)
        conn.close()

    threads = [threading.Thread(target=run) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    result.elapsed = time.perf_counter() - start
    return result


def start_service(port: int, db_url: str, workdir: Path, args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, "-m", "mlgate", "serve", "--port", str(port), "--workers", str(args.workers),
               "--threads", str(args.threads), *SERVE_DRAIN_FLAGS[args.drain]]
    env = {**service_env(db_url), "MLGATE_SERVE_WORKER_MODE": args.drain if args.drain != "off" else "thread"}
    return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def service_env(db_url: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "MLGATE_WEBHOOK_SECRET": SECRET, "MLGATE_DATABASE_URL": db_url,
            "MLGATE_LOG_LEVEL": "WARNING", "MLGATE_DISPATCHER": "bench.webhook:null_dispatcher"}


def tree_cpu_seconds(root: int) -> tuple[float, float]:
    """User + system CPU seconds of `root` and every live process below it, from /proc: (the web
    processes: gunicorn's master and workers, the drain processes: `mlgate worker --wake-fd`).
    (0.0, 0.0) where /proc is not there."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    drains: set[int] = set()
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
            if b"--wake-fd" in (entry / "cmdline").read_bytes():
                drains.add(int(entry.name))
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    web = drain = 0.0
    for pid, seconds in times.items():
        node = pid
        while node > 1 and node != root:
            node = parents.get(node, 0)
        if node == root:
            if pid in drains:
                drain += seconds
            else:
                web += seconds
    return web, drain


# The mode goes in the environment (MLGATE_SERVE_WORKER_MODE), which an older mlgate ignores (it
# only had threads), so the same bench measures a before and an after.
SERVE_DRAIN_FLAGS = {"thread": ["--worker"], "process": ["--worker"], "off": ["--no-worker"]}


def start_bare(port: int, args: argparse.Namespace) -> subprocess.Popen:
    command = [sys.executable, str(Path(__file__).resolve()), "_bare", "--port", str(port), "--workers",
               str(args.workers), "--threads", str(args.threads)]
    return subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def serve_bare(port: int, workers: int, threads: int) -> None:
    from mlgate.bot.cli import gunicorn_options, run_gunicorn

    sys.setswitchinterval(0.001)  # as `mlgate serve` does (it also calls gc.freeze() after loading)
    options = gunicorn_options("127.0.0.1", port, workers, threads)
    options.pop("worker_exit")
    options["loglevel"] = "warning"
    run_gunicorn(bare_app, options)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def merge(name: str, parts: list[Result]) -> Result:
    merged = Result(name)
    for part in parts:
        merged.latencies += part.latencies
        merged.accepted += part.accepted
        merged.elapsed += part.elapsed
        merged.cpu += part.cpu
        merged.drain_cpu += part.drain_cpu
        for key, value in part.errors.items():
            merged.errors[key] = merged.errors.get(key, 0) + value
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "_bare"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each phase of each round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds; bare and service phases alternate")
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second of the fixed-rate phase")
    parser.add_argument("--connections", type=int, default=8, help="client connections of the flat-out phase")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (both servers)")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn threads per worker (both servers)")
    parser.add_argument("--drain", choices=sorted(SERVE_DRAIN_FLAGS), default="thread",
                        help="where the worker (no-op dispatcher) drains the inbox during the run: in the "
                             "service process, in a separate `mlgate worker` process, or nowhere")
    args = parser.parse_args()
    if args.mode == "_bare":
        serve_bare(args.port, args.workers, args.threads)
        return

    from mlgate.bot.store.inbox import Inbox

    with tempfile.TemporaryDirectory(prefix="mlgate-bench-") as tmp:
        workdir = Path(tmp)
        db_url = f"sqlite:///{workdir / 'bench.sqlite3'}"
        print(f"gunicorn gthread, {args.workers} worker(s) x {args.threads} threads; SQLite "
              f"(synchronous={os.environ.get('MLGATE_SQLITE_SYNCHRONOUS', 'FULL')} for deliveries); "
              f"body {len(example_body())} bytes; worker draining: {args.drain}; "
              f"{args.rounds} round(s) of {args.seconds:g} s per phase, bare and service alternating; "
              f"load average before: {os.getloadavg()[0]:.2f}")
        ports = {"bare": free_port(), "svc": free_port()}
        procs = {"bare": start_bare(ports["bare"], args), "svc": start_service(ports["svc"], db_url, workdir, args)}
        parts: dict[str, list[Result]] = {f"{who}-{phase}": [] for who in ports for phase in ("fixed", "flat")}
        drained: dict[str, Any] = {}
        try:
            for who, port in ports.items():
                wait_listening(port, procs[who])
            for who, port in ports.items():
                drive(port, "warm-up", f"warm-{who}", rate=None, seconds=1.0, connections=2)
            for r in range(args.rounds):
                for phase in ("fixed", "flat"):
                    for who, port in ports.items():
                        rate = args.rate if phase == "fixed" else None
                        connections = 16 if phase == "fixed" else args.connections
                        web_before, drain_before = tree_cpu_seconds(procs[who].pid)
                        result = drive(port, who, f"{who}-{phase}-{r}", rate=rate, seconds=args.seconds,
                                       connections=connections)
                        web_after, drain_after = tree_cpu_seconds(procs[who].pid)
                        result.cpu, result.drain_cpu = web_after - web_before, drain_after - drain_before
                        parts[f"{who}-{phase}"].append(result)
            if args.drain != "off":
                drained = wait_drained(db_url, timeout=30.0)
        finally:
            for proc in procs.values():
                stop(proc)
        store = Inbox.open(db_url, run_migrations=False)
        records = store.deliveries()
        store.close()
    stored = {record.delivery_id for record in records}
    done = {record.delivery_id for record in records if record.status == "done"}
    labels = {"bare-fixed": f"bare Flask 202 @ {args.rate:g} req/s",
              "svc-fixed": f"mlgate /webhook @ {args.rate:g} req/s",
              "bare-flat": f"bare Flask 202 flat out ({args.connections} conn)",
              "svc-flat": f"mlgate /webhook flat out ({args.connections} conn)"}
    results = {key: merge(labels[key], value) for key, value in parts.items()}
    for key in ("bare-fixed", "svc-fixed", "bare-flat", "svc-flat"):
        print(results[key].line())
    acknowledged = set(results["svc-fixed"].accepted) | set(results["svc-flat"].accepted)
    lost = len(acknowledged - stored)
    errors = {**results["svc-fixed"].errors, **results["svc-flat"].errors}
    if not acknowledged or errors:
        print(f"the service answered errors {errors}: the numbers above do not measure intake")
        raise SystemExit(1)
    ratio = (len(results["svc-flat"].latencies) / results["svc-flat"].elapsed) / (
        len(results["bare-flat"].latencies) / results["bare-flat"].elapsed)
    p99 = percentile(results["svc-fixed"].latencies, 0.99) * 1000
    print(f"flat-out throughput, service / bare: {ratio:.2f} (target >= 0.50)")
    print(f"p99 at {args.rate:g} req/s on SQLite: {p99:.2f} ms (target < 50 ms)")
    print(f"acknowledged 202: {len(acknowledged)}, stored: {len(stored & acknowledged)}, lost: {lost}")
    undrained = 0
    if args.drain != "off":
        undrained = len(acknowledged - done)
        print(f"drained by the worker ({args.drain}): {drained.get('done_at_end', 0)} of {len(stored)} stored "
              f"deliveries (warm-up included) were done when the last phase ended; {len(done & acknowledged)} of "
              f"the {len(acknowledged)} acknowledged ones {drained.get('waited', 0):.1f} s later "
              f"(inbox states {drained.get('counts', {})})")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if lost or undrained:
        raise SystemExit(1)


def wait_drained(db_url: str, timeout: float) -> dict[str, Any]:
    """Inbox states when the last phase ended, then after the worker finished (or `timeout`)."""
    from mlgate.bot.store.inbox import Inbox

    store = Inbox.open(db_url, run_migrations=False)
    try:
        started = time.monotonic()
        counts = store.counts()
        at_end = counts.get("done", 0)
        while counts.get("pending", 0) and time.monotonic() - started < timeout:
            time.sleep(0.2)
            counts = store.counts()
        return {"done_at_end": at_end, "done_after": counts.get("done", 0), "counts": counts,
                "waited": time.monotonic() - started}
    finally:
        store.close()


if __name__ == "__main__":
    main()
