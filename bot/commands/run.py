"""Answering a comment's commands: gather the facts, decide (plan.py), hand back what to do.

`answer_commands` reads, in this order and only as far as the decision needs: the commenter's
permission; for `/merge`, `/try` and `/retry` the PR, the heads the bot saw before, the base
config and the PR's gates; then runs `/deploy` and `/rollback` (their replies say what GitHub
did). It returns the reaction and reply (for the executor) and the merge-queue events (for the
queue runner), which the Dispatcher applies in that order. Which config decides the permissions:
`commands.permissions` of the DEFAULT branch's config (trusted; never the PR head).
"""

from __future__ import annotations

from typing import Protocol

from mlgate.bot.commands import plan
from mlgate.bot.commands.approval import Approval
from mlgate.bot.commands.heads import HeadLog
from mlgate.bot.commands.parse import Command, ParseResult, comment_permission, permissions_from
from mlgate.bot.deploy.ledger import DeployLedger
from mlgate.bot.deploy.runner import handle_deploy_command
from mlgate.bot.github.effects import Action
from mlgate.bot.github.facts import Permission, PullFacts
from mlgate.bot.github.forge import Forge
from mlgate.bot.github.payloads import PullComment
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.queue.model import Event
from mlgate.bot.queue.runner import DEFAULT_CONFIG_BRANCH, QueueRunner


class CommandHost(Protocol):
    """What answering commands needs from the Dispatcher (`mlgate.bot.intake.handlers.Handlers`)."""

    queue: QueueRunner | None  # None: queue commands answer that the queue is not available
    deploy_store: DeployLedger | None  # None: /deploy and /rollback answer that deployments are not available
    heads: HeadLog

    def repo_config(self, forge: Forge, repo: str, branch: str) -> RepoConfig: ...

    def saw_read(self, facts: PullFacts) -> None: ...

    def pull_gates(self, forge: Forge, facts: PullFacts) -> plan.PullGatesVerdict: ...

    def queue_note(self, repo: str, number: int) -> str | None: ...  # where the PR stands; None: no queue


def command_permissions(host: CommandHost, forge: Forge, repo: str, branch: str | None
                        ) -> dict[str, Permission] | None:
    """Per-command permissions from `commands.permissions` of the default branch's config.

    An issue_comment payload does not carry the PR's base; the default branch's config is a
    trusted source (never the PR head) and saves fetching the PR for every comment. Without a
    valid config the defaults apply (write for queue/deploy commands, read for /help).
    """
    if not branch:
        return None
    config = host.repo_config(forge, repo, branch)
    if not config.valid or config.effective is None:
        return None
    return permissions_from(config.effective.commands.permissions)


def answer_commands(host: CommandHost, forge: Forge, comment: PullComment, parsed: ParseResult,
                    perms: dict[str, Permission] | None) -> tuple[list[Action], list[Event]]:
    """(the reaction and reply to post, the queue events to feed after them) for a comment's commands.

    `/merge`, `/cancel`, `/retry` and `/try` need no reply text of their own: the queue answers in its
    comments; a command voided (the head moved since the comment) or refused (a fork) is answered here,
    and so are `/priority`, `/single` and `/status` (which says where the PR stands, before this
    comment's own queue commands are applied).
    """
    repo, number, cid = comment.repo, comment.number, comment.comment_id
    if parsed.errors:
        return plan.parse_errors(repo, number, cid, parsed.errors, perms), []
    needed = comment_permission(parsed.commands, perms)
    have = forge.permission(repo, comment.user)
    if not have.at_least(needed):
        return plan.permission_refused(repo, number, cid, comment.user, needed, have, parsed.commands), []
    answers: list[str] = []
    events: list[Event] = []
    voided: set[str] = set()
    queued = [c for c in parsed.commands if c.name in plan.QUEUE_COMMANDS]
    if host.queue is not None and queued:
        events, refusals, voided = _queue_commands(host, forge, comment, queued)
        answers.extend(refusals)
    for command in parsed.commands:
        if command.name in plan.QUEUE_ANSWERED and host.queue is not None:
            continue  # the queue's comment answers it
        if command.name in plan.DEPLOY_COMMANDS and host.deploy_store is not None:
            answers.extend(_deploy(host, forge, comment, command, host.deploy_store))
            continue
        answers.append(plan.answer(command, host.queue_note(repo, number)))
    return plan.outcome(repo, number, cid, parsed.commands, answers, voided), events


def _queue_commands(host: CommandHost, forge: Forge, comment: PullComment, commands: list[Command]
                    ) -> tuple[list[Event], list[str], set[str]]:
    """The queue events of the queue commands, the replies of those void or refused, and their names."""
    facts: PullFacts | None = None
    gates: plan.PullGatesVerdict = ("pending", ())
    verdicts: dict[str, Approval] = {}
    refusals: list[str] = []
    if any(c.name in plan.APPROVING for c in commands):
        facts = forge.pull_facts(comment.repo, comment.number)
        seen = host.heads.seen(comment.repo, comment.number)  # before this read is recorded
        host.saw_read(facts)
        config = host.repo_config(forge, comment.repo, facts.base_ref)
        verdicts, refusals = plan.approvals(commands, seen, comment.created_at, facts, config)
        if any(v.ok for v in verdicts.values()):
            gates = host.pull_gates(forge, facts)
    events = plan.queue_events(commands, comment.number, comment.user, facts, verdicts, gates)
    return events, refusals, {name for name, verdict in verdicts.items() if not verdict.ok}


def _deploy(host: CommandHost, forge: Forge, comment: PullComment, command: Command, ledger: DeployLedger
            ) -> list[str]:
    """Run `/deploy` or `/rollback` with the config of the branch that configures the queue (the default
    branch); `/deploy` approves the version that had landed last by the comment's time."""
    branch = DEFAULT_CONFIG_BRANCH
    if host.queue is not None:
        branch = host.queue.store.load(comment.repo).config_branch or branch
    config = host.repo_config(forge, comment.repo, branch)
    return list(handle_deploy_command(forge, comment.repo, comment.number, command, config, ledger,
                                      as_of=comment.created_at, requested_by=comment.user))
