"""What every test folder shares: the services the tests need, and small helpers.

The services are provided by the test run itself (see tests/services.py), so `pytest` alone works
on a fresh machine: GitHub's descriptions come from npm, PostgreSQL from `MLGATE_TEST_POSTGRES_URL`
or a throw-away `pgserver`, the browser tests' Chromium from Debian and their npm packages from npm
(tests/browser.py: the `browser` and `browser_assets` fixtures, `offline_page`). A service that
cannot be provided is an error with a fix, never a skip.
"""

from __future__ import annotations

import functools
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import browser, browser_assets  # noqa: F401  (fixtures for every folder)
from tests.services import EXAMPLES_REL, OPENAPI_REL, POSTGRES, ServiceError, ensure_octokit

pytest_plugins = ["pytester"]


# ------------------------------------------------------------------------------------------ services


def octokit_or_fail() -> Path:
    """GitHub's descriptions (installed on first use); a test that needs them fails without them."""
    try:
        return ensure_octokit()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)


@functools.lru_cache(maxsize=1)
def github_openapi() -> dict[str, Any]:
    """GitHub's REST description (`@octokit/openapi`), parsed once per session (do not modify it)."""
    return json.loads((octokit_or_fail() / OPENAPI_REL).read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def github_webhook_examples() -> list[dict[str, Any]]:
    """GitHub's example payloads (`@octokit/webhooks-examples`): [{"name": event, "examples": [...]}, ...]."""
    return json.loads((octokit_or_fail() / EXAMPLES_REL).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def octokit_dir() -> Path:
    """The `node_modules` directory holding GitHub's API description and webhook schemas and examples."""
    return octokit_or_fail()


def postgres_base_url() -> str:
    """A PostgreSQL server's URL: `MLGATE_TEST_POSTGRES_URL`, or a server started for this run."""
    try:
        return POSTGRES.url()
    except ServiceError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    return postgres_base_url()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that use GitHub's descriptions carry the `octokit` marker, tests that drive Chromium the
    `browser` marker (`-m octokit`, `-m browser` select them)."""
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "octokit_dir" in names and not item.get_closest_marker("octokit"):
            item.add_marker(pytest.mark.octokit)
        if "browser" in names and not item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.browser)


PHASES = pytest.StashKey[dict[str, str]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Each phase's outcome, for fixtures that check more only when the test itself passed."""
    report: pytest.TestReport = yield
    item.stash.setdefault(PHASES, {})[report.when] = report.outcome
    return report


def body_passed(item: pytest.Item) -> bool | None:
    """At a fixture's teardown: did the test's body pass? None when this conftest's hook is not active."""
    phases = item.stash.get(PHASES, None)
    return None if phases is None else phases.get("call") == "passed"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    POSTGRES.stop()


def pytest_report_header(config: pytest.Config) -> str:
    return ("services: PostgreSQL from MLGATE_TEST_POSTGRES_URL or a pgserver started on first use; "
            "GitHub's descriptions from MLGATE_OCTOKIT_DIR, ./node_modules or an npm install into ~/.cache/mlgate; "
            "Chromium from Debian (or MLGATE_CHROMIUM), Mermaid and GitHub's stylesheet as GitHub's descriptions")


# ------------------------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0, interval: float = 0.02) -> bool:
    """True once `predicate()` holds, False when `timeout` seconds pass first.

    For what a test cannot be told about (a subprocess's state, a row another process writes);
    threads of the test itself are ordered with events, never with this.
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def wait_for_port(port: int, timeout: float = 30.0, *, alive: Callable[[], bool] = lambda: True) -> None:
    """Return once something accepts connections on 127.0.0.1:`port`; fail when `alive()` turns false."""

    def accepting() -> bool:
        if not alive():
            raise AssertionError(f"the server for port {port} exited before it listened")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            return False
        return True

    if not wait_until(accepting, timeout):
        raise AssertionError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")


class FakeTime:
    """A clock and a sleep for injection: `sleep` records the delay and moves the clock, no waiting."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


def github_html(markdown: str) -> str:
    """Markdown as GitHub renders it (cmark-gfm, GitHub's own engine), raw HTML kept."""
    import cmarkgfm
    from cmarkgfm.cmark import Options

    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
