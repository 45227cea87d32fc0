"""The pre-receive hook ``git push`` runs in each sandbox repository: branch protection for pushes.

``githttp`` passes the data dir, repository and pusher in the environment; state is read from
``state.db``, that one repository's record only (the server saves before the push and holds its
lock for the whole push, so the file is current).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from mlgate.sandbox import protection
from mlgate.sandbox.git import GitRepo
from mlgate.sandbox.store import Store

HOOK = """#!/bin/sh
# installed by the mlgate sandbox: branch protection for pushes
exec "$SANDBOX_PYTHON" -m mlgate.sandbox.prereceive
"""


def install(git_dir: Path, needed: bool = True) -> None:
    """Put the hook in place, or take it away when the repository protects no branch (``needed``
    False): it would accept every update then, and a push starts no Python process for nothing."""
    hook = git_dir / "hooks" / "pre-receive"
    if not needed:
        hook.unlink(missing_ok=True)
        return
    if not hook.exists() or hook.read_text() != HOOK:
        hook.parent.mkdir(parents=True, exist_ok=True)
        hook.write_text(HOOK)
        hook.chmod(0o755)


def main() -> int:
    store = Store(os.environ["SANDBOX_DATA_DIR"], only_repo=os.environ["SANDBOX_REPO"])
    repo = store.state["repos"].get(os.environ["SANDBOX_REPO"])
    if repo is None:
        return 0
    git = GitRepo(Path(os.environ.get("GIT_DIR", ".")).resolve())
    role = os.environ.get("SANDBOX_ROLE") or None
    for line in sys.stdin:
        old, new, ref = line.split()
        if not ref.startswith("refs/heads/"):
            continue
        problem = protection.check_push(store, repo, git, ref[len("refs/heads/"):], old, new, role)
        if problem:
            print(f"error: GH006: Protected branch update failed for {ref}.", file=sys.stderr)
            print(f"error: {problem}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
