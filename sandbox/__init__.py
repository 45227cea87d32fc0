"""A local GitHub stand-in for tests and demos: REST under /api/v3, git over smart HTTP.

It is backed by real git repositories and delivers signed webhooks, so the real bot (through
PyGithub, over real HTTP) can be exercised end to end without reaching github.com.
Sandbox-only shortcut: a user's token is their login (``Authorization: token alice``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["SandboxServer", "create_app"]


def __getattr__(name: str) -> Any:
    """Lazy, so the git pre-receive hook (``python -m mlgate.sandbox.prereceive``) starts fast."""
    if name == "create_app":
        from mlgate.sandbox.app import create_app

        return create_app
    if name == "SandboxServer":
        from mlgate.sandbox.harness import SandboxServer

        return SandboxServer
    raise AttributeError(name)
