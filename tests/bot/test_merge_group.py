"""The `mlgate` check on a merge group's commit (bot/queue/merge_group.py, pure) and reading the
`merge_group` payloads (bot/github/payloads.py), with literals and GitHub's own example."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from mlgate.bot.github.facts import CheckRun
from mlgate.bot.github.payloads import MergeGroup, base_of_group_branch, group_of_check, merge_group_of
from mlgate.bot.pr.repo_config import RepoConfig
from mlgate.bot.queue.merge_group import group_check
from mlgate.checks.config.models import MlgateConfig, parse_config
from mlgate.names import SUMMARY_CHECK

HEAD, BASE = "a" * 40, "b" * 40
GROUP = MergeGroup("acme/ml", HEAD, f"gh-readonly-queue/main/pr-7-{'c' * 40}", "main", BASE)


def config(text: str) -> RepoConfig:
    return RepoConfig("file", BASE, blob_sha="1" * 40, config=parse_config(text), sha256="sha256:" + "d" * 64)


CI = config("version: 1\nmerge:\n  required_checks: [tests]\n")


def run(name: str, conclusion: str | None, status: str = "completed", sha: str = HEAD) -> CheckRun:
    return CheckRun(name, status, conclusion, "circleci", sha, id=1)


def test_green_required_checks_pass_the_group() -> None:
    action = group_check(GROUP, CI, [run("tests", "success")])
    assert (action.sha, action.name, action.status, action.conclusion) == (HEAD, SUMMARY_CHECK, "completed", "success")
    assert BASE[:12] in action.summary


def test_a_red_check_fails_and_a_running_one_waits() -> None:
    red = group_check(GROUP, CI, [run("tests", "failure")])
    assert red.conclusion == "failure" and "`tests` did not pass" in red.summary
    waiting = group_check(GROUP, CI, [run("tests", None, status="in_progress")])
    assert (waiting.status, waiting.conclusion) == ("in_progress", None)
    missing = group_check(GROUP, CI, [run("tests", "success", sha="e" * 40)])  # green elsewhere only
    assert missing.status == "in_progress" and "waiting for `tests`" in missing.summary


def test_the_summary_check_itself_never_counts() -> None:
    cfg = config("version: 1\nmerge:\n  required_checks: [tests, mlgate]\n")
    action = group_check(GROUP, cfg, [run("tests", "success"), run(SUMMARY_CHECK, "failure")])
    assert action.conclusion == "success"


def test_gates_must_carry_the_base_configs_hash() -> None:
    cfg = config("version: 1\nmerge:\n  required_checks: [tests]\n"
                 "quality: {task: classification, metrics: {accuracy: {min: 0.5}}}\n")
    foreign = json.dumps({"versions": {"config_sha256": "sha256:" + "f" * 64}, "gates": []})
    gate = CheckRun("mlgate/quality", "completed", "success", "github-actions", HEAD, id=2,
                    text=f"```json\n{foreign}\n```")
    action = group_check(GROUP, cfg, [run("tests", "success"), gate])
    assert action.conclusion == "failure" and "mlgate/quality" in action.summary


def test_an_invalid_config_or_one_requiring_nothing_never_passes() -> None:
    invalid = RepoConfig("invalid", BASE, blob_sha="2" * 40, error="merge.batch_size: unknown key")
    failed = group_check(GROUP, invalid, [run("tests", "success")])
    assert failed.conclusion == "failure" and "unknown key" in failed.summary


    nothing = group_check(GROUP, RepoConfig("defaults", BASE, config=MlgateConfig()), [run("tests", "success")])
    assert nothing.conclusion == "failure" and "nothing to judge" in nothing.title


def test_a_check_name_cannot_break_the_table() -> None:
    cfg = config("version: 1\nmerge:\n  required_checks: ['ci | <b>x</b>']\n")
    action = group_check(GROUP, cfg, [])
    assert action.text is not None and "<b>" not in action.text and "ci \\| &lt;b&gt;" in action.text


def _example(octokit: Path) -> dict:  # type: ignore[type-arg]
    index = json.loads((octokit / "@octokit/webhooks-examples/api.github.com/index.json").read_text())
    (event,) = [e for e in index if e["name"] == "merge_group"]
    return copy.deepcopy(event["examples"][0])


def test_githubs_example_payload_is_read(octokit_dir: Path) -> None:
    payload = _example(octokit_dir)
    group = merge_group_of(payload)
    assert group == MergeGroup("octo-org/octo-repo", "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d",
                               "gh-readonly-queue/main/pr-104-929f8209d40f77f4abc622a499c93a83babdbe64", "main",
                               "380387fbc80638b734a49e1be1c4dfec1c01b33c")
    for broken in ({"head_sha": None}, {"base_sha": "nope"}, {"head_ref": "refs/heads/feature"}, {"base_ref": 3}):
        bad = _example(octokit_dir)
        bad["merge_group"].update(broken)
        assert merge_group_of(bad) is None, broken
    assert merge_group_of({"repository": {"full_name": "a/b"}, "merge_group": "x"}) is None


def test_group_branches_are_recognised_from_check_and_status_events() -> None:
    branch = f"gh-readonly-queue/release/v2/pr-12-{'c' * 40}"
    assert base_of_group_branch(branch) == "release/v2"
    assert base_of_group_branch(f"refs/heads/{branch}") == "release/v2"
    assert base_of_group_branch("gh-readonly-queue/main/pr-x") is None and base_of_group_branch(None) is None
    repo = {"full_name": "acme/ml"}
    check = {"repository": repo, "check_run": {"check_suite": {"head_branch": branch}}}
    assert group_of_check(check, HEAD) == MergeGroup("acme/ml", HEAD, branch, "release/v2", None)
    status = {"repository": repo, "branches": [{"name": "main"}, {"name": branch}]}
    assert group_of_check(status, HEAD) is not None
    assert group_of_check({"repository": repo, "branches": [{"name": "main"}]}, HEAD) is None


def test_the_app_manifest_subscribes_to_every_routed_event() -> None:
    """app.yml's default_events name every event the handlers route (merge_group included); the
    installation events reach an App without a subscription."""
    import yaml

    from mlgate.bot.intake.handlers import ROUTES

    manifest = yaml.safe_load((Path(__file__).resolve().parents[2] / "app.yml").read_text())
    routed = set(ROUTES) - {"installation", "installation_repositories"}
    assert routed <= set(manifest["default_events"]), routed - set(manifest["default_events"])


def test_a_later_group_is_judged_with_the_base_branchs_config_not_an_earlier_groups() -> None:
    """The walk-around: the second group in GitHub's queue has the first group's commit as its
    `base_sha`, holding the first PR's unlanded config; GitHub may land both through the second
    group's checks. Judged with that config (it requires only `lint`), the red `tests` would not
    count; the base branch's config (requires `tests`) must judge it."""
    from mlgate.bot.intake.handlers import Handlers
    from mlgate.bot.pr.repo_config import CONFIG_PATH
    from tests.bot.fake_forge import FakeForge

    forge = FakeForge()
    forge.put_file("acme/ml", "main", CONFIG_PATH, "version: 1\nmerge:\n  required_checks: [tests]\n")
    forge.put_file("acme/ml", BASE, CONFIG_PATH, "version: 1\nmerge:\n  required_checks: [lint]\n")
    forge.check_runs[("acme/ml", HEAD, "tests")] = run("tests", "failure")
    forge.check_runs[("acme/ml", HEAD, "lint")] = run("lint", "success")
    bot = Handlers(forges=lambda repo, installation=None: forge, bot_login="mlgate[bot]")
    bot.judge_merge_group(GROUP)
    verdict = forge.check_runs[("acme/ml", HEAD, SUMMARY_CHECK)]
    assert verdict.conclusion == "failure", verdict
    assert ("read_file", "acme/ml", CONFIG_PATH, BASE) not in forge.reads
