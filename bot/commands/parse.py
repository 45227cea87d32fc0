"""Slash-commands in PR comments: a pure, Markdown-aware parser with typed errors, and its replies.

What counts as a command (the rule users can predict: *a command is a line you can see as plain
text at the start of a line*):

- One command per line, at the start of the line (up to 3 spaces of indentation), in any case:
  ``/merge p=2``, ``/MERGE``, ``bors r+ p=2``, ``@bors: r-``. Trailing ``.,!?;:`` after the
  command word is tolerated (``/merge.``); any further word is an argument, so prose after a
  command is an error (``/cancel now`` → UnexpectedArgument) rather than silently ignored.
- Ignored: fenced code blocks (``` and ~~~, any info string, unclosed fences run to the end,
  fences inside list items too), indented code (4+ columns of indentation, as Markdown renders
  it), block quotes (``>`` lines and the lazy continuation lines Markdown puts inside the quote),
  HTML comments, and a command word inside an inline code span (```/merge``` is an example, not an
  order). A mention mid-sentence (``please /merge``) is not a command. Backticks around an
  *argument* of a real command are formatting and are removed (``/deploy `prod```).
- Unknown slash-words: pasted paths and unrelated slash-commands must not make the bot answer
  every comment. ``/word`` at the start of a line that is not ours is reported as UnknownCommand
  only when it is a near miss of a known command (``/merg``, ``bors r++``: difflib finds the
  nearest, which the reply names), or when the same comment contains a known command (valid or
  not), an explicit ``@bors`` / ``bors:`` line, or a mention of the bot (``bot_login``);
  otherwise it is ignored. A word with a
  slash inside (``/usr/bin``) is never command-like. After an explicit ``@bors``/``bors:`` prefix
  an unknown verb is always an error (the bot was addressed); a plain ``bors <word>`` line follows
  the slash rule, so prose such as "Bors is slow today" gets no reply.

Adding a command: its name in ``COMMAND_NAMES``, its permission in ``DEFAULT_PERMISSIONS``, a bors
verb in ``_BORS_VERBS`` if any, an argument parser in ``_ARGUMENT_PARSERS`` if it takes arguments,
and a help row in ``_HELP_ROWS``; everything else (suggestions, help, permissions) follows.

Canonical command names (``Command.name``): merge, cancel, retry, try, priority, single, deploy,
rollback, status, help, hold, unhold, pause, resume. Arguments (``Command.args``, typed): merge → sha
(str, optional: 7 to 40 hex characters, the commit approved, as bors/homu ``r+ SHA``) and
priority (int, optional); try → sha (optional); priority → priority (int); single → on (bool;
bare ``/single`` means on);
deploy/rollback → env (str); pause → base (str) and reason (str, maybe empty); resume → base.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

from mlgate.bot.github.facts import Permission
from mlgate.checks.report import md

COMMAND_NAMES = ("merge", "cancel", "retry", "try", "priority", "single", "deploy", "rollback", "status", "help",
                 "hold", "unhold", "pause", "resume")

DEFAULT_PERMISSIONS: Mapping[str, Permission] = MappingProxyType(
    {
        "merge": Permission.WRITE,
        "cancel": Permission.WRITE,
        "retry": Permission.WRITE,
        "try": Permission.WRITE,
        "priority": Permission.WRITE,
        "single": Permission.WRITE,
        "deploy": Permission.WRITE,
        "rollback": Permission.WRITE,
        "status": Permission.READ,
        "help": Permission.READ,
        "hold": Permission.WRITE,
        "unhold": Permission.WRITE,
        "pause": Permission.MAINTAIN,  # stops the queue of a whole branch: homu's tree-closed
        "resume": Permission.MAINTAIN,
    }
)

PRIORITY_LIMIT = 1_000_000  # |p| beyond this is a typo, not an intention
MAX_COMMAND_LINES = 50  # command-like lines read per comment; more is abuse or a paste, not intent

# bors verbs (after the `bors` prefix) → canonical command; `p=N` alone means /priority N (bors-ng)
_BORS_VERBS = {
    "r+": "merge",
    "merge": "merge",
    "r-": "cancel",
    "merge-": "cancel",
    "cancel": "cancel",
    "try": "try",
    "retry": "retry",
    "single": "single",
    "priority": "priority",
    "help": "help",
    "deploy": "deploy",
    "rollback": "rollback",
    "status": "status",
}
_BORS_PREFIX = re.compile(r"^@?bors:?(?:\s+|$)", re.IGNORECASE)
_SLASH_WORD = re.compile(r"^/(\S+)")
_WORD = re.compile(r"^[a-z][a-z0-9_-]*$")
_TRAILING_PUNCT = ".,!?;:"
_INT = re.compile(r"^[+-]?\d{1,9}$")
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")
_ENV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_FENCE = re.compile(r"^(`{3,}|~{3,})(.*)$")
_LIST_MARKER = re.compile(r"^(?:[-+*]|\d{1,9}[.)])(?:[ \t]+|$)")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_ATX_HEADING = re.compile(r"^#{1,6}(?:\s|$)")
_THEMATIC_BREAK = re.compile(r"^(?:(?:-[ \t]*){3,}|(?:\*[ \t]*){3,}|(?:_[ \t]*){3,})$")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Command:
    """One accepted command. `args` holds typed values as (key, value) pairs; use `arg()`.

    `line` is 1-based in the comment body; `text` is that line as written (stripped), so a reply
    can quote it (escape it: it is user text).
    """

    name: str
    args: tuple[tuple[str, object], ...] = ()
    line: int = 0
    text: str = ""

    def arg(self, key: str, default: object = None) -> object:
        return dict(self.args).get(key, default)

    @property
    def priority(self) -> int | None:
        value = self.arg("priority")
        return value if isinstance(value, int) else None

    @property
    def sha(self) -> str | None:
        """The commit a `/merge SHA` or `/try SHA` names (lower case), if any."""
        value = self.arg("sha")
        return value.lower() if isinstance(value, str) else None

    @property
    def env(self) -> str | None:
        value = self.arg("env")
        return value if isinstance(value, str) else None


@dataclass(frozen=True, kw_only=True)
class ParseError:
    """A line that addressed the bot but could not be understood. Subclasses say why."""

    line: int  # 1-based line in the comment body
    text: str  # the line as written (stripped): user text, escape before echoing

    @property
    def message(self) -> str:  # pragma: no cover - every subclass overrides it
        return "could not parse this line"


@dataclass(frozen=True, kw_only=True)
class UnknownCommand(ParseError):
    word: str
    suggestion: str | None = None  # a close known spelling, e.g. "merge" for "merg"

    @property
    def message(self) -> str:
        hint = f"; did you mean `/{self.suggestion}`?" if self.suggestion else ""
        return f"unknown command “{md(self.word)}”{hint}"


@dataclass(frozen=True, kw_only=True)
class MissingArgument(ParseError):
    command: str
    argument: str

    @property
    def message(self) -> str:
        return f"`/{self.command}` needs {_ARG_DESCRIPTIONS.get(self.argument, self.argument)}"


@dataclass(frozen=True, kw_only=True)
class BadArgument(ParseError):
    command: str
    argument: str
    value: str
    expected: str

    @property
    def message(self) -> str:
        return f"`/{self.command}`: “{md(self.value)}” is not a valid {self.argument}; expected {self.expected}"


@dataclass(frozen=True, kw_only=True)
class DuplicateArgument(ParseError):
    command: str
    argument: str

    @property
    def message(self) -> str:
        return f"`/{self.command}`: {self.argument} is given more than once"


@dataclass(frozen=True, kw_only=True)
class UnexpectedArgument(ParseError):
    command: str
    value: str

    @property
    def message(self) -> str:
        return f"`/{self.command}` does not take “{md(self.value)}”"


@dataclass(frozen=True, kw_only=True)
class TooManyCommands(ParseError):
    limit: int

    @property
    def message(self) -> str:
        return f"more than {self.limit} command lines in one comment; nothing after line {self.line - 1} was read"


_ARG_DESCRIPTIONS = {
    "priority": "a priority number, e.g. `/priority 2`",
    "env": "an environment name, e.g. `/deploy staging`",
    "on": "`on` or `off`",
    "base": "the base branch, e.g. `/pause main deploy freeze`",
}


@dataclass(frozen=True)
class ParseResult:
    """All commands and errors of one comment, in line order.

    Policy for handlers: a comment with any error runs nothing (answer with `error_reply`, which
    says so); otherwise check `comment_permission` once and apply the commands in order.
    """

    commands: tuple[Command, ...] = ()
    errors: tuple[ParseError, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing addressed to the bot: the comment gets no reaction and no reply."""
        return not self.commands and not self.errors


