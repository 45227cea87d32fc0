"""GitHub App endpoints: the app (JWT), its installations, installation tokens, the app's webhook
delivery log, and the installation's repositories."""

from __future__ import annotations

from typing import Any

from mlgate.sandbox import app_permissions, auth, manifest, perms, registry, render
from mlgate.sandbox.ctx import body, item, paginate, principal, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found, validation
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
    data = body()
    granted = inst.get("permissions") or app_permissions.normalise(app.get("permissions"))
    wanted = data.get("permissions")
    if wanted:  # absent or empty: the installation's permissions
        if not isinstance(wanted, dict):
            raise validation("AccessToken", "permissions must be an object", field="permissions", code="invalid")
        problem = app_permissions.subset_problem(wanted, granted)
        if problem:
            raise ApiError(422, problem)
        granted = app_permissions.normalise({k: v for k, v in wanted.items() if k in granted})
    ids = _token_repositories(inst, data)
    minted = auth.mint_installation_token(store(), inst["id"], granted, ids)
    return {
        **minted,
        "permissions": granted,
        "repository_selection": "selected" if ids is not None else inst["repository_selection"],
        **({"repositories": [render.repo(store(), r) for i in ids if (r := store().repo_by_id(i))]}
           if ids is not None else {}),
    }, 201


def _token_repositories(inst: J, data: J) -> list[int] | None:
    """``repositories`` (names) or ``repository_ids`` narrow a token to some of the installation's
    repositories; one it is not installed on is 422, as on GitHub."""
    names, ids = data.get("repositories"), data.get("repository_ids")
    if names is None and ids is None:
        return None
    found: list[int] = []
    for name in names or []:
        rec = store().repo(inst["account"], str(name))
        if rec is None or not perms.installed_on(inst, rec):
            raise ApiError(422, f"There is at least one repository that does not exist or is not accessible "
                                f"to the parent installation: {name}")
        found.append(rec["id"])
    for rid in ids or []:
        rec = store().repo_by_id(int(rid))
        if rec is None or not perms.installed_on(inst, rec):
            raise ApiError(422, "There is at least one repository that does not exist or is not accessible "
                                f"to the parent installation: {rid}")
        found.append(rec["id"])
    return sorted(set(found))


@router.route("GET", "/repos/{owner}/{repo}/installation")
def repo_installation(owner: str, repo: str) -> Any:
    app = _app()
    rec = store().repo(owner, repo)
    if rec is None:
        raise not_found()
    for inst in store().state["installations"].values():
        if inst["app_id"] == app["id"] and perms.installed_on(inst, rec):
            return render.installation(store(), inst)
    raise not_found()


@router.route("GET", "/installation/repositories")
def installation_repositories() -> Any:
    who = principal()
    if who.kind != "installation":
        raise ApiError(403, "This endpoint requires an installation access token.")
    inst = store().state["installations"][str(who.installation_id)]
    recs = [r for r in store().state["repos"].values() if perms.installed_on(inst, r)
            and (who.repository_ids is None or r["id"] in who.repository_ids)]
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


@router.route("POST", "/app-manifests/{code}/conversions")
def convert_manifest(code: str) -> Any:
    """The last step of the manifest flow: the one-time code becomes a registered App; the answer
    carries its private key (``pem``) and webhook secret, shown this once."""
    pending = manifest.take_code(store(), code)
    if pending is None:
        raise not_found()
    found = manifest.problems(pending["manifest"])
    spec = manifest.to_spec(pending["manifest"], pending["owner"])
    found += registry.problems(store(), spec)
    if found:
        raise ApiError(422, "Validation Failed", errors=[*found])  # validation-error-simple: sentences
    record, private = registry.register(store(), spec)
    return {**render.app(store(), record), "client_id": f"Iv1.sandbox{record['id']}",
            "client_secret": record["client_secret"], "webhook_secret": record["webhook_secret"],
            "pem": private}, 201


def installation_url(inst_id: int) -> str:
    return f"{api_base()}/app/installations/{inst_id}"
