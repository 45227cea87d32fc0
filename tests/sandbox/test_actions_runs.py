"""Workflow runs: started by `workflow_dispatch`, listed by head SHA, cancelled once (then 409)."""

from __future__ import annotations

from mlgate.sandbox.harness import SandboxServer

WORKFLOW = "on: [push, workflow_dispatch]\njobs: {}\n"


def test_dispatch_list_and_cancel_workflow_runs(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", files={"README.md": "# demo\n", ".github/workflows/ci.yml": WORKFLOW},
                     collaborators={"bob": "push", "carol": "read"})
    full, name = repo["full_name"], repo["name"]
    main = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
    other = server.push_files("alice", name, "feature", {"x.txt": "x\n"}, "alice", base="main")
    for ref in ("main", "main", "feature"):
        resp = server.api("POST", f"/repos/{full}/actions/workflows/ci.yml/dispatches", "bob", json={"ref": ref})
        assert resp.status_code == 204, resp.text
    assert server.api("POST", f"/repos/{full}/actions/workflows/nope.yml/dispatches", "bob",
                      json={"ref": "main"}).status_code == 404
    assert server.api("POST", f"/repos/{full}/actions/workflows/ci.yml/dispatches", "bob",
                      json={"ref": "no-such-branch"}).status_code == 422
    assert server.api("POST", f"/repos/{full}/actions/workflows/ci.yml/dispatches", "carol",
                      json={"ref": "main"}).status_code in (403, 404)  # read access cannot start runs

    listed = server.api("GET", f"/repos/{full}/actions/runs", "alice", params={"head_sha": main}).json()
    assert listed["total_count"] == 2
    runs = listed["workflow_runs"]
    assert {r["head_sha"] for r in runs} == {main} and {r["status"] for r in runs} == {"in_progress"}
    assert [r["run_number"] for r in runs] == [2, 1]  # newest first
    assert server.api("GET", f"/repos/{full}/actions/runs", "alice",
                      params={"head_sha": other}).json()["total_count"] == 1

    first = runs[0]["id"]
    assert server.api("POST", f"/repos/{full}/actions/runs/{first}/cancel", "carol").status_code in (403, 404)
    cancel = server.api("POST", f"/repos/{full}/actions/runs/{first}/cancel", "bob")
    assert cancel.status_code == 202
    again = server.api("POST", f"/repos/{full}/actions/runs/{first}/cancel", "bob")
    assert again.status_code == 409 and "completed" in again.json()["message"]
    one = server.api("GET", f"/repos/{full}/actions/runs/{first}", "alice").json()
    assert (one["status"], one["conclusion"]) == ("completed", "cancelled")
    still = server.api("GET", f"/repos/{full}/actions/runs", "alice",
                       params={"head_sha": main, "status": "in_progress"}).json()
    assert [r["id"] for r in still["workflow_runs"]] == [runs[1]["id"]]
    assert server.api("GET", f"/repos/{full}/actions/runs", "alice",
                      params={"status": "cancelled"}).json()["total_count"] == 1
    assert server.api("GET", f"/repos/{full}/actions/runs/999999", "alice").status_code == 404
