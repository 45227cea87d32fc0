"""The `Forge` protocol over PyGithub: the only module of mlgate that imports PyGithub.

Everything leaving this module is plain data (`mlgate.bot.github.facts`) or a `ForgeError`; no PyGithub object
or exception escapes, so decision code stays testable with literals.

How PyGithub is configured, and why:

* ``retry=None``: PyGithub's `GithubRetry` would re-send POSTs (a comment could be posted twice)
  and sleeps with `time.sleep`. Every call here goes through `mlgate.retry.Retrier` instead, which
  decides per call whether it is idempotent (see the table below) and takes an injected sleep.
* ``seconds_between_writes=0`` for PyGithub, because its throttle is per client object. GitHub
  asks for at least one second between content-creating writes of one installation; a
  `mlgate.retry.Spacer` shared by all forges (all threads) of an installation enforces
  `ForgeOptions.seconds_between_writes` (default 1.0 s; 0 in tests).
* ``seconds_between_requests`` = `ForgeOptions.seconds_between_requests` (default 0): GitHub sets
  no spacing for reads, and PyGithub's default 0.25 s would make a 5-request PR snapshot take over
  a second.
* ``lazy=True`` so that building a repository or PR object issues no request; ``per_page=100``.

Per call (idempotent calls are retried on 5xx and connection errors; every call is retried after
a rate-limit refusal, which GitHub gives before acting):

| call | method | retried after 5xx / dropped connection |
|---|---|---|
| all reads | GET | yes |
| create_comment | POST | no: looks for the bot's comment with that exact body; `UncertainWriteError` if absent |
| set_check (new run) | POST | no: looks for this app's run with that name on that SHA instead |
| set_check (existing run), update_comment | PATCH | yes: sending the same content twice gives the same result |
| add_reaction | POST | yes: GitHub answers 200 with the existing reaction for a duplicate |
| request_reviewers | POST | yes: requesting the same reviewers again changes nothing |
"""

from __future__ import annotations

import base64
import binascii
import functools
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal, TypeVar

import github
import requests
from github.Auth import Auth
from github.CheckRun import CheckRun as GhCheckRun
from github.File import File as GhFile
from github.GithubObject import GithubObject
from github.IssueComment import IssueComment as GhIssueComment
from github.NamedUser import NamedUser as GhNamedUser
from github.PaginatedList import PaginatedList
from github.PullRequest import PullRequest as GhPullRequest
from github.PullRequestReview import PullRequestReview as GhReview

from mlgate.bot.github import conditional
from mlgate.bot.github.auth import AppCredentials, AuthError
from mlgate.bot.github.facts import (
    STATUS_MAP,
    ChangedFile,
    CheckRun,
    Permission,
    PullFacts,
    Review,
    check_as_status,
)
from mlgate.bot.github.forge import DeploymentRefused
from mlgate.bot.observability import metrics
from mlgate.bot.settings import Settings
from mlgate.names import BOT_EXTERNAL_ID, CHECK_OUTPUT_LIMIT, COMMENT_LIMIT
from mlgate.retry import (
    Failure,
    ForgeError,
    Retrier,
    RetryPolicy,
    Spacer,
    UncertainWriteError,
    classify_requests_error,
)

__all__ = [
    "AuthError",
    "ForgeError",
    "ForgeOptions",
    "GitHubAPIError",
    "GitHubForge",
    "GitHubForgeFactory",
    "UncertainWriteError",
    "fit",
    "forge_factory",
]

log = logging.getLogger(__name__)

T = TypeVar("T")
G = TypeVar("G", bound=GithubObject)  # what PaginatedList pages through

_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_CONFIRM_SKEW = 300  # seconds: look back this far (clock skew) when confirming an uncertain comment POST


