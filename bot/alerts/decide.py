"""Pure: which alerts hold for these facts, and what to change about the stored ones.

`raised(facts, settings)` names the problems that hold now, each under a stable key:

- `gate:<base>:<check>`: a gate (or a required check) failed on the newest landed commit of a
  base branch; resolved when a newer landed commit passes it.
- `data-stale:<base>`: the data gate's staleness limit is crossed: its `age_days` metric failed on
  the newest landed commit, or (when the config does not pin the gate's clock) the newest data
  timestamp is older than the limit by the wall clock now; resolved when fresh data lands.
- `deploy:<environment>`: the newest deployment of an environment failed, or was a rollback;
  resolved by a later successful deployment that is not a rollback.
- `timeout:<base>`: a batch runs past `merge.timeout_minutes` (still running, or the newest
  finished batch of the base timed out); resolved when a later batch finishes in time.

`plan(held, stored, settings)` turns that into changes: open (new, or came back), update (the
text changed), close (stored open, no longer held). Text from CI, configs and GitHub users is
escaped (`md`): an issue body never renders someone's markup or pings anyone unintended.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone

from mlgate.bot.alerts.model import (
    BATCH_TIMEOUT,
    DATA_STALE,
    DEPLOYMENT,
    GATE_FAILURE,
    OPEN,
    Alert,
    AlertSettings,
    BuildFact,
    Change,
    Facts,
    StoredAlert,
)
from mlgate.checks.report import code, md

FAILED_CONCLUSIONS = frozenset({"failure", "timed_out", "cancelled", "action_required", "startup_failure", "stale"})
FAILED_DEPLOYMENTS = frozenset({"failure", "error"})
TIMEOUT_MARKERS = ("(merge.timeout_minutes)", "(merge.start_timeout_minutes)")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def _short(sha: str | None) -> str:
    return code((sha or "?")[:12])


def raised(facts: Facts, settings: AlertSettings) -> list[Alert]:
    """Every alert that holds for `facts`, of the kinds `settings` enable, ordered by key."""
    if not settings.enabled:
        return []
    out: list[Alert] = []
    if GATE_FAILURE in settings.kinds:
        out += _gates(facts)
    if DATA_STALE in settings.kinds:
        out += _stale(facts)
    if DEPLOYMENT in settings.kinds:
        out += _deployments(facts)
    if BATCH_TIMEOUT in settings.kinds:
        out += _timeouts(facts)
    return sorted(out, key=lambda a: a.key)


def _gates(facts: Facts) -> list[Alert]:
    out = []
    for commit in facts.landed:
        for gate in commit.gates:
            if gate.conclusion not in FAILED_CONCLUSIONS:
                continue
            summary = f"\n\n> {md(gate.summary)}" if gate.summary else ""
            out.append(Alert(
                key=f"gate:{commit.base}:{gate.name}", kind=GATE_FAILURE,
                title=f"{gate.name} fails on {commit.base} ({commit.sha[:7]})",
                body=(f"The check {code(gate.name)} concluded **{md(gate.conclusion)}** on {_short(commit.sha)}, the "
                      f"newest commit landed on {code(commit.base)} ({_when(commit.landed_at)}).{summary}\n\n"
                      f"This closes by itself when a newer landed commit passes {code(gate.name)}.")))
    return out


def _stale(facts: Facts) -> list[Alert]:
    out = []
    for f in facts.freshness:
        by_gate = f.status == "fail"
        by_clock = (not f.pinned_now and f.newest_epoch is not None and f.limit_days is not None
                    and facts.now - f.newest_epoch > f.limit_days * 86400)
        if not (by_gate or by_clock):
            continue
        age = (facts.now - f.newest_epoch) / 86400 if by_clock and f.newest_epoch is not None else f.age_days
        limit = f" (limit {f.limit_days:g} days)" if f.limit_days is not None else ""
        how = "the data gate judged it stale" if by_gate else "by the clock now"
        out.append(Alert(
            key=f"data-stale:{f.base}", kind=DATA_STALE,
            title=f"Data on {f.base} is stale",
            body=(f"The newest data timestamp the data gate saw on {code(f.base)} ({_short(f.sha)}) is "
                  f"{code(f.newest or 'unknown')}, {'' if age is None else f'{age:.1f} days old'}{limit}: {how}.\n\n"
                  "This closes by itself when a landed commit's data gate sees fresh data.")))
    return out


def _deployments(facts: Facts) -> list[Alert]:
    newest: dict[str, object] = {}
    by_env: dict[str, list] = {}
    for d in facts.deployments:
        by_env.setdefault(d.environment, []).append(d)
    out = []
    for env, deps in sorted(by_env.items()):
        last = max(deps, key=lambda d: d.deployment_id)
        newest[env] = last
        if last.state in FAILED_DEPLOYMENTS:
            out.append(Alert(
                key=f"deploy:{env}", kind=DEPLOYMENT, title=f"Deployment to {env} failed",
                body=(f"Deployment {last.deployment_id} of {_short(last.sha)} to {code(env)} reported "
                      f"**{md(last.state)}** ({_when(last.at)}).\n\nThis closes by itself when a deployment to "
                      f"{code(env)} succeeds.")))
        elif last.rollback_of is not None:
            out.append(Alert(
                key=f"deploy:{env}", kind=DEPLOYMENT, title=f"{env} was rolled back",
                body=(f"{code(env)} was rolled back to {_short(last.sha)} (deployment {last.deployment_id}, replacing "
                      f"deployment {last.rollback_of}; now {md(last.state)}).\n\nThis closes by itself when a new "
                      f"version is deployed to {code(env)} successfully.")))
    return out


def _timed_out(build: BuildFact) -> bool:
    return any(marker in build.detail for marker in TIMEOUT_MARKERS)


def _timeouts(facts: Facts) -> list[Alert]:
    out: dict[str, Alert] = {}
    limit = facts.timeout_minutes * 60
    for b in sorted(facts.builds, key=lambda b: b.build_id):
        pulls = ", ".join(f"#{n}" for n in b.pulls)
        if b.finished_at is None and facts.now - b.requested_at > limit:
            minutes = (facts.now - b.requested_at) / 60
            out[b.base] = Alert(
                key=f"timeout:{b.base}", kind=BATCH_TIMEOUT,
                title=f"Merge queue batch on {b.base} runs past its timeout",
                body=(f"Batch {b.build_id} ({pulls}) on {code(b.base)} has been running for {minutes:.0f} minutes, "
                      f"more than merge.timeout_minutes ({facts.timeout_minutes:g}); staging commit {_short(b.sha)}."
                      "\n\nThis closes by itself when a batch on this branch finishes in time."))
        elif b.finished_at is not None and _timed_out(b):
            out[b.base] = Alert(
                key=f"timeout:{b.base}", kind=BATCH_TIMEOUT, title=f"Merge queue batch on {b.base} timed out",
                body=(f"Batch {b.build_id} ({pulls}) on {code(b.base)} timed out ({_when(b.finished_at)}): "
                      f"{md(b.detail)}\n\nThis closes by itself when a batch on this branch finishes in time."))
        elif b.finished_at is not None and b.outcome == "landed":
            out.pop(b.base, None)
    return list(out.values())


def plan(held: Iterable[Alert], stored: Mapping[str, StoredAlert]) -> list[Change]:
    """What to do so that the stored alerts (and their issues) match `held`."""
    changes: list[Change] = []
    now_keys = set()
    for alert in held:
        now_keys.add(alert.key)
        old = stored.get(alert.key)
        if old is None or old.state != OPEN:
            changes.append(Change("open", alert, old.issue_number if old else None))
        elif (old.title, old.body) != (alert.title, alert.body) or not old.synced:
            changes.append(Change("update", alert, old.issue_number))
    for key, old in sorted(stored.items()):
        if old.state == OPEN and key not in now_keys:
            changes.append(Change("close", Alert(key, old.kind, old.title, old.body), old.issue_number,
                                  note="resolved"))
    return changes


def issue_body(alert: Alert, settings: AlertSettings, *, resolved_at: float | None = None,
               dashboard_url: str | None = None) -> str:
    """The GitHub issue's text: the alert, who is asked to look, a link to the dashboard."""
    marker = f"<!-- mlgate-alert:{alert.key} -->"
    mention = " ".join(f"@{m}" for m in settings.mention if m.replace("/", "").replace("-", "").isalnum())
    parts = [marker, alert.body]
    if resolved_at is not None:
        parts.append(f"**Resolved** {_when(resolved_at)}: the problem no longer holds.")
    if dashboard_url:
        parts.append(f"[See it on the dashboard]({dashboard_url})")
    if mention and resolved_at is None:
        parts.append(f"cc {mention}")
    parts.append(f"*Kept by mlgate: one issue per alert, closed when it is resolved (`{alert.kind}`).*")
    return "\n\n".join(parts)


def settings_of(config: object | None) -> AlertSettings:
    """`alerts:` of a `MlgateConfig` (None: the defaults)."""
    a = getattr(config, "alerts", None)
    if a is None:
        return AlertSettings()
    kinds = frozenset(k for k in (GATE_FAILURE, DATA_STALE, DEPLOYMENT, BATCH_TIMEOUT) if getattr(a, k, True))
    return AlertSettings(enabled=a.enabled, issues=a.issues, label=a.label, kinds=kinds, mention=tuple(a.mention))
