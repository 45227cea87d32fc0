"""What a gate run needs besides its own config: where relative paths start, and what it read.

Gates record every file they read here, so the results JSON can carry the content hashes of the
exact data and model they judged (the "versions" block).

`pinned` maps config values to files read from the commit given with `--config-ref` (the files
that set limits, see checks/inputs/trusted.py): a gate asks for `schema.yaml` as always and gets the
base commit's copy, while its report and the versions block still say `schema.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from mlgate.checks.inputs.tables import file_sha256


@dataclass
class RunContext:
    base_dir: Path = field(default_factory=Path.cwd)
    files: dict[str, str] = field(default_factory=dict)  # display path -> sha256:…
    pinned: dict[str, Path] = field(default_factory=dict)  # config value -> file read from the config ref

    def path(self, value: str | Path) -> Path:
        """Resolve a config path relative to the base directory (the repository root)."""
        if str(value) in self.pinned:
            return self.pinned[str(value)]
        p = Path(value)
        return p if p.is_absolute() else self.base_dir / p

    def record(self, value: str | Path) -> Path:
        """Resolve a path and remember the content hash of the file it names."""
        p = self.path(value)
        key = str(value)
        if key not in self.files and p.is_file():
            self.files[key] = file_sha256(p)
        return p
