"""Issue comments (create, list, update, delete), reactions and labels."""

from __future__ import annotations

from mlgate.sandbox.harness import SandboxServer, WebhookSink


def test_comments_lifecycle(server: SandboxServer, make_repo, sink: WebhookSink) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write"})
    full, name = repo["full_name"], repo["name"]
    server.add_hook("alice", name, sink.url, "k", "alice", events=("issue_comment",))
    issue = server.api("POST", f"/repos/{full}/issues", "carol", json={"title": "bug", "labels": ["triage"]})
    assert issue.status_code == 201 and [lab["name"] for lab in issue.json()["labels"]] == ["triage"]
    c = server.api("POST", f"/repos/{full}/issues/1/comments", "carol", json={"body": "/merge"})
    assert c.status_code == 201 and c.json()["user"]["login"] == "carol"
    cid = c.json()["id"]
    assert server.api("POST", f"/repos/{full}/issues/1/comments", "carol", json={}).status_code == 422
    assert server.api("POST", f"/repos/{full}/issues/1/comments", "carol",
                      json={"body": "x" * 65537}).status_code == 422
    assert server.api("POST", f"/repos/{full}/issues/99/comments", "carol", json={"body": "x"}).status_code == 404
    assert server.api("PATCH", f"/repos/{full}/issues/comments/{cid}", "dave",
                      json={"body": "hijack"}).status_code == 403
    edited = server.api("PATCH", f"/repos/{full}/issues/comments/{cid}", "carol", json={"body": "/merge p=1"})
    assert edited.json()["body"] == "/merge p=1"
    assert server.api("GET", f"/repos/{full}/issues/comments/{cid}", "bob").json()["body"] == "/merge p=1"
    assert [x["id"] for x in server.api("GET", f"/repos/{full}/issues/comments", "bob").json()] == [cid]
    assert server.api("GET", f"/repos/{full}/issues/1", "bob").json()["comments"] == 1
    assert server.api("DELETE", f"/repos/{full}/issues/comments/{cid}", "bob").status_code == 204
    assert server.api("GET", f"/repos/{full}/issues/1/comments", "bob").json() == []
    server.wait_for_webhooks()
    actions = [d.payload["action"] for d in sink.events("issue_comment")
               if d.payload["repository"]["full_name"] == full]
    assert actions == ["created", "edited", "deleted"]


def test_reactions(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    server.api("POST", f"/repos/{full}/issues", "alice", json={"title": "t"})
    cid = server.api("POST", f"/repos/{full}/issues/1/comments", "alice", json={"body": "hi"}).json()["id"]
    r = server.api("POST", f"/repos/{full}/issues/comments/{cid}/reactions", "bob", json={"content": "eyes"})
    assert r.status_code == 201 and r.json()["content"] == "eyes"
    same = server.api("POST", f"/repos/{full}/issues/comments/{cid}/reactions", "bob", json={"content": "eyes"})
    assert same.status_code == 200 and same.json()["id"] == r.json()["id"]
    assert server.api("POST", f"/repos/{full}/issues/comments/{cid}/reactions", "bob",
                      json={"content": "sparkles"}).status_code == 422
    server.api("POST", f"/repos/{full}/issues/comments/{cid}/reactions", "carol", json={"content": "+1"})
    listed = server.api("GET", f"/repos/{full}/issues/comments/{cid}/reactions", "alice").json()
    assert sorted(x["content"] for x in listed) == ["+1", "eyes"]
    comment = server.api("GET", f"/repos/{full}/issues/comments/{cid}", "alice").json()
    assert comment["reactions"]["total_count"] == 2 and comment["reactions"]["eyes"] == 1
    assert server.api("DELETE", f"/repos/{full}/issues/comments/{cid}/reactions/{r.json()['id']}",
                      "carol").status_code == 403
    assert server.api("DELETE", f"/repos/{full}/issues/comments/{cid}/reactions/{r.json()['id']}",
                      "bob").status_code == 204


def test_labels_on_pull_requests(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    server.push_files("alice", name, "lab", {"l.txt": "1\n"}, "alice", base="main")
    n = server.open_pr("alice", name, "lab", "alice")["number"]
    added = server.api("POST", f"/repos/{full}/issues/{n}/labels", "alice", json={"labels": ["priority", "ml"]})
    assert [x["name"] for x in added.json()] == ["priority", "ml"]
    pr = server.api("GET", f"/repos/{full}/pulls/{n}", "alice").json()
    assert [x["name"] for x in pr["labels"]] == ["priority", "ml"]
    assert server.api("POST", f"/repos/{full}/issues/{n}/labels", "carol",
                      json={"labels": ["x"]}).status_code in (403, 404)
    left = server.api("DELETE", f"/repos/{full}/issues/{n}/labels/priority", "alice").json()
    assert [x["name"] for x in left] == ["ml"]
    assert server.api("GET", f"/repos/{full}/issues/{n}/labels", "alice").json()[0]["name"] == "ml"
    assert server.api("DELETE", f"/repos/{full}/issues/{n}/labels/none", "alice").status_code == 404


def test_list_and_update_issues(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "triage"})
    full, name = repo["full_name"], repo["name"]
    server.api("POST", f"/repos/{full}/issues", "carol", json={"title": "first"})
    server.api("POST", f"/repos/{full}/issues", "carol", json={"title": "second", "labels": ["bug"]})
    server.push_files("alice", name, "li", {"l.txt": "1\n"}, "alice", base="main")
    pr = server.open_pr("alice", name, "li", "alice")
    listed = server.api("GET", f"/repos/{full}/issues", "dave").json()
    assert [i["number"] for i in listed] == [3, 2, 1] and "pull_request" in listed[0]
    assert [i["title"] for i in server.api("GET", f"/repos/{full}/issues", "dave",
                                           params={"labels": "bug"}).json()] == ["second"]
    assert server.api("PATCH", f"/repos/{full}/issues/1", "dave", json={"state": "closed"}).status_code == 403
    closed = server.api("PATCH", f"/repos/{full}/issues/1", "bob",
                        json={"state": "closed", "labels": ["wontfix"], "assignees": ["carol"]}).json()
    assert closed["state"] == "closed" and closed["state_reason"] == "completed"
    assert [lab["name"] for lab in closed["labels"]] == ["wontfix"] and closed["assignee"]["login"] == "carol"
    assert [i["number"] for i in server.api("GET", f"/repos/{full}/issues", "dave",
                                            params={"state": "closed"}).json()] == [1]
    via_issue = server.api("PATCH", f"/repos/{full}/issues/{pr['number']}", "carol", json={"title": "renamed"})
    assert via_issue.status_code == 403
    server.api("PATCH", f"/repos/{full}/issues/{pr['number']}", "alice", json={"state": "closed"})
    assert server.api("GET", f"/repos/{full}/pulls/{pr['number']}", "alice").json()["state"] == "closed"