# ---------------------------------------------------------------------------------------------
# Parsing


def parse_comment(
    body: str,
    *,
    bot_login: str | None = None,
    environments: Collection[str] | None = None,
) -> ParseResult:
    """Parse a comment body into commands and typed errors. Pure; never raises on any input.

    `bot_login` (e.g. "mlgate[bot]" or "mlgate") makes a mention of the bot count as addressing
    it (see the module docstring for the unknown-command rule). `environments`, when given, are
    the valid names for /deploy and /rollback (an unknown name is a BadArgument listing them).
    """
    lines = _visible_lines(body or "")
    commands: list[Command] = []
    errors: list[ParseError] = []
    unknown: list[UnknownCommand] = []
    addressed = bool(bot_login) and _mentions(body or "", bot_login or "", lines)
    seen = 0
    for number, raw in lines:
        text = raw.strip()
        outcome = _parse_line(number, text, environments)
        if outcome is None:
            continue
        seen += 1
        if seen > MAX_COMMAND_LINES:
            errors.append(TooManyCommands(line=number, text=text, limit=MAX_COMMAND_LINES))
            addressed = True
            break
        kind, item = outcome
        if kind == "unknown":
            assert isinstance(item, UnknownCommand)
            unknown.append(item)
            addressed = addressed or item.suggestion is not None  # a near miss (`/merg`) was meant for us
            continue
        addressed = True
        if isinstance(item, Command):
            commands.append(item)
        else:
            assert isinstance(item, ParseError)
            errors.append(item)
    if addressed:
        errors.extend(unknown)
        errors.sort(key=lambda e: e.line)
    return ParseResult(tuple(commands), tuple(errors))


