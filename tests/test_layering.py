"""The layers hold: the bot and the config models never load the numeric stack, `mlgate --version`
and `--help` load nothing heavy, `checks` never imports `bot`, and production bot code never
imports the sandbox (the demo may). Nothing here measures time (bench/startup.py does).

What a module loads is looked at in a fresh interpreter: this test process has pandas already.
"""

from __future__ import annotations

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NUMERIC = ("scipy", "pandas", "numpy", "pyarrow", "sklearn", "pandera", "skops")
HEAVY_FOR_STARTUP = (*NUMERIC, "sqlalchemy", "github", "flask", "jinja2", "pydantic", "yaml", "requests")
# alembic's env script runs only inside `alembic upgrade` (it reads alembic's context at import)
NOT_IMPORTABLE_ALONE = {"mlgate.bot.store.migrations.env"}


def loaded_after(code: str) -> set[str]:
    """Top-level package names in sys.modules after running `code` in a fresh interpreter."""
    probe = code + "\nimport json, sys\nprint(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout.strip().splitlines()[-1]))


def bot_modules() -> list[str]:
    import mlgate.bot

    names = [m.name for m in pkgutil.walk_packages(mlgate.bot.__path__, "mlgate.bot.")]
    assert len(names) > 30, names  # the walk found the package
    return sorted(set(names) - NOT_IMPORTABLE_ALONE)


def test_every_bot_module_and_the_config_models_load_no_numeric_library() -> None:
    modules = [*bot_modules(), "mlgate.checks.config.models"]
    loaded = loaded_after("import importlib\n" + "".join(f"importlib.import_module({m!r})\n" for m in modules))
    assert "mlgate" in loaded and "sqlalchemy" in loaded  # the probe did import the bot
    assert sorted(loaded & set(NUMERIC)) == []


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["check", "--help"], ["serve", "--help"]])
def test_the_cli_front_door_loads_nothing_heavy(args: list[str]) -> None:
    """`--version` and `--help` import no subcommand's module; a subcommand's help imports only its own."""
    code = ("import sys\nfrom mlgate.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n")
    loaded = loaded_after(code)
    if args[0].startswith("--"):
        assert sorted(loaded & set(HEAVY_FOR_STARTUP)) == []
    else:
        assert sorted(loaded & {"scipy", "pandas", "numpy", "github", "sqlalchemy"} - _needed_by(args[0])) == []


def _needed_by(command: str) -> set[str]:
    """What a subcommand's own module may load at import: `check` the numeric stack, `serve` the bot's."""
    return {"check": {"numpy", "pandas", "scipy"}, "serve": {"sqlalchemy", "github"}}[command]


def test_python_dash_m_mlgate_version_loads_nothing_heavy() -> None:
    code = ("import runpy, sys\nsys.argv = ['mlgate', '--version']\n"
            "try:\n    runpy.run_module('mlgate', run_name='__main__')\nexcept SystemExit as exc:\n"
            "    assert exc.code == 0, exc.code\n")
    assert sorted(loaded_after(code) & set(HEAVY_FOR_STARTUP)) == []


# ------------------------------------------------------------------------------ imports in the source


def module_name(path: Path) -> str:
    """The `mlgate.*` name of a repository file, from pyproject's package-dir (core/ is mlgate)."""
    rel = path.relative_to(ROOT).with_suffix("")
    folder, *rest = rel.parts
    package = {"core": "mlgate", "bot": "mlgate.bot", "checks": "mlgate.checks", "sandbox": "mlgate.sandbox",
               "templates": "mlgate.templates"}[folder]
    parts = [p for p in rest if p != "__init__"]
    return ".".join([package, *parts])


def imported(source: str, name: str, *, is_package: bool = False, strings: bool = False) -> set[str]:
    """Every module `source` (the module `name`) imports, relative imports resolved; with `strings`,
    also string constants that look like module paths (`importlib.import_module("mlgate.bot.x")`)."""
    found: set[str] = set()
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
        elif strings and isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and node.value.startswith("mlgate."):
            found.add(node.value.split(":")[0])
    return found


def offenders(folder: str, forbidden: str, *, skip: tuple[str, ...] = (), strings: bool = True) -> list[str]:
    out = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        rel = str(path.relative_to(ROOT))
        if rel in skip:
            continue
        names = imported(path.read_text(encoding="utf-8"), module_name(path), is_package=path.name == "__init__.py",
                         strings=strings)
        bad = sorted(n for n in names if n == forbidden or n.startswith(forbidden + "."))
        if bad:
            out.append(f"{rel}: {', '.join(bad)}")
    return out


def test_the_import_scanner_sees_absolute_relative_and_dynamic_imports() -> None:
    source = ("import mlgate.bot.cli\nfrom ..bot import wiring\nfrom .. import bot\n"
              "importlib.import_module('mlgate.bot.intake.app')\n")
    found = imported(source, "mlgate.checks.cli", strings=True)
    assert {"mlgate.bot.cli", "mlgate.bot.wiring", "mlgate.bot", "mlgate.bot.intake.app"} <= found
    assert "mlgate.bot.intake.app" not in imported(source, "mlgate.checks.cli", strings=False)


def test_checks_never_imports_the_bot() -> None:
    assert offenders("checks", "mlgate.bot") == []


def test_production_bot_code_never_imports_the_sandbox() -> None:
    assert offenders("bot", "mlgate.sandbox") == []
    # core: the demo drives the sandbox by design, and the CLI's lazy table names `mlgate sandbox`
    assert offenders("core", "mlgate.sandbox", skip=("core/demo.py",), strings=False) == []


def test_checks_and_the_sandbox_stay_apart() -> None:
    assert offenders("checks", "mlgate.sandbox") == []
    assert offenders("sandbox", "mlgate.checks") == []
    assert offenders("sandbox", "mlgate.bot") == []
