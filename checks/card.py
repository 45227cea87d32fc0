"""The model card of a landed version, built from its results JSON, the config and its approvals.

A card says what the model is for (free text under `card:` in the config), what it was judged on
and how it did: every gate's verdict, the quality metrics with the future-data slice, the fairness
tables, what the model relies on (explain top-k), what it costs (budget), how it behaved in shadow,
the data and model versions (content hashes), the features with their owners, and who approved
the change. Nothing is recomputed: a section whose gate did not run says so (`missing`).

`build_card` is pure (results, config, reviews in; a JSON-ready dict out, `mlgate.card/v1`);
`render_card` turns it into Markdown with the report's escaping (every value from a file goes
through `md`/`code`). `load_reviews` reads the approvals a caller exported, since the CLI has no
GitHub access: GitHub's list-reviews JSON as it comes from the REST API, or a plain list.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlgate.checks.errors import InputError
from mlgate.checks.results import GateResult, RunResults

CARD_SCHEMA = "mlgate.card/v1"
# the states that set a reviewer's verdict; COMMENTED and PENDING leave it as it was (GitHub's rule)
_DECISIVE = {"APPROVED", "CHANGES_REQUESTED", "DISMISSED"}


@dataclass(frozen=True)
class Review:
    user: str
    state: str  # APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
    commit: str | None = None
    submitted_at: str | None = None


def load_reviews(path: str | Path) -> list[Review]:
    """Reviews from a JSON file: GitHub's `GET /repos/{o}/{r}/pulls/{n}/reviews` list, or a list of
    `{"user": "login", "state": "approved", "commit": "sha", "submitted_at": "…"}`."""
    p = Path(path)
    if not p.is_file():
        raise InputError("reviews file not found", where=str(p))
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON: {exc}", where=str(p)) from None
    if isinstance(data, dict) and isinstance(data.get("reviews"), list):
        data = data["reviews"]
    if not isinstance(data, list):
        raise InputError("expected a list of reviews (GitHub's list-reviews JSON)", where=str(p))
    out = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise InputError(f"review [{i}] is not an object", where=str(p))
        user = item.get("user")
        login = user.get("login") if isinstance(user, dict) else user
        state = item.get("state")
        if not isinstance(login, str) or not login or not isinstance(state, str) or not state:
            raise InputError(f"review [{i}] needs a user (login) and a state", where=str(p))
        commit = item.get("commit_id", item.get("commit"))
        when = item.get("submitted_at")
        out.append(Review(login, state.upper(), commit if isinstance(commit, str) else None,
                          when if isinstance(when, str) else None))
    return out


def approvals(reviews: list[Review]) -> list[Review]:
    """Each reviewer's latest decisive review, kept when it is an approval (in the order given)."""
    latest: dict[str, Review] = {}
    for r in reviews:
        if r.state in _DECISIVE:
            latest.pop(r.user, None)
            latest[r.user] = r
    return [r for r in latest.values() if r.state == "APPROVED"]


def _paragraphs(text: str | None) -> list[str]:
    if not text:
        return []
    return [" ".join(p.split()) for p in text.replace("\r", "").split("\n\n") if p.strip()]