def _mentions(body: str, login: str, lines: list[tuple[int, str]]) -> bool:
    name = re.escape(login.removesuffix("[bot]"))
    pattern = re.compile(rf"(?<![\w@/])@{name}(?:\[bot\])?(?![\w-])", re.IGNORECASE)
    return any(pattern.search(_strip_code_spans(text)) for _, text in lines)


def _parse_line(
    number: int, text: str, environments: Collection[str] | None
) -> tuple[str, Command | ParseError] | None:
    """(kind, Command or error) for one visible line, or None when the line is not for the bot."""
    prefix = _BORS_PREFIX.match(text)
    if prefix:
        rest = text[prefix.end() :].strip()
        words = _split_args(rest)
        # "@bors foo" and "bors: foo" address the bot; "Bors is slow today" may be prose
        explicit = text.startswith("@") or ":" in prefix.group(0)
        lax = "error" if explicit else "unknown"
        if not words:
            return lax, UnknownCommand(line=number, text=text, word="bors", suggestion="help")
        verb = words[0].lower().rstrip(_TRAILING_PUNCT) or words[0]
        if verb.startswith(("p=", "priority=")):  # bors-ng: `bors p=2`
            return "command", _build(number, text, "priority", ["", *words], environments, bors_priority=True)
        name = _BORS_VERBS.get(verb)
        if name is None:
            return lax, UnknownCommand(line=number, text=text, word=f"bors {words[0]}", suggestion=_suggest(verb))
        return "command", _build(number, text, name, words, environments)
    match = _SLASH_WORD.match(text)
    if not match:
        return None
    word = match.group(1).rstrip(_TRAILING_PUNCT).lower()
    if not _WORD.match(word):
        return None  # a path (/usr/bin), a bare slash, "/*": not command-like
    words = _split_args(text)
    if word not in COMMAND_NAMES:
        return "unknown", UnknownCommand(line=number, text=text, word=f"/{word}", suggestion=_suggest(word))
    return "command", _build(number, text, word, words, environments)


