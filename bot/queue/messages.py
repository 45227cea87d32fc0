"""What the merge queue says on a PR, and the reasons it keeps. Pure text, user input escaped.

`transitions.py` decides what happens and calls one of these for the words, so the wording can
change without touching a rule, and a rule without touching the wording. Every user-controlled
string (branch names, check names, reasons from GitHub, logins) goes through `md`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from mlgate.bot.pr.check_rule import GateState, Judgement
from mlgate.bot.queue.model import CANCELLED, FAILED, IDLE, MERGED, QUEUED, TESTING, WAITING, Build, Evidence
from mlgate.checks.report import md

if TYPE_CHECKING:
    from mlgate.bot.queue.status import QueueStatus

_METHOD_VERBS = {"merge": "merged", "squash": "squashed", "rebase": "rebased"}


# --- entering the queue ---------------------------------------------------------------------------
def base_not_allowed(what: str, base: str, branches: Sequence[str]) -> str:
    allowed = ", ".join(md(b) for b in branches) or "none"
    return f"{what}: the base branch {md(base)} is not in `merge.branches` ({allowed})."


def no_required_checks(what: str) -> str:
    return (f"{what}: no required checks are configured (`merge.required_checks` and the gate sections of "
            ".github/mlgate.yml are empty), so a staging commit could not be tested. Nothing was queued.")


def queued(announce: str | None, base: str, position: int, priority: int) -> str:
    prio = f", priority {priority}" if priority else ""
    return (f"{announce or 'Ready'}: queued for {md(base)} at position {position}"
            f"{prio}. It lands once the merged result passes every required check.")


def gates_reason(conclusion: str, reasons: Sequence[str]) -> str:
    """Why a PR waits (pending gates) or is blocked (failed gates): kept as the PR's reason."""
    why = "; ".join(reasons)
    if conclusion == "pending":
        return f"waiting for {why}" if why else "waiting for the PR's gates"
    return f"blocked: {why}" if why else "blocked: a PR gate failed"


def not_ready(announce: str | None, reason: str, conclusion: str) -> str:
    lead = f"{announce}: not queued yet" if announce else "Left the ready queue"
    tail = "it is queued as soon as they pass" if conclusion == "pending" else (
        "it is queued once they pass; fix them or `/cancel`")
    return f"{lead}, {md(reason)}; {tail}."


def already_queued(status: str) -> str:
    return f"Already in the merge queue ({status})."


def already_landed(sha: str | None) -> str:
    return f"Already landed in {sha}."


def priority_set(priority: int) -> str:
    return f"Priority set to {priority}; it applies when the PR is queued with `/merge`."


NOTHING_TO_CANCEL = "Nothing to cancel: this PR is not in the merge queue."
NOTHING_TO_RETRY = "Nothing to retry: this PR has not failed in the merge queue; use `/merge`."


def preempted_reason(number: int, priority: int) -> str:
    return f"preempted by #{number} (priority {priority}), which is tested first"


# --- leaving it -------------------------------------------------------------------------------------
def pushed_reason(head_sha: str) -> str:
    return f"new commits were pushed ({head_sha[:12]})"


def pushed(reason: str, approved_sha: str) -> str:
    return (f"Removed from the merge queue: {reason}; approvals and gates were for "
            f"{approved_sha[:12]}. Comment `/merge` again when the new head is ready.")


def cancelled_by(user: str) -> str:
    return f"Removed from the merge queue by {md('@' + user)}."


def conflict_reason(base: str, reason: str) -> str:
    return f"does not merge cleanly into {base}: {reason}"


def conflict(reason: str, base: str) -> str:
    return (f"Removed from the merge queue: it {md(reason)}. Rebase or merge {md(base)} into it, "
            "then comment `/merge` again.")


