"""`mlgate serve --worker-mode process`'s drain process (bot/intake/drain.py): it drains while intake runs, is started
again when it dies without losing a delivery, and never outlives serve (SIGTERM or SIGKILL)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgate.bot.intake.drain import DrainProcess, WakePipe, follow_wake_pipe
from mlgate.bot.intake.webhook import sign
from mlgate.bot.settings import SettingsError, load_settings
from mlgate.bot.store.inbox import Inbox
from tests.conftest import free_port, wait_for_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "drain-secret"


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie waiting for its parent)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _drain_pids(serve_pid: int) -> list[int]:
    return [p for p in _children(serve_pid) if b"--wake-fd" in _cmdline(p) and _alive(p)]


def _post(port: int, delivery_id: str, repo: str) -> int:
    body = json.dumps({"action": "opened", "repository": {"full_name": repo}, "installation": {"id": 1}}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("POST", "/webhook", body=body, headers={
            "X-GitHub-Event": "pull_request", "X-GitHub-Delivery": delivery_id,
            "X-Hub-Signature-256": sign(SECRET, body), "Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, str]]:
    """`mlgate serve --worker-mode process`, a slow test dispatcher, short leases."""
    port = free_port()
    url = f"sqlite:///{tmp_path / 'serve.sqlite3'}"
    env = {**os.environ, "MLGATE_WEBHOOK_SECRET": SECRET, "MLGATE_DATABASE_URL": url, "PYTHONPATH": str(REPO_ROOT),
           "MLGATE_DISPATCHER": "tests.bot.serve_dispatchers:slow", "MLGATE_TEST_HANDLE_SECONDS": "0.05",
           "MLGATE_LEASE_SECONDS": "2", "MLGATE_POLL_INTERVAL_SECONDS": "0.2", "MLGATE_LOG_LEVEL": "INFO"}
    env.pop("MLGATE_SERVE_WORKER", None)
    env.pop("MLGATE_SERVE_WORKER_MODE", None)
    proc = subprocess.Popen([sys.executable, "-m", "mlgate", "serve", "--port", str(port), "--worker-mode", "process"],
                            cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    tree = {proc.pid}
    try:
        wait_for_port(port, 30, alive=lambda: proc.poll() is None)
        assert wait_until(lambda: len(_drain_pids(proc.pid)) == 1, 30), "serve started no drain process"
        tree.update(_children(proc.pid))
        yield proc, port, url
    finally:
        tree.update(_children(proc.pid))
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.communicate(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        for pid in tree:  # whatever the test left behind (only this test's processes)
            if _alive(pid) and pid != proc.pid:
                os.kill(pid, signal.SIGKILL)


def _states(url: str) -> dict[str, str]:
    store = Inbox.open(url, run_migrations=False)
    try:
        return {record.delivery_id: record.status for record in store.deliveries()}
    finally:
        store.close()


@pytest.mark.e2e
@pytest.mark.slow
def test_serve_drains_in_its_own_process_restarts_it_when_killed_and_loses_nothing(
        serve: tuple[subprocess.Popen[bytes], int, str]) -> None:
    proc, port, url = serve
    [first] = _drain_pids(proc.pid)
    ids = [f"d-{i:03d}" for i in range(40)]
    for i, delivery_id in enumerate(ids):
        assert _post(port, delivery_id, f"octo/r{i % 4}") == 202
    # The drain process works through them (50 ms each, four repositories in parallel) ...
    assert wait_until(lambda: "done" in _states(url).values(), 30)
    os.kill(first, signal.SIGKILL)  # ... and is killed in the middle
    assert wait_until(lambda: _drain_pids(proc.pid) not in ([], [first]), 30), "the drain process was not restarted"
    [second] = _drain_pids(proc.pid)
    assert second != first
    assert _post(port, "after-restart", "octo/r9") == 202
    # Every acknowledged delivery ends done: the killed one's lease (2 s) expires and it is taken over.
    assert wait_until(lambda: set(_states(url).values()) == {"done"} and len(_states(url)) == 41, 60), _states(url)

    proc.send_signal(signal.SIGTERM)
    proc.wait(40)
    assert wait_until(lambda: not _alive(second), 10), "the drain process outlived serve"


@pytest.mark.e2e
@pytest.mark.slow
def test_the_drain_process_stops_when_serve_is_killed(serve: tuple[subprocess.Popen[bytes], int, str]) -> None:
    proc, port, url = serve
    [drain] = _drain_pids(proc.pid)
    assert _post(port, "before-kill", "octo/one") == 202
    assert wait_until(lambda: _states(url) == {"before-kill": "done"}, 30)
    proc.kill()  # no hook runs: the drain process sees the wake pipe close once the web processes are gone
    proc.wait(10)
    assert wait_until(lambda: not _alive(drain), 30), "the drain process outlived a killed serve"


def test_thread_mode_runs_no_drain_process(tmp_path: Path) -> None:
    """The default, thread mode: the worker stays in the web process."""
    port = free_port()
    env = {**os.environ, "MLGATE_WEBHOOK_SECRET": SECRET, "PYTHONPATH": str(REPO_ROOT),
           "MLGATE_DATABASE_URL": f"sqlite:///{tmp_path / 't.sqlite3'}",
           "MLGATE_DISPATCHER": "tests.bot.serve_dispatchers:slow"}
    env.pop("MLGATE_SERVE_WORKER", None)
    env.pop("MLGATE_SERVE_WORKER_MODE", None)
    proc = subprocess.Popen([sys.executable, "-m", "mlgate", "serve", "--port", str(port)], cwd=tmp_path, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, 30, alive=lambda: proc.poll() is None)
        assert _post(port, "t-1", "octo/one") == 202
        assert wait_until(lambda: _states(env["MLGATE_DATABASE_URL"]) == {"t-1": "done"}, 30)
        assert not [p for p in _children(proc.pid) if b"--wake-fd" in _cmdline(p)]
    finally:
        proc.terminate()
        proc.wait(40)


def test_the_worker_mode_setting_is_checked() -> None:
    env = {"MLGATE_WEBHOOK_SECRET": "s"}
    assert load_settings(env, require_github=False).serve_worker_mode == "thread"
    assert load_settings({**env, "MLGATE_SERVE_WORKER_MODE": "Process"}, require_github=False).serve_worker_mode \
        == "process"
    with pytest.raises(SettingsError, match="MLGATE_SERVE_WORKER_MODE must be one of process, thread, got 'fork'"):
        load_settings({**env, "MLGATE_SERVE_WORKER_MODE": "fork"}, require_github=False)
    from mlgate.bot.cli import serve

    result = CliRunner().invoke(serve, ["--worker-mode", "fork"])
    assert result.exit_code == 2 and "'fork' is not one of 'process', 'thread'" in result.output


def test_wake_notes_reach_the_drain_side_and_end_of_file_stops_it() -> None:
    pipe = WakePipe()
    woken: list[str] = []
    import threading

    gone = threading.Event()
    thread = follow_wake_pipe(pipe.read_fd, woken.append, gone.set)
    pipe.notify("octo/one")
    pipe.notify("line\nbreak")  # one note, whatever the key holds
    os.close(pipe.write_fd)
    assert gone.wait(10)
    thread.join(10)
    assert woken == ["octo/one", "line break"]
    os.close(pipe.read_fd)


def test_a_full_wake_pipe_never_blocks_a_request() -> None:
    pipe = WakePipe()
    try:
        for _ in range(100_000):  # far more than a pipe holds (64 KiB)
            pipe.notify("octo/one")
    finally:
        pipe.close()


def test_a_drain_process_that_keeps_dying_is_restarted_ever_more_slowly(tmp_path: Path) -> None:
    now = [1000.0]
    pipe = WakePipe()
    drain = DrainProcess([sys.executable, "-c", "import sys; sys.exit(3)"], pipe, monotonic=lambda: now[0])
    try:
        drain.start()
        first = drain.proc
        assert first is not None
        first.wait(30)
        drain.check()  # died at once: started again 2 s later, not now
        assert drain.proc is first
        now[0] += 2.0
        drain.check()
        second = drain.proc
        assert second is not None and second is not first
        second.wait(30)
        drain.check()  # died at once again: the pause doubles to 4 s
        now[0] += 2.0
        drain.check()
        assert drain.proc is second
        now[0] += 2.0
        drain.check()
        third = drain.proc
        assert third is not None and third is not second
        drain.stop(5)
        assert third.poll() is not None
        now[0] += 100
        drain.check()  # stopped: never started again
        assert drain.proc is third
    finally:
        pipe.close()
