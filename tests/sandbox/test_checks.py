"""Commit statuses (list, combined) and check runs/suites, with ``app`` set to whoever created them."""

from __future__ import annotations

from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.sandbox.conftest import unique


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


def _app_token(server: SandboxServer, owner: str, repo: str, slug: str) -> tuple[str, int]:
    """An installation token of a fresh App that may write checks, and the App's id."""
    app = server.register_app(unique(slug), owner=owner, permissions={"checks": "write"})
    inst = server.install_app(app.id, owner, repositories=[repo])
    return server.installation_token(app, inst), app.id


def test_check_runs_and_suites(server: SandboxServer, make_repo, sink: WebhookSink) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write"})
    full, name = repo["full_name"], repo["name"]
    server.add_hook("alice", name, sink.url, "k", "alice", events=("check_run", "check_suite"))
    ci, ci_id = _app_token(server, "alice", name, "ci-app")
    lint, _ = _app_token(server, "alice", name, "lint-app")
    sha = server.push_files("alice", name, "cr", {"c.txt": "1\n"}, "alice", base="main")
    q = server.api("POST", f"/repos/{full}/check-runs", ci,
                   json={"name": "mlgate/data", "head_sha": sha, "status": "in_progress",
                         "output": {"title": "running", "summary": "…"}})
    assert q.status_code == 201 and q.json()["app"]["id"] == ci_id and q.json()["conclusion"] is None
    assert q.json()["pull_requests"] == []
    pr = server.open_pr("alice", name, "cr", "bob")
    run_id = q.json()["id"]
    assert server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", lint,
                      json={"conclusion": "success"}).status_code == 403  # only the creating app may update
    assert server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", ci,
                      json={"status": "completed"}).status_code == 422  # needs a conclusion
    done = server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", ci,
                      json={"conclusion": "failure", "output": {"title": "bad", "summary": "PSI 0.4"}})
    assert done.json()["status"] == "completed" and done.json()["completed_at"]
    server.api("POST", f"/repos/{full}/check-runs", ci,
               json={"name": "mlgate/data", "head_sha": sha, "status": "completed", "conclusion": "success"})
    server.api("POST", f"/repos/{full}/check-runs", lint,
               json={"name": "mlgate/bias", "head_sha": sha, "conclusion": "neutral"})
    latest = server.api("GET", f"/repos/{full}/commits/{sha}/check-runs", "alice").json()
    assert latest["total_count"] == 2
    assert {(r["name"], r["conclusion"]) for r in latest["check_runs"]} == {("mlgate/data", "success"),
                                                                              ("mlgate/bias", "neutral")}
    every = server.api("GET", f"/repos/{full}/commits/cr/check-runs", "alice", params={"filter": "all"}).json()
    assert every["total_count"] == 3
    named = server.api("GET", f"/repos/{full}/commits/{sha}/check-runs", "alice",
                       params={"check_name": "mlgate/bias"}).json()
    assert [r["app"]["slug"] for r in named["check_runs"]] == [named["check_runs"][0]["app"]["slug"]]
    assert named["check_runs"][0]["app"]["slug"].startswith("lint-app")
    suites = server.api("GET", f"/repos/{full}/commits/{sha}/check-suites", "alice").json()
    ci_suite = next(s for s in suites["check_suites"] if s["app"]["id"] == ci_id)
    assert ci_suite["status"] == "completed" and ci_suite["conclusion"] == "failure"
    assert server.api("GET", f"/repos/{full}/check-suites/{ci_suite['id']}", "alice").json()["head_sha"] == sha
    in_suite = server.api("GET", f"/repos/{full}/check-suites/{ci_suite['id']}/check-runs", "alice").json()
    assert in_suite["total_count"] == 1
    got = server.api("GET", f"/repos/{full}/check-runs/{run_id}", "alice").json()
    assert got["output"]["summary"] == "PSI 0.4"
    assert [p["number"] for p in got["pull_requests"]] == [pr["number"]]
    assert server.api("POST", f"/repos/{full}/check-runs", ci,
                      json={"name": "x", "head_sha": sha, "conclusion": "great"}).status_code == 422
    server.wait_for_webhooks()
    mine = [(d.event, d.payload.get("action")) for d in sink.deliveries
            if d.payload.get("repository", {}).get("full_name") == full]
    assert mine.count(("check_run", "created")) == 3 and ("check_suite", "completed") in mine


