"""REST API blueprints, one module per area of GitHub's API."""

from __future__ import annotations

from mlgate.sandbox.api import (
    actions,
    apps,
    checks,
    collab,
    deployments,
    gitdata,
    hooks,
    issues,
    meta,
    pulls,
    repos,
)
from mlgate.sandbox.routing import Router

ROUTERS: list[Router] = [
    meta.router,
    repos.router,
    gitdata.router,
    pulls.router,
    issues.router,
    checks.router,
    collab.router,
    deployments.router,
    hooks.router,
    apps.router,
    actions.router,
]


def operations() -> list[tuple[str, str]]:
    """Every (method, OpenAPI path) the sandbox implements."""
    return [op for r in ROUTERS for op in r.operations]
