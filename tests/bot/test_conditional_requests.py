"""Conditional requests (bot/github/conditional.py): a repeated GET carries the ETag, a 304 is answered
from the kept body, and GitHub's rate limit (the sandbox's) is not charged for it."""

from __future__ import annotations

import base64

import pytest

from mlgate.bot.github.client import ForgeOptions, forge_factory
from mlgate.bot.github.facts import Permission
from mlgate.bot.settings import Settings
from mlgate.sandbox.harness import SandboxServer
from tests.bot.test_github_adapter import BASE, REPO, R, Sleeps, op_example, token_forge

CONTENTS = "/repos/{owner}/{repo}/contents/{path}"


def _file(text: str, sha: str = "3d21ec53a331a6f037a91c368710b99387d012c1") -> dict:
    body = op_example(CONTENTS, "get", name="response-if-content-is-a-file")
    return {**body, "sha": sha, "content": base64.b64encode(text.encode()).decode(), "encoding": "base64"}


def test_a_repeated_read_is_conditional_and_a_304_gives_the_kept_answer(rsps):
    forge = token_forge(Sleeps())
    url = f"{R}/contents/.github/mlgate.yml"
    rsps.get(url, json=_file("version: 1\n"), headers={"ETag": 'W/"v1"'})
    rsps.get(url, status=304, headers={"ETag": 'W/"v1"', "X-RateLimit-Remaining": "4999"})

    first = forge.read_file(REPO, ".github/mlgate.yml", "main")
    second = forge.read_file(REPO, ".github/mlgate.yml", "main")

    assert first == second == ("version: 1\n", "3d21ec53a331a6f037a91c368710b99387d012c1")
    assert "If-None-Match" not in rsps.calls[0].request.headers
    assert rsps.calls[1].request.headers["If-None-Match"] == 'W/"v1"'


def test_a_changed_resource_is_read_in_full_and_replaces_the_kept_one(rsps):
    forge = token_forge(Sleeps())
    url = f"{R}/contents/.github/mlgate.yml"
    rsps.get(url, json=_file("version: 1\n", "a" * 40), headers={"ETag": 'W/"v1"'})
    rsps.get(url, json=_file("version: 2\n", "b" * 40), headers={"ETag": 'W/"v2"'})
    rsps.get(url, status=304, headers={"ETag": 'W/"v2"'})

    assert forge.read_file(REPO, ".github/mlgate.yml", "main")[0] == "version: 1\n"
    assert forge.read_file(REPO, ".github/mlgate.yml", "main")[0] == "version: 2\n"
    assert forge.read_file(REPO, ".github/mlgate.yml", "main")[0] == "version: 2\n"
    assert [c.request.headers.get("If-None-Match") for c in rsps.calls] == [None, 'W/"v1"', 'W/"v2"']


def test_different_query_strings_are_different_entries(rsps):
    forge = token_forge(Sleeps())
    url = f"{R}/contents/.github/mlgate.yml"
    rsps.get(url, json=_file("on main\n"), headers={"ETag": 'W/"main"'})
    rsps.get(url, json=_file("on dev\n"), headers={"ETag": 'W/"dev"'})

    assert forge.read_file(REPO, ".github/mlgate.yml", "main")[0] == "on main\n"
    assert forge.read_file(REPO, ".github/mlgate.yml", "dev")[0] == "on dev\n"
    assert [c.request.headers.get("If-None-Match") for c in rsps.calls] == [None, None]


def test_writes_are_never_conditional(rsps):
    forge = token_forge(Sleeps())
    rsps.patch(f"{R}/issues/comments/1", json={"id": 1}, headers={"ETag": 'W/"c"'})
    rsps.patch(f"{R}/issues/comments/1", json={"id": 1}, headers={"ETag": 'W/"c"'})
    forge.update_comment(REPO, 1, "a")
    forge.update_comment(REPO, 1, "a")
    assert all("If-None-Match" not in c.request.headers for c in rsps.calls)


def test_without_conditional_requests_no_header_is_sent(rsps):
    settings = Settings(github_url=BASE, app_id=None, private_key=None, github_token="t", bot_login="b[bot]")
    forge = forge_factory(settings, ForgeOptions(seconds_between_writes=0, conditional_requests=False))(REPO)
    url = f"{R}/contents/.github/mlgate.yml"
    rsps.get(url, json=_file("x\n"), headers={"ETag": 'W/"v1"'})
    rsps.get(url, json=_file("x\n"), headers={"ETag": 'W/"v1"'})
    forge.read_file(REPO, ".github/mlgate.yml", "main")
    forge.read_file(REPO, ".github/mlgate.yml", "main")
    assert all("If-None-Match" not in c.request.headers for c in rsps.calls)


@pytest.fixture
def sandbox(tmp_path_factory):
    server = SandboxServer(tmp_path_factory.mktemp("sandbox"), users=("alice", "bob", "mlgate-bot")).start()
    yield server
    server.stop()


def test_against_the_sandbox_304s_are_not_charged_and_changes_are_seen(sandbox, tmp_path):
    src = tmp_path / "src"
    (src / ".github").mkdir(parents=True)
    (src / ".github" / "mlgate.yml").write_text("version: 1\n")
    repo = sandbox.create_repo("alice", "etags", "alice", from_dir=src)["full_name"]
    settings = Settings(github_url=sandbox.api_url, app_id=None, private_key=None, github_token="mlgate-bot")
    forge = forge_factory(settings, ForgeOptions(seconds_between_writes=0))(repo)

    def used() -> int:
        return int(sandbox.api("GET", "/rate_limit", "mlgate-bot").json()["resources"]["core"]["used"])

    assert forge.read_file(repo, ".github/mlgate.yml", "main")[0] == "version: 1\n"
    assert forge.permission(repo, "alice") is Permission.ADMIN
    before = used()
    for _ in range(5):
        assert forge.read_file(repo, ".github/mlgate.yml", "main")[0] == "version: 1\n"
        assert forge.permission(repo, "alice") is Permission.ADMIN
    assert used() == before  # ten 304s, none charged

    sandbox.push_files("alice", "etags", "main", {".github/mlgate.yml": "version: 1\nmerge: {}\n"}, "alice")
    assert forge.read_file(repo, ".github/mlgate.yml", "main")[0] == "version: 1\nmerge: {}\n"
    statuses = [c["status"] for c in sandbox.calls()["calls"] if c["as"] == "mlgate-bot"
                and c["operation"] == "/repos/{owner}/{repo}/contents/{path}"]
    assert statuses == [200, 304, 304, 304, 304, 304, 200]


def test_the_cache_is_bounded_by_entries_and_by_bytes() -> None:
    from mlgate.bot.github.conditional import ConditionalCache, Kept

    cache = ConditionalCache(max_entries=3, max_body=10, max_bytes=20)
    for i in range(5):
        cache.put((f"/u{i}", ""), Kept(f'"{i}"', {}, "x" * 8))
    assert len(cache) == 2 and cache.size == 16  # 3 entries would be 24 bytes
    assert cache.get(("/u4", "")) is not None and cache.get(("/u0", "")) is None
    cache.put(("/big", ""), Kept('"b"', {}, "y" * 11))  # over max_body: not kept
    assert cache.get(("/big", "")) is None and cache.size == 16
    cache.put(("/u4", ""), Kept('"4b"', {}, "z" * 2))  # replacing an entry frees its bytes
    assert cache.size == 10
    cache.drop(("/u4", ""))
    assert cache.size == 8 and len(cache) == 1
