"""GitHub Actions workflow runs, as far as a merge queue needs them: start one, list and read them,
cancel one.

GitHub starts runs itself when a workflow's trigger fires; the sandbox runs no workflows, so a run
is started the one way the REST API offers, `workflow_dispatch`: the workflow file
`.github/workflows/<workflow_id>` must exist at the dispatched ref, and the run is `in_progress`
on that ref's tip from then on. A test's fake CI does that when it sees a push. Cancelling a run
that has not completed answers 202 and the run ends `completed` / `cancelled`; cancelling a
completed one answers 409, like GitHub.
"""

from __future__ import annotations

from typing import Any

from flask import request

from mlgate.sandbox import render
from mlgate.sandbox.ctx import actor, body, get_repo, git, item, paginate, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso
from mlgate.sandbox.urls import api_base, node_id, web_base

router = Router("actions")
J = dict[str, Any]
WORKFLOWS_DIR = ".github/workflows/"
STATUSES = ("queued", "in_progress", "completed")


def _runs(rec: J) -> J:
    runs: J = rec.setdefault("workflow_runs", {})
    return runs


def _render(rec: J, run: J) -> J:
    """workflow-run."""
    g = git(rec)
    info = g.commit(run["head_sha"])
    u = f"{api_base()}/repos/{rec['owner']}/{rec['name']}/actions/runs/{run['id']}"
    who = render.user(store().state["users"].get(run["actor"]))
    repo = render.minimal_repo(store(), rec)
    return {
        "id": run["id"], "node_id": node_id("WFR", run["id"]), "name": run["name"], "display_title": run["name"],
        "head_branch": run["head_branch"], "head_sha": run["head_sha"], "path": run["path"],
        "run_number": run["run_number"], "run_attempt": 1, "event": run["event"], "status": run["status"],
        "conclusion": run["conclusion"], "workflow_id": run["workflow_id"],
        "url": u, "html_url": f"{web_base()}/{rec['owner']}/{rec['name']}/actions/runs/{run['id']}",
        "pull_requests": [], "created_at": run["created_at"], "updated_at": run["updated_at"],
        "run_started_at": run["created_at"], "actor": who, "triggering_actor": who,
        "jobs_url": f"{u}/jobs", "logs_url": f"{u}/logs", "check_suite_url": f"{u}/check-suite",
        "artifacts_url": f"{u}/artifacts", "cancel_url": f"{u}/cancel", "rerun_url": f"{u}/rerun",
        "workflow_url": f"{api_base()}/repos/{rec['owner']}/{rec['name']}/actions/workflows/{run['workflow_id']}",
        "head_commit": {"id": info.sha, "tree_id": info.tree, "message": info.message, "timestamp": info.committer.date,
                        "author": {"name": info.author.name, "email": info.author.email},
                        "committer": {"name": info.committer.name, "email": info.committer.email}},
        "repository": repo, "head_repository": repo,
    }


@router.route("POST", "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/dispatches")
def dispatch(owner: str, repo: str, workflow_id: str) -> Any:
    """Start a run of `.github/workflows/<workflow_id>` on `ref` (a branch, tag or SHA): 204."""
    rec = get_repo(owner, repo, "write")
    data = body()
    ref = data.get("ref")
    if not isinstance(ref, str) or not ref:
        raise validation("WorkflowDispatch", "ref is missing", field="ref", code="missing_field")
    g = git(rec)
    sha = g.resolve(ref)
    if sha is None:
        raise ApiError(422, f"No ref found for: {ref}")
    path = WORKFLOWS_DIR + workflow_id
    if "/" in workflow_id or g.entry_at(sha, path) is None:
        raise not_found("Not Found")
    now = now_iso()
    runs = _runs(rec)
    run_id = store().next_id("workflow_run")
    runs[str(run_id)] = {
        "id": run_id, "name": workflow_id.rsplit(".", 1)[0], "path": path, "workflow_id": _workflow_id(rec, path),
        "head_branch": ref.removeprefix("refs/heads/"), "head_sha": sha, "event": "workflow_dispatch",
        "status": "in_progress", "conclusion": None, "actor": actor(), "created_at": now, "updated_at": now,
        "run_number": 1 + sum(1 for r in runs.values() if r["path"] == path),
    }
    return None, 204


def _workflow_id(rec: J, path: str) -> int:
    ids: J = rec.setdefault("workflow_ids", {})
    if path not in ids:
        ids[path] = store().next_id("workflow")
    return int(ids[path])


@router.route("GET", "/repos/{owner}/{repo}/actions/runs")
def list_runs(owner: str, repo: str) -> Any:
    """Newest first; filters `head_sha`, `branch`, `status` (queued, in_progress, completed or a conclusion)."""
    rec = get_repo(owner, repo)
    args = request.args
    runs = sorted(_runs(rec).values(), key=lambda r: -r["id"])
    if args.get("head_sha"):
        runs = [r for r in runs if r["head_sha"] == args["head_sha"]]
    if args.get("branch"):
        runs = [r for r in runs if r["head_branch"] == args["branch"]]
    status = args.get("status")
    if status:
        runs = [r for r in runs if r["status"] == status or (status not in STATUSES and r["conclusion"] == status)]
    return paginate([_render(rec, r) for r in runs], wrap="workflow_runs")


@router.route("GET", "/repos/{owner}/{repo}/actions/runs/{run_id}")
def get_run(owner: str, repo: str, run_id: str) -> Any:
    rec = get_repo(owner, repo)
    return _render(rec, item(_runs(rec), run_id))


@router.route("POST", "/repos/{owner}/{repo}/actions/runs/{run_id}/cancel")
def cancel_run(owner: str, repo: str, run_id: str) -> Any:
    rec = get_repo(owner, repo, "write")
    run = item(_runs(rec), run_id)
    if run["status"] == "completed":
        raise ApiError(409, "Cannot cancel a workflow run that is completed.")
    run.update(status="completed", conclusion="cancelled", updated_at=now_iso())
    return {}, 202
