"""What the commands of one comment do, decided from facts already read. Pure.

`commands/run.py` reads what a decision needs (the commenter's permission, the PR, the heads the
bot saw, the base config, the PR's gates) and calls these; they return the reaction and reply to
post and the merge-queue events to feed. Texts are Markdown with user input escaped.

- A comment with a parse error runs nothing; a commenter without the permission the strictest
  command needs runs nothing (`parse.comment_permission`).
- `/merge`, `/try` and `/retry` build the PR into a branch of this repository: they approve the
  head as of the comment (approval.py) and refuse forks unless `merge.allow_forks: true`.
- Every accepted command is answered in words: `/merge`, `/cancel`, `/retry` and `/try` by the merge
  queue's comment, the others by the reply here (`/priority` and `/single` say what changed, `/status`
  where the PR stands). A comment whose every command was void or refused gets a confused reaction;
  +1 only acknowledges a comment nothing else answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from mlgate.bot.commands.approval import Approval, HeadSeen, approve
from mlgate.bot.commands.parse import Command, ParseError, error_reply, help_text, refusal_reply
from mlgate.bot.github.effects import Action, React, Reply
from mlgate.bot.github.facts import Permission, PullFacts
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.queue.model import (
    CancelRequested,
    Event,
    HoldChanged,
    MergeRequested,
    PauseChanged,
    PriorityChanged,
    RetryRequested,
    SingleChanged,
    TryRequested,
)
from mlgate.checks.report import md
from mlgate.names import SUMMARY_CHECK, reply_marker

QUEUE_COMMANDS = ("merge", "cancel", "retry", "try", "priority", "single", "hold", "unhold", "pause", "resume")
# the merge queue's own comment is their reply
QUEUE_ANSWERED = ("merge", "cancel", "retry", "try", "hold", "unhold", "pause", "resume")
APPROVING = ("merge", "retry", "try")  # commands that build the PR's head into this repository
DEPLOY_COMMANDS = ("deploy", "rollback")
FORK_REASON = ("mlgate does not build pull requests from forks into this repository unless "
               "`merge.allow_forks: true`, because staging branches in the base repository run `on: push` "
               "workflows with the base repository's secrets")

PullGatesVerdict = tuple[str, tuple[str, ...]]  # (success | pending | failure, one phrase per gate in the way)


def refused(repo: str, number: int, comment_id: int, body: str) -> list[Action]:
    """A confused reaction and a reply saying why nothing ran."""
    return [React(repo, comment_id, "confused"), Reply(repo, number, f"{reply_marker(comment_id)}\n{body}")]


def parse_errors(repo: str, number: int, comment_id: int, errors: Sequence[ParseError],
                 perms: Mapping[str, Permission] | None) -> list[Action]:
    return refused(repo, number, comment_id, error_reply(errors, perms))


def permission_refused(repo: str, number: int, comment_id: int, user: str, needed: Permission, have: Permission,
                       commands: Sequence[Command]) -> list[Action]:
    return refused(repo, number, comment_id, refusal_reply(user, needed, have, commands))


def fork_refusal(facts: PullFacts, config: RepoConfig) -> str | None:
    """Why this PR may not be built into the base repository (None: it may): a head in another
    repository (a fork, or a deleted one) is refused unless the base config sets `merge.allow_forks`."""
    if facts.head_repo and facts.head_repo.lower() == facts.repo.lower():
        return None
    if config.valid and config.effective.merge.allow_forks:
        return None
    where = f"the fork {md(facts.head_repo)}" if facts.head_repo else "a repository that no longer exists"
    return f"refused: this PR comes from {where}. {FORK_REASON}; nothing was done."


def approvals(commands: Iterable[Command], seen: Sequence[HeadSeen], created_at: float | None, facts: PullFacts,
              config: RepoConfig) -> tuple[dict[str, Approval], list[str]]:
    """What each approving command approves (by command name), and the replies of those that approve nothing.

    `seen`: the PR's heads as the bot saw them before this comment was handled; `facts`: the PR now."""
    fork = fork_refusal(facts, config)
    verdicts: dict[str, Approval] = {}
    refusals: list[str] = []
    for c in commands:
        if c.name not in APPROVING:
            continue
        verdict = approve(c.name, seen, created_at, facts.head_sha, c.sha)
        if fork:
            verdict = Approval(None, f"`/{c.name}`: {fork}")
        verdicts[c.name] = verdict
        if not verdict.ok:
            refusals.append(verdict.reason)
    return verdicts, list(dict.fromkeys(refusals))