def _split_args(text: str) -> list[str]:
    """Whitespace-separated words; backticks around an argument are formatting, not code."""
    return [w.strip("`") for w in text.split() if w.strip("`")]


@lru_cache(maxsize=1024)
def _suggest(word: str) -> str | None:
    candidates = [*COMMAND_NAMES, "r+", "r-"]
    close = difflib.get_close_matches(word.lstrip("/")[:20], candidates, n=1, cutoff=0.7)
    if not close:
        return None
    return {"r+": "merge", "r-": "cancel"}.get(close[0], close[0])


def _build(
    number: int,
    text: str,
    name: str,
    words: list[str],
    environments: Collection[str] | None,
    *,
    bors_priority: bool = False,
) -> Command | ParseError:
    """Validate the arguments (`words[1:]`) of command `name` with its parser in `_ARGUMENT_PARSERS`
    (a command without one takes no arguments)."""
    args = words[1:]
    if name == "priority" and bors_priority:  # `bors p=2`: only the key=value spelling
        return _priority_command(number, text, name, args, positional=False)
    parser = _ARGUMENT_PARSERS.get(name)
    if parser is not None:
        return parser(number, text, name, args, environments)
    if args:
        return UnexpectedArgument(line=number, text=text, command=name, value=args[0])
    return Command(name, (), number, text)


def _priority_command(number: int, text: str, name: str, args: list[str], *, positional: bool) -> Command | ParseError:
    value: int | None = None
    seen = False
    for arg in args:
        key, sep, raw = arg.partition("=")
        if sep:
            if key.lower() not in ("p", "priority"):
                return UnexpectedArgument(line=number, text=text, command=name, value=arg)
        elif positional and not seen:
            raw = arg
        else:
            return UnexpectedArgument(line=number, text=text, command=name, value=arg)
        if seen:
            return DuplicateArgument(line=number, text=text, command=name, argument="priority")
        seen = True
        raw = raw.rstrip(_TRAILING_PUNCT) if not sep else raw
        if raw == "":
            return MissingArgument(line=number, text=text, command=name, argument="priority")
        if not _INT.match(raw) or abs(int(raw)) > PRIORITY_LIMIT:
            return BadArgument(
                line=number,
                text=text,
                command=name,
                argument="priority",
                value=raw,
                expected=f"a whole number between -{PRIORITY_LIMIT:,} and {PRIORITY_LIMIT:,}",
            )
        value = int(raw)
    if name == "priority" and value is None:
        return MissingArgument(line=number, text=text, command=name, argument="priority")
    return Command(name, (("priority", value),) if value is not None else (), number, text)


def _approval_command(number: int, text: str, name: str, args: list[str]) -> Command | ParseError:
    """`/merge [SHA] [p=N]` and `/try [SHA]`: the optional SHA is the commit approved (bors `r+ SHA`)."""
    sha: str | None = None
    rest: list[str] = []
    for arg in args:
        value = arg.rstrip(_TRAILING_PUNCT)
        if "=" not in arg and _SHA.match(value):
            if sha is not None:
                return DuplicateArgument(line=number, text=text, command=name, argument="commit")
            sha = value.lower()
        elif "=" not in arg and re.fullmatch(r"[0-9a-fA-F]{1,6}", value):
            return BadArgument(line=number, text=text, command=name, argument="commit", value=value,
                               expected="at least 7 hex characters of the head commit")
        else:
            rest.append(arg)
    if name == "try":
        if rest:
            return UnexpectedArgument(line=number, text=text, command=name, value=rest[0])
        return Command(name, (("sha", sha),) if sha else (), number, text)
    parsed = _priority_command(number, text, name, rest, positional=False)
    if isinstance(parsed, ParseError) or sha is None:
        return parsed
    return Command(name, (("sha", sha), *parsed.args), number, text)


