"""State survives a restart; the ``sandbox serve`` command starts a working server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from mlgate.sandbox.cli import sandbox
from mlgate.sandbox.harness import SandboxServer, run_git
from tests.conftest import free_port, wait_for_port


def test_state_survives_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with SandboxServer(data, users=("alice", "bob")) as first:
        first.create_repo("alice", "kept", "alice", auto_init=True)
        first.api("PUT", "/repos/alice/kept/collaborators/bob", "alice", json={"permission": "write"})
        first.push_files("alice", "kept", "f", {"f.txt": "1\n"}, "bob", base="main")
        number = first.open_pr("alice", "kept", "f", "bob")["number"]
    with SandboxServer(data, users=("alice", "bob")) as second:
        pr = second.api("GET", f"/repos/alice/kept/pulls/{number}", "alice").json()
        assert pr["head"]["ref"] == "f" and pr["user"]["login"] == "bob"
        assert second.api("GET", "/repos/alice/kept/collaborators/bob/permission", "alice").json()[
            "permission"] == "write"
        run_git("clone", "-q", second.clone_url("alice", "kept"), str(tmp_path / "clone"))
        assert (tmp_path / "clone" / "README.md").exists()


def test_cli_help_and_serve(tmp_path: Path) -> None:
    result = CliRunner().invoke(sandbox, ["serve", "--help"])
    assert result.exit_code == 0 and "--data-dir" in result.output and "--user" in result.output
    port = free_port()
    code = "from mlgate.sandbox.cli import sandbox; sandbox()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--port", str(port), "--data-dir", str(tmp_path / "d"),
         "--user", "alice", "--org", "acme=alice"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2])
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_port(port, 30, alive=lambda: proc.poll() is None)
        assert requests.get(f"{base}/_sandbox/health", timeout=5).ok
        me = requests.get(f"{base}/api/v3/user", headers={"Authorization": "token alice"}, timeout=5)
        assert me.status_code == 200 and me.json()["login"] == "alice"
        assert me.json()["url"] == f"{base}/api/v3/users/alice"
        org = requests.get(f"{base}/api/v3/orgs/acme", headers={"Authorization": "token alice"}, timeout=5)
        assert org.status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")  # the sender must not crash
def test_queued_deliveries_survive_a_restart(tmp_path: Path) -> None:
    from mlgate.sandbox.harness import WebhookSink
    from mlgate.sandbox.store import Store
    from mlgate.sandbox.webhooks import WebhookSender

    sink = WebhookSink().start()
    try:
        store = Store(tmp_path / "data")
        with store.lock:
            store.state["repos"]["a/b"] = {"id": 1, "hooks": {"7": {"id": 7, "events": ["*"], "active": True,
                                                                   "config": {"url": sink.url, "secret": "s"}}},
                                           "owner": "a"}
            row = {"id": 5, "guid": "g-1", "hook_id": 7, "app_id": None, "event": "push", "action": None,
                   "installation_id": None, "repository_id": 1, "redelivery": False, "delivered_at": "",
                   "duration": 0.0, "status": "queued", "status_code": 0}
            store.state["deliveries"].append(row)
            store.write_delivery({**row, "url": sink.url, "payload": {"ref": "refs/heads/main"},
                                  "request_headers": {}, "content_type": "json"})
            store.save()
        dispatcher = WebhookSender(Store(tmp_path / "data"))  # as a restarted server would
        assert dispatcher.wait_idle(10)
        assert [d.guid for d in sink.deliveries] == ["g-1"] and sink.deliveries[0].signature_ok("s")
    finally:
        sink.stop()
