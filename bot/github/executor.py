"""The one place that turns a PR's actions (effects.py) into GitHub calls, so that applying them twice changes nothing.

Idempotence is what lets the worker retry a delivery after a crash and re-evaluate a PR on every
event: the report comment is found by its hidden marker and edited only when the text differs; the
`mlgate` check is written only when it differs from the run already on the SHA; a command reply
carries a marker naming the comment it answers and is not posted twice; reactions and review
requests are idempotent on GitHub's side.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from mlgate.bot.github.effects import Action, React, Reply, RequestReviewers, SetCheck, UpsertReport
from mlgate.bot.github.facts import STATUS_MAP, CheckRun, check_as_status
from mlgate.bot.github.forge import Forge
from mlgate.checks.report import md
from mlgate.names import REPLY_MARKER_PREFIX, REPORT_MARKER, STATE_MARKER_PREFIX
from mlgate.retry import ForgeError

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
        """Apply in order. A refused review request or reaction (GitHub's 422 for a team without access,
        a 403 for a missing permission, …) does not stop the rest: it is logged and said in the next
        report or reply on the same PR, which is still written."""
        done: list[str] = []
        problems: list[str] = []  # what optional actions could not do, for the next report/reply
        for action in actions:
            if problems and isinstance(action, UpsertReport | Reply):
                action = replace(action, body=with_notes(action.body, problems))
                problems = []
            try:
                outcome = self._apply_one(action)
            except ForgeError as exc:
                if not isinstance(action, RequestReviewers | React):
                    raise
                outcome, note = _optional_failed(action, exc)
                log.warning("%s", outcome)
                problems.append(note)
            else:
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
        if existing is not None:
            action = replace(action, body=carry_notes(existing[1], action.body))
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
        if getattr(self.forge, "checks_as_statuses", False):
            state, description = check_as_status(action.status, action.conclusion, action.title)
            for run in self.current_checks:
                if (run.kind == "status" and run.name == action.name and run.head_sha == action.sha
                        and (run.status, run.conclusion) == STATUS_MAP[state] and (run.summary or "") == description):
                    return f"status {action.name} on {action.sha[:12]} unchanged"
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


def _optional_failed(action: RequestReviewers | React, exc: ForgeError) -> tuple[str, str]:
    """(log line, escaped note for the PR) for a review request or reaction GitHub refused."""
    reason = md(str(exc))
    if isinstance(action, RequestReviewers):
        who = ", ".join([*(f"@{u}" for u in action.users), *(f"team {t}" for t in action.teams)])
        return (f"review request on {action.repo}#{action.number} failed: {exc}",
                f"> ⚠️ **Review request failed**: mlgate could not ask {md(who)} for a review ({reason}). "
                "Ask them by hand; the review rules are judged all the same.")
    return (f"reaction {action.content} on comment {action.comment_id} failed: {exc}",
            f"> ⚠️ mlgate could not react to the command comment ({reason}).")


NOTES_START, NOTES_END = "<!-- mlgate-notes -->", "<!-- /mlgate-notes -->"
_NOTES_RE = re.compile(re.escape(NOTES_START) + r".*?" + re.escape(NOTES_END), re.S)
_STATE_RE = re.compile(re.escape(STATE_MARKER_PREFIX) + r"(.*?) -->")


def with_notes(body: str, notes: list[str]) -> str:
    """`body` with the notes appended in a marked block (so a later report can carry it over)."""
    return f"{body.rstrip()}\n\n{NOTES_START}\n" + "\n".join(notes) + f"\n{NOTES_END}\n"


def carry_notes(old: str, new: str) -> str:
    """A refused review request is not asked again while the same rules apply, so its note stays in
    the report until they change (the `applying` list of the hidden state)."""
    block = _NOTES_RE.search(old)
    if block is None or NOTES_START in new or _applying(old) != _applying(new):
        return new
    return f"{new.rstrip()}\n\n{block.group(0)}\n"


def _applying(body: str) -> object:
    match = _STATE_RE.search(body)
    if match is None:
        return None
    try:
        state = json.loads(match.group(1))
    except ValueError:
        return None
    return state.get("applying") if isinstance(state, dict) else None
