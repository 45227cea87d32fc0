"""Deployment decisions, pure: what to deploy where, what to refuse, when to roll back.

The bot creates GitHub Deployments; a CD system (a workflow listening to `deployment` events)
does the actual rollout and reports `deployment_status`. This module decides from plain data:

- `after_landing`: a landed version goes to every environment with `auto: true` whose
  `requires` (if any) is already satisfied for that version.
- `deploy_command`: `/deploy <env>` promotes the last landed version; `requires: shadow` means a
  successful `shadow` deployment of the same SHA must exist first.
- `rollback_command`: `/rollback <env>` redeploys the newest successfully deployed SHA in that
  environment that differs from the one currently there.
- `on_status`: records a deployment status; a `failure`/`error` in an environment with
  `rollback_on_failure` rolls back automatically (never a rollback of a rollback: no loops) and
  tells the PRs that introduced the failed version; a `success` in X deploys the auto
  environments that require X.

Every request carries the required checks (`merge.required_checks`) as `required_contexts`, so
GitHub itself refuses a SHA whose checks are not green. GitHub documents that parameter for commit
statuses only (GitHub.com judges check runs too; the sandbox does not), so the deployer also
verifies the required check runs (`split_required`) and, when a forge refuses nothing but check
runs it verified green, asks again with the statuses and never-reported names alone.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mlgate.bot.github.facts import CheckRun
from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.report import md
from mlgate.names import DEPLOY_MARKER, GATE_PREFIX

SUCCESS, FAILURE, ERROR, PENDING, INACTIVE = "success", "failure", "error", "pending", "inactive"
FAILED_STATES = (FAILURE, ERROR)
PAYLOAD_KIND = "mlgate.deployment/v1"


@dataclass(frozen=True)
class Version:
    """What a deployment ships: the code SHA, the model and data content hashes, the gate verdicts."""

    sha: str
    model: str | None = None
    data: str | None = None
    gates: tuple[tuple[str, str], ...] = ()  # (check name, conclusion) of the gate/required checks
    prs: tuple[int, ...] = ()  # the PRs that landed in this version
    landed_at: float | None = field(default=None, compare=False)  # when the bot recorded the landing (epoch s)

    def short(self) -> str:
        return self.sha[:7]


@dataclass(frozen=True)
class DeployRecord:
    """One GitHub deployment the bot created, with its latest known status."""

    id: int
    environment: str
    sha: str
    state: str = PENDING  # latest deployment status seen (pending until one arrives)
    rollback_of: int | None = None  # the deployment this one replaces after a rollback
    requested_by: str = ""  # who commented /deploy or /rollback ("": the bot, after a landing or a failure)


@dataclass(frozen=True)
class DeployState:
    """Per repository: landed versions (oldest first) and the bot's deployments (oldest first)."""

    landed: tuple[Version, ...] = ()
    deployments: tuple[DeployRecord, ...] = ()

    def version(self, sha: str) -> Version | None:
        for v in reversed(self.landed):
            if v.sha == sha:
                return v
        return None

    def in_env(self, env: str) -> list[DeployRecord]:
        return [d for d in self.deployments if d.environment == env]

    def deployment(self, deployment_id: int) -> DeployRecord | None:
        return next((d for d in self.deployments if d.id == deployment_id), None)

    def succeeded(self, env: str, sha: str) -> bool:
        """Has `sha` ever been successfully deployed to `env` (a later `inactive` still counts)?"""
        return any(d.sha == sha and d.state in (SUCCESS, INACTIVE) for d in self.in_env(env))


@dataclass(frozen=True)
class DeployRequest:
    """A deployment to create. `payload` is what the CD system reads."""

    environment: str
    version: Version
    required_contexts: tuple[str, ...] | None  # None: GitHub's default (every context on the SHA)
    description: str
    rollback_of: int | None = None
    payload: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class DeployDecision:
    """Requests to send and Markdown lines to reply (user text already escaped)."""

    requests: tuple[DeployRequest, ...] = ()
    messages: tuple[str, ...] = ()
    notify: tuple[tuple[int, str], ...] = ()  # (PR number, comment body) to post


