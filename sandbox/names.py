"""GitHub's naming rules for what the sandbox stores, and for what ends up in a path on disk:
logins (and org names, app slugs), repository names, branch and ref names.

Each function returns None for a valid name or a short reason; the callers turn it into GitHub's
answer (422 with a validation error) or a command-line error. Repositories live at
``git/<owner>/<name>.git`` under the data directory, so these rules are also what keeps a request
from reaching outside it.
"""

from __future__ import annotations

import re

LOGIN_MAX = 39
REPO_NAME_MAX = 100
_LOGIN = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9])*")
_REPO_NAME = re.compile(r"[A-Za-z0-9._-]+")
# git check-ref-format: no control characters, space, ~ ^ : ? * [ \ anywhere.
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")


def login_error(login: object) -> str | None:
    """GitHub: alphanumeric characters or single hyphens, not at either end, at most 39."""
    if not isinstance(login, str) or not login:
        return "login is missing"
    if len(login) > LOGIN_MAX:
        return f"login {login!r} is longer than {LOGIN_MAX} characters"
    if not _LOGIN.fullmatch(login):
        return (f"login {login!r} may only contain alphanumeric characters or single hyphens, "
                "and cannot begin or end with a hyphen")
    return None


def repo_name_error(name: object) -> str | None:
    """GitHub: letters, digits, '.', '-', '_', at most 100, and not '.' or '..'."""
    if not isinstance(name, str) or not name:
        return "name is missing"
    if len(name) > REPO_NAME_MAX:
        return f"name is longer than {REPO_NAME_MAX} characters"
    if name in (".", "..") or not _REPO_NAME.fullmatch(name):
        return "name may only contain letters, digits, '.', '-' and '_', and cannot be '.' or '..'"
    return None


def ref_error(ref: object) -> str | None:
    """A full ref name (``refs/…``) by `git check-ref-format`'s rules (plus no leading '-')."""
    if not isinstance(ref, str) or not ref.startswith("refs/") or ref.count("/") < 2:
        return "ref must start with 'refs/' and have at least two slashes"
    if _REF_FORBIDDEN.search(ref) or ".." in ref or "@{" in ref or "//" in ref:
        return f"{ref!r} is not a valid ref name"
    if ref.endswith(("/", ".")):
        return f"{ref!r} is not a valid ref name"
    for part in ref.split("/"):
        # git refuses a component starting with '.'; one starting with '-' (which git allows but
        # `git branch` refuses) could pass for an option where the sandbox hands names to git.
        if part.startswith((".", "-")) or part.endswith(".lock"):
            return f"{ref!r} is not a valid ref name"
    return None


def branch_error(branch: object) -> str | None:
    """A branch name (what follows ``refs/heads/``): git's ref rules, and not '@' or an option."""
    if not isinstance(branch, str) or not branch:
        return "branch name is missing"
    if branch == "@" or branch.startswith(("-", "/")):
        return f"{branch!r} is not a valid branch name"
    return None if ref_error(f"refs/heads/{branch}") is None else f"{branch!r} is not a valid branch name"