def test_only_apps_create_or_update_check_runs(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    sha = server.api("GET", f"/repos/{full}/commits/main", "alice").json()["sha"]
    refused = server.api("POST", f"/repos/{full}/check-runs", "alice", json={"name": "mlgate", "head_sha": sha})
    assert refused.status_code == 403 and refused.json()["message"] == "You must authenticate via a GitHub App."
    # GitHub Actions' GITHUB_TOKEN is an App's installation token: its runs come from `github-actions`
    gh_token = server.actions_token(full)
    made = server.api("POST", f"/repos/{full}/check-runs", gh_token, json={"name": "mlgate/data", "head_sha": sha})
    assert made.status_code == 201 and made.json()["app"]["slug"] == "github-actions"
    assert server.api("PATCH", f"/repos/{full}/check-runs/{made.json()['id']}", "alice",
                      json={"conclusion": "success"}).status_code == 403
    # a read-only GITHUB_TOKEN (a fork's pull_request run) cannot write them
    read_only = server.actions_token(full, permissions={"contents": "read", "checks": "read"})
    assert server.api("POST", f"/repos/{full}/check-runs", read_only,
                      json={"name": "mlgate/data", "head_sha": sha}).status_code == 403
    # and a GITHUB_TOKEN reaches only its own repository
    other = make_repo("alice", private=True)
    assert server.api("GET", f"/repos/{other['full_name']}", gh_token).status_code == 404


def test_check_run_output_limits_and_appended_annotations(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    sha = server.api("GET", f"/repos/{full}/commits/main", "alice").json()["sha"]
    token, _ = _app_token(server, "alice", repo["name"], "annotating-app")

    def note(i: int) -> dict[str, object]:
        return {"path": "train.py", "start_line": i, "end_line": i, "annotation_level": "warning", "message": f"n{i}"}

    too_long = "é" * 32768  # 32768 characters, 65536 bytes: GitHub counts bytes
    for key in ("summary", "text"):
        output = {"title": "t", "summary": "s", key: too_long}
        refused = server.api("POST", f"/repos/{full}/check-runs", token,
                             json={"name": "big", "head_sha": sha, "output": output})
        assert refused.status_code == 422
        assert refused.json()["errors"][0]["message"] == f"{key} exceeds a maximum bytesize of 65535"
    fits = {"title": "t", "summary": "s" * 65535}
    first = {**fits, "annotations": [note(i) for i in range(50)]}
    made = server.api("POST", f"/repos/{full}/check-runs", token,
                      json={"name": "lint", "head_sha": sha, "output": first})
    assert made.status_code == 201 and made.json()["output"]["annotations_count"] == 50
    run_id = made.json()["id"]
    too_many = server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", token,
                          json={"output": {"title": "t", "summary": "s", "annotations": [note(i) for i in range(51)]}})
    assert too_many.status_code == 422
    assert too_many.json()["message"] == "Invalid request.\n\nNo more than 50 items are allowed; 51 were supplied."
    more = server.api("PATCH", f"/repos/{full}/check-runs/{run_id}", token,
                      json={"output": {"title": "t2", "summary": "second", "annotations": [note(50), note(51)]}})
    assert more.status_code == 200 and more.json()["output"]["annotations_count"] == 52  # appended, not replaced
    assert more.json()["output"]["summary"] == "second"
    listed = server.api("GET", f"/repos/{full}/check-runs/{run_id}/annotations", "alice",
                        params={"per_page": 100}).json()
    assert [a["message"] for a in listed] == [f"n{i}" for i in range(52)]
