"""GitHub's rules for Apps: an installation token does only what its App's permissions allow (the
table in sandbox/app_permissions.yml), an App hears only the events it subscribed to and may
subscribe only to events its permissions cover, and tokens can be narrowed, never widened."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlgate.sandbox import app_permissions
from mlgate.sandbox.api import operations
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from mlgate.sandbox.routing import to_flask
from tests.sandbox.conftest import unique

ROOT = Path(__file__).resolve().parents[2]
NO_ACCESS = "Resource not accessible by integration"


def _install(server: SandboxServer, owner: str, repo: dict[str, Any], **app: Any) -> tuple[Any, int, str]:
    creds = server.register_app(unique("perm-app"), owner=owner, **app)
    inst = server.install_app(creds.id, owner, repositories=[repo["name"]])
    return creds, inst, server.installation_token(creds, inst)


def test_every_implemented_operation_has_a_requirement_and_nothing_else_does() -> None:
    table = set(app_permissions.rules().endpoints)
    implemented = {f"{m} {t}" for m, t in operations()}
    assert sorted(implemented - table) == [], "operations the permission table does not cover"
    assert sorted(table - implemented) == [], "table entries for operations the sandbox does not implement"


def test_a_token_does_only_what_its_permissions_allow(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    _, _, token = _install(server, "alice", repo, permissions={"contents": "read", "pull_requests": "read"})
    assert server.api("GET", f"/repos/{full}/git/ref/heads/main", token).status_code == 200
    main = server.api("GET", f"/repos/{full}/git/ref/heads/main", token).json()["object"]["sha"]

    refused = server.api("POST", f"/repos/{full}/git/refs", token, json={"ref": "refs/heads/staging", "sha": main})
    assert refused.status_code == 403 and refused.json()["message"] == NO_ACCESS
    assert refused.headers["X-Accepted-GitHub-Permissions"] == "contents=write"
    merge = server.api("POST", f"/repos/{full}/merges", token, json={"base": "main", "head": main})
    assert merge.status_code == 403
    comment = server.api("POST", f"/repos/{full}/issues/1/comments", token, json={"body": "x"})
    assert comment.status_code == 403
    assert comment.headers["X-Accepted-GitHub-Permissions"] == "pull_requests=write; issues=write"
    deploy = server.api("POST", f"/repos/{full}/deployments", token, json={"ref": "main", "required_contexts": []})
    assert (deploy.status_code, deploy.headers["X-Accepted-GitHub-Permissions"]) == (403, "deployments=write")
    # endpoints GitHub never opens to installation tokens
    assert server.api("GET", "/user", token).status_code == 403
    # a repository the installation does not cover stays invisible (404), not forbidden
    other = make_repo("alice", private=True)
    assert server.api("POST", f"/repos/{other['full_name']}/git/refs", token,
                      json={"ref": "refs/heads/x", "sha": main}).status_code == 404
    # nothing was written by the refused calls
    assert server.api("GET", f"/repos/{full}/git/ref/heads/staging", "alice").status_code == 404


def test_write_includes_read_and_alternatives_count(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    server.push_files("alice", full.split("/")[1], "feature", {"f.txt": "1\n"}, "alice", base="main")
    number = server.open_pr("alice", full.split("/")[1], "feature", "alice")["number"]
    # Issues write alone serves a PR's conversation comments (an alternative to Pull requests)...
    _, _, token = _install(server, "alice", repo, permissions={"issues": "write"})
    made = server.api("POST", f"/repos/{full}/issues/{number}/comments", token, json={"body": "hi"})
    assert made.status_code == 201
    assert server.api("GET", f"/repos/{full}/issues/{number}/comments", token).status_code == 200
    # ...and Contents read alone reads the PR itself, but not its files
    _, _, reader = _install(server, "alice", repo, permissions={"contents": "read"})
    assert server.api("GET", f"/repos/{full}/pulls/{number}", reader).status_code == 200
    assert server.api("GET", f"/repos/{full}/pulls/{number}/files", reader).status_code == 403
    # reactions on a conversation comment are Issues-only in GitHub's data
    _, _, prs = _install(server, "alice", repo, permissions={"pull_requests": "write"})
    cid = made.json()["id"]
    reaction = server.api("POST", f"/repos/{full}/issues/comments/{cid}/reactions", prs, json={"content": "+1"})
    assert (reaction.status_code, reaction.headers["X-Accepted-GitHub-Permissions"]) == (403, "issues=write")


def test_tokens_can_be_narrowed_never_widened(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo, second = make_repo("alice"), make_repo("alice", private=True)
    creds = server.register_app(unique("narrow-app"), owner="alice", permissions={"contents": "write"})
    inst = server.install_app(creds.id, "alice", repositories=[repo["name"], second["name"]])
    main = server.api("GET", f"/repos/{repo['full_name']}/commits/main", "alice").json()["sha"]
    read_only = server.installation_token(creds, inst, permissions={"contents": "read"})
    assert server.api("GET", f"/repos/{repo['full_name']}/git/ref/heads/main", read_only).status_code == 200
    assert server.api("POST", f"/repos/{repo['full_name']}/git/refs", read_only,
                      json={"ref": "refs/heads/n", "sha": main}).status_code == 403
    with pytest.raises(RuntimeError, match="not granted to this installation"):
        server.installation_token(creds, inst, permissions={"contents": "write", "issues": "write"})
    one_repo = server.installation_token(creds, inst, repositories=[repo["name"]])
    assert server.api("GET", f"/repos/{repo['full_name']}", one_repo).status_code == 200
    assert server.api("GET", f"/repos/{second['full_name']}/git/ref/heads/main", one_repo).status_code in (403, 404)
    listed = server.api("GET", "/installation/repositories", one_repo).json()["repositories"]
    assert [r["full_name"] for r in listed] == [repo["full_name"]]
    with pytest.raises(RuntimeError, match="not accessible"):
        server.installation_token(creds, inst, repositories=["no-such-repo"])


def test_apps_get_only_the_permissions_they_ask_for(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    creds, _, token = _install(server, "alice", repo)  # no permissions named: metadata only
    assert creds.permissions == {"metadata": "read"}
    assert server.api("GET", f"/repos/{repo['full_name']}", token).status_code == 200
    assert server.api("POST", f"/repos/{repo['full_name']}/issues", token, json={"title": "x"}).status_code == 403
    for bad, message in (({"contents": "execute"}, "must be read or write"),
                         ({"contentz": "read"}, "not a GitHub App permission")):
        resp = server.admin("POST", "/apps", json={"slug": unique("bad-app"), "permissions": bad})
        assert resp.status_code == 422 and message in resp.json()["message"]


def test_events_need_a_subscription_and_the_permission(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    refused = server.admin("POST", "/apps", json={"slug": unique("deaf-app"), "events": ["deployment_status"],
                                                  "permissions": {"contents": "read"}})
    assert refused.status_code == 422
    assert "deployment_status needs the deployments: read permission" in refused.json()["message"]
    sink, quiet = WebhookSink().start(), WebhookSink().start()
    try:
        repo = make_repo("bob")
        listens = server.register_app(unique("listening-app"), owner="bob", webhook_url=sink.url, webhook_secret="s",
                                      permissions={"issues": "read", "contents": "read"}, events=["issue_comment"])
        deaf = server.register_app(unique("silent-app"), owner="bob", webhook_url=quiet.url,
                                   permissions={"issues": "read", "contents": "read"})  # no events subscribed
        server.install_app(listens.id, "bob", repositories=[repo["name"]])
        server.install_app(deaf.id, "bob", repositories=[repo["name"]])
        server.api("POST", f"/repos/{repo['full_name']}/issues", "bob", json={"title": "t"}).raise_for_status()
        server.api("POST", f"/repos/{repo['full_name']}/issues/1/comments", "bob", json={"body": "/merge"})
        server.push_files("bob", repo["name"], "feature", {"f.txt": "1\n"}, "bob", base="main")
        server.wait_for_webhooks()
        assert [d.event for d in sink.deliveries] == ["installation", "issue_comment"]
        assert [d.event for d in quiet.deliveries] == ["installation"]  # no subscription, no events
    finally:
        sink.stop()
        quiet.stop()


def test_the_call_log_says_what_an_app_exercised(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full = repo["full_name"]
    creds, _, token = _install(server, "alice", repo, permissions={"contents": "write", "checks": "read"})
    sha = server.api("GET", f"/repos/{full}/git/ref/heads/main", token).json()["object"]["sha"]
    server.api("POST", f"/repos/{full}/git/refs", token, json={"ref": "refs/heads/stage", "sha": sha})
    server.api("POST", f"/repos/{full}/issues/1/comments", token, json={"body": "x"})  # 403: not granted
    seen = server.exercised(creds)
    assert seen["permissions"] == {"contents": "write"}  # checks: read was granted but never used
    assert seen["unmet"] == [
        "POST /repos/{owner}/{repo}/issues/{issue_number}/comments needs pull_requests: write or issues: write"]
    calls = [c for c in server.calls()["calls"] if c.get("app_id") == creds.id and c["kind"] == "installation"]
    assert {c["needs"] for c in calls} == {"contents: read", "contents: write",
                                           "pull_requests: write or issues: write"}


# --- the bot's own REST calls: each has a row in the table, and app.yml grants what they need --------------------
_PATH = re.compile(r'f?"(/(?:repos|orgs|app|user|installation)[^"]*)"')
_VERB = re.compile(r'"(GET|POST|PATCH|PUT|DELETE)"')


def _bot_calls() -> set[tuple[str, str]]:
    """(method, sample path) for every REST path literal in the bot's code (placeholders filled in)."""
    found: set[tuple[str, str]] = set()
    for source in (ROOT / "bot").rglob("*.py"):
        lines = source.read_text().splitlines()
        for i, line in enumerate(lines):
            for match in _PATH.finditer(line):
                # the verb is on the same line or, in a wrapped call, on the one before
                verbs = _VERB.findall(line[: match.start()]) or _VERB.findall(lines[i - 1] if i else "")
                sample = re.sub(r"\{repo\}|\{_check_repo\(repo\)\}", "o/r", match.group(1))
                sample = re.sub(r"\{[^}]*\}", "x", sample).split("?")[0]
                found.add((verbs[-1] if verbs else "GET", sample))
    return found


