"""Helpers that make sandbox tests and the demo read like a story: start a server on a free port,
create a repository from a directory, push a branch, open a PR, receive signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

from mlgate.sandbox.app import Sandbox, create_app

GIT_IDENTITY = ["-c", "user.name=Sandbox Tester", "-c", "user.email=tester@users.noreply.sandbox",
                "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]


def run_git(*args: str, cwd: Path | str | None = None) -> str:
    """git with a fixed identity, so no global git config is needed (CI machines have none)."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
    proc = subprocess.run(["git", *GIT_IDENTITY, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class SandboxApp:
    """An App registered in the sandbox: what its operator keeps (id, private key, webhook secret) and what it got
    (not the bot's `AppCredentials`, which signs its JWTs)."""

    id: int
    slug: str
    private_key: str
    bot_login: str
    webhook_secret: str | None = None
    permissions: dict[str, str] = field(default_factory=dict)
    events: list[str] = field(default_factory=list)

    def jwt(self, lifetime: int = 540) -> str:
        """An RS256 JWT for the App's own endpoints (GitHub allows at most 10 minutes)."""
        import time

        import jwt

        now = int(time.time())
        return jwt.encode({"iat": now - 30, "exp": now + lifetime, "iss": str(self.id)}, self.private_key,
                          algorithm="RS256")


class SandboxServer:
    """A sandbox on a free loopback port, served from a background thread."""

    def __init__(self, data_dir: Path | str, users: tuple[str, ...] = ("alice", "bob", "carol", "mlgate-bot"),
                 orgs: dict[str, list[str]] | None = None, host: str = "127.0.0.1", port: int = 0,
                 webhook_retries: int = 0, merge_detection_delay: float | None = 0.2) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self._port = port
        self._users = list(users)
        self._orgs = orgs or {}
        self._retries = webhook_retries
        self._merge_delay = merge_detection_delay
        self._server: Any = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> SandboxServer:
        self.app = create_app(self.data_dir, users=self._users, orgs=self._orgs, webhook_retries=self._retries,
                              merge_detection_delay=self._merge_delay)
        self._server = make_server(self.host, self._port, self.app, threaded=True)
        self.port = self._server.server_port
        self.app.config["PUBLIC_URL"] = self.url
        self._thread = threading.Thread(target=self._server.serve_forever, name="sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self.wait_for_webhooks(timeout=10)
            self.sandbox.merges.stop()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/v3"

    @property
    def sandbox(self) -> Sandbox:
        return self.app.extensions["sandbox"]

    # --- clients -----------------------------------------------------------------------------
    def github(self, token: str, **kwargs: Any) -> Any:
        """A PyGithub client for ``token`` with PyGithub's pauses between calls turned off."""
        from github import Auth, Github

        kwargs.setdefault("seconds_between_requests", 0)
        kwargs.setdefault("seconds_between_writes", 0)
        return Github(base_url=self.api_url, auth=Auth.Token(token), **kwargs)

    def api(self, method: str, path: str, token: str | None = None, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", {}))
        if token:
            headers["Authorization"] = f"token {token}"
        headers.setdefault("Accept", "application/vnd.github+json")
        return requests.request(method, self.api_url + path, headers=headers, timeout=30, **kwargs)

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.url}/_sandbox{path}", timeout=60, **kwargs)

    def clone_url(self, owner: str, repo: str, token: str | None = None) -> str:
        auth = f"x-access-token:{token}@" if token else ""
        return f"http://{auth}{self.host}:{self.port}/{owner}/{repo}.git"

    # --- story helpers -----------------------------------------------------------------------
    def create_repo(self, owner: str, name: str, token: str, from_dir: Path | str | None = None,
                    private: bool = False, auto_init: bool = False) -> dict[str, Any]:
        """Create a repository (for a user or an org) and push ``from_dir``'s files as its first commit."""
        is_user = owner == token
        path = "/user/repos" if is_user else f"/orgs/{owner}/repos"
        resp = self.api("POST", path, token, json={"name": name, "private": private, "auto_init": auto_init})
        resp.raise_for_status()
        if from_dir is not None:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp) / "work"
                run_git("init", "-q", "-b", "main", str(work))
                _copy_tree(Path(from_dir), work)
                run_git("add", "-A", cwd=work)
                run_git("commit", "-q", "-m", "Initial commit", cwd=work)
                run_git("push", "-q", self.clone_url(owner, name, token), "main", cwd=work)
        return resp.json()

    def push_files(self, owner: str, repo: str, branch: str, files: dict[str, str | None], token: str,
                   message: str = "Change files", base: str | None = None, force: bool = False) -> str:
        """Commit ``files`` (None deletes) on ``branch`` (created from ``base``) and push; returns the SHA."""
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "work"
            run_git("clone", "-q", self.clone_url(owner, repo, token), str(work))
            remote_branches = run_git("branch", "-r", cwd=work)
            if f"origin/{branch}" in remote_branches.split():
                run_git("checkout", "-q", branch, cwd=work)
            else:
                run_git("checkout", "-q", "-b", branch, f"origin/{base}" if base else "HEAD", cwd=work)
            for rel, content in files.items():
                target = work / rel
                if content is None:
                    target.unlink(missing_ok=True)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(content)
            run_git("add", "-A", cwd=work)
            run_git("commit", "-q", "--allow-empty", "-m", message, cwd=work)
            run_git("push", "-q", *(["--force"] if force else []), "origin", f"HEAD:refs/heads/{branch}", cwd=work)
            return run_git("rev-parse", "HEAD", cwd=work).strip()

    def enqueue(self, owner: str, repo: str, number: int, sender: str) -> dict[str, Any]:
        """Add a PR to GitHub's merge queue (sandbox/mergequeue.py); the group it got."""
        resp = self.admin("POST", f"/repos/{owner}/{repo}/merge-queue", json={"number": number, "sender": sender})
        resp.raise_for_status()
        return resp.json()

    def open_pr(self, owner: str, repo: str, head: str, token: str, base: str = "main", title: str | None = None,
                body: str = "") -> dict[str, Any]:
        resp = self.api("POST", f"/repos/{owner}/{repo}/pulls", token,
                        json={"head": head, "base": base, "title": title or f"Merge {head}", "body": body})
        resp.raise_for_status()
        return resp.json()

    def add_hook(self, owner: str, repo: str, url: str, secret: str, token: str,
                 events: tuple[str, ...] = ("*",)) -> dict[str, Any]:
        resp = self.api("POST", f"/repos/{owner}/{repo}/hooks", token, json={
            "name": "web", "events": list(events), "config": {"url": url, "secret": secret, "content_type": "json"}})
        resp.raise_for_status()
        return resp.json()

    def register_app(self, slug: str, webhook_url: str | None = None, webhook_secret: str | None = None,
                     owner: str = "alice", permissions: dict[str, str] | None = None,
                     events: list[str] | None = None) -> SandboxApp:
        """Register an App directly. As on GitHub it gets only the ``permissions`` named (plus
        metadata: read) and hears only the ``events`` named; prefer ``register_app_from_manifest``."""
        resp = self.admin("POST", "/apps", json={"slug": slug, "owner": owner, "webhook_url": webhook_url,
                                                  "webhook_secret": webhook_secret, "permissions": permissions or {},
                                                  "events": events or []})
        if resp.status_code != 201:
            raise RuntimeError(f"the sandbox refused the App: {resp.text.strip()}")
        d = resp.json()
        return SandboxApp(d["id"], d["slug"], d["private_key"], d["bot_login"], webhook_secret,
                              d["permissions"], d["events"])

    def register_app_from_manifest(self, path: Path | str | None = None, *, owner: str = "alice",
                                   webhook_url: str | None = None, name: str | None = None,
                                   manifest: dict[str, Any] | None = None) -> SandboxApp:
        """Register an App the way GitHub's manifest flow does, from ``app.yml`` (the repository's
        own by default): its permissions and events, a webhook secret made by the sandbox. The
        manifest's webhook URL is replaced by ``webhook_url`` (None: no webhook); ``name`` renames
        the App (names are unique per sandbox). Refusals raise with GitHub's reasons."""
        from mlgate.sandbox import manifest as manifests

        data = dict(manifest) if manifest is not None else manifests.load(path or manifests.REPO_MANIFEST)
        if name is not None:
            data["name"] = name
        data["hook_attributes"] = {"url": webhook_url, "active": True} if webhook_url else {"active": False}
        resp = self.admin("POST", "/app-manifests", json={"manifest": data, "owner": owner})
        if resp.status_code != 201:
            raise RuntimeError(f"the sandbox refused the manifest: {resp.text.strip()}")
        conv = self.api("POST", f"/app-manifests/{resp.json()['code']}/conversions")
        if conv.status_code != 201:
            raise RuntimeError(f"the sandbox refused the manifest: {conv.text.strip()}")
        d = conv.json()
        return SandboxApp(d["id"], d["slug"], d["pem"], f"{d['slug']}[bot]", d.get("webhook_secret"),
                              d["permissions"], d["events"])

    def installation_token(self, app: SandboxApp, installation_id: int,
                           permissions: dict[str, str] | None = None, repositories: list[str] | None = None) -> str:
        """An installation token minted the way a GitHub App does (its JWT at
        ``POST /app/installations/{id}/access_tokens``), optionally narrowed."""
        body: dict[str, Any] = {}
        if permissions is not None:
            body["permissions"] = permissions
        if repositories is not None:
            body["repositories"] = repositories
        resp = self.api("POST", f"/app/installations/{installation_id}/access_tokens",
                        headers={"Authorization": f"Bearer {app.jwt()}"}, json=body)
        if resp.status_code != 201:
            raise RuntimeError(f"no installation token: {resp.status_code} {resp.text.strip()}")
        return str(resp.json()["token"])

    def actions_token(self, repository: str, permissions: dict[str, str] | None = None) -> str:
        """A GITHUB_TOKEN for a workflow in ``repository`` ("owner/name"): an installation token of
        the built-in `github-actions` App, limited to that repository; ``permissions`` narrows it like
        a workflow's ``permissions:`` key."""
        resp = self.admin("POST", "/actions/token", json={"repository": repository, "permissions": permissions})
        resp.raise_for_status()
        return str(resp.json()["token"])

    def exercised(self, app: SandboxApp | int) -> dict[str, Any]:
        """The permissions an App's installation tokens used so far (from the call log), the calls
        none of its permissions satisfied, and the events delivered to its webhook."""
        app_id = app if isinstance(app, int) else app.id
        used = self.sandbox.calls.exercised(app_id)
        with self.sandbox.store.lock:
            events = sorted({d["event"] for d in self.sandbox.store.state["deliveries"] if d.get("app_id") == app_id})
        return {**used, "events": events}

    def install_app(self, app_id: int, account: str, repositories: list[str] | None = None) -> int:
        resp = self.admin("POST", f"/apps/{app_id}/installations",
                          json={"account": account, "repositories": repositories})
        resp.raise_for_status()
        return int(resp.json()["id"])

    def inject_fault(self, path: str, kind: str = "500", method: str = "*", count: int = 1,
                     delay: float = 0.0, retry_after: int = 1) -> None:
        self.admin("POST", "/faults", json={"path": path, "kind": kind, "method": method, "count": count,
                                            "delay": delay, "retry_after": retry_after}).raise_for_status()

    def inject_webhook_fault(self, kind: str, event: str = "*", action: str | None = None, count: int = 1,
                             delay: float = 0.0) -> None:
        """``duplicate``: the next ``count`` matching deliveries arrive twice (same GUID); ``reorder``:
        the next ``count`` arrive in reverse order (what is held after ``delay`` s goes anyway)."""
        self.admin("POST", "/faults", json={"kind": kind, "event": event, "action": action, "count": count,
                                            "delay": delay}).raise_for_status()

    def calls(self) -> dict[str, Any]:
        return self.admin("GET", "/calls").json()

    def reset_calls(self) -> None:
        self.admin("DELETE", "/calls")

    def wait_for_webhooks(self, timeout: float = 30.0) -> bool:
        """Until deliveries are sent and merge detections due soon have run (they send webhooks)."""
        return self.sandbox.settle(timeout)

    def set_merge_detection(self, delay: float | None) -> None:
        """How long the sandbox takes to notice a PR merged by a push; None holds detections until
        ``detect_merges()`` (to order "head branch deleted" before "merge noticed")."""
        self.admin("PUT", "/merges", json={"delay": delay}).raise_for_status()

    def detect_merges(self) -> int:
        """Run the waiting merge detections now; returns how many PRs were marked merged."""
        resp = self.admin("POST", "/merges/detect")
        resp.raise_for_status()
        return int(resp.json()["merged"])


def _copy_tree(src: Path, dst: Path) -> None:
    for path in src.rglob("*"):
        if ".git" in path.relative_to(src).parts:
            continue
        target = dst / path.relative_to(src)
        if path.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


@dataclass
class SinkDelivery:
    """A webhook delivery the test sink received (the bot's own record of one is `mlgate.bot.store.inbox.Delivery`)."""

    event: str
    guid: str
    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.body)

    def signature_ok(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.headers.get("X-Hub-Signature-256", ""))


@dataclass
class WebhookSink:
    """A tiny HTTP endpoint that records deliveries and answers ``status`` (tests change it)."""

    status: int = 200
    deliveries: list[SinkDelivery] = field(default_factory=list)

    def start(self) -> WebhookSink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                headers = {k: v for k, v in self.headers.items()}
                sink.deliveries.append(SinkDelivery(headers.get("X-GitHub-Event", ""),
                                                    headers.get("X-GitHub-Delivery", ""), headers, body))
                self.send_response(sink.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}/webhook"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def events(self, event: str, action: str | None = None) -> list[SinkDelivery]:
        return [d for d in self.deliveries
                if d.event == event and (action is None or d.payload.get("action") == action)]
