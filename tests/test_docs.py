"""The README and docs/ stay true and navigable: size, links, set-up commands, and the references
that must cover what the code has (every config key with its default, every bot setting, every
slash-command, every `mlgate` command shown).

The README is also the package's long description (pyproject `readme`), so it points at nothing
outside the repository.
"""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
ACTION_READMES = sorted((ROOT / "actions").glob("*/README.md"))
PAGES = [README, *DOCS, *ACTION_READMES]
# Pages other helpers own: linked and link-checked, but their opening paragraph is theirs.
OWNED_ELSEWHERE = {"architecture.md", "security.md"}

SETUP_BLOCKS = {
    "setup:run": "<!-- setup:run -->\n```bash\npip install '.[example]' && mlgate demo\n```\n",
    "setup:test": "<!-- setup:test -->\n```bash\npip install -e '.[dev]' && pytest\n```\n",
}

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)")
_LINK = re.compile(r"(?<!\\)!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks."""
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            continue
        if m:
            fence = m.group(1)
            continue
        out.append(line)
    return out


def links(text: str) -> list[str]:
    """Link targets of Markdown links, images, reference definitions and autolinks outside code."""
    found: list[str] = []
    for line in prose_lines(text):
        line = _CODE_SPAN.sub("", line)
        found += _LINK.findall(line) + _AUTOLINK.findall(line)
        found += _REF_DEF.findall(line)
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: formatting dropped, lower case, punctuation removed, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = text.replace("`", "").replace("*", "").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out: set[str] = set()
    for line in prose_lines(path.read_text(encoding="utf-8")):
        m = _HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def is_external(target: str) -> bool:
    return bool(re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target)) or target.startswith("//")


# ---------------------------------------------------------------------------------------------
# The README


def test_readme_fits_in_250_lines() -> None:
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 250, f"README.md has {lines} lines; move reference material to docs/"


def test_readme_points_at_nothing_outside_the_repository() -> None:
    text = README.read_text(encoding="utf-8")
    for target in links(text):
        assert not is_external(target), f"README.md links outside the repository: {target}"
        resolved = (ROOT / target.split("#")[0]).resolve()
        assert resolved == ROOT or ROOT in resolved.parents, f"README.md links outside the repository: {target}"
    # Bare addresses count too: PyPI and GitHub turn them into links.
    bare = re.findall(r"(?:[a-z][a-z0-9+.-]*://|www\.|mailto:)\S*", text, re.IGNORECASE)
    assert not bare, f"README.md names addresses outside the repository: {bare}"
    # And as GitHub's Markdown engine renders it: every link and image stays inside the repository.
    cmarkgfm = pytest.importorskip("cmarkgfm")
    html = cmarkgfm.github_flavored_markdown_to_html(text)
    targets = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert not [t for t in targets if is_external(t) or t.startswith("/")], targets


@pytest.mark.parametrize("marker", sorted(SETUP_BLOCKS))
def test_readme_keeps_the_setup_commands_ci_runs(marker: str) -> None:
    """`.ci/run` reads the command after each marker; the blocks stay byte-identical."""
    text = README.read_text(encoding="utf-8")
    assert text.count(f"<!-- {marker} -->") == 1
    assert SETUP_BLOCKS[marker] in text


def test_readme_indexes_every_docs_page() -> None:
    text = README.read_text(encoding="utf-8")
    for page in DOCS:
        rel = f"docs/{page.name}"
        assert f"]({rel})" in text, f"the README's docs index does not list {rel}"


