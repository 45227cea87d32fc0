"""The PyGithub adapter against `responses`: the exact REST calls of every Forge method.

Response bodies are GitHub's own examples from `@octokit/openapi` (looked up through the
operation that answers them; the test run installs the package when it is missing), with their
`https://api.github.com` URLs rewritten to a GitHub Enterprise-style base URL, because PyGithub
follows the `url` fields it is given.
"""

from __future__ import annotations

import base64
import copy
import json
import urllib.parse
from typing import Any

import pytest
import responses
from responses import matchers

from mlgate.bot.github.client import (
    ForgeError,
    ForgeOptions,
    GitHubAPIError,
    GitHubForge,
    UncertainWriteError,
    fit,
    forge_factory,
)
from mlgate.bot.github.facts import ChangedFile, CheckRun, Permission, Review
from mlgate.bot.settings import Settings
from mlgate.names import CHECK_OUTPUT_LIMIT, COMMENT_LIMIT
from mlgate.retry import RateLimitedError, RetryPolicy
from tests.conftest import github_openapi

HOST = "ghe.example.test:8443"  # an explicit port: PyGithub always names one in its request URLs
BASE = f"https://{HOST}/api/v3"
REPO = "octocat/Hello-World"
R = f"{BASE}/repos/{REPO}"
TOKEN = "ghp_test_token_not_a_secret"

# -- GitHub's OpenAPI examples ---------------------------------------------------------------


def rebase(value: Any) -> Any:
    """The example with GitHub.com API URLs pointing at the test server."""
    return json.loads(json.dumps(value).replace("https://api.github.com", BASE))


def op_example(path: str, method: str, status: str = "200", name: str | None = None) -> Any:
    """The example response body GitHub documents for one operation (a deep copy, URLs rebased)."""
    spec = github_openapi()
    content = spec["paths"][path][method]["responses"][status]["content"]
    media = content.get("application/json") or next(iter(content.values()))
    examples = media["examples"]
    entry = examples[name] if name else next(iter(examples.values()))
    if "$ref" in entry:
        entry = spec["components"]["examples"][entry["$ref"].rsplit("/", 1)[1]]
    return rebase(copy.deepcopy(entry["value"]))


