"""Collaborators and permissions, org membership, teams and team-granted repository access."""

from __future__ import annotations

from mlgate.sandbox.harness import SandboxServer


def test_collaborator_permissions(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    invited = server.api("PUT", f"/repos/{full}/collaborators/bob", "alice", json={"permission": "maintain"})
    assert invited.status_code == 201 and invited.json()["invitee"]["login"] == "bob"
    again = server.api("PUT", f"/repos/{full}/collaborators/bob", "alice", json={"permission": "triage"})
    assert again.status_code == 204
    assert server.api("PUT", f"/repos/{full}/collaborators/carol", "bob", json={}).status_code in (403, 404)
    assert server.api("PUT", f"/repos/{full}/collaborators/nobody-at-all", "alice", json={}).status_code == 404
    assert server.api("PUT", f"/repos/{full}/collaborators/carol", "alice",
                      json={"permission": "god"}).status_code == 422
    perm = server.api("GET", f"/repos/{full}/collaborators/bob/permission", "carol").json()
    assert perm["permission"] == "read" and perm["role_name"] == "triage"
    server.api("PUT", f"/repos/{full}/collaborators/bob", "alice", json={"permission": "maintain"})
    perm = server.api("GET", f"/repos/{full}/collaborators/bob/permission", "carol").json()
    assert perm["permission"] == "write" and perm["role_name"] == "maintain"
    assert server.api("GET", f"/repos/{full}/collaborators/alice/permission", "bob").json()["permission"] == "admin"
    assert server.api("GET", f"/repos/{full}/collaborators/dave/permission", "bob").json()["permission"] == "read"
    assert server.api("GET", f"/repos/{full}/collaborators/bob", "alice").status_code == 204
    assert server.api("GET", f"/repos/{full}/collaborators/dave", "alice").status_code == 404
    listed = server.api("GET", f"/repos/{full}/collaborators", "alice").json()
    assert {(c["login"], c["role_name"]) for c in listed} == {("alice", "admin"), ("bob", "maintain")}
    assert server.api("DELETE", f"/repos/{full}/collaborators/bob", "alice").status_code == 204
    assert server.api("GET", f"/repos/{full}/collaborators/bob", "alice").status_code == 404
    gh = server.github("alice").get_repo(full)
    assert gh.get_collaborator_permission("alice") == "admin"


def test_orgs_and_teams_grant_access(server: SandboxServer) -> None:
    r = server.api("POST", "/orgs/acme/repos", "alice", json={"name": "team-repo", "auto_init": True,
                                                               "private": True})
    assert r.status_code == 201
    assert server.api("GET", "/repos/acme/team-repo", "bob").status_code == 404
    member = server.api("PUT", "/orgs/acme/memberships/bob", "alice", json={"role": "member"})
    assert member.status_code == 200 and member.json()["role"] == "member"
    assert server.api("PUT", "/orgs/acme/memberships/carol", "bob", json={}).status_code == 403
    assert server.api("GET", "/orgs/acme/memberships/bob", "bob").json()["state"] == "active"
    assert {m["login"] for m in server.api("GET", "/orgs/acme/members", "bob").json()} >= {"alice", "bob"}
    perm = server.api("GET", "/repos/acme/team-repo/collaborators/bob/permission", "alice").json()
    assert perm["permission"] == "read"  # org members read org repos (base permission)

    team = server.api("POST", "/orgs/acme/teams", "alice", json={"name": "ML Reviewers", "permission": "push"})
    assert team.status_code == 201 and team.json()["slug"] == "ml-reviewers"
    assert server.api("POST", "/orgs/acme/teams", "alice", json={"name": "ML Reviewers"}).status_code == 422
    m = server.api("PUT", "/orgs/acme/teams/ml-reviewers/memberships/carol", "alice", json={"role": "member"})
    assert m.json() == {"url": m.json()["url"], "role": "member", "state": "active"}
    assert server.api("GET", "/orgs/acme/teams/ml-reviewers/memberships/carol", "alice").json()["role"] == "member"
    assert server.api("PUT", "/orgs/acme/teams/ml-reviewers/repos/acme/team-repo", "alice",
                      json={"permission": "push"}).status_code == 204
    perm = server.api("GET", "/repos/acme/team-repo/collaborators/carol/permission", "alice").json()
    assert perm["permission"] == "write"
    assert "ml-reviewers" in [t["slug"] for t in server.api("GET", "/orgs/acme/teams", "alice").json()]
    assert server.api("GET", "/orgs/acme/teams/ml-reviewers", "alice").json()["members_count"] == 1
    assert [u["login"] for u in server.api("GET", "/orgs/acme/teams/ml-reviewers/members", "alice").json()] == ["carol"]
    repos = server.api("GET", "/orgs/acme/teams/ml-reviewers/repos", "alice").json()
    assert [x["full_name"] for x in repos] == ["acme/team-repo"]
    server.push_files("acme", "team-repo", "t", {"t.txt": "1\n"}, "alice", base="main")
    n = server.open_pr("acme", "team-repo", "t", "alice")["number"]
    asked = server.api("POST", f"/repos/acme/team-repo/pulls/{n}/requested_reviewers", "alice",
                       json={"team_reviewers": ["ml-reviewers"]})
    assert [t["slug"] for t in asked.json()["requested_teams"]] == ["ml-reviewers"]
    assert server.api("POST", f"/repos/acme/team-repo/pulls/{n}/requested_reviewers", "alice",
                      json={"team_reviewers": ["nobody"]}).status_code == 422
    # GitHub refuses a team that has no access to the repository (it cannot review there)
    server.api("POST", "/orgs/acme/teams", "alice", json={"name": "Outsiders"}).raise_for_status()
    outsiders = server.api("POST", f"/repos/acme/team-repo/pulls/{n}/requested_reviewers", "alice",
                           json={"team_reviewers": ["outsiders"]})
    assert outsiders.status_code == 422
    assert "not a collaborator of the acme/team-repo repository" in outsiders.json()["errors"][0]["message"]
    got = server.api("GET", f"/repos/acme/team-repo/pulls/{n}/requested_reviewers", "alice").json()
    assert [t["slug"] for t in got["teams"]] == ["ml-reviewers"]
    assert server.api("GET", f"/repos/acme/team-repo/pulls/{n}", "alice").json()["author_association"] == "MEMBER"
    assert server.api("DELETE", "/orgs/acme/teams/ml-reviewers/memberships/carol", "alice").status_code == 204
    assert server.api("GET", "/repos/acme/team-repo/collaborators/carol/permission", "alice").json()[
        "permission"] == "read"
