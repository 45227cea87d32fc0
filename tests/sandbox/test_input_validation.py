"""What the sandbox takes from a request or a flag: logins, repository, branch and ref names checked
as GitHub does (nothing escapes the data directory), malformed credentials refused with 401, and a
server that listens beyond loopback only on explicit request."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from mlgate.sandbox import names
from mlgate.sandbox.app import create_app
from mlgate.sandbox.cli import sandbox as sandbox_cli
from mlgate.sandbox.harness import SandboxServer
from tests.sandbox.conftest import unique

BAD_LOGINS = ["../evil", "..", "-alice", "alice-", "al--ice", "al_ice", "al.ice", "a" * 40, "", "al ice", "ali/ce",
              "alice[bot]"]
GOOD_LOGINS = ["a", "alice", "Alice-Bob", "a1-b2-c3", "a" * 39]


@pytest.mark.parametrize("login", BAD_LOGINS)
def test_bad_logins_are_refused_by_the_rule(login: str) -> None:
    assert names.login_error(login) is not None


@pytest.mark.parametrize("login", GOOD_LOGINS)
def test_good_logins_pass_the_rule(login: str) -> None:
    assert names.login_error(login) is None


@pytest.mark.parametrize("name", ["..", ".", "a/b", "../x", "a" * 101, "", "sp ace", "semi;colon", "new\nline"])
def test_bad_repository_names_are_refused_by_the_rule(name: str) -> None:
    assert names.repo_name_error(name) is not None


@pytest.mark.parametrize("name", ["r", "my.repo", "my_repo-2", ".github", "..x", "a" * 100])
def test_good_repository_names_pass_the_rule(name: str) -> None:
    assert names.repo_name_error(name) is None


@pytest.mark.parametrize("branch", ["../x", "a/../b", "a..b", "-x", ".hidden", "a/.b", "x.lock", "a//b", "a/", "/a",
                                    "a.", "a b", "a~1", "a^", "a:b", "a?", "a*", "a[b", "a\\b", "a@{1}", "@", "",
                                    "a\x7fb", "a\x01b"])
def test_bad_branch_names_are_refused_by_gits_rules(branch: str) -> None:
    assert names.branch_error(branch) is not None


@pytest.mark.parametrize("branch", ["main", "feature/x", "mlgate/staging/main", "v1.2", "a-b_c", "ü", "a@b"])
def test_good_branch_names_pass_gits_rules(branch: str) -> None:
    assert names.branch_error(branch) is None


# ---------------------------------------------------------------------------------- over HTTP


@pytest.mark.parametrize("login", ["../evil", "-alice", "al--ice", "a" * 40])
def test_admin_endpoints_refuse_bad_logins(server: SandboxServer, login: str) -> None:
    for path, body in (("/users", {"login": login}), ("/orgs", {"login": login}),
                       ("/orgs", {"login": unique("org"), "admins": [login]}),
                       ("/orgs", {"login": unique("org"), "members": [login]}),
                       ("/apps", {"slug": login}), ("/apps", {"slug": unique("app"), "owner": login})):
        resp = server.admin("POST", path, json=body)
        assert resp.status_code == 422, (path, body, resp.text)
        assert "login" in resp.json()["message"] or "slug" in resp.json()["message"]
    assert server.sandbox.store.user(login) is None
    assert not (server.sandbox.store.git_root.parent / "evil").exists()


@pytest.mark.parametrize("name", ["..", ".", "a" * 101, "x/y"])
def test_bad_repository_names_are_422(server: SandboxServer, name: str) -> None:
    for path in ("/user/repos", "/orgs/acme/repos"):
        resp = server.api("POST", path, "alice", json={"name": name})
        assert resp.status_code == 422, (path, resp.text)
        assert resp.json()["errors"][0]["field"] == "name"
    git_root = server.sandbox.store.git_root
    assert sorted(p.name for p in git_root.parent.iterdir() if p.name not in ("git", "deliveries", "state.db",
                                                                             "state.db-wal", "state.db-shm")) == []


@pytest.mark.parametrize("branch", ["../../../escaped", "a..b", "-rf", "x.lock", "a b"])
def test_bad_branch_and_ref_names_are_422_not_500(server: SandboxServer, make_repo: Any, branch: str) -> None:
    repo = make_repo("alice")
    full = repo["full_name"]
    main = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
    created = server.api("POST", f"/repos/{full}/git/refs", "alice", json={"ref": f"refs/heads/{branch}", "sha": main})
    assert created.status_code == 422, created.text
    put = server.api("PUT", f"/repos/{full}/contents/f.txt", "alice",
                     json={"message": "m", "content": base64.b64encode(b"x").decode(), "branch": branch})
    assert put.status_code == 422, put.text
    merged = server.api("POST", f"/repos/{full}/merges", "alice", json={"base": branch, "head": "main"})
    assert merged.status_code in (404, 422), merged.text
    listed = server.api("GET", f"/repos/{full}/commits", "alice", params={"sha": branch})
    assert listed.status_code in (404, 422), listed.text
    refs = server.api("GET", f"/repos/{full}/git/matching-refs/heads", "alice").json()
    assert [r["ref"] for r in refs] == ["refs/heads/main"]


def test_a_ref_outside_refs_heads_and_tags_is_checked_too(server: SandboxServer, make_repo: Any) -> None:
    repo = make_repo("alice")
    full = repo["full_name"]
    main = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
    for ref in ("refs/../../HEAD", "refs/tags/v1..2", "refs/heads/ok/../../x"):
        assert server.api("POST", f"/repos/{full}/git/refs", "alice", json={"ref": ref, "sha": main}).status_code \
            == 422, ref
    assert server.api("POST", f"/repos/{full}/git/refs", "alice",
                      json={"ref": "refs/tags/v1.2", "sha": main}).status_code == 201


@pytest.mark.parametrize("header", ["Basic !!!not-base64!!!", "Basic YWxpY2U", "Basic " + "A" * 5, "Basic =",
                                    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode()])
def test_malformed_basic_auth_is_401_on_the_api_and_git(server: SandboxServer, make_repo: Any, header: str) -> None:
    resp = server.api("GET", "/user", headers={"Authorization": header})
    assert resp.status_code == 401, resp.text
    assert resp.json()["message"] == "Bad credentials"
    repo = make_repo("alice", private=True)
    import requests

    git = requests.get(f"{server.url}/{repo['full_name']}.git/info/refs", params={"service": "git-upload-pack"},
                       headers={"Authorization": header}, timeout=10)
    assert git.status_code == 401 and git.headers["WWW-Authenticate"].startswith("Basic")


def test_well_formed_basic_auth_still_works(server: SandboxServer) -> None:
    header = "Basic " + base64.b64encode(b"x-access-token:alice").decode()
    assert server.api("GET", "/user", headers={"Authorization": header}).json()["login"] == "alice"


# ---------------------------------------------------------------------------------- the command line


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Record what `serve` would listen on instead of listening."""
    calls: list[dict[str, Any]] = []

    def fake_run_simple(host: str, port: int, app: Any, **kwargs: Any) -> None:
        calls.append({"host": host, "port": port, **kwargs})

    monkeypatch.setattr("werkzeug.serving.run_simple", fake_run_simple)
    return calls


