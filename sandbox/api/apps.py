"""GitHub App endpoints: the app (JWT), its installations, installation tokens, the app's webhook
delivery log, and the installation's repositories."""

from __future__ import annotations

from typing import Any

from mlgate.sandbox import auth, render
from mlgate.sandbox.ctx import body, item, paginate, principal, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found
from mlgate.sandbox.routing import Router
from mlgate.sandbox.urls import api_base

router = Router("apps")
J = dict[str, Any]


def _app() -> J:
    who = principal()
    if who.kind != "app":
        raise ApiError(401, "A JSON web token could not be decoded")
    return store().state["apps"][str(who.app_id)]


@router.route("GET", "/app")
def get_app() -> Any:
    return render.app(store(), _app())


@router.route("GET", "/app/installations")
def list_installations() -> Any:
    app = _app()
    insts = [i for i in store().state["installations"].values() if i["app_id"] == app["id"]]
    return paginate([render.installation(store(), i) for i in sorted(insts, key=lambda i: i["id"])])


@router.route("GET", "/app/installations/{installation_id}")
def get_installation(installation_id: str) -> Any:
    app = _app()
    inst = item(store().state["installations"], installation_id)
    if inst["app_id"] != app["id"]:
        raise not_found()
    return render.installation(store(), inst)


@router.route("POST", "/app/installations/{installation_id}/access_tokens")
def create_token(installation_id: str) -> Any:
    app = _app()
    inst = item(store().state["installations"], installation_id)
    if inst["app_id"] != app["id"]:
        raise not_found()
    minted = auth.mint_installation_token(store(), inst["id"])
    data = body()
    return {
        **minted,
        "permissions": data.get("permissions") or app.get("permissions", {}),
        "repository_selection": inst["repository_selection"],
    }, 201


@router.route("GET", "/repos/{owner}/{repo}/installation")
def repo_installation(owner: str, repo: str) -> Any:
    app = _app()
    rec = store().repo(owner, repo)
    if rec is None:
        raise not_found()
    for inst in store().state["installations"].values():
        if inst["app_id"] == app["id"] and inst["account"] == owner and (
                inst["repository_selection"] == "all" or rec["id"] in inst.get("repository_ids", [])):
            return render.installation(store(), inst)
    raise not_found()


@router.route("GET", "/installation/repositories")
def installation_repositories() -> Any:
    who = principal()
    if who.kind != "installation":
        raise ApiError(403, "This endpoint requires an installation access token.")
    inst = store().state["installations"][str(who.installation_id)]
    recs = [r for r in store().state["repos"].values() if r["owner"] == inst["account"] and (
        inst["repository_selection"] == "all" or r["id"] in inst.get("repository_ids", []))]
    return paginate([render.repo(store(), r) for r in sorted(recs, key=lambda r: r["id"])], wrap="repositories",
                    extra={"repository_selection": inst["repository_selection"]})


@router.route("GET", "/app/hook/config")
def hook_config() -> Any:
    app = _app()
    return {"url": app.get("webhook_url"), "content_type": "json", "insecure_ssl": "0",
            **({"secret": "********"} if app.get("webhook_secret") else {})}


@router.route("GET", "/app/hook/deliveries")
def app_deliveries() -> Any:
    app = _app()
    rows = sorted((d for d in store().state["deliveries"] if d.get("app_id") == app["id"]), key=lambda d: -d["id"])
    return paginate([render.delivery_item(d) for d in rows])


@router.route("GET", "/app/hook/deliveries/{delivery_id}")
def app_delivery(delivery_id: str) -> Any:
    app = _app()
    d = store().read_delivery(int(delivery_id)) if delivery_id.isdigit() else None
    if d is None or d.get("app_id") != app["id"]:
        raise not_found()
    return render.delivery(d)


@router.route("POST", "/app/hook/deliveries/{delivery_id}/attempts")
def app_redeliver(delivery_id: str) -> Any:
    app = _app()
    d = store().read_delivery(int(delivery_id)) if delivery_id.isdigit() else None
    if d is None or d.get("app_id") != app["id"]:
        raise not_found()
    sandbox().dispatcher.redeliver(d["id"])
    return {}, 202


def installation_url(inst_id: int) -> str:
    return f"{api_base()}/app/installations/{inst_id}"
