#!/usr/bin/env python3
"""Type-check the `mlgate` package with mypy and print the errors with the repository's own paths.

    python .ci/typecheck.py                       # everything: zero errors or exit 1
    python .ci/typecheck.py --only checks --only sandbox   # judge (and print) only these folders

The repository's folders become one `mlgate` package through setuptools' `package-dir`, and an
editable install reaches them through an import hook that mypy cannot follow. So this script lays
out the package as it is installed, as a tree of symlinks built from pyproject.toml's
`[tool.setuptools.package-dir]`, runs mypy on it with pyproject's `[tool.mypy]` settings, and maps
every reported path back (`mlgate/checks/cli.py` -> `checks/cli.py`). mypy checks the whole
package either way; `--only` limits which folders' errors are printed and counted, so CI can hold
part of the tree to zero while the rest is being fixed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
_LOCATION = re.compile(r"^(?P<path>[^:\s]+\.pyi?)(?P<rest>:\d+(?::\d+)?: .*)$")


def package_dirs(pyproject: Path) -> dict[str, str]:
    """`[tool.setuptools.package-dir]`: package name -> folder, relative to the repository."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    mapping = config.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    if not mapping:
        raise SystemExit(f"{pyproject}: no [tool.setuptools.package-dir] to build the package tree from")
    return dict(mapping)


def build_tree(tree: Path, mapping: dict[str, str], root: Path = ROOT) -> dict[str, str]:
    """Lay out the packages under `tree` as symlinks; returns tree-relative prefix -> repository folder."""
    prefixes: dict[str, str] = {}
    # Parents before children: a child package's link goes inside its parent's directory.
    for package in sorted(mapping, key=lambda name: name.count(".")):
        source = (root / mapping[package]).resolve()
        target = tree.joinpath(*package.split("."))
        children = {p.split(".")[-1] for p in mapping if p.rsplit(".", 1)[0] == package and p != package}
        target.mkdir(parents=True, exist_ok=True)
        for entry in sorted(source.iterdir()):
            if entry.name in children or entry.name == "__pycache__":
                continue
            link = target / entry.name
            if not link.exists():
                link.symlink_to(entry)
        prefixes[package.replace(".", "/") + "/"] = mapping[package].rstrip("/") + "/"
    return prefixes


def to_repository_path(path: str, prefixes: dict[str, str]) -> str:
    """`mlgate/checks/cli.py` -> `checks/cli.py`: the longest matching package prefix wins."""
    for prefix in sorted(prefixes, key=len, reverse=True):
        if path.startswith(prefix):
            return prefixes[prefix] + path[len(prefix):]
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", action="append", default=[], metavar="FOLDER",
                        help="count and print only errors in this repository folder (repeatable), e.g. checks")
    parser.add_argument("mypy_args", nargs="*", help="extra arguments for mypy (after --)")
    args = parser.parse_args(argv)
    only = [folder.strip("/") + "/" for folder in args.only]

    pyproject = ROOT / "pyproject.toml"
    mapping = package_dirs(pyproject)
    top = sorted({name.split(".")[0] for name in mapping})
    with tempfile.TemporaryDirectory(prefix="mlgate-typecheck-") as tmp:
        tree = Path(tmp)
        prefixes = build_tree(tree, mapping)
        command = [sys.executable, "-m", "mypy", "--config-file", str(pyproject),
                   "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary", "--show-error-codes",
                   *[arg for name in top for arg in ("-p", name)], *args.mypy_args]
        env = {**os.environ, "MYPYPATH": str(tree)}  # before site-packages, where a regular install may be
        proc = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 1):  # 2: mypy itself failed (bad config, crash)
        sys.stderr.write(proc.stdout + proc.stderr)
        return 2

    errors, files, shown = 0, set(), []
    for line in proc.stdout.splitlines():
        match = _LOCATION.match(line)
        if match is None:
            shown.append(line)
            continue
        path = to_repository_path(match["path"], prefixes)
        if only and not any(path.startswith(folder) for folder in only):
            continue
        shown.append(path + match["rest"])
        if ": error: " in match["rest"]:
            errors += 1
            files.add(path)
    if shown:
        print("\n".join(shown))
    scope = ", ".join(args.only) if args.only else "the whole package"
    if errors:
        print(f"mypy: {errors} error(s) in {len(files)} file(s) ({scope})")
        return 1
    print(f"mypy: no errors ({scope})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
