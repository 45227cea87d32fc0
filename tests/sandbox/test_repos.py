"""Repositories, branches, commits, contents, compare, and the 404 for unimplemented routes."""

from __future__ import annotations

import base64

from mlgate.sandbox.harness import SandboxServer


def test_create_get_update_list(server: SandboxServer) -> None:
    r = server.api("POST", "/user/repos", "bob", json={"name": "bobs-repo", "auto_init": True, "description": "d"})
    assert r.status_code == 201
    body = r.json()
    assert body["full_name"] == "bob/bobs-repo" and body["default_branch"] == "main"
    assert body["url"].startswith(server.api_url) and body["clone_url"] == f"{server.url}/bob/bobs-repo.git"
    again = server.api("POST", "/user/repos", "bob", json={"name": "bobs-repo"})
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "name"
    got = server.api("GET", "/repos/bob/bobs-repo", "bob").json()
    assert got["permissions"]["admin"] is True and got["description"] == "d"
    listed = [r["full_name"] for r in server.api("GET", "/user/repos", "bob").json()]
    assert "bob/bobs-repo" in listed
    assert "bob/bobs-repo" in [r["full_name"] for r in server.api("GET", "/users/bob/repos", "alice").json()]
    assert server.api("PATCH", "/repos/bob/bobs-repo", "alice", json={"description": "x"}).status_code in (403, 404)
    patched = server.api("PATCH", "/repos/bob/bobs-repo", "bob", json={"description": "new", "private": True})
    assert patched.json()["description"] == "new" and patched.json()["private"] is True
    bad = server.api("PATCH", "/repos/bob/bobs-repo", "bob", json={"default_branch": "nope"})
    assert bad.status_code == 422
    assert server.api("DELETE", "/repos/bob/bobs-repo", "bob").status_code == 204
    assert server.api("GET", "/repos/bob/bobs-repo", "bob").status_code == 404


def test_org_repo_and_users(server: SandboxServer) -> None:
    r = server.api("POST", "/orgs/acme/repos", "alice", json={"name": "models", "auto_init": True})
    assert r.status_code == 201 and r.json()["owner"]["type"] == "Organization"
    assert server.api("POST", "/orgs/acme/repos", "dave", json={"name": "x"}).status_code == 403
    assert server.api("GET", "/orgs/acme", "carol").json()["login"] == "acme"
    assert "acme/models" in [x["full_name"] for x in server.api("GET", "/orgs/acme/repos", "carol").json()]
    me = server.api("GET", "/user", "carol").json()
    assert me["login"] == "carol" and me["type"] == "User"
    assert server.api("GET", "/users/carol").json()["login"] == "carol"
    assert server.api("GET", "/users/acme").json()["type"] == "Organization"
    assert server.api("GET", "/users/nobody-here").status_code == 404
    assert server.api("GET", "/user").status_code == 401
    assert server.api("GET", "/user", "not-a-user").json()["message"] == "Bad credentials"


def test_branches_commits_contents_compare(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", files={"README.md": "hi\n", "src/a.py": "A = 1\n"})
    full = repo["full_name"]
    name = repo["name"]
    sha = server.push_files("alice", name, "feature/x", {"src/a.py": "A = 2\n", "src/b.py": "B\n"}, "alice",
                            base="main", message="change a, add b")
    branches = server.api("GET", f"/repos/{full}/branches", "alice").json()
    assert {b["name"] for b in branches} == {"main", "feature/x"}
    b = server.api("GET", f"/repos/{full}/branches/feature/x", "alice").json()
    assert b["commit"]["sha"] == sha and b["protected"] is False
    assert server.api("GET", f"/repos/{full}/branches/none", "alice").status_code == 404

    c = server.api("GET", f"/repos/{full}/commits/{sha}", "alice").json()
    assert c["commit"]["message"] == "change a, add b"
    assert {f["filename"]: f["status"] for f in c["files"]} == {"src/a.py": "modified", "src/b.py": "added"}
    assert c["stats"] == {"additions": 2, "deletions": 1, "total": 3}
    log = server.api("GET", f"/repos/{full}/commits", "alice", params={"sha": "feature/x"}).json()
    assert log[0]["sha"] == sha and len(log) == 2

    f = server.api("GET", f"/repos/{full}/contents/src/a.py", "alice", params={"ref": "feature/x"}).json()
    assert base64.b64decode(f["content"]) == b"A = 2\n" and f["type"] == "file"
    d = server.api("GET", f"/repos/{full}/contents/src", "alice").json()
    assert [e["name"] for e in d] == ["a.py"]
    assert server.api("GET", f"/repos/{full}/contents/missing.txt", "alice").status_code == 404

    cmp_ = server.api("GET", f"/repos/{full}/compare/main...feature/x", "alice").json()
    assert cmp_["status"] == "ahead" and cmp_["ahead_by"] == 1 and cmp_["behind_by"] == 0
    assert sorted(x["filename"] for x in cmp_["files"]) == ["src/a.py", "src/b.py"]


def test_put_contents_creates_a_commit(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    put = server.api("PUT", f"/repos/{full}/contents/docs/x.md", "alice",
                     json={"message": "add docs", "content": base64.b64encode(b"doc\n").decode()})
    assert put.status_code == 201
    blob_sha = put.json()["content"]["sha"]
    again = server.api("PUT", f"/repos/{full}/contents/docs/x.md", "alice",
                       json={"message": "edit", "content": base64.b64encode(b"doc2\n").decode()})
    assert again.status_code == 422  # sha of the file being replaced is required
    upd = server.api("PUT", f"/repos/{full}/contents/docs/x.md", "alice",
                     json={"message": "edit", "content": base64.b64encode(b"doc2\n").decode(), "sha": blob_sha})
    assert upd.status_code == 200
    main = server.api("GET", f"/repos/{full}/branches/main", "alice").json()
    assert main["commit"]["sha"] == upd.json()["commit"]["sha"]


def test_unimplemented_route_names_itself(server: SandboxServer) -> None:
    r = server.api("GET", "/repos/alice/x/projects", "alice")
    assert r.status_code == 404
    body = r.json()
    assert body["message"] == "Not Found"
    assert "GET /repos/alice/x/projects" in body["sandbox_unimplemented"]
    r = server.api("DELETE", "/user", "alice")
    assert r.status_code == 404 and "DELETE /user" in r.json()["sandbox_unimplemented"]


def test_pagination_link_header(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    for i in range(3):
        server.api("POST", f"/repos/{repo['full_name']}/issues", "alice", json={"title": f"i{i}"})
    first = server.api("GET", f"/repos/{repo['full_name']}/issues/1/comments", "alice")
    assert first.json() == [] and "Link" not in first.headers
    for i in range(3):
        server.api("POST", f"/repos/{repo['full_name']}/issues/1/comments", "alice", json={"body": f"c{i}"})
    page = server.api("GET", f"/repos/{repo['full_name']}/issues/1/comments", "alice", params={"per_page": 2})
    assert len(page.json()) == 2 and 'rel="next"' in page.headers["Link"]
    issues = server.github("alice").get_repo(repo["full_name"]).get_issue(1).get_comments()
    assert [c.body for c in issues] == ["c0", "c1", "c2"]
