"""The review gate: do the path rules that a PR's changed files trigger have their approvals?

Pure: `evaluate_review(facts, rules, …)` over a `PullFacts` snapshot and plain inputs the handler
fetched beforehand (write-permitted logins, team members, paths changed since an older SHA, the
feature registry's owners). Semantics, chosen to match GitHub and the promise "approvals are for
code someone read":

- Only each reviewer's latest APPROVED / CHANGES_REQUESTED / DISMISSED review counts; COMMENTED
  (and PENDING) reviews change nothing. Reviews are ordered by `submitted_at`, then id.
- A dismissed review leaves its author neutral: a dismissed change request no longer blocks, and
  an earlier approval does not come back (conservative: dismissing means "ask again").
- An approval counts for a rule when it is on the current head SHA, is not the PR author's (unless
  the rule says `allow_author`), and comes from an allowed reviewer: a listed user, a member of a
  listed team, or — when the rule lists neither — anyone with write permission (`writers`). With
  `approvals_on="unchanged_paths"` an approval on an older SHA also counts when none of the paths
  changed since that SHA match the rule (unknown history → stale).
- A change request from an allowed reviewer blocks the rule whatever SHA it was given on, until the
  same reviewer approves later or the review is dismissed.
- A rule with `from_features` takes its reviewers from the feature registry: every feature whose
  code or docs the PR touches needs an approval from that feature's owner (one result per feature).

Logins and team names are compared case-insensitively (GitHub's rule) and reported as written.
Every string in the results is user-controlled text: the renderer must escape it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from mlgate.bot.github.facts import ChangedFile, PullFacts, Review
from mlgate.checks.config.models import ReviewRule
from mlgate.checks.gates.feature_registry import Registry, glob_regex, has_wildcard, normalize
from mlgate.checks.wording import verb

APPROVED = "APPROVED"
CHANGES_REQUESTED = "CHANGES_REQUESTED"
DISMISSED = "DISMISSED"
_DECISIVE = (APPROVED, CHANGES_REQUESTED, DISMISSED)

HEAD = "head"
UNCHANGED_PATHS = "unchanged_paths"


# ---------------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class RuleSpec:
    """One review rule with every option the gate understands.

    Built from `mlgate.checks.config.models.ReviewRule` by `from_config`, or directly (tests).
    """

    name: str
    paths: tuple[str, ...] = ()  # globs (`**` spans directories), files or directories
    approvals: int = 1
    users: tuple[str, ...] = ()  # "alice" or "@alice"
    teams: tuple[str, ...] = ()  # "org/team", "@org/team", or "team" (in the repository's org)
    allow_author: bool = False
    approvals_on: str = HEAD  # HEAD, or UNCHANGED_PATHS: older approvals count if the rule's paths did not change
    from_features: bool = False  # reviewers are the owners of the touched features (registry)
    request_reviews: bool = False  # ask the rule's reviewers for a review when it starts to apply

    def __post_init__(self) -> None:
        if self.approvals < 1:
            raise ValueError(f"review rule {self.name!r}: approvals must be at least 1")
        if self.approvals_on not in (HEAD, UNCHANGED_PATHS):
            raise ValueError(f"review rule {self.name!r}: approvals_on must be {HEAD!r} or {UNCHANGED_PATHS!r}")

    @classmethod
    def from_config(cls, rule: ReviewRule) -> RuleSpec:
        """From a rule of the repository's config (`mlgate.checks.config.models.ReviewRule`)."""
        return cls(
            name=rule.name,
            paths=tuple(rule.paths),
            approvals=rule.approvals,
            users=tuple(rule.users),
            teams=tuple(rule.teams),
            allow_author=rule.allow_author,
            approvals_on=rule.approvals_on,
            from_features=rule.from_features,
            request_reviews=rule.request_reviews,
        )


