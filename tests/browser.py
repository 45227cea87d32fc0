"""A real browser for the tests that check what a person sees: Debian's Chromium driven by Playwright.

Shared by every test folder (tests/conftest.py imports the fixtures):
- `browser`: one headless Chromium per test session, Debian's package (`apt-get install chromium`,
  or the binary `MLGATE_CHROMIUM` names), launched by Playwright with `executable_path`, so
  Playwright's own browser download is never used. Tests that use it carry the `browser` marker.
- `browser_assets`: a `node_modules` with npm's `mermaid` (11, GitHub's major version) and
  `github-markdown-css`, at pinned versions; found at `MLGATE_BROWSER_NPM_DIR` (the only place
  looked at when set), else installed once by the test run with npm into a cache directory
  (`~/.cache/mlgate/browser-<versions>`, or under `XDG_CACHE_HOME`), like GitHub's descriptions in
  tests/services.py.
- `offline_page(browser, …)`: a new page whose requests may only reach local files and loopback;
  anything else is refused and recorded, so a page under test never fetches from the internet.

A missing Chromium, Playwright or npm fails the test with the command that installs it: never a skip.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.services import NpmPackages, ServiceError

# Pinned like GitHub's descriptions: what the page looks like must not change under the tests.
BROWSER_NPM_PACKAGES = {"mermaid": "11.17.2", "github-markdown-css": "5.9.0"}
MERMAID_REL = "mermaid/dist/mermaid.min.js"
GITHUB_CSS_REL = "github-markdown-css/github-markdown-light.css"
BROWSER_NPM_FILES = (MERMAID_REL, GITHUB_CSS_REL)
# Headless, no sandbox (CI runs as root), no GPU, and nothing the browser would fetch by itself.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-default-apps", "--disable-domain-reliability")


# ------------------------------------------------------------------------------------------ npm packages

BROWSER_NPM = NpmPackages("Mermaid and GitHub's stylesheet", "MLGATE_BROWSER_NPM_DIR", BROWSER_NPM_PACKAGES,
                          BROWSER_NPM_FILES, "browser")


def browser_assets_cache_dir() -> Path:
    return BROWSER_NPM.cache_dir()


def find_browser_assets() -> Path | None:
    """The `node_modules` that has Mermaid and GitHub's stylesheet, or None when none has them."""
    return BROWSER_NPM.find()


def ensure_browser_assets() -> Path:
    return BROWSER_NPM.ensure()


# ---------------------------------------------------------------------------------------------- Chromium


def chromium_path() -> str | None:
    """Debian's Chromium (or the binary MLGATE_CHROMIUM names), or None when there is none."""
    explicit = os.environ.get("MLGATE_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def local_url(url: str) -> bool:
    """May a page under test load this? Local files, data: and blob: URLs, and loopback HTTP only."""
    parts = urlsplit(url)
    if parts.scheme in ("file", "data", "blob", "about"):
        return True
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return False
    host = parts.hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class OfflinePage:
    """A Playwright page that can reach only local files and loopback; `refused` lists what it tried else."""

    page: Any
    refused: list[str] = field(default_factory=list)

    def close(self) -> None:
        self.page.context.close()


def offline_page(browser: Any, width: int = 1000, height: int = 900) -> OfflinePage:
    """A new page in its own context (fresh cookies and storage) at `width` × `height`, offline but for loopback."""
    context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
    result = OfflinePage(page=None)

    def route(route: Any) -> None:
        url = route.request.url
        if local_url(url):
            route.continue_()
        else:
            result.refused.append(url)
            route.abort()

    context.route("**/*", route)
    result.page = context.new_page()
    return result


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium for the session (Debian's package, through Playwright)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install -e '.[dev]' (it is a dev dependency)")
    path = chromium_path()
    if path is None:
        pytest.fail("Chromium was not found: install it (Debian/Ubuntu: `apt-get install -y chromium "
                    "fonts-liberation fonts-noto-color-emoji`) or set MLGATE_CHROMIUM to its path")
    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary profile (user-data-dir).
        launched = playwright.chromium.launch(executable_path=path, args=list(CHROMIUM_ARGS))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def browser_assets() -> Path:
    """A `node_modules` with `mermaid` and `github-markdown-css` (see `ensure_browser_assets`)."""
    try:
        return ensure_browser_assets()
    except ServiceError as exc:
        pytest.fail(str(exc))