def _endpoint_for(method: str, path: str) -> str | None:
    for key in app_permissions.rules().endpoints:
        verb, template = key.split(" ", 1)
        pattern = re.sub(r"<path:\w+>", ".+", re.sub(r"<\w+>", "[^/]+", to_flask(template)))
        if verb == method and re.fullmatch(pattern, path):
            return key
    return None


def test_every_endpoint_the_bot_calls_is_in_the_permission_table() -> None:
    calls = _bot_calls()
    assert len(calls) >= 25, calls  # the scan found the bot's calls at all
    missing = sorted(f"{m} {p}" for m, p in calls if _endpoint_for(m, p) is None)
    assert missing == [], "the bot calls endpoints the sandbox's permission table does not know"


# Calls the bot makes only with a user's token (MLGATE_GITHUB_TOKEN), never as the App: the verdict as
# a commit status, since GitHub refuses check runs to users (bot/github/client.py `set_check`).
TOKEN_MODE_ONLY = {"POST /repos/{owner}/{repo}/statuses/{sha}"}


def test_app_yml_grants_what_the_bot_calls_need_and_nothing_unused() -> None:
    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    granted = app_permissions.normalise(manifest["default_permissions"])
    used: dict[str, str] = {}
    short = []
    endpoints = {_endpoint_for(m, p) for m, p in _bot_calls()} - {None, *TOKEN_MODE_ONLY}
    needs = [app_permissions.rules().endpoints[str(key)] for key in sorted(endpoints, key=str)]
    needs += [need for event in manifest["default_events"] if (need := app_permissions.rules().event(event))]
    for need in needs:
        if need.kind != "permissions":
            continue
        got = need.satisfied_by(granted)
        if got is None:
            short.append(need.describe())
        for perm, level in (got or {}).items():
            used[perm] = max(used.get(perm, level), level, key=app_permissions.LEVELS.__getitem__)
    assert short == [], "app.yml lacks permissions the bot's calls or events need"
    assert used == granted, "app.yml asks for more than the bot's calls and events use"