@dataclass(frozen=True)
class FeatureOwnership:
    """A registry feature as the review gate needs it: who owns it and which paths are it.

    `owner` is "@user", "@org/team", or "@team" (a team of the repository's org when
    `PullFacts.team_members` knows it, else a user); None when the registry names nobody.
    """

    name: str
    owner: str | None
    code: tuple[str, ...] = ()  # path patterns (file-level: `path::symbol` is reduced to `path`)
    docs: tuple[str, ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return self.code + self.docs


def ownership_from_registry(registry: Registry, docs_paths: Iterable[str] = ()) -> dict[str, FeatureOwnership]:
    """Plain ownership data from a parsed `mlgate.checks.gates.feature_registry.Registry`.

    A feature without `docs:` is documented by `<docs_path>/<name>.*` (the features gate's rule).
    """
    docs_dirs = [d.rstrip("/") for d in docs_paths]
    out: dict[str, FeatureOwnership] = {}
    for f in registry.features:
        if f.docs and not f.docs.startswith(("http://", "https://")):
            docs: tuple[str, ...] = (f.docs,)
        elif f.docs:
            docs = ()
        else:
            docs = tuple(f"{d}/{f.name}.*" for d in docs_dirs)
        out[f.name] = FeatureOwnership(f.name, f.owner, tuple(loc.path for loc in f.code), docs)
    return out


# ---------------------------------------------------------------------------------------------
# Outputs


class RuleStatus(str, Enum):
    SATISFIED = "satisfied"
    MISSING_APPROVALS = "missing_approvals"
    CHANGES_REQUESTED = "changes_requested"  # blocked by a change request from an allowed reviewer
    NOT_APPLICABLE = "not_applicable"  # no changed file matches the rule


class IgnoreReason(str, Enum):
    AUTHOR = "author"  # the PR's author approved their own change
    STALE = "stale"  # given on an older SHA (and, with unchanged_paths, the rule's paths changed since)
    NOT_ALLOWED = "not_allowed"  # not a listed user, not in a listed team, or no write permission


@dataclass(frozen=True)
class IgnoredReview:
    """A review that did not count for a rule, and why (`detail` is a sentence for the report)."""

    user: str
    state: str  # APPROVED or CHANGES_REQUESTED
    reason: IgnoreReason
    commit_id: str
    detail: str


@dataclass(frozen=True)
class RuleResult:
    """The verdict of one rule (or, for a `from_features` rule, of one touched feature).

    `approved_by` are the approvals that count; `missing` = required − len(approved_by) (≥ 0);
    `changes_requested_by` block the rule. `reviewers_users`/`reviewers_teams` say who may approve
    (both empty: anyone with write permission). `request_users`/`request_teams` are who to ask for a
    review (only for rules with `request_reviews` that still miss approvals; team slugs of the
    repository's org). `notes` explain anything unusual (unknown team, carried-over approvals …).
    """

    name: str
    rule: str  # the config rule's name (equals `name` except for feature results)
    status: RuleStatus
    files: tuple[str, ...] = ()  # changed paths that triggered the rule (old path of a rename included)
    required: int = 0
    approved_by: tuple[str, ...] = ()
    missing: int = 0
    changes_requested_by: tuple[str, ...] = ()
    ignored: tuple[IgnoredReview, ...] = ()
    reviewers_users: tuple[str, ...] = ()
    reviewers_teams: tuple[str, ...] = ()
    request_users: tuple[str, ...] = ()
    request_teams: tuple[str, ...] = ()
    feature: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def applies(self) -> bool:
        return self.status != RuleStatus.NOT_APPLICABLE

    @property
    def passed(self) -> bool:
        return self.status in (RuleStatus.SATISFIED, RuleStatus.NOT_APPLICABLE)

    @property
    def reviewers_text(self) -> str:
        """Who may approve, e.g. "@alice, @org/ml" or "anyone with write permission"."""
        names = [f"@{u}" for u in self.reviewers_users] + [f"@{t}" for t in self.reviewers_teams]
        return ", ".join(names) or "anyone with write permission"

    @property
    def summary(self) -> str:
        """One line: e.g. "1 of 2 approvals; 1 more needed from @org/ml"."""
        if self.status == RuleStatus.NOT_APPLICABLE:
            return "no changed file matches this rule"
        have = f"{len(self.approved_by)} of {self.required} approval{'s' if self.required != 1 else ''}"
        if self.status == RuleStatus.CHANGES_REQUESTED:
            who = ", ".join(f"@{u}" for u in self.changes_requested_by)
            return f"{have}; changes requested by {who}"
        if self.status == RuleStatus.MISSING_APPROVALS:
            return f"{have}; {self.missing} more needed from {self.reviewers_text}"
        return f"{have} ({', '.join('@' + u for u in self.approved_by)})"


_SEVERITY = {
    RuleStatus.NOT_APPLICABLE: 0,
    RuleStatus.SATISFIED: 1,
    RuleStatus.MISSING_APPROVALS: 2,
    RuleStatus.CHANGES_REQUESTED: 3,
}


@dataclass(frozen=True)
class ReviewResult:
    """All rule results, in config order (feature results in registry order after their rule).

    `status` is the worst applicable status: CHANGES_REQUESTED, else MISSING_APPROVALS, else
    SATISFIED (also when no rule applies).
    """

    rules: tuple[RuleResult, ...] = ()

    @property
    def status(self) -> RuleStatus:
        worst = max((r.status for r in self.rules), key=_SEVERITY.__getitem__, default=RuleStatus.SATISFIED)
        return RuleStatus.SATISFIED if worst == RuleStatus.NOT_APPLICABLE else worst

    @property
    def passed(self) -> bool:
        return self.status == RuleStatus.SATISFIED

    @property
    def applicable(self) -> tuple[RuleResult, ...]:
        return tuple(r for r in self.rules if r.applies)

    @property
    def summary(self) -> str:
        """One line for the gate table, e.g. "1 of 2 rules needs approvals: training code"."""
        applicable = self.applicable
        if not applicable:
            return "no review rule applies to the changed files"
        blocked = [r.name for r in applicable if r.status == RuleStatus.CHANGES_REQUESTED]
        missing = [r.name for r in applicable if r.status == RuleStatus.MISSING_APPROVALS]
        n = len(applicable)
        if n == 1:  # the rule's name is often a sentence of its own: name it after a colon
            only = applicable[0].name
            return (f"changes requested: {only}" if blocked else f"approvals missing: {only}" if missing
                    else f"approved: {only}")
        if blocked:
            return f"changes requested on {len(blocked)} of {n} rules: {', '.join(blocked)}"
        if missing:
            return f"{len(missing)} of {n} rules {verb(len(missing), 'needs', 'need')} approvals: {', '.join(missing)}"
        return "both applicable rules are approved" if n == 2 else f"all {n} applicable rules are approved"

    def review_requests(self, already_applying: Collection[str] = ()) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(users, team slugs) to request for rules that start to apply now.

        `already_applying` are the `name`s of rule results that applied at the previous evaluation
        (stored by the handler), so reviewers are asked once, not on every push.
        """
        before = set(already_applying)
        users: dict[str, None] = {}
        teams: dict[str, None] = {}
        for r in self.rules:
            if r.applies and r.name not in before:
                users.update(dict.fromkeys(r.request_users))
                teams.update(dict.fromkeys(r.request_teams))
        return tuple(users), tuple(teams)


# ---------------------------------------------------------------------------------------------
# Evaluation


def evaluate_review(
    facts: PullFacts,
    rules: Sequence[RuleSpec | ReviewRule],
    *,
    writers: Collection[str] = (),
    changed_since: Mapping[str, Collection[str]] | None = None,
    features: Mapping[str, FeatureOwnership] | None = None,
) -> ReviewResult:
    """Evaluate every rule against the PR.

    - `rules`: RuleSpec or `mlgate.checks.config.models.ReviewRule` objects (converted with `RuleSpec.from_config`).
    - `writers`: logins with at least write permission; needed for rules that list no reviewers.
      `reviewers_to_check(facts)` says whose permission to look up.
    - `changed_since`: for `unchanged_paths` rules, older SHA → paths changed between it and the
      head (`old...head`); a SHA missing here makes its approvals stale.
    - `features`: the registry's ownership, for `from_features` rules.
    - Teams are resolved through `facts.team_members` ("org/team" → logins); `teams_to_resolve`
      lists the keys needed. A team missing there counts no approvals and is named in `notes`.
    """
    ctx = _Context(facts, {w.lower() for w in writers}, changed_since or {}, features or {})
    out: list[RuleResult] = []
    for rule in rules:
        spec = rule if isinstance(rule, RuleSpec) else RuleSpec.from_config(rule)
        if spec.from_features:
            out.extend(ctx.feature_results(spec))
        else:
            out.append(ctx.rule_result(spec, spec.name, spec.paths, spec.users, spec.teams, feature=None))
    return ReviewResult(tuple(out))


def latest_reviews(reviews: Iterable[Review]) -> dict[str, Review]:
    """Each reviewer's (lower-cased login) latest decisive review: APPROVED, CHANGES_REQUESTED or DISMISSED."""
    latest: dict[str, Review] = {}
    for review in sorted(reviews, key=_review_order):
        if review.state.upper() in _DECISIVE:
            latest[_user(review.user).lower()] = review
    return latest


def reviewers_to_check(facts: PullFacts) -> tuple[str, ...]:
    """Logins whose repository permission the handler must look up to fill `writers`."""
    return tuple(
        r.user for r in latest_reviews(facts.reviews).values() if r.state.upper() in (APPROVED, CHANGES_REQUESTED)
    )


def teams_to_resolve(
    facts: PullFacts, rules: Sequence[RuleSpec | ReviewRule], features: Mapping[str, FeatureOwnership] | None = None
) -> tuple[str, ...]:
    """The "org/team" keys `facts.team_members` should hold for these rules (lower-cased).

    Includes "<repo org>/<name>" for a bare feature owner "@name", which is a team only if it
    exists: the handler must leave teams that do not exist out of `team_members`.
    """
    org = facts.repo.split("/", 1)[0]
    keys: dict[str, None] = {}
    for rule in rules:
        spec = rule if isinstance(rule, RuleSpec) else RuleSpec.from_config(rule)
        for team in spec.teams:
            keys[_team_key(team, org)] = None
        if spec.from_features:
            for feature in (features or {}).values():
                if feature.owner:
                    name = feature.owner.strip().lstrip("@")
                    keys[_team_key(name, org)] = None
    return tuple(keys)


def _review_order(review: Review) -> tuple[float, int]:
    try:
        ts = datetime.fromisoformat(review.submitted_at.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        ts = float("-inf")
    return ts, review.id


def _team_key(team: str, org: str) -> str:
    name = team.strip().lstrip("@")
    return (name if "/" in name else f"{org}/{name}").lower()


def _user(login: str) -> str:
    return login.strip().lstrip("@")


def _matcher(patterns: Sequence[str]) -> Callable[[str], bool]:
    """A fast equivalent of `any(path_matches(p, path) for p in patterns)` (the registry's glob rules)."""
    combined = re.compile("|".join(f"(?:{glob_regex(p).pattern})" for p in patterns) or "(?!)")
    dirs = tuple(normalize(p).rstrip("/") + "/" for p in patterns if not has_wildcard(p))

    def match(path: str) -> bool:
        path = normalize(path)
        return path.startswith(dirs) or combined.fullmatch(path) is not None

    return match


def _matching_files(files: Iterable[ChangedFile], patterns: Sequence[str]) -> tuple[str, ...]:
    match = _matcher(patterns)
    hits: dict[str, None] = {}
    for f in files:
        for path in (f.filename, f.previous_filename):
            if path and path not in hits and match(path):
                hits[path] = None
    return tuple(hits)


class _Context:
    """The PR facts and lookups shared by every rule of one evaluation."""

    def __init__(
        self,
        facts: PullFacts,
        writers: set[str],
        changed_since: Mapping[str, Collection[str]],
        features: Mapping[str, FeatureOwnership],
    ) -> None:
        self.facts = facts
        self.org = facts.repo.split("/", 1)[0]
        self.author = facts.author.lower()
        self.writers = writers
        self.changed_since = changed_since
        self.features = features
        self.teams = {k.lower(): {m.lower() for m in v} for k, v in facts.team_members.items()}
        self.latest = latest_reviews(facts.reviews)

    def feature_results(self, spec: RuleSpec) -> list[RuleResult]:
        """One result per touched feature; a single not-applicable result when none is touched."""
        results = []
        for feature in self.features.values():
            if not _matching_files(self.facts.files, feature.paths):
                continue
            name = f"{spec.name}: {feature.name}"
            users, teams, notes = self._owner(feature, spec)
            results.append(self.rule_result(spec, name, feature.paths, users, teams, feature=feature.name, notes=notes))
        if not results:
            note = () if self.features else ("no feature registry was given",)
            results.append(
                RuleResult(spec.name, spec.name, RuleStatus.NOT_APPLICABLE, required=spec.approvals, notes=note)
            )
        return results

    def _owner(self, feature: FeatureOwnership, spec: RuleSpec) -> tuple[tuple[str, ...], tuple[str, ...], list[str]]:
        if not feature.owner or not feature.owner.strip().lstrip("@"):
            who = "the rule's reviewers" if spec.users or spec.teams else "anyone with write permission"
            return spec.users, spec.teams, [f"feature {feature.name} has no owner in the registry; {who} may approve"]
        owner = feature.owner.strip().lstrip("@")
        if "/" in owner or _team_key(owner, self.org) in self.teams:
            return (), (owner,), []
        return (owner,), (), []

    def rule_result(
        self,
        spec: RuleSpec,
        name: str,
        patterns: Sequence[str],
        users: Sequence[str],
        teams: Sequence[str],
        *,
        feature: str | None,
        notes: Iterable[str] = (),
    ) -> RuleResult:
        notes = list(notes)
        user_names = tuple(_user(u) for u in users)
        team_names = tuple(t.strip().lstrip("@") for t in teams)
        files = _matching_files(self.facts.files, patterns)
        if not files:
            return RuleResult(
                name=name,
                rule=spec.name,
                status=RuleStatus.NOT_APPLICABLE,
                required=spec.approvals,
                reviewers_users=user_names,
                reviewers_teams=team_names,
                feature=feature,
            )
        allowed, anyone, team_notes = self._allowed(user_names, team_names)
        notes.extend(team_notes)
        approved: list[str] = []
        blocking: list[str] = []
        ignored: list[IgnoredReview] = []
        for login, review in self.latest.items():
            state = review.state.upper()
            if state == DISMISSED:
                continue
            is_author = login == self.author
            may = (login in self.writers) if anyone else (login in allowed)
            if state == CHANGES_REQUESTED:
                if may and not is_author:
                    blocking.append(review.user)
                elif not is_author:
                    ignored.append(self._ignored(review, IgnoreReason.NOT_ALLOWED, anyone))
                continue
            if is_author and not spec.allow_author:
                ignored.append(self._ignored(review, IgnoreReason.AUTHOR, anyone))
            elif not may:
                ignored.append(self._ignored(review, IgnoreReason.NOT_ALLOWED, anyone))
            elif review.commit_id != self.facts.head_sha:
                carried = self._carried_over(spec, review, patterns)
                if carried is None:
                    stale = self._ignored(review, IgnoreReason.STALE, anyone)
                    if spec.approvals_on == UNCHANGED_PATHS and review.commit_id in self.changed_since:
                        stale = replace(stale, detail=stale.detail + " (this rule's files changed since)")
                    ignored.append(stale)
                else:
                    approved.append(review.user)
                    notes.append(carried)
            else:
                approved.append(review.user)
        missing = max(0, spec.approvals - len(approved))
        if blocking:
            status = RuleStatus.CHANGES_REQUESTED
        elif missing:
            status = RuleStatus.MISSING_APPROVALS
        else:
            status = RuleStatus.SATISFIED
        if not anyone and not team_notes:
            eligible = allowed - ({self.author} if not spec.allow_author else set())
            if len(eligible) < spec.approvals:
                notes.append(
                    f"needs {spec.approvals} approvals but only {len(eligible)} allowed reviewer"
                    f"{'s' if len(eligible) != 1 else ''} can give one"
                )
        request_users: tuple[str, ...] = ()
        request_teams: tuple[str, ...] = ()
        if spec.request_reviews and status == RuleStatus.MISSING_APPROVALS:
            done = {a.lower() for a in approved} | {self.author}
            request_users = tuple(u for u in user_names if u.lower() not in done)
            request_teams, cross = self._requestable_teams(team_names)
            if cross:
                notes.append(f"cannot request reviews from teams outside {self.org}: {', '.join(cross)}")
        return RuleResult(
            name=name,
            rule=spec.name,
            status=status,
            files=files,
            required=spec.approvals,
            approved_by=tuple(approved),
            missing=missing,
            changes_requested_by=tuple(blocking),
            ignored=tuple(ignored),
            reviewers_users=user_names,
            reviewers_teams=team_names,
            request_users=request_users,
            request_teams=request_teams,
            feature=feature,
            notes=tuple(notes),
        )

    def _allowed(self, users: Sequence[str], teams: Sequence[str]) -> tuple[set[str], bool, list[str]]:
        """(allowed logins, anyone-with-write?, notes about unresolved teams)."""
        if not users and not teams:
            return set(), True, []
        allowed = {u.lower() for u in users}
        notes = []
        for team in teams:
            members = self.teams.get(_team_key(team, self.org))
            if members is None:
                notes.append(f"team @{team}: members unknown, so its approvals cannot be counted")
            else:
                allowed |= members
        return allowed, False, notes

    def _requestable_teams(self, teams: Sequence[str]) -> tuple[tuple[str, ...], list[str]]:
        slugs, cross = [], []
        for team in teams:
            org = _team_key(team, self.org).partition("/")[0]
            if org == self.org.lower():
                slugs.append(team.split("/", 1)[-1])
            else:
                cross.append(team)
        return tuple(slugs), cross

    def _carried_over(self, spec: RuleSpec, review: Review, patterns: Sequence[str]) -> str | None:
        """A note when an older approval still counts (unchanged_paths), else None (stale)."""
        if spec.approvals_on != UNCHANGED_PATHS:
            return None
        changed = self.changed_since.get(review.commit_id)
        if changed is None:
            return None
        match = _matcher(patterns)
        if any(match(path) for path in changed):
            return None
        return f"@{review.user}'s approval on {review.commit_id[:7]} still counts: no file of this rule changed since"

    def _ignored(self, review: Review, reason: IgnoreReason, anyone: bool) -> IgnoredReview:
        sha = review.commit_id[:7]
        detail = {
            IgnoreReason.AUTHOR: "the author cannot approve their own change",
            IgnoreReason.STALE: f"given on {sha}, before the latest push",
            IgnoreReason.NOT_ALLOWED: "no write permission" if anyone else "not one of this rule's reviewers",
        }[reason]
        return IgnoredReview(review.user, review.state.upper(), reason, review.commit_id, detail)