class GitHubAPIError(ForgeError):
    """GitHub answered with an error that is not retried (or retries ran out)."""

    def __init__(self, what: str, status: int | None, message: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {message}" if status else f"{what}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class ForgeOptions:
    """Client knobs; tests set the waits to 0 and inject `sleep`/`clock`."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    seconds_between_writes: float = 1.0
    seconds_between_requests: float = 0.0
    per_page: int = 100
    timeout: int = 15
    user_agent: str = "mlgate"
    conditional_requests: bool = True  # GETs carry the last ETag; 304s (free of rate limit) come from a cache
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.time


_WHERE = re.compile(r"([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)(?:#([0-9]+))?")  # "comment on owner/repo#3"


def fit(text: str, limit: int, what: str, unit: Literal["characters", "bytes"] = "bytes") -> str:
    """`text` unchanged if it fits `limit`, else its head plus a note that says it was cut and why.

    Counted the way GitHub counts that field: an issue comment's body in characters (65,536), a
    check run's `output.summary`/`output.text` in UTF-8 bytes (65,535: GitHub answers "summary
    exceeds a maximum bytesize of 65535", though its reference says characters). A character is
    never split, and an unclosed code fence is closed.
    """
    def size(s: str) -> int:
        return len(s.encode("utf-8")) if unit == "bytes" else len(s)

    total = size(text)
    if total <= limit:
        return text
    shown = f"{total:,} bytes (UTF-8)" if unit == "bytes" else f"{total:,} characters"
    note = (f"\n\n*… truncated by mlgate: the {what} is {shown}, more than GitHub's limit of {limit:,} {unit}; "
            "the rest is not shown.*")
    budget = limit - size(note) - size("\n```")
    head = text.encode("utf-8")[:budget].decode("utf-8", errors="ignore") if unit == "bytes" else text[:budget]
    if head.count("```") % 2 == 1:
        head += "\n```"
    return head + note


def _message(exc: github.GithubException) -> str:
    """GitHub's message, with the reasons of a 422 ("Validation Failed": errors[].message) appended."""
    data = exc.data
    if isinstance(data, dict):
        message = str(data.get("message", ""))
        errors = data.get("errors")
        reasons = [str(e["message"]) for e in errors if isinstance(e, dict) and e.get("message")] \
            if isinstance(errors, list) else []
        return f"{message}: {'; '.join(reasons)}" if reasons else message
    return str(data or "")


def classify(exc: BaseException) -> Failure | None:
    """PyGithub's and requests' exceptions as a `Failure` for the retry policy."""
    if isinstance(exc, github.GithubException):
        return Failure(exc.status, dict(exc.headers or {}), _message(exc))
    return classify_requests_error(exc)


def _iso(value: datetime | None) -> str:
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_repo(repo: str) -> str:
    if not _REPO_RE.match(repo):
        raise ValueError(f"repository must look like 'owner/name', got {repo!r}")
    return repo


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def _qb(branch: str) -> str:
    """A branch name in a ref path (`git/refs/heads/mlgate/staging/main`): slashes stay."""
    return urllib.parse.quote(branch, safe="/")




class _TokenAuth(Auth):
    """PyGithub auth that asks `get_token` on every request, so refreshed tokens are picked up."""

    def __init__(self, get_token: Callable[[], str]) -> None:
        self._get_token = get_token

    @property
    def token_type(self) -> str:
        return "token"

    @property
    def token(self) -> str:
        try:
            return self._get_token()
        except ForgeError:
            raise
        except Exception as exc:  # a transport error after the token request's own retries
            raise ForgeError(f"could not obtain an installation token ({type(exc).__name__})") from exc

    @property
    def _masked_token(self) -> str:
        return "token (removed)"


class GitHubForge:
    """`mlgate.bot.github.forge.Forge` for the repositories of one installation (or one plain token)."""

    def __init__(
        self,
        client: github.Github,
        *,
        retrier: Retrier,
        spacer: Spacer,
        bot_login: Callable[[], str],
        app_id: int | None = None,
        clock: Callable[[], float] = time.time,
        reauthenticate: Callable[[], None] | None = None,
        checks_as_statuses: bool = False,
    ) -> None:
        self._gh = client
        self.checks_as_statuses = checks_as_statuses  # token mode: GitHub lets only Apps write check runs
        self._reauthenticate = reauthenticate
        self._rq = client.requester
        self._retrier = retrier
        self._spacer = spacer
        self._bot_login = bot_login
        self._app_id = app_id
        self._clock = clock

    # -- plumbing ---------------------------------------------------------------------------

    def _read(self, what: str, fn: Callable[[], T]) -> T:
        return self._call(what, fn, idempotent=True, confirm=None, kind="read")

    def _write(
        self, what: str, fn: Callable[[], T], *, idempotent: bool, confirm: Callable[[], T | None] | None = None
    ) -> T:
        def spaced() -> T:
            self._spacer.wait()
            return fn()

        where = _WHERE.search(what)
        log.info("GitHub write: %s", what, extra={
            "event": "github.write", "write": what, "repo": where.group(1) if where else None,
            "pr": int(where.group(2)) if where and where.group(2) else None})
        return self._call(what, spaced, idempotent=idempotent, confirm=confirm, kind="write")

    def _call(self, what: str, fn: Callable[[], T], *, idempotent: bool, confirm: Callable[[], T | None] | None,
              kind: str = "read") -> T:
        """Run under the retry policy; PyGithub and requests errors leave as `ForgeError`s.

        A 401 with a cached installation token (revoked, or the app reinstalled) drops the token
        and tries once more: GitHub did not act on an unauthenticated request.
        """
        for attempt in (1, 2):
            try:
                result = self._retrier.call(fn, what=what, idempotent=idempotent, confirm=confirm)
                metrics.observe_github_call(kind, True, self._rate_remaining())
                return result
            except github.GithubException as exc:
                metrics.observe_github_call(kind, False, self._rate_remaining())
                if exc.status == 401 and attempt == 1 and self._reauthenticate is not None:
                    log.warning("%s: GitHub refused the installation token; fetching a new one", what)
                    self._reauthenticate()
                    continue
                raise GitHubAPIError(what, exc.status, _message(exc)) from None
            except requests.RequestException as exc:
                metrics.observe_github_call(kind, False, None)
                raise GitHubAPIError(what, None, f"connection failed ({type(exc).__name__})") from exc
        raise AssertionError("unreachable")

    def _rate_remaining(self) -> int | None:
        """X-RateLimit-Remaining of GitHub's last answer, as PyGithub keeps it (no request is made)."""
        remaining = getattr(self._rq, "rate_limiting", (-1, -1))[0]
        return remaining if isinstance(remaining, int) and remaining >= 0 else None

    def _json(self, verb: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        _headers, data = self._rq.requestJsonAndCheck(verb, path, parameters=params, input=body)
        return data

    def _pull(self, repo: str, number: int) -> GhPullRequest:
        return GhPullRequest(self._rq, url=f"/repos/{_check_repo(repo)}/pulls/{int(number)}")

    def _list(self, cls: type[G], path: str, params: dict[str, Any] | None = None, item: str | None = None) -> list[G]:
        if item is None:
            return list(PaginatedList(cls, self._rq, path, params))
        return list(PaginatedList(cls, self._rq, path, params, list_item=item))

    # -- reads ------------------------------------------------------------------------------

    def pull_facts(self, repo: str, number: int, *, teams: Iterable[str] = ()) -> PullFacts:
        """A PR snapshot: the PR, its files, reviews, check runs and statuses on its head SHA.

        `teams` ("org/slug") are resolved to members, for review rules that name teams.
        """
        _check_repo(repo)

        def pull() -> dict[str, Any]:
            pr = self._pull(repo, number)
            head_repo = pr.head.repo
            return {
                "title": pr.title,
                "author": pr.user.login if pr.user else "ghost",
                "state": pr.state,
                "merged": bool(pr.merged),
                "draft": bool(pr.draft),
                "head_sha": pr.head.sha,
                "head_ref": pr.head.ref,
                "head_repo": head_repo.full_name if head_repo is not None else "",
                "base_ref": pr.base.ref,
                "base_sha": pr.base.sha,
                "labels": tuple(label.name for label in pr.labels),
                "changed_files": int(pr.changed_files) if pr.changed_files is not None else None,
            }

        facts = self._read(f"{repo}#{number}", pull)
        files = self._read(f"{repo}#{number} files", lambda: self._files(repo, number))
        reviews = self._read(f"{repo}#{number} reviews", lambda: self._reviews(repo, number))
        sha = facts["head_sha"]
        runs = self._read(f"{repo}@{sha} check runs", lambda: self._check_runs(repo, sha))
        statuses = self._read(f"{repo}@{sha} statuses", lambda: self._statuses(repo, sha))
        members = {team: self._team(team) for team in dict.fromkeys(teams)}
        return PullFacts(
            repo=repo,
            number=int(number),
            files=files,
            reviews=reviews,
            checks=runs + statuses,
            team_members=members,
            **facts,
        )

    def pull_reviews(self, repo: str, number: int) -> tuple[Review, ...]:
        return self._read(f"{repo}#{number} reviews", lambda: self._reviews(repo, number))

    def _files(self, repo: str, number: int) -> tuple[ChangedFile, ...]:
        items = self._list(GhFile, f"/repos/{repo}/pulls/{int(number)}/files")
        return tuple(ChangedFile(f.filename, f.status, f.previous_filename) for f in items)

    def _reviews(self, repo: str, number: int) -> tuple[Review, ...]:
        items = self._list(GhReview, f"/repos/{repo}/pulls/{int(number)}/reviews")
        return tuple(
            Review(
                id=r.id,
                user=r.user.login if r.user else "ghost",
                state=r.state,
                commit_id=r.commit_id or "",
                submitted_at=_iso(r.submitted_at),
            )
            for r in items
        )

    def _runs(self, repo: str, sha: str, params: dict[str, Any]) -> list[GhCheckRun]:
        return self._list(GhCheckRun, f"/repos/{repo}/commits/{_q(sha)}/check-runs", params, "check_runs")

    def _check_runs(self, repo: str, sha: str) -> tuple[CheckRun, ...]:
        out = []
        for r in self._runs(repo, sha, {}):
            output = r.output
            out.append(
                CheckRun(
                    name=r.name,
                    status=r.status,
                    conclusion=r.conclusion,
                    app=r.app.slug if r.app is not None else None,
                    head_sha=r.head_sha,
                    id=r.id,
                    details_url=r.details_url,
                    summary=output.summary if output is not None else None,
                    text=output.text if output is not None else None,
                )
            )
        return tuple(out)

    def _statuses(self, repo: str, sha: str) -> tuple[CheckRun, ...]:
        """The latest status per context (the combined status), every page of it."""
        out: list[CheckRun] = []
        page = 1
        while True:
            data = self._json("GET", f"/repos/{repo}/commits/{_q(sha)}/status", params={"per_page": 100, "page": page})
            items = data.get("statuses") or []
            for s in items:
                status, conclusion = STATUS_MAP.get(s.get("state", ""), ("completed", "failure"))
                out.append(
                    CheckRun(
                        name=s["context"],
                        status=status,
                        conclusion=conclusion,
                        app=None,
                        head_sha=data.get("sha") or sha,
                        id=s.get("id"),
                        details_url=s.get("target_url"),
                        summary=s.get("description"),
                        kind="status",
                    )
                )
            if not items or len(out) >= int(data.get("total_count") or 0):
                return tuple(out)
            page += 1

    def open_pull_numbers(self, repo: str) -> list[int]:
        _check_repo(repo)
        return self._read(
            f"{repo} open PRs",
            lambda: [p.number for p in self._list(GhPullRequest, f"/repos/{repo}/pulls", {"state": "open"})],
        )

    def read_file(self, repo: str, path: str, ref: str) -> tuple[str, str] | None:
        """(UTF-8 text, blob SHA) of `path` at `ref`; None when it does not exist there."""
        _check_repo(repo)
        what = f"{repo}:{path}@{ref}"

        def get() -> tuple[str, str] | None:
            try:
                data = self._json("GET", f"/repos/{repo}/contents/{urllib.parse.quote(path)}", params={"ref": ref})
            except github.UnknownObjectException:
                return None
            if not isinstance(data, dict) or data.get("type") != "file":
                kind = "a directory" if isinstance(data, list) else f"a {data.get('type')}"
                raise ForgeError(f"{what} is {kind}, not a file")
            sha = str(data["sha"])
            if data.get("encoding") == "base64":
                encoded = data.get("content") or ""
            else:  # files over 1 MB come without content: read the blob
                encoded = self._json("GET", f"/repos/{repo}/git/blobs/{sha}")["content"]
            try:
                raw = base64.b64decode(encoded, validate=False)
                return raw.decode("utf-8"), sha
            except (binascii.Error, UnicodeDecodeError):
                raise ForgeError(f"{what} is not UTF-8 text") from None

        return self._read(what, get)

    def permission(self, repo: str, user: str) -> Permission:
        """The user's permission on the repo (a custom role maps to its base permission)."""
        _check_repo(repo)

        def get() -> Permission:
            try:
                data = self._json("GET", f"/repos/{repo}/collaborators/{_q(user)}/permission")
            except github.UnknownObjectException:
                return Permission.NONE
            for key in ("role_name", "permission"):
                try:
                    return Permission(str(data.get(key)))
                except ValueError:
                    continue
            return Permission.NONE

        return self._read(f"permission of {user} on {repo}", get)

    def team_members(self, org: str, team_slug: str) -> tuple[str, ...]:
        """Logins of a team's members; () when the team does not exist or is not visible to the bot."""

        def get() -> tuple[str, ...]:
            try:
                users = self._list(GhNamedUser, f"/orgs/{_q(org)}/teams/{_q(team_slug)}/members")
            except github.UnknownObjectException:
                log.warning("team %s/%s not found or not visible to the bot; it has no members here", org, team_slug)
                return ()
            return tuple(u.login for u in users)

        return self._read(f"members of {org}/{team_slug}", get)

    def _team(self, team: str) -> tuple[str, ...]:
        org, sep, slug = team.partition("/")
        if not sep or not org or not slug:
            raise ValueError(f"a team must be named 'org/slug', got {team!r}")
        return self.team_members(org, slug)

    def _comments(self, repo: str, number: int, since: str | None = None) -> list[GhIssueComment]:
        params = {"since": since} if since else None
        return self._list(GhIssueComment, f"/repos/{repo}/issues/{int(number)}/comments", params)

    def find_comment(self, repo: str, number: int, marker: str) -> tuple[int, str] | None:
        """The bot's oldest comment on the PR containing `marker` (every page is searched)."""
        _check_repo(repo)
        login = self._bot_login()

        def find() -> tuple[int, str] | None:
            for c in self._comments(repo, number):
                if c.user is not None and c.user.login == login and marker in (c.body or ""):
                    return c.id, c.body
            return None

        return self._read(f"{repo}#{number} report comment", find)

    # -- writes -----------------------------------------------------------------------------

    def create_comment(self, repo: str, number: int, body: str) -> int:
        _check_repo(repo)
        body = fit(body, COMMENT_LIMIT, "comment", unit="characters")
        since = datetime.fromtimestamp(self._clock() - _CONFIRM_SKEW, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

        def post() -> int:
            return int(self._json("POST", f"/repos/{repo}/issues/{int(number)}/comments", body={"body": body})["id"])

        def confirm() -> int | None:
            login = self._bot_login()
            for c in self._comments(repo, number, since):
                if c.user is not None and c.user.login == login and c.body == body:
                    return c.id
            return None

        return self._write(f"comment on {repo}#{number}", post, idempotent=False, confirm=confirm)

    def update_comment(self, repo: str, comment_id: int, body: str) -> None:
        _check_repo(repo)
        body = fit(body, COMMENT_LIMIT, "comment", unit="characters")
        self._write(
            f"edit comment {comment_id} on {repo}",
            lambda: self._json("PATCH", f"/repos/{repo}/issues/comments/{int(comment_id)}", body={"body": body}),
            idempotent=True,
        )

    def add_reaction(self, repo: str, comment_id: int, content: str) -> None:
        _check_repo(repo)
        self._write(
            f"reaction on comment {comment_id} in {repo}",
            lambda: self._json(
                "POST", f"/repos/{repo}/issues/comments/{int(comment_id)}/reactions", body={"content": content}
            ),
            idempotent=True,
        )

    def _own_run(self, repo: str, sha: str, name: str) -> int | None:
        """Id of this app's latest check run `name` on `sha` (app mode: by app id; token mode: by external id)."""
        params: dict[str, Any] = {"check_name": name}
        if self._app_id is not None:
            params["app_id"] = self._app_id
        for r in self._runs(repo, sha, params):
            if r.name == name and (self._app_id is not None or r.external_id == BOT_EXTERNAL_ID):
                return r.id
        return None

    def set_check(
        self,
        repo: str,
        sha: str,
        name: str,
        *,
        status: str,
        conclusion: str | None,
        title: str,
        summary: str,
        text: str | None = None,
    ) -> int:
        """Create the check run, or update this app's run with that name on that SHA; returns its id.
        In token mode (`checks_as_statuses`) the commit status `name` instead (`check_as_status`)."""
        _check_repo(repo)
        if self.checks_as_statuses:
            state, description = check_as_status(status, conclusion, title)
            body = {"state": state, "context": name, "description": description}
            return self._write(
                f"status {name!r} on {repo}@{sha[:12]}",
                lambda: int(self._json("POST", f"/repos/{repo}/statuses/{_q(sha)}", body=body)["id"]),
                idempotent=True,  # the latest status per context counts: sending it twice changes nothing
            )
        output: dict[str, Any] = {"title": title, "summary": fit(summary, CHECK_OUTPUT_LIMIT, "summary", unit="bytes")}
        if text is not None:
            output["text"] = fit(text, CHECK_OUTPUT_LIMIT, "text", unit="bytes")
        fields: dict[str, Any] = {"status": status, "output": output}
        if conclusion is not None:
            fields["conclusion"] = conclusion
        what = f"check {name!r} on {repo}@{sha[:12]}"
        existing = self._read(what, lambda: self._own_run(repo, sha, name))
        if existing is not None:
            self._write(
                what, lambda: self._json("PATCH", f"/repos/{repo}/check-runs/{existing}", body=fields), idempotent=True
            )
            return existing
        create = {"name": name, "head_sha": sha, "external_id": BOT_EXTERNAL_ID, **fields}
        return self._write(
            what,
            lambda: int(self._json("POST", f"/repos/{repo}/check-runs", body=create)["id"]),
            idempotent=False,
            confirm=lambda: self._own_run(repo, sha, name),
        )

    def request_reviewers(self, repo: str, number: int, users: tuple[str, ...], teams: tuple[str, ...]) -> None:
        """Ask users and teams ("org/slug" or "slug") for a review; nothing is sent when both are empty."""
        _check_repo(repo)
        if not users and not teams:
            return
        body = {"reviewers": list(users), "team_reviewers": [t.rpartition("/")[2] for t in teams]}
        self._write(
            f"review request on {repo}#{number}",
            lambda: self._json("POST", f"/repos/{repo}/pulls/{int(number)}/requested_reviewers", body=body),
            idempotent=True,
        )

    def authenticated_login(self) -> str:
        """Login of the token's user (token mode's bot identity): GET /user."""
        return self._read("authenticated user", lambda: str(self._json("GET", "/user")["login"]))

    # -- merge queue (bot/queue/runner.py): refs, merges, staging commits ---------------------
    # Branch names keep their slashes in ref paths (mlgate/staging/main): see `_qb`.

    def get_branch_sha(self, repo: str, branch: str) -> str | None:
        _check_repo(repo)
        try:
            data = self._read(f"branch {branch!r} of {repo}",
                              lambda: self._json("GET", f"/repos/{repo}/git/ref/heads/{_qb(branch)}"))
        except GitHubAPIError as exc:
            if exc.status == 404:
                return None
            raise
        return str(data["object"]["sha"])

    def force_branch(self, repo: str, branch: str, sha: str) -> None:
        _check_repo(repo)
        what = f"force {branch!r} of {repo} to {sha[:12]}"
        try:
            self._write(what, lambda: self._json("PATCH", f"/repos/{repo}/git/refs/heads/{_qb(branch)}",
                                                 body={"sha": sha, "force": True}), idempotent=True)
        except GitHubAPIError as exc:
            if exc.status not in (404, 422):  # 422: "Reference does not exist" on GitHub
                raise
            self._write(what, lambda: self._json("POST", f"/repos/{repo}/git/refs",
                                                 body={"ref": f"refs/heads/{branch}", "sha": sha}), idempotent=True)

    def fast_forward_branch(self, repo: str, branch: str, sha: str) -> bool:
        _check_repo(repo)
        try:
            self._write(f"fast-forward {branch!r} of {repo} to {sha[:12]}",
                        lambda: self._json("PATCH", f"/repos/{repo}/git/refs/heads/{_qb(branch)}",
                                           body={"sha": sha, "force": False}), idempotent=True)
        except GitHubAPIError as exc:
            if exc.status == 422:
                return False
            raise
        return True

    def delete_branch(self, repo: str, branch: str) -> None:
        _check_repo(repo)
        try:
            self._write(f"delete {branch!r} of {repo}",
                        lambda: self._json("DELETE", f"/repos/{repo}/git/refs/heads/{_qb(branch)}"), idempotent=True)
        except GitHubAPIError as exc:
            if exc.status not in (404, 422):
                raise

    def merge_into_branch(self, repo: str, branch: str, head_sha: str, message: str) -> tuple[str, str | None]:
        _check_repo(repo)
        body = {"base": branch, "head": head_sha, "commit_message": message}
        try:
            # Re-sending after a lost answer is harmless: the head is then already in, a 204.
            data = self._write(f"merge {head_sha[:12]} into {branch!r} of {repo}",
                               lambda: self._json("POST", f"/repos/{repo}/merges", body=body), idempotent=True)
        except GitHubAPIError as exc:
            if exc.status in (404, 409):
                return "conflict", None
            raise
        if not data or not isinstance(data, dict) or not data.get("sha"):
            return "noop", None
        return "merged", str(data["sha"])

    def commit_with_tree_of(self, repo: str, tree_of: str, parent: str, message: str) -> str:
        _check_repo(repo)
        commit = self._read(f"commit {tree_of[:12]} of {repo}",
                            lambda: self._json("GET", f"/repos/{repo}/git/commits/{_q(tree_of)}"))
        body = {"message": message, "tree": commit["tree"]["sha"], "parents": [parent]}
        # A duplicate (same tree, parent, message, time) is harmless: only the SHA returned is used.
        data = self._write(f"squash commit on {repo}", lambda: self._json("POST", f"/repos/{repo}/git/commits",
                                                                         body=body), idempotent=True)
        return str(data["sha"])

    def checks_on(self, repo: str, sha: str) -> tuple[CheckRun, ...]:
        _check_repo(repo)
        runs = self._read(f"check runs on {repo}@{sha[:12]}", lambda: self._check_runs(repo, sha))
        statuses = self._read(f"statuses on {repo}@{sha[:12]}", lambda: self._statuses(repo, sha))
        return (*runs, *statuses)

    def merge_base(self, repo: str, base: str, head: str) -> str | None:
        """GET compare/{base}...{head}: its `merge_base_commit` (for a merge group's base commit)."""
        _check_repo(repo)
        try:
            data = self._read(f"merge-base of {base!r} and {head[:12]} in {repo}", lambda: self._json(
                "GET", f"/repos/{repo}/compare/{_qb(base)}...{_q(head)}", params={"per_page": 1}))
        except GitHubAPIError as exc:
            if exc.status in (404, 422):
                return None
            raise
        sha = (data.get("merge_base_commit") or {}).get("sha") if isinstance(data, dict) else None
        return str(sha) if sha else None

    def changed_paths(self, repo: str, old: str, new: str) -> tuple[str, ...] | None:
        """`GET /compare/{old}...{new}`: only when `new` descends from `old` (status ahead or identical),
        and fewer than the 300 files GitHub lists at most (a longer list may be cut)."""
        _check_repo(repo)
        data = self._read(f"compare {old[:12]}...{new[:12]} in {repo}",
                          lambda: self._json("GET", f"/repos/{repo}/compare/{_q(old)}...{_q(new)}"))
        if not isinstance(data, dict) or data.get("status") not in ("ahead", "identical"):
            return None
        files = data.get("files") or []
        if len(files) >= 300:
            return None
        paths: list[str] = []
        for f in files:
            paths += [str(f["filename"])] + ([str(f["previous_filename"])] if f.get("previous_filename") else [])
        return tuple(dict.fromkeys(paths))

    def active_workflow_runs(self, repo: str, sha: str) -> tuple[int, ...]:
        """`GET /actions/runs?head_sha=` (first 100: a staging commit never has more), minus completed ones."""
        _check_repo(repo)
        data = self._read(f"workflow runs on {repo}@{sha[:12]}", lambda: self._json(
            "GET", f"/repos/{repo}/actions/runs", params={"head_sha": sha, "per_page": 100}))
        runs = data.get("workflow_runs") or [] if isinstance(data, dict) else []
        return tuple(int(r["id"]) for r in runs if r.get("head_sha") == sha and r.get("status") != "completed")

    def cancel_workflow_run(self, repo: str, run_id: int) -> bool:
        _check_repo(repo)
        try:
            self._write(f"cancel workflow run {run_id} of {repo}",
                        lambda: self._json("POST", f"/repos/{repo}/actions/runs/{int(run_id)}/cancel"),
                        idempotent=True)
        except GitHubAPIError as exc:
            if exc.status == 409:
                return False
            raise
        return True

    def close_pull(self, repo: str, number: int) -> None:
        _check_repo(repo)
        self._write(f"close {repo}#{number}", lambda: self._json("PATCH", f"/repos/{repo}/pulls/{int(number)}",
                                                                body={"state": "closed"}), idempotent=True)

    def pull_head_branch(self, repo: str, number: int) -> tuple[str, str, str]:
        _check_repo(repo)
        data = self._read(f"{repo}#{number}", lambda: self._json("GET", f"/repos/{repo}/pulls/{int(number)}"))
        head = data["head"]
        return str(head["ref"]), str(head["sha"]), str((head.get("repo") or {}).get("full_name") or "")

    def pull_commits(self, repo: str, number: int) -> tuple[tuple[str, str], ...]:
        _check_repo(repo)
        out: list[tuple[str, str]] = []
        for page in range(1, 4):  # GitHub lists at most 250 commits of a PR
            params = {"per_page": 100, "page": page}
            items = self._read(f"commits of {repo}#{number}", functools.partial(
                self._json, "GET", f"/repos/{repo}/pulls/{int(number)}/commits", params=params))
            out += [(str(c["sha"]), str((c.get("commit") or {}).get("message") or "")) for c in items or ()]
            if not items or len(items) < 100:
                break
        return tuple(out)

    # --- deployments (bot/deploy/runner.py) -----------------------------------------------------------
    def create_deployment(
        self,
        repo: str,
        sha: str,
        environment: str,
        *,
        payload: dict[str, Any],
        required_contexts: tuple[str, ...] | None,
        description: str,
    ) -> int:
        """POST /deployments (not retried blindly: an uncertain POST is confirmed by listing the
        deployments of that SHA and environment and matching the payload). 409 → DeploymentRefused."""
        _check_repo(repo)
        body: dict[str, Any] = {
            "ref": sha,
            "environment": environment,
            "payload": payload,
            "description": description,
            "auto_merge": False,
            "production_environment": environment == "production",
        }
        if required_contexts is not None:
            body["required_contexts"] = list(required_contexts)
        what = f"deployment of {repo}@{sha[:12]} to {environment}"

        def post() -> int:
            try:
                return int(self._json("POST", f"/repos/{repo}/deployments", body=body)["id"])
            except github.GithubException as exc:
                if exc.status == 409:
                    raise DeploymentRefused(environment, sha, _refused_contexts(exc.data), _message(exc)) from None
                raise

        def confirm() -> int | None:
            found = self._json("GET", f"/repos/{repo}/deployments", params={"sha": sha, "environment": environment})
            for dep in found if isinstance(found, list) else ():
                if dep.get("payload") == payload:
                    return int(dep["id"])
            return None

        return self._write(what, post, idempotent=False, confirm=confirm)

    def create_deployment_status(self, repo: str, deployment_id: int, state: str, *, description: str = "") -> int:
        _check_repo(repo)
        body = {"state": state, "description": description[:140]}
        path = f"/repos/{repo}/deployments/{int(deployment_id)}/statuses"
        # a repeated status after a lost answer only repeats the same state: harmless, so retried
        return self._write(
            f"status {state} of deployment {deployment_id} in {repo}",
            lambda: int(self._json("POST", path, body=body)["id"]),
            idempotent=True,
        )

    def repository_private(self, repo: str) -> bool | None:
        """Is the repository private (True), public (False), or not visible to the bot (None)?"""
        _check_repo(repo)

        def get() -> bool | None:
            try:
                return bool(self._json("GET", f"/repos/{repo}").get("private", True))
            except github.UnknownObjectException:
                return None

        return self._read(f"visibility of {repo}", get)

    # --- alert issues (bot/alerts/issues.py) ---------------------------------------------------------
    def create_issue(self, repo: str, title: str, body: str, labels: tuple[str, ...]) -> int:
        """POST /issues (not retried blindly: an uncertain POST is confirmed by finding the bot's open
        issue with that label and exactly that body)."""
        _check_repo(repo)
        body = fit(body, COMMENT_LIMIT, "issue")
        data = {"title": title[:256], "body": body, "labels": list(labels)}

        def post() -> int:
            return int(self._json("POST", f"/repos/{repo}/issues", body=data)["number"])

        def confirm() -> int | None:
            params = {"state": "open", "labels": ",".join(labels), "per_page": 100}
            for issue in self._json("GET", f"/repos/{repo}/issues", params=params) or ():
                if issue.get("body") == body and "pull_request" not in issue:
                    return int(issue["number"])
            return None

        return self._write(f"alert issue in {repo}", post, idempotent=False, confirm=confirm)

    def edit_issue(self, repo: str, number: int, *, title: str, body: str, state: str) -> None:
        _check_repo(repo)
        data = {"title": title[:256], "body": fit(body, COMMENT_LIMIT, "issue"), "state": state}
        self._write(f"edit issue {repo}#{number}",
                    lambda: self._json("PATCH", f"/repos/{repo}/issues/{int(number)}", body=data), idempotent=True)


def _refused_contexts(data: Any) -> tuple[tuple[str, str], ...]:
    """(context, state) of GitHub's 409 body (`errors[].contexts[]`) that are not green, best effort."""
    out: list[tuple[str, str]] = []
    for err in data.get("errors") or () if isinstance(data, dict) else ():
        for ctx in err.get("contexts") or () if isinstance(err, dict) else ():
            if isinstance(ctx, dict) and isinstance(ctx.get("context"), str) and ctx.get("state") != "success":
                out.append((ctx["context"], str(ctx.get("state") or "missing")))
    return tuple(out)


class GitHubForgeFactory:
    """Builds `GitHubForge`s; shares credentials, write spacing and the bot identity between them.

    A forge (and its PyGithub client, with its HTTP connection) is reused per installation and
    per thread: PyGithub clients are not documented as thread-safe.
    """

    def __init__(self, settings: Settings, options: ForgeOptions) -> None:
        self.api_url = str(settings.github_url or "https://api.github.com").rstrip("/")
        self.options = options
        app_id = str(settings.app_id or "").strip()
        private_key = settings.private_key or ""
        token = settings.github_token or ""
        self.creds: AppCredentials | None = None
        self.token = ""
        if app_id and private_key:
            self.creds = AppCredentials(
                self.api_url,
                app_id,
                private_key,
                policy=options.retry,
                clock=options.clock,
                sleep=options.sleep,
                timeout=float(options.timeout),
                user_agent=options.user_agent,
            )
            self.app_id: int | None = int(app_id) if app_id.isdigit() else None
        elif app_id or private_key:
            missing = "MLGATE_PRIVATE_KEY" if app_id else "MLGATE_APP_ID"
            raise AuthError(f"GitHub App mode needs both MLGATE_APP_ID and MLGATE_PRIVATE_KEY; {missing} is not set")
        elif token:
            self.token = token
            self.app_id = None
        else:
            raise AuthError("no GitHub credentials: set MLGATE_APP_ID and MLGATE_PRIVATE_KEY, or MLGATE_GITHUB_TOKEN")
        self._login: str | None = settings.bot_login or None
        self._lock = threading.Lock()
        self._spacers: dict[int | None, Spacer] = {}
        self._etags: dict[int | None, conditional.ConditionalCache] = {}
        self._local = threading.local()

    def __repr__(self) -> str:
        mode = "app" if self.creds else "token"
        return f"forge_factory(api_url={self.api_url!r}, mode={mode})"

    def _spacer(self, key: int | None) -> Spacer:
        with self._lock:
            if key not in self._spacers:
                self._spacers[key] = Spacer(self.options.seconds_between_writes, sleep=self.options.sleep)
            return self._spacers[key]

    def conditional_cache(self, key: int | None) -> conditional.ConditionalCache:
        """The ETag cache of one installation (None: token mode), shared by its threads."""
        with self._lock:
            if key not in self._etags:
                self._etags[key] = conditional.ConditionalCache()
            return self._etags[key]

    def bot_login(self) -> str:
        if self._login is None:
            login = f"{self.creds.app_slug()}[bot]" if self.creds else self._forge(None).authenticated_login()
            with self._lock:
                self._login = login
        return self._login

    def _forge(self, installation: int | None) -> GitHubForge:
        cache: dict[int | None, GitHubForge] = self._local.__dict__.setdefault("forges", {})
        if installation not in cache:
            creds = self.creds
            if creds is not None and installation is not None:
                auth: Auth = _TokenAuth(lambda: creds.installation_token(installation))
            else:
                auth = github.Auth.Token(self.token)
            opts = self.options
            client = github.Github(
                auth=auth,
                base_url=self.api_url,
                timeout=opts.timeout,
                user_agent=opts.user_agent,
                per_page=opts.per_page,
                retry=None,
                seconds_between_requests=opts.seconds_between_requests,
                seconds_between_writes=0,
                lazy=True,
            )
            if opts.conditional_requests:
                conditional.install(client, self.conditional_cache(installation))
            cache[installation] = GitHubForge(
                client,
                retrier=Retrier(opts.retry, classify, sleep=opts.sleep, clock=opts.clock),
                spacer=self._spacer(installation),
                bot_login=self.bot_login,
                app_id=self.app_id,
                clock=opts.clock,
                reauthenticate=(lambda: creds.forget(installation)) if creds and installation is not None else None,
                checks_as_statuses=creds is None,
            )
        return cache[installation]

    def __call__(self, repo: str, installation_id: int | None = None) -> GitHubForge:
        _check_repo(repo)
        if self.creds is None:
            return self._forge(None)
        if installation_id is None:
            installation_id = self.creds.installation_id(repo)
        return self._forge(int(installation_id))


def forge_factory(settings: Settings, options: ForgeOptions | None = None) -> GitHubForgeFactory:
    """`factory(repo, installation_id)` → a Forge for that repository.

    App mode when `settings.app_id` and `settings.private_key` are set (the installation is looked
    up when `installation_id` is None), token mode with `settings.github_token`. Raises `AuthError`
    naming the missing setting otherwise.
    """
    return GitHubForgeFactory(settings, options or ForgeOptions())
