"""The one place that turns a PR's actions (effects.py) into GitHub calls, so that applying them twice changes nothing.

Idempotence is what lets the worker retry a delivery after a crash and re-evaluate a PR on every
event: the report comment is found by its hidden marker and edited only when the text differs; the
`mlgate` check is written only when it differs from the run already on the SHA; a command reply
carries a marker naming the comment it answers and is not posted twice; reactions and review
requests are idempotent on GitHub's side.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from mlgate.bot.github.effects import Action, React, Reply, RequestReviewers, SetCheck, UpsertReport
from mlgate.bot.github.facts import CheckRun
from mlgate.bot.github.forge import Forge
from mlgate.names import REPLY_MARKER_PREFIX, REPORT_MARKER

log = logging.getLogger(__name__)

_REPLY_MARKER = re.compile(re.escape(REPLY_MARKER_PREFIX) + r"[0-9]+ -->")


@dataclass
class Executor:
    """Applies actions through a Forge. One instance per evaluation or delivery (it memoises reads).

    `current_checks`: the check runs already on the SHAs being written (from PullFacts), so an
    unchanged `mlgate` check is not rewritten (each write would fire a check_run event).
    """

    forge: Forge
    current_checks: Iterable[CheckRun] = ()
    dry_run: bool = False
    applied: list[str] = field(default_factory=list)  # what was done, for logs and tests
    _reports: dict[tuple[str, int], tuple[int, str] | None] = field(default_factory=dict)

    def existing_report(self, repo: str, number: int) -> tuple[int, str] | None:
        """(id, body) of the PR's report comment, looked up once per executor."""
        key = (repo, number)
        if key not in self._reports:
            self._reports[key] = self.forge.find_comment(repo, number, REPORT_MARKER)
        return self._reports[key]

    def apply(self, actions: Iterable[Action]) -> list[str]:
        done: list[str] = []
        for action in actions:
            outcome = self._apply_one(action)
            log.info("%s", outcome, extra={"event": "github.action", "repo": action.repo,
                                           "action": type(action).__name__, "pr": getattr(action, "number", None),
                                           "sha": getattr(action, "sha", None)})
            done.append(outcome)
        self.applied.extend(done)
        return done

    # --- one method per action ---------------------------------------------------------------------
    def _apply_one(self, action: Action) -> str:
        if isinstance(action, UpsertReport):
            return self._upsert(action)
        if isinstance(action, SetCheck):
            return self._set_check(action)
        if isinstance(action, Reply):
            return self._reply(action)
        if isinstance(action, React):
            if not self.dry_run:
                self.forge.add_reaction(action.repo, action.comment_id, action.content)
            return f"reacted {action.content} to comment {action.comment_id}"
        if isinstance(action, RequestReviewers):
            if not (action.users or action.teams):
                return "no reviewers to request"
            if not self.dry_run:
                self.forge.request_reviewers(action.repo, action.number, action.users, action.teams)
            who = f"{len(action.users)} users, {len(action.teams)} teams"
            return f"requested reviews on {action.repo}#{action.number}: {who}"
        raise TypeError(f"unknown action {type(action).__name__}")

    def _upsert(self, action: UpsertReport) -> str:
        if REPORT_MARKER not in action.body:
            raise ValueError("a report body must carry the report marker, or it could never be found again")
        existing = self.existing_report(action.repo, action.number)
        where = f"{action.repo}#{action.number}"
        if existing is not None and existing[1] == action.body:
            return f"report on {where} unchanged"
        if self.dry_run:
            return f"would write report on {where}"
        if existing is None:
            cid = self.forge.create_comment(action.repo, action.number, action.body)
            self._reports[(action.repo, action.number)] = (cid, action.body)
            return f"created report comment {cid} on {where}"
        self.forge.update_comment(action.repo, existing[0], action.body)
        self._reports[(action.repo, action.number)] = (existing[0], action.body)
        return f"updated report comment {existing[0]} on {where}"

    def _set_check(self, action: SetCheck) -> str:
        for run in self.current_checks:
            if (
                run.kind == "check_run"
                and run.name == action.name
                and run.head_sha == action.sha
                and run.status == action.status
                and run.conclusion == action.conclusion
                and (run.summary or "") == action.summary
                and (run.text or None) == (action.text or None)
            ):
                return f"check {action.name} on {action.sha[:12]} unchanged"
        if not self.dry_run:
            self.forge.set_check(
                action.repo, action.sha, action.name, status=action.status, conclusion=action.conclusion,
                title=action.title, summary=action.summary, text=action.text,
            )
        return f"set check {action.name} on {action.sha[:12]}: {action.conclusion or action.status}"

    def _reply(self, action: Reply) -> str:
        marker = _REPLY_MARKER.search(action.body)
        if marker is not None and self.forge.find_comment(action.repo, action.number, marker.group(0)) is not None:
            return f"reply on {action.repo}#{action.number} already posted"
        if self.dry_run:
            return f"would reply on {action.repo}#{action.number}"
        cid = self.forge.create_comment(action.repo, action.number, action.body)
        return f"replied on {action.repo}#{action.number} (comment {cid})"
