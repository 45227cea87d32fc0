"""Repository webhooks and their delivery log (list, inspect, redeliver, ping, test)."""

from __future__ import annotations

from typing import Any

from mlgate.sandbox import domain, render
from mlgate.sandbox.ctx import actor, body, get_repo, git, item, paginate, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found, validation
from mlgate.sandbox.routing import Router
from mlgate.sandbox.store import now_iso

router = Router("hooks")
J = dict[str, Any]


def _config(data: J, old: J | None = None) -> J:
    config = dict(old or {})
    config.update(data.get("config") or {})
    for key in ("url", "content_type", "secret", "insecure_ssl"):
        if key in data:  # legacy top-level form
            config[key] = data[key]
    if not config.get("url"):
        raise validation("Hook", "url is missing", field="config.url", code="missing_field")
    config.setdefault("content_type", "form")
    config["insecure_ssl"] = str(config.get("insecure_ssl", "0"))
    return config


@router.route("POST", "/repos/{owner}/{repo}/hooks")
def create_hook(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    data = body()
    hook = {"id": store().next_id("hook"), "config": _config(data), "events": data.get("events", ["push"]),
            "active": data.get("active", True), "created_at": now_iso(), "updated_at": now_iso()}
    rec["hooks"][str(hook["id"])] = hook
    sandbox().dispatcher.ping(rec, hook, _ping_payload(rec, hook))
    return render.hook(rec, hook), 201


def _ping_payload(rec: J, hook: J) -> J:
    return {
        "zen": "Keep it logically awesome.",
        "hook_id": hook["id"],
        "hook": {k: v for k, v in render.hook(rec, hook).items() if k not in ("config", "last_response")} | {
            "config": {k: v for k, v in hook["config"].items() if k in ("content_type", "url", "insecure_ssl")}},
        "repository": render.repo(store(), rec),
        "sender": render.user(store().user(actor())),
    }


@router.route("GET", "/repos/{owner}/{repo}/hooks")
def list_hooks(owner: str, repo: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    return paginate([render.hook(rec, h) for h in sorted(rec["hooks"].values(), key=lambda h: h["id"])])


@router.route("GET", "/repos/{owner}/{repo}/hooks/{hook_id}")
def get_hook(owner: str, repo: str, hook_id: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    return render.hook(rec, item(rec["hooks"], hook_id))


@router.route("PATCH", "/repos/{owner}/{repo}/hooks/{hook_id}")
def update_hook(owner: str, repo: str, hook_id: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    hook = item(rec["hooks"], hook_id)
    data = body()
    hook["config"] = _config(data, hook["config"])
    if "events" in data:
        hook["events"] = data["events"]
    added = set(hook["events"]) | set(data.get("add_events", []))
    hook["events"] = sorted(added - set(data.get("remove_events", [])))
    if "active" in data:
        hook["active"] = bool(data["active"])
    hook["updated_at"] = now_iso()
    return render.hook(rec, hook)


@router.route("DELETE", "/repos/{owner}/{repo}/hooks/{hook_id}")
def delete_hook(owner: str, repo: str, hook_id: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    item(rec["hooks"], hook_id)
    del rec["hooks"][hook_id]
    return None, 204


@router.route("POST", "/repos/{owner}/{repo}/hooks/{hook_id}/pings")
def ping(owner: str, repo: str, hook_id: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    hook = item(rec["hooks"], hook_id)
    sandbox().dispatcher.ping(rec, hook, _ping_payload(rec, hook))
    return None, 204


@router.route("POST", "/repos/{owner}/{repo}/hooks/{hook_id}/tests")
def test_push(owner: str, repo: str, hook_id: str) -> Any:
    """Re-send a push event for the default branch's tip to this hook only."""
    rec = get_repo(owner, repo, "admin")
    hook = item(rec["hooks"], hook_id)
    g = git(rec)
    sha = g.resolve(rec["default_branch"])
    if sha is not None and "push" in hook["events"]:
        parent = g.commit(sha).parents[:1] or ["0" * 40]
        payload = domain.push_payload(store(), rec, g, f"refs/heads/{rec['default_branch']}", parent[0], sha,
                                      actor(), False)
        d = sandbox().dispatcher
        d._record(hook, None, rec, "push", payload)
    return None, 204


def _deliveries(rec: J, hook_id: int) -> list[J]:
    return [d for d in store().state["deliveries"] if d.get("hook_id") == hook_id and
            d.get("repository_id") == rec["id"]]


@router.route("GET", "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries")
def list_deliveries(owner: str, repo: str, hook_id: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    hook = item(rec["hooks"], hook_id)
    rows = sorted(_deliveries(rec, hook["id"]), key=lambda d: -d["id"])
    return paginate([render.delivery_item(d) for d in rows])


@router.route("GET", "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}")
def get_delivery(owner: str, repo: str, hook_id: str, delivery_id: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    hook = item(rec["hooks"], hook_id)
    d = store().read_delivery(int(delivery_id)) if delivery_id.isdigit() else None
    if d is None or d.get("hook_id") != hook["id"]:
        raise not_found()
    return render.delivery(d)


@router.route("POST", "/repos/{owner}/{repo}/hooks/{hook_id}/deliveries/{delivery_id}/attempts")
def redeliver(owner: str, repo: str, hook_id: str, delivery_id: str) -> Any:
    rec = get_repo(owner, repo, "admin")
    hook = item(rec["hooks"], hook_id)
    d = store().read_delivery(int(delivery_id)) if delivery_id.isdigit() else None
    if d is None or d.get("hook_id") != hook["id"]:
        raise not_found()
    try:
        sandbox().dispatcher.redeliver(d["id"])
    except KeyError as exc:
        raise ApiError(404, "Not Found") from exc
    return {}, 202