# ---------------------------------------------------------------------------------------------
# Versions from check runs


def required_contexts(config: MlgateConfig) -> tuple[str, ...] | None:
    """The required checks' names; None (GitHub: every context must pass) when none are configured."""
    names = [c if isinstance(c, str) else c.name for c in config.merge.required_checks]
    return tuple(dict.fromkeys(names)) or None


def split_required(
    required: tuple[str, ...] | None, checks: Iterable[CheckRun]
) -> tuple[tuple[str, ...] | None, tuple[str, ...]]:
    """(the contexts to hand GitHub as `required_contexts`, the required check runs that are not green).

    GitHub's deployment API checks commit statuses only, so required checks reported as check runs
    are verified here (the newest run per name must have succeeded) and the rest go to GitHub: the
    required names reported as statuses, and those not reported at all (GitHub refuses a context
    that was never submitted). None stays None: GitHub's default, every status context.
    """
    if required is None:
        return None, ()
    runs: dict[str, CheckRun] = {}
    statuses: set[str] = set()
    for c in checks:
        if c.kind == "status":
            statuses.add(c.name)
        elif c.name not in runs or (c.id or 0) >= (runs[c.name].id or 0):
            runs[c.name] = c
    to_github, failing = [], []
    for name in required:
        run = runs.get(name)
        if name in statuses or run is None:
            to_github.append(name)
        elif run.status != "completed" or run.conclusion != "success":
            failing.append(f"{name} ({run.conclusion or run.status})")
    return tuple(to_github), tuple(failing)


def _hash(value: object) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("sha256")
    return value if isinstance(value, str) and value else None


def version_from_checks(sha: str, checks: Iterable[CheckRun], prs: Sequence[int] = ()) -> Version:
    """The version of a landed SHA: hashes from its `mlgate/*` results JSON, verdicts of its checks.

    The newest completed run per name wins. Results JSON that does not parse or that was computed
    for another SHA (`versions.git_sha`) gives no hashes: the payload then says `null` rather than
    something unproven.
    """
    latest: dict[str, CheckRun] = {}
    for run in checks:
        if run.status != "completed":
            continue
        old = latest.get(run.name)
        if old is None or (run.id or 0) >= (old.id or 0):
            latest[run.name] = run
    model = data = None
    for name in sorted(latest):
        run = latest[name]
        if not name.startswith(GATE_PREFIX) or not run.text:
            continue
        versions = _versions(run.text)
        git_sha = versions.get("git_sha")
        if git_sha and git_sha != sha:
            continue
        model = model or _hash(versions.get("model"))
        data = data or _hash(versions.get("data"))
    gates = tuple((n, latest[n].conclusion or "none") for n in sorted(latest))
    return Version(sha=sha, model=model, data=data, gates=gates, prs=tuple(prs))


def _versions(text: str) -> dict[str, Any]:
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        versions = data.get("versions") if isinstance(data, dict) else None
        return versions if isinstance(versions, dict) else {}
    return {}


# ---------------------------------------------------------------------------------------------
# Requests


def payload_for(version: Version, environment: str, rollback_of: int | None = None) -> dict[str, Any]:
    """The deployment payload the CD system reads (JSON-serialisable)."""
    return {
        "kind": PAYLOAD_KIND,
        "environment": environment,
        "version": {"code": version.sha, "model": version.model, "data": version.data},
        "gates": dict(version.gates),
        "prs": list(version.prs),
        "rollback_of": rollback_of,
    }


def version_from_payload(sha: str, payload: object) -> Version:
    """Inverse of `payload_for`, tolerant: the version a deployment event says it carries."""
    p: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    v, gates, prs = p.get("version"), p.get("gates"), p.get("prs")
    v = v if isinstance(v, Mapping) else {}
    gates = gates if isinstance(gates, Mapping) else {}
    prs = prs if isinstance(prs, list) else []
    return Version(
        sha=sha,
        model=_hash(v.get("model")),
        data=_hash(v.get("data")),
        gates=tuple((str(k), str(val)) for k, val in sorted(gates.items())),
        prs=tuple(n for n in prs if isinstance(n, int)),
    )


