"""The feature registry as the models page shows it: read from the repository's default branch
(the config names it, `features.registry`), through the bot's credentials, cached briefly.

Reading GitHub while rendering is the exception on the dashboard (everything else is the bot's
store): the registry is a file of the repository and the bot keeps no copy of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from mlgate.checks.config.models import parse_config
from mlgate.checks.gates.feature_registry import parse_registry
from mlgate.names import CONFIG_PATH

CACHE_SECONDS = 60.0


@dataclass(frozen=True)
class FeatureRow:
    name: str
    owner: str | None
    description: str | None
    docs: str | None


@dataclass(frozen=True)
class RegistryView:
    path: str | None
    features: tuple[FeatureRow, ...] = ()
    problem: str | None = None  # said on the page instead of an empty table


class RegistryReader:
    def __init__(self, forge_for: Callable[[str], object], clock: Callable[[], float] = time.monotonic) -> None:
        self.forge_for, self.clock = forge_for, clock
        self._cache: dict[tuple[str, str], tuple[float, RegistryView]] = {}
        self._lock = threading.Lock()

    def __call__(self, repo: str, branch: str) -> RegistryView:
        key = (repo.lower(), branch)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and self.clock() - hit[0] < CACHE_SECONDS:
                return hit[1]
        view = self._read(repo, branch)
        with self._lock:
            self._cache[key] = (self.clock(), view)
        return view

    def _read(self, repo: str, branch: str) -> RegistryView:
        try:
            forge = self.forge_for(repo)
            found = forge.read_file(repo, CONFIG_PATH, branch)  # type: ignore[attr-defined]
            if found is None:
                return RegistryView(None, problem=f"no {CONFIG_PATH} on {branch}")
            config = parse_config(found[0], f"{CONFIG_PATH}@{branch}")
            if config.features is None:
                return RegistryView(None, problem="the features gate is not configured (no `features:` section)")
            path = config.features.registry
            text = forge.read_file(repo, path, branch)  # type: ignore[attr-defined]
            if text is None:
                return RegistryView(path, problem=f"{path} does not exist on {branch}")
            registry = parse_registry(text[0], f"{path}@{branch}")
        except Exception as exc:  # a page must render; it says why the registry is missing
            return RegistryView(None, problem=f"the registry could not be read: {type(exc).__name__}: {exc}"[:300])
        return RegistryView(path, tuple(FeatureRow(f.name, f.owner, f.description, f.docs)
                                        for f in registry.features))
