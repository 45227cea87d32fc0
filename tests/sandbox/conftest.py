"""One sandbox per test session, held to GitHub's descriptions on every response and webhook."""

from __future__ import annotations

import itertools
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlgate.sandbox.api import operations
from mlgate.sandbox.harness import SandboxServer, WebhookSink
from mlgate.sandbox.store import CHECK_ENV
from tests.sandbox.contract import Contract

CONTRACT_KEY = pytest.StashKey[Contract]()
RAN_KEY = pytest.StashKey[dict[str, str]]()  # sandbox test id -> passed, failed or skipped
COLLECTED_KEY = pytest.StashKey[dict[str, str]]()  # sandbox test id -> its file name
USERS = ("alice", "bob", "carol", "dave", "mlgate-bot")
HERE = Path(__file__).resolve().parent
# every save is compared with the whole state: a change the store did not know of fails the test
os.environ.setdefault(CHECK_ENV, "1")
_names = itertools.count(1)


@pytest.fixture(scope="session")
def contract(request: pytest.FixtureRequest, octokit_dir: Path) -> Contract:
    """The contract validator over GitHub's descriptions (installed by the test run when missing)."""
    if CONTRACT_KEY not in request.config.stash:
        request.config.stash[CONTRACT_KEY] = Contract(octokit_dir)
    return request.config.stash[CONTRACT_KEY]


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, contract: Contract) -> Iterator[SandboxServer]:
    """One sandbox for the sandbox tests; every response and webhook it sends is held to the contract."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    srv = SandboxServer(tmp_path_factory.mktemp("sandbox-data"), users=USERS,
                        orgs={"acme": ["alice"]}).start()
    srv.sandbox.observers.append(contract.observe_response)
    srv.sandbox.dispatcher.observers.append(contract.observe_webhook)
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Remember each sandbox test's outcome (for the coverage check at the session's end)."""
    report: pytest.TestReport = yield
    ran = item.config.stash.setdefault(RAN_KEY, {})
    if report.outcome != "passed":
        ran[item.nodeid] = "failed" if ran.get(item.nodeid) == "failed" else report.outcome
    elif report.when == "call":
        ran.setdefault(item.nodeid, "passed")
    return report


def pytest_collection_finish(session: pytest.Session) -> None:
    session.config.stash[COLLECTED_KEY] = {
        item.nodeid: Path(str(item.fspath)).name for item in session.items
        if Path(str(item.fspath)).resolve().parent == HERE}


def uncovered_operations(validated: Counter[tuple[str, str]]) -> list[str]:
    """Implemented operations no response of which was validated against GitHub's description."""
    return sorted(f"{m} {p}" for m, p in operations() if validated[(m, p)] == 0)


def coverage_verdict(config: pytest.Config) -> tuple[str, list[str]] | None:
    """After the run: ("skipped", [why]) when coverage says nothing, ("failed", ops) or ("passed", [])."""
    found = config.stash.get(CONTRACT_KEY, None)
    if found is None:
        return None
    collected = config.stash.get(COLLECTED_KEY, {})
    ran = config.stash.get(RAN_KEY, {})
    every_file = {p.name for p in HERE.glob("test_*.py")}
    if not every_file <= set(collected.values()) or config.getoption("deselect") or config.getoption("keyword") \
            or config.getoption("markexpr"):
        return "skipped", ["only part of the sandbox suite ran"]
    if set(ran) != set(collected) or any(outcome != "passed" for outcome in ran.values()):
        return "skipped", ["a sandbox test failed or did not run"]
    missing = uncovered_operations(found.validated_ops)
    return ("failed", missing) if missing else ("passed", [])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Coverage of the contract, once the whole sandbox suite passed: every implemented operation
    answered at least once and was validated. Missing coverage fails the run (no test depends on
    running last)."""
    verdict = coverage_verdict(session.config)
    if verdict is not None and verdict[0] == "failed" and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    found = config.stash.get(CONTRACT_KEY, None)
    if found is None or not found.validated_responses:
        return
    terminalreporter.write_line(
        f"sandbox contract: {found.validated_responses} responses ({found.validated_requests} accepted request "
        f"bodies) validated over "
        f"{len(found.validated_ops)} operations; {sum(found.validated_events.values())} webhook payloads "
        f"validated over {len(found.validated_events)} event/action schemas")
    verdict = coverage_verdict(config)
    if verdict is not None:
        state, lines = verdict
        if state == "failed":
            terminalreporter.write_line(
                f"sandbox contract coverage FAILED: {len(lines)} implemented operation(s) no test exercised, so no "
                "response of theirs was checked against GitHub's description:", red=True, bold=True)
            for line in lines:
                terminalreporter.write_line(f"  - {line}", red=True)
        else:
            terminalreporter.write_line(f"sandbox contract coverage: {state}" + (f" ({lines[0]})" if lines else ""))
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
