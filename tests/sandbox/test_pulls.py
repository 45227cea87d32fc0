"""Pull requests: facts from git, merge methods and their guards, synchronize, merged-by-push,
reviews and review requests."""

from __future__ import annotations

import base64

from mlgate.sandbox.harness import SandboxServer, WebhookSink


def _pr(server: SandboxServer, full: str, n: int, token: str = "alice") -> dict:  # type: ignore[type-arg]
    return server.api("GET", f"/repos/{full}/pulls/{n}", token).json()


def test_create_list_update_and_validation(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write"})
    full, name = repo["full_name"], repo["name"]
    server.push_files("alice", name, "f1", {"x.txt": "x\n", "y.txt": "y\n"}, "bob", base="main")
    pr = server.open_pr("alice", name, "f1", "bob", title="Add x and y", body="why")
    assert pr["number"] == 1 and pr["state"] == "open" and pr["user"]["login"] == "bob"
    assert pr["changed_files"] == 2 and pr["additions"] == 2 and pr["commits"] == 1
    assert pr["author_association"] == "COLLABORATOR"
    dup = server.api("POST", f"/repos/{full}/pulls", "bob", json={"head": "f1", "base": "main", "title": "t"})
    assert dup.status_code == 422 and "already exists" in dup.json()["errors"][0]["message"]
    none = server.api("POST", f"/repos/{full}/pulls", "bob", json={"head": "main", "base": "main", "title": "t"})
    assert none.status_code == 422
    missing = server.api("POST", f"/repos/{full}/pulls", "bob", json={"head": "zzz", "base": "main", "title": "t"})
    assert missing.status_code == 422

    listed = server.api("GET", f"/repos/{full}/pulls", "alice", params={"head": "alice:f1"}).json()
    assert [p["number"] for p in listed] == [1]
    upd = server.api("PATCH", f"/repos/{full}/pulls/1", "bob", json={"title": "Add x, y"})
    assert upd.json()["title"] == "Add x, y"
    closed = server.api("PATCH", f"/repos/{full}/pulls/1", "bob", json={"state": "closed"})
    assert closed.json()["state"] == "closed" and closed.json()["merged"] is False
    assert server.api("GET", f"/repos/{full}/pulls", "alice").json() == []
    assert len(server.api("GET", f"/repos/{full}/pulls", "alice", params={"state": "closed"}).json()) == 1
    reopened = server.api("PATCH", f"/repos/{full}/pulls/1", "bob", json={"state": "open"})
    assert reopened.json()["state"] == "open"
    issue = server.api("GET", f"/repos/{full}/issues/1", "alice").json()
    assert issue["pull_request"]["url"].endswith(f"/repos/{full}/pulls/1")


def test_mergeable_is_computed_from_git(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", files={"a.txt": "base\n"})
    full, name = repo["full_name"], repo["name"]
    server.push_files("alice", name, "left", {"a.txt": "left\n"}, "alice", base="main")
    server.push_files("alice", name, "right", {"a.txt": "right\n"}, "alice", base="main")
    left = server.open_pr("alice", name, "left", "alice")
    right = server.open_pr("alice", name, "right", "alice")
    assert left["mergeable"] is True and left["mergeable_state"] == "clean"
    merged = server.api("PUT", f"/repos/{full}/pulls/{left['number']}/merge", "alice", json={})
    assert merged.status_code == 200
    after = _pr(server, full, right["number"])
    assert after["mergeable"] is False and after["mergeable_state"] == "dirty"
    refused = server.api("PUT", f"/repos/{full}/pulls/{right['number']}/merge", "alice", json={})
    assert refused.status_code == 405 and refused.json()["message"] == "Pull Request is not mergeable"


def test_merge_guards_and_methods(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write", "carol": "read"})
    full, name = repo["full_name"], repo["name"]
    head = server.push_files("alice", name, "sq", {"s1.txt": "1\n"}, "bob", base="main", message="one")
    head = server.push_files("alice", name, "sq", {"s2.txt": "2\n"}, "bob", message="two")
    pr = server.open_pr("alice", name, "sq", "bob", title="Squash me")
    n = pr["number"]
    assert server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "carol", json={}).status_code in (403, 404)
    stale = server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob", json={"sha": "f" * 40})
    assert stale.status_code == 409
    assert server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob",
                      json={"merge_method": "octopus"}).status_code == 422
    ok = server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob", json={"sha": head, "merge_method": "squash"})
    assert ok.status_code == 200 and ok.json()["merged"] is True
    squashed = server.api("GET", f"/repos/{full}/commits/{ok.json()['sha']}", "alice").json()
    assert len(squashed["parents"]) == 1 and squashed["commit"]["message"].startswith(f"Squash me (#{n})")
    assert server.api("GET", f"/repos/{full}/pulls/{n}/merge", "alice").status_code == 204
    again = server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob", json={})
    assert again.status_code == 405
    got = _pr(server, full, n)
    assert got["merged"] is True and got["merged_by"]["login"] == "bob" and got["merge_commit_sha"] == ok.json()["sha"]

    server.push_files("alice", name, "rb", {"r1.txt": "1\n"}, "bob", base="main", message="r one")
    server.push_files("alice", name, "rb", {"r2.txt": "2\n"}, "bob", message="r two")
    server.push_files("alice", name, "main", {"m.txt": "m\n"}, "alice", message="main moves")
    pr2 = server.open_pr("alice", name, "rb", "bob")
    assert server.api("GET", f"/repos/{full}/pulls/{pr2['number']}/merge", "alice").status_code == 404
    rb = server.api("PUT", f"/repos/{full}/pulls/{pr2['number']}/merge", "bob", json={"merge_method": "rebase"})
    assert rb.status_code == 200
    log = server.api("GET", f"/repos/{full}/commits", "alice").json()
    assert [c["commit"]["message"] for c in log[:3]] == ["r two", "r one", "main moves"]
    assert all(len(c["parents"]) == 1 for c in log[:3])


def test_push_synchronizes_and_fast_forward_marks_merged(server: SandboxServer, make_repo,  # type: ignore[no-untyped-def]
                                                         sink: WebhookSink) -> None:
    repo = make_repo("alice", collaborators={"bob": "write"})
    full, name = repo["full_name"], repo["name"]
    server.add_hook("alice", name, sink.url, "k", "alice", events=("pull_request", "push"))
    first = server.push_files("alice", name, "feat", {"f.txt": "1\n"}, "bob", base="main")
    pr = server.open_pr("alice", name, "feat", "bob")
    second = server.push_files("alice", name, "feat", {"f.txt": "2\n"}, "bob")
    got = _pr(server, full, pr["number"])
    assert got["head"]["sha"] == second and got["commits"] == 2
    server.wait_for_webhooks()
    sync = [d.payload for d in sink.events("pull_request", "synchronize")
            if d.payload["repository"]["full_name"] == full]
    assert sync and sync[-1]["before"] == first and sync[-1]["after"] == second

    # a bors-style bot fast-forwards main to a commit that contains the PR head
    main = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
    server.api("POST", f"/repos/{full}/git/refs", "alice", json={"ref": "refs/heads/staging", "sha": main})
    staged = server.api("POST", f"/repos/{full}/merges", "alice", json={"base": "staging", "head": second}).json()
    ff = server.api("PATCH", f"/repos/{full}/git/refs/heads/main", "mlgate-bot", json={"sha": staged["sha"]})
    assert ff.status_code in (403, 404)  # the bot user is not a collaborator yet
    ff = server.api("PATCH", f"/repos/{full}/git/refs/heads/main", "alice", json={"sha": staged["sha"]})
    assert ff.status_code == 200
    server.wait_for_webhooks()  # GitHub notices the merge in the background, a moment later
    done = _pr(server, full, pr["number"])
    assert done["state"] == "closed" and done["merged"] is True and done["merged_by"]["login"] == "alice"
    assert done["commits"] == 2 and done["changed_files"] == 1
    commits = server.api("GET", f"/repos/{full}/pulls/{pr['number']}/commits", "alice").json()
    assert [c["sha"] for c in commits] == [first, second]
    files = server.api("GET", f"/repos/{full}/pulls/{pr['number']}/files", "alice").json()
    assert [f["filename"] for f in files] == ["f.txt"]
    server.wait_for_webhooks()
    closed = [d.payload for d in sink.events("pull_request", "closed") if d.payload["repository"]["full_name"] == full]
    assert closed and closed[-1]["pull_request"]["merged"] is True


def test_reviews(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write", "carol": "write"})
    full, name = repo["full_name"], repo["name"]
    first = server.push_files("alice", name, "rev", {"r.txt": "1\n"}, "bob", base="main")
    pr = server.open_pr("alice", name, "rev", "bob")
    n = pr["number"]
    own = server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "bob", json={"event": "APPROVE"})
    assert own.status_code == 422 and "own pull request" in own.json()["errors"][0]
    ok = server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "alice", json={"event": "APPROVE", "body": "lgtm"})
    assert ok.status_code == 200 and ok.json()["state"] == "APPROVED" and ok.json()["commit_id"] == first
    second = server.push_files("alice", name, "rev", {"r.txt": "2\n"}, "bob")
    changes = server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "carol",
                         json={"event": "REQUEST_CHANGES", "body": "no", "commit_id": second})
    assert changes.json()["state"] == "CHANGES_REQUESTED" and changes.json()["commit_id"] == second
    assert server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "carol",
                      json={"event": "COMMENT"}).status_code == 422  # body required
    pending = server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "dave", json={"body": "draft"})
    assert pending.json()["state"] == "PENDING" and "submitted_at" not in pending.json()
    listed = server.api("GET", f"/repos/{full}/pulls/{n}/reviews", "alice").json()
    assert [r["state"] for r in listed] == ["APPROVED", "CHANGES_REQUESTED"]  # others' pending are hidden
    submitted = server.api("POST", f"/repos/{full}/pulls/{n}/reviews/{pending.json()['id']}/events", "dave",
                           json={"event": "COMMENT"})
    assert submitted.json()["state"] == "COMMENTED"
    dismissed = server.api("PUT", f"/repos/{full}/pulls/{n}/reviews/{changes.json()['id']}/dismissals", "alice",
                           json={"message": "outdated"})
    assert dismissed.json()["state"] == "DISMISSED"
    assert server.api("PUT", f"/repos/{full}/pulls/{n}/reviews/{submitted.json()['id']}/dismissals", "alice",
                      json={"message": "x"}).status_code == 422
    one = server.api("GET", f"/repos/{full}/pulls/{n}/reviews/{ok.json()['id']}", "bob").json()
    assert one["user"]["login"] == "alice"
    edited = server.api("PUT", f"/repos/{full}/pulls/{n}/reviews/{ok.json()['id']}", "alice", json={"body": "LGTM!"})
    assert edited.json()["body"] == "LGTM!"
    draft = server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "alice", json={"body": "tmp"}).json()
    assert server.api("DELETE", f"/repos/{full}/pulls/{n}/reviews/{draft['id']}", "alice").status_code == 200