def test_app_yml_subscribes_to_exactly_the_events_the_bot_handles() -> None:
    """An event the bot handles but the App does not subscribe to never arrives on github.com; one it
    subscribes to but never handles is noise (and a permission it may not need)."""
    from mlgate.bot.intake.handlers import ROUTES  # the bot's event routes: move this import with them

    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    handled = set(ROUTES) - set(app_permissions.ALWAYS_DELIVERED)
    assert sorted(manifest["default_events"]) == sorted(handled)


def test_an_app_without_workflows_cannot_move_a_branch_onto_workflow_changes(  # type: ignore[no-untyped-def]
    server: SandboxServer, make_repo
) -> None:
    """GitHub refuses an App without `workflows: write` a ref update that changes `.github/workflows/`
    ("refusing to allow a GitHub App to create or update workflow … without `workflows` permission"):
    the merge queue cannot land such a PR unless the App asks for it."""
    repo = make_repo("alice", files={"README.md": "# r\n", ".github/workflows/ci.yml": "on: push\n"})
    full, name = repo["full_name"], repo["name"]
    base = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
    ci_change = server.push_files("alice", name, "ci", {".github/workflows/ci.yml": "on: [push, pull_request]\n"},
                                  "alice", base="main")
    docs_change = server.push_files("alice", name, "docs", {"README.md": "# r2\n"}, "alice", base="main")
    _, _, token = _install(server, "alice", repo, permissions={"contents": "write"})
    assert server.api("POST", f"/repos/{full}/git/refs", token,
                      json={"ref": "refs/heads/stage", "sha": base}).status_code == 201  # no workflow change
    refused = server.api("POST", f"/repos/{full}/merges", token, json={"base": "stage", "head": ci_change})
    assert refused.status_code == 422
    assert ("refusing to allow a GitHub App to create or update workflow `.github/workflows/ci.yml` without "
            "`workflows` permission") in refused.json()["message"]
    assert server.api("PATCH", f"/repos/{full}/git/refs/heads/stage", token,
                      json={"sha": ci_change}).status_code == 422
    assert server.api("POST", f"/repos/{full}/git/refs", token,
                      json={"ref": "refs/heads/stage2", "sha": ci_change}).status_code == 422
    assert server.api("POST", f"/repos/{full}/merges", token, json={"base": "stage", "head": docs_change}).status_code \
        == 201
    _, _, allowed = _install(server, "alice", repo, permissions={"contents": "write", "workflows": "write"})
    assert server.api("PATCH", f"/repos/{full}/git/refs/heads/ci", allowed,
                      json={"sha": base, "force": True}).status_code == 200
    assert server.api("POST", f"/repos/{full}/merges", allowed, json={"base": "stage", "head": ci_change}).status_code \
        == 201
