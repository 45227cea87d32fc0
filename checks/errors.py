"""User errors: bad input or config. The CLI prints them as one line and exits 2, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user must fix: a file, column or config key and what is wrong with it."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(UserError):
    """The config file is malformed or invalid (key path and line are in the message)."""


class InputError(UserError):
    """A data, model or results file is missing, unreadable, or lacks what the gate needs."""