def test_review_requests(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write", "carol": "read"})
    full, name = repo["full_name"], repo["name"]
    server.push_files("alice", name, "rr", {"r.txt": "1\n"}, "bob", base="main")
    n = server.open_pr("alice", name, "rr", "bob")["number"]
    r = server.api("POST", f"/repos/{full}/pulls/{n}/requested_reviewers", "bob", json={"reviewers": ["carol"]})
    assert r.status_code == 201 and [u["login"] for u in r.json()["requested_reviewers"]] == ["carol"]
    assert server.api("POST", f"/repos/{full}/pulls/{n}/requested_reviewers", "bob",
                      json={"reviewers": ["dave"]}).status_code == 422  # not a collaborator
    assert server.api("POST", f"/repos/{full}/pulls/{n}/requested_reviewers", "bob",
                      json={"reviewers": ["bob"]}).status_code == 422  # the author
    got = server.api("GET", f"/repos/{full}/pulls/{n}/requested_reviewers", "bob").json()
    assert [u["login"] for u in got["users"]] == ["carol"] and got["teams"] == []
    server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "carol", json={"event": "APPROVE"})
    assert server.api("GET", f"/repos/{full}/pulls/{n}/requested_reviewers", "bob").json()["users"] == []
    server.api("POST", f"/repos/{full}/pulls/{n}/requested_reviewers", "bob", json={"reviewers": ["alice"]})
    removed = server.api("DELETE", f"/repos/{full}/pulls/{n}/requested_reviewers", "bob", json={"reviewers": ["alice"]})
    assert removed.status_code == 200 and removed.json()["requested_reviewers"] == []


