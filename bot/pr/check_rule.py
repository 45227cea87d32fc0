"""The one rule for "did required check X pass on this SHA?": PR heads and staging/try SHAs alike.

Pure. `bot/pr/gates.py` judges a PR head with it, `bot/queue/transitions.py` a staging or try commit: the same
reports give the same answer wherever they were made, so a staging commit is never judged more
loosely than the PR heads it contains.

- A report is a check run (with the app that made it) or a commit status (no app; anyone with
  write access can post one). `Report` is plain data so the queue can keep it in its JSON state.
- Who may report: a pinned app (`merge.required_checks[].app`, `merge.gate_app` for `mlgate/<gate>`)
  counts alone; reports from other apps and commit statuses are ignored, with a note saying so. A
  gate result never comes from a commit status.
- Latest per source: of the reports from one app (or the statuses of one context) the newest
  counts (a re-run replaces the run before it). Then EVERY counted source must pass: a status
  `success` never stands in for a check run still in progress, and a run from a second app never
  hides a red one.
- A required CI check passes as GitHub's branch protection says: `success`, `neutral`, `skipped`
  (so path-filtered jobs keep working). Missing, queued or in progress waits; `failure`, `stale`,
  `cancelled`, `timed_out`, `action_required`, `startup_failure` fail; anything else is an error.
- An `mlgate/<gate>` result passes only when its run concluded `success` AND its results JSON can
  be trusted: readable, computed with the base branch's config (`versions.config_sha256` equal to
  the SHA-256 of the base's `.github/mlgate.yml`), and not `fail`/`error` itself. A `skipped` or
  `neutral` gate judged nothing: it fails. A result without a config hash proves nothing: error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from mlgate.checks.results import SCHEMA_ID, GateResult, RunResults
from mlgate.names import GATE_PREFIX

PASSING_CI = frozenset({"success", "neutral", "skipped"})  # GitHub's branch protection rule
PASSING_GATE = frozenset({"success"})  # a gate with warnings is published as success
NEVER_PASS = frozenset({"failure", "timed_out", "cancelled", "action_required", "stale", "startup_failure"})
_JSON_FENCE = re.compile(r"```(?:json)?[ \t]*\n(.*?)\n[ \t]*```", re.DOTALL)


class GateState(str, Enum):
    SUCCESS = "success"
    FAILURE = "failure"
    PENDING = "pending"  # queued or running
    MISSING = "missing"  # not reported on this SHA (yet)
    ERROR = "error"  # could not be computed, or its result cannot be trusted

    @property
    def blocking(self) -> bool:
        return self in (GateState.FAILURE, GateState.ERROR)

    @property
    def waiting(self) -> bool:
        return self in (GateState.PENDING, GateState.MISSING)


RANK = {GateState.SUCCESS: 0, GateState.MISSING: 1, GateState.PENDING: 2, GateState.FAILURE: 3, GateState.ERROR: 4}


@dataclass(frozen=True)
class Results:
    """What a gate run's results JSON says: its verdict and the config it was computed with.

    `status`: pass, warn, fail or error (None when the JSON could not be read, `problem` says why).
    """

    status: str | None = None
    config_sha256: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Report:
    """One report of a check on a SHA (a check run or a commit status), as plain data.

    `at` orders reports without an id (arrival); `results` is set for gate runs (`read_results`).
    """

    name: str
    status: str  # queued, in_progress, completed
    conclusion: str | None = None
    url: str | None = None
    at: float = 0.0
    kind: str = "check_run"  # or "status"
    app: str | None = None
    id: int | None = None
    results: Results | None = None


@dataclass(frozen=True)
class Judgement:
    """The verdict on one required name. `deciding` is the report that decided it (the worst one),
    `reason` says in a phrase why it does not pass ("" when it passes or waits), `untrusted` marks a
    gate result refused for where it came from (its config), not for what it says."""

    state: GateState
    deciding: Report | None = None
    counted: tuple[Report, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = ()
    untrusted: bool = False

    @property
    def passed(self) -> bool:
        return self.state == GateState.SUCCESS


def is_gate(name: str) -> bool:
    return name.startswith(GATE_PREFIX)


def judge(
    name: str,
    reports: Iterable[Report],
    *,
    pinned_app: str | None = None,
    config_sha256: str | None = None,
    known_configs: Mapping[str, str] | None = None,
    config_label: str = "the base branch's .github/mlgate.yml",
) -> Judgement:
    """Judge required check `name` from every report on one SHA (reports of other names are skipped).

    `pinned_app`: the app that alone may report it. `config_sha256`: "sha256:<hex>" of the base
    config, which a gate result must carry. `known_configs` names other hashes for the message
    (e.g. {hash of the PR's own config: "the PR's own .github/mlgate.yml"}).
    """
    gate = is_gate(name)
    same = [r for r in reports if r.name == name]
    notes: list[str] = []
    if gate and any(r.kind == "status" for r in same):
        notes.append(f"a commit status named {name} was ignored: gate results come only from check runs")
        same = [r for r in same if r.kind != "status"]
    if pinned_app:
        wrong = [r for r in same if r.kind == "status" or (r.app or "").lower() != pinned_app.lower()]
        for who in dict.fromkeys(_reporter(r) for r in wrong):
            notes.append(f"reported by {who}, but only the app {pinned_app} may report {name}; ignored")
        same = [r for r in same if r not in wrong]
    if not same:
        return Judgement(GateState.MISSING, reason="not reported", notes=tuple(notes))
    counted = latest_per_source(same)
    worst: tuple[GateState, str, bool, Report] | None = None
    for report in counted:
        state, reason, untrusted, extra = _one(report, gate, config_sha256, known_configs or {}, config_label)
        notes.extend(n for n in extra if n not in notes)
        if worst is None or RANK[state] > RANK[worst[0]]:
            worst = (state, reason, untrusted, report)
    assert worst is not None
    state, reason, untrusted, deciding = worst
    return Judgement(state, deciding, tuple(counted), reason, tuple(notes), untrusted)


def latest_per_source(reports: Sequence[Report]) -> list[Report]:
    """The newest report of each source: per app for check runs, one for the statuses of a context.

    Newest = highest id; for one id (one run seen twice) a completed report beats an unfinished one
    (webhooks may arrive out of order); then the later arrival, then the later position.
    """
    best: dict[tuple[str, str, str], tuple[tuple[int, int, float, int], Report]] = {}
    for index, r in enumerate(reports):
        source = (r.name, r.kind, (r.app or "").lower() if r.kind != "status" else "")
        key = (r.id if r.id is not None else -1, 1 if r.status == "completed" else 0, r.at, index)
        if source not in best or key > best[source][0]:
            best[source] = (key, r)
    return [r for _, r in best.values()]


def _reporter(r: Report) -> str:
    return "a commit status (no app)" if r.kind == "status" or not r.app else f"the app {r.app}"


def _one(
    r: Report, gate: bool, expected: str | None, known: Mapping[str, str], label: str
) -> tuple[GateState, str, bool, tuple[str, ...]]:
    """(state, reason, untrusted, notes) of one counted report."""
    if r.status != "completed":
        return GateState.PENDING, "", False, ()
    c = (r.conclusion or "").lower()
    if not gate:
        if c in PASSING_CI:
            return GateState.SUCCESS, "", False, ()
        if c in NEVER_PASS:
            return GateState.FAILURE, c, False, ()
        if c == "error":
            return GateState.ERROR, c, False, ()
        return GateState.ERROR, f"concluded {c or 'nothing'}, which is not a known conclusion", False, ()
    res = r.results
    if c in ("skipped", "neutral"):
        return GateState.FAILURE, f"{c}: the gate judged nothing", False, (f"the gate was {c}, so nothing was judged",)
    if c != "success":
        # The run itself says it did not pass: no need to trust its JSON to block. The JSON may say worse.
        if c not in NEVER_PASS and c != "error":
            return GateState.ERROR, f"concluded {c or 'nothing'}, which is not a known conclusion", False, ()
        state = GateState.ERROR if c == "error" or (res and res.status == "error") else GateState.FAILURE
        notes: tuple[str, ...] = ()
        if res and res.config_sha256 and expected and res.config_sha256 != expected:
            notes = (f"computed with {_config_name(res.config_sha256, known)}, not with {label}",)
        return state, c, False, notes
    if res is None or res.status is None:
        why = res.problem if res and res.problem else "no results JSON in the check run's output"
        return GateState.ERROR, f"its result cannot be read: {why}", True, ()
    if not res.config_sha256:
        return (GateState.ERROR, "its result carries no config hash (versions.config_sha256), so nothing shows it "
                f"was computed with {label}", True, ())
    if not expected:
        return GateState.ERROR, f"the hash of {label} is unknown, so no result can be matched to it", True, ()
    if res.config_sha256 != expected:
        why = ("a PR cannot change its own gates" if res.config_sha256 in known
               else "the PR's own, or the base's before it last changed")
        return (GateState.ERROR, f"its result was computed with {_config_name(res.config_sha256, known)}, not with "
                f"{label} ({_short(expected)}); {why}", True, ())
    if res.status == "fail":
        return GateState.FAILURE, "its results say fail", False, ("the run concluded success but its results say "
                                                                    "fail; the results count",)
    if res.status == "error":
        return GateState.ERROR, "its results say error", False, ("the run concluded success but its results say "
                                                                 "error; the results count",)
    return GateState.SUCCESS, "", False, ()


def _short(sha256: str) -> str:
    return sha256 if len(sha256) <= 19 else sha256[:19] + "…"


def _config_name(sha256: str, known: Mapping[str, str]) -> str:
    name = known.get(sha256)
    return f"{name} ({_short(sha256)})" if name else f"another config ({_short(sha256)})"


# ---------------------------------------------------------------------------------------------
# Reading a gate run's results JSON


def read_results(text: str | None, gate: str) -> tuple[GateResult | None, Results, str | None]:
    """(the gate's result, what the rule needs of it, a note) from a check run's `output.text`.

    Accepts a whole run (`{"schema": "mlgate.results/v1", "versions": …, "gates": [...]}`) or one
    gate (`{"gate": …}`, which carries no versions), either possibly inside a ```json fence. Never
    raises; the note (also `Results.problem` when unreadable) says what was wrong.
    """
    if not text or not text.strip():
        return _unreadable("no results JSON in the check run's output")
    data = _load_json(text)
    if data is None:
        return _unreadable("the results JSON in the check run's output is not valid JSON")
    if not isinstance(data, dict):
        return _unreadable(f"the results JSON is a {type(data).__name__}, expected an object")
    schema = data.get("schema")
    raw_versions = data.get("versions")
    versions: dict[str, Any] = raw_versions if isinstance(raw_versions, dict) else {}
    try:
        if "gates" in data:
            run = RunResults.from_dict(data)
            match = [g for g in run.gates if g.gate == gate]
            if not match and len(run.gates) == 1:
                match = run.gates
            if not match:
                found = ", ".join(g.gate for g in run.gates) or "none"
                return _unreadable(f"the results JSON has no gate {gate} (it has: {found})")
            result = match[0]
        elif "gate" in data:
            result = GateResult.from_dict(data)
        else:
            return _unreadable("the results JSON has neither `gates` nor `gate`")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        return _unreadable(f"the results JSON is malformed ({_describe(exc)})" + (
            f"; schema {schema} is not {SCHEMA_ID}" if schema and schema != SCHEMA_ID else ""))
    note = (
        f"results schema {schema} is not {SCHEMA_ID}; read as {SCHEMA_ID}" if schema and schema != SCHEMA_ID else None
    )
    digest = versions.get("config_sha256")
    return result, Results(result.status.value, digest if isinstance(digest, str) and digest else None), note


def _unreadable(problem: str) -> tuple[None, Results, str]:
    return None, Results(None, None, problem), problem


def _load_json(text: str) -> Any:
    candidates = [text]
    candidates += _JSON_FENCE.findall(text)
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            continue
    return None


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing key {exc.args[0]!r}"
    text = " ".join(str(exc).split())
    return text[:120] or type(exc).__name__