# ---------------------------------------------------------------------------------------------
# Every page


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    broken = []
    for target in links(page.read_text(encoding="utf-8")):
        if is_external(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target} (no such heading in {dest.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


@pytest.mark.parametrize("page", [d for d in DOCS if d.name not in OWNED_ELSEWHERE], ids=lambda p: p.name)
def test_every_doc_opens_with_who_it_is_for(page: Path) -> None:
    lines = page.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# "), f"{page.name} starts with its title"
    first = next(line for line in lines[1:] if line.strip())
    assert first.startswith("This page is for "), f"{page.name}: the first paragraph says who the page is for"


def test_no_stale_promises() -> None:
    """Sentences about work that has since been done (or is not planned) mislead; describe what is."""
    stale = re.compile(r"not available yet|not implemented yet|no config keys? yet|is the next issue|not yet a key|"
                       r"coming soon|once the queue (exists|is wired)|a later issue|come later", re.IGNORECASE)
    hits = [f"{p.relative_to(ROOT)}: {m.group(0)}" for p in [*PAGES, ROOT / "app.yml"]
            for m in stale.finditer(p.read_text(encoding="utf-8"))]
    assert not hits, hits


def code_text(text: str) -> list[str]:
    """The lines of fenced code blocks and the contents of code spans."""
    out: list[str] = []
    fence: str | None = None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is not None:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
                fence = None
            else:
                out.append(line)
            continue
        if m:
            fence = m.group(1)
            continue
        out += [span.group(2) for span in _CODE_SPAN.finditer(line)]
    return out


def test_mlgate_commands_shown_exist() -> None:
    """Every `mlgate <command> [<subcommand>]` shown in code is a command of the CLI."""
    import click

    from mlgate.cli import cli as main

    ctx = click.Context(main)
    unknown = []
    for page in PAGES:
        for line in code_text(page.read_text(encoding="utf-8")):
            for m in re.finditer(r"(?:^|[\s;&|(])mlgate ([a-z][a-z-]*)(?: ([a-z][a-z-]*)\b(?![|/]))?", line):
                command = main.get_command(ctx, m.group(1))
                if command is None:
                    unknown.append(f"{page.relative_to(ROOT)}: mlgate {m.group(1)}")
                elif (isinstance(command, click.Group) and m.group(2)
                      and command.get_command(click.Context(command), m.group(2)) is None):
                    unknown.append(f"{page.relative_to(ROOT)}: mlgate {m.group(1)} {m.group(2)}")
    assert not unknown, f"commands shown that mlgate does not have: {sorted(set(unknown))}"


# ---------------------------------------------------------------------------------------------
# References that must cover the code


def _strip_optional(annotation: Any) -> list[Any]:
    """The members of a union (None left out), or the annotation itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _is_model(t: Any) -> bool:
    return isinstance(t, type) and issubclass(t, BaseModel)


def config_keys() -> dict[str, Any]:
    """Every key of `.github/mlgate.yml`, dotted (`[]` a list item, `<>` a name the user picks), with
    its field; `limits.*` are the keys of a metric's limits, shared by every gate."""
    from mlgate.checks.config.models import MlgateConfig
    from mlgate.checks.gates.limits import MetricLimits

    keys: dict[str, Any] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, field in model.model_fields.items():
            key = prefix + (field.alias or name)
            if prefix or not any(_is_model(t) for t in _strip_optional(field.annotation)):
                keys[key] = field
            for member in _strip_optional(field.annotation):
                origin, args = typing.get_origin(member), typing.get_args(member)
                if origin is list and args:
                    nested, sub = _strip_optional(args[0]), f"{key}[]."
                elif origin is dict and len(args) == 2:
                    nested, sub = _strip_optional(args[1]), f"{key}.<>."
                else:
                    nested, sub = [member], f"{key}."
                for t in nested:
                    if t is MetricLimits:
                        walk(MetricLimits, "limits.")
                    elif _is_model(t):
                        walk(t, sub)

    walk(MlgateConfig, "")
    return keys


def documented_keys(path: Path) -> dict[str, str]:
    """`| `key` | default | meaning |` rows of the config reference: key (placeholders as `<>`) → default cell."""
    rows: dict[str, str] = {}
    for line in prose_lines(path.read_text(encoding="utf-8")):
        m = re.match(r"^\|\s*`([^`]+)`\s*\|([^|]*)\|", line)
        if m:
            key = re.sub(r"<[^>]+>", "<>", m.group(1))
            assert key not in rows, f"{path.name}: {key} is documented twice"
            rows[key] = m.group(2).strip()
    return rows


def _expected_default(field: Any) -> Any:
    default = field.get_default(call_default_factory=True)
    if isinstance(default, BaseModel):
        return default.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if isinstance(default, tuple):
        return list(default)
    return default


def test_config_reference_has_every_key_with_its_default() -> None:
    doc = ROOT / "docs" / "config.md"
    expected = config_keys()
    documented = documented_keys(doc)
    missing = sorted(set(expected) - set(documented))
    extra = sorted(set(documented) - set(expected))
    assert not missing, f"docs/config.md lacks these keys: {missing}"
    assert not extra, f"docs/config.md documents keys the config does not have: {extra}"
    wrong = []
    for key, field in expected.items():
        cell = documented[key]
        if field.is_required():
            if not cell.startswith("required"):
                wrong.append(f"{key}: required, documented as {cell!r}")
            continue
        span = _CODE_SPAN.search(cell)
        default = field.get_default(call_default_factory=True)
        if span is None:
            if not (isinstance(default, BaseModel) or (isinstance(default, str) and len(default) > 40)):
                wrong.append(f"{key}: the default cell {cell!r} shows no value (`…`)")
            continue
        shown = yaml.safe_load(span.group(2))
        if shown != _expected_default(field):
            wrong.append(f"{key}: documented default {span.group(2)!r}, the code's is {_expected_default(field)!r}")
    assert not wrong, "docs/config.md: " + "; ".join(wrong)


def test_every_bot_setting_is_documented() -> None:
    names = set()
    for path in [*(ROOT / "bot").rglob("*.py"), *(ROOT / "core").rglob("*.py")]:
        names |= set(re.findall(r"[\"'](MLGATE_[A-Z0-9_]+)[\"']", path.read_text(encoding="utf-8")))
    assert names, "no settings found: did the settings move?"
    doc = (ROOT / "docs" / "bot-operations.md").read_text(encoding="utf-8")
    env = (ROOT / ".env.example").read_text(encoding="utf-8")
    assert not sorted(n for n in names if f"`{n}`" not in doc), "docs/bot-operations.md lacks settings"
    assert not sorted(n for n in names if n not in env), ".env.example lacks settings"


def test_every_slash_command_is_in_the_bot_docs() -> None:
    from mlgate.bot.commands.parse import COMMAND_NAMES

    doc = (ROOT / "docs" / "bot.md").read_text(encoding="utf-8")
    rows = [line for line in prose_lines(doc) if line.startswith("| `/")]
    missing = [c for c in COMMAND_NAMES if not any(row.startswith(f"| `/{c}") for row in rows)]
    assert not missing, f"docs/bot.md's command table lacks {missing}"
