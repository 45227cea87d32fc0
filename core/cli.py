"""The `mlgate` command: a root group whose subcommands are imported only when they run.

`mlgate --version` and `mlgate --help` must start fast, so nothing here imports pandas, scipy,
SQLAlchemy or PyGithub; each subcommand names the module that defines it (`_COMMANDS`).
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version

import click

EXIT_PASS, EXIT_USAGE = 0, 2

# name -> (module, attribute, one line of help shown by `mlgate --help` without importing the module)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "check": ("mlgate.checks.cli", "check", "Run gates on data and predictions."),
    "config": ("mlgate.checks.cli", "config", "Check a config file."),
    "report": ("mlgate.checks.cli", "report", "Render the Markdown report of a results JSON file again."),
    "card": ("mlgate.checks.cli", "card", "The model card of a results JSON file (Markdown and JSON)."),
    "publish": ("mlgate.checks.cli", "publish", "Publish gate results as check runs (for any CI)."),
    "serve": ("mlgate.bot.cli", "serve", "Run the bot: webhook intake, worker and dashboard."),
    "worker": ("mlgate.bot.cli", "worker", "Run only the worker (several may share a PostgreSQL store)."),
    "sandbox": ("mlgate.sandbox.cli", "sandbox", "The local GitHub sandbox (tests, demos, rehearsals)."),
    "demo": ("mlgate.demo", "demo", "The whole bot against a local GitHub, with a story."),
}


def _version() -> str:
    try:
        return version("mlgate")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if entry is None:
            return None
        module, attribute, _ = entry
        command = getattr(importlib.import_module(module), attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{module}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list from `_COMMANDS`, so `--help` imports nothing."""
        rows = [(name, help_) for name, (_, _, help_) in sorted(_COMMANDS.items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="mlgate")
def cli() -> None:
    """mlgate: gates for machine-learning repositories."""


def main(argv: list[str] | None = None) -> None:
    """Entry point: user errors become one line on stderr and exit code 2."""
    from mlgate.checks.errors import UserError  # no heavy imports: a plain exception class

    try:
        cli.main(args=argv, prog_name="mlgate", standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(EXIT_USAGE)
    except click.ClickException as exc:  # usage errors exit 2, other refusals (e.g. an unusable database) 1
        exc.show()
        sys.exit(exc.exit_code)
    except UserError as exc:
        click.echo(f"mlgate: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    sys.exit(EXIT_PASS)


if __name__ == "__main__":
    main()
