"""The GitHub writes of the alerts: one issue per alert, labelled, edited in place, closed when resolved.

`IssueWriter` is what the keeper needs; `mlgate.bot.github.client.GitHubForge` implements it
(`create_issue`, `edit_issue`) and so does the in-memory writer of the tests.
"""

from __future__ import annotations

from typing import Protocol


class IssueWriter(Protocol):
    def create_issue(self, repo: str, title: str, body: str, labels: tuple[str, ...]) -> int:
        """Open an issue; its number."""
        ...

    def edit_issue(self, repo: str, number: int, *, title: str, body: str, state: str) -> None:
        """Set the issue's title, body and state (open or closed)."""
        ...