def test_rebase_merges_content_and_refuses_conflicts(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", files={"a.txt": "1\n2\n3\n4\n5\n6\n7\n"})
    full, name = repo["full_name"], repo["name"]
    server.push_files("alice", name, "tail", {"a.txt": "1\n2\n3\n4\n5\n6\nSEVEN\n"}, "alice", base="main")
    server.push_files("alice", name, "clash", {"a.txt": "one\n2\n3\n4\n5\n6\n7\n"}, "alice", base="main")
    server.push_files("alice", name, "main", {"a.txt": "ONE\n2\n3\n4\n5\n6\n7\n"}, "alice")
    tail = server.open_pr("alice", name, "tail", "alice")["number"]
    clash = server.open_pr("alice", name, "clash", "alice")["number"]
    ok = server.api("PUT", f"/repos/{full}/pulls/{tail}/merge", "alice", json={"merge_method": "rebase"})
    assert ok.status_code == 200
    content = server.api("GET", f"/repos/{full}/contents/a.txt", "alice").json()
    assert base64.b64decode(content["content"]).decode() == "ONE\n2\n3\n4\n5\n6\nSEVEN\n"
    refused = server.api("PUT", f"/repos/{full}/pulls/{clash}/merge", "alice", json={"merge_method": "rebase"})
    assert refused.status_code == 405


def test_merge_by_push_is_noticed_late_and_a_deleted_head_loses_it(server: SandboxServer, make_repo,  # type: ignore[no-untyped-def]
                                                                   sink: WebhookSink) -> None:
    """GitHub marks a PR merged by a fast-forward in the background. Deleting the head branch before
    it noticed closes the PR *not merged* (bors-ng's problem); after it noticed, the PR stays merged."""
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    server.add_hook("alice", name, sink.url, "k", "alice", events=("pull_request",))
    heads = {}
    for branch in ("rushed", "patient"):
        heads[branch] = server.push_files("alice", name, branch, {f"{branch}.txt": "1\n"}, "alice", base="main")
    numbers = {b: server.open_pr("alice", name, b, "alice", base="main")["number"] for b in heads}
    server.set_merge_detection(None)  # hold detections until asked
    try:
        for branch in ("rushed", "patient"):
            main = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
            staged = server.api("POST", f"/repos/{full}/merges", "alice",
                                json={"base": "main", "head": heads[branch]})
            assert staged.status_code == 201, (main, staged.text)
            pr = _pr(server, full, numbers[branch])
            assert (pr["state"], pr["merged"]) == ("open", False)  # not noticed yet
            if branch == "rushed":  # the bot deletes the head branch right away
                assert server.api("DELETE", f"/repos/{full}/git/refs/heads/rushed", "alice").status_code == 204
            else:
                assert server.detect_merges() == 1
                assert server.api("DELETE", f"/repos/{full}/git/refs/heads/patient", "alice").status_code == 204
        assert server.detect_merges() == 0  # the rushed PR was closed before GitHub noticed
    finally:
        server.set_merge_detection(0.2)
    rushed, patient = _pr(server, full, numbers["rushed"]), _pr(server, full, numbers["patient"])
    assert (rushed["state"], rushed["merged"]) == ("closed", False)
    assert (patient["state"], patient["merged"]) == ("closed", True)
    server.wait_for_webhooks()
    closed = {d.payload["number"]: d.payload["pull_request"]["merged"] for d in sink.events("pull_request", "closed")
              if d.payload["repository"]["full_name"] == full}
    assert closed == {numbers["rushed"]: False, numbers["patient"]: True}