NOT_FOUND = {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


# -- fixtures ----------------------------------------------------------------------------------


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


NOW = 1_790_000_000.0  # 2026-09-21; a fixed clock


def options(sleeps: Sleeps, **policy: Any) -> ForgeOptions:
    return ForgeOptions(
        retry=RetryPolicy(**policy),
        seconds_between_writes=0,
        sleep=sleeps,
        clock=lambda: NOW,
    )


def token_forge(sleeps: Sleeps, bot_login: str | None = "mlgate[bot]", **policy: Any) -> GitHubForge:
    settings = Settings(github_url=BASE, app_id=None, private_key=None, github_token=TOKEN, bot_login=bot_login)
    return forge_factory(settings, options(sleeps, **policy))(REPO, None)


@pytest.fixture
def forge(sleeps: Sleeps) -> GitHubForge:
    return token_forge(sleeps)


@pytest.fixture
def app_checks_forge(sleeps: Sleeps) -> GitHubForge:
    """A forge that writes check runs, as in App mode (a token-mode forge writes the commit status
    instead: GitHub refuses check runs to users); how it authenticates is not what these tests test."""
    f = token_forge(sleeps)
    f.checks_as_statuses = False
    return f


def calls(mock: responses.RequestsMock) -> list[tuple[str, str]]:
    """(method, path?query) of every request made, in order; query parameters sorted and decoded."""
    out = []
    for call in mock.calls:
        url = urllib.parse.urlsplit(call.request.url)
        assert url.netloc == HOST, call.request.url
        query = "&".join(f"{k}={v}" for k, v in sorted(urllib.parse.parse_qsl(url.query)))
        out.append((call.request.method, url.path.removeprefix("/api/v3") + (f"?{query}" if query else "")))
    return out


def body(mock: responses.RequestsMock, index: int) -> Any:
    return json.loads(mock.calls[index].request.body)


def link(path: str, page: int, last: int) -> dict[str, str]:
    url = f"{BASE}{path}?per_page=100&page="
    return {"Link": f'<{url}{page}>; rel="next", <{url}{last}>; rel="last"'}


def page(n: int) -> list:
    return [matchers.query_param_matcher({"per_page": "100", "page": str(n)})]


# -- pull_facts --------------------------------------------------------------------------------

PULL = "/repos/{owner}/{repo}/pulls/{pull_number}"


def test_pull_facts_builds_the_snapshot_from_six_calls(rsps, forge):
    pr = op_example(PULL, "get")
    files = op_example(PULL + "/files", "get")
    renamed = {**files[0], "filename": "train/model.py", "status": "renamed", "previous_filename": "train/old.py"}
    reviews = op_example(PULL + "/reviews", "get")
    runs = op_example("/repos/{owner}/{repo}/commits/{ref}/check-runs", "get")
    status = op_example("/repos/{owner}/{repo}/commits/{ref}/status", "get")
    members = op_example("/orgs/{org}/teams/{team_slug}/members", "get")
    sha = pr["head"]["sha"]
    rsps.get(f"{R}/pulls/1347", json=pr)
    rsps.get(f"{R}/pulls/1347/files", json=files, headers=link(f"/repos/{REPO}/pulls/1347/files", 2, 2))
    rsps.get(f"{R}/pulls/1347/files", json=[renamed], match=page(2))
    rsps.get(f"{R}/pulls/1347/reviews", json=reviews)
    rsps.get(f"{R}/commits/{sha}/check-runs", json=runs)
    rsps.get(f"{R}/commits/{sha}/status", json=status)
    rsps.get(f"{BASE}/orgs/ml/teams/reviewers/members", json=members)

    facts = forge.pull_facts(REPO, 1347, teams=["ml/reviewers"])

    assert calls(rsps) == [
        ("GET", f"/repos/{REPO}/pulls/1347"),
        ("GET", f"/repos/{REPO}/pulls/1347/files?per_page=100"),
        ("GET", f"/repos/{REPO}/pulls/1347/files?page=2&per_page=100"),
        ("GET", f"/repos/{REPO}/pulls/1347/reviews?per_page=100"),
        ("GET", f"/repos/{REPO}/commits/{sha}/check-runs?per_page=100"),
        ("GET", f"/repos/{REPO}/commits/{sha}/status?page=1&per_page=100"),
        ("GET", "/orgs/ml/teams/reviewers/members?per_page=100"),
    ]
    assert rsps.calls[0].request.headers["Authorization"] == f"token {TOKEN}"
    assert (facts.repo, facts.number, facts.title) == (REPO, 1347, pr["title"])
    assert (facts.author, facts.state, facts.merged, facts.draft) == ("octocat", "open", False, False)
    assert (facts.head_sha, facts.head_ref, facts.head_repo) == (sha, "new-topic", "octocat/Hello-World")
    assert (facts.base_ref, facts.base_sha) == ("master", pr["base"]["sha"])
    assert facts.labels == ("bug",)
    assert facts.files == (
        ChangedFile("file1.txt", "added", None),
        ChangedFile("train/model.py", "renamed", "train/old.py"),
    )
    assert facts.changed_paths == ("file1.txt", "train/model.py", "train/old.py")
    assert facts.reviews == (
        Review(80, "octocat", "APPROVED", "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091", "2019-11-17T17:43:43Z"),
    )
    run = runs["check_runs"][0]
    assert facts.checks[0] == CheckRun(
        name="mighty_readme",
        status="completed",
        conclusion="neutral",
        app="octoapp",
        head_sha=run["head_sha"],
        id=4,
        details_url="https://example.com",
        summary=run["output"]["summary"],
        text=run["output"]["text"],
    )
    assert facts.checks[1:] == (
        CheckRun(
            "continuous-integration/jenkins",
            "completed",
            "success",
            None,
            status["sha"],
            id=1,
            details_url="https://ci.example.com/1000/output",
            summary="Build has completed successfully",
            kind="status",
        ),
        CheckRun(
            "security/brakeman",
            "completed",
            "success",
            None,
            status["sha"],
            id=2,
            details_url="https://ci.example.com/2000/output",
            summary="Testing has completed successfully",
            kind="status",
        ),
    )
    assert facts.team_members == {"ml/reviewers": ("octocat",)}


def test_statuses_map_states_and_follow_pages(rsps, forge):
    pr = op_example(PULL, "get")
    sha = pr["head"]["sha"]
    status = op_example("/repos/{owner}/{repo}/commits/{ref}/status", "get")
    first = copy.deepcopy(status["statuses"][0])
    pending = {**first, "id": 7, "context": "ci/pending", "state": "pending"}
    errored = {**first, "id": 8, "context": "ci/error", "state": "error", "description": "runner died"}
    rsps.get(f"{R}/pulls/1347", json=pr)
    rsps.get(f"{R}/pulls/1347/files", json=[])
    rsps.get(f"{R}/pulls/1347/reviews", json=[])
    rsps.get(f"{R}/commits/{sha}/check-runs", json={"total_count": 0, "check_runs": []})
    rsps.get(f"{R}/commits/{sha}/status", json={**status, "statuses": [pending], "total_count": 2}, match=page(1))
    rsps.get(f"{R}/commits/{sha}/status", json={**status, "statuses": [errored], "total_count": 2}, match=page(2))

    checks = forge.pull_facts(REPO, 1347).checks

    assert [(c.name, c.status, c.conclusion, c.kind, c.app) for c in checks] == [
        ("ci/pending", "pending", None, "status", None),
        ("ci/error", "completed", "failure", "status", None),
    ]
    assert checks[1].summary == "runner died"
    assert len(rsps.calls) == 6


def test_reviews_are_read_from_every_page(rsps, forge):
    pr = op_example(PULL, "get")
    sha = pr["head"]["sha"]
    reviews = op_example(PULL + "/reviews", "get")
    later = {**copy.deepcopy(reviews[0]), "id": 81, "state": "CHANGES_REQUESTED", "commit_id": sha}
    later["user"]["login"] = "hubot"
    rsps.get(f"{R}/pulls/1347", json=pr)
    rsps.get(f"{R}/pulls/1347/files", json=[])
    rsps.get(f"{R}/pulls/1347/reviews", json=reviews, headers=link(f"/repos/{REPO}/pulls/1347/reviews", 2, 2))
    rsps.get(f"{R}/pulls/1347/reviews", json=[later], match=page(2))
    rsps.get(f"{R}/commits/{sha}/check-runs", json={"total_count": 0, "check_runs": []})
    rsps.get(f"{R}/commits/{sha}/status", json={"sha": sha, "statuses": [], "total_count": 0})

    facts = forge.pull_facts(REPO, 1347)

    assert [(r.id, r.user, r.state, r.commit_id) for r in facts.reviews] == [
        (80, "octocat", "APPROVED", "ecdd80bb57125d7ba9641ffaa4d7d2c19d3f3091"),
        (81, "hubot", "CHANGES_REQUESTED", sha),
    ]
    assert ("GET", f"/repos/{REPO}/pulls/1347/reviews?page=2&per_page=100") in calls(rsps)


def test_open_pull_numbers(rsps, forge):
    rsps.get(f"{R}/pulls", json=op_example("/repos/{owner}/{repo}/pulls", "get"))
    assert forge.open_pull_numbers(REPO) == [1347]
    assert calls(rsps) == [("GET", f"/repos/{REPO}/pulls?per_page=100&state=open")]


def test_bad_repository_name_is_refused_before_any_call(forge):
    with pytest.raises(ValueError, match="owner/name"):
        forge.pull_facts("not-a-repo", 1)


# -- read_file ---------------------------------------------------------------------------------

CONTENTS = "/repos/{owner}/{repo}/contents/{path}"


def test_read_file_decodes_base64_and_returns_the_blob_sha(rsps, forge):
    text = "merge:\n  batch_size: 4\n# ünïcode survives\n" * 20
    data = op_example(CONTENTS, "get", name="response-if-content-is-a-file")
    # The published example's `content` is not valid base64 (it holds literal "\n" sequences);
    # GitHub sends base64 wrapped at 60 columns, as here.
    encoded = base64.b64encode(text.encode()).decode()
    data["content"] = "\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60))
    rsps.get(f"{R}/contents/.github/mlgate.yml", json=data)

    assert forge.read_file(REPO, ".github/mlgate.yml", "main") == (text, data["sha"])
    assert calls(rsps) == [("GET", f"/repos/{REPO}/contents/.github/mlgate.yml?ref=main")]


def test_read_file_missing_is_none(rsps, forge):
    rsps.get(f"{R}/contents/.github/mlgate.yml", status=404, json=NOT_FOUND)
    assert forge.read_file(REPO, ".github/mlgate.yml", "main") is None
    assert len(rsps.calls) == 1  # a 404 is final, not retried


def test_read_file_directory_is_an_error(rsps, forge):
    rsps.get(f"{R}/contents/.github", json=op_example(CONTENTS, "get", name="response-if-content-is-a-directory"))
    with pytest.raises(ForgeError, match="is a directory, not a file"):
        forge.read_file(REPO, ".github", "main")


def test_read_file_large_file_falls_back_to_the_blob(rsps, forge):
    data = op_example(CONTENTS, "get", name="response-if-content-is-a-file")
    data.update(content="", encoding="none")
    blob = op_example("/repos/{owner}/{repo}/git/blobs/{file_sha}", "get")
    blob["content"] = base64.b64encode(b"big: true\n").decode()
    rsps.get(f"{R}/contents/big.yml", json=data)
    rsps.get(f"{R}/git/blobs/{data['sha']}", json=blob)
    assert forge.read_file(REPO, "big.yml", "abc123") == ("big: true\n", data["sha"])
    assert calls(rsps)[1] == ("GET", f"/repos/{REPO}/git/blobs/{data['sha']}")


# -- permission and teams ----------------------------------------------------------------------

PERMISSION = "/repos/{owner}/{repo}/collaborators/{username}/permission"


def test_permission_from_the_documented_answer(rsps, forge):
    rsps.get(f"{R}/collaborators/octocat/permission", json=op_example(PERMISSION, "get"))
    assert forge.permission(REPO, "octocat") is Permission.ADMIN
    assert calls(rsps) == [("GET", f"/repos/{REPO}/collaborators/octocat/permission")]


@pytest.mark.parametrize(
    ("permission", "role", "expected"),
    [
        ("write", "maintain", Permission.MAINTAIN),
        ("read", "triage", Permission.TRIAGE),
        ("write", "ml-engineer", Permission.WRITE),  # a custom role: its base permission
        ("none", None, Permission.NONE),
    ],
)
def test_permission_role_names(rsps, forge, permission, role, expected):
    data = op_example(PERMISSION, "get")
    data.update(permission=permission, role_name=role)
    rsps.get(f"{R}/collaborators/alice/permission", json=data)
    assert forge.permission(REPO, "alice") is expected


def test_permission_of_a_stranger_is_none(rsps, forge):
    rsps.get(f"{R}/collaborators/stranger/permission", status=404, json=NOT_FOUND)
    assert forge.permission(REPO, "stranger") is Permission.NONE


def test_team_members_pages_and_missing_team(rsps, forge):
    members = op_example("/orgs/{org}/teams/{team_slug}/members", "get")
    other = {**copy.deepcopy(members[0]), "login": "hubot", "id": 2}
    rsps.get(f"{BASE}/orgs/ml/teams/owners/members", json=members, headers=link("/orgs/ml/teams/owners/members", 2, 2))
    rsps.get(f"{BASE}/orgs/ml/teams/owners/members", json=[other], match=page(2))
    rsps.get(f"{BASE}/orgs/ml/teams/ghosts/members", status=404, json=NOT_FOUND)
    assert forge.team_members("ml", "owners") == ("octocat", "hubot")
    assert forge.team_members("ml", "ghosts") == ()


# -- comments ----------------------------------------------------------------------------------

COMMENTS = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
COMMENT = "/repos/{owner}/{repo}/issues/comments/{comment_id}"
MARKER = "<!-- mlgate:report -->"


def comment(cid: int, login: str, text: str) -> dict[str, Any]:
    item = op_example(COMMENTS, "get")[0]
    item.update(id=cid, body=text, url=f"{R}/issues/comments/{cid}")
    item["user"]["login"] = login
    return item


def test_find_comment_pages_and_skips_other_authors(rsps, forge):
    page1 = [*op_example(COMMENTS, "get"), comment(2, "mallory", f"{MARKER} fake report")]
    rsps.get(f"{R}/issues/1347/comments", json=page1, headers=link(f"/repos/{REPO}/issues/1347/comments", 2, 2))
    rsps.get(f"{R}/issues/1347/comments", json=[comment(3, "mlgate[bot]", f"{MARKER}\nreport")], match=page(2))

    assert forge.find_comment(REPO, 1347, MARKER) == (3, f"{MARKER}\nreport")
    assert calls(rsps) == [
        ("GET", f"/repos/{REPO}/issues/1347/comments?per_page=100"),
        ("GET", f"/repos/{REPO}/issues/1347/comments?page=2&per_page=100"),
    ]


def test_find_comment_none_and_token_mode_identity(rsps, sleeps):
    forge = token_forge(sleeps, bot_login=None)
    user = op_example("/user", "get", name="response-with-public-profile-information")
    user["login"] = "mlgate-bot"
    rsps.get(f"{BASE}/user", json=user)
    rsps.get(f"{R}/issues/1347/comments", json=[comment(3, "mlgate-bot", "no marker here")])
    assert forge.find_comment(REPO, 1347, MARKER) is None
    assert calls(rsps)[0] == ("GET", "/user")


def test_create_comment(rsps, forge):
    rsps.post(f"{R}/issues/1347/comments", status=201, json=op_example(COMMENTS, "post", "201"))
    assert forge.create_comment(REPO, 1347, "hello") == 1
    assert calls(rsps) == [("POST", f"/repos/{REPO}/issues/1347/comments")]
    assert body(rsps, 0) == {"body": "hello"}


def test_comment_post_answered_502_is_confirmed_not_reposted(rsps, forge, sleeps):
    rsps.post(f"{R}/issues/1347/comments", status=502, json={"message": "Server Error"})
    rsps.get(f"{R}/issues/1347/comments", json=[comment(9, "mlgate[bot]", "hello")])

    assert forge.create_comment(REPO, 1347, "hello") == 9
    assert calls(rsps) == [
        ("POST", f"/repos/{REPO}/issues/1347/comments"),
        ("GET", f"/repos/{REPO}/issues/1347/comments?per_page=100&since=2026-09-21T14:08:20Z"),
    ]
    assert sleeps == [1.0]


def test_comment_post_answered_502_and_not_found_raises_without_reposting(rsps, forge):
    rsps.post(f"{R}/issues/1347/comments", status=502, json={"message": "Server Error"})
    rsps.get(f"{R}/issues/1347/comments", json=[comment(9, "mlgate[bot]", "another text")])

    with pytest.raises(UncertainWriteError, match="not re-sent"):
        forge.create_comment(REPO, 1347, "hello")
    assert [m for m, _ in calls(rsps)] == ["POST", "GET"]


def test_comment_post_refused_by_secondary_rate_limit_is_sent_again_after_retry_after(rsps, forge, sleeps):
    limited = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."}
    rsps.post(f"{R}/issues/1347/comments", status=403, json=limited, headers={"Retry-After": "7"})
    rsps.post(f"{R}/issues/1347/comments", status=201, json=op_example(COMMENTS, "post", "201"))

    assert forge.create_comment(REPO, 1347, "hello") == 1
    assert [m for m, _ in calls(rsps)] == ["POST", "POST"]
    assert sleeps == [7.0]


def test_update_comment_and_reaction(rsps, forge):
    rsps.patch(f"{R}/issues/comments/42", json=op_example(COMMENT, "patch"))
    rsps.post(
        f"{R}/issues/comments/42/reactions",
        status=201,
        json=op_example("/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions", "post", "201"),
    )
    forge.update_comment(REPO, 42, "new body")
    forge.add_reaction(REPO, 42, "+1")
    assert calls(rsps) == [
        ("PATCH", f"/repos/{REPO}/issues/comments/42"),
        ("POST", f"/repos/{REPO}/issues/comments/42/reactions"),
    ]
    assert body(rsps, 0) == {"body": "new body"}
    assert body(rsps, 1) == {"content": "+1"}


def test_update_comment_is_retried_after_502(rsps, forge, sleeps):
    rsps.patch(f"{R}/issues/comments/42", status=502, json={"message": "Server Error"})
    rsps.patch(f"{R}/issues/comments/42", json=op_example(COMMENT, "patch"))
    forge.update_comment(REPO, 42, "new body")
    assert [m for m, _ in calls(rsps)] == ["PATCH", "PATCH"]
    assert sleeps == [1.0]


def test_overlong_comment_is_truncated_with_a_note(rsps, forge):
    rsps.patch(f"{R}/issues/comments/42", json=op_example(COMMENT, "patch"))
    forge.update_comment(REPO, 42, MARKER + "x" * 70_000)
    sent = body(rsps, 0)["body"]
    assert sent.startswith(MARKER)
    assert len(sent.encode()) <= COMMENT_LIMIT
    assert "truncated by mlgate" in sent


# -- check runs --------------------------------------------------------------------------------

SHA = "ce587453ced02b1526dfb4cb910479d431683101"


def test_set_check_creates_when_this_app_has_no_run(rsps, app_checks_forge):
    forge = app_checks_forge
    rsps.get(
        f"{R}/commits/{SHA}/check-runs",
        json={"total_count": 0, "check_runs": []},
        match=[matchers.query_param_matcher({"check_name": "mlgate", "per_page": "100"})],
    )
    rsps.post(
        f"{R}/check-runs",
        status=201,
        json=op_example("/repos/{owner}/{repo}/check-runs", "post", "201", "example-of-completed-conclusion"),
    )
    run_id = forge.set_check(
        REPO, SHA, "mlgate", status="completed", conclusion="failure", title="1 gate failing", summary="s", text="t"
    )
    assert run_id == 4
    assert calls(rsps) == [
        ("GET", f"/repos/{REPO}/commits/{SHA}/check-runs?check_name=mlgate&per_page=100"),
        ("POST", f"/repos/{REPO}/check-runs"),
    ]
    assert body(rsps, 1) == {
        "name": "mlgate",
        "head_sha": SHA,
        "external_id": "mlgate",
        "status": "completed",
        "conclusion": "failure",
        "output": {"title": "1 gate failing", "summary": "s", "text": "t"},
    }


def test_set_check_updates_its_own_run_and_ignores_a_namesake(rsps, app_checks_forge):
    forge = app_checks_forge
    runs = op_example("/repos/{owner}/{repo}/commits/{ref}/check-runs", "get")
    foreign = {**copy.deepcopy(runs["check_runs"][0]), "id": 3, "name": "mlgate", "external_id": ""}
    ours = {**copy.deepcopy(runs["check_runs"][0]), "id": 5, "name": "mlgate", "external_id": "mlgate"}
    rsps.get(f"{R}/commits/{SHA}/check-runs", json={"total_count": 2, "check_runs": [foreign, ours]})
    rsps.patch(f"{R}/check-runs/5", json=op_example("/repos/{owner}/{repo}/check-runs/{check_run_id}", "patch"))

    run_id = forge.set_check(REPO, SHA, "mlgate", status="in_progress", conclusion=None, title="running", summary="…")

    assert run_id == 5
    assert calls(rsps) == [
        ("GET", f"/repos/{REPO}/commits/{SHA}/check-runs?check_name=mlgate&per_page=100"),
        ("PATCH", f"/repos/{REPO}/check-runs/5"),
    ]
    assert body(rsps, 1) == {"status": "in_progress", "output": {"title": "running", "summary": "…"}}


def test_set_check_truncates_summary_and_text(rsps, app_checks_forge):
    forge = app_checks_forge
    rsps.get(f"{R}/commits/{SHA}/check-runs", json={"total_count": 0, "check_runs": []})
    rsps.post(
        f"{R}/check-runs",
        status=201,
        json=op_example("/repos/{owner}/{repo}/check-runs", "post", "201", "example-of-completed-conclusion"),
    )
    summary = "| gate | ok |\n" * 6000  # 84,000 characters
    text = "```json\n" + "é" * 40_000 + "\n```"  # 40,012 characters but 80,012 UTF-8 bytes
    forge.set_check(
        REPO, SHA, "mlgate", status="completed", conclusion="success", title="t", summary=summary, text=text
    )
    output = body(rsps, 1)["output"]
    for key, original in (("summary", summary), ("text", text)):
        sent = output[key]
        assert len(sent.encode()) <= CHECK_OUTPUT_LIMIT
        assert sent.endswith(f"the {key} is {len(original.encode()):,} bytes (UTF-8), more than GitHub's limit of "
                             "65,535 bytes; the rest is not shown.*")
        assert original.startswith(sent[:1000])
    assert output["text"].count("```") % 2 == 0  # the cut code fence was closed


def test_check_post_answered_502_finds_the_created_run(rsps, app_checks_forge):
    forge = app_checks_forge
    runs = op_example("/repos/{owner}/{repo}/commits/{ref}/check-runs", "get")
    ours = {**runs["check_runs"][0], "id": 5, "name": "mlgate", "external_id": "mlgate"}
    rsps.get(f"{R}/commits/{SHA}/check-runs", json={"total_count": 0, "check_runs": []})
    rsps.post(f"{R}/check-runs", status=502, json={"message": "Server Error"})
    rsps.get(f"{R}/commits/{SHA}/check-runs", json={"total_count": 1, "check_runs": [ours]})

    assert forge.set_check(REPO, SHA, "mlgate", status="queued", conclusion=None, title="t", summary="s") == 5
    assert [m for m, _ in calls(rsps)] == ["GET", "POST", "GET"]


# -- review requests ---------------------------------------------------------------------------


def test_request_reviewers(rsps, forge):
    rsps.post(
        f"{R}/pulls/1347/requested_reviewers",
        status=201,
        json=op_example(PULL + "/requested_reviewers", "post", "201"),
    )
    forge.request_reviewers(REPO, 1347, ("octocat",), ("ml/owners",))
    forge.request_reviewers(REPO, 1347, (), ())  # nothing to ask: no call
    assert calls(rsps) == [("POST", f"/repos/{REPO}/pulls/1347/requested_reviewers")]
    assert body(rsps, 0) == {"reviewers": ["octocat"], "team_reviewers": ["owners"]}


def test_client_errors_are_final_and_wrapped(rsps, forge, sleeps):
    invalid = {"message": "Reviews may only be requested from collaborators."}
    rsps.post(f"{R}/pulls/1347/requested_reviewers", status=422, json=invalid)
    with pytest.raises(GitHubAPIError, match="HTTP 422: Reviews may only be requested") as info:
        forge.request_reviewers(REPO, 1347, ("stranger",), ())
    assert info.value.status == 422
    assert len(rsps.calls) == 1 and sleeps == []


# -- retries on reads --------------------------------------------------------------------------


def test_get_answered_502_then_200_is_retried(rsps, forge, sleeps):
    rsps.get(f"{R}/pulls", status=502, json={"message": "Server Error"})
    rsps.get(f"{R}/pulls", json=op_example("/repos/{owner}/{repo}/pulls", "get"))
    assert forge.open_pull_numbers(REPO) == [1347]
    assert len(rsps.calls) == 2
    assert sleeps == [1.0]


def test_persistent_5xx_gives_up_after_the_attempt_budget(rsps, sleeps):
    forge = token_forge(sleeps, max_attempts=3)
    rsps.get(f"{R}/pulls", status=503, json={"message": "Service Unavailable"})
    with pytest.raises(GitHubAPIError, match="HTTP 503"):
        forge.open_pull_numbers(REPO)
    assert len(rsps.calls) == 3
    assert sleeps == [1.0, 2.0]


def test_primary_rate_limit_waits_until_reset(rsps, forge, sleeps):
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000", "X-RateLimit-Reset": str(int(NOW) + 42)}
    limited = {"message": "API rate limit exceeded for installation ID 1."}
    rsps.get(f"{R}/pulls", status=403, json=limited, headers=headers)
    rsps.get(f"{R}/pulls", json=op_example("/repos/{owner}/{repo}/pulls", "get"))
    assert forge.open_pull_numbers(REPO) == [1347]
    assert sleeps == [43.0]  # until the reset second, plus one


def test_rate_limit_beyond_the_budget_raises_with_the_wait(rsps, forge, sleeps):
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW) + 1800)}
    rsps.get(f"{R}/pulls", status=403, json={"message": "API rate limit exceeded"}, headers=headers)
    with pytest.raises(RateLimitedError) as info:
        forge.open_pull_numbers(REPO)
    assert info.value.wait == 1801.0
    assert sleeps == []


