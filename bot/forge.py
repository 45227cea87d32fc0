"""The Forge protocol: every GitHub operation the bot performs, in plain data.

`bot/github.py` implements it with PyGithub (the only module that imports it); tests use an
in-memory fake. Queue and deployment operations join when the merge queue does.
"""

from __future__ import annotations

from typing import Protocol

from bot.facts import Permission, PullFacts


class Forge(Protocol):
    def pull_facts(self, repo: str, number: int) -> PullFacts:
        """A fresh snapshot of a PR: head, base, files, reviews (with commit SHAs), checks on the head."""
        ...

    def open_pull_numbers(self, repo: str) -> list[int]:
        """Numbers of the open PRs (the resync walks these)."""
        ...

    def read_file(self, repo: str, path: str, ref: str) -> tuple[str, str] | None:
        """(text, blob SHA) of a file at a ref, or None when it does not exist."""
        ...

    def permission(self, repo: str, user: str) -> Permission:
        ...

    def team_members(self, org: str, team_slug: str) -> tuple[str, ...]:
        ...

    def find_comment(self, repo: str, number: int, marker: str) -> tuple[int, str] | None:
        """(id, body) of the bot's own comment containing `marker`, if any."""
        ...

    def create_comment(self, repo: str, number: int, body: str) -> int:
        ...

    def update_comment(self, repo: str, comment_id: int, body: str) -> None:
        ...

    def add_reaction(self, repo: str, comment_id: int, content: str) -> None:
        ...

    def set_check(
        self,
        repo: str,
        sha: str,
        name: str,
        *,
        status: str,
        conclusion: str | None,
        title: str,
        summary: str,
        text: str | None = None,
    ) -> int:
        """Create the check run, or update the one this app already has with that name on that SHA."""
        ...

    def request_reviewers(self, repo: str, number: int, users: tuple[str, ...], teams: tuple[str, ...]) -> None:
        ...
