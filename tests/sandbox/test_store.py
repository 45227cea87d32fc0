"""The sandbox's state file (sandbox/store.py): what one Store saves, a new Store on the same
directory reads back, however many writes came before; a crash mid-save loses only that save."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlgate.sandbox.cli import sandbox
from mlgate.sandbox.store import CHECK_ENV, Store

ROOT = Path(__file__).resolve().parents[2]


def plain(store: Store) -> dict:
    """The state as JSON would have it (what a restart must reproduce)."""
    return json.loads(json.dumps(store.state, sort_keys=True))


def repo_record(repo_id: int, owner: str, name: str) -> dict:
    return {"id": repo_id, "owner": owner, "name": name, "issues": {}, "pulls": {}, "statuses": [], "hooks": {}}


def test_many_writes_survive_a_restart_with_and_without_a_checkpoint(tmp_path: Path) -> None:
    first = Store(tmp_path)
    with first.lock:
        for r in range(20):
            first.ensure_user(f"user{r}")
            first.state["repos"][f"o/r{r}"] = repo_record(first.next_id("repo"), "o", f"r{r}")
            first.save()
        for n in range(300):  # writes through records looked up, as handlers make them
            repo = first.repo("o", f"r{n % 20}")
            assert repo is not None
            repo["issues"][str(n)] = {"number": n, "title": f"t{n}", "state": "open"}
            repo["statuses"].append({"sha": f"{n:040d}", "state": "success"})
            first.state["tokens"][f"tok{n}"] = {"installation_id": 1}
            first.state["deliveries"].append({"id": n, "status": "queued"})
            first.save()
        for n in range(0, 300, 3):  # changes to earlier records, and deletions
            row = first.delivery_row(n)
            assert row is not None
            row["status"] = "OK"
            del first.state["tokens"][f"tok{n}"]
            first.save()
        first.state["repos"].pop("o/r7")
        first.state.setdefault("pending_merges", []).append({"repo": "o/r1", "number": 3})
        first.save()
    expected = plain(first)
    assert len(expected["repos"]) == 19 and len(expected["tokens"]) == 200
    # a restart while the first Store is still open: the changes are in the write-ahead log
    second = Store(tmp_path)
    assert plain(second) == expected
    second.close()
    first.close()  # the last connection checkpoints the log into state.db
    assert not (tmp_path / "state.db-wal").exists() or (tmp_path / "state.db-wal").stat().st_size == 0
    third = Store(tmp_path)
    assert plain(third) == expected
    assert third.repo_by_id(expected["repos"]["o/r3"]["id"])["name"] == "r3"
    assert third.repo_by_id(expected["ids"]["repo"] + 1) is None


def test_a_save_writes_only_the_records_the_request_touched(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.lock:
        for r in range(50):
            store.state["repos"][f"o/r{r}"] = repo_record(r + 1, "o", f"r{r}")
        store.save()
        before = store._db.total_changes
        store.repo("o", "r3")["issues"]["1"] = {"number": 1}  # type: ignore[index]
        store.save()
        assert store._db.total_changes - before == 1  # that repository's row: the 49 others are not rewritten
        before = store._db.total_changes
        store.save()
        assert store._db.total_changes == before


def test_a_change_nobody_marked_is_caught_when_saves_are_checked(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CHECK_ENV, "1")
    store = Store(tmp_path)
    with store.lock:
        store.state["repos"]["o/r"] = repo_record(1, "o", "r")
        store.save()
        found = next(iter(store.state["repos"].values()))  # iterating does not mark the record
        found["private"] = True
        with pytest.raises(AssertionError, match="o/r"):
            store.save()
        store.touch("repos", "o/r")
        store.save()
    assert Store(tmp_path).state["repos"]["o/r"]["private"] is True


CRASH = textwrap.dedent("""
    import os, sys
    from mlgate.sandbox.store import Store

    store = Store(sys.argv[1])
    with store.lock:
        for r in range(5):
            store.state["repos"][f"o/r{r}"] = {"id": r + 1, "owner": "o", "name": f"r{r}", "issues": {}}
        store.state["deliveries"].append({"id": 1, "status": "queued"})
        store.save()
        for r in range(5):  # the next request changes every repository ...
            store.repo("o", f"r{r}")["issues"]["1"] = {"number": 1}
        store.delivery_row(1)["status"] = "OK"
        real = store._write

        def crash_midway(upserts, deletes):
            store._db.executemany(
                "INSERT OR REPLACE INTO records (section, key, body) VALUES (?, ?, ?)", upserts[:2])
            os._exit(9)  # ... and the process dies with two of its six rows written

        store._write = crash_midway
        store.save()
