"""Routing, commands and evaluation of the Dispatcher, against the in-memory fake forge."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlgate.bot.github.executor import Executor
from mlgate.bot.github.facts import CheckRun, Permission
from mlgate.bot.intake.handlers import Handlers
from mlgate.bot.pr.repo_config import CONFIG_PATH
from mlgate.bot.pr.report import decode_state
from mlgate.bot.settings import Settings
from mlgate.bot.wiring import build_dispatcher
from mlgate.names import REPORT_MARKER
from mlgate.names import SUMMARY_CHECK as CHECK_NAME
from tests.bot.fake_forge import FakeForge
from tests.conftest import github_webhook_examples

REPO = "acme/ml"
HEAD = "a" * 40
RULES = """\
review:
  rules:
    - name: training code
      paths: ["train.py", "training/**"]
      users: [bob, carol]
"""


@pytest.fixture
def forge() -> FakeForge:
    f = FakeForge()
    f.put_file(REPO, "main", CONFIG_PATH, RULES)
    f.add_pull(REPO, 1, author="alice", head_sha=HEAD, files=("train.py", "README.md"), head_ref="tune")
    f.permissions.update({(REPO, "alice"): Permission.WRITE, (REPO, "bob"): Permission.WRITE,
                          (REPO, "rita"): Permission.READ})
    return f


@pytest.fixture
def bot(forge: FakeForge) -> Handlers:
    return Handlers(forges=lambda repo, installation=None: forge, bot_login="mlgate[bot]")


def check(forge: FakeForge, sha: str = HEAD) -> CheckRun:
    return forge.check_runs[(REPO, sha, CHECK_NAME)]


def report(forge: FakeForge, number: int = 1) -> str:
    found = forge.find_comment(REPO, number, REPORT_MARKER)
    assert found is not None, "no report comment"
    return found[1]


def repo_payload(**extra: Any) -> dict[str, Any]:
    return {"repository": {"full_name": REPO, "name": "ml", "owner": {"login": "acme"}}, **extra}


def comment_payload(body: str, user: str = "alice", action: str = "created", user_type: str = "User",
                    comment_id: int = 555, on_pr: bool = True) -> dict[str, Any]:
    issue: dict[str, Any] = {"number": 1}
    if on_pr:
        issue["pull_request"] = {"url": f"https://api.github.com/repos/{REPO}/pulls/1"}
    return repo_payload(action=action, issue=issue,
                        comment={"id": comment_id, "body": body, "user": {"login": user, "type": user_type}})


# ---------------------------------------------------------------------------------------------
# Routing


@pytest.mark.parametrize(
    ("event", "payload", "expected"),
    [
        *[("pull_request", repo_payload(action=a, pull_request={"number": 1, "head": {"sha": HEAD}}), {(REPO, 1)})
          for a in ("opened", "synchronize", "edited", "reopened", "ready_for_review")],
        ("pull_request", repo_payload(action="closed", pull_request={"number": 1}), set()),
        ("pull_request", repo_payload(action="labeled", pull_request={"number": 1}), set()),
        *[("pull_request_review", repo_payload(action=a, pull_request={"number": 1}), {(REPO, 1)})
          for a in ("submitted", "dismissed", "edited")],
        ("check_run", repo_payload(action="completed", check_run={
            "name": "ci", "head_sha": HEAD, "pull_requests": [{"number": 1, "head": {"sha": HEAD}}]}), {(REPO, 1)}),
        ("check_run", repo_payload(action="created", check_run={
            "name": "ci", "head_sha": HEAD, "pull_requests": [{"number": 1}]}), set()),
        ("check_run", repo_payload(action="completed", check_run={  # our own check never loops back
            "name": CHECK_NAME, "head_sha": HEAD, "pull_requests": [{"number": 1}]}), set()),
        ("check_suite", repo_payload(action="completed", check_suite={
            "head_sha": HEAD, "pull_requests": [{"number": 1, "head": {"sha": HEAD}}]}), {(REPO, 1)}),
        ("check_suite", repo_payload(action="requested", check_suite={"head_sha": HEAD}), set()),
        ("status", repo_payload(sha=HEAD, state="pending", context="ci"), set()),
        ("push", repo_payload(ref="refs/heads/main", commits=[{"added": [], "removed": [], "modified": ["x.py"]}]),
         set()),
        ("push", repo_payload(ref="refs/heads/main", commits=[{"added": [], "removed": [], "modified": [CONFIG_PATH]}]),
         {(REPO, 1)}),
        ("issue_comment", comment_payload("just chatting"), set()),
        ("installation", {"action": "deleted", "installation": {"id": 1}}, set()),
        ("star", repo_payload(action="created"), set()),
        ("deployment", repo_payload(), set()),
        ("ping", {"zen": "hi"}, set()),
        ("pull_request", {"action": "opened"}, set()),  # no repository: ignored
        ("pull_request", repo_payload(action="opened", pull_request={"number": "1"}), set()),  # malformed
    ],
)
def test_routing_table(bot: Handlers, event: str, payload: dict, expected: set) -> None:
    assert bot.handle(event, payload, "delivery-1") == expected


def test_unknown_head_sha_first_evaluates_every_open_pr_then_trusts_the_index(bot: Handlers, forge: FakeForge) -> None:
    forge.add_pull(REPO, 2, head_sha="b" * 40)
    status = repo_payload(sha="c" * 40, state="success", context="ci")
    assert bot.handle("status", status, "d1") == {(REPO, 1), (REPO, 2)}  # cold: no index yet
    assert bot.handle("status", status, "d2") == {(REPO, 1), (REPO, 2)}  # listed, heads not known yet
    bot.evaluate(REPO, 1)
    bot.evaluate(REPO, 2)
    assert bot.handle("status", status, "d2") == set()  # warm: no open PR has that head
    assert bot.handle("status", repo_payload(sha="b" * 40, state="failure", context="ci"), "d3") == {(REPO, 2)}
    moved = repo_payload(action="synchronize", pull_request={"number": 2, "head": {"sha": "d" * 40}})
    bot.handle("pull_request", moved, "d4")
    assert bot.handle("status", repo_payload(sha="d" * 40, state="success", context="ci"), "d5") == {(REPO, 2)}
    bot.handle("pull_request", repo_payload(action="closed", pull_request={"number": 2}), "d6")
    assert bot.handle("status", repo_payload(sha="d" * 40, state="success", context="ci"), "d7") == set()


def test_installation_added_resyncs_its_repositories(bot: Handlers, forge: FakeForge) -> None:
    payload = {"action": "added", "installation": {"id": 42},
               "repositories_added": [{"full_name": REPO}, {"full_name": "acme/empty"}]}
    assert bot.handle("installation_repositories", payload, "d") == {(REPO, 1)}
    assert bot.index.installation(REPO) == 42


def test_installation_id_is_passed_to_the_forge_factory(forge: FakeForge) -> None:
    seen: list[tuple[str, int | None]] = []

    def factory(repo: str, installation: int | None = None) -> FakeForge:
        seen.append((repo, installation))
        return forge

    bot = Handlers(forges=factory)
    bot.handle("pull_request", {**repo_payload(action="opened", pull_request={"number": 1}), "installation": {"id": 9}},
               "d")
    bot.evaluate(REPO, 1)
    assert seen and all(s == (REPO, 9) for s in seen)


# ---------------------------------------------------------------------------------------------
# Commands


def test_refused_command_gets_polite_reply_and_confused_reaction(bot: Handlers, forge: FakeForge) -> None:
    assert bot.handle("issue_comment", comment_payload("/merge", user="rita"), "d") == set()
    assert forge.reactions == [(REPO, 555, "confused")]
    (reply,) = [c for c in forge.comments_on(REPO, 1) if c.user == forge.bot_login]
    assert "needs **write** permission" in reply.body and "you have **read**" in reply.body
    assert "Nothing was run" in reply.body and "Sorry @rita" in reply.body


def test_accepted_queue_command_is_acknowledged_and_answered_not_available(bot: Handlers, forge: FakeForge) -> None:
    bot.handle("issue_comment", comment_payload("LGTM\n/merge p=2\n/single on"), "d")
    assert forge.reactions == []  # the reply answers it: no 👍 on top (one GitHub call fewer)
    (reply,) = [c for c in forge.comments_on(REPO, 1) if c.user == forge.bot_login]
    assert "`/merge`: the merge queue is not available" in reply.body
    assert "`/single`: the merge queue is not available" in reply.body
    assert ("permission", REPO, "alice") in forge.reads


def test_help_needs_only_read(bot: Handlers, forge: FakeForge) -> None:
    bot.handle("issue_comment", comment_payload("/help", user="rita"), "d")
    assert forge.reactions == []
    (reply,) = [c for c in forge.comments_on(REPO, 1) if c.user == forge.bot_login]
    assert "**mlgate commands**" in reply.body and "`/merge [SHA] [p=N]`" in reply.body


def test_deploy_answers_not_available(bot: Handlers, forge: FakeForge) -> None:
    bot.handle("issue_comment", comment_payload("/deploy staging"), "d")
    (reply,) = [c for c in forge.comments_on(REPO, 1) if c.user == forge.bot_login]
    assert "deployments are not available" in reply.body


def test_parse_error_gets_error_and_help_and_user_text_is_escaped(bot: Handlers, forge: FakeForge) -> None:
    bot.handle("issue_comment", comment_payload("/priority <img src=x>"), "d")
    assert forge.reactions == [(REPO, 555, "confused")]
    (reply,) = [c for c in forge.comments_on(REPO, 1) if c.user == forge.bot_login]
    assert "I could not understand this command" in reply.body and "**mlgate commands**" in reply.body
    assert "<img" not in reply.body and "&lt;img" in reply.body
    assert ("permission", REPO, "alice") not in forge.reads  # nothing runs, so nobody's permission matters


@pytest.mark.parametrize(
    "payload",
    [
        comment_payload("/merge", action="edited"),  # edits are not re-executed
        comment_payload("/merge", action="deleted"),
        comment_payload("/merge", user="mlgate[bot]", user_type="Bot"),  # the bot itself
        comment_payload("/merge", user="dependabot[bot]", user_type="Bot"),  # any bot
        comment_payload(f"{REPORT_MARKER}\n/merge", user="mlgate-token-user"),  # own comment in token mode
        comment_payload("/merge", on_pr=False),  # an issue, not a PR
    ],
)
def test_ignored_comments(bot: Handlers, forge: FakeForge, payload: dict) -> None:
    assert bot.handle("issue_comment", payload, "d") == set()
    assert forge.writes == [] and forge.reads == []


def test_bot_login_in_token_mode_is_ignored_too(forge: FakeForge) -> None:
    bot = Handlers(forges=lambda repo, installation=None: forge, bot_login=lambda: "mlgate-bot")
    bot.handle("issue_comment", comment_payload("/merge", user="MLGate-Bot"), "d")
    assert forge.writes == []


def test_redelivered_comment_is_answered_once(bot: Handlers, forge: FakeForge) -> None:
    payload = comment_payload("/merge", user="rita")
    bot.handle("issue_comment", payload, "d1")
    bot.handle("issue_comment", payload, "d1")  # the worker retries after a crash
    assert len([c for c in forge.comments_on(REPO, 1) if c.user == forge.bot_login]) == 1


# ---------------------------------------------------------------------------------------------
# Evaluation


def test_report_and_failing_check_when_a_rule_lacks_approval(bot: Handlers, forge: FakeForge) -> None:
    bot.evaluate(REPO, 1)
    run = check(forge)
    assert (run.status, run.conclusion) == ("completed", "failure")
    body = report(forge)
    assert "training code" in body and "1 more approval needed from @\u200bbob, @\u200bcarol" in body
    assert decode_state(body)["applying"] == ["training code"]


def test_idempotent_evaluation_makes_one_comment_and_no_extra_edits(bot: Handlers, forge: FakeForge) -> None:
    bot.evaluate(REPO, 1)
    writes = list(forge.writes)
    assert [w[0] for w in writes] == ["set_check", "create_comment"]
    bot.evaluate(REPO, 1)
    bot.evaluate(REPO, 1)
    assert forge.writes == writes
    assert len(forge.comments_on(REPO, 1)) == 1


def test_approval_flips_the_check_and_edits_the_comment_in_place(bot: Handlers, forge: FakeForge) -> None:
    bot.evaluate(REPO, 1)
    comment_id = forge.find_comment(REPO, 1, REPORT_MARKER)[0]  # type: ignore[index]
    forge.add_review(REPO, 1, "alice", "APPROVED")  # the author's own approval does not count
    bot.evaluate(REPO, 1)
    assert check(forge).conclusion == "failure"
    assert "Not counted: alice (approved): the author cannot approve" in report(forge)
    forge.add_review(REPO, 1, "bob", "APPROVED")
    bot.evaluate(REPO, 1)
    assert (check(forge).status, check(forge).conclusion) == ("completed", "success")
    assert forge.find_comment(REPO, 1, REPORT_MARKER)[0] == comment_id  # type: ignore[index]
    assert len(forge.comments_on(REPO, 1)) == 1
    assert "| training code | ✅ approved | bob | 0 |" in report(forge)
    assert len(forge.writes_of("update_comment")) == 2


def test_stale_approval_after_a_push_does_not_count(bot: Handlers, forge: FakeForge) -> None:
    forge.add_review(REPO, 1, "bob", "APPROVED")
    bot.evaluate(REPO, 1)
    assert check(forge).conclusion == "success"
    forge.update_pull(REPO, 1, head_sha="e" * 40)
    bot.evaluate(REPO, 1)
    assert check(forge, "e" * 40).conclusion == "failure"
    assert "before the latest push" in report(forge)


def test_config_is_read_from_the_base_branch_never_the_head(bot: Handlers, forge: FakeForge) -> None:
    # The PR deletes the rule in its own copy of the config: that must not weaken its gates.
    forge.update_pull(REPO, 1, files=(*forge.pulls[(REPO, 1)].files,
                                      *FakeForge().add_pull(files=(CONFIG_PATH,)).files))
    forge.put_file(REPO, "tune", CONFIG_PATH, "review:\n  rules: []\n")
    forge.put_file(REPO, HEAD, CONFIG_PATH, "review:\n  rules: []\n")
    bot.evaluate(REPO, 1)
    assert check(forge).conclusion == "failure"
    refs = [r[3] for r in forge.reads if r[0] == "read_file"]
    assert refs == ["main"]
    assert "Config: .github/mlgate.yml on main" in report(forge)


def test_invalid_config_fails_the_check_quoting_key_and_line(bot: Handlers, forge: FakeForge) -> None:
    forge.put_file(REPO, "main", CONFIG_PATH, RULES.replace("users:", "reviewers:"))
    bot.evaluate(REPO, 1)
    run = check(forge)
    assert (run.status, run.conclusion) == ("completed", "failure")
    for text in (run.summary or "", report(forge)):
        assert "review.rules\\[0\\].reviewers (line 5): unknown key" in text, text


def test_missing_config_gets_defaults_stated_and_passes(bot: Handlers, forge: FakeForge) -> None:
    forge.put_file(REPO, "main", CONFIG_PATH, None)
    bot.evaluate(REPO, 1)
    assert check(forge).conclusion == "success"
    assert "no .github/mlgate.yml on main; defaults apply" in report(forge)


def test_config_fix_on_base_re_evaluates_open_prs(bot: Handlers, forge: FakeForge) -> None:
    bot.evaluate(REPO, 1)
    assert check(forge).conclusion == "failure"
    forge.put_file(REPO, "main", CONFIG_PATH, "review:\n  rules: []\n")
    push = repo_payload(ref="refs/heads/main", commits=[{"added": [], "removed": [], "modified": [CONFIG_PATH]}])
    for ref in bot.handle("push", push, "d"):
        bot.evaluate(*ref)
    assert check(forge).conclusion == "success"


def test_required_ci_and_gate_results_drive_pending_then_success(bot: Handlers, forge: FakeForge) -> None:
    forge.put_file(REPO, "main", CONFIG_PATH, RULES + "merge:\n  required_checks: [ci/tests]\n")
    forge.add_review(REPO, 1, "carol", "APPROVED")
    forge.add_check(REPO, 1, CheckRun("ci/tests", "in_progress", None, "github-actions", HEAD, id=1))
    bot.evaluate(REPO, 1)
    assert (check(forge).status, check(forge).conclusion) == ("in_progress", None)
    assert "waiting for ci/tests" in report(forge)
    forge.add_check(REPO, 1, CheckRun("ci/tests", "completed", "success", "github-actions", HEAD, id=2))
    bot.evaluate(REPO, 1)
    assert (check(forge).status, check(forge).conclusion) == ("completed", "success")
    assert "comment /merge" not in report(forge)  # the queue does not exist yet: no advice to use it


def test_gate_results_json_numbers_reach_the_comment(bot: Handlers, forge: FakeForge) -> None:
    forge.put_file(REPO, "main", CONFIG_PATH, "quality:\n  metrics:\n    accuracy: {min: 0.8}\n")
    results = {"schema": "mlgate.results/v1", "gates": [{
        "gate": "quality", "status": "fail", "summary": "accuracy fell", "baseline_used": True,
        "metrics": [{"name": "accuracy", "value": 0.78, "baseline": 0.85, "delta": -0.07, "status": "fail"}]}]}
    forge.add_check(REPO, 1, CheckRun("mlgate/quality", "completed", "failure", "github-actions", HEAD, id=3,
                                      details_url="https://ci.example/runs/3", text=json.dumps(results)))
    bot.evaluate(REPO, 1)
    body = report(forge).replace("\u00a0", " ")
    assert "is invalid" not in body, body
    assert "| [mlgate/quality](https://ci.example/runs/3) | ❌ fail | accuracy fell |" in body
    assert "| ❌ accuracy | 0.78 | — | 0.85 | −0.07 |" in body
    assert check(forge).conclusion == "failure"


def test_closed_pr_is_left_alone(bot: Handlers, forge: FakeForge) -> None:
    forge.update_pull(REPO, 1, state="closed")
    bot.evaluate(REPO, 1)
    assert forge.writes == []


def test_executor_dry_run_writes_nothing(forge: FakeForge) -> None:
    bot = Handlers(forges=lambda repo, installation=None: forge)
    facts = forge.pull_facts(REPO, 1)
    from mlgate.bot.pr.repo_config import load_repo_config

    actions = bot.decide_actions(forge, facts, load_repo_config(forge, REPO, "main"), {})
    done = Executor(forge, dry_run=True).apply(actions)
    assert forge.writes == [] and any("would write report" in d for d in done)


def test_build_dispatcher_uses_given_forges_and_settings_login(forge: FakeForge) -> None:
    d = build_dispatcher(Settings(bot_login="robot"), forges=lambda repo, installation=None: forge)
    assert d.bot_login == "robot"


# ---------------------------------------------------------------------------------------------
# GitHub's example payloads


def test_every_github_example_payload_is_handled_without_error() -> None:
    events = github_webhook_examples()
    routed: dict[str, int] = {}
    handled = 0
    for entry in events:
        for n, payload in enumerate(entry["examples"]):
            forge = FakeForge()
            repo = (payload.get("repository") or {}).get("full_name")
            bot = Handlers(forges=lambda r, i=None, forge=forge: forge, bot_login="mlgate[bot]")
            where = f"{entry['name']} example {n} ({payload.get('action')})"
            listed = [r.get("full_name") for key in ("repositories", "repositories_added")
                      for r in payload.get(key) or () if isinstance(r, dict)]
            for name in filter(None, [repo, *listed]):
                forge.add_pull(name, 1)  # so a resync finds an open PR
            try:
                refs = bot.handle(entry["name"], payload, f"example-{n}")
                for r, number in refs:
                    if (r, number) not in forge.pulls:
                        forge.add_pull(r, number)
                    bot.evaluate(r, number)
            except Exception as exc:
                pytest.fail(f"{where}: {type(exc).__name__}: {exc}")
            handled += 1
            if refs:
                routed[entry["name"]] = routed.get(entry["name"], 0) + 1
    assert handled > 300
    # The subscribed events that carry a PR must actually route to an evaluation.
    for event in ("pull_request", "pull_request_review", "check_run", "check_suite", "status", "installation"):
        assert routed.get(event), f"no {event} example was routed to an evaluation: {routed}"


def test_reviewers_are_requested_once_when_a_rule_starts_to_apply(bot: Handlers, forge: FakeForge) -> None:
    # The config schema has no `request_reviews` key yet; bot/pr/review.py's RuleSpec has it.
    from mlgate.bot.pr.repo_config import RepoConfig
    from mlgate.bot.pr.review import RuleSpec
    from mlgate.checks.config.models import MlgateConfig, ReviewConfig

    spec = RuleSpec("training code", ("train.py",), users=("bob", "alice"), teams=("acme/ml-team",),
                    request_reviews=True)
    cfg = RepoConfig("file", "main", blob_sha="1" * 40,
                     config=MlgateConfig.model_construct(review=ReviewConfig.model_construct(rules=[spec])))
    forge.teams[("acme", "ml-team")] = ("dora",)
    facts = forge.pull_facts(REPO, 1)
    first = bot.decide_actions(forge, facts, cfg, {})
    requests = [a for a in first if type(a).__name__ == "RequestReviewers"]
    assert [(a.users, a.teams) for a in requests] == [(("bob",), ("ml-team",))]  # never the author
    Executor(forge, current_checks=facts.checks).apply(first)
    state = decode_state(report(forge))
    again = bot.decide_actions(forge, forge.pull_facts(REPO, 1), cfg, state)
    assert not [a for a in again if type(a).__name__ == "RequestReviewers"]
    assert forge.requested == [(REPO, 1, ("bob",), ("ml-team",))]


def test_executor_refuses_a_report_without_marker_and_skips_unchanged_checks(forge: FakeForge) -> None:
    from mlgate.bot.github.effects import SetCheck, UpsertReport

    with pytest.raises(ValueError, match="marker"):
        Executor(forge).apply([UpsertReport(REPO, 1, "no marker here")])
    action = SetCheck(REPO, HEAD, CHECK_NAME, "completed", "success", "ok", "all good")
    Executor(forge).apply([action])
    done = Executor(forge, current_checks=forge.pull_facts(REPO, 1).checks).apply([action])
    assert done == [f"check {CHECK_NAME} on {HEAD[:12]} unchanged"]
    changed = Executor(forge, current_checks=forge.pull_facts(REPO, 1).checks).apply(
        [SetCheck(REPO, HEAD, CHECK_NAME, "completed", "failure", "no", "broken")])
    assert "failure" in changed[0] and len(forge.writes_of("set_check")) == 2


def test_command_permissions_come_from_the_default_branch_config(forge: FakeForge) -> None:
    forge.put_file(REPO, "main", CONFIG_PATH, RULES + "commands:\n  permissions: {merge: admin, help: write}\n")
    bot = Handlers(forges=lambda repo, installation=None: forge, bot_login="mlgate[bot]")
    payload = comment_payload("/merge")
    payload["repository"]["default_branch"] = "main"
    bot.handle("issue_comment", payload, "d1")
    assert forge.reactions == [(REPO, 555, "confused")]
    (reply,) = [c for c in forge.comments_on(REPO, 1) if c.user == forge.bot_login]
    assert "needs **admin** permission" in reply.body and "you have **write**" in reply.body
    # without the repository's default branch in the payload, the defaults apply: write may merge
    bot.handle("issue_comment", comment_payload("/merge", comment_id=556), "d2")
    assert forge.reactions == [(REPO, 555, "confused")]  # the second one was run: answered, not refused
    assert any("merge queue is not available" in c.body for c in forge.comments_on(REPO, 1))


FEATURE_RULES = """\
review:
  rules:
    - name: feature owners
      from_features: true
