"""The `features:` section of `.github/mlgate.yml`: where the registry, the code and the docs are, and
what each kind of problem means.

Apart from the gate (checks/gates/features.py) so that reading a config never loads numpy or pandas.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator

from mlgate.checks.gates.limits import StrictModel

# Matches `@feature("name")`, `@registry.feature(name="name")`, `register_feature("name", …)` and
# `FEATURE_AGE_BUCKET = "age_bucket"` (also annotated: `FEATURE_X: str = "x"`); the feature's
# name is the quoted string, captured as the group `name`.
DEFAULT_DEFINITION_PATTERN = (
    r"""(?:@(?:\w+\.)*feature\(\s*(?:name\s*=\s*)?"""
    r"""|\bregister_feature\(\s*(?:name\s*=\s*)?"""
    r"""|^[ \t]*FEATURE_[A-Z0-9_]+\s*(?::\s*[\w.\[\]]+\s*)?=\s*)"""
    r"""["'](?P<name>[A-Za-z0-9_.:\-]+)["']"""
)


Rule = Literal["fail", "warn", "off"]
RequiredField = Literal["description", "owner", "code", "docs"]


class FeaturesConfig(StrictModel):
    """The `features:` section of `.github/mlgate.yml`."""

    registry: str = "features.yaml"
    code_paths: list[str] = ["**/*.py"]  # globs (or directories) where feature code lives
    docs_paths: list[str] = ["docs/features/"]  # where `<name>.<ext>` docs are found without `docs:`
    definition_pattern: str = DEFAULT_DEFINITION_PATTERN  # regex (multi-line mode) with a group `name`
    require: list[RequiredField] = ["description", "owner"]  # registry fields that must be non-blank
    unused: Rule = "warn"  # registered, but no code defines it
    unregistered: Rule = "fail"  # defined in code, missing from the registry
    missing_docs: Rule = "warn"  # no docs file (neither `docs:` nor one in docs_paths)
    missing_code: Rule = "warn"  # `code:` names a file, glob or symbol that does not exist
    changed_without_docs: Rule = "fail"  # code changed, but neither its registry entry nor its docs

    @field_validator("unused", "unregistered", "missing_docs", "missing_code", "changed_without_docs",
                     mode="before")
    @classmethod
    def _yaml_off(cls, v: object) -> object:
        """YAML 1.1 reads a bare `off` as false; `unused: off` must still mean off."""
        return "off" if v is False else v

    @field_validator("definition_pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            rx = re.compile(v, re.MULTILINE)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from None
        if "name" not in rx.groupindex and rx.groups != 1:
            raise ValueError("the pattern needs a group named 'name' (or exactly one group) for the feature name")
        return v

    @field_validator("code_paths")
    @classmethod
    def _some_code(cls, v: list[str]) -> list[str]:
        if not v or not all(p.strip() for p in v):
            raise ValueError("give at least one non-blank path or glob")
        return v

    @field_validator("registry")
    @classmethod
    def _registry(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be blank")
        return v
