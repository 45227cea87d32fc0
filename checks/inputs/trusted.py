"""The trusted inputs of a run: the config and the files it names that set limits, read from a commit.

A pull request controls its checkout, config included: judged with the checkout's
`.github/mlgate.yml`, a PR that raises `bias.limits.fpr.max_difference` to 1.0 turns its own
`mlgate/bias` green. `mlgate check --config-ref <commit>` reads the config, and the files in
`mlgate.checks.config.models.LIMIT_FILES` (the data schema, the regression baseline), with git from that commit
of the repository at `--root`; data, predictions and models still come from the working tree.

Reads go through `git ls-tree` (to refuse symlinks and submodules: a tree entry that is a link
would say nothing about what it points to) and `git cat-file blob` (raw bytes: no text
conversion, so `config_sha256` is the hash of exactly the bytes GitHub's contents API returns
for that path at that commit, which is what the bot compares with).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from mlgate.checks.config.models import LIMIT_FILES, MlgateConfig, bytes_sha256, parse_config
from mlgate.checks.errors import ConfigError, UserError

_TIMEOUT = 60


def _git(cwd: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=text, timeout=_TIMEOUT,
                              check=False)
    except FileNotFoundError as exc:
        raise UserError("--config-ref needs git, and git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise UserError(f"--config-ref: git {args[0]} took longer than {_TIMEOUT}s", where=str(cwd)) from exc


@dataclass
class GitTree:
    """The files of one commit of the repository that holds `root`."""

    root: Path  # the project directory (--root); config paths are relative to it
    top: Path  # the repository's top level
    sha: str  # the full commit SHA the ref named
    given: str  # the ref as given

    @classmethod
    def open(cls, root: Path, ref: str) -> GitTree:
        """The commit `ref` names in the repository holding `root`; a UserError in one line otherwise."""
        if not ref.strip() or ref.startswith("-"):
            raise UserError(f"--config-ref {ref!r}: not a commit (give a SHA or a branch name)")
        top = _git(root, "rev-parse", "--show-toplevel")
        if top.returncode != 0 or not top.stdout.strip():
            said = (top.stderr.strip().splitlines() or [""])[0].removeprefix("fatal: ")
            raise UserError(f"--config-ref {ref}: {root} is not inside a git repository git can read, so there is "
                            f"no commit to read the config from" + (f" (git: {said})" if said else ""))
        found = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if found.returncode != 0 or not found.stdout.strip():
            raise UserError(f"--config-ref {ref}: no such commit in the repository at {top.stdout.strip()} "
                            f"(in GitHub Actions, check out with fetch-depth: 0 so the base commit is there)")
        return cls(root=root, top=Path(top.stdout.strip()), sha=found.stdout.strip(), given=ref)

    def repo_path(self, path: str | Path, start: Path) -> str | None:
        """`path` (relative to `start`, or absolute) as a path inside the repository; None when outside."""
        full = os.path.normpath(Path(os.path.realpath(start)) / path)
        for candidate in (full, os.path.join(os.path.realpath(os.path.dirname(full)), os.path.basename(full))):
            rel = os.path.relpath(candidate, self.top)
            if rel != ".." and not rel.startswith("../") and not os.path.isabs(rel):
                return PurePosixPath(Path(rel).as_posix()).as_posix()
        return None

    def read(self, repo_path: str, what: str) -> bytes:
        """The raw bytes of a regular file at the commit; UserError naming `what` and the path otherwise."""
        listing = _git(self.top, "ls-tree", "-z", "--full-tree", self.sha, "--", repo_path)
        entry = listing.stdout.split("\0")[0] if listing.returncode == 0 else ""
        short = self.sha[:12]
        if not entry:
            raise UserError(f"{what}: {repo_path} does not exist in {short} (the commit whose config judges this "
                            f"run, --config-ref {self.given})")
        meta, _, _name = entry.partition("\t")
        mode, kind, obj = [*meta.split(" "), "", "", ""][:3]
        if mode == "120000":
            raise UserError(f"{what}: {repo_path} is a symbolic link in {short}; mlgate reads the config and the "
                            f"files that set limits only from regular files")
        if kind != "blob":
            raise UserError(f"{what}: {repo_path} is not a file in {short} (it is a {kind or 'missing entry'})")
        blob = _git(self.top, "cat-file", "blob", obj, text=False)
        if blob.returncode != 0:
            raise UserError(f"{what}: cannot read {repo_path} at {short}: "
                            f"{blob.stderr.decode(errors='replace').strip()}")
        return blob.stdout


@dataclass
class LoadedConfig:
    """A config and where it came from: a file in the checkout, or a path at a commit."""

    config: MlgateConfig
    sha256: str
    source: str  # for messages: the path, or "<repo path>@<short sha>"
    path: str  # the path as given (--config)
    tree: GitTree | None = None
    repo_path: str | None = None  # the config's path in the repository when read from a commit

    @property
    def ref(self) -> str | None:
        return self.tree.sha if self.tree else None


def load_config_at(config_path: str, root: Path, ref: str) -> LoadedConfig:
    """Parse the config as it is at commit `ref` of the repository holding `root`."""
    tree = GitTree.open(root, ref)
    repo_path = tree.repo_path(config_path, Path.cwd())
    if repo_path is None:
        raise UserError(f"--config {config_path} is outside the repository at {tree.top}, so it cannot be read "
                        f"from --config-ref {ref}")
    raw = tree.read(repo_path, "--config")
    source = f"{repo_path}@{tree.sha[:12]}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the config is not UTF-8 text: {exc}", where=source) from None
    return LoadedConfig(parse_config(text, source), bytes_sha256(raw), source, config_path, tree, repo_path)


def _value_at(cfg: MlgateConfig, key: str) -> str | None:
    """The string at a dotted key such as `data.schema` (None when unset or not a path)."""
    section, _, name = key.partition(".")
    part = getattr(cfg, section, None)
    if part is None:
        return None
    value = getattr(part, "table_schema" if (section, name) == ("data", "schema") else name, None)
    return value if isinstance(value, str) and value.strip() else None


@dataclass
class PinnedFiles:
    """Limit files extracted from the commit into a private directory, keyed by the config's value."""

    files: dict[str, Path] = field(default_factory=dict)
    directory: Path | None = None

    def cleanup(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


def pin_limit_files(loaded: LoadedConfig, final: MlgateConfig) -> PinnedFiles:
    """Extract each LIMIT_FILES file the config names from the commit.

    Only values that still come from the config are pinned: a flag given on the command line
    (`--schema other.yaml`) replaces the config's value and is read from where it points.
    """
    pinned = PinnedFiles()
    tree = loaded.tree
    if tree is None:
        return pinned
    prefix = os.path.relpath(os.path.realpath(tree.root), tree.top)
    try:
        for key in LIMIT_FILES:
            value = _value_at(loaded.config, key)
            if value is None or _value_at(final, key) != value:
                continue
            repo_path = os.path.normpath(os.path.join(prefix, value)).replace(os.sep, "/")
            data = tree.read(repo_path, key)
            if pinned.directory is None:
                pinned.directory = Path(tempfile.mkdtemp(prefix="mlgate-ref-"))
            target = pinned.directory / repo_path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            pinned.files[value] = target
    except BaseException:
        pinned.cleanup()
        raise
    return pinned
