"""The bot as GitHub runs it: an App registered from the repository's own `app.yml` (its permissions
and events, through the manifest flow), installed on the repositories under test, and the bot in App
mode with that App's id, private key and webhook secret. Every end-to-end test sets the bot up here,
so a permission or event missing from `app.yml` fails them with GitHub's 403 or a missing delivery.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from typing import Any

from mlgate.bot.github.client import ForgeOptions, GitHubForgeFactory, forge_factory
from mlgate.bot.settings import Settings
from mlgate.sandbox import app_permissions
from mlgate.sandbox import manifest as manifests
from mlgate.sandbox.harness import SandboxApp, SandboxServer

_names = itertools.count(1)


@dataclass
class BotApp:
    """The registered App, its installation, and what the bot's settings need from them."""

    sandbox: SandboxServer
    app: SandboxApp
    installation: int

    @property
    def login(self) -> str:
        """The bot's login on GitHub: `<slug>[bot]`."""
        return self.app.bot_login

    @property
    def secret(self) -> str:
        """The webhook secret GitHub made at registration (the manifest flow gives it once)."""
        assert self.app.webhook_secret, "the App was registered without a webhook"
        return self.app.webhook_secret

    def settings(self, **overrides: Any) -> Settings:
        """The bot's settings in App mode (the bot asks GitHub for its own login, as in production)."""
        base = Settings(github_url=self.sandbox.api_url, auth_mode="app", app_id=self.app.id,
                        private_key=self.app.private_key, github_token=None, webhook_secret=self.secret)
        return replace(base, **overrides)

    def forges(self, settings: Settings | None = None) -> GitHubForgeFactory:
        """The bot's forge factory: installation tokens minted with the App's JWT, no write pauses."""
        return forge_factory(settings or self.settings(), ForgeOptions(seconds_between_writes=0))

    def exercised(self) -> dict[str, Any]:
        """What the App's installation used so far (the sandbox's call log) and the events it heard."""
        return self.sandbox.exercised(self.app)


def manifest_without(permission: str | None = None, event: str | None = None) -> dict[str, Any]:
    """`app.yml` with one permission or one event removed. Without a permission, the events it
    covered go too: GitHub refuses to register an App subscribed to events it may not hear."""
    data = manifests.load()
    if permission is not None:
        data["default_permissions"] = {k: v for k, v in data["default_permissions"].items() if k != permission}
        granted = app_permissions.normalise(data["default_permissions"])
        data["default_events"] = [e for e in data["default_events"] if app_permissions.delivers([e], granted, e)]
    if event is not None:
        data["default_events"] = [e for e in data["default_events"] if e != event]
    return data


def install_bot(sandbox: SandboxServer, webhook_url: str, repositories: list[str], *, account: str = "alice",
                manifest: dict[str, Any] | None = None) -> BotApp:
    """Register the App from `app.yml` (or `manifest`) with its webhook at `webhook_url` and install
    it on `account`'s `repositories` (names). App names are unique per sandbox, so each call
    registers `mlgate-<n>`: the bot's login is `mlgate-<n>[bot]`."""
    app = sandbox.register_app_from_manifest(owner=account, webhook_url=webhook_url, name=f"mlgate-{next(_names)}",
                                             manifest=manifest)
    installation = sandbox.install_app(app.id, account, repositories=repositories)
    return BotApp(sandbox, app, installation)