def _single_command(number: int, text: str, args: list[str]) -> Command | ParseError:
    if not args:
        return Command("single", (("on", True),), number, text)
    if len(args) > 1:
        return UnexpectedArgument(line=number, text=text, command="single", value=args[1])
    raw = args[0].rstrip(_TRAILING_PUNCT)
    value = {"on": True, "off": False}.get(raw.lower())
    if value is None:
        return BadArgument(
            line=number, text=text, command="single", argument="setting", value=raw, expected="on or off"
        )
    return Command("single", (("on", value),), number, text)


def _env_command_of(number: int, text: str, name: str, args: list[str], environments: Collection[str] | None
                    ) -> Command | ParseError:
    return _env_command(number, text, name, args, environments)


_BRANCH = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)[A-Za-z0-9._/-]{1,200}(?<![/.])$")
PAUSE_REASON_LIMIT = 200


def _branch_command(number: int, text: str, name: str, args: list[str]) -> Command | ParseError:
    """`/pause BASE [reason…]` and `/resume BASE`: the base branch is named, never implied, so a pause
    given on any PR says which queue it stops."""
    if not args:
        return MissingArgument(line=number, text=text, command=name, argument="base")
    branch = args[0].rstrip(",;:")
    if not _BRANCH.match(branch):
        return BadArgument(line=number, text=text, command=name, argument="base branch", value=branch,
                           expected="a branch name, e.g. `main`")
    if name == "resume":
        if len(args) > 1:
            return UnexpectedArgument(line=number, text=text, command=name, value=args[1])
        return Command(name, (("base", branch),), number, text)
    reason = " ".join(args[1:])
    if len(reason) > PAUSE_REASON_LIMIT:
        return BadArgument(line=number, text=text, command=name, argument="reason", value=reason[:40] + "…",
                           expected=f"at most {PAUSE_REASON_LIMIT} characters")
    return Command(name, (("base", branch), ("reason", reason)), number, text)


def _env_command(
    number: int, text: str, name: str, args: list[str], environments: Collection[str] | None
) -> Command | ParseError:
    if not args:
        return MissingArgument(line=number, text=text, command=name, argument="env")
    if len(args) > 1:
        return UnexpectedArgument(line=number, text=text, command=name, value=args[1])
    env = args[0].rstrip(_TRAILING_PUNCT)
    if env.lower().startswith("env="):
        env = env[4:]
    if not _ENV.match(env):
        return BadArgument(
            line=number,
            text=text,
            command=name,
            argument="environment",
            value=env,
            expected="a name of letters, digits, `.`, `_` or `-`",
        )
    if environments is not None:
        known = {e.lower(): e for e in environments}
        if env.lower() not in known:
            listed = ", ".join(md(e) for e in sorted(environments)) or "none configured"
            return BadArgument(
                line=number,
                text=text,
                command=name,
                argument="environment",
                value=env,
                expected=f"one of: {listed}",
            )
        env = known[env.lower()]
    return Command(name, (("env", env),), number, text)


ArgumentParser = Callable[[int, str, str, list[str], "Collection[str] | None"], "Command | ParseError"]

# Commands that take arguments → their parser: (line, text, name, args, environments) → Command or error.
_ARGUMENT_PARSERS: Mapping[str, ArgumentParser] = MappingProxyType({
    "merge": lambda n, t, name, a, _e: _approval_command(n, t, name, a),
    "try": lambda n, t, name, a, _e: _approval_command(n, t, name, a),
    "priority": lambda n, t, name, a, _e: _priority_command(n, t, name, a, positional=True),
    "single": lambda n, t, _name, a, _e: _single_command(n, t, a),
    "deploy": _env_command_of,
    "rollback": _env_command_of,
    "pause": lambda n, t, name, a, _e: _branch_command(n, t, name, a),
    "resume": lambda n, t, name, a, _e: _branch_command(n, t, name, a),
})


# ---------------------------------------------------------------------------------------------
# Markdown: which lines are visible plain text


