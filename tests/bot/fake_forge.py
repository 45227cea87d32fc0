"""An in-memory Forge for unit tests: GitHub as dictionaries, with a log of every write.

It behaves like the real adapter where the bot depends on it: `find_comment` only sees the bot's
own comments, `set_check` updates the run this app already has on that SHA, and check runs the bot
created show up in `pull_facts(...).checks` (so idempotence can be tested end to end).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from dataclasses import dataclass, field

from mlgate.bot.github.facts import ChangedFile, CheckRun, Permission, PullFacts, Review


def blob_sha(text: str) -> str:
    """The git blob SHA-1 of `text`, as GitHub's contents API reports it."""
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class StoredComment:
    id: int
    repo: str
    number: int
    user: str
    body: str


@dataclass
class FakeForge:
    bot_login: str = "mlgate[bot]"
    app_slug: str = "mlgate"
    pulls: dict[tuple[str, int], PullFacts] = field(default_factory=dict)
    files: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (repo, ref, path) -> text
    permissions: dict[tuple[str, str], Permission] = field(default_factory=dict)
    teams: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    comments: dict[int, StoredComment] = field(default_factory=dict)
    reactions: list[tuple[str, int, str]] = field(default_factory=list)
    check_runs: dict[tuple[str, str, str], CheckRun] = field(default_factory=dict)  # bot's own runs
    check_details: dict[int, dict[str, object]] = field(default_factory=dict)  # run id -> title etc.
    requested: list[tuple[str, int, tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)
    writes: list[tuple[object, ...]] = field(default_factory=list)
    reads: list[tuple[object, ...]] = field(default_factory=list)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1000))

    # --- test setup ----------------------------------------------------------------------------
    def add_pull(self, repo: str = "acme/ml", number: int = 1, *, author: str = "alice", head_sha: str = "h" * 40,
                 base_ref: str = "main", files: tuple[str, ...] = ("README.md",), **kw: object) -> PullFacts:
        facts = PullFacts(
            repo=repo, number=number, title=str(kw.pop("title", f"PR {number}")), author=author, state="open",
            merged=False, draft=bool(kw.pop("draft", False)), head_sha=head_sha,
            head_ref=str(kw.pop("head_ref", f"topic-{number}")), head_repo=str(kw.pop("head_repo", repo)),
            base_ref=base_ref, base_sha=str(kw.pop("base_sha", "b" * 40)),
            files=tuple(ChangedFile(f, "modified") for f in files), **kw,  # type: ignore[arg-type]
        )
        self.pulls[(repo, number)] = facts
        return facts

    def update_pull(self, repo: str, number: int, **changes: object) -> PullFacts:
        facts = dataclasses.replace(self.pulls[(repo, number)], **changes)  # type: ignore[arg-type]
        self.pulls[(repo, number)] = facts
        return facts

    def add_review(self, repo: str, number: int, user: str, state: str = "APPROVED",
                   commit_id: str | None = None) -> Review:
        facts = self.pulls[(repo, number)]
        review = Review(id=next(self._ids), user=user, state=state, commit_id=commit_id or facts.head_sha,
                        submitted_at=f"2026-11-27T10:{len(facts.reviews):02d}:00Z")
        self.update_pull(repo, number, reviews=(*facts.reviews, review))
        return review

    def add_check(self, repo: str, number: int, run: CheckRun) -> None:
        facts = self.pulls[(repo, number)]
        self.update_pull(repo, number, checks=(*facts.checks, run))

    def put_file(self, repo: str, ref: str, path: str, text: str | None) -> None:
        if text is None:
            self.files.pop((repo, ref, path), None)
        else:
            self.files[(repo, ref, path)] = text

    def add_comment(self, repo: str, number: int, user: str, body: str) -> int:
        cid = next(self._ids)
        self.comments[cid] = StoredComment(cid, repo, number, user, body)
        return cid

    def comments_on(self, repo: str, number: int) -> list[StoredComment]:
        return [c for c in self.comments.values() if c.repo == repo and c.number == number]

    def writes_of(self, kind: str) -> list[tuple[object, ...]]:
        return [w for w in self.writes if w[0] == kind]

    # --- the Forge protocol ----------------------------------------------------------------------
    def pull_facts(self, repo: str, number: int) -> PullFacts:
        self.reads.append(("pull_facts", repo, number))
        try:
            facts = self.pulls[(repo, number)]
        except KeyError:
            raise LookupError(f"{repo}#{number} does not exist") from None
        own = tuple(r for (rp, sha, _), r in self.check_runs.items() if rp == repo and sha == facts.head_sha)
        return dataclasses.replace(facts, checks=(*facts.checks, *own))

    def pull_reviews(self, repo: str, number: int) -> tuple[Review, ...]:
        self.reads.append(("pull_reviews", repo, number))
        try:
            return self.pulls[(repo, number)].reviews
        except KeyError:
            raise LookupError(f"{repo}#{number} does not exist") from None

    def open_pull_numbers(self, repo: str) -> list[int]:
        self.reads.append(("open_pull_numbers", repo))
        return sorted(n for (r, n), f in self.pulls.items() if r == repo and f.state == "open")

    def read_file(self, repo: str, path: str, ref: str) -> tuple[str, str] | None:
        self.reads.append(("read_file", repo, path, ref))
        text = self.files.get((repo, ref, path))
        return None if text is None else (text, blob_sha(text))

    def permission(self, repo: str, user: str) -> Permission:
        self.reads.append(("permission", repo, user))
        return self.permissions.get((repo, user), Permission.READ)

    def team_members(self, org: str, team_slug: str) -> tuple[str, ...]:
        self.reads.append(("team_members", org, team_slug))
        return self.teams.get((org, team_slug), ())

    def find_comment(self, repo: str, number: int, marker: str) -> tuple[int, str] | None:
        self.reads.append(("find_comment", repo, number))
        for c in sorted(self.comments.values(), key=lambda c: c.id):
            if c.repo == repo and c.number == number and c.user == self.bot_login and marker in c.body:
                return c.id, c.body
        return None

    def create_comment(self, repo: str, number: int, body: str) -> int:
        cid = next(self._ids)
        self.comments[cid] = StoredComment(cid, repo, number, self.bot_login, body)
        self.writes.append(("create_comment", repo, number, cid))
        return cid

    def update_comment(self, repo: str, comment_id: int, body: str) -> None:
        comment = self.comments[comment_id]
        if comment.repo != repo:
            raise LookupError(f"comment {comment_id} is not in {repo}")
        comment.body = body
        self.writes.append(("update_comment", repo, comment_id))

    def add_reaction(self, repo: str, comment_id: int, content: str) -> None:
        if content not in ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"):
            raise ValueError(f"not a reaction GitHub knows: {content!r}")
        self.reactions.append((repo, comment_id, content))
        self.writes.append(("add_reaction", repo, comment_id, content))

    def set_check(self, repo: str, sha: str, name: str, *, status: str, conclusion: str | None, title: str,
                  summary: str, text: str | None = None) -> int:
        if status == "completed" and conclusion is None:
            raise ValueError("a completed check run needs a conclusion")
        if len(summary) > 65_535 or (text is not None and len(text) > 65_535):
            raise ValueError("check run output over 65535 characters")
        old = self.check_runs.get((repo, sha, name))
        run_id = old.id if old is not None and old.id is not None else next(self._ids)
        self.check_runs[(repo, sha, name)] = CheckRun(
            name=name, status=status, conclusion=conclusion, app=self.app_slug, head_sha=sha, id=run_id,
            summary=summary, text=text)
        self.check_details[run_id] = {"title": title}
        self.writes.append(("set_check", repo, sha, name, status, conclusion))
        return run_id

    def request_reviewers(self, repo: str, number: int, users: tuple[str, ...], teams: tuple[str, ...]) -> None:
        self.requested.append((repo, number, tuple(users), tuple(teams)))
        self.writes.append(("request_reviewers", repo, number, tuple(users), tuple(teams)))

    # --- merge queue: a tiny commit graph with refs (bot/queue/runner.py) ------------------------
    # Commits are (parents, frozenset of "content" tokens); a PR head's tokens are what it adds.
    # A token prefixed "conflict:" in two commits being merged makes the merge conflict.

    def _queue_init(self) -> None:
        if not hasattr(self, "branches"):
            self.branches: dict[tuple[str, str], str] = {}
            self.commits: dict[str, tuple[tuple[str, ...], frozenset[str]]] = {}
            self.statuses: dict[tuple[str, str], dict[str, CheckRun]] = {}
            self.closed: list[tuple[str, int]] = []
            self.refuse_fast_forward = 0  # the next N fast-forwards are refused (someone pushed)
            self.workflow_runs: dict[int, tuple[str, str, str]] = {}  # id -> (repo, head sha, status)

    def add_commit(self, sha: str, parents: tuple[str, ...] = (), content: frozenset[str] | set[str] = frozenset(),
                   ) -> str:
        self._queue_init()
        inherited: frozenset[str] = frozenset().union(*(self.commits[p][1] for p in parents if p in self.commits))
        self.commits[sha] = (tuple(parents), inherited | frozenset(content))
        return sha

    def set_branch(self, repo: str, branch: str, sha: str) -> None:
        self._queue_init()
        self.branches[(repo, branch)] = sha

    def ancestors(self, sha: str) -> set[str]:
        self._queue_init()
        seen, todo = set(), [sha]
        while todo:
            s = todo.pop()
            if s in seen:
                continue
            seen.add(s)
            todo.extend(self.commits.get(s, ((), frozenset()))[0])
        return seen

    def post_status(self, repo: str, sha: str, context: str, state: str) -> None:
        self._queue_init()
        status, conclusion = ("pending", None) if state == "pending" else ("completed", state)
        self.statuses.setdefault((repo, sha), {})[context] = CheckRun(
            name=context, status=status, conclusion=conclusion, app=None, head_sha=sha, kind="status")

    def get_branch_sha(self, repo: str, branch: str) -> str | None:
        self._queue_init()
        self.reads.append(("get_branch_sha", repo, branch))
        return self.branches.get((repo, branch))

    def force_branch(self, repo: str, branch: str, sha: str) -> None:
        self._queue_init()
        self.branches[(repo, branch)] = sha
        self.writes.append(("force_branch", repo, branch, sha))

    def fast_forward_branch(self, repo: str, branch: str, sha: str) -> bool:
        self._queue_init()
        self.writes.append(("fast_forward_branch", repo, branch, sha))
        current = self.branches.get((repo, branch))
        if self.refuse_fast_forward > 0 or (current is not None and current not in self.ancestors(sha)):
            self.refuse_fast_forward = max(0, self.refuse_fast_forward - 1)
            return False
        self.branches[(repo, branch)] = sha
        return True

    def delete_branch(self, repo: str, branch: str) -> None:
        self._queue_init()
        self.branches.pop((repo, branch), None)
        self.writes.append(("delete_branch", repo, branch))

    def merge_into_branch(self, repo: str, branch: str, head_sha: str, message: str) -> tuple[str, str | None]:
        self._queue_init()
        self.writes.append(("merge_into_branch", repo, branch, head_sha))
        base = self.branches[(repo, branch)]
        if head_sha not in self.commits:
            return "conflict", None
        if head_sha in self.ancestors(base):
            return "noop", None
        ours, theirs = self.commits[base][1], self.commits[head_sha][1]
        common = self.ancestors(base) & self.ancestors(head_sha)
        shared: frozenset[str] = frozenset().union(*(self.commits[c][1] for c in common if c in self.commits))
        clash = {t for t in ours & theirs if t.startswith("conflict:")} - shared
        if clash:
            return "conflict", None
        sha = hashlib.sha1(f"{base}+{head_sha}".encode()).hexdigest()
        self.commits[sha] = ((base, head_sha), ours | theirs)
        self.branches[(repo, branch)] = sha
        return "merged", sha

    def commit_with_tree_of(self, repo: str, tree_of: str, parent: str, message: str) -> str:
        self._queue_init()
        sha = hashlib.sha1(f"squash {tree_of} on {parent}".encode()).hexdigest()
        self.commits[sha] = ((parent,), self.commits[tree_of][1])
        self.writes.append(("commit_with_tree_of", repo, tree_of, parent))
        return sha

    def checks_on(self, repo: str, sha: str) -> tuple[CheckRun, ...]:
        self._queue_init()
        self.reads.append(("checks_on", repo, sha))
        own = tuple(r for (rp, s, _), r in self.check_runs.items() if rp == repo and s == sha)
        return (*own, *self.statuses.get((repo, sha), {}).values())

    def merge_base(self, repo: str, base: str, head: str) -> str | None:
        self._queue_init()
        self.reads.append(("merge_base", repo, base, head))
        tip = self.branches.get((repo, base))
        if tip is None or head not in self.commits:
            return None
        return tip if tip in self.ancestors(head) else None  # the fake knows the case of a base not moved since

    def changed_paths(self, repo: str, old: str, new: str) -> tuple[str, ...] | None:
        """What `compare[(repo, old, new)]` says (set by a test); None: not a descendant / unknown."""
        self.reads.append(("changed_paths", repo, old, new))
        return getattr(self, "compare", {}).get((repo, old, new))

    def start_workflow_run(self, repo: str, sha: str) -> int:
        """A GitHub Actions run in progress on `sha` (what `active_workflow_runs` lists)."""
        self._queue_init()
        run_id = next(self._ids)
        self.workflow_runs[run_id] = (repo, sha, "in_progress")
        return run_id

    def active_workflow_runs(self, repo: str, sha: str) -> tuple[int, ...]:
        self._queue_init()
        self.reads.append(("active_workflow_runs", repo, sha))
        runs = self.workflow_runs.items()
        return tuple(i for i, (rp, s, st) in runs if rp == repo and s == sha and st != "completed")

    def cancel_workflow_run(self, repo: str, run_id: int) -> bool:
        self._queue_init()
        self.writes.append(("cancel_workflow_run", repo, run_id))
        rp, sha, status = self.workflow_runs[run_id]
        if status == "completed":
            return False
        self.workflow_runs[run_id] = (rp, sha, "completed")
        return True

    def close_pull(self, repo: str, number: int) -> None:
        self._queue_init()
        self.closed.append((repo, number))
        self.writes.append(("close_pull", repo, number))
        if (repo, number) in self.pulls:
            self.update_pull(repo, number, state="closed")

    def pull_head_branch(self, repo: str, number: int) -> tuple[str, str, str]:
        facts = self.pulls[(repo, number)]
        return facts.head_ref, facts.head_sha, facts.head_repo

    def pull_commits(self, repo: str, number: int) -> tuple[tuple[str, str], ...]:
        """The head and its ancestors that are not on the base branch, oldest first (by graph order)."""
        self._queue_init()
        facts = self.pulls[(repo, number)]
        base = self.ancestors(self.branches.get((repo, facts.base_ref), ""))
        chain, sha = [], facts.head_sha
        while sha and sha not in base and sha in self.commits:
            chain.append((sha, f"commit {sha[:7]}"))
            parents = self.commits[sha][0]
            sha = parents[0] if parents else ""
        return tuple(reversed(chain))

    # --- deployments (bot/deploy/runner.py) -----------------------------------------------------------
    def _deploy_init(self) -> None:
        self._queue_init()
        if not hasattr(self, "deployments"):
            self.deployments: dict[int, dict[str, object]] = {}  # id -> sha, environment, payload, ...
            self.deployment_statuses: list[tuple[int, str, str]] = []  # (deployment id, state, description)

    def add_gate_run(self, repo: str, sha: str, name: str, conclusion: str = "success", text: str | None = None,
                     app: str = "github-actions") -> CheckRun:
        """A check run some CI published on `sha` (what `checks_on` returns)."""
        run = CheckRun(name=name, status="completed", conclusion=conclusion, app=app, head_sha=sha,
                       id=next(self._ids), text=text)
        self.check_runs[(repo, sha, name)] = run
        return run

    def create_deployment(self, repo: str, sha: str, environment: str, *, payload: dict[str, object],
                          required_contexts: tuple[str, ...] | None, description: str) -> int:
        """Like GitHub: every required context (default: every context) must be green on `sha`, else 409."""
        from mlgate.bot.github.forge import DeploymentRefused

        self._deploy_init()
        checks = self.checks_on(repo, sha)
        if getattr(self, "deploy_statuses_only", False):  # like the sandbox: only commit statuses count
            checks = tuple(c for c in checks if c.kind == "status")
        latest = {c.name: c.conclusion for c in checks}
        needed = list(latest) if required_contexts is None else list(required_contexts)
        failed = tuple((c, latest.get(c) or "missing") for c in needed if latest.get(c) != "success")
        if failed:
            raise DeploymentRefused(environment, sha, failed, "Conflict: Commit status checks failed")
        did = next(self._ids)
        self.deployments[did] = {"repo": repo, "sha": sha, "environment": environment, "payload": payload,
                                 "required_contexts": required_contexts, "description": description}
        self.writes.append(("create_deployment", repo, sha, environment))
        return did

    def create_deployment_status(self, repo: str, deployment_id: int, state: str, *, description: str = "") -> int:
        self._deploy_init()
        if deployment_id not in self.deployments:
            raise LookupError(f"deployment {deployment_id} does not exist")
        self.deployment_statuses.append((deployment_id, state, description))
        self.writes.append(("create_deployment_status", repo, deployment_id, state))
        return next(self._ids)