def test_429_with_retry_after(rsps, forge, sleeps):
    rsps.get(f"{R}/pulls", status=429, json={"message": "Too Many Requests"}, headers={"Retry-After": "3"})
    rsps.get(f"{R}/pulls", json=op_example("/repos/{owner}/{repo}/pulls", "get"))
    assert forge.open_pull_numbers(REPO) == [1347]
    assert sleeps == [3.0]


def test_forbidden_without_rate_limit_signs_is_final(rsps, forge, sleeps):
    rsps.get(f"{R}/pulls", status=403, json={"message": "Resource not accessible by integration"})
    with pytest.raises(GitHubAPIError, match="Resource not accessible"):
        forge.open_pull_numbers(REPO)
    assert sleeps == []


# -- pure helpers ------------------------------------------------------------------------------


def test_fit_leaves_short_text_alone():
    assert fit("short", 10, "summary") == "short"
    assert fit("x" * 10, 10, "summary") == "x" * 10


def test_fit_never_splits_a_character():
    out = fit("€" * 100, 200, "text")  # 300 bytes
    assert len(out.encode()) <= 200
    out.encode("utf-8")  # a split character would have been dropped, not kept broken
    assert out.startswith("€")


def test_fit_counts_as_github_counts_and_says_what_it_cut():
    """Comments are limited in characters (65,536), check-run output in bytes (65,535: GitHub answers
    "summary exceeds a maximum bytesize of 65535", whatever its docs say)."""
    euros = "€" * 40_000  # 40,000 characters, 120,000 bytes
    assert fit(euros, COMMENT_LIMIT, "comment", unit="characters") == euros
    out = fit(euros, CHECK_OUTPUT_LIMIT, "summary", unit="bytes")
    assert len(out.encode()) <= CHECK_OUTPUT_LIMIT
    assert out.endswith("*… truncated by mlgate: the summary is 120,000 bytes (UTF-8), more than GitHub's "
                        "limit of 65,535 bytes; the rest is not shown.*")
    out = fit("x" * 70_000, COMMENT_LIMIT, "comment", unit="characters")
    assert len(out) <= COMMENT_LIMIT
    assert "the comment is 70,000 characters, more than GitHub's limit of 65,536 characters" in out