"""  # no features: section, so no mlgate/features gate to wait for; the registry is features.yaml
REGISTRY = """\
features:
  - name: age
    description: Age in years.
    owner: "@carol"
    code: src/age.py
"""


def test_feature_owner_rule_reads_the_registry_from_the_base_branch(forge: FakeForge) -> None:
    forge.put_file(REPO, "main", CONFIG_PATH, FEATURE_RULES)
    forge.put_file(REPO, "main", "features.yaml", REGISTRY)
    forge.put_file(REPO, "tune", "features.yaml", REGISTRY.replace("@carol", "@alice"))  # the head's own pick
    forge.add_pull(REPO, 2, author="alice", head_sha="f" * 40, files=("src/age.py",), head_ref="tune")
    forge.permissions[(REPO, "carol")] = Permission.WRITE
    bot = Handlers(forges=lambda repo, installation=None: forge, bot_login="mlgate[bot]")
    bot.evaluate(REPO, 2)
    assert check(forge, "f" * 40).conclusion == "failure"
    assert ("read_file", REPO, "features.yaml", "tune") not in forge.reads
    forge.add_review(REPO, 2, "bob", "APPROVED")  # not the owner
    bot.evaluate(REPO, 2)
    assert check(forge, "f" * 40).conclusion == "failure"
    forge.add_review(REPO, 2, "carol", "APPROVED")
    bot.evaluate(REPO, 2)
    assert check(forge, "f" * 40).conclusion == "success"


def test_feature_owner_rule_without_a_registry_fails_the_check(forge: FakeForge) -> None:
    forge.put_file(REPO, "main", CONFIG_PATH, FEATURE_RULES)
    forge.add_pull(REPO, 3, author="alice", head_sha="d" * 40, files=("src/age.py",), head_ref="x")
    bot = Handlers(forges=lambda repo, installation=None: forge, bot_login="mlgate[bot]")
    bot.evaluate(REPO, 3)
    run = check(forge, "d" * 40)
    assert run.conclusion == "failure"
    assert "features.yaml does not exist on the base branch main" in (run.summary or "") + report(forge, 3)
