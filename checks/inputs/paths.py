"""Paths the config (or a file it names) gives stay inside the repository root (`--root`).

Who controls them: the config and the feature registry are files in the repository, so a pull
request can change them; a path such as `../../secrets.csv`, `/etc/hostname` or a committed
symlink that points out of the checkout would make a gate read (and echo examples of) files the
repository does not own. Paths given as command-line flags are the user's own choice and are not
confined.

`outside_root` is the one rule: lexically, no absolute path and no `..` that climbs above the root;
then, for files read from the working tree, the real path (symlinks resolved) must still be under
the root's real path.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from mlgate.checks.errors import ConfigError

_WILDCARDS = set("*?[")


def _static_part(value: str) -> str:
    """The part of a glob before its first wildcard (the whole value when it has none)."""
    fixed: list[str] = []
    for part in value.split("/"):
        if any(c in _WILDCARDS for c in part):
            break
        fixed.append(part)
    return "/".join(fixed)


def outside_root(root: Path, value: str, *, follow_symlinks: bool = True) -> str | None:
    """Why `value` (relative to `root`) leads outside it; None when it stays inside.

    `follow_symlinks=False` checks the text only: for files read from a git commit, where a
    symlink in the working tree does not matter.
    """
    text = value.strip().replace("\\", "/")
    if not text:
        return None
    if PurePosixPath(text).is_absolute() or PureWindowsPath(value.strip()).drive:
        return "an absolute path"
    depth = 0
    for part in PurePosixPath(text).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return "'..' climbs above it"
        elif part not in (".", ""):
            depth += 1
    if not follow_symlinks:
        return None
    real_root = Path(os.path.realpath(root))
    static = _static_part(text)
    try:
        real = Path(os.path.realpath(root / static)) if static else real_root
    except (OSError, RuntimeError, ValueError):
        return "it cannot be resolved (a symlink loop?)"
    if real != real_root and real_root not in real.parents:
        return f"a symbolic link leads to {real}"
    return None


def confine(root: Path, key: str, value: str, *, where: str | None, follow_symlinks: bool = True) -> None:
    """ConfigError naming the key and the path when `value` leaves `root`."""
    why = outside_root(root, value, follow_symlinks=follow_symlinks)
    if why:
        raise ConfigError(f"{key}: {value!r} is outside the repository root {root} ({why}); such paths are "
                          f"relative to --root and stay inside it", where=where)
