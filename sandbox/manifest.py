"""GitHub App manifests (``app.yml``): read one, say what GitHub would refuse, and turn it into a
registration. The manifest flow itself (a form POST that yields a one-time ``code``, exchanged at
``POST /app-manifests/{code}/conversions``) lives in ``webflow.py`` and ``api/apps.py``.

https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from mlgate.sandbox.registry import AppSpec, slugify
from mlgate.sandbox.store import Store

# the repository's own manifest, next to the sandbox's folder in a checkout
REPO_MANIFEST = Path(__file__).resolve().parent.parent / "app.yml"
KEYS = {"name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url", "description", "public",
        "default_events", "default_permissions", "request_oauth_on_install", "setup_on_update"}
CODE_TTL_SECONDS = 3600  # GitHub's codes expire after an hour


class ManifestError(ValueError):
    """The manifest cannot be read or GitHub would refuse it; the message says why."""


def load(path: Path | str = REPO_MANIFEST) -> dict[str, Any]:
    """The manifest at ``path`` as a mapping (a missing file or bad YAML is a ManifestError)."""
    source = Path(path)
    try:
        data = yaml.safe_load(source.read_text())
    except OSError as exc:
        raise ManifestError(f"{source}: cannot read the manifest ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ManifestError(f"{source}: a manifest is a mapping of keys such as name, url, default_permissions")
    return data


def problems(manifest: Mapping[str, Any]) -> list[str]:
    """What GitHub would refuse in the manifest's shape (permissions and events are checked at
    registration, ``registry.problems``). Unknown keys are reported too: a misspelt
    ``default_permission`` would otherwise register an App with no permissions at all."""
    found = [f"{key}: not a manifest key" for key in sorted(set(manifest) - KEYS)]
    if not isinstance(manifest.get("url"), str) or not manifest.get("url"):
        found.append("url: is required (the App's homepage)")
    name = manifest.get("name")
    if name is not None and (not isinstance(name, str) or not slugify(name)):
        found.append("name: must be text with at least one letter or digit")
    hook = manifest.get("hook_attributes")
    if hook is not None:
        if not isinstance(hook, Mapping):
            found.append("hook_attributes: must be a mapping with url and active")
        elif hook.get("active", True) and not hook.get("url"):
            found.append("hook_attributes.url: is required while the webhook is active")
    for key, kind in (("default_permissions", Mapping), ("default_events", list)):
        if key in manifest and not isinstance(manifest[key], kind):
            found.append(f"{key}: must be a {'mapping' if kind is Mapping else 'list'}")
    return found


def to_spec(manifest: Mapping[str, Any], owner: str) -> AppSpec:
    """The registration the manifest asks for, owned by ``owner``; GitHub makes the webhook secret."""
    name = str(manifest.get("name") or f"{owner}-app")
    raw_hook = manifest.get("hook_attributes")
    hook: Mapping[str, Any] = raw_hook if isinstance(raw_hook, Mapping) else {}
    return AppSpec(
        slug=slugify(name), name=name, owner=owner, description=str(manifest.get("description") or ""),
        url=manifest.get("url"), webhook_url=hook.get("url"), webhook_active=bool(hook.get("active", True)),
        webhook_secret=secrets.token_hex(20) if hook.get("url") else None,
        permissions=dict(manifest.get("default_permissions") or {}),
        events=list(manifest.get("default_events") or []), public=bool(manifest.get("public", False)),
    )


def issue_code(store: Store, manifest: Mapping[str, Any], owner: str) -> str:
    """What GitHub does when the user confirms the manifest form: a one-time code (caller holds the lock)."""
    code = secrets.token_hex(10)
    store.state.setdefault("manifest_codes", {})[code] = {"manifest": dict(manifest), "owner": owner,
                                                           "issued_at": time.time()}
    return code


def take_code(store: Store, code: str) -> dict[str, Any] | None:
    """The pending manifest for ``code``, removed (codes are single-use and expire after an hour)."""
    pending = store.state.setdefault("manifest_codes", {}).pop(code, None)
    if pending is None or time.time() - pending["issued_at"] > CODE_TTL_SECONDS:
        return None
    return pending
