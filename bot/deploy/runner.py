"""Deployments, the I/O side: reads checks, creates GitHub deployments, records them, comments.

Decisions are `bot/deploy/decisions.py`'s; this module only carries them out. Three entry points:

- `handle_deploy_command(forge, repo, number, command, config, ledger) -> list[str]` for
  `/deploy <env>` and `/rollback <env>`: returns the Markdown paragraphs of the reply (user text
  escaped), the caller posts them. Never raises for GitHub refusals or errors: they become
  paragraphs of the reply. For an environment with `requires_gates` it first reads the check runs
  on the version's commit and the config committed there (the evidence the decision judges).
- `after_landing(forge, repo, landed_sha, prs, config, ledger)`: the queue runner calls it once
  the base branch moved to `landed_sha` (with the PR numbers that landed): records the version,
  with its model card (from the gate results on that commit, the config and the PRs' reviews),
  and deploys it to the `auto: true` environments.
- `on_deployment_status(forge, payload, config, ledger)`: a `deployment_status` webhook; records
  the status of one of the bot's deployments and rolls back automatically on failure where
  `rollback_on_failure` is set (commenting on the PRs that introduced the failed version).

`config` is the repository's `MlgateConfig` (a `mlgate.bot.pr.repo_config.RepoConfig` is accepted
too: its effective config is used, an invalid one deploys nothing). `ledger` is a
`mlgate.bot.deploy.ledger.DeployLedger`, or what `as_ledger` makes one of: the bot's `Inbox` or
an SQLAlchemy Engine (the tables of migration 0002_deployments).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from mlgate.bot.deploy import decisions as deploy
from mlgate.bot.deploy.decisions import PENDING, DeployDecision, DeployRecord
from mlgate.bot.deploy.ledger import DeployLedger, LedgerSource, as_ledger
from mlgate.bot.github.facts import Review
from mlgate.bot.github.forge import DeploymentRefused, Forge
from mlgate.bot.github.payloads import dig
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.deploy_requirements import GateEvidence
from mlgate.checks.report import md
from mlgate.names import CONFIG_PATH
from mlgate.retry import ForgeError

log = logging.getLogger(__name__)


class DeployCommand(Protocol):
    """A parsed `/deploy <env>` or `/rollback <env>` (`mlgate.bot.commands.parse.Command` is one)."""

    @property
    def name(self) -> str: ...

    @property
    def env(self) -> str | None: ...


def _config(config: MlgateConfig | RepoConfig) -> MlgateConfig | None:
    if isinstance(config, MlgateConfig):
        return config
    return config.effective if config.valid else None  # an invalid RepoConfig deploys nothing


def handle_deploy_command(
    forge: Forge,
    repo: str,
    number: int,
    command: DeployCommand,
    config: MlgateConfig | RepoConfig,
    ledger: LedgerSource,
    as_of: float | None = None,
    requested_by: str = "",
) -> list[str]:
    """Run one accepted `/deploy <env>` or `/rollback <env>` command; the reply's paragraphs.

    `number` is the PR the command was given on; the caller posts the reply there. Permission
    checks are the caller's (bot/commands/run.py does them for every command). `as_of`: the comment's
    time; `/deploy` approves the version that had landed last by then (a newer one voids it).
    `requested_by`: the commenter, kept with the deployments this creates.
    """
    cfg = _config(config)
    if cfg is None:
        return [f"`/{md(command.name)}`: the mlgate config of the default branch is invalid, so nothing was deployed."]
    ledger = as_ledger(ledger)
    state = ledger.load(repo)
    if command.name == "deploy":
        try:
            evidence = _required_gate_evidence(forge, repo, cfg, config, state, command.env)
        except ForgeError as exc:
            log.warning("could not read the required gates of %s: %s", repo, exc)
            return [f"`/deploy {md(command.env or '')}`: could not read the required gates' results from GitHub "
                    f"({md(str(exc))[:200]}), so nothing was deployed. Try again."]
        decision = deploy.deploy_command(cfg, state, command.env, as_of=as_of, evidence=evidence)
    elif command.name == "rollback":
        decision = deploy.rollback_command(cfg, state, command.env)
    else:
        raise ValueError(f"not a deployment command: {command.name!r}")
    return execute(forge, repo, ledger, decision, cfg, requested_by=requested_by)


def after_landing(
    forge: Forge,
    repo: str,
    landed_sha: str,
    prs: Iterable[int],
    config: MlgateConfig | RepoConfig,
    ledger: LedgerSource,
) -> list[str]:
    """Record the landed version and deploy it to the auto environments; what happened, as Markdown.

    The version is recorded whatever the config says, so a later `/deploy` can promote it.
    """
    cfg = _config(config)
    ledger = as_ledger(ledger)
    prs = tuple(prs)
    checks = forge.checks_on(repo, landed_sha)
    version = deploy.version_from_checks(landed_sha, checks, prs)
    gate_app = cfg.merge.gate_app if cfg is not None else MlgateConfig().merge.gate_app
    card = deploy.card_for(cfg, landed_sha, checks, _reviews(forge, repo, prs), gate_app=gate_app)
    version = dataclasses.replace(version, card=card)
    known = ledger.load(repo).landed
    if not known or known[-1].sha != landed_sha:  # a repeated notice records the landing once
        ledger.add_landed(repo, version)
    if cfg is None or not cfg.deploy.environments:
        return []
    evidence = _evidence(forge, repo, cfg, config, landed_sha, deploy.required_gates(cfg), checks)
    return execute(forge, repo, ledger, deploy.after_landing(cfg, ledger.load(repo), version, evidence))


def on_deployment_status(
    forge: Forge,
    payload: Mapping[str, Any],
    config: MlgateConfig | RepoConfig,
    ledger: LedgerSource,
) -> list[str]:
    """Handle a `deployment_status` webhook payload; deployments the bot did not create are ignored."""
    cfg = _config(config)
    repo = dig(payload, "repository", "full_name")
    deployment_id = dig(payload, "deployment", "id")
    status = dig(payload, "deployment_status", "state")
    if cfg is None or not isinstance(repo, str) or not isinstance(deployment_id, int) or not isinstance(status, str):
        return []
    ledger = as_ledger(ledger)
    if not ledger.set_status(repo, deployment_id, status):
        return []
    state = ledger.load(repo)
    record = state.deployment(deployment_id)
    evidence: dict[str, GateEvidence] = {}
    if status == deploy.SUCCESS and record is not None and deploy.required_gates(cfg):
        try:
            evidence = _evidence(forge, repo, cfg, config, record.sha, deploy.required_gates(cfg))
        except ForgeError as exc:  # the followers then wait, and the reply says for what
            log.warning("could not read the required gates on %s: %s", record.sha[:12], exc)
    decision = deploy.on_status(cfg, state, deployment_id, status, evidence)
    return execute(forge, repo, ledger, decision, cfg)


def _required_gate_evidence(
    forge: Forge, repo: str, cfg: MlgateConfig, given: MlgateConfig | RepoConfig, state: deploy.DeployState,
    env: str | None,
) -> dict[str, GateEvidence]:
    """The check runs of the gates `env` requires, on the version `/deploy` would ship (the last landed)."""
    spec = cfg.deploy.environments.get(env or "")
    if spec is None or not spec.requires_gates or not state.landed:
        return {}
    return _evidence(forge, repo, cfg, given, state.landed[-1].sha, spec.requires_gates)


def _evidence(
    forge: Forge, repo: str, cfg: MlgateConfig, given: MlgateConfig | RepoConfig, sha: str, gates: Iterable[str],
    checks: Iterable[Any] | None = None,
) -> dict[str, GateEvidence]:
    """What the `mlgate/<gate>` runs on `sha` prove, trusting results computed with the default
    branch's config or with the config committed in `sha` itself (it landed, so it was reviewed)."""
    gates = tuple(gates)
    if not gates:
        return {}
    trusted = [given.sha256 if isinstance(given, RepoConfig) else None]
    committed = forge.read_file(repo, CONFIG_PATH, sha)
    if committed is not None:
        trusted.append("sha256:" + hashlib.sha256(committed[0].encode("utf-8")).hexdigest())
    runs = forge.checks_on(repo, sha) if checks is None else checks
    return deploy.gate_evidence(gates, sha, runs, gate_app=cfg.merge.gate_app, trusted_configs=trusted)