def _visible_lines(body: str) -> list[tuple[int, str]]:
    """(1-based number, line) of every line outside code blocks, quotes and HTML comments.

    A line-oriented subset of CommonMark, enough to decide where a line starts as plain text.
    """
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    visible: list[tuple[int, str]] = []
    fence: tuple[str, int, int] | None = None  # (char, length, max closing indent)
    in_comment = False
    prev_kind = "blank"  # blank, text, quote, code
    for i, raw in enumerate(lines, start=1):
        line = raw.expandtabs(4)
        if fence is not None:
            if _closes_fence(line, fence):
                fence = None
            prev_kind = "blank"
            continue
        if in_comment:
            if "-->" in line:
                in_comment = False
                rest = line.split("-->", 1)[1]
                if rest.strip():
                    visible.append((i, rest))
            prev_kind = "blank"
            continue
        stripped = line.lstrip(" ")
        indent = len(line) - len(stripped)
        if not stripped:
            prev_kind = "blank"
            continue
        if indent >= 4 and prev_kind in ("blank", "code"):
            prev_kind = "code"  # indented code block
            continue
        if indent < 4 and stripped.startswith(">"):
            prev_kind = "quote"
            continue
        opened = _opens_fence(stripped, indent)
        if opened is not None:
            fence = opened
            prev_kind = "blank"
            continue
        if prev_kind == "quote" and not _starts_block(stripped):
            continue  # lazy continuation: Markdown renders this line inside the quote
        if stripped.startswith("<!--"):
            if "-->" not in stripped[4:]:
                in_comment = True
            prev_kind = "blank"
            continue
        prev_kind = "text"
        if indent >= 4:
            continue  # a paragraph continuation line indented 4+: not at the start of a line
        visible.append((i, stripped))
    return visible


def _opens_fence(stripped: str, indent: int) -> tuple[str, int, int] | None:
    if indent >= 4:
        return None
    content, content_indent = stripped, indent
    marker = _LIST_MARKER.match(content)
    if marker:  # a fence inside a list item: "- ```"
        content_indent += marker.end()
        content = content[marker.end() :]
    m = _FENCE.match(content)
    if not m:
        return None
    run, info = m.group(1), m.group(2)
    if run[0] == "`" and "`" in info:
        return None  # CommonMark: a backtick fence's info string has no backticks (it is a code span)
    max_close = 3 if not marker else content_indent + 3
    return run[0], len(run), max_close


def _closes_fence(line: str, fence: tuple[str, int, int]) -> bool:
    char, length, max_indent = fence
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > max_indent:
        return False
    run = len(stripped) - len(stripped.lstrip(char))
    return run >= length and not stripped[run:].strip()


def _starts_block(stripped: str) -> bool:
    """Lines that interrupt a paragraph (and so end a lazy quote continuation)."""
    return bool(
        _ATX_HEADING.match(stripped)
        or _THEMATIC_BREAK.match(stripped)
        or _FENCE.match(stripped)
        or stripped.startswith("<")
        or re.match(r"^(?:[-+*]|1[.)])[ \t]+\S", stripped)
    )


def _strip_code_spans(text: str) -> str:
    return _CODE_SPAN.sub(" ", text)


# ---------------------------------------------------------------------------------------------
# Permissions


def permissions_from(mapping: Mapping[str, str | Permission]) -> dict[str, Permission]:
    """DEFAULT_PERMISSIONS overridden by a config mapping {command: permission}.

    Raises ValueError naming the bad key or value, for the config validator to report.
    """
    merged = dict(DEFAULT_PERMISSIONS)
    for command, level in mapping.items():
        name = command.lstrip("/").lower()
        if name not in COMMAND_NAMES:
            raise ValueError(f"unknown command {command!r} (commands: {', '.join(COMMAND_NAMES)})")
        try:
            merged[name] = Permission(level.value if isinstance(level, Permission) else str(level).lower())
        except ValueError:
            levels = ", ".join(p.value for p in Permission)
            raise ValueError(f"{command}: unknown permission {level!r} (one of: {levels})") from None
    return merged


