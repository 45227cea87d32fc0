"""Fixtures of the dashboard's tests: the world (sandbox + seeded store + the bot's web app) and where
the screenshots go. The browser is the shared one (tests/browser.py: Debian's Chromium through
Playwright; a missing browser fails the tests, never skips them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.world import Dashboard, dashboard_world


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with dashboard_world(tmp_path_factory.mktemp("dashboard")) as world:
        yield world


@pytest.fixture(scope="session")
def screens(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go (pytest's temporary directory), for a person to look at."""
    out = tmp_path_factory.getbasetemp() / "dashboard-screens"
    out.mkdir(exist_ok=True)
    return out
