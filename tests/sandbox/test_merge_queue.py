"""GitHub's merge queue in the sandbox (sandbox/mergequeue.py): group commits on
`gh-readonly-queue/<base>/pr-<n>-<sha>`, `merge_group` events held to @octokit/webhooks-schemas (the
session's contract hook), the base moving only to a group whose required checks passed, and a failed
group taking only its own PR out."""

from __future__ import annotations

from mlgate.sandbox.harness import SandboxServer, WebhookSink


def _protect(server: SandboxServer, full: str) -> None:
    body = {"required_status_checks": {"strict": False, "contexts": ["ci"]}, "enforce_admins": True,
            "required_pull_request_reviews": None, "restrictions": None}
    assert server.api("PUT", f"/repos/{full}/branches/main/protection", "alice", json=body).status_code == 200


def _status(server: SandboxServer, full: str, sha: str, state: str) -> None:
    server.api("POST", f"/repos/{full}/statuses/{sha}", "carol", json={"state": state, "context": "ci"}
               ).raise_for_status()


def test_groups_merge_when_green_and_a_red_group_leaves_the_rest_rebuilt(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write", "carol": "write"})
    full, name = repo["full_name"], repo["name"]
    _protect(server, full)
    sink = WebhookSink().start()
    try:
        server.add_hook("alice", name, sink.url, "s", "alice")  # "*": the ping schema lists no merge_group
        numbers = []
        for i in range(3):
            server.push_files("alice", name, f"f{i}", {f"f{i}.txt": f"{i}\n"}, "bob", base="main")
            numbers.append(server.open_pr("alice", name, f"f{i}", "bob")["number"])
        main0 = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
        groups = [server.enqueue("alice", name, n, "alice") for n in numbers]
        assert groups[0]["base_sha"] == main0 and groups[1]["base_sha"] == groups[0]["head_sha"]
        assert groups[0]["head_ref"].startswith(f"refs/heads/gh-readonly-queue/main/pr-{numbers[0]}-")
        assert server.wait_for_webhooks()
        requested = sink.events("merge_group", "checks_requested")
        assert [d.payload["merge_group"]["head_sha"] for d in requested] == [g["head_sha"] for g in groups]
        assert requested[0].payload["merge_group"]["base_ref"] == "refs/heads/main"

        _status(server, full, groups[1]["head_sha"], "success")  # the second group alone: nothing merges
        assert server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"] == main0

        _status(server, full, groups[0]["head_sha"], "failure")  # the first PR leaves; the others are rebuilt
        queue = server.admin("GET", f"/repos/{full}/merge-queue").json()
        assert [g["number"] for g in queue] == numbers[1:]
        assert queue[0]["base_sha"] == main0
        for group in queue:
            _status(server, full, group["head_sha"], "success")
        assert server.wait_for_webhooks()
        main = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
        assert main == queue[-1]["head_sha"]
        merged = {n: server.api("GET", f"/repos/{full}/pulls/{n}", "alice").json()["merged"] for n in numbers}
        assert merged == {numbers[0]: False, numbers[1]: True, numbers[2]: True}
        reasons = [(d.payload["merge_group"]["head_sha"], d.payload["reason"])
                   for d in sink.events("merge_group", "destroyed")]
        assert (groups[0]["head_sha"], "invalidated") in reasons
        assert (queue[0]["head_sha"], "merged") in reasons and (queue[1]["head_sha"], "merged") in reasons
        assert server.admin("GET", f"/repos/{full}/merge-queue").json() == []
        refs = server.api("GET", f"/repos/{full}/git/matching-refs/heads/gh-readonly-queue", "alice")
        assert refs.status_code in (200, 404) and (refs.status_code == 404 or refs.json() == [])
    finally:
        sink.stop()


def test_enqueue_refuses_a_closed_or_queued_pr(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write"})
    name = repo["name"]
    server.push_files("alice", name, "x", {"x.txt": "x\n"}, "bob", base="main")
    number = server.open_pr("alice", name, "x", "bob")["number"]
    server.enqueue("alice", name, number, "alice")
    again = server.admin("POST", f"/repos/alice/{name}/merge-queue", json={"number": number, "sender": "alice"})
    assert again.status_code == 422 and "already in the merge queue" in again.json()["message"]
    missing = server.admin("POST", f"/repos/alice/{name}/merge-queue", json={"number": 999, "sender": "alice"})
    assert missing.status_code == 422
