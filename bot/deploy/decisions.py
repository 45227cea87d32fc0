"""Deployment decisions, pure: what to deploy where, what to refuse, when to roll back.

The bot creates GitHub Deployments; a CD system (a workflow listening to `deployment` events)
does the actual rollout and reports `deployment_status`. This module decides from plain data:

- `after_landing`: a landed version goes to every environment with `auto: true` whose
  `requires` (if any) is already satisfied for that version.
- `deploy_command`: `/deploy <env>` promotes the last landed version; `requires: shadow` means a
  successful `shadow` deployment of the same SHA must exist first, and `requires_gates: [shadow]`
  that the `mlgate/shadow` result on that SHA passed for that very model (`gate_evidence` reads the
  check runs; `mlgate.checks.deploy_requirements.unmet_requirements` judges them). A refusal names
  every unmet requirement, with the failed limit.
- `rollback_command`: `/rollback <env>` redeploys the newest successfully deployed SHA in that
  environment that differs from the one currently there.
- `on_status`: records a deployment status; a `failure`/`error` in an environment with
  `rollback_on_failure` rolls back automatically (never a rollback of a rollback: no loops) and
  tells the PRs that introduced the failed version; a `success` in X deploys the auto
  environments that require X.

Every deployment carries the version's model card (`mlgate.card/v1`, built from the gate results
on the landed commit and the config, `card_for`) in its payload, and the ledger keeps it. When a
deployment is created the card is built again from the results on the commit then (`with_card`), so
a production deployment's card holds the shadow comparison that let it through.

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

from mlgate.bot.github.facts import CheckRun, Review
from mlgate.checks.config.models import MlgateConfig
from mlgate.checks.deploy_requirements import GateEvidence, unmet_requirements
from mlgate.checks.report import md
from mlgate.checks.results import SCHEMA_ID, RunResults
from mlgate.names import DEPLOY_MARKER, GATE_PREFIX

SUCCESS, FAILURE, ERROR, PENDING, INACTIVE = "success", "failure", "error", "pending", "inactive"
FAILED_STATES = (FAILURE, ERROR)
PAYLOAD_KIND = "mlgate.deployment/v1"
MAX_CARD_CHARS = 48_000  # a card larger than this (as JSON) travels without its per-group fairness rows


@dataclass(frozen=True)
class Version:
    """What a deployment ships: the code SHA, the model and data content hashes, the gate verdicts."""

    sha: str
    model: str | None = None
    data: str | None = None
    gates: tuple[tuple[str, str], ...] = ()  # (check name, conclusion) of the gate/required checks
    prs: tuple[int, ...] = ()  # the PRs that landed in this version
    landed_at: float | None = field(default=None, compare=False)  # when the bot recorded the landing (epoch s)
    card: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)  # mlgate.card/v1 of this version

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
    why: str = "deploy"  # or "roll back": the description's verb


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
        "card": dict(version.card) if version.card is not None else None,
    }


def version_from_payload(sha: str, payload: object) -> Version:
    """Inverse of `payload_for`, tolerant: the version a deployment event says it carries."""
    p: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    v, gates, prs, card = p.get("version"), p.get("gates"), p.get("prs"), p.get("card")
    v = v if isinstance(v, Mapping) else {}
    gates = gates if isinstance(gates, Mapping) else {}
    prs = prs if isinstance(prs, list) else []
    return Version(
        sha=sha,
        model=_hash(v.get("model")),
        data=_hash(v.get("data")),
        gates=tuple((str(k), str(val)) for k, val in sorted(gates.items())),
        prs=tuple(n for n in prs if isinstance(n, int)),
        card=card if isinstance(card, Mapping) else None,
    )


def request(
    config: MlgateConfig, environment: str, version: Version, *, why: str, rollback_of: int | None = None
) -> DeployRequest:
    return DeployRequest(
        environment=environment,
        version=version,
        required_contexts=required_contexts(config),
        description=_description(why, version, environment),
        rollback_of=rollback_of,
        payload=payload_for(version, environment, rollback_of),
        why=why,
    )


def with_card(req: DeployRequest, card: Mapping[str, Any] | None) -> DeployRequest:
    """The request carrying `card` (payload and description too); the approvals of the card it replaces
    are kept, since they come from the landing, not from the check runs."""
    if card is None:
        return req
    card = dict(card)
    old = req.version.card or {}
    if old.get("reviews") is not None:
        card["reviews"] = old["reviews"]
        card["notes"] = [n for n in card.get("notes", []) if not str(n).startswith("no reviews given")]
    version = dataclasses.replace(req.version, card=card)
    return dataclasses.replace(req, version=version, payload=payload_for(version, req.environment, req.rollback_of),
                               description=_description(req.why, version, req.environment))


def _env_list(config: MlgateConfig) -> str:
    envs = list(config.deploy.environments)
    return ", ".join(f"`{md(e)}`" for e in envs) if envs else "none (add `deploy.environments` to the config)"


# ---------------------------------------------------------------------------------------------
# Decisions


def required_gates(config: MlgateConfig) -> tuple[str, ...]:
    """Every gate some environment requires (`requires_gates`): what the runner gathers evidence of."""
    return tuple(dict.fromkeys(g for spec in config.deploy.environments.values() for g in spec.requires_gates))


def _gates_unmet(config: MlgateConfig, env: str, version: Version,
                 evidence: Mapping[str, GateEvidence] | None) -> str | None:
    """Why an automatic deployment to `env` waits for its required gates; None: they passed (or none)."""
    spec = config.deploy.environments[env]
    unmet = unmet_requirements(spec.requires_gates, evidence or {}, sha=version.sha, model_sha256=version.model)
    if not unmet:
        return None
    return f"`{md(env)}` waits for its required gates on {version.short()}: " + "; ".join(md(r) for r in unmet) + "."


def after_landing(config: MlgateConfig, state: DeployState, version: Version,
                  evidence: Mapping[str, GateEvidence] | None = None) -> DeployDecision:
    """Deploy a freshly landed version to the `auto: true` environments whose prerequisite holds
    (a successful deployment in `requires`, and the `requires_gates` passed: `evidence`)."""
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
        waits = _gates_unmet(config, env, version, evidence)
        if waits:
            messages.append(waits)
            continue
        requests.append(request(config, env, version, why="deploy"))
    return DeployDecision(requests=tuple(requests), messages=tuple(messages))


def deploy_command(
    config: MlgateConfig, state: DeployState, env: str | None, as_of: float | None = None,
    evidence: Mapping[str, GateEvidence] | None = None,
) -> DeployDecision:
    """`/deploy <env>`: the last landed version to `env`, if its prerequisite environment has it and
    the gates it requires (`requires_gates`) passed on that version (`evidence`: what
    `gate_evidence` found on its commit; a required gate without evidence has not run).

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
    spec = envs[env]
    needs = spec.requires
    reasons = []
    if needs and not state.succeeded(needs, version.sha):
        reasons.append(f"`{md(env)}` requires a successful `{md(needs)}` deployment of the same version first, and "
                       f"{version.short()} has none. Run `/deploy {md(needs)}` and wait for it to succeed.")
    unmet = unmet_requirements(spec.requires_gates, evidence or {}, sha=version.sha, model_sha256=version.model)
    if unmet:
        gates = ", ".join(f"`{GATE_PREFIX}{md(g)}`" for g in spec.requires_gates)
        reasons.append(f"`{md(env)}` requires {gates} to have passed on {version.short()} for its model "
                       "(`requires_gates`), and it has not:\n" + "\n".join(f"- {md(r)}" for r in unmet))
    if reasons:
        return DeployDecision(messages=(f"`/deploy {md(env)}`: refused. " + "\n\n".join(reasons),))
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


