"""The observer the bot calls after each delivery and after each merge-queue step.

It never changes what the bot decides: it writes history rows (and a failure here is logged, never
raised into the delivery). `after_delivery` records every check run and status as reported on its
SHA, with a compact digest of a gate's results JSON (metrics, findings, details): the dashboard's
charts and the alerts read these. `after_step` records the queue's builds and PR events
(`diff.diff`). Listeners (the alerts) are told which repository's checks or deployments changed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from mlgate.bot.github.facts import PullFacts
from mlgate.bot.github.payloads import check_run_of, repo_name, status_of
from mlgate.bot.history.diff import diff
from mlgate.bot.history.tables import HistoryStore
from mlgate.bot.pr.check_rule import read_results
from mlgate.bot.pr.evaluation import Evaluation
from mlgate.bot.queue.model import QueueState
from mlgate.names import GATE_PREFIX

log = logging.getLogger(__name__)

Listener = Callable[[str, str], None]  # (repo, what changed: "checks:<sha>" or "deployment")
_FINDINGS_KEPT = 30


def digest(name: str, text: str | None) -> dict[str, Any] | None:
    """What the dashboard keeps of a gate run's results JSON: verdict, metrics, findings, details."""
    if not name.startswith(GATE_PREFIX):
        return None
    result, results, _note = read_results(text, name.removeprefix(GATE_PREFIX))
    if result is None:
        return {"status": results.status, "problem": results.problem}
    return {
        "status": str(result.status.value if hasattr(result.status, "value") else result.status),
        "config_sha256": results.config_sha256,
        "metrics": [{"name": m.name, "slice": m.slice, "value": m.value,
                     "status": str(getattr(m.status, "value", m.status))} for m in result.metrics],
        "findings": [{"severity": f.severity, "code": f.code, "message": f.message,
                      "examples": [str(x) for x in f.examples[:50]]} for f in result.findings[:_FINDINGS_KEPT]],
        "details": {k: v for k, v in result.details.items() if isinstance(v, (str, int, float, bool, type(None)))},
    }


class Recorder:
    """Writes the history; `listeners` hear which repository changed (after the write)."""

    def __init__(self, store: HistoryStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.listeners: list[Listener] = []

    def after_delivery(self, event: str, payload: Mapping[str, Any]) -> None:
        try:
            self._delivery(event, payload)
        except Exception as exc:  # history is a view: it must never fail a delivery
            log.error("recording %s for the dashboard failed (%s: %s)", event, type(exc).__name__, exc)

    def _delivery(self, event: str, payload: Mapping[str, Any]) -> None:
        repo = repo_name(payload)
        if not repo:
            return
        run = check_run_of(payload) if event == "check_run" else status_of(payload) if event == "status" else None
        if run is not None:
            self.store.record_gate_run(repo, run.head_sha, run.name, status=run.status, conclusion=run.conclusion,
                                       app=run.app, summary=run.summary, results=digest(run.name, run.text),
                                       at=self.clock())
            self._tell(repo, f"checks:{run.head_sha}")
        elif event in ("deployment_status", "deployment"):
            self._tell(repo, "deployment")

    def after_evaluation(self, facts: PullFacts, evaluation: Evaluation) -> None:
        """The review rules' verdicts on this head: who approved, who may, what is missing."""
        try:
            review = evaluation.review
            rules = [] if review is None else [
                {"name": r.name, "status": r.status.value, "summary": r.summary, "approved_by": list(r.approved_by),
                 "reviewers": r.reviewers_text, "files": list(r.files[:20])}
                for r in review.rules if r.applies]
            self.store.record_review(facts.repo, facts.number, facts.head_sha, evaluation.report.conclusion, rules,
                                     self.clock())
        except Exception as exc:
            log.error("recording the review of %s#%d failed (%s: %s)", facts.repo, facts.number,
                      type(exc).__name__, exc)

    def after_step(self, repo: str, old: QueueState, new: QueueState, now: float) -> None:
        try:
            builds, events = diff(old, new, now)
            self.store.record_queue(repo, builds, events)
            # Listeners are not told here: this runs inside the queue's step, under its lock, and
            # the alerts read GitHub; they see queue changes at their next tick (once a minute).
        except Exception as exc:
            log.error("recording the merge queue of %s failed (%s: %s)", repo, type(exc).__name__, exc)

    def _tell(self, repo: str, what: str) -> None:
        for listen in self.listeners:
            try:
                listen(repo, what)
            except Exception as exc:
                log.error("%s after %s of %s failed (%s: %s)", getattr(listen, "__qualname__", listen), what, repo,
                          type(exc).__name__, exc)
