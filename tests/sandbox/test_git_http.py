"""git over smart HTTP: clone and push work, writes need a token with write access."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgate.sandbox.harness import SandboxServer, run_git


def test_clone_and_push_round_trip(server: SandboxServer, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", files={"data/train.csv": "x,y\n1,0\n"})
    clone = tmp_path / "c"
    run_git("clone", "-q", server.clone_url("alice", repo["name"]), str(clone))  # public: no token needed
    assert (clone / "data/train.csv").read_text() == "x,y\n1,0\n"
    (clone / "new.txt").write_text("new\n")
    run_git("add", "-A", cwd=clone)
    run_git("commit", "-q", "-m", "add new", cwd=clone)
    run_git("push", "-q", server.clone_url("alice", repo["name"], "alice"), "HEAD:main", cwd=clone)
    sha = run_git("rev-parse", "HEAD", cwd=clone).strip()
    branch = server.api("GET", f"/repos/{repo['full_name']}/branches/main", "alice").json()
    assert branch["commit"]["sha"] == sha


def test_push_needs_credentials_and_write_access(server: SandboxServer, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    clone = tmp_path / "c"
    run_git("clone", "-q", server.clone_url("alice", repo["name"]), str(clone))
    run_git("commit", "-q", "--allow-empty", "-m", "x", cwd=clone)
    with pytest.raises(RuntimeError, match=r"Authentication|401|could not read"):
        run_git("push", "-q", server.clone_url("alice", repo["name"]), "HEAD:main", cwd=clone)
    with pytest.raises(RuntimeError, match=r"403|denied"):
        run_git("push", "-q", server.clone_url("alice", repo["name"], "carol"), "HEAD:main", cwd=clone)
    with pytest.raises(RuntimeError, match=r"Invalid|401|Authentication"):
        run_git("push", "-q", server.clone_url("alice", repo["name"], "nobody"), "HEAD:main", cwd=clone)


def test_private_repo_is_invisible_without_access(server: SandboxServer, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", private=True, collaborators={"bob": "read"})
    with pytest.raises(RuntimeError):
        run_git("clone", "-q", server.clone_url("alice", repo["name"], "carol"), str(tmp_path / "carol"))
    run_git("clone", "-q", server.clone_url("alice", repo["name"], "bob"), str(tmp_path / "bob"))
    assert server.api("GET", f"/repos/{repo['full_name']}", "carol").status_code == 404
    assert server.api("GET", f"/repos/{repo['full_name']}").status_code == 404
    assert server.api("GET", f"/repos/{repo['full_name']}", "bob").json()["permissions"]["push"] is False


def test_pull_refs_are_fetchable_but_not_pushable(server: SandboxServer, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    name = repo["name"]
    sha = server.push_files("alice", name, "feat", {"f.txt": "1\n"}, "alice", base="main")
    pr = server.open_pr("alice", name, "feat", "alice")
    clone = tmp_path / "c"
    run_git("clone", "-q", server.clone_url("alice", name), str(clone))
    run_git("fetch", "-q", "origin", f"refs/pull/{pr['number']}/head:pr-head",
            f"refs/pull/{pr['number']}/merge:pr-merge", cwd=clone)
    assert run_git("rev-parse", "pr-head", cwd=clone).strip() == sha
    merge_parents = run_git("log", "-1", "--format=%P", "pr-merge", cwd=clone).split()
    assert merge_parents[1] == sha
    with pytest.raises(RuntimeError):
        run_git("push", server.clone_url("alice", name, "alice"), f"main:refs/pull/{pr['number']}/head", cwd=clone)


def test_large_push_uses_chunked_transfer(server: SandboxServer, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Model files are big: a pack larger than git's 1 MiB post buffer is sent chunked."""
    repo = make_repo("alice")
    clone = tmp_path / "c"
    run_git("clone", "-q", server.clone_url("alice", repo["name"], "alice"), str(clone))
    (clone / "model.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    run_git("add", "-A", cwd=clone)
    run_git("commit", "-q", "-m", "add model", cwd=clone)
    run_git("push", "-q", "origin", "HEAD:main", cwd=clone)
    again = tmp_path / "again"
    run_git("clone", "-q", server.clone_url("alice", repo["name"]), str(again))
    assert (again / "model.bin").read_bytes() == (clone / "model.bin").read_bytes()
    info = server.api("GET", f"/repos/{repo['full_name']}/contents/model.bin", "alice").json()
    assert info["size"] == 3 * 1024 * 1024 and info["encoding"] == "none" and info["content"] == ""