def request(
    config: MlgateConfig, environment: str, version: Version, *, why: str, rollback_of: int | None = None
) -> DeployRequest:
    return DeployRequest(
        environment=environment,
        version=version,
        required_contexts=required_contexts(config),
        description=f"mlgate: {why} {version.short()} to {environment}"[:140],
        rollback_of=rollback_of,
        payload=payload_for(version, environment, rollback_of),
    )


def _env_list(config: MlgateConfig) -> str:
    envs = list(config.deploy.environments)
    return ", ".join(f"`{md(e)}`" for e in envs) if envs else "none (add `deploy.environments` to the config)"


# ---------------------------------------------------------------------------------------------
# Decisions


def after_landing(config: MlgateConfig, state: DeployState, version: Version) -> DeployDecision:
    """Deploy a freshly landed version to the `auto: true` environments whose prerequisite holds."""
    requests = []
    messages = []
    for env, spec in config.deploy.environments.items():
        if not spec.auto or any(d.sha == version.sha for d in state.in_env(env)):
            continue  # a repeated landing notice (a retried delivery) deploys nothing twice
        if spec.requires and not state.succeeded(spec.requires, version.sha):
            messages.append(
                f"`{md(env)}` waits for a successful `{md(spec.requires)}` deployment of {version.short()}."
            )
            continue
        requests.append(request(config, env, version, why="deploy"))
    return DeployDecision(requests=tuple(requests), messages=tuple(messages))


def deploy_command(
    config: MlgateConfig, state: DeployState, env: str | None, as_of: float | None = None
) -> DeployDecision:
    """`/deploy <env>`: the last landed version to `env`, if its prerequisite environment has it.

    `as_of` (the comment's time): the command approves the version that was the last landed one
    then; if a newer version landed after the comment, nothing is deployed and the reply says so
    (the commenter never saw it). Landing times are the bot's clock, the comment's GitHub's.
    """
    envs = config.deploy.environments
    if not env:
        return DeployDecision(messages=(f"`/deploy` needs an environment: one of {_env_list(config)}.",))
    if env not in envs:
        return DeployDecision(messages=(f"`/deploy {md(env)}`: no such environment; configured: {_env_list(config)}.",))
    if not state.landed:
        return DeployDecision(messages=(f"`/deploy {md(env)}`: nothing has landed through the merge queue yet.",))
    version = state.landed[-1]
    if as_of is not None and version.landed_at is not None and version.landed_at > as_of:
        earlier = [v for v in state.landed if v.landed_at is None or v.landed_at <= as_of]
        then = f"the last landed version was {earlier[-1].short()}" if earlier else "nothing had landed yet"
        return DeployDecision(
            messages=(
                f"`/deploy {md(env)}`: {version.short()} landed after your comment (when you commented, {then}). "
                "`/deploy` deploys the version you saw, so nothing was deployed. Comment "
                f"`/deploy {md(env)}` again to deploy {version.short()}.",
            )
        )
    needs = envs[env].requires
    if needs and not state.succeeded(needs, version.sha):
        return DeployDecision(
            messages=(
                f"`/deploy {md(env)}`: refused. `{md(env)}` requires a successful `{md(needs)}` deployment of the "
                f"same version first, and {version.short()} has none. Run `/deploy {md(needs)}` and wait for it "
                "to succeed.",
            )
        )
    return DeployDecision(
        requests=(request(config, env, version, why="deploy"),),
        messages=(f"`/deploy {md(env)}`: deploying {_describe(version)}.",),
    )


def rollback_target(state: DeployState, env: str) -> tuple[DeployRecord | None, DeployRecord | None]:
    """(the deployment currently in `env`, the newest successful one with a different SHA)."""
    history = state.in_env(env)
    if not history:
        return None, None
    current = history[-1]
    for record in reversed(history[:-1]):
        if record.sha != current.sha and record.state in (SUCCESS, INACTIVE):
            return current, record
    return current, None


