"""Deployments and deployment statuses (the bot promotes and rolls back models with these)."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from mlgate.sandbox import payloads, render
from mlgate.sandbox.ctx import actor, body, get_repo, git, item, paginate, sandbox, store
from mlgate.sandbox.errors import ApiError, validation
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso

router = Router("deployments")
J = dict[str, Any]
STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


@router.route("POST", "/repos/{owner}/{repo}/deployments")
def create(owner: str, repo: str) -> Any:
    """``required_contexts`` (default: every status context on the ref) must all be successful;
    ``auto_merge`` is accepted and ignored (the sandbox never merges the default branch in)."""
    rec = get_repo(owner, repo, "write")
    data = body()
    ref = data.get("ref")
    if not ref:
        raise validation("Deployment", "ref is missing", field="ref", code="missing_field")
    sha = git(rec).resolve(ref)
    if sha is None:
        raise ApiError(422, f"No ref found for: {ref}")
    latest: dict[str, str] = {}
    for st in rec["statuses"]:
        if st["sha"] == sha:
            latest[st["context"]] = st["state"]
    required = data.get("required_contexts")
    contexts = list(latest) if required is None else required
    failed = [c for c in contexts if latest.get(c) != "success"]
    if failed:
        raise ApiError(409, "Conflict: Commit status checks failed for " + ref,
                       errors=[{"contexts": [{"context": c, "state": latest.get(c, "missing")} for c in failed],
                                "resource": "Deployment", "field": "required_contexts", "code": "invalid"}])
    payload = data.get("payload", {})
    if isinstance(payload, str):
        try:
            payload = json.loads(payload) if payload else {}
        except ValueError:
            payload = {"raw": payload}
    now = now_iso()
    env = data.get("environment", "production")
    dep = {"id": store().next_id("deployment"), "sha": sha, "ref": ref, "task": data.get("task", "deploy"),
           "payload": payload, "environment": env, "description": data.get("description"), "creator": actor(),
           "created_at": now, "updated_at": now,
           "transient_environment": bool(data.get("transient_environment", False)),
           "production_environment": bool(data.get("production_environment", env == "production"))}
    rec["deployments"][str(dep["id"])] = dep
    event = payloads.envelope(store(), rec, actor(), action="created",
                              deployment=payloads.deployment(store(), rec, dep), workflow=None, workflow_run=None)
    sandbox().dispatcher.emit(rec, "deployment", event)
    return render.deployment(store(), rec, dep), 201


@router.route("GET", "/repos/{owner}/{repo}/deployments")
def list_deployments(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo)
    args = request.args
    deps = [d for d in rec["deployments"].values()
            if all(not args.get(k) or str(d[k]) == args[k] for k in ("sha", "ref", "task", "environment"))]
    return paginate([render.deployment(store(), rec, d) for d in sorted(deps, key=lambda d: -d["id"])])


@router.route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}")
def get(owner: str, repo: str, deployment_id: str) -> Any:
    rec = get_repo(owner, repo)
    return render.deployment(store(), rec, item(rec["deployments"], deployment_id))


@router.route("POST", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
def create_status(owner: str, repo: str, deployment_id: str) -> Any:
    rec = get_repo(owner, repo, "write")
    dep = item(rec["deployments"], deployment_id)
    data = body()
    if data.get("state") not in STATES:
        raise validation("DeploymentStatus", f"state must be one of {', '.join(STATES)}", field="state",
                         code="invalid")
    now = now_iso()
    ds = {"id": store().next_id("deployment_status"), "deployment_id": dep["id"], "state": data["state"],
          "creator": actor(), "description": data.get("description"),
          "environment": data.get("environment", dep["environment"]),
          "log_url": data.get("log_url") or data.get("target_url"),
          "environment_url": data.get("environment_url"), "created_at": now}
    rec["deployment_statuses"][str(ds["id"])] = ds
    dep["updated_at"] = now
    if data["state"] == "success" and data.get("auto_inactive", True):
        for other in rec["deployments"].values():
            if other["id"] != dep["id"] and other["environment"] == dep["environment"] and \
                    not other.get("transient_environment"):
                last = _statuses(rec, other["id"])
                if last and last[0]["state"] == "success":
                    inactive = dict(last[0], id=store().next_id("deployment_status"), state="inactive",
                                    created_at=now)
                    rec["deployment_statuses"][str(inactive["id"])] = inactive
    event = payloads.envelope(store(), rec, actor(), action="created",
                              deployment_status=payloads.deployment_status(store(), rec, ds),
                              deployment=payloads.deployment(store(), rec, dep))
    sandbox().dispatcher.emit(rec, "deployment_status", event)
    return render.deployment_status(store(), rec, ds), 201


def _statuses(rec: J, dep_id: int) -> list[J]:
    return sorted((s for s in rec["deployment_statuses"].values() if s["deployment_id"] == dep_id),
                  key=lambda s: -s["id"])


@router.route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses")
def list_statuses(owner: str, repo: str, deployment_id: str) -> Any:
    rec = get_repo(owner, repo)
    dep = item(rec["deployments"], deployment_id)
    return paginate([render.deployment_status(store(), rec, s) for s in _statuses(rec, dep["id"])])


@router.route("GET", "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses/{status_id}")
def get_status(owner: str, repo: str, deployment_id: str, status_id: str) -> Any:
    rec = get_repo(owner, repo)
    dep = item(rec["deployments"], deployment_id)
    ds = item(rec["deployment_statuses"], status_id)
    if ds["deployment_id"] != dep["id"]:
        raise ApiError(404, "Not Found")
    return render.deployment_status(store(), rec, ds)
