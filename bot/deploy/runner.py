"""Deployments, the I/O side: reads checks, creates GitHub deployments, records them, comments.

Decisions are `bot/deploy/decisions.py`'s; this module only carries them out. Three entry points:

- `handle_deploy_command(forge, repo, number, command, config, store_or_state) -> list[str]`
  for `/deploy <env>` and `/rollback <env>`: returns the Markdown paragraphs of the reply (user
  text escaped), the caller posts them. Never raises for GitHub refusals or errors: they become
  paragraphs of the reply.
- `after_landing(forge, repo, landed_sha, prs, config, store_or_state)`: the queue runner calls
  it once the base branch moved to `landed_sha` (with the PR numbers that landed): records the
  version and deploys it to the `auto: true` environments.
- `on_deployment_status(forge, payload, config, store_or_state)`: a `deployment_status` webhook;
  records the status of one of the bot's deployments and rolls back automatically on failure
  where `rollback_on_failure` is set (commenting on the PRs that introduced the failed version).

`config` is the repository's `MlgateConfig` (a `mlgate.bot.pr.repo_config.RepoConfig` is accepted too: its
effective config is used). `store_or_state` is a `mlgate.bot.store.inbox.Inbox` (the tables of migration
0002_deployments), an SQLAlchemy Engine, or any `mlgate.bot.deploy.ledger.DeployLedger` such as
`MemoryLedger`; when omitted, a process-wide in-memory ledger is used (lost on restart: pass the
Inbox in production).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from mlgate.bot.commands.parse import Command
from mlgate.bot.deploy import decisions as deploy
from mlgate.bot.deploy.decisions import PENDING, DeployDecision, DeploymentRefused, DeployRecord
from mlgate.bot.deploy.ledger import DeployLedger, MemoryLedger, as_ledger
from mlgate.bot.github.forge import Forge
from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.report import md
from mlgate.retry import ForgeError

log = logging.getLogger(__name__)

_PROCESS_LEDGER = MemoryLedger()


def _ledger(store_or_state: object | None) -> DeployLedger:
    return _PROCESS_LEDGER if store_or_state is None else as_ledger(store_or_state)


def _config(config: object) -> MlgateConfig | None:
    if isinstance(config, MlgateConfig):
        return config
    if not getattr(config, "valid", False):
        return None  # an invalid RepoConfig (whose `effective` raises), or not a config at all
    effective = getattr(config, "effective", None)
    return effective if isinstance(effective, MlgateConfig) else None


def handle_deploy_command(
    forge: Forge,
    repo: str,
    number: int,
    command: Command,
    config: object,
    store_or_state: object | None = None,
    as_of: float | None = None,
) -> list[str]:
    """Run one accepted `/deploy <env>` or `/rollback <env>` command; the reply's paragraphs.

    `number` is the PR the command was given on; the caller posts the reply there. Permission
    checks are the caller's (bot/intake/dispatcher.py does them for every command). `as_of`: the comment's
    time; `/deploy` approves the version that had landed last by then (a newer one voids it).
    """
    cfg = _config(config)
    if cfg is None:
        return [f"`/{md(command.name)}`: the mlgate config of the default branch is invalid, so nothing was deployed."]
    ledger = _ledger(store_or_state)
    state = ledger.load(repo)
    if command.name == "deploy":
        decision = deploy.deploy_command(cfg, state, command.env, as_of=as_of)
    elif command.name == "rollback":
        decision = deploy.rollback_command(cfg, state, command.env)
    else:
        raise ValueError(f"not a deployment command: {command.name!r}")
    return execute(forge, repo, ledger, decision)


def after_landing(
    forge: Forge,
    repo: str,
    landed_sha: str,
    prs: Iterable[int],
    config: object,
    store_or_state: object | None = None,
) -> list[str]:
    """Record the landed version and deploy it to the auto environments; what happened, as Markdown.

    The version is recorded whatever the config says, so a later `/deploy` can promote it.
    """
    cfg = _config(config)
    ledger = _ledger(store_or_state)
    version = deploy.version_from_checks(landed_sha, forge.checks_on(repo, landed_sha), tuple(prs))
    known = ledger.load(repo).landed
    if not known or known[-1].sha != landed_sha:  # a repeated notice records the landing once
        ledger.add_landed(repo, version)
    if cfg is None or not cfg.deploy.environments:
        return []
    return execute(forge, repo, ledger, deploy.after_landing(cfg, ledger.load(repo), version))


def on_deployment_status(
    forge: Forge,
    payload: Mapping[str, Any],
    config: object,
    store_or_state: object | None = None,
) -> list[str]:
    """Handle a `deployment_status` webhook payload; deployments the bot did not create are ignored."""
    cfg = _config(config)
    repo = _dig(payload, "repository", "full_name")
    deployment_id = _dig(payload, "deployment", "id")
    status = _dig(payload, "deployment_status", "state")
    if cfg is None or not isinstance(repo, str) or not isinstance(deployment_id, int) or not isinstance(status, str):
        return []
    ledger = _ledger(store_or_state)
    if not ledger.set_status(repo, deployment_id, status):
        return []
    decision = deploy.on_status(cfg, ledger.load(repo), deployment_id, status)
    return execute(forge, repo, ledger, decision)


def execute(forge: Forge, repo: str, ledger: DeployLedger, decision: DeployDecision) -> list[str]:
    """Create the decided deployments, record them, post the notifications; the reply paragraphs."""
    messages = list(decision.messages)
    checks: dict[str, tuple[Any, ...]] = {}
    for req in decision.requests:
        env, sha = md(req.environment), req.version.sha
        try:
            if sha not in checks:
                checks[sha] = tuple(forge.checks_on(repo, sha))
            contexts, failing = deploy.split_required(req.required_contexts, checks[sha])
            if failing:
                refused = ", ".join(f"`{md(c)}`" for c in failing)
                messages.append(f"mlgate refused to deploy {sha[:7]} to `{env}`: not green on that commit: {refused}.")
                continue
            deployment_id = _create(forge, repo, req, contexts)
        except DeploymentRefused as exc:
            failing = ", ".join(f"`{md(c)}` ({md(state)})" for c, state in exc.contexts) or "the required checks"
            messages.append(f"GitHub refused to deploy {sha[:7]} to `{env}`: not green on that commit: {failing}.")
            continue
        except ForgeError as exc:
            log.warning("deployment of %s to %s failed: %s", sha[:12], req.environment, exc)
            messages.append(f"Could not create the deployment of {sha[:7]} to `{env}`: {md(str(exc))[:300]}")
            continue
        ledger.add_deployment(
            repo, DeployRecord(deployment_id, req.environment, sha, PENDING, req.rollback_of)
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


def deployment_status_route(handlers: Any, payload: Mapping[str, Any]) -> set[tuple[str, int]]:
    """A `ROUTES` entry for bot/intake/dispatcher.py: `"deployment_status": deployment_status_route`.

    Reads the config of the default branch (trusted, like commands) and the ledger from
    `handlers.deploy_store` (an Inbox, Engine or DeployLedger); without one, deployments are off and
    the status is ignored, like /deploy. Re-evaluates no PR.
    """
    from mlgate.bot.pr.repo_config import load_repo_config

    ledger = getattr(handlers, "deploy_store", None)
    repo = _dig(payload, "repository", "full_name")
    branch = _dig(payload, "repository", "default_branch")
    if ledger is None or not isinstance(repo, str) or "/" not in repo or not isinstance(branch, str):
        return set()
    forge = handlers._forge(repo)
    config = load_repo_config(forge, repo, branch, handlers.config_cache)
    on_deployment_status(forge, payload, config, ledger)
    return set()


def _dig(data: object, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data