def rollback_command(config: MlgateConfig, state: DeployState, env: str | None) -> DeployDecision:
    """`/rollback <env>`: redeploy the previous successfully deployed version of `env`."""
    if not env:
        return DeployDecision(messages=(f"`/rollback` needs an environment: one of {_env_list(config)}.",))
    if env not in config.deploy.environments:
        return DeployDecision(
            messages=(f"`/rollback {md(env)}`: no such environment; configured: {_env_list(config)}.",)
        )
    current, target = rollback_target(state, env)
    if current is None:
        nothing = f"`/rollback {md(env)}`: mlgate has not deployed anything to `{md(env)}` yet."
        return DeployDecision(messages=(nothing,))
    if target is None:
        return DeployDecision(
            messages=(
                f"`/rollback {md(env)}`: there is no earlier successful version in `{md(env)}` to go back to "
                f"(currently {current.sha[:7]}).",
            )
        )
    version = state.version(target.sha) or Version(sha=target.sha)
    return DeployDecision(
        requests=(request(config, env, version, why="roll back", rollback_of=current.id),),
        messages=(f"`/rollback {md(env)}`: replacing {current.sha[:7]} with {_describe(version)}.",),
    )


def record_status(state: DeployState, deployment_id: int, status: str) -> DeployState:
    """The state with deployment `deployment_id`'s latest status set (unknown ids change nothing)."""
    records = tuple(dataclasses.replace(d, state=status) if d.id == deployment_id else d for d in state.deployments)
    return dataclasses.replace(state, deployments=records)


def on_status(config: MlgateConfig, state: DeployState, deployment_id: int, status: str) -> DeployDecision:
    """React to a deployment status of one of the bot's deployments (`state` already records it)."""
    record = state.deployment(deployment_id)
    spec = config.deploy.environments.get(record.environment) if record else None
    if record is None or spec is None:
        return DeployDecision()
    version = state.version(record.sha) or Version(sha=record.sha)
    if status == SUCCESS:
        followers = [
            request(config, env, version, why="deploy")
            for env, s in config.deploy.environments.items()
            if s.auto and s.requires == record.environment and not any(d.sha == record.sha for d in state.in_env(env))
        ]
        return DeployDecision(requests=tuple(followers))
    if status not in FAILED_STATES or not spec.rollback_on_failure:
        return DeployDecision()
    env = record.environment
    if record.rollback_of is not None:
        note = (
            f"{DEPLOY_MARKER}\nThe rollback of `{md(env)}` to {record.sha[:7]} failed too; mlgate does not roll "
            "back a rollback. A human needs to look at this environment."
        )
        return DeployDecision(notify=tuple((n, note) for n in version.prs), messages=(note,))
    current, target = rollback_target(state, env)
    if current is None or current.id != record.id:
        return DeployDecision()  # an older deployment failed; the newer one is what runs now
    if target is None:
        text = (
            f"{DEPLOY_MARKER}\nDeployment of {record.sha[:7]} to `{md(env)}` **failed**, and there is no earlier "
            "successful version to roll back to."
        )
        return DeployDecision(notify=tuple((n, text) for n in version.prs), messages=(text,))
    back = state.version(target.sha) or Version(sha=target.sha)
    text = (
        f"{DEPLOY_MARKER}\nDeployment of {_describe(version)} to `{md(env)}` reported **{md(status)}**. "
        f"mlgate is rolling `{md(env)}` back to {_describe(back)} (`rollback_on_failure`)."
    )
    return DeployDecision(
        requests=(request(config, env, back, why="roll back", rollback_of=record.id),),
        notify=tuple((n, text) for n in version.prs),
        messages=(text,),
    )


def _describe(version: Version) -> str:
    parts = [f"code {version.short()}"]
    if version.model:
        parts.append(f"model {md(version.model.removeprefix('sha256:')[:12])}")
    if version.data:
        parts.append(f"data {md(version.data.removeprefix('sha256:')[:12])}")
    return ", ".join(parts)
