"""Fixtures shared by the bot's end-to-end tests on the local GitHub sandbox."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mlgate.sandbox.harness import SandboxServer, WebhookSink


@contextmanager
def running_sandbox(data_dir: Path, users: tuple[str, ...]) -> Iterator[SandboxServer]:
    """A sandbox on a free loopback port for the duration of the block (werkzeug's request log muted)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = SandboxServer(data_dir, users=users).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def sink() -> Iterator[WebhookSink]:
    """Receives and verifies the sandbox's signed webhook deliveries."""
    s = WebhookSink().start()
    yield s
    s.stop()
