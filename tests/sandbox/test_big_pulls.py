"""GitHub's listing caps on large pull requests, and the speed of listing them.

`GET /pulls/{n}/files` lists at most 3,000 files and `GET /pulls/{n}/commits` at most 250 commits,
while the PR's `changed_files` and `commits` count them all: a file past the 3,000th is invisible to
anyone who only lists. The PRs are built with `git fast-import` and pushed once, not with thousands
of API calls.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from mlgate.sandbox.harness import SandboxServer, run_git

FILES = 3005


def _fast_import(work: Path, stream: str) -> None:
    subprocess.run(["git", "fast-import", "--quiet"], cwd=work, input=stream.encode(), check=True)


def _commit(branch: str, parent: str | None, message: str, files: dict[str, str], stamp: int) -> str:
    """One fast-import commit; without ``parent`` it follows the branch's previous commit in the stream."""
    lines = [f"commit refs/heads/{branch}", f"committer Big <big@users.noreply.sandbox> {stamp} +0000",
             f"data {len(message.encode())}", message, *([f"from {parent}"] if parent else [])]
    for path, text in files.items():
        lines += [f"M 100644 inline {path}", f"data {len(text.encode())}", text]
    return "\n".join(lines) + "\n\n"


def test_a_3005_file_pr_lists_3000_files_fast_and_says_how_many_it_changed(server: SandboxServer, make_repo,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    work = tmp_path / "work"
    run_git("clone", "-q", server.clone_url("alice", name, "alice"), str(work))
    main = run_git("rev-parse", "HEAD", cwd=work).strip()
    files = {f"data/part-{i:04d}.csv": f"row,{i}\n" for i in range(FILES - 1)}
    files["zz/train.py"] = "LEARNING_RATE = 0.3\n"  # sorts last: the 3,005th file
    _fast_import(work, _commit("big", main, "Regenerate the data", files, 1_700_000_000))
    run_git("push", "-q", "origin", "big", cwd=work)
    pr = server.open_pr("alice", name, "big", "alice")
    assert pr["changed_files"] == FILES

    started = time.perf_counter()
    page = server.api("GET", f"/repos/{full}/pulls/{pr['number']}/files", "alice", params={"per_page": 100,
                                                                                          "page": 15})
    first = time.perf_counter() - started
    started = time.perf_counter()
    last = server.api("GET", f"/repos/{full}/pulls/{pr['number']}/files", "alice", params={"per_page": 100,
                                                                                         "page": 30})
    again = time.perf_counter() - started
    print(f"\n3,005-file PR: page 15 of its files in {first:.3f} s, page 30 in {again:.3f} s")
    assert page.status_code == 200 and len(page.json()) == 100
    assert page.json()[0]["filename"] == "data/part-1400.csv"
    assert page.json()[0]["patch"] == "@@ -0,0 +1 @@\n+row,1400\n"
    assert [f["filename"] for f in last.json()][-1] == "data/part-2999.csv"  # the 3,000th, the last one listed
    assert 'rel="next"' not in last.headers.get("Link", "")
    beyond = server.api("GET", f"/repos/{full}/pulls/{pr['number']}/files", "alice", params={"per_page": 100,
                                                                                           "page": 31})
    assert beyond.json() == []
    assert first < 10 and again < 10  # generous: the old one-diff-per-file listing took 20 s a page


def test_a_pr_lists_at_most_250_commits(server: SandboxServer, make_repo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    work = tmp_path / "work"
    run_git("clone", "-q", server.clone_url("alice", name, "alice"), str(work))
    main = run_git("rev-parse", "HEAD", cwd=work).strip()
    stream = [_commit("long", main if i == 0 else None, f"step {i}", {"log.txt": f"{i}\n"}, 1_700_000_000 + i)
              for i in range(260)]
    _fast_import(work, "".join(stream))
    run_git("push", "-q", "origin", "long", cwd=work)
    pr = server.open_pr("alice", name, "long", "alice")
    assert pr["commits"] == 260
    listed = []
    for page in range(1, 5):
        got = server.api("GET", f"/repos/{full}/pulls/{pr['number']}/commits", "alice",
                         params={"per_page": 100, "page": page}).json()
        listed += got
    assert len(listed) == 250
    assert [c["commit"]["message"] for c in listed[:2]] == ["step 0", "step 1"]  # the oldest first
    assert listed[-1]["commit"]["message"] == "step 249"
