"""Every GitHub read one PR evaluation needs, done before anything is decided.

`gather_inputs(forge, facts, config)` returns `PullInputs` (evaluation.py): the PR snapshot with the rules' teams
resolved, who may approve for rules that list no reviewers, the feature registry's owners, and the
name of a foreign config a gate result was computed with. `mlgate.bot.pr.evaluation` then decides
from these alone. Each read happens only when a rule needs it, so a repository without review
rules costs no permission or team lookups.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping

from mlgate.bot.github.facts import Permission, PullFacts
from mlgate.bot.github.forge import Forge
from mlgate.bot.pr.check_rule import read_results
from mlgate.bot.pr.evaluation import PullInputs
from mlgate.bot.pr.repo_config import RepoConfig, config_sha256
from mlgate.bot.pr.review import (
    UNCHANGED_PATHS,
    FeatureOwnership,
    ownership_from_registry,
    reviewers_to_check,
    teams_to_resolve,
)
from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.errors import UserError
from mlgate.checks.gates.feature_registry import parse_registry
from mlgate.names import CONFIG_PATH, GATE_PREFIX


def gather_inputs(forge: Forge, facts: PullFacts, config: RepoConfig) -> PullInputs:
    """Read what the review rules and the report need, in this order: registry, teams, permissions, PR config."""
    if not config.valid:
        return PullInputs(facts, config)
    cfg = config.effective
    rules = cfg.review.rules
    features: Mapping[str, FeatureOwnership] | None = None
    if any(r.from_features for r in rules):
        features, registry_error = feature_owners(forge, facts, cfg)
        if registry_error is not None:
            return PullInputs(facts, config, registry_error=registry_error)
    facts = with_teams(forge, facts, teams_to_resolve(facts, rules, features))
    writers = writers_among_reviewers(forge, facts) if any(not (r.users or r.teams) for r in rules) else ()
    changed = changed_since(forge, facts) if any(r.approvals_on == UNCHANGED_PATHS for r in rules) else {}
    return PullInputs(facts, config, features, None, writers, pr_config(forge, facts, config), changed)


def changed_since(forge: Forge, facts: PullFacts) -> dict[str, tuple[str, ...]]:
    """For `approvals_on: unchanged_paths`: each older SHA an approval was given on -> the paths changed
    from it to the head. Left out (so its approvals stay stale) when the head does not descend from it
    (a force-push: the old commit's history may hold content nobody reviewed) or GitHub cannot say."""
    out: dict[str, tuple[str, ...]] = {}
    olds = {r.commit_id for r in facts.reviews if r.state.upper() == "APPROVED" and r.commit_id}
    for old in sorted(olds - {facts.head_sha}):
        paths = forge.changed_paths(facts.repo, old, facts.head_sha)
        if paths is not None:
            out[old] = paths
    return out


def feature_owners(
    forge: Forge, facts: PullFacts, cfg: MlgateConfig
) -> tuple[dict[str, FeatureOwnership] | None, str | None]:
    """Feature ownership for `from_features` review rules, from the registry on the PR's BASE branch
    (like the config: a PR must not choose its own reviewers). An unreadable registry is an error
    that fails the `mlgate` check rather than a rule that silently applies to nothing."""
    path = cfg.features.registry if cfg.features else "features.yaml"
    docs_paths = cfg.features.docs_paths if cfg.features else ["docs/features/"]
    found = forge.read_file(facts.repo, path, facts.base_ref)
    if found is None:
        return None, (f"review rules use `from_features`, but the feature registry {path} does not exist on "
                      f"the base branch {facts.base_ref}")
    try:
        registry = parse_registry(found[0], f"{path}@{facts.base_ref}")
    except UserError as exc:
        return None, f"review rules use `from_features`, but the feature registry cannot be read: {exc}"
    return ownership_from_registry(registry, docs_paths), None


def with_teams(forge: Forge, facts: PullFacts, keys: Iterable[str]) -> PullFacts:
    """Fill `team_members` for the rules' teams ("org/team"); teams already known are kept."""
    members = dict(facts.team_members)
    known = {k.lower() for k in members}
    for key in keys:
        org, _, slug = key.partition("/")
        if key.lower() in known or not org or not slug:
            continue
        found = forge.team_members(org, slug)
        if found:
            members[key] = tuple(found)
    return dataclasses.replace(facts, team_members=members) if members != facts.team_members else facts


def writers_among_reviewers(forge: Forge, facts: PullFacts) -> tuple[str, ...]:
    """Reviewers with write permission: who may approve for rules that list no reviewers."""
    return tuple(u for u in dict.fromkeys(reviewers_to_check(facts))
                 if forge.permission(facts.repo, u).at_least(Permission.WRITE))


def pr_config(forge: Forge, facts: PullFacts, config: RepoConfig) -> dict[str, str]:
    """{hash: "the PR's own .github/mlgate.yml"} when a gate result on the head was computed with a
    config other than the base's and that config is the PR's own, so the report can say so plainly.

    Read only then (one request): the PR's file explains a refused result, it never judges one."""
    foreign = set()
    for run in facts.checks:
        if run.head_sha == facts.head_sha and run.name.startswith(GATE_PREFIX) and run.kind == "check_run":
            digest = read_results(run.text, run.name.removeprefix(GATE_PREFIX))[1].config_sha256
            if digest and digest != config.sha256:
                foreign.add(digest)
    if not foreign:
        return {}
    found = forge.read_file(facts.repo, CONFIG_PATH, facts.head_sha)
    if found is None:
        return {}
    digest = config_sha256(found[0])
    return {digest: f"the PR's own {CONFIG_PATH}"} if digest in foreign else {}
