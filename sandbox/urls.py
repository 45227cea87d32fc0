"""Where the sandbox says it lives: every ``url`` in a body points back at the sandbox itself,
because PyGithub follows those URLs."""

from __future__ import annotations

import base64

from flask import current_app, has_request_context, request


def web_base() -> str:
    """``http://host:port`` with no trailing slash."""
    configured = current_app.config.get("PUBLIC_URL")
    if configured:
        return str(configured).rstrip("/")
    if has_request_context():
        return request.host_url.rstrip("/")
    return "http://127.0.0.1"


def api_base() -> str:
    return web_base() + "/api/v3"


def node_id(kind: str, ident: object) -> str:
    """Opaque but stable, like GitHub's global node ids."""
    return base64.b64encode(f"0:{kind}{ident}".encode()).decode().rstrip("=")
