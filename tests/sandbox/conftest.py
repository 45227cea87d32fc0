"""One sandbox per test session, held to GitHub's descriptions on every response and webhook."""

from __future__ import annotations

import itertools
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.sandbox.harness import SandboxServer, WebhookSink
from tests.sandbox.contract import MISSING_MESSAGE, Contract, octokit_dir

CONTRACT_KEY = pytest.StashKey[Contract | None]()
SERVER_KEY = pytest.StashKey[SandboxServer]()
USERS = ("alice", "bob", "carol", "dave", "mlgate-bot")
_names = itertools.count(1)


def _contract_or_fail(config: pytest.Config) -> Contract | None:
    root = octokit_dir()
    if root is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(MISSING_MESSAGE, pytrace=False)
        return None
    if CONTRACT_KEY not in config.stash:
        config.stash[CONTRACT_KEY] = Contract(root)
    return config.stash[CONTRACT_KEY]


@pytest.fixture(scope="session")
def contract(request: pytest.FixtureRequest) -> Contract:
    """The contract validator; tests that need it skip locally (fail on CI) without the npm packages."""
    found = _contract_or_fail(request.config)
    if found is None:
        pytest.skip(MISSING_MESSAGE)
    return found


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxServer]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = SandboxServer(tmp_path_factory.mktemp("sandbox-data"), users=USERS,
                        orgs={"acme": ["alice"]}).start()
    found = _contract_or_fail(request.config)
    if found is not None:
        srv.sandbox.observers.append(found.observe_response)
        srv.sandbox.dispatcher.observers.append(found.observe_webhook)
    request.config.stash[SERVER_KEY] = srv
    yield srv
    srv.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A response or payload the spec rejects fails the test that provoked it."""
    found = item.config.stash.get(CONTRACT_KEY, None)
    if found is not None:
        found.take()
    outcome = yield
    if found is None:
        return
    problems = found.take()
    if problems and outcome.excinfo is None:
        listing = "\n".join(f"  - {p}" for p in problems[:20])
        outcome.force_exception(AssertionError(f"sandbox broke GitHub's contract:\n{listing}"))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    found = config.stash.get(CONTRACT_KEY, None)
    if found is None or not found.validated_responses:
        return
    terminalreporter.write_line(
        f"sandbox contract: {found.validated_responses} responses ({found.validated_requests} accepted request "
        f"bodies) validated over "
        f"{len(found.validated_ops)} operations; {sum(found.validated_events.values())} webhook payloads "
        f"validated over {len(found.validated_events)} event/action schemas")
    if config.getoption("verbose") > 0:
        terminalreporter.write_line("  webhook schemas: " + ", ".join(sorted(found.validated_events)))


@pytest.fixture(scope="session")
def sink(server: SandboxServer) -> Iterator[WebhookSink]:
    s = WebhookSink().start()
    yield s
    s.stop()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


@pytest.fixture
def make_repo(server: SandboxServer, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    """A fresh repository (unique name) with a README on main, created by ``owner``'s token."""

    def make(owner: str = "alice", files: dict[str, str] | None = None, token: str | None = None,
             private: bool = False, collaborators: dict[str, str] | None = None) -> dict[str, Any]:
        src = tmp_path / unique("src")
        src.mkdir()
        for rel, text in (files or {"README.md": "# demo\n"}).items():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            (src / rel).write_text(text)
        token = token or (owner if owner in USERS else "alice")
        body = server.create_repo(owner, unique("repo"), token, from_dir=src, private=private)
        for login, perm in (collaborators or {}).items():
            server.api("PUT", f"/repos/{body['full_name']}/collaborators/{login}", token,
                       json={"permission": perm}).raise_for_status()
        return body

    return make
