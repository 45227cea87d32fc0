"""The queue's pause and hold commands: parsed (bot/commands/parse.py), permission-checked and turned
into queue events (bot/commands/plan.py). Pure."""

from __future__ import annotations

import pytest

from mlgate.bot.commands.parse import (
    BadArgument,
    Command,
    MissingArgument,
    UnexpectedArgument,
    comment_permission,
    help_text,
    parse_comment,
    refusal_reply,
)
from mlgate.bot.commands.plan import queue_events
from mlgate.bot.github.facts import Permission
from mlgate.bot.queue.model import HoldChanged, PauseChanged


@pytest.mark.parametrize(("body", "name", "args"), [
    ("/hold", "hold", ()),
    ("/UNHOLD", "unhold", ()),
    ("/pause main", "pause", (("base", "main"), ("reason", ""))),
    ("/pause release/2.x deploy freeze until 18:00", "pause",
     (("base", "release/2.x"), ("reason", "deploy freeze until 18:00"))),
    ("/resume main", "resume", (("base", "main"),)),
])
def test_pause_and_hold_commands_parse(body: str, name: str, args: tuple) -> None:
    result = parse_comment(body)
    assert not result.errors
    assert [(c.name, c.args) for c in result.commands] == [(name, args)]


@pytest.mark.parametrize(("body", "kind"), [
    ("/pause", MissingArgument),
    ("/resume", MissingArgument),
    ("/resume main now", UnexpectedArgument),
    ("/pause ../main", BadArgument),
    ("/pause main/ x", BadArgument),
    ("/hold please", UnexpectedArgument),
    ("/pause main " + "x" * 300, BadArgument),
])
def test_bad_pause_and_hold_commands_are_errors(body: str, kind: type) -> None:
    result = parse_comment(body)
    assert not result.commands and [type(e) for e in result.errors] == [kind]


def test_pause_needs_maintain_and_the_refusal_says_so() -> None:
    commands = parse_comment("/pause main incident").commands
    assert comment_permission(commands) == Permission.MAINTAIN
    assert comment_permission(parse_comment("/hold").commands) == Permission.WRITE
    reply = refusal_reply("bob", Permission.MAINTAIN, Permission.WRITE, commands)
    assert "`/pause` needs **maintain**" in reply and "you have **write**" in reply
    text = help_text()
    assert "| `/pause BASE [reason]` |  | maintain |" in text and "| `/hold` |  | write |" in text


def test_the_commands_become_queue_events() -> None:
    commands = parse_comment("/hold\n/unhold\n/pause main incident 42\n/resume main").commands
    events = queue_events(commands, 7, "maria", None, {}, ("pending", ()))
    assert events == [HoldChanged(7, True, "maria"), HoldChanged(7, False, "maria"),
                      PauseChanged("main", True, "maria", "incident 42", 7),
                      PauseChanged("main", False, "maria", "", 7)]
    assert queue_events((Command("hold"),), 3, "bob", None, {}, ("pending", ())) == [HoldChanged(3, True, "bob")]