def test_a_long_comment_of_wide_characters_is_sent_whole(rsps, forge):
    rsps.patch(f"{R}/issues/comments/42", json=op_example(COMMENT, "patch"))
    forge.update_comment(REPO, 42, MARKER + "€" * 40_000)
    sent = body(rsps, 0)["body"]
    assert sent == MARKER + "€" * 40_000 and "truncated" not in sent


# -- against the local sandbox, over real HTTP, in App mode -----------------------------------


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    from mlgate.sandbox.harness import SandboxServer

    server = SandboxServer(
        tmp_path_factory.mktemp("sandbox"), users=("alice", "bob", "carol"), orgs={"acme": ["alice"]}
    )
    server.start()
    yield server
    server.stop()


def test_forge_against_the_sandbox_in_app_mode(sandbox, tmp_path):
    api = sandbox.api
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / ".github" / "mlgate.yml").write_text("review: {}\n")
    (src / "train.py").write_text("EPOCHS = 1\n")
    repo = sandbox.create_repo("acme", "gated", "alice", from_dir=src)["full_name"]
    api("PUT", f"/repos/{repo}/collaborators/bob", "alice", json={"permission": "push"}).raise_for_status()
    api("POST", "/orgs/acme/teams", "alice", json={"name": "ml-owners"}).raise_for_status()
    api("PUT", "/orgs/acme/teams/ml-owners/memberships/carol", "alice", json={"role": "member"}).raise_for_status()
    head = sandbox.push_files("acme", "gated", "tune", {"train.py": "EPOCHS = 2\n"}, "bob", base="main")
    number = sandbox.open_pr("acme", "gated", "tune", "bob", title="More epochs")["number"]
    app = sandbox.register_app_from_manifest(owner="alice", name="mlgate-e2e")  # the repository's app.yml
    sandbox.install_app(app.id, "acme")

    settings = Settings(
        github_url=sandbox.api_url, app_id=app.id, private_key=app.private_key, github_token=None
    )
    forge = forge_factory(settings, ForgeOptions(seconds_between_writes=0, sleep=Sleeps()))(repo, None)

    facts = forge.pull_facts(repo, number, teams=["acme/ml-owners"])
    assert (facts.author, facts.head_sha, facts.head_ref, facts.base_ref) == ("bob", head, "tune", "main")
    assert facts.files == (ChangedFile("train.py", "modified"),)
    assert facts.team_members == {"acme/ml-owners": ("carol",)}
    assert forge.open_pull_numbers(repo) == [number]
    assert forge.read_file(repo, ".github/mlgate.yml", "main")[0] == "review: {}\n"
    assert forge.read_file(repo, ".github/absent.yml", "main") is None
    assert forge.permission(repo, "bob") is Permission.WRITE

    api("POST", f"/repos/{repo}/pulls/{number}/reviews", "alice", json={"event": "APPROVE"}).raise_for_status()
    api("POST", f"/repos/{repo}/statuses/{head}", "alice", json={"state": "success", "context": "ci/tests"})
    marker = "<!-- mlgate:report -->"
    cid = forge.create_comment(repo, number, f"{marker}\nfirst")
    assert forge.find_comment(repo, number, marker) == (cid, f"{marker}\nfirst")
    forge.update_comment(repo, cid, f"{marker}\nsecond")
    assert forge.find_comment(repo, number, marker) == (cid, f"{marker}\nsecond")
    forge.add_reaction(repo, cid, "+1")
    run = forge.set_check(repo, head, "mlgate", status="in_progress", conclusion=None, title="t", summary="s")
    again = forge.set_check(repo, head, "mlgate", status="completed", conclusion="success", title="t", summary="ok")
    assert again == run
    forge.request_reviewers(repo, number, ("alice",), ())

    facts = forge.pull_facts(repo, number)
    assert [(r.user, r.state, r.commit_id) for r in facts.reviews] == [("alice", "APPROVED", head)]
    by_name = {c.name: c for c in facts.checks}
    assert (by_name["mlgate"].app, by_name["mlgate"].conclusion, by_name["mlgate"].summary) == (
        "mlgate-e2e",
        "success",
        "ok",
    )
    assert (by_name["ci/tests"].kind, by_name["ci/tests"].conclusion) == ("status", "success")

    # output over GitHub's byte limit (but under 65,535 characters) is cut and says so: no 422
    wide = forge.set_check(repo, head, "mlgate", status="completed", conclusion="success", title="t",
                           summary="€" * 40_000)
    run = api("GET", f"/repos/{repo}/check-runs/{wide}", "alice").json()
    assert run["output"]["summary"].endswith("more than GitHub's limit of 65,535 bytes; the rest is not shown.*")

    # a 502 on the comment POST: the comment is looked for, never posted twice
    sandbox.inject_fault("/repos/{owner}/{repo}/issues/{issue_number}/comments", kind="502", method="POST")
    with pytest.raises(UncertainWriteError):
        forge.create_comment(repo, number, "reply")
    bodies = [c["body"] for c in api("GET", f"/repos/{repo}/issues/{number}/comments", "alice").json()]
    assert bodies.count("reply") == 0


