"""Git data API: refs (fast-forward rule), commits, trees, blobs and POST /merges."""

from __future__ import annotations

import base64

from mlgate.sandbox.harness import SandboxServer


def _tip(server: SandboxServer, full: str, branch: str = "main") -> str:
    return server.api("GET", f"/repos/{full}/git/ref/heads/{branch}", "alice").json()["object"]["sha"]


def test_refs_fast_forward_rule(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    base = _tip(server, full)
    created = server.api("POST", f"/repos/{full}/git/refs", "alice", json={"ref": "refs/heads/staging", "sha": base})
    assert created.status_code == 201 and created.json()["ref"] == "refs/heads/staging"
    dup = server.api("POST", f"/repos/{full}/git/refs", "alice", json={"ref": "refs/heads/staging", "sha": base})
    assert dup.status_code == 422 and dup.json()["message"] == "Reference already exists"
    bad = server.api("POST", f"/repos/{full}/git/refs", "alice", json={"ref": "refs/heads/x", "sha": "0" * 40})
    assert bad.status_code == 422

    ahead = server.push_files("alice", name, "side", {"s.txt": "s\n"}, "alice", base="main")
    ff = server.api("PATCH", f"/repos/{full}/git/refs/heads/staging", "alice", json={"sha": ahead})
    assert ff.status_code == 200 and ff.json()["object"]["sha"] == ahead
    back = server.api("PATCH", f"/repos/{full}/git/refs/heads/staging", "alice", json={"sha": base})
    assert back.status_code == 422 and back.json()["message"] == "Update is not a fast forward"
    forced = server.api("PATCH", f"/repos/{full}/git/refs/heads/staging", "alice", json={"sha": base, "force": True})
    assert forced.status_code == 200 and _tip(server, full, "staging") == base
    assert server.api("PATCH", f"/repos/{full}/git/refs/heads/staging", "carol",
                      json={"sha": ahead}).status_code in (403, 404)

    matching = server.api("GET", f"/repos/{full}/git/matching-refs/heads/s", "alice").json()
    assert [m["ref"] for m in matching] == ["refs/heads/side", "refs/heads/staging"]
    assert server.api("DELETE", f"/repos/{full}/git/refs/heads/staging", "alice").status_code == 204
    assert server.api("GET", f"/repos/{full}/git/ref/heads/staging", "alice").status_code == 404
    assert server.api("DELETE", f"/repos/{full}/git/refs/heads/staging", "alice").status_code == 422


def test_build_a_commit_from_blobs_and_trees(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", files={"README.md": "r\n", "keep/me.txt": "k\n"})
    full = repo["full_name"]
    base = _tip(server, full)
    base_commit = server.api("GET", f"/repos/{full}/git/commits/{base}", "alice").json()
    blob = server.api("POST", f"/repos/{full}/git/blobs", "alice",
                      json={"content": base64.b64encode(b"binary\x00ok").decode(), "encoding": "base64"})
    assert blob.status_code == 201
    got = server.api("GET", f"/repos/{full}/git/blobs/{blob.json()['sha']}", "alice").json()
    assert base64.b64decode(got["content"]) == b"binary\x00ok"
    tree = server.api("POST", f"/repos/{full}/git/trees", "alice", json={
        "base_tree": base_commit["tree"]["sha"],
        "tree": [{"path": "new/file.txt", "mode": "100644", "type": "blob", "content": "hello\n"},
                 {"path": "bin.dat", "mode": "100644", "type": "blob", "sha": blob.json()["sha"]},
                 {"path": "README.md", "mode": "100644", "type": "blob", "sha": None}]})
    assert tree.status_code == 201
    paths = {e["path"] for e in tree.json()["tree"]}
    assert paths == {"new", "bin.dat", "keep"}
    commit = server.api("POST", f"/repos/{full}/git/commits", "alice", json={
        "message": "synthetic", "tree": tree.json()["sha"], "parents": [base],
        "author": {"name": "Bot", "email": "bot@example.com", "date": "2026-01-02T03:04:05Z"}})
    assert commit.status_code == 201
    body = commit.json()
    assert body["author"] == {"name": "Bot", "email": "bot@example.com", "date": "2026-01-02T03:04:05Z"}
    assert [p["sha"] for p in body["parents"]] == [base]
    rec = server.api("GET", f"/repos/{full}/git/trees/{body['sha']}", "alice", params={"recursive": "1"}).json()
    assert {"new/file.txt", "bin.dat", "keep/me.txt"} <= {e["path"] for e in rec["tree"]}
    assert server.api("POST", f"/repos/{full}/git/commits", "alice",
                      json={"message": "m", "tree": "1" * 40}).status_code == 422


def test_merges_endpoint(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", files={"a.txt": "1\n2\n3\n"})
    full, name = repo["full_name"], repo["name"]
    base = _tip(server, full)
    server.api("POST", f"/repos/{full}/git/refs", "alice", json={"ref": "refs/heads/staging", "sha": base})
    one = server.push_files("alice", name, "pr1", {"b.txt": "b\n"}, "alice", base="main")
    two = server.push_files("alice", name, "pr2", {"a.txt": "ONE\n2\n3\n"}, "alice", base="main")
    clash = server.push_files("alice", name, "pr3", {"a.txt": "uno\n2\n3\n"}, "alice", base="main")

    m1 = server.api("POST", f"/repos/{full}/merges", "alice", json={"base": "staging", "head": one})
    assert m1.status_code == 201 and [p["sha"] for p in m1.json()["parents"]] == [base, one]
    m2 = server.api("POST", f"/repos/{full}/merges", "alice", json={"base": "staging", "head": "pr2",
                                                                     "commit_message": "batch: pr2"})
    assert m2.status_code == 201 and m2.json()["commit"]["message"] == "batch: pr2"
    assert _tip(server, full, "staging") == m2.json()["sha"]
    noop = server.api("POST", f"/repos/{full}/merges", "alice", json={"base": "staging", "head": one})
    assert noop.status_code == 204
    conflict = server.api("POST", f"/repos/{full}/merges", "alice", json={"base": "staging", "head": clash})
    assert conflict.status_code == 409 and conflict.json()["message"] == "Merge conflict"
    assert _tip(server, full, "staging") == m2.json()["sha"]
    missing = server.api("POST", f"/repos/{full}/merges", "alice", json={"base": "nope", "head": one})
    assert missing.status_code == 404
    del two
