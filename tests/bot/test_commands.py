"""The slash-command parser, table-driven: spellings, Markdown contexts, typed errors, permissions, replies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.bot.commands.parse import (
    COMMAND_NAMES,
    DEFAULT_PERMISSIONS,
    MAX_COMMAND_LINES,
    BadArgument,
    Command,
    DuplicateArgument,
    MissingArgument,
    TooManyCommands,
    UnexpectedArgument,
    UnknownCommand,
    comment_permission,
    error_reply,
    help_text,
    parse_comment,
    permissions_from,
    refusal_reply,
    required_permission,
)
from mlgate.bot.github.facts import Permission


def parsed(body: str, **kw) -> list[tuple[str, dict]]:
    result = parse_comment(body, **kw)
    assert not result.errors, result.errors
    return [(c.name, dict(c.args)) for c in result.commands]


# --- accepted commands -----------------------------------------------------------------------

ACCEPTED = [
    ("/merge", [("merge", {})]),
    ("/merge p=3", [("merge", {"priority": 3})]),
    ("/merge priority=-2", [("merge", {"priority": -2})]),
    ("/merge P=7", [("merge", {"priority": 7})]),
    ("/MERGE", [("merge", {})]),
    ("/Merge.", [("merge", {})]),
    ("/cancel", [("cancel", {})]),
    ("/retry", [("retry", {})]),
    ("/try", [("try", {})]),
    ("/priority 5", [("priority", {"priority": 5})]),
    ("/priority p=5", [("priority", {"priority": 5})]),
    ("/single on", [("single", {"on": True})]),
    ("/single OFF", [("single", {"on": False})]),
    ("/single", [("single", {"on": True})]),
    ("/deploy staging", [("deploy", {"env": "staging"})]),
    ("/deploy `production`", [("deploy", {"env": "production"})]),
    ("/rollback production", [("rollback", {"env": "production"})]),
    ("/help", [("help", {})]),
    ("bors r+", [("merge", {})]),
    ("bors r+ p=2", [("merge", {"priority": 2})]),
    ("@bors r+", [("merge", {})]),
    ("bors: r-", [("cancel", {})]),
    ("Bors R+", [("merge", {})]),
    ("bors merge", [("merge", {})]),
    ("bors merge-", [("cancel", {})]),
    ("bors cancel", [("cancel", {})]),
    ("bors try", [("try", {})]),
    ("bors retry", [("retry", {})]),
    ("bors p=4", [("priority", {"priority": 4})]),
    ("bors single off", [("single", {"on": False})]),
    ("  /merge", [("merge", {})]),
    ("   /merge", [("merge", {})]),
    ("\t/merge", []),  # a tab is 4 columns: indented code
    ("/merge\r\n/single on\r\n", [("merge", {}), ("single", {"on": True})]),
    ("/merge\r/cancel", [("merge", {}), ("cancel", {})]),
    ("LGTM!\n/merge", [("merge", {})]),
    ("/merge\nthanks!", [("merge", {})]),
    ("/merge\n/merge", [("merge", {}), ("merge", {})]),
    ("/merge 1a2b3c4", [("merge", {"sha": "1a2b3c4"})]),  # approve exactly this commit (bors/homu r+ SHA)
    ("/merge 1A2B3C4D p=2", [("merge", {"sha": "1a2b3c4d", "priority": 2})]),
    ("/merge p=2 " + "f" * 40, [("merge", {"sha": "f" * 40, "priority": 2})]),
    ("bors r+ 1a2b3c4", [("merge", {"sha": "1a2b3c4"})]),
    ("/try 1a2b3c4.", [("try", {"sha": "1a2b3c4"})]),
]


@pytest.mark.parametrize(("body", "expected"), ACCEPTED, ids=[repr(b) for b, _ in ACCEPTED])
def test_accepted(body: str, expected: list) -> None:
    assert parsed(body) == expected


# --- Markdown contexts that hide commands ----------------------------------------------------

IGNORED = [
    "please /merge this",  # mid-sentence
    "I'd say /merge p=2 later",
    "`/merge`",  # inline code
    "``/merge``",
    "> /merge",  # quote
    ">/merge",
    "   > /merge",
    "> quoted reply\n/merge",  # lazy continuation: rendered inside the quote
    "> > nested\n> /merge",
    "```\n/merge\n```",
    "```bash\n/merge\n```",
    "~~~\n/merge\n~~~",
    "~~~ text info\n/merge\n~~~",
    "````\n```\n/merge\n````",  # a shorter fence does not close a longer one
    "```\n/merge",  # unclosed fence runs to the end
    "```\ncode\n    ```\n/merge\n```",  # indented 4: not a closing fence
    "    /merge",  # indented code block
    "\n    /merge",
    "text\n    /merge",  # paragraph continuation, not at the start of a line
    "- ```\n  /merge\n  ```",  # fence inside a list item
    "<!--\n/merge\n-->",
    "<!-- /merge -->",
    "- /merge",  # not at the start of the line
    "[/merge](https://example.com)",
    "/usr/bin/python crashed",  # a path, not a command word
    "/",
    "/*",
    "//merge",
    "/tmp is full",  # unknown slash-word, bot not addressed: ignored
    "Bors is slow today",  # plain "bors" prose: ignored
    "",
    "   \n\n",
]


@pytest.mark.parametrize("body", IGNORED, ids=[repr(b) for b in IGNORED])
def test_ignored(body: str) -> None:
    result = parse_comment(body)
    assert result.empty, result


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("```\n/merge\n```\n/cancel", [("cancel", {})]),
        ("> /merge\n\n/cancel", [("cancel", {})]),
        ("> quote\n# heading\n/cancel", [("cancel", {})]),
        ("~~~\n```\n~~~\n/cancel", [("cancel", {})]),
        ("```\n/merge\n```   \n/cancel", [("cancel", {})]),
        ("   ```\n/merge\n   ```\n/try", [("try", {})]),
        ("<!-- x -->\n/try", [("try", {})]),
        ("<!--\nhidden\n--> \n/try", [("try", {})]),
        ("    code\n\n/try", [("try", {})]),
        ("```not a fence`\n/try", [("try", {})]),  # backticks in the info string: a code span, not a fence
    ],
)
def test_commands_after_hidden_blocks(body: str, expected: list) -> None:
    assert parsed(body) == expected


def test_line_numbers_and_text() -> None:
    result = parse_comment("hello\r\n\r\n  /merge p=1  \r\n")
    (cmd,) = result.commands
    assert (cmd.line, cmd.text, cmd.priority, cmd.env) == (3, "/merge p=1", 1, None)


# --- typed errors ----------------------------------------------------------------------------

ERRORS = [
    ("/merge p=abc", BadArgument, {"command": "merge", "argument": "priority", "value": "abc"}),
    ("/merge p=1.5", BadArgument, {"value": "1.5"}),
    ("/merge p=99999999", BadArgument, {"value": "99999999"}),
    ("/merge p=", MissingArgument, {"command": "merge", "argument": "priority"}),
    ("/merge p=1 p=2", DuplicateArgument, {"command": "merge", "argument": "priority"}),
    ("/merge p=1 priority=2", DuplicateArgument, {"argument": "priority"}),
    ("/merge now", UnexpectedArgument, {"command": "merge", "value": "now"}),
    ("/merge rollup=never", UnexpectedArgument, {"value": "rollup=never"}),
    ("/priority", MissingArgument, {"command": "priority", "argument": "priority"}),
    ("/priority high", BadArgument, {"value": "high"}),
    ("/priority 1 2", UnexpectedArgument, {"value": "2"}),
    ("/priority 1 p=2", DuplicateArgument, {"argument": "priority"}),
    ("/single maybe", BadArgument, {"command": "single", "value": "maybe"}),
    ("/single on off", UnexpectedArgument, {"value": "off"}),
    ("/deploy", MissingArgument, {"command": "deploy", "argument": "env"}),
    ("/rollback", MissingArgument, {"command": "rollback", "argument": "env"}),
    ("/deploy prod staging", UnexpectedArgument, {"value": "staging"}),
    ("/deploy ../etc", BadArgument, {"value": "../etc"}),
    ("/cancel now", UnexpectedArgument, {"command": "cancel", "value": "now"}),
    ("/help me", UnexpectedArgument, {"command": "help"}),
    ("/try parent=abc", UnexpectedArgument, {"command": "try"}),
    ("/merge 1a2b3c", BadArgument, {"command": "merge", "argument": "commit", "value": "1a2b3c"}),  # too short
    ("/merge 1a2b3c4 5d6e7f8", DuplicateArgument, {"command": "merge", "argument": "commit"}),
    ("/merge " + "f" * 41, UnexpectedArgument, {"command": "merge"}),
    ("/try 1a2b3c4 p=2", UnexpectedArgument, {"command": "try", "value": "p=2"}),
    ("bors r+ p=x", BadArgument, {"command": "merge", "value": "x"}),
    ("@bors frobnicate", UnknownCommand, {"word": "bors frobnicate"}),
    ("bors: r=alice", UnknownCommand, {"word": "bors r=alice"}),
    ("@bors", UnknownCommand, {"word": "bors", "suggestion": "help"}),
]


@pytest.mark.parametrize(("body", "kind", "fields"), ERRORS, ids=[b for b, _, _ in ERRORS])
def test_errors(body: str, kind: type, fields: dict) -> None:
    result = parse_comment(body)
    assert result.commands == ()
    (error,) = result.errors
    assert type(error) is kind
    assert error.line == 1 and error.text == body.strip()
    for key, value in fields.items():
        assert getattr(error, key) == value
    assert error.message  # every error explains itself


@pytest.mark.parametrize(
    ("body", "kw", "reported"),
    [
        ("/foo", {}, False),  # not addressed: a pasted slash-word is ignored
        ("/foo\n/merge", {}, True),  # a known command addresses the bot
        ("/foo\n/merge p=x", {}, True),  # so does a known command with an error
        ("/foo\n@mlgate please", {"bot_login": "mlgate[bot]"}, True),
        ("/foo\n@mlgate[bot] please", {"bot_login": "mlgate[bot]"}, True),
        ("/foo\n`@mlgate` in code", {"bot_login": "mlgate[bot]"}, False),
        ("/foo\n> @mlgate quoted", {"bot_login": "mlgate[bot]"}, False),
        ("/foo\nmail me@mlgate.org", {"bot_login": "mlgate"}, False),
        ("/foo\n@mlgate-other", {"bot_login": "mlgate"}, False),
        ("/foo\n@bors: r+", {}, True),
        ("bors frobnicate", {}, False),  # plain bors + unknown verb: prose
        ("bors frobnicate\n/merge", {}, True),
    ],
)
def test_unknown_rule(body: str, kw: dict, reported: bool) -> None:
    result = parse_comment(body, **kw)
    unknown = [e for e in result.errors if isinstance(e, UnknownCommand)]
    assert bool(unknown) is reported, result


def test_unknown_suggests_a_close_command() -> None:
    result = parse_comment("/merg\n/cancel")
    (error,) = result.errors
    assert isinstance(error, UnknownCommand) and error.suggestion == "merge"
    assert "did you mean `/merge`" in error.message


def test_errors_and_commands_keep_line_order() -> None:
    result = parse_comment("/merge\n/bogus\n/priority x")
    assert [c.name for c in result.commands] == ["merge"]
    assert [(type(e).__name__, e.line) for e in result.errors] == [("UnknownCommand", 2), ("BadArgument", 3)]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("/deploy Staging", ("deploy", "staging")),  # matched case-insensitively, canonical name returned
        ("/rollback production", ("rollback", "production")),
    ],
)
def test_environments_validated_when_given(body: str, expected: tuple) -> None:
    (cmd,) = parse_comment(body, environments=["staging", "production"]).commands
    assert (cmd.name, cmd.env) == expected


def test_unknown_environment_lists_the_configured_ones() -> None:
    (error,) = parse_comment("/deploy prod", environments=["staging", "production"]).errors
    assert isinstance(error, BadArgument)
    assert "one of: production, staging" in error.message


@given(st.text(max_size=300))
def test_parser_never_raises(body: str) -> None:
    result = parse_comment(body, bot_login="mlgate[bot]", environments=["prod"])
    for cmd in result.commands:
        assert cmd.name in COMMAND_NAMES


@given(st.sampled_from(["```", "~~~", "> ", "    ", "`"]), st.sampled_from(["/merge", "bors r+", "/cancel"]))
def test_hidden_contexts_hide_every_command(opener: str, command: str) -> None:
    body = {"```": f"```\n{command}\n```", "~~~": f"~~~\n{command}\n~~~", "`": f"`{command}`"}.get(
        opener, f"{opener}{command}"
    )
    assert parse_comment(body).empty


# --- permissions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "level"),
    [(n, Permission.WRITE) for n in COMMAND_NAMES if n not in ("help", "status", "pause", "resume")]
    + [("help", Permission.READ), ("status", Permission.READ), ("pause", Permission.MAINTAIN),
       ("resume", Permission.MAINTAIN)],
)
def test_default_permissions(name: str, level: Permission) -> None:
    assert required_permission(Command(name)) == level


def test_permissions_configurable() -> None:
    table = permissions_from({"/deploy": "maintain", "try": "triage"})
    assert required_permission(Command("deploy"), table) == Permission.MAINTAIN
    assert required_permission(Command("try"), table) == Permission.TRIAGE
    assert required_permission(Command("merge"), table) == Permission.WRITE
    assert DEFAULT_PERMISSIONS["deploy"] == Permission.WRITE  # defaults untouched


@pytest.mark.parametrize(
    ("mapping", "message"),
    [({"deploi": "write"}, "unknown command 'deploi'"), ({"merge": "owner"}, "unknown permission 'owner'")],
)
def test_bad_permission_mapping(mapping: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        permissions_from(mapping)


def test_comment_needs_its_highest_permission() -> None:
    table = permissions_from({"deploy": "admin"})
    commands = parse_comment("/help\n/merge\n/deploy prod").commands
    assert comment_permission(commands, table) == Permission.ADMIN
    assert comment_permission(parse_comment("/help").commands) == Permission.READ
    assert comment_permission(()) == Permission.NONE


# --- replies ---------------------------------------------------------------------------------


def test_help_lists_every_command_with_its_permission() -> None:
    text = help_text(permissions_from({"deploy": "admin"}))
    for name in COMMAND_NAMES:
        assert f"`/{name}" in text
    assert "| `/deploy ENV` |  | admin |" in text
    assert "| `/help` | `bors help` | read |" in text


def test_error_reply_escapes_user_text_and_includes_help() -> None:
    errors = parse_comment("/merge p=<img src=x>\n/single [x](http://evil)\n/deploy @everyone").errors
    reply = error_reply(errors)
    assert "<img" not in reply and "@everyone" not in reply and "[x](http" not in reply
    assert "“&lt;img”" in reply and "“\\[x\\](http\u200b://evil)”" in reply
    assert "line 1:" in reply and "line 2:" in reply
    assert "Nothing in this comment was run." in reply
    assert "mlgate commands" in reply


def test_error_reply_is_short_for_many_errors() -> None:
    errors = parse_comment("\n".join(["/merge p=x"] * 30)).errors
    reply = error_reply(errors)
    assert reply.count("\n- line ") == 10 and "and 20 more" in reply


def test_refusal_reply_names_needed_permission() -> None:
    text = refusal_reply("alice", Permission.WRITE, Permission.READ, parse_comment("/merge\n/merge p=2").commands)
    assert "`/merge`" in text and text.count("/merge") == 1
    assert "**write**" in text and "**read**" in text and "@alice" in text


def test_too_many_command_lines_stop_parsing() -> None:
    body = "\n".join(["/retry"] * (MAX_COMMAND_LINES + 5))
    result = parse_comment(body)
    assert len(result.commands) == MAX_COMMAND_LINES
    (error,) = result.errors
    assert isinstance(error, TooManyCommands) and error.line == MAX_COMMAND_LINES + 1
    assert f"nothing after line {MAX_COMMAND_LINES}" in error.message


def test_default_permissions_are_read_only() -> None:
    with pytest.raises(TypeError):
        DEFAULT_PERMISSIONS["merge"] = Permission.READ  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "word", "suggestion"),
    [
        ("/merg", "/merg", "merge"),  # a typo alone in its comment is still answered
        ("/mrege", "/mrege", "merge"),
        ("bors r++", "bors r++", "merge"),  # plain bors + a near verb: meant for the bot
        ("/stauts", "/stauts", "status"),
        ("/cancle please", "/cancle", "cancel"),
    ],
)
def test_a_near_miss_of_a_known_command_is_answered_with_the_nearest(body: str, word: str, suggestion: str) -> None:
    (error,) = parse_comment(body).errors
    assert isinstance(error, UnknownCommand)
    assert (error.word, error.suggestion) == (word, suggestion)
    assert f"did you mean `/{suggestion}`" in error.message


def test_status_is_a_read_command_without_arguments() -> None:
    (cmd,) = parse_comment("/status").commands
    assert cmd.name == "status"
    assert parse_comment("bors status").commands[0].name == "status"
    assert required_permission(cmd).value == "read"
    assert isinstance(parse_comment("/status now").errors[0], UnexpectedArgument)