def _reviews(forge: Forge, repo: str, prs: tuple[int, ...]) -> list[Review]:
    """The reviews of the PRs that landed (for the card's approvals); a PR that cannot be read has none."""
    out: list[Review] = []
    for number in prs:
        try:
            out.extend(forge.pull_reviews(repo, number))
        except (ForgeError, LookupError) as exc:
            log.info("no reviews of %s#%d for the model card: %s", repo, number, exc)
    return out


def execute(forge: Forge, repo: str, ledger: DeployLedger, decision: DeployDecision,
            config: MlgateConfig | None = None, requested_by: str = "") -> list[str]:
    """Create the decided deployments, record them, post the notifications; the reply paragraphs.
    With `config`, each deployment's model card is built again from the results on its commit now."""
    messages = list(decision.messages)
    checks: dict[str, tuple[Any, ...]] = {}
    for req in decision.requests:
        env, sha = md(req.environment), req.version.sha
        try:
            if sha not in checks:
                checks[sha] = tuple(forge.checks_on(repo, sha))
            if config is not None:
                req = deploy.with_card(req, deploy.card_for(config, sha, checks[sha], gate_app=config.merge.gate_app))
            contexts, failing = deploy.split_required(req.required_contexts, checks[sha])
            if failing:
                names = ", ".join(f"`{md(c)}`" for c in failing)
                messages.append(f"mlgate refused to deploy {sha[:7]} to `{env}`: not green on that commit: {names}.")
                continue
            deployment_id = _create(forge, repo, req, contexts)
        except DeploymentRefused as exc:
            named = ", ".join(f"`{md(c)}` ({md(state)})" for c, state in exc.contexts) or "the required checks"
            messages.append(f"GitHub refused to deploy {sha[:7]} to `{env}`: not green on that commit: {named}.")
            continue
        except ForgeError as exc:
            log.warning("deployment of %s to %s failed: %s", sha[:12], req.environment, exc)
            messages.append(f"Could not create the deployment of {sha[:7]} to `{env}`: {md(str(exc))[:300]}")
            continue
        ledger.add_deployment(
            repo, DeployRecord(deployment_id, req.environment, sha, PENDING, req.rollback_of, requested_by)
        )
        messages.append(f"Created deployment {deployment_id} of {sha[:7]} to `{env}`.")
    for number, body in decision.notify:
        try:
            forge.create_comment(repo, number, body)
        except ForgeError as exc:
            log.warning("could not comment on %s#%d about a deployment: %s", repo, number, exc)
    return messages


def _create(forge: Forge, repo: str, req: deploy.DeployRequest, unverified: tuple[str, ...] | None) -> int:
    """Ask GitHub with every required check as `required_contexts` (GitHub.com judges check runs too).

    GitHub documents `required_contexts` for commit statuses only, and a forge that judges only
    those (the sandbox) refuses check runs as "missing". When it refuses nothing but required check
    runs mlgate has just verified green, ask again with the other contexts (`unverified`).
    """
    def create(contexts: tuple[str, ...] | None) -> int:
        return forge.create_deployment(
            repo, req.version.sha, req.environment, payload=req.payload, required_contexts=contexts,
            description=req.description,
        )

    try:
        return create(req.required_contexts)
    except DeploymentRefused as exc:
        verified = set(req.required_contexts or ()) - set(unverified or ())
        if req.required_contexts is None or not exc.contexts or not {c for c, _ in exc.contexts} <= verified:
            raise
        log.info("%s judges required_contexts by commit status only; %s verified by mlgate", repo,
                 ", ".join(sorted(verified)))
        return create(unverified)
