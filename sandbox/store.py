"""All sandbox state except git objects: one JSON document in the data dir, guarded by one lock.

One lock keeps every request atomic (the sandbox favours obviousness over throughput), and one
JSON file makes state survive a restart and easy to inspect.  Webhook deliveries are large and
append-only, so they live in their own files under ``deliveries/``.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


def now_iso() -> str:
    """GitHub's timestamp format: UTC, seconds, trailing Z."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_state() -> dict[str, Any]:
    return {
        "ids": {},
        "users": {},  # login -> user record (type User, Organization or Bot)
        "teams": {},  # org -> slug -> team
        "repos": {},  # "owner/name" -> repo record
        "apps": {},  # str(app id) -> app record
        "installations": {},  # str(id) -> installation
        "tokens": {},  # installation token -> {installation_id, expires_at}
        "deliveries": [],  # index rows; payloads in deliveries/<id>.json
    }


class Store:
    """The sandbox's state plus the lock every request holds while it reads or changes it."""

    def __init__(self, data_dir: Path | str) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.git_root = self.data_dir / "git"
        self.delivery_dir = self.data_dir / "deliveries"
        self.git_root.mkdir(parents=True, exist_ok=True)
        self.delivery_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self._path = self.data_dir / "state.json"
        self.state: dict[str, Any] = empty_state()
        if self._path.exists():
            loaded = json.loads(self._path.read_text())
            self.state.update(loaded)

    def save(self) -> None:
        """Write atomically so a crash never leaves half a file behind."""
        tmp = self._path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, sort_keys=True))
        os.replace(tmp, self._path)

    def next_id(self, kind: str) -> int:
        """Ids are global per kind, like GitHub's; they start high so they look like real ids."""
        ids = self.state["ids"]
        ids[kind] = ids.get(kind, 1000) + 1
        return ids[kind]

    # --- users -------------------------------------------------------------------------------
    def ensure_user(self, login: str, type_: str = "User", **extra: Any) -> dict[str, Any]:
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
        return users[login]

    def user(self, login: str) -> dict[str, Any] | None:
        return self.state["users"].get(login)

    def user_by_id(self, user_id: int) -> dict[str, Any] | None:
        return next((u for u in self.state["users"].values() if u["id"] == user_id), None)

    # --- repos -------------------------------------------------------------------------------
    def repo(self, owner: str, name: str) -> dict[str, Any] | None:
        return self.state["repos"].get(f"{owner}/{name}")

    def repo_by_id(self, repo_id: int) -> dict[str, Any] | None:
        return next((r for r in self.state["repos"].values() if r["id"] == repo_id), None)

    def git_dir(self, repo: dict[str, Any]) -> Path:
        return self.git_root / repo["owner"] / f"{repo['name']}.git"

    # --- deliveries --------------------------------------------------------------------------
    def write_delivery(self, delivery: dict[str, Any]) -> None:
        path = self.delivery_dir / f"{delivery['id']}.json"
        path.write_text(json.dumps(delivery))

    def read_delivery(self, delivery_id: int) -> dict[str, Any] | None:
        path = self.delivery_dir / f"{delivery_id}.json"
        return json.loads(path.read_text()) if path.exists() else None
