"""The review gate, table-driven over PullFacts literals: who counts, when, and for which rule."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlgate.bot.github.facts import ChangedFile, PullFacts, Review
from mlgate.bot.pr.review import (
    UNCHANGED_PATHS,
    FeatureOwnership,
    IgnoreReason,
    ReviewResult,
    RuleSpec,
    RuleStatus,
    evaluate_review,
    latest_reviews,
    ownership_from_registry,
    reviewers_to_check,
    teams_to_resolve,
)
from mlgate.checks.config.models import parse_config
from mlgate.checks.gates.feature_registry import parse_registry

HEAD = "h" * 40
OLD = "o" * 40
OLDER = "p" * 40
_ids = iter(range(1, 10_000))


def rv(user: str, state: str = "APPROVED", sha: str = HEAD, t: int = 0) -> Review:
    return Review(next(_ids), user, state, sha, f"2026-11-27T10:{t:02d}:00Z")


def pr(files=("train.py",), reviews=(), author="carol", teams=None, renamed=None) -> PullFacts:
    changed = [ChangedFile(f, "modified") for f in files]
    if renamed:
        changed.append(ChangedFile(renamed[1], "renamed", previous_filename=renamed[0]))
    return PullFacts(
        repo="acme/models",
        number=7,
        title="t",
        author=author,
        state="open",
        merged=False,
        draft=False,
        head_sha=HEAD,
        head_ref="feature",
        head_repo="acme/models",
        base_ref="main",
        base_sha="b" * 40,
        files=tuple(changed),
        reviews=tuple(reviews),
        team_members=teams if teams is not None else {"acme/ml": ("alice", "Bob")},
    )


TRAINING = RuleSpec("training", paths=("train.py", "src/**/model_*.py"), teams=("ml",))


def one(facts: PullFacts, rule: RuleSpec = TRAINING, **kw):
    (result,) = evaluate_review(facts, [rule], **kw).rules
    return result


# --- the table -----------------------------------------------------------------------------------

CASES = [
    # id, facts, rule, expected status, approved_by, ignored reasons
    ("team member approves on head", pr(reviews=[rv("alice")]), TRAINING, RuleStatus.SATISFIED, ("alice",), ()),
    ("team lookup is case-insensitive", pr(reviews=[rv("bob")]), TRAINING, RuleStatus.SATISFIED, ("bob",), ()),
    ("no reviews", pr(), TRAINING, RuleStatus.MISSING_APPROVALS, (), ()),
    (
        "author approval ignored",
        pr(reviews=[rv("alice")], author="alice"),
        TRAINING,
        RuleStatus.MISSING_APPROVALS,
        (),
        (IgnoreReason.AUTHOR,),
    ),
    (
        "author approval counts with allow_author",
        pr(reviews=[rv("alice")], author="alice"),
        replace(TRAINING, allow_author=True),
        RuleStatus.SATISFIED,
        ("alice",),
        (),
    ),
    (
        "stale approval ignored",
        pr(reviews=[rv("alice", sha=OLD)]),
        TRAINING,
        RuleStatus.MISSING_APPROVALS,
        (),
        (IgnoreReason.STALE,),
    ),
    (
        "outsider approval ignored",
        pr(reviews=[rv("mallory")]),
        TRAINING,
        RuleStatus.MISSING_APPROVALS,
        (),
        (IgnoreReason.NOT_ALLOWED,),
    ),
    (
        "listed user counts",
        pr(reviews=[rv("Dave")]),
        RuleSpec("r", paths=("train.py",), users=("@dave",)),
        RuleStatus.SATISFIED,
        ("Dave",),
        (),
    ),
    (
        "two approvals needed, one given",
        pr(reviews=[rv("alice")]),
        replace(TRAINING, approvals=2),
        RuleStatus.MISSING_APPROVALS,
        ("alice",),
        (),
    ),
    (
        "two approvals given",
        pr(reviews=[rv("alice"), rv("bob")]),
        replace(TRAINING, approvals=2),
        RuleStatus.SATISFIED,
        ("alice", "bob"),
        (),
    ),
    (
        "comment after approval keeps it",
        pr(reviews=[rv("alice", t=1), rv("alice", "COMMENTED", t=2)]),
        TRAINING,
        RuleStatus.SATISFIED,
        ("alice",),
        (),
    ),
    (
        "re-approval on head after a stale one",
        pr(reviews=[rv("alice", sha=OLD, t=1), rv("alice", t=2)]),
        TRAINING,
        RuleStatus.SATISFIED,
        ("alice",),
        (),
    ),
    (
        "request changes blocks",
        pr(reviews=[rv("alice", t=1), rv("bob", "CHANGES_REQUESTED", t=2)]),
        TRAINING,
        RuleStatus.CHANGES_REQUESTED,
        ("alice",),
        (),
    ),
    (
        "stale request changes still blocks",
        pr(reviews=[rv("alice", t=1), rv("bob", "CHANGES_REQUESTED", sha=OLD, t=0)]),
        TRAINING,
        RuleStatus.CHANGES_REQUESTED,
        ("alice",),
        (),
    ),
    (
        "request changes lifted by a later approval",
        pr(reviews=[rv("bob", "CHANGES_REQUESTED", t=1), rv("bob", t=2)]),
        TRAINING,
        RuleStatus.SATISFIED,
        ("bob",),
        (),
    ),
    (
        "request changes lifted by dismissal",
        pr(reviews=[rv("alice", t=1), rv("bob", "DISMISSED", t=2)]),
        TRAINING,
        RuleStatus.SATISFIED,
        ("alice",),
        (),
    ),
    (
        "comment after request changes keeps the block",
        pr(reviews=[rv("alice", t=1), rv("bob", "CHANGES_REQUESTED", t=2), rv("bob", "COMMENTED", t=3)]),
        TRAINING,
        RuleStatus.CHANGES_REQUESTED,
        ("alice",),
        (),
    ),
    (
        "dismissed approval does not count",
        pr(reviews=[rv("alice", "DISMISSED")]),
        TRAINING,
        RuleStatus.MISSING_APPROVALS,
        (),
        (),
    ),
    (
        "approval then change request: latest wins",
        pr(reviews=[rv("alice", t=1), rv("alice", "CHANGES_REQUESTED", t=2)]),
        TRAINING,
        RuleStatus.CHANGES_REQUESTED,
        (),
        (),
    ),
    (
        "outsider's change request does not block",
        pr(reviews=[rv("alice", t=1), rv("mallory", "CHANGES_REQUESTED", t=2)]),
        TRAINING,
        RuleStatus.SATISFIED,
        ("alice",),
        (IgnoreReason.NOT_ALLOWED,),
    ),
    (
        "renamed-from path triggers the rule",
        pr(files=("README.md",), renamed=("train.py", "old/train_v1.py")),
        TRAINING,
        RuleStatus.MISSING_APPROVALS,
        (),
        (),
    ),
    ("no matching file: not applicable", pr(files=("README.md",)), TRAINING, RuleStatus.NOT_APPLICABLE, (), ()),
    ("** glob matches deep paths", pr(files=("src/a/b/model_x.py",)), TRAINING, RuleStatus.MISSING_APPROVALS, (), ()),
    ("** glob matches zero dirs", pr(files=("src/model_x.py",)), TRAINING, RuleStatus.MISSING_APPROVALS, (), ()),
    ("* stays in one directory", pr(files=("src/a/model_x.txt",)), TRAINING, RuleStatus.NOT_APPLICABLE, (), ()),
    (
        "unknown team counts nobody",
        pr(reviews=[rv("alice")], teams={}),
        TRAINING,
        RuleStatus.MISSING_APPROVALS,
        (),
        (IgnoreReason.NOT_ALLOWED,),
    ),
]


@pytest.mark.parametrize(
    ("facts", "rule", "status", "approved", "reasons"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rule_table(facts, rule, status, approved, reasons) -> None:
    result = one(facts, rule)
    assert result.status == status
    assert result.approved_by == approved
    assert tuple(i.reason for i in result.ignored) == reasons
    assert result.missing == (0 if status == RuleStatus.NOT_APPLICABLE else max(0, rule.approvals - len(approved)))


# --- details -------------------------------------------------------------------------------------


def test_triggering_files_include_renamed_from_paths() -> None:
    result = one(pr(files=("src/x/model_a.py", "README.md"), renamed=("train.py", "legacy/train.py")))
    assert result.files == ("src/x/model_a.py", "train.py")


def test_changes_requested_reported_by_login() -> None:
    result = one(pr(reviews=[rv("Bob", "CHANGES_REQUESTED")]))
    assert result.changes_requested_by == ("Bob",)
    assert "changes requested by @Bob" in result.summary


def test_ignored_reviews_explain_themselves() -> None:
    facts = pr(reviews=[rv("carol"), rv("alice", sha=OLD), rv("mallory")])
    by_user = {i.user: i for i in one(facts).ignored}
    assert by_user["carol"].detail == "the author cannot approve their own change"
    assert by_user["alice"].detail == f"given on {OLD[:7]}, before the latest push"
    assert by_user["mallory"].detail == "not one of this rule's reviewers"


@pytest.mark.parametrize(
    ("writers", "status", "detail"),
    [({"alice"}, RuleStatus.SATISFIED, None), (set(), RuleStatus.MISSING_APPROVALS, "no write permission")],
)
def test_rule_without_reviewers_means_anyone_with_write(writers, status, detail) -> None:
    rule = RuleSpec("any", paths=("**",))
    result = one(pr(reviews=[rv("alice")]), rule, writers=writers)
    assert result.status == status
    assert result.reviewers_text == "anyone with write permission"
    if detail:
        assert result.ignored[0].detail == detail


def test_writer_change_request_blocks_anyone_rule() -> None:
    rule = RuleSpec("any", paths=("**",))
    result = one(pr(reviews=[rv("alice"), rv("dan", "CHANGES_REQUESTED")]), rule, writers={"alice", "DAN"})
    assert result.status == RuleStatus.CHANGES_REQUESTED and result.changes_requested_by == ("dan",)


@pytest.mark.parametrize(
    ("changed", "status", "note"),
    [
        ({OLD: ("README.md",)}, RuleStatus.SATISFIED, "still counts"),  # rule's paths untouched since
        ({OLD: ("train.py",)}, RuleStatus.MISSING_APPROVALS, None),  # rule's paths changed: stale
        ({}, RuleStatus.MISSING_APPROVALS, None),  # history unknown (force-push): stale
    ],
)
def test_unchanged_paths_option(changed, status, note) -> None:
    rule = replace(TRAINING, approvals_on=UNCHANGED_PATHS)
    result = one(pr(files=("train.py", "README.md"), reviews=[rv("alice", sha=OLD)]), rule, changed_since=changed)
    assert result.status == status
    if note:
        assert any(note in n for n in result.notes)
    else:
        assert result.ignored[0].reason == IgnoreReason.STALE
        assert result.ignored[0].detail.endswith("(this rule's files changed since)") is bool(changed)


def test_unchanged_paths_is_off_by_default() -> None:
    result = one(pr(reviews=[rv("alice", sha=OLD)]), changed_since={OLD: ("README.md",)})
    assert result.status == RuleStatus.MISSING_APPROVALS
    assert "files changed since" not in result.ignored[0].detail


def test_team_in_other_org_and_bare_team() -> None:
    rule = RuleSpec("r", paths=("train.py",), teams=("@Partner/Reviewers",))
    facts = pr(reviews=[rv("zed")], teams={"partner/reviewers": ("zed",)})
    assert one(facts, rule).approved_by == ("zed",)
    assert one(pr(reviews=[rv("zed")]), rule).notes == (
        "team @Partner/Reviewers: members unknown, so its approvals cannot be counted",
    )


def test_unsatisfiable_rule_is_noted() -> None:
    rule = RuleSpec("r", paths=("train.py",), users=("alice", "carol"), approvals=2)
    result = one(pr(), rule)  # carol is the author: only alice can approve
    assert "needs 2 approvals but only 1 allowed reviewer can give one" in result.notes


def test_review_requests_only_when_a_rule_starts_to_apply() -> None:
    rule = RuleSpec(
        "r",
        paths=("train.py",),
        users=("alice", "dave", "carol"),
        teams=("ml", "other/x"),
        request_reviews=True,
        approvals=2,
    )
    result = evaluate_review(pr(reviews=[rv("alice")]), [rule, replace(TRAINING, name="quiet")])
    assert result.review_requests() == (("dave",), ("ml",))  # not the approver, not the author; own org only
    assert result.review_requests(already_applying={"r"}) == ((), ())
    assert any("outside acme" in n for n in result.rules[0].notes)


def test_no_review_requests_once_satisfied() -> None:
    rule = replace(TRAINING, request_reviews=True)
    assert evaluate_review(pr(reviews=[rv("alice")]), [rule]).review_requests() == ((), ())


# --- features ------------------------------------------------------------------------------------

FEATURES = {
    "age": FeatureOwnership("age", "@dora", code=("features/age.py",), docs=("docs/features/age.md",)),
    "zip": FeatureOwnership("zip", "@acme/geo", code=("features/geo/**",), docs=()),
    "orphan": FeatureOwnership("orphan", None, code=("features/orphan.py",)),
    "bare_team": FeatureOwnership("bare_team", "@ml", code=("features/bt.py",)),
}
OWNERS = RuleSpec("feature owners", from_features=True, request_reviews=True)


@pytest.mark.parametrize(
    ("files", "reviews", "expected"),
    [
        (("docs/features/age.md",), [], {"feature owners: age": RuleStatus.MISSING_APPROVALS}),
        (("docs/features/age.md",), [rv("dora")], {"feature owners: age": RuleStatus.SATISFIED}),
        (("features/age.py",), [rv("alice")], {"feature owners: age": RuleStatus.MISSING_APPROVALS}),
        (("features/geo/zip.py",), [rv("gina")], {"feature owners: zip": RuleStatus.SATISFIED}),
        (
            ("features/age.py", "features/geo/a/b.py"),
            [rv("dora")],
            {"feature owners: age": RuleStatus.SATISFIED, "feature owners: zip": RuleStatus.MISSING_APPROVALS},
        ),
        (("features/bt.py",), [rv("bob")], {"feature owners: bare_team": RuleStatus.SATISFIED}),
        (("README.md",), [], {"feature owners": RuleStatus.NOT_APPLICABLE}),
    ],
)
def test_feature_owner_rule(files, reviews, expected) -> None:
    facts = pr(files=files, reviews=reviews, teams={"acme/geo": ("gina",), "acme/ml": ("alice", "bob")})
    result = evaluate_review(facts, [OWNERS], features=FEATURES)
    assert {r.name: r.status for r in result.rules} == expected


def test_feature_owner_requests_and_author_exclusion() -> None:
    facts = pr(
        files=("features/age.py", "features/geo/z.py"),
        author="dora",
        reviews=[rv("dora")],
        teams={"acme/geo": ("gina",)},
    )
    result = evaluate_review(facts, [OWNERS], features=FEATURES)
    age = result.rules[0]
    assert age.status == RuleStatus.MISSING_APPROVALS and age.ignored[0].reason == IgnoreReason.AUTHOR
    assert result.review_requests() == ((), ("geo",))  # the author owns "age": nobody else to ask
    assert age.feature == "age" and age.rule == "feature owners"


def test_feature_without_owner_falls_back_to_rule_reviewers() -> None:
    facts = pr(files=("features/orphan.py",), reviews=[rv("alice")])
    (res,) = evaluate_review(facts, [replace(OWNERS, users=("alice",))], features=FEATURES).rules
    assert res.status == RuleStatus.SATISFIED and "has no owner" in res.notes[0]
    (res,) = evaluate_review(facts, [OWNERS], features=FEATURES, writers={"alice"}).rules
    assert res.status == RuleStatus.SATISFIED and "anyone with write permission may approve" in res.notes[0]


def test_ownership_from_registry() -> None:
    registry = parse_registry(
        "features:\n"
        "  - {name: age, owner: '@dora', code: 'src/f.py::age'}\n"
        "  - {name: zip, owner: '@acme/geo', code: [src/geo/*.py], docs: docs/zip.md}\n"
        "  - {name: ext, owner: '@x', docs: 'https://wiki/ext'}\n",
        "features.yaml",
    )
    owners = ownership_from_registry(registry, ["docs/features/"])
    assert owners["age"] == FeatureOwnership("age", "@dora", ("src/f.py",), ("docs/features/age.*",))
    assert owners["zip"].paths == ("src/geo/*.py", "docs/zip.md")
    assert owners["ext"].docs == ()
    facts = pr(files=("docs/features/age.md",))
    (res,) = evaluate_review(facts, [OWNERS], features=owners).rules
    assert res.name == "feature owners: age" and res.files == ("docs/features/age.md",)


# --- overall, helpers and config -----------------------------------------------------------------


def test_no_rule_matches_passes() -> None:
    result = evaluate_review(pr(files=("README.md",)), [TRAINING])
    assert result.passed and result.status == RuleStatus.SATISFIED and result.applicable == ()
    assert result.summary == "no review rule applies to the changed files"
    assert ReviewResult().passed


def test_overall_status_is_the_worst() -> None:
    docs = RuleSpec("docs", paths=("docs/",), users=("erin",))
    facts = pr(files=("train.py", "docs/a.md"), reviews=[rv("alice")])
    result = evaluate_review(facts, [TRAINING, docs])
    assert result.status == RuleStatus.MISSING_APPROVALS and not result.passed
    assert result.summary == "1 of 2 rules needs approvals: docs"
    blocked = evaluate_review(replace(facts, reviews=(rv("erin", "CHANGES_REQUESTED"),)), [TRAINING, docs])
    assert blocked.status == RuleStatus.CHANGES_REQUESTED
    assert blocked.summary.startswith("changes requested on 1 of 2 rules: docs")


def test_latest_reviews_order_by_time_then_id() -> None:
    a = Review(5, "alice", "APPROVED", HEAD, "2026-11-27T10:00:00+00:00")
    b = Review(3, "Alice", "CHANGES_REQUESTED", HEAD, "2026-11-27T10:00:01Z")  # later in time, lower id
    c = Review(9, "alice", "COMMENTED", HEAD, "2026-11-27T11:00:00Z")
    assert latest_reviews([b, c, a])["alice"] is b
    assert reviewers_to_check(pr(reviews=[a, b, c, rv("zoe", "DISMISSED")])) == ("Alice",)


def test_teams_to_resolve() -> None:
    rules = [TRAINING, RuleSpec("x", paths=("a",), teams=("@Other/Team",)), OWNERS]
    keys = teams_to_resolve(pr(), rules, FEATURES)
    assert keys == ("acme/ml", "other/team", "acme/dora", "acme/geo")


def test_from_config_rules() -> None:
    config = parse_config(
        "review:\n  rules:\n    - name: training\n      paths: ['train.py']\n      teams: [ml]\n      approvals: 1\n"
    )
    result = evaluate_review(pr(reviews=[rv("alice")]), config.review.rules)
    assert result.rules[0].status == RuleStatus.SATISFIED
    assert RuleSpec.from_config(config.review.rules[0]) == RuleSpec("training", ("train.py",), teams=("ml",))


@pytest.mark.parametrize(
    ("kw", "message"), [({"approvals": 0}, "at least 1"), ({"approvals_on": "push"}, "approvals_on")]
)
def test_rule_spec_validation(kw, message) -> None:
    with pytest.raises(ValueError, match=message):
        RuleSpec("r", paths=("a",), **kw)


# --- properties ----------------------------------------------------------------------------------

_users = st.sampled_from(["alice", "bob", "carol", "mallory", "Alice"])
_reviews = st.lists(
    st.builds(
        lambda i, u, s, sha, t: Review(i, u, s, sha, f"2026-11-27T10:{t:02d}:00Z"),
        st.integers(1, 10_000),
        _users,
        st.sampled_from(["APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING"]),
        st.sampled_from([HEAD, OLD]),
        st.integers(0, 59),
    ),
    max_size=12,
)


@given(_reviews, st.integers(1, 3))
def test_counted_approvals_are_allowed_fresh_latest_and_not_the_author(reviews, approvals) -> None:
    rule = replace(TRAINING, approvals=approvals)
    result = one(pr(reviews=reviews), rule)
    latest = latest_reviews(reviews)
    for user in result.approved_by:
        review = latest[user.lower()]
        assert review.state == "APPROVED" and review.commit_id == HEAD
        assert user.lower() in {"alice", "bob"}  # team ml; carol is the author, mallory an outsider
    assert result.missing == max(0, approvals - len(result.approved_by))
    blocked = any(r.state == "CHANGES_REQUESTED" and u in {"alice", "bob"} for u, r in latest.items())
    assert (result.status == RuleStatus.CHANGES_REQUESTED) is blocked
    if not blocked:
        assert (result.status == RuleStatus.SATISFIED) is (len(result.approved_by) >= approvals)