def rejection(number: int, strikes: int, evidence: Evidence | None) -> tuple[str, str]:
    """(the PR's reason, the comment) when a PR is removed for failing its checks."""
    ev = evidence
    failed = ev.failed if ev else ()
    where = f" on staging {ev.sha[:12]}" if ev and ev.sha else ""
    checks = "; ".join(failed) or "a required check"
    if ev and ev.numbers == (number,):
        how = "It failed when tested alone"
    elif ev:
        others = ", ".join(f"#{n}" for n in ev.numbers if n != number)
        how = (f"It was singled out by bisection: the batch with {others} failed, and every other PR of that "
               "batch passed without it")
    else:
        how = "It failed"
    if strikes >= 2:
        how += ", and again when re-run alone"
    links = "".join(f"\n- {md(u)}" for u in ev.urls) if ev and ev.urls else ""
    body = (f"Removed from the merge queue: {md(checks)}{where}. {how}. Fix it and comment `/merge` again, "
            f"or `/retry` if the failure was flaky.{links}")
    return f"failed: {checks}{where}", body


# --- landing ------------------------------------------------------------------------------------------
def check_line(name: str, j: Judgement) -> str:
    """"name conclusion" for a comment (user text escaped)."""
    if j.passed and j.deciding is not None:
        return f"{md(name)} {md(j.deciding.conclusion or 'success')}"
    return f"{md(name)} {md(j.reason or j.state.value)}"


def landed(build: Build, sha: str, judged: Mapping[str, Judgement]) -> str:
    checks = ", ".join(check_line(n, j) for n, j in judged.items())
    others = [f"#{n}" for n in build.numbers]
    batch = f" in a batch with {', '.join(others)}" if len(others) > 1 else ""
    return (f"Landed on {md(build.base)} in {sha} ({_METHOD_VERBS[build.method]}{batch}). That exact commit passed "
            f"every required check: {checks}.")


def landed_reason(build: Build, sha: str, judged: Mapping[str, Judgement]) -> str:
    """Plain text (escaped where shown) kept as a landed PR's reason: where, how, and what passed."""
    def word(j: Judgement) -> str:
        return (j.deciding.conclusion if j.passed and j.deciding else None) or j.reason or j.state.value

    checks = ", ".join(f"{n} {word(j)}" for n, j in judged.items())
    others = [f"#{n}" for n in build.numbers]
    batch = f" in a batch with {', '.join(others)}" if len(others) > 1 else ""
    return (f"Landed on {build.base} in {sha} ({_METHOD_VERBS[build.method]}{batch}). That exact commit passed "
            f"every required check: {checks}.")


def landed_without_later_commits(tested_sha: str, base: str, sha: str) -> str:
    return (f"The version {tested_sha[:12]} that was tested landed on {md(base)} in {sha}; "
            "commits pushed after it did not.")


# --- try builds ----------------------------------------------------------------------------------------
def trying(head_sha: str, base: str, branch: str) -> str:
    return f"Trying {head_sha[:12]} merged into {md(base)} on {md(branch)}; nothing will land."


def try_cancelled(user: str) -> str:
    return f"The try build was cancelled by {md('@' + user)}; nothing was landed."


def try_not_created(reason: str) -> str:
    return f"The try build could not be created: {md(reason)}."


def try_result(build: Build, green: bool, failed: Iterable[str], judged: Mapping[str, Judgement]) -> str:
    shown = {n: j for n, j in judged.items() if j.state != GateState.MISSING}
    lines = [f"- {check_line(n, j).replace(' ', ': ', 1)}" for n, j in shown.items()]
    lines += [f"- {md(f)}" for f in failed if not any(f.startswith(n + ":") for n in shown)]
    head = "passed" if green else "failed"
    return (f"Try build {head} on {md(build.branch)} ({build.sha}), {md(build.base)} at "
            f"{build.base_sha}. Nothing was landed.\n" + "\n".join(lines))


# --- why a build failed without a red check ---------------------------------------------------------------
def not_started(name: str, minutes: float, notes: Iterable[str]) -> str:
    return (f"{name} was not started within {minutes:g} minutes "
            "(merge.start_timeout_minutes); check that CI runs on the staging branch and uses exactly this name"
            + "".join(f"; {note}" for note in notes))  # e.g. a report from an app not pinned


def not_finished(name: str, minutes: float) -> str:
    return f"{name} did not finish within {minutes:g} minutes (merge.timeout_minutes)"


