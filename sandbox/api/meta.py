"""Users, orgs and the rate-limit endpoint."""

from __future__ import annotations

from typing import Any

from mlgate.sandbox import render
from mlgate.sandbox.ctx import actor, principal, sandbox, store
from mlgate.sandbox.errors import ApiError, not_found
from mlgate.sandbox.routing import Router

router = Router("meta")


@router.route("GET", "/user")
def get_authenticated_user() -> Any:
    who = principal()
    if who.kind != "user":
        raise ApiError(403, "Resource not accessible by integration") if who.kind != "anonymous" else \
            ApiError(401, "Requires authentication")
    rec = store().user(actor())
    assert rec is not None
    return render.user_full(store(), rec, private=True)


@router.route("GET", "/users/{username}")
def get_user(username: str) -> Any:
    rec = store().user(username)
    if rec is None:
        raise not_found()
    return render.user_full(store(), rec)


@router.route("GET", "/orgs/{org}")
def get_org(org: str) -> Any:
    rec = store().user(org)
    if rec is None or rec["type"] != "Organization":
        raise not_found()
    return render.org(store(), rec, full=True)


@router.route("GET", "/rate_limit")
def rate_limit() -> Any:
    who = principal()
    b = sandbox().limits.bucket(who.key, who.kind)
    core = {"limit": b.limit, "remaining": max(0, b.limit - b.used), "reset": b.reset, "used": b.used}
    return {"resources": {"core": core, "search": dict(core, limit=30, remaining=30, used=0)}, "rate": core}
