"""The bot's layout holds: packages depend downwards only, decisions import no I/O, one module imports PyGithub.

docs/architecture.md draws these layers; this test keeps the drawing true. It reads the source's
import statements (nothing is imported), so it is fast and names the offending line.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BOT = ROOT / "bot"

# package (or root module) of mlgate.bot -> the bot packages it may import; settings, names and retry are for all
LAYERS: dict[str, set[str]] = {
    "settings": set(),
    "observability": set(),
    "github": set(),
    "store": set(),
    "pr": {"github"},
    "queue": {"github", "pr"},
    "deploy": {"github", "pr", "store"},
    "commands": {"github", "pr", "queue", "deploy"},
    "intake": {"github", "pr", "queue", "deploy", "commands", "store"},
    "history": {"github", "pr", "queue"},  # the dashboard's record of the past (observes, decides nothing)
    "alerts": {"github", "pr", "queue", "deploy", "store", "history"},
    "web": {"github", "pr", "queue", "deploy", "commands", "store", "history", "alerts"},
    "wiring": {"github", "pr", "queue", "deploy", "commands", "store", "intake", "history", "alerts", "web"},
    "cli": {"intake", "store", "wiring"},
}
SHARED = {"settings", "observability"}  # the settings, the metrics and the logs: for anyone in the bot

# Modules that decide: no database, no HTTP, no PyGithub, no Flask, and none of the bot's I/O modules.
PURE = [
    "github/facts.py", "github/effects.py", "github/payloads.py",
    "pr/check_rule.py", "pr/review.py", "pr/gates.py", "pr/report.py", "pr/evaluation.py", "pr/queue_block.py",
    "commands/parse.py", "commands/approval.py", "commands/plan.py",
    "queue/model.py", "queue/transitions.py", "queue/codec.py", "queue/strategy.py", "queue/messages.py",
    "queue/merge_group.py", "queue/status.py",
    "deploy/decisions.py",
    "history/diff.py", "alerts/model.py", "alerts/decide.py", "web/charts.py",
]
IO_LIBRARIES = ("sqlalchemy", "alembic", "requests", "github", "flask", "werkzeug", "gunicorn", "jwt")
IO_MODULES = ("mlgate.bot.github.client", "mlgate.bot.github.auth", "mlgate.bot.github.executor",
              "mlgate.bot.pr.gather", "mlgate.bot.queue.runner", "mlgate.bot.queue.store", "mlgate.bot.deploy.runner",
              "mlgate.bot.deploy.ledger", "mlgate.bot.commands.run", "mlgate.bot.commands.heads", "mlgate.bot.store",
              "mlgate.bot.intake", "mlgate.bot.wiring", "mlgate.bot.cli")


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import statement, top level or inside functions."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def layer_of(path: Path) -> str:
    parts = path.relative_to(BOT).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def bot_sources() -> list[Path]:
    return sorted(p for p in BOT.rglob("*.py") if "migrations" not in p.parts and p != BOT / "__init__.py")


def test_every_bot_module_belongs_to_a_known_layer() -> None:
    assert {layer_of(p) for p in bot_sources()} <= set(LAYERS)


@pytest.mark.parametrize("path", bot_sources(), ids=lambda p: str(p.relative_to(BOT)))
def test_bot_packages_import_only_the_layers_below(path: Path) -> None:
    layer = layer_of(path)
    allowed = LAYERS[layer] | SHARED | {layer}
    for line, module in imports(path):
        parts = module.split(".")
        if parts[:2] == ["mlgate", "bot"] and len(parts) > 2:
            assert parts[2] in allowed, f"bot/{path.relative_to(BOT)}:{line} ({layer}) imports {module}"


@pytest.mark.parametrize("name", PURE)
def test_decisions_import_no_io(name: str) -> None:
    for line, module in imports(BOT / name):
        assert module.split(".")[0] not in IO_LIBRARIES, f"bot/{name}:{line} imports {module}"
        assert not module.startswith(IO_MODULES), f"bot/{name}:{line} imports {module}"


def test_only_the_client_imports_pygithub() -> None:
    users = {str(p.relative_to(ROOT)) for p in sorted(ROOT.glob("*/**/*.py"))
             if p.parts[len(ROOT.parts)] in {"bot", "core", "checks"}
             and any(m == "github" or m.startswith("github.") for _, m in imports(p))}
    assert users == {"bot/github/client.py"}


def test_the_checks_never_import_the_bot() -> None:
    for path in sorted((ROOT / "checks").rglob("*.py")):
        for line, module in imports(path):
            assert not module.startswith("mlgate.bot"), f"{path.relative_to(ROOT)}:{line} imports {module}"
