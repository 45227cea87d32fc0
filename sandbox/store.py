"""All sandbox state except git objects: one SQLite file of JSON records, guarded by one lock.

In memory the state is one dict (``Store.state``) that handlers read and change in place; one lock
keeps every request atomic (the sandbox favours obviousness over throughput). On disk
(``state.db``) each record is one row ``(section, key, body)``, ``body`` being the record's JSON: a
user, an org's teams, a repository (with its issues, PRs, comments, statuses...), an App, an
installation, a token, a webhook delivery's index row, or one of the small ``meta`` values (id
counters, pending merge detections, OAuth codes).

Why SQLite with a row per record (and not the one JSON document this used to be): ``save`` writes
only the records a request may have changed, so a write costs the same with 10 PRs as with 400
(the whole document took longer to write the more the sandbox held: 400 PRs took minutes to set
up). SQLite's transactions make each save all-or-nothing, so a crash never leaves half a state
behind, and the stdlib reads it: ``sqlite3 state.db "select body from records where key='o/r'"``,
or ``mlgate sandbox dump --data-dir DIR`` for the whole state as one JSON document.

Which records changed: a ``Section`` (users, teams, repos, apps, installations, tokens) remembers
every key looked up or set since the last save; a handler can only change a record it looked up.
The deliveries list remembers rows appended or taken with ``delivery_row``. The small ``meta``
values are compared with what was last written. ``MLGATE_SANDBOX_CHECK_SAVES=1`` (the sandbox's
tests set it) compares the whole state with the file after every save, so a change that slipped
past this bookkeeping fails a test instead of being lost at the next restart.

Webhook deliveries' full requests and responses are large and append-only, so they live in their
own files under ``deliveries/``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

J = dict[str, Any]
SECTIONS = ("users", "teams", "repos", "apps", "installations", "tokens")
CHECK_ENV = "MLGATE_SANDBOX_CHECK_SAVES"
SCHEMA = "CREATE TABLE IF NOT EXISTS records (section TEXT NOT NULL, key TEXT NOT NULL, body TEXT NOT NULL, " \
         "PRIMARY KEY (section, key)) WITHOUT ROWID"


def now_iso() -> str:
    """GitHub's timestamp format: UTC, seconds, trailing Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