def required_permission(command: Command, permissions: Mapping[str, Permission] | None = None) -> Permission:
    """The least repository permission the commenter needs for `command` (defaults: DEFAULT_PERMISSIONS)."""
    table = DEFAULT_PERMISSIONS if permissions is None else permissions
    return table.get(command.name, DEFAULT_PERMISSIONS.get(command.name, Permission.WRITE))


def comment_permission(commands: Iterable[Command], permissions: Mapping[str, Permission] | None = None) -> Permission:
    """The highest permission among a comment's commands (bors-ng): a comment is run whole or not at all."""
    return max((required_permission(c, permissions) for c in commands), key=lambda p: p.level, default=Permission.NONE)


# ---------------------------------------------------------------------------------------------
# Replies (Markdown; every piece of user text is escaped)

_HELP_ROWS = (
    ("/merge [SHA] [p=N]", "bors r+ [SHA] [p=N]", "merge",
     "Queue this PR's head as of your comment (or exactly SHA); it lands once the merged result passes every "
     "gate. A later push voids it."),
    ("/cancel", "bors r-", "cancel", "Take this PR out of the queue (stops its batch if it is being tested)."),
    ("/retry", "bors retry", "retry", "Re-queue after a failure, e.g. a flaky CI run."),
    ("/try [SHA]", "bors try [SHA]", "try",
     "Build and test the merged result on `mlgate/try/<n>` without landing it."),
    ("/priority N", "bors p=N", "priority", "Set the queue priority (higher goes first; default 0)."),
    ("/single on\\|off", "bors single on\\|off", "single", "Test this PR alone, not in a batch."),
    ("/hold", "", "hold", "Keep this PR out of every new batch (it keeps its place in line)."),
    ("/unhold", "", "unhold", "Let a held PR back into batches."),
    ("/pause BASE [reason]", "", "pause",
     "Stop new batches on branch BASE (the running ones finish); queued PRs stay queued."),
    ("/resume BASE", "", "resume", "Start the merge queue of BASE again."),
    ("/deploy ENV", "", "deploy", "Promote the landed model to environment ENV."),
    ("/rollback ENV", "", "rollback", "Redeploy the last good version to ENV."),
    ("/status", "bors status", "status", "Say where this PR is in the merge queue."),
    ("/help", "bors help", "help", "Show this help."),
)


def help_text(permissions: Mapping[str, Permission] | None = None) -> str:
    """The Markdown help: every command, its bors spelling, the permission it needs, what it does."""
    rows = [
        "| command | bors spelling | needs | what it does |",
        "|---|---|---|---|",
    ]
    for slash, bors, name, what in _HELP_ROWS:
        level = required_permission(Command(name), permissions).value
        bors_cell = f"`{bors}`" if bors else ""
        rows.append(f"| `{slash}` | {bors_cell} | {level} | {what} |")
    return "\n".join(
        [
            "**mlgate commands**: one per line, at the start of the line, outside code blocks and quotes.",
            "",
            *rows,
        ]
    )


def error_reply(errors: Iterable[ParseError], permissions: Mapping[str, Permission] | None = None) -> str:
    """A short reply naming each line that could not be understood, followed by the help."""
    errors = list(errors)
    items = [f"- line {e.line}: {e.message}" for e in errors[:10]]
    if len(errors) > 10:
        items.append(f"- and {len(errors) - 10} more")
    head = "I could not understand this command:" if len(errors) == 1 else "I could not understand these commands:"
    tail = "Nothing in this comment was run." if errors else ""
    return "\n".join(
        [
            head,
            "",
            *items,
            "",
            tail,
            "",
            "<details><summary>Help</summary>",
            "",
            help_text(permissions),
            "",
            "</details>",
        ]
    ).replace("\n\n\n", "\n\n")


def refusal_reply(user: str, needed: Permission, have: Permission, commands: Iterable[Command]) -> str:
    """A polite refusal naming the permission needed (the comment is not run)."""
    names = ", ".join(f"`/{n}`" for n in dict.fromkeys(c.name for c in commands)) or "this command"
    return (
        f"Sorry @{md(user)}, {names} needs **{needed.value}** permission on this repository "
        f"and you have **{have.value}**. Nothing was run; someone with {needed.value} access can run it for you."
    )
