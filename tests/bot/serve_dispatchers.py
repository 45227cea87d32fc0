"""Dispatchers for `mlgate serve` started as a subprocess by the tests (`MLGATE_DISPATCHER`)."""

from __future__ import annotations

import os
import time
from typing import Any


class SlowDispatcher:
    """Handles each delivery in MLGATE_TEST_HANDLE_SECONDS (so a test can kill a worker mid-work)."""

    def __init__(self) -> None:
        self.seconds = float(os.environ.get("MLGATE_TEST_HANDLE_SECONDS", "0"))

    def handle(self, event: str, payload: dict[str, Any], delivery_id: str) -> set[tuple[str, int]]:
        time.sleep(self.seconds)
        return set()

    def evaluate(self, repo: str, number: int) -> None:
        return None

    def resync(self, repo: str) -> set[tuple[str, int]]:
        return set()


def slow(_settings: Any, _engine: Any = None) -> SlowDispatcher:
    return SlowDispatcher()
