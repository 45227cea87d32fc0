"""Rate-limit headers, conditional requests (ETag/304), fault injection and the call log."""

from __future__ import annotations

import time

import pytest
from github import GithubException
from github.GithubRetry import GithubRetry

from mlgate.sandbox.harness import SandboxServer


def test_rate_limit_headers_and_exhaustion(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    r = server.api("GET", f"/repos/{repo['full_name']}", "alice")
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Used", "X-RateLimit-Reset",
              "X-RateLimit-Resource"):
        assert h in r.headers
    assert int(r.headers["X-RateLimit-Limit"]) == 5000
    anon = server.api("GET", f"/repos/{repo['full_name']}")
    assert anon.headers["X-RateLimit-Limit"] == "60"
    before = int(server.api("GET", "/rate_limit", "alice").json()["resources"]["core"]["remaining"])
    assert int(server.api("GET", "/rate_limit", "alice").json()["rate"]["remaining"]) == before  # free
    server.admin("POST", "/ratelimit", json={"login": "dave", "limit": 2}).raise_for_status()
    assert server.api("GET", "/user", "dave").status_code == 200
    assert server.api("GET", "/user", "dave").status_code == 200
    over = server.api("GET", "/user", "dave")
    assert over.status_code == 403 and "rate limit exceeded" in over.json()["message"]
    assert over.headers["X-RateLimit-Remaining"] == "0"
    server.admin("POST", "/ratelimit", json={"login": "dave", "limit": 5000})


def test_etag_conditional_requests(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    url = f"/repos/{repo['full_name']}/pulls"
    first = server.api("GET", url, "alice")
    etag = first.headers["ETag"]
    used = int(first.headers["X-RateLimit-Used"])
    again = server.api("GET", url, "alice", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert int(again.headers["X-RateLimit-Used"]) == used  # a 304 is free, as on GitHub
    server.push_files("alice", repo["name"], "e", {"e.txt": "1\n"}, "alice", base="main")
    server.open_pr("alice", repo["name"], "e", "alice")
    changed = server.api("GET", url, "alice", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_faults_and_pygithub_retries(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    server.inject_fault("/repos/{owner}/{repo}", kind="502", method="GET", count=1)
    assert server.api("GET", f"/repos/{full}", "alice").status_code == 502
    assert server.api("GET", f"/repos/{full}", "alice").status_code == 200  # only the next N calls

    server.inject_fault("/repos/{owner}/{repo}/issues", kind="secondary_rate_limit", method="POST", retry_after=7)
    limited = server.api("POST", f"/repos/{full}/issues", "alice", json={"title": "t"})
    assert limited.status_code == 403 and limited.headers["Retry-After"] == "7"
    assert "secondary rate limit" in limited.json()["message"]

    server.inject_fault(f"/repos/{full}/branches*", kind="delay", delay=0.3)
    t0 = time.monotonic()
    assert server.api("GET", f"/repos/{full}/branches", "alice").status_code == 200
    assert time.monotonic() - t0 >= 0.3

    # PyGithub's own retry policy rides over two 500s on a GET
    gh = server.github("alice", retry=GithubRetry(total=3, backoff_factor=0.01))
    server.inject_fault("/repos/{owner}/{repo}/pulls", kind="500", method="GET", count=2)
    server.reset_calls()
    assert list(gh.get_repo(full).get_pulls()) == []
    calls = server.calls()["by_endpoint"]
    assert calls["GET /repos/{owner}/{repo}/pulls"] == 3
    no_retry = server.github("alice", retry=None)
    server.inject_fault("/repos/{owner}/{repo}", kind="500", method="GET")
    with pytest.raises(GithubException) as exc:
        no_retry.get_repo(full)
    assert exc.value.status == 500
    faults = server.admin("GET", "/faults").json()
    assert all(f["count"] == 0 for f in faults)
    assert server.admin("DELETE", "/faults").status_code == 204
    assert server.admin("POST", "/faults", json={"kind": "418"}).status_code == 422


def test_call_log_counts_per_endpoint(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    server.reset_calls()
    gh = server.github("alice").get_repo(repo["full_name"])
    gh.get_branch("main")
    gh.get_branch("main")
    summary = server.calls()
    assert summary["by_endpoint"] == {"GET /repos/{owner}/{repo}": 1, "GET /repos/{owner}/{repo}/branches/{branch}": 2}
    assert summary["total"] == 3 and summary["calls"][0]["as"] == "alice"


def test_pygithub_waits_out_a_secondary_rate_limit(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    gh = server.github("alice", retry=GithubRetry(total=3, backoff_factor=0.01))
    server.inject_fault("/repos/{owner}/{repo}/issues", kind="secondary_rate_limit", method="POST", retry_after=1)
    server.reset_calls()
    t0 = time.monotonic()
    issue = gh.get_repo(repo["full_name"]).create_issue(title="after the limit")
    assert issue.number == 1 and time.monotonic() - t0 >= 1.0
    assert server.calls()["by_endpoint"]["POST /repos/{owner}/{repo}/issues"] == 2


def test_concurrent_writes_are_serialised(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    from concurrent.futures import ThreadPoolExecutor

    repo = make_repo("alice")
    full = repo["full_name"]
    server.api("POST", f"/repos/{full}/issues", "alice", json={"title": "busy"})

    def comment(i: int) -> int:
        r = server.api("POST", f"/repos/{full}/issues/1/comments", "alice", json={"body": f"c{i}"})
        return r.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(comment, range(24)))
    assert codes == [201] * 24
    bodies = [c["body"] for c in server.api("GET", f"/repos/{full}/issues/1/comments", "alice",
                                            params={"per_page": 100}).json()]
    assert sorted(bodies) == sorted(f"c{i}" for i in range(24))


def test_webhook_faults_duplicate_and_reorder_deliveries(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    """GitHub promises neither order nor exactly-once delivery; the sandbox can do both to a receiver."""
    from mlgate.sandbox.harness import WebhookSink

    sink = WebhookSink().start()
    try:
        repo = make_repo("alice")
        full, name = repo["full_name"], repo["name"]
        server.add_hook("alice", name, sink.url, "k", "alice", events=("pull_request", "issue_comment"))
        server.wait_for_webhooks()
        server.inject_webhook_fault("duplicate", event="issue_comment", count=1)
        server.push_files("alice", name, "feat", {"f.txt": "1\n"}, "alice", base="main")
        number = server.open_pr("alice", name, "feat", "alice")["number"]
        server.api("POST", f"/repos/{full}/issues/{number}/comments", "alice", json={"body": "/merge"})
        server.api("POST", f"/repos/{full}/issues/{number}/comments", "alice", json={"body": "/try"})
        server.wait_for_webhooks()
        comments = sink.events("issue_comment")
        assert [d.payload["comment"]["body"] for d in comments] == ["/merge", "/merge", "/try"]
        assert comments[0].guid == comments[1].guid != comments[2].guid  # the same delivery, twice

        server.inject_webhook_fault("reorder", event="pull_request", count=2)
        server.push_files("alice", name, "feat", {"f.txt": "2\n"}, "alice")
        server.api("PATCH", f"/repos/{full}/pulls/{number}", "alice", json={"state": "closed"}).raise_for_status()
        server.wait_for_webhooks()
        actions = [d.payload["action"] for d in sink.events("pull_request")]
        assert actions == ["opened", "closed", "synchronize"]  # the later event arrived first
        assert server.admin("POST", "/faults", json={"kind": "reorder", "count": 1}).status_code == 422
    finally:
        server.admin("DELETE", "/faults")
        sink.stop()
