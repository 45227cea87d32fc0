"""Branch protection, enforced on every path that moves a branch: refs API, merges, contents,
``git push`` (pre-receive hook) and the PR merge button."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlgate.sandbox.harness import SandboxServer, run_git
from tests.sandbox.conftest import unique


def _protect(server: SandboxServer, full: str, **overrides: object) -> dict:  # type: ignore[type-arg]
    body = {"required_status_checks": {"strict": False, "contexts": ["ci"]}, "enforce_admins": True,
            "required_pull_request_reviews": None, "restrictions": None}
    body.update(overrides)
    resp = server.api("PUT", f"/repos/{full}/branches/main/protection", "alice", json=body)
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_required_checks_pinned_to_an_app_guard_the_branch(server: SandboxServer, make_repo,  # type: ignore[no-untyped-def]
                                                           tmp_path: Path) -> None:
    repo = make_repo("alice", collaborators={"bob": "write", "carol": "write", "mlgate-bot": "write"})
    full, name = repo["full_name"], repo["name"]
    bot = server.register_app(unique("pinned-bot"), owner="alice", permissions={"checks": "write"})
    bot_token = server.installation_token(bot, server.install_app(bot.id, "alice", repositories=[name]))
    bot_app = bot.id
    got = _protect(server, full, required_status_checks={
        "strict": False, "contexts": [], "checks": [{"context": "ci"}, {"context": "mlgate", "app_id": bot_app}]})
    assert {c["context"]: c["app_id"] for c in got["required_status_checks"]["checks"]} == {"ci": None,
                                                                                           "mlgate": bot_app}
    assert server.api("GET", f"/repos/{full}/branches/main", "bob").json()["protected"] is True
    assert server.api("PUT", f"/repos/{full}/branches/main/protection", "bob", json={}).status_code == 403

    staged = server.push_files("alice", name, "staging", {"s.txt": "1\n"}, "bob", base="main")
    refused = server.api("PATCH", f"/repos/{full}/git/refs/heads/main", "bob", json={"sha": staged})
    assert refused.status_code == 422 and "2 of 2 required status checks are expected" in refused.json()["message"]
    server.api("POST", f"/repos/{full}/statuses/{staged}", "carol", json={"state": "success", "context": "ci"})
    server.api("POST", f"/repos/{full}/statuses/{staged}", "carol", json={"state": "success", "context": "mlgate"})
    server.api("POST", f"/repos/{full}/check-runs", server.actions_token(full),  # another App's run
               json={"name": "mlgate", "head_sha": staged, "conclusion": "success"}).raise_for_status()
    forged = server.api("PATCH", f"/repos/{full}/git/refs/heads/main", "bob", json={"sha": staged})
    assert forged.status_code == 422 and 'Required status check "mlgate" is expected.' in forged.json()["message"]

    clone = tmp_path / "c"
    run_git("clone", "-q", server.clone_url("alice", name, "bob"), str(clone))
    run_git("checkout", "-q", "staging", cwd=clone)
    with pytest.raises(RuntimeError, match=r"GH006.*\n.*mlgate"):
        run_git("push", "origin", "staging:main", cwd=clone)

    server.api("POST", f"/repos/{full}/check-runs", bot_token,
               json={"name": "mlgate", "head_sha": staged, "conclusion": "success"}).raise_for_status()
    run_git("push", "-q", "origin", "staging:main", cwd=clone)  # now the exact commit is green
    assert server.api("GET", f"/repos/{full}/branches/main", "bob").json()["commit"]["sha"] == staged

    other = server.push_files("alice", name, "other", {"o.txt": "1\n"}, "bob", base="main")
    assert server.api("POST", f"/repos/{full}/merges", "bob",
                      json={"base": "main", "head": other}).status_code == 422  # merge commit has no checks
    assert server.api("DELETE", f"/repos/{full}/git/refs/heads/main", "alice").status_code == 422
    assert server.api("PATCH", f"/repos/{full}/git/refs/heads/main", "alice",
                      json={"sha": repo_first(server, full), "force": True}).status_code == 422


def repo_first(server: SandboxServer, full: str) -> str:
    return server.api("GET", f"/repos/{full}/commits", "alice").json()[-1]["sha"]


def test_required_reviews_and_stale_approvals(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write", "carol": "write", "dave": "read"})
    full, name = repo["full_name"], repo["name"]
    _protect(server, full, enforce_admins=False, required_status_checks={"strict": True, "contexts": ["ci"]},
             required_pull_request_reviews={"required_approving_review_count": 1, "dismiss_stale_reviews": True})
    first = server.push_files("alice", name, "feat", {"f.txt": "1\n"}, "bob", base="main")
    n = server.open_pr("alice", name, "feat", "bob")["number"]
    pr = server.api("GET", f"/repos/{full}/pulls/{n}", "bob").json()
    assert pr["mergeable"] is True and pr["mergeable_state"] == "blocked"
    server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "dave", json={"event": "APPROVE"})  # read-only
    refused = server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob", json={})
    assert refused.status_code == 405 and "At least 1 approving review" in refused.json()["message"]
    server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "carol", json={"event": "APPROVE", "commit_id": first})
    second = server.push_files("alice", name, "feat", {"f.txt": "2\n"}, "bob")
    states = {r["user"]["login"]: r["state"] for r in
              server.api("GET", f"/repos/{full}/pulls/{n}/reviews", "bob").json()}
    assert states["carol"] == "DISMISSED"  # the push made the approval stale
    assert "approving review" in server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob", json={}).json()["message"]
    server.api("POST", f"/repos/{full}/pulls/{n}/reviews", "carol", json={"event": "APPROVE"})
    missing = server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob", json={})
    assert missing.json()["message"] == 'Required status check "ci" is expected.'
    server.api("POST", f"/repos/{full}/statuses/{second}", "bob", json={"state": "success", "context": "ci"})
    server.push_files("alice", name, "main", {"m.txt": "admin bypass\n"}, "alice")  # admins bypass: enforce_admins off
    behind = server.api("GET", f"/repos/{full}/pulls/{n}", "bob").json()
    assert behind["mergeable_state"] == "behind"
    assert server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "bob", json={}).json()["message"].startswith(
        "Head branch is not up to date")
    assert server.api("PUT", f"/repos/{full}/pulls/{n}/merge", "alice", json={}).status_code == 200  # admin
    with pytest.raises(RuntimeError, match="through a pull request"):
        server.push_files("alice", name, "main", {"x.txt": "direct\n"}, "bob")


def test_protection_crud(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    assert server.api("GET", f"/repos/{full}/branches/main/protection", "alice").status_code == 404
    assert server.api("PUT", f"/repos/{full}/branches/main/protection", "alice",
                      json={"enforce_admins": True}).status_code == 422
    no_contexts = {"required_status_checks": {"strict": True}, "enforce_admins": True,
                   "required_pull_request_reviews": None, "restrictions": None}
    assert server.api("PUT", f"/repos/{full}/branches/main/protection", "alice", json=no_contexts).status_code == 422
    _protect(server, full, required_linear_history=True, allow_force_pushes=True)
    got = server.api("GET", f"/repos/{full}/branches/main/protection", "alice").json()
    assert got["required_linear_history"]["enabled"] is True and got["required_status_checks"]["contexts"] == ["ci"]
    assert [b["protected"] for b in server.api("GET", f"/repos/{full}/branches", "alice").json()] == [True]
    assert server.api("DELETE", f"/repos/{full}/branches/main/protection", "alice").status_code == 204
    assert server.api("DELETE", f"/repos/{full}/branches/main/protection", "alice").status_code == 404
    assert server.api("GET", f"/repos/{full}/branches/main", "alice").json()["protected"] is False


def test_pushes_are_guarded_from_the_moment_a_branch_is_protected(server: SandboxServer,  # type: ignore[no-untyped-def]
                                                                  make_repo) -> None:
    """The pre-receive hook (a Python process per push) is in place only while a branch is protected."""
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    server.api("PUT", f"/repos/{full}/collaborators/bob", "alice", json={"permission": "write"})
    hook = server.sandbox.store.git_dir(server.sandbox.store.repo("alice", name)) / "hooks" / "pre-receive"
    server.push_files("alice", name, "main", {"a.txt": "1\n"}, "bob")
    assert not hook.exists()
    _protect(server, full)
    with pytest.raises(RuntimeError, match='Required status check "ci" is expected'):
        server.push_files("alice", name, "main", {"b.txt": "1\n"}, "bob")
    assert hook.exists()
    assert server.api("DELETE", f"/repos/{full}/branches/main/protection", "alice").status_code == 204
    server.push_files("alice", name, "main", {"c.txt": "1\n"}, "bob")
    assert not hook.exists()
