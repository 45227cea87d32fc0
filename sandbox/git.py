"""Git plumbing over bare repositories: every fact the API reports comes from git itself.

Only plumbing commands are used (cat-file, ls-tree, mktree via a temporary index, commit-tree,
merge-tree --write-tree, update-ref), so nothing depends on a working tree or on user config.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ZERO_SHA = "0" * 40
_DIFF_CACHE: dict[tuple[str, str, str], tuple[FileChange, ...]] = {}  # (git dir, base, head) -> files
_DIFF_CACHE_SIZE = 64


class GitError(RuntimeError):
    """A git command failed; ``stderr`` says why."""

    def __init__(self, args: list[str], code: int, stderr: str) -> None:
        super().__init__(f"git {' '.join(args)} failed ({code}): {stderr.strip()}")
        self.code = code
        self.stderr = stderr


@dataclass
class Person:
    """Author or committer as git records it."""

    name: str
    email: str
    date: str  # ISO 8601 UTC with Z

    def env(self, role: str) -> dict[str, str]:
        return {
            f"GIT_{role}_NAME": self.name,
            f"GIT_{role}_EMAIL": self.email,
            f"GIT_{role}_DATE": self.date,
        }


@dataclass
class CommitInfo:
    sha: str
    tree: str
    parents: list[str]
    author: Person
    committer: Person
    message: str


@dataclass
class FileChange:
    """One file of a diff, with the counts GitHub reports."""

    filename: str
    status: str  # added, removed, modified, renamed
    additions: int
    deletions: int
    sha: str | None
    previous_filename: str | None = None
    patch: str | None = None


@dataclass
class TreeEntry:
    mode: str
    type: str
    sha: str
    path: str
    size: int | None = None


@dataclass
class MergeResult:
    tree: str
    clean: bool
    conflicts: list[str] = field(default_factory=list)


def _iso_from_git(raw: str) -> str:
    """'1700000000 +0000' -> '2023-11-14T22:13:20Z'."""
    from datetime import datetime, timezone

    seconds = int(raw.split()[0])
    return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_person(line: str) -> Person:
    # "Name <email> 1700000000 +0000"
    name, rest = line.split(" <", 1)
    email, stamp = rest.split("> ", 1)
    return Person(name=name, email=email, date=_iso_from_git(stamp))


class GitRepo:
    """One bare repository."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    # --- plumbing ----------------------------------------------------------------------------
    def run(
        self,
        *args: str,
        input: bytes | None = None,
        env: dict[str, str] | None = None,
        check: bool = True,
        ok_codes: tuple[int, ...] = (0,),
    ) -> subprocess.CompletedProcess[bytes]:
        full_env = {
            **os.environ,
            "GIT_DIR": str(self.path),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_TERMINAL_PROMPT": "0",
            "LC_ALL": "C",
        }
        if env:
            full_env.update(env)
        proc = subprocess.run(["git", *args], input=input, env=full_env, capture_output=True, check=False)
        if check and proc.returncode not in ok_codes:
            raise GitError(list(args), proc.returncode, proc.stderr.decode(errors="replace"))
        return proc

    def out(self, *args: str, **kw: object) -> str:
        return self.run(*args, **kw).stdout.decode(errors="replace")  # type: ignore[arg-type]

    @classmethod
    def init_bare(cls, path: Path, default_branch: str) -> GitRepo:
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "--bare", "--quiet", "-b", default_branch, str(path)], check=True, capture_output=True
        )
        repo = cls(path)
        repo.run("config", "http.receivepack", "true")
        repo.run("config", "uploadpack.allowAnySHA1InWant", "true")
        repo.run("config", "receive.hideRefs", "refs/pull")
        return repo

    # --- refs --------------------------------------------------------------------------------
    def resolve(self, rev: str) -> str | None:
        """A commit SHA for a branch, tag, full ref or (abbreviated) SHA; None if unknown."""
        if not rev or rev.startswith("-"):  # never an option to git
            return None
        candidates = [rev] if rev.startswith("refs/") else [f"refs/heads/{rev}", f"refs/tags/{rev}", rev]
        for cand in candidates:
            proc = self.run("rev-parse", "--verify", "--quiet", f"{cand}^{{commit}}", check=False)
            if proc.returncode == 0:
                return proc.stdout.decode().strip()
        return None

    def ref_sha(self, ref: str) -> str | None:
        proc = self.run("rev-parse", "--verify", "--quiet", ref, check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        text = self.out("for-each-ref", "--format=%(objectname) %(refname)", prefix)
        result = {}
        for line in text.splitlines():
            sha, name = line.split(" ", 1)
            result[name] = sha
        return result

    def update_ref(self, ref: str, new: str, old: str | None = None) -> None:
        args = ["update-ref", ref, new] + ([old] if old is not None else [])
        self.run(*args)

    def delete_ref(self, ref: str) -> None:
        self.run("update-ref", "-d", ref)

    def set_head(self, branch: str) -> None:
        self.run("symbolic-ref", "HEAD", f"refs/heads/{branch}")

    # --- objects -----------------------------------------------------------------------------
    def object_type(self, sha: str) -> str | None:
        proc = self.run("cat-file", "-t", sha, check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def commit(self, sha: str) -> CommitInfo:
        raw = self.out("cat-file", "commit", sha)
        header, _, message = raw.partition("\n\n")
        tree, parents, author, committer = "", [], None, None
        for line in header.splitlines():
            key, _, value = line.partition(" ")
            if key == "tree":
                tree = value
            elif key == "parent":
                parents.append(value)
            elif key == "author":
                author = _parse_person(value)
            elif key == "committer":
                committer = _parse_person(value)
        assert author and committer
        full = self.out("rev-parse", sha).strip()
        return CommitInfo(full, tree, parents, author, committer, message)

    def blob(self, sha: str) -> bytes:
        return self.run("cat-file", "blob", sha).stdout

    def hash_blob(self, data: bytes) -> str:
        return self.out("hash-object", "-w", "--stdin", input=data).strip()

    def tree_entries(self, tree: str, recursive: bool = False) -> list[TreeEntry]:
        args = ["ls-tree", "-l", "-z"] + (["-r", "-t"] if recursive else []) + [tree]
        entries = []
        for rec in self.out(*args).split("\0"):
            if not rec:
                continue
            meta, path = rec.split("\t", 1)
            mode, typ, sha, size = meta.split()
            entries.append(TreeEntry(mode, typ, sha, path, None if size == "-" else int(size)))
        return entries

    def entry_at(self, rev: str, path: str) -> TreeEntry | None:
        """The tree entry at ``path`` in commit ``rev`` (the root tree for an empty path)."""
        if not path:
            tree = self.commit(rev).tree
            return TreeEntry("040000", "tree", tree, "")
        proc = self.run("ls-tree", "-l", "-z", rev, "--", path, check=False)
        rec = proc.stdout.decode(errors="replace").split("\0")[0]
        if proc.returncode != 0 or not rec:
            return None
        meta, got = rec.split("\t", 1)
        mode, typ, sha, size = meta.split()
        return TreeEntry(mode, typ, sha, got, None if size == "-" else int(size))

    def build_tree(self, base_tree: str | None, changes: list[tuple[str, str, str | None]]) -> str:
        """Apply ``(path, mode, blob-or-tree sha | None to delete)`` changes on a base tree."""
        with tempfile.TemporaryDirectory() as tmp:
            env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            if base_tree:
                self.run("read-tree", base_tree, env=env)
            else:
                self.run("read-tree", "--empty", env=env)
            for path, mode, sha in changes:
                if sha is None:
                    self.run("update-index", "--index-info", input=f"0 {ZERO_SHA}\t{path}\n".encode(), env=env)
                elif mode == "040000":
                    self.run("read-tree", f"--prefix={path}/", sha, env=env)
                else:
                    self.run("update-index", "--add", "--cacheinfo", f"{mode},{sha},{path}", env=env)
            return self.out("write-tree", env=env).strip()

    def commit_tree(
        self, tree: str, parents: list[str], message: str, author: Person, committer: Person
    ) -> str:
        args = ["commit-tree", tree]
        for p in parents:
            args += ["-p", p]
        env = {**author.env("AUTHOR"), **committer.env("COMMITTER")}
        return self.out(*args, input=message.encode(), env=env).strip()

    # --- history -----------------------------------------------------------------------------
    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        proc = self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False)
        return proc.returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        proc = self.run("merge-base", a, b, check=False)
        return proc.stdout.decode().strip() if proc.returncode == 0 else None

    def rev_list(self, *revs: str, reverse: bool = True, limit: int | None = None) -> list[str]:
        args = ["rev-list"] + (["--reverse"] if reverse else []) + ([f"--max-count={limit}"] if limit else [])
        return self.out(*args, *revs, "--").split()

    def merge_trees(self, ours: str, theirs: str) -> MergeResult:
        """Three-way merge without a work tree (git >= 2.38)."""
        proc = self.run(
            "merge-tree", "--write-tree", "--name-only", "--allow-unrelated-histories", ours, theirs,
            check=False,
        )
        if proc.returncode not in (0, 1):
            raise GitError(["merge-tree", ours, theirs], proc.returncode, proc.stderr.decode())
        lines = proc.stdout.decode(errors="replace").split("\n")
        tree = lines[0].strip()
        conflicts: list[str] = []
        if proc.returncode == 1:
            for line in lines[1:]:
                if not line.strip():
                    break
                conflicts.append(line.strip())
        return MergeResult(tree=tree, clean=proc.returncode == 0, conflicts=conflicts)

    def cherry_pick(self, onto: str, commit: str, committer: Person) -> str | None:
        """Replay one commit onto ``onto``; None on conflict (used by rebase merges)."""
        info = self.commit(commit)
        parent = info.parents[0] if info.parents else None
        if parent is None:
            merged_tree = info.tree
        else:
            with tempfile.TemporaryDirectory() as tmp:
                env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
                proc = self.run(
                    "read-tree", "-m", "-i", "--aggressive", parent, onto, commit, env=env, check=False
                )
                if proc.returncode != 0:
                    return None
                proc = self.run("write-tree", env=env, check=False)
                if proc.returncode != 0:
                    return self._cherry_pick_worktree(onto, commit, committer)
                merged_tree = proc.stdout.decode().strip()
        return self.commit_tree(merged_tree, [onto], info.message, info.author, committer)

    def _cherry_pick_worktree(self, onto: str, commit: str, committer: Person) -> str | None:
        """Content-level merges need a work tree; use a throwaway one."""
        tmp = tempfile.mkdtemp(prefix="sandbox-pick-")
        try:
            self.run("worktree", "add", "--detach", "--quiet", tmp, onto)
            wt = subprocess.run(
                ["git", "-C", tmp, "cherry-pick", "--allow-empty", "--keep-redundant-commits", commit],
                env={**os.environ, **committer.env("COMMITTER"), "GIT_CONFIG_NOSYSTEM": "1"},
                capture_output=True,
                check=False,
            )
            if wt.returncode != 0:
                return None
            return subprocess.run(
                ["git", "-C", tmp, "rev-parse", "HEAD"], capture_output=True, check=True
            ).stdout.decode().strip()
        finally:
            self.run("worktree", "remove", "--force", tmp, check=False)
            shutil.rmtree(tmp, ignore_errors=True)

    def diff_files(self, base: str, head: str, with_patch: bool = True, limit: int | None = None) -> list[FileChange]:
        """Files changed from ``base`` to ``head`` with line counts, as GitHub lists them (the
        first ``limit``); patches when asked, made by one more ``git diff`` for those files only."""
        changes = list(self.diff_entries(base, head)[:limit])
        return self.with_patches(base, head, changes) if with_patch else changes

    def diff_entries(self, base: str, head: str) -> tuple[FileChange, ...]:
        """Every changed file, without patches: one ``git diff --raw --numstat`` (both commits are
        immutable, so the answer is cached; a 3,000-file PR is listed page after page from it)."""
        key = (str(self.path), base, head)
        cached = _DIFF_CACHE.get(key)
        if cached is not None:
            return cached
        parts = self.out("diff", "-z", "-M", "--raw", "--numstat", "--no-abbrev", base, head).split("\0")
        raws: list[tuple[str, str, str | None, str]] = []  # (code, new sha, old path, path)
        counts: dict[str, tuple[int, int]] = {}
        i = 0
        while i < len(parts):
            rec = parts[i]
            if not rec:
                i += 1
            elif rec.startswith(":"):
                fields = rec[1:].split()
                code = fields[4][0]
                if code in "RC":
                    raws.append((code, fields[3], parts[i + 1], parts[i + 2]))
                    i += 3
                else:
                    raws.append((code, fields[3], None, parts[i + 1]))
                    i += 2
            else:
                add, dele, path = rec.split("\t", 2)
                if path == "":  # a rename: the old and the new path follow
                    path = parts[i + 2]
                    i += 2
                counts[path] = (0 if add == "-" else int(add), 0 if dele == "-" else int(dele))
                i += 1
        statuses = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "T": "changed", "C": "copied"}
        result = tuple(
            FileChange(filename=path, status=statuses.get(code, "modified"), additions=counts.get(path, (0, 0))[0],
                       deletions=counts.get(path, (0, 0))[1], sha=None if code == "D" else sha,
                       previous_filename=old)
            for code, sha, old, path in raws
        )
        if len(_DIFF_CACHE) >= _DIFF_CACHE_SIZE:
            _DIFF_CACHE.pop(next(iter(_DIFF_CACHE)))
        _DIFF_CACHE[key] = result
        return result

    def with_patches(self, base: str, head: str, files: list[FileChange]) -> list[FileChange]:
        """``files`` with their patches, from one ``git diff`` limited to their paths."""
        if not files:
            return []
        paths = [p for f in files for p in (f.previous_filename, f.filename) if p]
        text = self.run("diff", "-M", base, head, "--", *paths,
                        env={"GIT_LITERAL_PATHSPECS": "1"}).stdout.decode(errors="replace")
        sections = [sec for sec in re.split(r"(?m)^(?=diff --git )", text) if sec.startswith("diff --git ")]
        if len(sections) != len(files):  # rename pairing differed within the subset: one diff per file
            sections = [self.run("diff", "-M", base, head, "--", *([f.previous_filename] if f.previous_filename
                                                                    else []), f.filename,
                                 env={"GIT_LITERAL_PATHSPECS": "1"}).stdout.decode(errors="replace")
                        for f in files]
        out = []
        for f, sec in zip(files, sections, strict=True):
            hunk = sec.split("\n@@", 1)
            out.append(dataclasses.replace(f, patch=("@@" + hunk[1]) if len(hunk) == 2 else None))
        return out
