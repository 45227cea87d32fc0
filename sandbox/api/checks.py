"""Commit statuses and check runs/suites.  ``app`` on a check run is the creating App, or a
pseudo-app named after the user when a plain user token creates it (GitHub would refuse that)."""

from __future__ import annotations

from typing import Any

from flask import request

from mlgate.sandbox import domain, mergequeue, payloads, render
from mlgate.sandbox.ctx import actor, body, get_repo, git, item, paginate, principal, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso
from mlgate.sandbox.urls import api_base

router = Router("checks")
J = dict[str, Any]
STATES = ("error", "failure", "pending", "success")
RUN_STATUSES = ("queued", "in_progress", "completed", "waiting", "requested", "pending")
CONCLUSIONS = ("action_required", "cancelled", "failure", "neutral", "success", "skipped", "stale", "timed_out")
OUTPUT_MAX_BYTES = 65535
MAX_ITEMS_PER_REQUEST = 50
ANNOTATION_LEVELS = ("notice", "warning", "failure")


# --- statuses ----------------------------------------------------------------------------------
@router.route("POST", "/repos/{owner}/{repo}/statuses/{sha}")
def create_status(owner: str, repo: str, sha: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    g = git(rec)
    full = g.resolve(sha)
    if full is None or not full.startswith(sha.lower()):
        raise validation("Status", f"No commit found for SHA: {sha}", field="sha", code="invalid")
    if data.get("state") not in STATES:
        raise validation("Status", f"state is not included in the list {list(STATES)}", field="state",
                         code="invalid")
    now = now_iso()
    st = {"id": store().next_id("status"), "sha": full, "state": data["state"],
          "target_url": data.get("target_url"), "description": data.get("description"),
          "context": data.get("context") or "default", "creator": actor(), "created_at": now, "updated_at": now}
    rec["statuses"].append(st)
    payload = payloads.status_event(store(), rec, st, g, domain.branches_containing(g, full))
    sandbox().dispatcher.emit(rec, "status", payload)
    mergequeue.advance(store(), sandbox().dispatcher, rec, actor())
    return render.status(store(), rec, st), 201


def _statuses_for(rec: J, ref: str) -> tuple[str, list[J]]:
    sha = git(rec).resolve(ref)
    if sha is None:
        raise not_found(f"No commit found for SHA: {ref}")
    return sha, [s for s in rec["statuses"] if s["sha"] == sha]


@router.route("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses")
def list_statuses(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo)
    _, sts = _statuses_for(rec, ref)
    return paginate([render.status(store(), rec, s) for s in reversed(sts)])


@router.route("GET", "/repos/{owner}/{repo}/commits/{ref}/status")
def combined_status(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo)
    sha, sts = _statuses_for(rec, ref)
    latest: dict[str, J] = {}
    for s in sts:
        latest[s["context"]] = s
    states = [s["state"] for s in latest.values()]
    if any(s in ("error", "failure") for s in states):
        state = "failure"
    elif not states or any(s == "pending" for s in states):
        state = "pending"
    else:
        state = "success"
    u = f"{api_base()}/repos/{owner}/{repo}"
    return {
        "state": state,
        "statuses": [render.status(store(), rec, s) for s in latest.values()],
        "sha": sha,
        "total_count": len(latest),
        "repository": render.minimal_repo(store(), rec),
        "commit_url": f"{u}/commits/{sha}",
        "url": f"{u}/commits/{sha}/status",
    }


# --- check runs --------------------------------------------------------------------------------
def _app_id() -> int:
    """GitHub's rule: only a GitHub App (an installation token, GitHub Actions' GITHUB_TOKEN among
    them) may create or update check runs; a user's token is refused."""
    who = principal()
    if who.kind == "installation" and who.app_id is not None:
        return who.app_id
    raise ApiError(403, "You must authenticate via a GitHub App.")


def _output_problem(output: Any) -> ApiError | None:
    """GitHub's limits on a check run's output: summary and text at most 65535 bytes each, at most
    50 annotations (and 50 images) per request."""
    if not isinstance(output, dict):
        return None
    for key in ("summary", "text"):
        value = output.get(key)
        if isinstance(value, str) and len(value.encode()) > OUTPUT_MAX_BYTES:
            return validation("CheckRun", f"{key} exceeds a maximum bytesize of {OUTPUT_MAX_BYTES}", field=key)
    for key in ("annotations", "images"):
        items = output.get(key)
        if isinstance(items, list) and len(items) > MAX_ITEMS_PER_REQUEST:
            return ApiError(422, f"Invalid request.\n\nNo more than {MAX_ITEMS_PER_REQUEST} items are allowed; "
                                 f"{len(items)} were supplied.")
    for ann in output.get("annotations") or []:
        if not isinstance(ann, dict) or ann.get("annotation_level") not in ANNOTATION_LEVELS:
            return validation("CheckRun", "annotation_level must be notice, warning or failure",
                              field="annotation_level", code="invalid")
    return None


def _apply_run_fields(run: J, data: J) -> None:
    problem = _output_problem(data.get("output"))
    if problem is not None:
        raise problem
    for key in ("name", "details_url", "external_id", "started_at"):
        if key in data:
            run[key] = data[key]
    if isinstance(data.get("output"), dict):
        # title, summary and text replace the old ones; annotations are appended, as on GitHub,
        # so an update with 50 more adds to those already there
        given = data["output"]
        old = run.get("output") or {}
        run["output"] = {**{k: old.get(k) for k in ("title", "summary", "text")},
                         **{k: given[k] for k in ("title", "summary", "text") if k in given}}
        run["annotations"] = [*(run.get("annotations") or []), *(given.get("annotations") or [])]
    if "status" in data:
        if data["status"] not in RUN_STATUSES:
            raise validation("CheckRun", "status is invalid", field="status", code="invalid")
        run["status"] = data["status"]
    if data.get("conclusion") is not None:
        if data["conclusion"] not in CONCLUSIONS:
            raise validation("CheckRun", "conclusion is invalid", field="conclusion", code="invalid")
        run["conclusion"] = data["conclusion"]
        run["status"] = "completed"
    if data.get("completed_at"):
        run["completed_at"] = data["completed_at"]
        if not run.get("conclusion"):
            raise validation("CheckRun", "conclusion must be given with completed_at", field="conclusion",
                             code="missing_field")
        run["status"] = "completed"
    if run["status"] == "completed":
        if not run.get("conclusion"):
            raise validation("CheckRun", "conclusion is required when status is completed",
                             field="conclusion", code="missing_field")
        run.setdefault("completed_at", None)
        run["completed_at"] = run["completed_at"] or now_iso()


def _emit_run(rec: J, run: J, action: str) -> None:
    suite = rec["check_suites"][str(run["suite_id"])]
    payload = payloads.envelope(store(), rec, actor(), action=action,
                                check_run=payloads.check_run(store(), rec, run, suite, git(rec)))
    sandbox().dispatcher.emit(rec, "check_run", payload)


@router.route("POST", "/repos/{owner}/{repo}/check-runs")
def create_run(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "write")
    data = body()
    app_id = _app_id()
    if not data.get("name") or not data.get("head_sha"):
        raise validation("CheckRun", "name and head_sha are required", code="missing_field")
    sha = git(rec).resolve(data["head_sha"])
    if sha is None:
        raise validation("CheckRun", "No commit found for SHA: " + data["head_sha"], field="head_sha",
                         code="invalid")
    suite = domain.check_suite_for(store(), rec, app_id, sha)
    run: J = {"id": store().next_id("check_run"), "head_sha": sha, "name": data["name"], "status": "queued",
              "conclusion": None, "started_at": now_iso(), "completed_at": None, "app_id": app_id,
              "suite_id": suite["id"]}
    _apply_run_fields(run, data)
    rec["check_runs"][str(run["id"])] = run
    _emit_run(rec, run, "created")
    if run["status"] == "completed":
        _emit_run(rec, run, "completed")
    domain.after_check_run_change(store(), sandbox().dispatcher, rec, suite, actor())
    mergequeue.advance(store(), sandbox().dispatcher, rec, actor())
    return render.check_run(store(), rec, run), 201


@router.route("PATCH", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
def update_run(owner: str, repo: str, check_run_id: str) -> Any:
    rec = get_repo(owner, repo, "write")
    run = item(rec["check_runs"], check_run_id)
    if run["app_id"] != _app_id():
        raise ApiError(403, f"Invalid app_id `{run['app_id']}` - check run can only be modified by its creator")
    was_completed = run["status"] == "completed"
    _apply_run_fields(run, body())
    if run["status"] == "completed" and not was_completed:
        _emit_run(rec, run, "completed")
    suite = rec["check_suites"][str(run["suite_id"])]
    domain.after_check_run_change(store(), sandbox().dispatcher, rec, suite, actor())
    mergequeue.advance(store(), sandbox().dispatcher, rec, actor())
    return render.check_run(store(), rec, run)


@router.route("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}")
def get_run(owner: str, repo: str, check_run_id: str) -> Any:
    rec = get_repo(owner, repo)
    return render.check_run(store(), rec, item(rec["check_runs"], check_run_id))


@router.route("GET", "/repos/{owner}/{repo}/check-runs/{check_run_id}/annotations")
def list_annotations(owner: str, repo: str, check_run_id: str) -> Any:
    rec = get_repo(owner, repo)
    run = item(rec["check_runs"], check_run_id)
    return paginate([render.annotation(rec, run, a) for a in run.get("annotations") or []])


def _filter_runs(runs: list[J]) -> list[J]:
    name, status = request.args.get("check_name"), request.args.get("status")
    app_id = request.args.get("app_id")
    runs = [r for r in runs if (not name or r["name"] == name) and (not status or r["status"] == status)
            and (not app_id or str(r["app_id"]) == app_id)]
    if request.args.get("filter", "latest") == "latest":
        latest: dict[tuple[int, str], J] = {}
        for r in sorted(runs, key=lambda r: r["id"]):
            latest[(r["app_id"], r["name"])] = r
        runs = list(latest.values())
    return sorted(runs, key=lambda r: -r["id"])


@router.route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-runs")
def list_runs_for_ref(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo)
    sha = git(rec).resolve(ref)
    if sha is None:
        raise not_found(f"No commit found for SHA: {ref}")
    runs = _filter_runs([r for r in rec["check_runs"].values() if r["head_sha"] == sha])
    return paginate([render.check_run(store(), rec, r) for r in runs], wrap="check_runs")


@router.route("GET", "/repos/{owner}/{repo}/check-suites/{check_suite_id}")
def get_suite(owner: str, repo: str, check_suite_id: str) -> Any:
    rec = get_repo(owner, repo)
    return render.check_suite(store(), rec, item(rec["check_suites"], check_suite_id), git(rec))


@router.route("GET", "/repos/{owner}/{repo}/check-suites/{check_suite_id}/check-runs")
def list_runs_for_suite(owner: str, repo: str, check_suite_id: str) -> Any:
    rec = get_repo(owner, repo)
    suite = item(rec["check_suites"], check_suite_id)
    runs = _filter_runs([r for r in rec["check_runs"].values() if r["suite_id"] == suite["id"]])
    return paginate([render.check_run(store(), rec, r) for r in runs], wrap="check_runs")


@router.route("GET", "/repos/{owner}/{repo}/commits/{ref}/check-suites")
def list_suites_for_ref(owner: str, repo: str, ref: str) -> Any:
    rec = get_repo(owner, repo)
    sha = git(rec).resolve(ref)
    if sha is None:
        raise not_found(f"No commit found for SHA: {ref}")
    suites = sorted((s for s in rec["check_suites"].values() if s["head_sha"] == sha), key=lambda s: s["id"])
    return paginate([render.check_suite(store(), rec, s, git(rec)) for s in suites], wrap="check_suites")
