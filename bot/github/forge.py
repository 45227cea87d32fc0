"""The Forge protocol: every GitHub operation the bot performs, in plain data.

`bot/github/client.py` implements it with PyGithub (the only module that imports it); tests use an
in-memory fake (tests/bot/fake_forge.py) and the local sandbox. Reads return the plain data of
`facts.py`; writes are made by the executor (executor.py, the PR report and replies), the queue
runner (branches and merges) and the deploy runner (deployments).
"""

from __future__ import annotations

from typing import Protocol

from mlgate.bot.github.facts import CheckRun, Permission, PullFacts, Review


class DeploymentRefused(Exception):
    """GitHub refused to create a deployment (409): a required context is not green on the SHA."""

    def __init__(
        self, environment: str, sha: str, contexts: tuple[tuple[str, str], ...] = (), message: str = ""
    ) -> None:
        super().__init__(f"deployment of {sha[:12]} to {environment} refused: {message or 'checks not green'}")
        self.environment = environment
        self.sha = sha
        self.contexts = contexts  # (context, state) pairs GitHub named as not green
        self.message = message


class Forge(Protocol):
    def pull_facts(self, repo: str, number: int) -> PullFacts:
        """A fresh snapshot of a PR: head, base, files, reviews (with commit SHAs), checks on the head."""
        ...

    def pull_reviews(self, repo: str, number: int) -> tuple[Review, ...]:
        """A PR's reviews only (with their commit SHAs): the model card's approvals need no files or checks."""
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

    def changed_paths(self, repo: str, old: str, new: str) -> tuple[str, ...] | None:
        """Paths that differ between commit `old` and its descendant `new` (renames: both names).
        None when `new` does not descend from `old` (a force-push) or GitHub lists too many files to
        be sure: then nothing carries over from `old`."""
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

    # --- deployments (bot/deploy/runner.py) -----------------------------------------------------------
    def create_deployment(
        self,
        repo: str,
        sha: str,
        environment: str,
        *,
        payload: dict[str, object],
        required_contexts: tuple[str, ...] | None,
        description: str,
    ) -> int:
        """Create a GitHub Deployment of `sha`; its id. `DeploymentRefused` when GitHub refuses it (409: a
        required context is not green on `sha`)."""
        ...

    def create_deployment_status(self, repo: str, deployment_id: int, state: str, *, description: str = "") -> int:
        ...

    # --- merge queue (bot/queue/runner.py) -------------------------------------------------------
    # Plain git-ref plumbing, the way bors-ng builds staging commits through the REST API.

    def get_branch_sha(self, repo: str, branch: str) -> str | None:
        """SHA a branch points to, or None when it does not exist (GET git/ref/heads/<branch>)."""
        ...

    def force_branch(self, repo: str, branch: str, sha: str) -> None:
        """Create `branch` at `sha`, or force it there (only for the bot's own mlgate/* branches)."""
        ...

    def fast_forward_branch(self, repo: str, branch: str, sha: str) -> bool:
        """Move `branch` to `sha` WITHOUT force; False when GitHub refuses (422: not a fast-forward)."""
        ...

    def delete_branch(self, repo: str, branch: str) -> None:
        """Delete a branch; a branch that is already gone is not an error."""
        ...

    def merge_into_branch(self, repo: str, branch: str, head_sha: str, message: str) -> tuple[str, str | None]:
        """POST /merges of `head_sha` into `branch`: ("merged", new sha), ("noop", None) when already
        contained, or ("conflict", None) on a merge conflict (409) or a missing head (404)."""
        ...

    def commit_with_tree_of(self, repo: str, tree_of: str, parent: str, message: str) -> str:
        """A new commit with the tree of commit `tree_of` and the single parent `parent` (squash)."""
        ...

    def checks_on(self, repo: str, sha: str) -> tuple[CheckRun, ...]:
        """Every check run and the latest status per context on `sha` (re-read after a restart)."""
        ...

    def merge_base(self, repo: str, base: str, head: str) -> str | None:
        """The merge-base of `head` and branch `base` (GitHub's compare); None when either is unknown."""
        ...

    def active_workflow_runs(self, repo: str, sha: str) -> tuple[int, ...]:
        """Ids of the GitHub Actions runs on `sha` that have not completed (the queue cancels them when it
        abandons that staging commit)."""
        ...

    def cancel_workflow_run(self, repo: str, run_id: int) -> bool:
        """Cancel one Actions run; False when GitHub says it cannot (409: it completed meanwhile)."""
        ...

    def close_pull(self, repo: str, number: int) -> None:
        ...

    def pull_head_branch(self, repo: str, number: int) -> tuple[str, str, str]:
        """(head branch, head SHA, head repository full name) of a PR."""
        ...

    def pull_commits(self, repo: str, number: int) -> tuple[tuple[str, str], ...]:
        """(SHA, message) of the PR's commits, oldest first (GitHub lists at most 250): merge.method rebase."""
        ...


class ForgeFactory(Protocol):
    """`factory(repo, installation_id)` → the Forge for that repository (installation None: look it up)."""

    def __call__(self, repo: str, installation_id: int | None = None, /) -> Forge: ...
