"""The whole story through PyGithub over real HTTP: repo, push, PR, review, comment, statuses,
check runs, merge, and the signed webhooks that tell the bot about each step."""

from __future__ import annotations

from pathlib import Path

import pytest
from github import Auth, Github, GithubIntegration

from mlgate.sandbox.harness import SandboxServer, WebhookSink, run_git

pytestmark = pytest.mark.e2e  # the whole system end to end: `pytest -m 'not e2e'` leaves it out


def test_pygithub_drives_a_pr_from_push_to_merge(server: SandboxServer, sink: WebhookSink, tmp_path: Path) -> None:
    alice = server.github("alice")
    repo = alice.get_user().create_repo("e2e-story", description="end to end")
    assert repo.full_name == "alice/e2e-story"
    server.add_hook("alice", "e2e-story", sink.url, "s3cret", "alice")
    repo.add_to_collaborators("bob", permission="push")

    work = tmp_path / "work"
    run_git("init", "-q", "-b", "main", str(work))
    (work / "model.py").write_text("THRESHOLD = 0.5\n")
    run_git("add", "-A", cwd=work)
    run_git("commit", "-q", "-m", "first", cwd=work)
    run_git("push", "-q", server.clone_url("alice", "e2e-story", "alice"), "main", cwd=work)

    clone = tmp_path / "bob"
    run_git("clone", "-q", server.clone_url("alice", "e2e-story", "bob"), str(clone))
    run_git("checkout", "-q", "-b", "tune", cwd=clone)
    (clone / "model.py").write_text("THRESHOLD = 0.6\n")
    run_git("commit", "-q", "-am", "tune threshold", cwd=clone)
    run_git("push", "-q", "origin", "tune", cwd=clone)
    head = run_git("rev-parse", "HEAD", cwd=clone).strip()

    bob_repo = server.github("bob").get_repo("alice/e2e-story")
    pr = bob_repo.create_pull(title="Tune threshold", body="raises it", head="tune", base="main")
    assert pr.head.sha == head and pr.mergeable is True
    assert [f.filename for f in pr.get_files()] == ["model.py"]
    assert [c.sha for c in pr.get_commits()] == [head]

    carol_repo = server.github("carol").get_repo("alice/e2e-story")
    alice_pr = repo.get_pull(pr.number)
    alice_pr.create_review(event="APPROVE", body="looks good")
    carol_repo.get_pull(pr.number).create_issue_comment("/merge")
    repo.get_commit(head).create_status("success", context="ci/tests", description="ok")
    ci = server.github(server.actions_token("alice/e2e-story")).get_repo("alice/e2e-story")  # a GITHUB_TOKEN
    ci.create_check_run(name="mlgate", head_sha=head, status="completed", conclusion="success")

    reviews = list(alice_pr.get_reviews())
    assert [(r.user.login, r.state, r.commit_id) for r in reviews] == [("alice", "APPROVED", head)]
    assert repo.get_commit(head).get_combined_status().state == "success"
    runs = list(repo.get_commit(head).get_check_runs())
    assert [(r.name, r.conclusion, r.app.slug) for r in runs] == [("mlgate", "success", "github-actions")]

    result = alice_pr.merge(sha=head, merge_method="merge")
    assert result.merged
    assert repo.get_pull(pr.number).merged
    assert repo.get_branch("main").commit.sha == result.sha

    server.wait_for_webhooks()
    got = [(d.event, d.payload.get("action")) for d in sink.deliveries
           if d.payload.get("repository", {}).get("full_name") == "alice/e2e-story"]
    for expected in [("push", None), ("pull_request", "opened"), ("pull_request_review", "submitted"),
                     ("issue_comment", "created"), ("status", None), ("check_run", "completed"),
                     ("check_suite", "completed"), ("pull_request", "closed")]:
        assert expected in got, expected
    ours = [d for d in sink.deliveries if d.payload.get("repository", {}).get("full_name") == "alice/e2e-story"]
    assert all(d.signature_ok("s3cret") for d in ours)
    assert len({d.guid for d in ours}) == len(ours)


def test_app_mode_jwt_to_installation_token(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    app = server.register_app("gatekeeper", owner="alice",
                              permissions={"checks": "write", "issues": "write", "contents": "read"})
    inst_id = server.install_app(app.id, "alice")
    integration = GithubIntegration(auth=Auth.AppAuth(app.id, app.private_key), base_url=server.api_url)
    assert integration.get_app().slug == "gatekeeper"
    installation = integration.get_repo_installation("alice", repo["name"])
    assert installation.id == inst_id
    token = integration.get_access_token(inst_id)
    assert token.token.startswith("ghs_") and token.expires_at is not None

    gh = Github(base_url=server.api_url, auth=Auth.AppAuth(app.id, app.private_key).get_installation_auth(inst_id),
                seconds_between_requests=0, seconds_between_writes=0)
    r = gh.get_repo(repo["full_name"])
    sha = r.get_branch("main").commit.sha
    run = r.create_check_run(name="mlgate/quality", head_sha=sha, status="in_progress")
    assert run.app.slug == "gatekeeper"
    comment_issue = r.create_issue(title="from the bot")
    c = comment_issue.create_comment("hello from the app")
    assert c.user.login == "gatekeeper[bot]" and c.user.type == "Bot"