def test_connection_failures_leave_as_forge_errors_after_retries(rsps, sleeps):
    import requests

    forge = token_forge(sleeps, max_attempts=2)
    rsps.get(f"{R}/pulls", body=requests.exceptions.ConnectionError("connection reset"))
    with pytest.raises(GitHubAPIError, match="connection failed"):
        forge.open_pull_numbers(REPO)
    assert len(rsps.calls) == 2 and sleeps == [1.0]


def test_writes_of_one_installation_are_spaced_reads_are_not(rsps, sleeps):
    settings = Settings(github_url=BASE, app_id=None, private_key=None, github_token=TOKEN, bot_login="b")
    factory = forge_factory(settings, ForgeOptions(seconds_between_writes=1.0, sleep=sleeps, clock=lambda: NOW))
    rsps.patch(f"{R}/issues/comments/42", json=op_example(COMMENT, "patch"))
    rsps.get(f"{R}/pulls", json=op_example("/repos/{owner}/{repo}/pulls", "get"))
    factory(REPO, None).update_comment(REPO, 42, "a")
    factory(REPO, None).open_pull_numbers(REPO)
    factory(REPO, None).open_pull_numbers(REPO)
    assert sleeps == []
    factory(REPO, None).update_comment(REPO, 42, "b")
    assert len(sleeps) == 1 and 0.5 < sleeps[0] <= 1.0  # the second write waited out the rest of the second