class Section(dict[str, Any]):
    """One kind of record by key; remembers the keys looked up or set since the last save, because
    only those records can have changed (iterating does not count: code that changes a record it
    found by iterating calls ``Store.touch``)."""

    def __init__(self, data: Iterable[tuple[str, Any]] | J = ()) -> None:
        super().__init__(data)
        self.touched: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.touched.add(key)
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        self.touched.add(key)
        return super().get(key, default)

    def peek(self, key: str) -> Any:
        """``get`` for a reader that will not change the record."""
        return super().get(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.touched.add(key)
        return super().setdefault(key, default)

    def __setitem__(self, key: str, value: Any) -> None:
        self.touched.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.touched.add(key)
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:  # type: ignore[override]
        self.touched.add(key)
        return super().pop(key, *default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        other = dict(*args, **kwargs)
        self.touched.update(other)
        super().update(other)

    def popitem(self) -> tuple[str, Any]:
        key, value = super().popitem()
        self.touched.add(key)
        return key, value

    def clear(self) -> None:
        self.touched.update(self)
        super().clear()


class DeliveryRows(list[J]):
    """The webhook delivery index in delivery order; remembers rows appended since the last save
    and finds a row by id without a scan."""

    def __init__(self, rows: Iterable[J] = ()) -> None:
        super().__init__(rows)
        self.by_id: dict[int, J] = {int(r["id"]): r for r in self}
        self.touched: set[int] = set()

    def append(self, row: J) -> None:
        super().append(row)
        self.by_id[int(row["id"])] = row
        self.touched.add(int(row["id"]))

    def row(self, delivery_id: int) -> J | None:
        """The row to change (it is written at the next save)."""
        found = self.by_id.get(int(delivery_id))
        if found is not None:
            self.touched.add(int(delivery_id))
        return found


def empty_state() -> J:
    return {
        "ids": {},
        "users": Section(),  # login -> user record (type User, Organization or Bot)
        "teams": Section(),  # org -> slug -> team
        "repos": Section(),  # "owner/name" -> repo record
        "apps": Section(),  # str(app id) -> app record
        "installations": Section(),  # str(id) -> installation
        "tokens": Section(),  # installation token -> {installation_id, expires_at}
        "deliveries": DeliveryRows(),  # index rows; payloads in deliveries/<id>.json
    }


class Store:
    """The sandbox's state plus the lock every request holds while it reads or changes it.

    ``only_repo`` ("owner/name") loads that one repository and no delivery rows: for the
    pre-receive hook, which only reads (and runs once per push)."""

    def __init__(self, data_dir: Path | str, only_repo: str | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.git_root = self.data_dir / "git"
        self.delivery_dir = self.data_dir / "deliveries"
        self.git_root.mkdir(parents=True, exist_ok=True)
        self.delivery_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.path = self.data_dir / "state.db"
        self._check = os.environ.get(CHECK_ENV) == "1"
        self._repo_ids: dict[int, str] = {}
        self._user_ids: dict[int, str] = {}
        self._meta_written: dict[str, str] = {}
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # a process crash loses nothing committed
        self._db.execute(SCHEMA)
        self.state: J = self._load(only_repo)
        legacy = self.data_dir / "state.json"
        if only_repo is None and legacy.exists() and not self._meta_written and not any(
                self.state[s] for s in SECTIONS):
            self._import_legacy(legacy)

    # --- disk --------------------------------------------------------------------------------
    def _rows(self, only_repo: str | None) -> list[tuple[str, str, str]]:
        if only_repo is None:
            return self._db.execute("SELECT section, key, body FROM records").fetchall()
        return self._db.execute(
            "SELECT section, key, body FROM records WHERE section NOT IN ('repos', 'deliveries') "
            "OR (section = 'repos' AND key = ?)", (only_repo,)).fetchall()

    def _load(self, only_repo: str | None) -> J:
        state = empty_state()
        deliveries = []
        for section, key, body in self._rows(only_repo):
            value = json.loads(body)
            if section == "meta":
                state[key] = value
                self._meta_written[key] = body
            elif section == "deliveries":
                deliveries.append(value)
            else:
                dict.__setitem__(state[section], key, value)
        state["deliveries"] = DeliveryRows(sorted(deliveries, key=lambda r: int(r["id"])))
        return state

    def _import_legacy(self, path: Path) -> None:
        """A data dir from before ``state.db``: take its ``state.json`` once (kept, renamed)."""
        loaded = json.loads(path.read_text())
        for key, value in loaded.items():
            if key in SECTIONS:
                self.state[key] = Section(value)
                self.state[key].touched.update(value)
            elif key == "deliveries":
                self.state[key] = DeliveryRows(value)
                self.state[key].touched.update(int(r["id"]) for r in value)
            else:
                self.state[key] = value
        self.save()
        path.rename(path.with_name("state.json.imported"))

    def save(self) -> None:
        """Write the records changed since the last save in one transaction: all or nothing.

        The sets of touched keys are swapped for empty ones first: authentication looks records up
        outside the lock, and what it touches meanwhile is kept for the next save. If the write
        fails, the taken keys go back, so the next save writes them."""
        upserts: list[tuple[str, str, str]] = []
        deletes: list[tuple[str, str]] = []
        taken: list[tuple[Any, set[Any]]] = []  # (Section or DeliveryRows, the keys taken from it)
        wiped: list[str] = []
        for name in SECTIONS:
            section = self.state.get(name)
            if not isinstance(section, Section):  # replaced by a plain dict: write all of it
                section = self.state[name] = Section(section or {})
                section.touched.update(section)
                wiped.append(name)
            keys, section.touched = section.touched, set()
            taken.append((section, keys))
            for key in keys:
                if not isinstance(key, str):
                    continue
                rec = dict.get(section, key)
                if rec is None:
                    deletes.append((name, key))
                else:
                    upserts.append((name, key, _dump(rec)))
        rows = self.state.get("deliveries")
        if not isinstance(rows, DeliveryRows):
            rows = self.state["deliveries"] = DeliveryRows(rows or [])
            rows.touched.update(rows.by_id)
        ids, rows.touched = rows.touched, set()
        taken.append((rows, ids))
        for delivery_id in ids:
            upserts.append(("deliveries", str(delivery_id), _dump(rows.by_id[delivery_id])))
        meta = {}
        for key, value in list(self.state.items()):
            if key in SECTIONS or key == "deliveries":
                continue
            body = _dump(value)
            if self._meta_written.get(key) != body:
                meta[key] = body
                upserts.append(("meta", key, body))
        gone = [k for k in self._meta_written if k not in self.state]
        deletes += [("meta", k) for k in gone]
        if upserts or deletes or wiped:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.executemany("DELETE FROM records WHERE section = ?", [(w,) for w in wiped])
                    self._write(upserts, deletes)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except BaseException:
                for holder, keys in taken:
                    holder.touched.update(keys)
                raise
        self._meta_written.update(meta)
        for k in gone:
            self._meta_written.pop(k, None)
        if self._check:
            self.check_saved()

    def _write(self, upserts: list[tuple[str, str, str]], deletes: list[tuple[str, str]]) -> None:
        self._db.executemany("INSERT INTO records (section, key, body) VALUES (?, ?, ?) "
                             "ON CONFLICT (section, key) DO UPDATE SET body = excluded.body", upserts)
        self._db.executemany("DELETE FROM records WHERE section = ? AND key = ?", deletes)

    def check_saved(self) -> None:
        """AssertionError when the file differs from the state in memory (a change nobody marked)."""
        on_disk = self._load_plain()
        in_memory = json.loads(json.dumps(self.state))
        for key in sorted(set(on_disk) | set(in_memory)):
            if on_disk.get(key) == in_memory.get(key):
                continue
            a, b = on_disk.get(key), in_memory.get(key)
            if isinstance(a, dict) and isinstance(b, dict):
                rec = next(k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k))
                ra, rb = a.get(rec), b.get(rec)
                fields = sorted(k for k in set(ra or {}) | set(rb or {}) if (ra or {}).get(k) != (rb or {}).get(k)) \
                    if isinstance(ra, dict) and isinstance(rb, dict) else []
                raise AssertionError(f"sandbox state not saved: {key} {rec} {fields[:5]}")
            raise AssertionError(f"sandbox state not saved: {key}")

    def _load_plain(self) -> J:
        plain: J = {"deliveries": []}
        plain.update({s: {} for s in SECTIONS})
        for section, key, body in self._db.execute("SELECT section, key, body FROM records"):
            if section == "meta":
                plain[key] = json.loads(body)
            elif section == "deliveries":
                plain["deliveries"].append(json.loads(body))
            else:
                plain[section][key] = json.loads(body)
        plain["deliveries"].sort(key=lambda r: int(r["id"]))
        return plain

    def close(self) -> None:
        self._db.close()

    def touch(self, section: str, key: str) -> None:
        """Mark a record found by iterating as changed (it is written at the next save)."""
        self.state[section].touched.add(key)

    def next_id(self, kind: str) -> int:
        """Ids are global per kind, like GitHub's; they start high so they look like real ids."""
        ids = self.state["ids"]
        ids[kind] = ids.get(kind, 1000) + 1
        return int(ids[kind])

    # --- users -------------------------------------------------------------------------------
    def ensure_user(self, login: str, type_: str = "User", **extra: Any) -> J:
        users = self.state["users"]
        if login not in users:
            users[login] = {
                "login": login,
                "id": self.next_id("user"),
                "type": type_,
                "name": extra.pop("name", None),
                "email": extra.pop("email", f"{login}@users.noreply.sandbox"),
                "created_at": now_iso(),
                **extra,
            }
        return users[login]  # type: ignore[no-any-return]

    def user(self, login: str) -> J | None:
        return self.state["users"].get(login)  # type: ignore[no-any-return]

    def user_by_id(self, user_id: int) -> J | None:
        users = self.state["users"]
        login = self._user_ids.get(user_id)
        if login is None or (users.peek(login) or {}).get("id") != user_id:
            self._user_ids = {u["id"]: k for k, u in users.items()}
            login = self._user_ids.get(user_id)
        return users.get(login) if login is not None else None  # type: ignore[no-any-return]

    # --- repos -------------------------------------------------------------------------------
    def repo(self, owner: str, name: str) -> J | None:
        return self.state["repos"].get(f"{owner}/{name}")  # type: ignore[no-any-return]

    def repo_by_id(self, repo_id: int, touch: bool = True) -> J | None:
        """The repository with this id (an index, not a scan); ``touch=False`` for a reader that
        will not change it (then ``touch("repos", ...)`` before changing it after all)."""
        repos = self.state["repos"]
        full = self._repo_ids.get(repo_id)
        if full is None or (repos.peek(full) or {}).get("id") != repo_id:
            self._repo_ids = {r["id"]: k for k, r in repos.items()}
            full = self._repo_ids.get(repo_id)
        if full is None:
            return None
        return repos.get(full) if touch else repos.peek(full)  # type: ignore[no-any-return]

    def git_dir(self, repo: J) -> Path:
        return self.git_root / repo["owner"] / f"{repo['name']}.git"

    # --- deliveries --------------------------------------------------------------------------
    def delivery_row(self, delivery_id: int) -> J | None:
        """The index row of a delivery, to change (written at the next save)."""
        return self.state["deliveries"].row(delivery_id)  # type: ignore[no-any-return]

    def write_delivery(self, delivery: J) -> None:
        path = self.delivery_dir / f"{delivery['id']}.json"
        path.write_text(json.dumps(delivery))

    def read_delivery(self, delivery_id: int) -> J | None:
        path = self.delivery_dir / f"{delivery_id}.json"
        return json.loads(path.read_text()) if path.exists() else None