def test_serve_listens_on_loopback_by_default(tmp_path: Path, no_server: list[dict[str, Any]]) -> None:
    result = CliRunner().invoke(sandbox_cli, ["serve", "--data-dir", str(tmp_path / "d"), "--user", "alice"])
    assert result.exit_code == 0, result.output
    assert no_server == [{"host": "127.0.0.1", "port": 8765, "threaded": True, "use_reloader": False}]
    assert "WARNING" not in result.output


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "example.org"])
def test_serve_beyond_loopback_needs_insecure_public(tmp_path: Path, no_server: list[dict[str, Any]],
                                                     host: str) -> None:
    result = CliRunner().invoke(sandbox_cli, ["serve", "--host", host, "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 2, result.output
    assert "--insecure-public" in result.output and "Traceback" not in result.output
    assert no_server == []
    result = CliRunner().invoke(sandbox_cli, ["serve", "--host", host, "--insecure-public",
                                              "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "WARNING" in result.output and "token is the login" in result.output
    assert [call["host"] for call in no_server] == [host]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_need_no_flag(tmp_path: Path, no_server: list[dict[str, Any]], host: str) -> None:
    result = CliRunner().invoke(sandbox_cli, ["serve", "--host", host, "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output


@pytest.mark.parametrize("args", [["--user", "../evil"], ["--user", "-x"], ["--org", "../acme=alice"],
                                  ["--org", "acme=alice,../evil"], ["--org", "acme=al--ice"]])
def test_serve_refuses_bad_logins_in_flags(tmp_path: Path, no_server: list[dict[str, Any]], args: list[str]) -> None:
    result = CliRunner().invoke(sandbox_cli, ["serve", "--data-dir", str(tmp_path / "d"), *args])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "login" in result.output
    assert len([line for line in result.output.splitlines() if line.startswith("Error")]) == 1
    assert no_server == []
    assert not (tmp_path / "evil").exists() and not (tmp_path / "d" / "state.json").exists()


def test_create_app_refuses_bad_logins(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="login"):
        create_app(tmp_path / "d", users=["../evil"])
    with pytest.raises(ValueError, match="login"):
        create_app(tmp_path / "d", orgs={"acme": ["-x"]})
