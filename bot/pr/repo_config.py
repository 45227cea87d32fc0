"""`.github/mlgate.yml` as the bot sees it: read from the PR's BASE branch, parsed once per blob.

The file is read from the base branch, never from the PR head, so a PR cannot weaken its own
gates (bors-ng#372; policy-bot and Probot read the base too). Parsing is cached by the blob SHA
the Forge returns with the text: the SHA names the content, so a cache hit is always right and
unchanged files are never parsed twice, across PRs and repositories.

The cache also keeps, per blob, `sha256:<hex>` of the file's bytes: the hash a gate result must
carry in `versions.config_sha256` to show it was computed with this very config (bot/pr/check_rule.py).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mlgate.bot.github.forge import Forge
from mlgate.checks.config.models import MlgateConfig, parse_config
from mlgate.checks.errors import ConfigError
from mlgate.names import CONFIG_PATH

# What a repository without the file gets, said in the report so nobody wonders why nothing runs.
DEFAULTS_NOTE = (
    f"no `{CONFIG_PATH}` on the base branch: defaults apply (no review rules, no ML gates, "
    "no required CI checks); add the file to turn gates on"
)


@dataclass(frozen=True)
class RepoConfig:
    """The config a PR is judged by, and where it came from (the report states both)."""

    source: str  # "file" (valid), "invalid", or "defaults" (no file on the base branch)
    ref: str  # the base branch it was read from
    path: str = CONFIG_PATH
    blob_sha: str | None = None
    config: MlgateConfig | None = None  # None only when invalid
    error: str | None = None  # the validation error (key path and line) when invalid
    sha256: str | None = None  # "sha256:<hex>" of the file's bytes (None: no file)

    @property
    def valid(self) -> bool:
        return self.config is not None

    @property
    def effective(self) -> MlgateConfig:
        """The config to evaluate with; callers must check `valid` first (invalid → failing check)."""
        if self.config is None:
            raise ValueError(f"{self.path} on {self.ref} is invalid: {self.error}")
        return self.config


class ConfigCache:
    """Parse results keyed by blob SHA (LRU). Thread-safe: the worker may evaluate in parallel."""

    def __init__(self, max_entries: int = 512) -> None:
        self._entries: OrderedDict[str, tuple[MlgateConfig | str, str]] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        self.parses = 0  # how many times a file was actually parsed (tests and metrics read it)

    def parse(self, blob_sha: str, text: str) -> MlgateConfig | str:
        """The parsed config, or the validation error message, for this blob."""
        return self.entry(blob_sha, text)[0]

    def entry(self, blob_sha: str, text: str) -> tuple[MlgateConfig | str, str]:
        """(parsed config or validation error, "sha256:<hex>" of the file's bytes) for this blob; both
        computed once per blob."""
        with self._lock:
            hit = self._entries.get(blob_sha)
            if hit is not None:
                self._entries.move_to_end(blob_sha)
                return hit
        try:
            outcome: MlgateConfig | str = parse_config(text, CONFIG_PATH)
        except ConfigError as exc:
            outcome = str(exc)
        entry = (outcome, config_sha256(text))
        with self._lock:
            self.parses += 1
            self._entries[blob_sha] = entry
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return entry


def config_sha256(text: str) -> str:
    """"sha256:<hex>" of the config file's bytes (the Forge decodes the file as UTF-8, which gives
    back exactly the bytes it was read from): what `mlgate check` records as `versions.config_sha256`."""
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_repo_config(forge: Forge, repo: str, base_ref: str, cache: ConfigCache | None = None) -> RepoConfig:
    """Read and validate the config on `base_ref` (a branch name of the PR's BASE, never its head)."""
    found = forge.read_file(repo, CONFIG_PATH, base_ref)
    if found is None:
        return RepoConfig(source="defaults", ref=base_ref, config=MlgateConfig())
    text, blob_sha = found
    outcome, digest = (cache or ConfigCache()).entry(blob_sha, text)
    if isinstance(outcome, str):
        return RepoConfig(source="invalid", ref=base_ref, blob_sha=blob_sha, error=outcome, sha256=digest)
    return RepoConfig(source="file", ref=base_ref, blob_sha=blob_sha, config=outcome, sha256=digest)


def push_touches_config(payload: Mapping[str, Any]) -> bool:
    """Whether a push event may have changed the config file on its branch.

    Conservative: a push whose commit list cannot tell (forced, more commits than listed, no
    per-commit file lists) counts as touching it; re-evaluating costs API calls, missing a config
    change leaves PRs judged by old rules.
    """
    if payload.get("deleted") or not str(payload.get("ref", "")).startswith("refs/heads/"):
        return False
    commits = payload.get("commits")
    if not isinstance(commits, list) or not commits:
        return bool(payload.get("forced"))  # moved without new commits: only a rewind can change the file
    if payload.get("forced"):
        return True
    listed: list[str] = []
    for commit in commits:
        if not isinstance(commit, Mapping):
            return True
        keys = ("added", "modified", "removed")
        if not all(isinstance(commit.get(k), list) for k in keys):
            return True
        for k in keys:
            listed.extend(str(p) for p in commit[k])
    size = payload.get("size")
    if isinstance(size, int) and size > len(commits):
        return True  # GitHub lists at most 2048 commits (20 in older payloads)
    return _names_config(listed)


def _names_config(paths: Iterable[str]) -> bool:
    return any(p == CONFIG_PATH for p in paths)