def on_status(config: MlgateConfig, state: DeployState, deployment_id: int, status: str,
              evidence: Mapping[str, GateEvidence] | None = None) -> DeployDecision:
    """React to a deployment status of one of the bot's deployments (`state` already records it).
    `evidence`: the required gates' results on the deployment's commit (for the auto followers)."""
    record = state.deployment(deployment_id)
    spec = config.deploy.environments.get(record.environment) if record else None
    if record is None or spec is None:
        return DeployDecision()
    version = state.version(record.sha) or Version(sha=record.sha)
    if status == SUCCESS:
        followers, waiting = [], []
        for env, s in config.deploy.environments.items():
            if not s.auto or s.requires != record.environment or any(d.sha == record.sha for d in state.in_env(env)):
                continue
            waits = _gates_unmet(config, env, version, evidence)
            if waits:
                waiting.append(waits)
            else:
                followers.append(request(config, env, version, why="deploy"))
        return DeployDecision(requests=tuple(followers), messages=tuple(waiting))
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


# ---------------------------------------------------------------------------------------------
# Evidence of required gates, and the model card


def gate_evidence(
    gates: Iterable[str], sha: str, checks: Iterable[CheckRun], *, gate_app: str | None,
    trusted_configs: Iterable[str | None],
) -> dict[str, GateEvidence]:
    """What the `mlgate/<gate>` check runs on `sha` prove, per gate, for `unmet_requirements`.

    Only check runs from `gate_app` (`merge.gate_app`) count (a commit status, or another app's run,
    is no evidence), the newest one wins, and its results must have been computed with a trusted
    config (`trusted_configs`: the `sha256:` hashes of the default branch's config and of the
    config committed in the version itself); a result from any other config is no evidence either.
    """
    trusted = {h for h in trusted_configs if h}
    runs = [c for c in checks if c.kind != "status" and c.head_sha == sha]
    out: dict[str, GateEvidence] = {}
    for gate in gates:
        name = f"{GATE_PREFIX}{gate}"
        same = [c for c in runs if c.name == name]
        if gate_app:
            same = [c for c in same if (c.app or "").lower() == gate_app.lower()]
        done = [c for c in same if c.status == "completed"]
        if not done:
            out[gate] = GateEvidence(None)
            continue
        run = max(done, key=lambda c: c.id or 0)  # a re-run replaces the run before it
        results = _run_results(run.text)
        digest = results.versions.get("config_sha256") if results is not None else None
        if results is not None and (not digest or digest not in trusted):
            out[gate] = GateEvidence(run.conclusion, None, problem=(
                f"{name} on {sha[:7]} was computed with "
                + (f"a config ({str(digest)[:19]}…) that is neither the default branch's nor the version's own"
                   if digest else "no recorded config (versions.config_sha256)") + ", so it is no evidence"))
            continue
        out[gate] = GateEvidence(run.conclusion, results)
    return out