def queue_events(commands: Iterable[Command], number: int, user: str, facts: PullFacts | None,
                 verdicts: Mapping[str, Approval], gates: PullGatesVerdict) -> list[Event]:
    """The merge-queue events of a comment's queue commands; approving commands only with their approval."""
    events: list[Event] = []
    for c in commands:
        approved = verdicts.get(c.name)
        if c.name in APPROVING and (facts is None or approved is None or not approved.ok):
            continue
        if c.name == "merge" and facts is not None:
            events.append(MergeRequested(number, facts.base_ref, facts.head_sha, user, c.priority, *gates))
        elif c.name == "retry" and facts is not None:
            events.append(RetryRequested(number, user, facts.head_sha, facts.base_ref, *gates))
        elif c.name == "try" and facts is not None:
            events.append(TryRequested(number, facts.base_ref, facts.head_sha, user))
        elif c.name == "cancel":
            events.append(CancelRequested(number, user))
        elif c.name == "priority" and c.priority is not None:
            events.append(PriorityChanged(number, c.priority, user))
        elif c.name == "single":
            events.append(SingleChanged(number, bool(c.arg("on", True)), user))
        elif c.name in ("hold", "unhold"):
            events.append(HoldChanged(number, c.name == "hold", user))
        elif c.name in ("pause", "resume"):
            events.append(PauseChanged(str(c.arg("base", "")), c.name == "pause", user, str(c.arg("reason", "")),
                                       number))
    return events


def answer(command: Command, status_note: str | None = None) -> str:
    """The reply to an accepted command the merge queue does not answer itself: /help, /status
    (`status_note`: where the PR stands, messages.status_text), /priority and /single, and the queue
    and deployment commands on a bot that runs without them (no database); Markdown, no user text."""
    if command.name == "help":
        return help_text()
    if command.name == "status":
        return status_note or (
            "`/status`: the merge queue is not available on this bot (it runs without a database); the report "
            f"comment and the `{SUMMARY_CHECK}` check say what blocks this PR.")
    if command.name in QUEUE_COMMANDS and status_note is None:
        return (
            f"`/{command.name}`: the merge queue is not available on this bot (it runs without a database), so "
            f"nothing was queued or changed. Merge with GitHub's button once the `{SUMMARY_CHECK}` check is green."
        )
    if command.name == "priority":
        return (f"`/priority`: priority set to {command.priority} (higher is tried first; default 0). "
                "The report comment shows this PR's place in the merge queue.")
    if command.name == "single":
        if command.arg("on", True):
            return ("`/single on`: this PR will be tested alone, in a batch of its own; a batch it is in now "
                    "is rebuilt without it.")
        return "`/single off`: this PR may share a batch with other PRs again."
    if command.name in DEPLOY_COMMANDS:
        return (f"`/{command.name}`: deployments are not available on this bot (it runs without a database), so "
                "nothing was deployed.")
    return f"`/{md(command.name)}`: not available."


def outcome(repo: str, number: int, comment_id: int, commands: Sequence[Command], answers: Sequence[str],
            voided: Iterable[str]) -> list[Action]:
    """The reaction and the reply, if any: confused when every command was void or refused; +1 only
    when no reply answers the comment (neither this one nor the merge queue's, `QUEUE_ANSWERED`)."""
    void = set(voided)
    nothing_ran = all(c.name in void for c in commands)
    answered = bool(answers) or any(c.name in QUEUE_ANSWERED and c.name not in void for c in commands)
    actions: list[Action] = []
    if nothing_ran:
        actions.append(React(repo, comment_id, "confused"))
    elif not answered:
        actions.append(React(repo, comment_id, "+1"))
    if answers:
        actions.append(Reply(repo, number, "\n\n".join([reply_marker(comment_id), *dict.fromkeys(answers)])))
    return actions
