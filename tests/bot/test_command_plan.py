"""What a comment's commands do, decided from facts already read (bot/commands/plan.py): pure."""

from __future__ import annotations

import dataclasses

from mlgate.bot.commands.approval import HeadSeen
from mlgate.bot.commands.parse import Command, parse_comment
from mlgate.bot.commands.plan import answer, approvals, fork_refusal, outcome, queue_events
from mlgate.bot.github.effects import React, Reply
from mlgate.bot.github.facts import PullFacts
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.queue.model import CancelRequested, MergeRequested, TryRequested
from mlgate.checks.config.models import parse_config
from mlgate.names import reply_marker

HEAD, OLD = "a" * 40, "b" * 40
SAME_REPO = PullFacts(repo="acme/ml", number=4, title="t", author="carol", state="open", merged=False, draft=False,
                      head_sha=HEAD, head_ref="tune", head_repo="acme/ml", base_ref="main", base_sha="c" * 40)
FORK = dataclasses.replace(SAME_REPO, head_repo="mallory/ml")
CONFIG = RepoConfig("file", "main", blob_sha="1" * 40, config=parse_config("merge: {required_checks: [tests]}\n"))
FORKS_OK = RepoConfig("file", "main", blob_sha="2" * 40,
                      config=parse_config("merge: {required_checks: [tests], allow_forks: true}\n"))
SEEN = [HeadSeen(HEAD, 1000.0, "opened")]


def commands(body: str) -> tuple[Command, ...]:
    return parse_comment(body).commands


def test_forks_are_refused_unless_the_base_config_allows_them() -> None:
    assert fork_refusal(SAME_REPO, CONFIG) is None
    refusal = fork_refusal(FORK, CONFIG)
    assert refusal is not None and "mallory/ml" in refusal and "allow_forks" in refusal
    assert fork_refusal(FORK, FORKS_OK) is None
    gone = dataclasses.replace(SAME_REPO, head_repo="")
    assert "no longer exists" in (fork_refusal(gone, CONFIG) or "")


def test_approving_commands_approve_the_head_as_of_the_comment() -> None:
    verdicts, refusals = approvals(commands("/merge\n/try"), SEEN, 1001.0, SAME_REPO, CONFIG)
    assert verdicts["merge"].sha == HEAD and verdicts["try"].sha == HEAD and refusals == []
    moved = [HeadSeen(OLD, 1000.0, "opened"), HeadSeen(HEAD, 1002.0, "synchronize")]
    verdicts, refusals = approvals(commands("/merge"), moved, 1001.0, SAME_REPO, CONFIG)
    assert not verdicts["merge"].ok and len(refusals) == 1 and OLD[:7] in refusals[0]
    verdicts, refusals = approvals(commands("/merge\n/cancel"), SEEN, 1001.0, FORK, CONFIG)
    assert set(verdicts) == {"merge"} and refusals[0].startswith("`/merge`: refused")


def test_queue_events_carry_the_approved_head_and_the_gates_and_skip_what_was_refused() -> None:
    cmds = commands("/merge p=3\n/try\n/cancel")
    verdicts, _ = approvals(cmds, SEEN, 1001.0, SAME_REPO, CONFIG)
    events = queue_events(cmds, 4, "alice", SAME_REPO, verdicts, ("pending", ("review: fail",)))
    assert events == [MergeRequested(4, "main", HEAD, "alice", 3, "pending", ("review: fail",)),
                      TryRequested(4, "main", HEAD, "alice"), CancelRequested(4, "alice")]
    refused, _ = approvals(cmds, SEEN, 1001.0, FORK, CONFIG)
    assert queue_events(cmds, 4, "alice", FORK, refused, ("pending", ())) == [CancelRequested(4, "alice")]


def test_the_reaction_is_confused_only_when_every_command_was_void() -> None:
    cmds = commands("/merge\n/cancel")
    assert outcome("acme/ml", 4, 55, cmds, [], {"merge"}) == []  # the queue's comment answers /cancel
    assert outcome("acme/ml", 4, 55, commands("/priority 2"), [], ()) == [React("acme/ml", 55, "+1")]
    voided = outcome("acme/ml", 4, 55, commands("/merge"), ["why", "why"], {"merge"})
    assert voided == [React("acme/ml", 55, "confused"), Reply("acme/ml", 4, f"{reply_marker(55)}\n\nwhy")]


def test_commands_of_features_this_bot_runs_without_say_so() -> None:
    (merge,) = commands("/merge")
    assert "merge queue is not available on this bot" in answer(merge)
    (deploy,) = commands("/deploy staging")
    assert "deployments are not available on this bot" in answer(deploy)
    (help_,) = commands("/help")
    assert "/merge" in answer(help_)