# --- where a PR stands (its report's queue block and the /status reply) ------------------------------
def status_text(s: QueueStatus | None, *, queue_available: bool = True) -> str:
    """One short paragraph: where the PR is in the merge queue, or how to get it there."""
    if not queue_available:
        return "**Merge queue**: not available on this bot (it runs without a database)."
    if s is None:
        return "**Merge queue**: not queued. Comment `/merge` to queue this PR once its gates pass."
    base = md(s.base) if s.base else "its base"
    extras = [f"priority {s.priority}"] if s.priority else []
    if s.single:
        extras.append("tested alone (`/single`)")
    extra = f" ({', '.join(extras)})" if extras else ""
    if s.status == IDLE:
        return f"**Merge queue**: not queued{extra}. Comment `/merge` to queue this PR once its gates pass."
    if s.status == WAITING:
        why = md(s.reason) if s.reason else "waiting for the PR's gates"
        return (f"**Merge queue**: `/merge` was given; {why}{extra}. It is queued for {base} "
                "as soon as its gates pass.")
    if s.status == QUEUED:
        # no "of N": every PR's report would be edited each time someone else joins the queue
        place = f"position {s.position}" if s.position else "the queue"
        why = f" It was {md(s.reason)}." if s.reason else ""
        return f"**Merge queue**: queued for {base} at {place}{extra}.{why}"
    if s.status == TESTING:
        others = [f"#{n}" for n in s.batch if n != s.number]
        mates = f" with {', '.join(others)}" if others else " alone"
        where = (f"staging commit {s.staging_sha[:12]} on {md(s.staging_branch)}" if s.staging_sha
                 else "a staging commit being built")
        return f"**Merge queue**: being tested in batch {s.batch_id}{mates}: {where}, for {base}{extra}."
    if s.status == MERGED:
        how = md(s.reason) if s.reason else f"Landed on {base} in {s.landed_sha}."
        return f"**Merge queue**: {how}"
    if s.status in (FAILED, CANCELLED):
        why = md(s.reason) if s.reason else s.status
        return (f"**Merge queue**: left the queue because {why}. Comment `/merge` when it is ready again"
                f"{' (or `/retry` if the failure was flaky)' if s.status == FAILED else ''}.")
    return f"**Merge queue**: {md(s.status)}."

# --- holding a PR, pausing a base -------------------------------------------------------------------
def hold_unchanged(on: bool) -> str:
    return "Already on hold: `/unhold` lets it back into batches." if on else "Not on hold: nothing to do."


def held_too_late() -> str:
    return ("On hold, but too late for the build being landed now: its tested version is being fast-forwarded. "
            "The hold applies to anything this PR is queued for next.")


def held(user: str) -> str:
    return (f"On hold (by {md(user)}): kept out of every new batch; it keeps its place in line. "
            "`/unhold` lets it back in.")


def unheld(user: str, queued: bool) -> str:
    tail = " It can be batched again." if queued else " It is not in the queue: `/merge` queues it."
    return f"Hold lifted (by {md(user)}).{tail}"


def paused(base: str, user: str, reason: str, running: int, already: bool) -> str:
    why = f": {md(reason)}" if reason else ""
    lead = "Still paused; reason updated" if already else "Paused"
    tail = (f" The {running} build(s) already running finish and land if green; nothing new starts."
            if running else " Nothing new starts.")
    return (f"{lead} — the merge queue of {md(base)} (by {md(user)}){why}.{tail} "
            f"`/resume {md(base)}` starts it again; PRs stay queued.")


def resumed(base: str, user: str, was_paused: bool) -> str:
    if not was_paused:
        return f"The merge queue of {md(base)} is not paused: nothing to resume."
    return f"Resumed: the merge queue of {md(base)} (by {md(user)}) starts new builds again."


def waiting_note(paused: str | None, paused_by: str, held: bool) -> str:
    """Appended to "queued": why it will not be built yet (the queue of its base is paused, it is held)."""
    notes = []
    if paused is not None:
        why = f": {md(paused)}" if paused else ""
        notes.append(f"The merge queue of this branch is paused by {md(paused_by or 'a maintainer')}{why}; "
                     "nothing is built until `/resume`.")
    if held:
        notes.append("This PR is on hold: `/unhold` lets it into a batch.")
    return "".join(f" {n}" for n in notes)
