"""Routes are declared with GitHub's own OpenAPI path templates, so each response can be matched
to its operation in the official description (the contract tests rely on this)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

# parameters whose values may contain slashes
SLASHY = {"ref", "branch", "path", "basehead"}
READ_METHODS = {"GET", "HEAD"}


def to_flask(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: f"<path:{m[1]}>" if m[1] in SLASHY else f"<{m[1]}>", template)


class Router:
    """A blueprint whose rules remember their OpenAPI template (``view.openapi``)."""

    def __init__(self, name: str) -> None:
        self.bp = Blueprint(name, __name__)
        self.operations: list[tuple[str, str]] = []

    def route(self, method: str, template: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(fn)
            def view(**kwargs: Any) -> Any:
                sandbox = current_app.extensions["sandbox"]
                with sandbox.store.lock:
                    result = fn(**kwargs)
                    if request.method not in READ_METHODS:
                        sandbox.store.save()
                return respond(result)

            view.openapi = (method, template)  # type: ignore[attr-defined]
            endpoint = f"{method.lower()}_{fn.__name__}"
            self.bp.add_url_rule(to_flask(template), endpoint=endpoint, view_func=view, methods=[method])
            self.operations.append((method, template))
            return fn

        return deco


def respond(result: Any) -> Response:
    """Handlers return a body, ``(body, status)``, ``(None, 204)`` or a Response."""
    if isinstance(result, Response):
        return result
    status = 200
    if isinstance(result, tuple):
        result, status = result
    if result is None:
        return Response(status=status)
    resp = jsonify(result)
    resp.status_code = status
    return resp
