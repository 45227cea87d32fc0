"""Commit statuses (list, combined) and check runs/suites, with ``app`` set to whoever created them."""

from __future__ import annotations

from mlgate.sandbox.harness import SandboxServer, WebhookSink


def test_statuses_and_combined_state(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write"})
    full, name = repo["full_name"], repo["name"]
    sha = server.push_files("alice", name, "st", {"s.txt": "1\n"}, "alice", base="main")
    combined = server.api("GET", f"/repos/{full}/commits/{sha}/status", "alice").json()
    assert combined["state"] == "pending" and combined["total_count"] == 0
    for state, ctx in [("pending", "ci/a"), ("success", "ci/a"), ("success", "ci/b")]:
        r = server.api("POST", f"/repos/{full}/statuses/{sha}", "bob",
                       json={"state": state, "context": ctx, "target_url": "http://ci/1", "description": state})
        assert r.status_code == 201 and r.json()["creator"]["login"] == "bob"
    combined = server.api("GET", f"/repos/{full}/commits/st/status", "alice").json()
    assert combined["state"] == "success" and combined["total_count"] == 2 and combined["sha"] == sha
    server.api("POST", f"/repos/{full}/statuses/{sha}", "bob", json={"state": "failure", "context": "ci/b"})
    assert server.api("GET", f"/repos/{full}/commits/{sha}/status", "alice").json()["state"] == "failure"
    listed = server.api("GET", f"/repos/{full}/commits/{sha}/statuses", "alice").json()
    assert [s["state"] for s in listed] == ["failure", "success", "success", "pending"]
    assert server.api("POST", f"/repos/{full}/statuses/{sha}", "bob", json={"state": "great"}).status_code == 422
    assert server.api("POST", f"/repos/{full}/statuses/{'1' * 40}", "bob",
                      json={"state": "success"}).status_code == 422
    assert server.api("POST", f"/repos/{full}/statuses/{sha}", "carol",
                      json={"state": "success"}).status_code in (403, 404)
    pr = server.open_pr("alice", name, "st", "alice")
    assert pr["mergeable_state"] == "unstable"


def test_check_runs_and_suites(server: SandboxServer, make_repo, sink: WebhookSink) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write"})
    full, name = repo["full_name"], repo["name"]
    server.add_hook("alice", name, sink.url, "k", "alice", events=("check_run", "check_suite"))
    sha = server.push_files("alice", name, "cr", {"c.txt": "1\n"}, "alice", base="main")
    q = server.api("POST", f"/repos/{full}/check-runs", "bob",
                   json={"name": "mlgate/data", "head_sha": sha, "status": "in_progress",
                         "output": {"title": "running", "summary": "…"}})
    assert q.status_code == 201 and q.json()["app"]["slug"] == "bob" and q.json()["conclusion"] is None
    assert q.json()["pull_requests"] == []
    pr = server.open_pr("alice", name, "cr", "bob")
    run_id = q.json()["id"]
    assert server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", "alice",
                      json={"conclusion": "success"}).status_code == 403  # only the creating app may update
    assert server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", "bob",
                      json={"status": "completed"}).status_code == 422  # needs a conclusion
    done = server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", "bob",
                      json={"conclusion": "failure", "output": {"title": "bad", "summary": "PSI 0.4"}})
    assert done.json()["status"] == "completed" and done.json()["completed_at"]
    server.api("POST", f"/repos/{full}/check-runs", "bob",
               json={"name": "mlgate/data", "head_sha": sha, "status": "completed", "conclusion": "success"})
    server.api("POST", f"/repos/{full}/check-runs", "alice",
               json={"name": "mlgate/bias", "head_sha": sha, "conclusion": "neutral"})
    latest = server.api("GET", f"/repos/{full}/commits/{sha}/check-runs", "alice").json()
    assert latest["total_count"] == 2
    assert {(r["name"], r["conclusion"]) for r in latest["check_runs"]} == {("mlgate/data", "success"),
                                                                              ("mlgate/bias", "neutral")}
    every = server.api("GET", f"/repos/{full}/commits/cr/check-runs", "alice", params={"filter": "all"}).json()
    assert every["total_count"] == 3
    named = server.api("GET", f"/repos/{full}/commits/{sha}/check-runs", "alice",
                       params={"check_name": "mlgate/bias"}).json()
    assert [r["app"]["slug"] for r in named["check_runs"]] == ["alice"]
    suites = server.api("GET", f"/repos/{full}/commits/{sha}/check-suites", "alice").json()
    # (Apps installed on alice's account by other tests get a requested suite per push too)
    suites["check_suites"] = [s for s in suites["check_suites"] if s["app"]["slug"] in ("alice", "bob")]
    assert len(suites["check_suites"]) == 2
    bob_suite = next(s for s in suites["check_suites"] if s["app"]["slug"] == "bob")
    assert bob_suite["status"] == "completed" and bob_suite["conclusion"] == "failure"
    assert server.api("GET", f"/repos/{full}/check-suites/{bob_suite['id']}", "alice").json()["head_sha"] == sha
    in_suite = server.api("GET", f"/repos/{full}/check-suites/{bob_suite['id']}/check-runs", "alice").json()
    assert in_suite["total_count"] == 1
    got = server.api("GET", f"/repos/{full}/check-runs/{run_id}", "alice").json()
    assert got["output"]["summary"] == "PSI 0.4"
    assert [p["number"] for p in got["pull_requests"]] == [pr["number"]]
    assert server.api("POST", f"/repos/{full}/check-runs", "bob",
                      json={"name": "x", "head_sha": sha, "conclusion": "great"}).status_code == 422
    server.wait_for_webhooks()
    mine = [(d.event, d.payload.get("action")) for d in sink.deliveries
            if d.payload.get("repository", {}).get("full_name") == full]
    assert mine.count(("check_run", "created")) == 3 and ("check_suite", "completed") in mine