def _metric_rows(gate: GateResult, slices: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    return [{"name": m.name, "slice": m.slice, "value": m.value, "baseline": m.baseline, "delta": m.delta,
             "status": m.status.value, "limits": m.limit_text if m.limits else None}
            for m in gate.metrics if slices is None or m.slice in slices]


def _value(gate: GateResult, name: str, slice_name: str) -> float | None:
    m = gate.metric(name, slice_name)
    return None if m is None else m.value


def build_card(results: RunResults, config: Any = None, reviews: list[Review] | None = None, *,
               config_sha256: str | None = None) -> dict[str, Any]:
    """The card as plain data. `config_sha256` is the hash of the config given, to say whether its text
    is the config that judged these results."""
    gates = {g.gate: g for g in results.gates}
    text = getattr(config, "card", None)
    versions = results.versions
    card: dict[str, Any] = {
        "schema": CARD_SCHEMA,
        "name": getattr(text, "name", None) or "model",
        "summary": _paragraphs(getattr(text, "summary", None)),
        "intended_use": _paragraphs(getattr(text, "intended_use", None)),
        "out_of_scope": _paragraphs(getattr(text, "out_of_scope", None)),
        "limitations": _paragraphs(getattr(text, "limitations", None)),
        "owners": list(getattr(text, "owners", None) or []),
        "contact": getattr(text, "contact", None),
        "status": results.status.value,
        "summary_line": results.summary,
        "results_created_at": results.created_at,
        "versions": {
            "code": versions.get("git_sha"),
            "model": versions.get("model"),
            "data": versions.get("data"),
            "config_sha256": versions.get("config_sha256"),
            "config_ref": versions.get("config_ref"),
            "mlgate": versions.get("mlgate"),
        },
        "baseline": {"git_sha": results.baseline.get("git_sha"), "note": results.baseline.get("note")},
        "verdicts": [{"gate": g.gate, "status": g.status.value, "summary": g.summary} for g in results.gates],
        "quality": None, "fairness": None, "explanation": None, "budget": None, "shadow": None,
        "notes": [],
    }
    if config is None:
        card["notes"].append("no config given: the card has no intended use or limitations")
    elif config_sha256 is not None and versions.get("config_sha256") not in (None, config_sha256):
        card["notes"].append(f"the card's text comes from a config ({config_sha256}) other than the one that judged "
                             f"these results ({versions.get('config_sha256')})")
    missing = []
    quality = gates.get("quality")
    if quality is not None:
        card["quality"] = {"task": quality.details.get("task"), "slices": quality.details.get("slices"),
                           "metrics": _metric_rows(quality)}
    else:
        missing.append("quality")
    bias = gates.get("bias")
    if bias is not None:
        card["fairness"] = {
            "groups": [{"attribute": r.attribute, "group": r.group, "count": r.count, "judged": r.judged,
                        "metrics": r.metrics} for r in bias.groups],
            "gaps": _metric_rows(bias),
        }
    else:
        missing.append("fairness (bias)")
    explain = gates.get("explain")
    if explain is not None:
        d = explain.details
        k = d.get("top_k") or 0
        card["explanation"] = {"scoring": d.get("scoring"), "top_k": k, "base_source": d.get("base_source"),
                               "top": [r for r in d.get("top") or [] if r.get("rank") is not None
                                       and r["rank"] <= k],
                               "entered": d.get("entered") or [], "left": d.get("left") or []}
    else:
        missing.append("explanation (explain)")
    budget = gates.get("budget")
    if budget is not None:
        d = budget.details
        card["budget"] = {
            "size_mb": _value(budget, "size_mb", "model"), "parameters": _value(budget, "parameters", "model"),
            "sparsity": _value(budget, "sparsity", "model"),
            "row_p50_ms": _value(budget, "row_p50_ms", "latency"),
            "row_p99_ms": _value(budget, "row_p99_ms", "latency"),
            "batch_p50_ms": _value(budget, "batch_p50_ms", "latency"),
            "batch_p99_ms": _value(budget, "batch_p99_ms", "latency"),
            "batch_size": (d.get("latency") or {}).get("batch_size"),
            "peak_memory_mb": _value(budget, "peak_memory_mb", "memory"),
            "machine": d.get("machine"), "format": (d.get("model") or {}).get("format"),
        }
    else:
        missing.append("budget")
    shadow = gates.get("shadow")
    if shadow is not None:
        card["shadow"] = {"requests": shadow.details.get("requests"), "labelled": shadow.details.get("labelled"),
                          "metrics": _metric_rows(shadow), "shadow_model": shadow.details.get("shadow_model"),
                          "production_model": shadow.details.get("production_model")}
    features = gates.get("features")
    listed = (features.details.get("features") if features is not None else None) or []
    card["features"] = [{"name": f.get("name"), "owner": f.get("owner"), "description": f.get("description")}
                        for f in listed if isinstance(f, dict)]
    if features is None:
        missing.append("features")
    if reviews is None:
        card["reviews"] = None
        card["notes"].append("no reviews given (mlgate card --reviews FILE): approvals not shown")
    else:
        card["reviews"] = [{"user": r.user, "commit": r.commit, "submitted_at": r.submitted_at}
                           for r in approvals(reviews)]
    card["missing"] = missing
    return card


def render_card(card: dict[str, Any]) -> str:
    """The card as Markdown (templates/card.md.j2), every value from a file escaped."""
    from mlgate.checks.report import environment

    return environment().get_template("card.md.j2").render(card=card)