def _run_results(text: str | None) -> RunResults | None:
    """A check run's results JSON as a whole run (a bare gate gets an empty `versions`), or None."""
    if not text:
        return None
    data = _json_object(text)
    if data is None:
        return None
    if "gates" not in data and "gate" in data:
        data = {"schema": SCHEMA_ID, "status": data.get("status"), "versions": {}, "gates": [data]}
    try:
        return RunResults.from_dict(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _json_object(text: str) -> dict[str, Any] | None:
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except ValueError:
            continue
        return data if isinstance(data, dict) else None
    return None


def card_for(
    config: MlgateConfig | None, sha: str, checks: Iterable[CheckRun], reviews: Iterable[Review] = (), *,
    gate_app: str | None = None,
) -> dict[str, Any] | None:
    """The model card of the version at `sha`: every `mlgate/<gate>` result on it (the newest run
    per gate, from `gate_app` only), combined into one run and rendered with `build_card`; None when
    no gate result on `sha` can be read. Results computed for another commit are left out."""
    from mlgate.checks.card import Review as CardReview
    from mlgate.checks.card import build_card
    from mlgate.checks.results import GateResult

    latest: dict[str, CheckRun] = {}
    for run in checks:
        if (run.kind == "status" or run.status != "completed" or not run.name.startswith(GATE_PREFIX)
                or run.head_sha != sha or (gate_app and (run.app or "").lower() != gate_app.lower())):
            continue
        if run.name not in latest or (run.id or 0) >= (latest[run.name].id or 0):
            latest[run.name] = run
    gates: list[GateResult] = []
    versions: dict[str, Any] = {}
    for name in sorted(latest):
        results = _run_results(latest[name].text)
        if results is None:
            continue
        if results.versions.get("git_sha") not in (None, sha):
            continue
        gate = next((g for g in results.gates if g.gate == name.removeprefix(GATE_PREFIX)), None)
        if gate is None:
            continue
        gates.append(gate)
        for key, value in results.versions.items():
            versions.setdefault(key, value)
    if not gates:
        return None
    versions.setdefault("git_sha", sha)
    combined = RunResults(gates=gates, versions=versions, baseline={})
    card = build_card(combined, config, [CardReview(r.user, r.state, r.commit_id, r.submitted_at) for r in reviews])
    if len(json.dumps(card, default=str)) > MAX_CARD_CHARS and card.get("fairness"):
        card["fairness"] = {**card["fairness"], "groups": []}
        card["notes"].append("the per-group fairness rows were left out of the deployment's card (too large); "
                             "the bias gate's check run has them")
    return card


def _description(why: str, version: Version, environment: str) -> str:
    """The deployment's one-line description (GitHub keeps 140 characters): what ships, from the card."""
    text = f"mlgate: {why} {version.short()} to {environment}"
    card = version.card or {}
    model = ((card.get("versions") or {}).get("model") or {}) if isinstance(card, Mapping) else {}
    digest = model.get("sha256") if isinstance(model, Mapping) else None
    if isinstance(digest, str):
        text += f"; model {digest.removeprefix('sha256:')[:12]}"
    verdicts = card.get("verdicts") if isinstance(card, Mapping) else None
    if isinstance(verdicts, list) and verdicts:
        passed = sum(1 for v in verdicts if isinstance(v, Mapping) and v.get("status") in ("pass", "warn"))
        text += f"; card: {passed}/{len(verdicts)} gates passed"
    return text[:140]


def _describe(version: Version) -> str:
    parts = [f"code {version.short()}"]
    if version.model:
        parts.append(f"model {md(version.model.removeprefix('sha256:')[:12])}")
    if version.data:
        parts.append(f"data {md(version.data.removeprefix('sha256:')[:12])}")
    return ", ".join(parts)