""")


def test_a_crash_in_the_middle_of_a_save_keeps_the_state_before_it(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CRASH, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 9, proc.stderr
    after = Store(tmp_path)
    assert sorted(after.state["repos"]) == [f"o/r{r}" for r in range(5)]
    assert all(rec["issues"] == {} for rec in after.state["repos"].values())
    assert list(after.state["deliveries"]) == [{"id": 1, "status": "queued"}]


def test_a_torn_write_ahead_log_loses_at_most_the_last_save(tmp_path: Path) -> None:
    """Power cut while the log was being appended: the last save is either all there or not at all."""
    code = textwrap.dedent("""
        import os, sys
        from mlgate.sandbox.store import Store
        store = Store(sys.argv[1])
        with store.lock:
            store.state["repos"]["o/r"] = {"id": 1, "owner": "o", "name": "r", "n": 0}
            store.save()
            for n in range(1, 4):
                rec = store.repo("o", "r")
                rec["n"] = n
                rec["pad"] = "x" * 5000 * n
                store.state["users"][f"u{n}"] = {"login": f"u{n}", "id": n, "n": n}
                store.save()
        os._exit(0)  # no checkpoint: every save is still only in the log
    """)
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    wal = tmp_path / "state.db-wal"
    assert wal.stat().st_size > 20000
    with wal.open("r+b") as fh:  # the last save's frames end half-written
        fh.truncate(wal.stat().st_size - 3000)
    after = Store(tmp_path)
    n = after.state["repos"]["o/r"]["n"]
    assert n == 2  # the torn save is gone, the ones before it are whole
    assert sorted(after.state["users"]) == [f"u{i}" for i in range(1, n + 1)]
    assert after.state["repos"]["o/r"].get("pad") == "x" * 5000 * n


def test_a_failed_save_is_rolled_back_and_written_by_the_next(tmp_path: Path) -> None:
    store = Store(tmp_path)
    with store.lock:
        store.state["repos"]["o/r"] = repo_record(1, "o", "r")
        store.save()
        store.repo("o", "r")["issues"]["1"] = {"number": 1}  # type: ignore[index]
        store.state["users"]["u"] = {"login": "u", "id": 5}
        real = store._write

        def fail_after_first_row(upserts: list, deletes: list) -> None:
            real(upserts[:1], [])
            raise OSError("disk full")

        store._write = fail_after_first_row  # type: ignore[method-assign]
        with pytest.raises(OSError):
            store.save()
        assert Store(tmp_path).state["repos"]["o/r"]["issues"] == {} and "u" not in Store(tmp_path).state["users"]
        store._write = real  # type: ignore[method-assign]
        store.save()
    again = Store(tmp_path)
    assert again.state["repos"]["o/r"]["issues"] == {"1": {"number": 1}} and "u" in again.state["users"]


def test_a_data_dir_with_the_old_state_json_is_taken_over_once(tmp_path: Path) -> None:
    old = {"ids": {"repo": 1001}, "users": {"alice": {"login": "alice", "id": 1001}}, "teams": {},
           "repos": {"alice/r": repo_record(1001, "alice", "r")}, "apps": {}, "installations": {}, "tokens": {},
           "deliveries": [{"id": 3, "status": "OK"}], "pending_merges": []}
    (tmp_path / "state.json").write_text(json.dumps(old))
    store = Store(tmp_path)
    assert plain(store) == json.loads(json.dumps(old, sort_keys=True))
    assert not (tmp_path / "state.json").exists() and (tmp_path / "state.json.imported").exists()
    store.close()
    assert plain(Store(tmp_path)) == json.loads(json.dumps(old, sort_keys=True))


def test_dump_prints_the_state_and_refuses_a_dir_without_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "d")
    with store.lock:
        store.ensure_user("alice")
        store.save()
    result = CliRunner().invoke(sandbox, ["dump", "--data-dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["users"]["alice"]["login"] == "alice"
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(sandbox, ["dump", "--data-dir", str(tmp_path / "empty")])
    assert result.exit_code == 2 and "no sandbox state" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "empty" / "state.db").exists()


def test_expired_tokens_stay_expired_after_a_restart(tmp_path: Path) -> None:
    """The admin endpoint finds the tokens by iterating, so it must tell the store what it changed."""
    from mlgate.sandbox.harness import SandboxServer

    with SandboxServer(tmp_path / "d", users=("alice",)) as first:
        app = first.register_app("expiring", permissions={"issues": "write"})
        inst = first.install_app(app.id, "alice")
        token = first.installation_token(app, inst)
        first.admin("POST", f"/installations/{inst}/expire-tokens").raise_for_status()
    with SandboxServer(tmp_path / "d", users=("alice",)) as second:
        assert second.api("GET", "/installation/repositories", token).status_code == 401


def test_lookups_outside_the_lock_during_a_save_are_kept_not_fatal(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Authentication and the App permission check look records up without the lock (a repository
    too), so one can land while a save walks the looked-up keys: the save must neither fail ("set
    changed size during iteration") nor forget that lookup."""
    from mlgate.sandbox import store as store_module

    store = Store(tmp_path)
    with store.lock:
        for r in range(3):
            store.state["repos"][f"o/r{r}"] = repo_record(r + 1, "o", f"r{r}")
        store.save()
        for r in range(3):
            store.repo("o", f"r{r}")["issues"]["1"] = {"n": r}  # type: ignore[index]
    real_dump = store_module._dump
    lookups = iter(["o/r0", "o/nope"])

    def dump_while_another_thread_looks_up(value: object) -> str:
        key = next(lookups, None)
        if key is not None:  # what a request thread outside the lock does between two records
            store.state["repos"].get(key)
        return real_dump(value)

    monkeypatch.setattr(store_module, "_dump", dump_while_another_thread_looks_up)
    with store.lock:
        store.save()
    assert {"o/r0", "o/nope"} <= store.state["repos"].touched  # kept for the next save
    assert Store(tmp_path).state["repos"]["o/r2"]["issues"] == {"1": {"n": 2}}
