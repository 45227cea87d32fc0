"""GitHub App registration, shared by ``POST /_sandbox/apps`` and the manifest flow
(``POST /app-manifests/{code}/conversions``): GitHub's rules on names, permissions and events.

An App gets exactly the permissions it asks for (plus ``metadata: read``, which GitHub gives every
App) and hears exactly the events it subscribes to; an event its permissions do not cover cannot
be subscribed to. Registration problems are returned as sentences, never half-written state.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlgate.sandbox import app_permissions, auth, names
from mlgate.sandbox.store import Store, now_iso

J = dict[str, Any]


@dataclass
class AppSpec:
    """What a registration asks for (the admin endpoint's body or a manifest, translated)."""

    slug: str
    name: str
    owner: str
    description: str = ""
    url: str | None = None
    webhook_url: str | None = None
    webhook_active: bool = True
    webhook_secret: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)
    private_key: str | None = None
    public: bool = False


def slugify(name: str) -> str:
    """GitHub's App slug: lower case, runs of anything but letters and digits become one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def problems(store: Store, spec: AppSpec) -> list[str]:
    """Everything GitHub would refuse in this registration (empty when it is fine)."""
    found: list[str] = []
    for label, login in (("slug", spec.slug), ("owner", spec.owner)):
        problem = names.login_error(login)
        if problem:  # the slug becomes the bot's login, "<slug>[bot]"
            found.append(f"{label}: {problem}")
    if any(a["slug"] == spec.slug or a.get("name") == spec.name for a in store.state["apps"].values()):
        found.append(f"name: {spec.name!r} is already in use by another GitHub App")
    if not isinstance(spec.permissions, Mapping):
        return [*found, "default_permissions must be a mapping of permission: level"]
    found += app_permissions.permission_problems(spec.permissions)
    if not isinstance(spec.events, list) or not all(isinstance(e, str) for e in spec.events):
        return [*found, "default_events must be a list of event names"]
    granted = app_permissions.normalise(spec.permissions)
    found += app_permissions.event_problems(spec.events, granted)
    return found


def register(store: Store, spec: AppSpec) -> tuple[J, str]:
    """Create the App (caller holds the lock and checked ``problems``); returns (record, private PEM)."""
    private = spec.private_key
    public = auth.public_key_from_private(private) if private else None
    if not private:
        private, public = auth.generate_app_keypair()
    store.ensure_user(spec.owner)
    app_id = store.next_id("app")
    bot_login = f"{spec.slug}[bot]"
    store.ensure_user(bot_login, "Bot")
    record: J = {
        "id": app_id, "slug": spec.slug, "name": spec.name, "owner_login": spec.owner,
        "description": spec.description, "public_key_pem": public, "bot_login": bot_login,
        "webhook_url": spec.webhook_url if spec.webhook_active else None,
        "webhook_secret": spec.webhook_secret, "url": spec.url, "public": spec.public,
        "events": list(dict.fromkeys(spec.events)),
        "permissions": app_permissions.normalise(spec.permissions),
        "client_secret": secrets.token_hex(20),
        "created_at": now_iso(),
    }
    store.state["apps"][str(app_id)] = record
    return record, private
