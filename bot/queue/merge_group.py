"""The `mlgate` check on a commit of GitHub's own merge queue (a merge group), judged like a staging commit.

Pure. Teams that keep GitHub's merge queue (a ruleset with "Require merge queue") still gate with
mlgate: GitHub builds each group's commit on `gh-readonly-queue/<base>/pr-<n>-<sha>` and sends
`merge_group` (`checks_requested`); the bot sets its `mlgate` check there, and GitHub merges the
group only when the ruleset's required checks, `mlgate` among them, are green.

The rules are the merge queue's for a staging commit (`QueueConfig.from_mlgate`, the check rule of
bot/pr/check_rule.py): every `merge.required_checks` entry and every configured `mlgate/<gate>`
must pass on the group's commit, reported by the pinned app where one is pinned, gate results
computed with the config of the group's BASE commit. That config is read from the base commit
(`merge_group.base_sha`), never from the group commit, which holds the PRs' changes. A config that
requires nothing is a failure that says so: mlgate never passes a commit it did not see tested.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlgate.bot.github.effects import SetCheck
from mlgate.bot.github.facts import CheckRun
from mlgate.bot.github.payloads import MergeGroup
from mlgate.bot.pr.check_rule import GateState, Judgement
from mlgate.bot.pr.gates import report_of
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.queue.model import QueueConfig
from mlgate.names import CONFIG_PATH, SUMMARY_CHECK


def group_check(group: MergeGroup, config: RepoConfig, checks: Sequence[CheckRun], *,
                gate_app: str | None = None) -> SetCheck:
    """The `mlgate` check run for the group's commit, from the base commit's config and the checks on it."""

    def check(status: str, conclusion: str | None, title: str, summary: str, text: str | None = None) -> SetCheck:
        return SetCheck(group.repo, group.head_sha, SUMMARY_CHECK, status, conclusion, title, summary, text)

    where = f"the merge group's base commit {(group.base_sha or group.base_ref)[:12]}"
    if not config.valid or config.effective is None:
        return check("completed", "failure", "mlgate: the base commit's config is invalid",
                     f"{CONFIG_PATH} on {where} cannot be used, so nothing on this merge group can be judged: "
                     f"{config.error or 'invalid'}")
    cfg = QueueConfig.from_mlgate(config.effective, config_sha256=config.sha256, gate_app=gate_app)
    if not cfg.required_checks:
        return check("completed", "failure", "mlgate: nothing to judge on the merge group",
                     f"{CONFIG_PATH} on {where} lists no `merge.required_checks` and configures no gate, so "
                     "mlgate cannot tell whether this merge group was tested; it does not pass what it did not "
                     "see tested. Add the CI checks to `merge.required_checks`.")
    reports = tuple(report_of(c) for c in checks if c.head_sha == group.head_sha and c.name != SUMMARY_CHECK)
    verdicts = {name: cfg.judge(name, reports) for name in cfg.required_checks}
    blocking = {n: v for n, v in verdicts.items() if v.state.blocking}
    waiting = [n for n, v in verdicts.items() if v.state.waiting]
    table = _table(verdicts)
    if blocking:
        names = ", ".join(f"`{n}`" for n in blocking)
        return check("completed", "failure", f"mlgate: {len(blocking)} required check(s) failed on the merge group",
                     f"Judged with {CONFIG_PATH} of {where}: {names} did not pass.", table)
    if waiting:
        names = ", ".join(f"`{n}`" for n in waiting)
        return check("in_progress", None, f"mlgate: waiting for {len(waiting)} required check(s)",
                     f"Judged with {CONFIG_PATH} of {where}: waiting for {names}.", table)
    return check("completed", "success", "mlgate: every required check passed on the merge group",
                 f"Judged with {CONFIG_PATH} of {where}: all {len(verdicts)} required check(s) passed.", table)


def _table(verdicts: dict[str, Judgement]) -> str:
    rows = ["| required check | state | why |", "|---|---|---|"]
    for name, v in verdicts.items():
        why = v.reason or ("" if v.state == GateState.SUCCESS else v.state.value)
        notes = "; ".join(v.notes)
        rows.append(f"| `{_cell(name)}` | {v.state.value} | {_cell('; '.join(x for x in (why, notes) if x))} |")
    return "\n".join(rows)


def _cell(text: str) -> str:
    """Text for a Markdown table cell: no pipes, no line breaks, no HTML (it may come from a check's name)."""
    return (text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
            .replace(">", "&gt;").replace("`", "'"))
