"""Webhook delivery: signed POSTs from a background thread, and a delivery log to list and redeliver.

GitHub's behaviour, kept here: a delivery times out after 10 s; a failed delivery is *not*
retried automatically (you redeliver it through the API), and each delivery has a unique
``X-GitHub-Delivery`` GUID that a redelivery reuses.  ``retries`` > 0 adds automatic retries with
exponential backoff for tests that want them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable
from typing import Any

import requests

from mlgate.sandbox.app_permissions import delivers, normalise
from mlgate.sandbox.faults import FaultTable
from mlgate.sandbox.perms import installed_on
from mlgate.sandbox.store import Store, now_iso
from mlgate.sandbox.urls import node_id

J = dict[str, Any]
TIMEOUT_SECONDS = 10.0
Observer = Callable[[str, J], None]


def sign(secret: str, body: bytes) -> tuple[str, str]:
    """(X-Hub-Signature-256, X-Hub-Signature) values for a body."""
    key = secret.encode()
    return (
        "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest(),
        "sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest(),
    )


class WebhookSender:
    """Queues deliveries under the store lock, sends them outside it (the bot's `Dispatcher` is what receives them)."""

    def __init__(self, store: Store, retries: int = 0, backoff: float = 0.5, faults: FaultTable | None = None) -> None:
        self.store = store
        self.retries = retries
        self.backoff = backoff
        self.faults = faults
        self.observers: list[Observer] = []
        self._queue: queue.Queue[tuple[int, int]] = queue.Queue()
        self._held: dict[int, list[int]] = {}  # reorder fault id -> deliveries held back
        self._held_lock = threading.Lock()
        with store.lock:  # deliveries queued before a restart are sent now, not lost
            for row in store.state["deliveries"]:
                if row.get("status") == "queued":
                    self._queue.put((row["id"], 0))
        self._thread = threading.Thread(target=self._run, name="sandbox-webhooks", daemon=True)
        self._thread.start()

    # --- targets -----------------------------------------------------------------------------
    def emit(self, repo: J | None, event: str, payload: J) -> list[int]:
        """Record and queue one delivery per subscribed hook (repo hooks, then app hooks)."""
        for observe in self.observers:
            observe(event, payload)
        ids = []
        if repo is not None:
            for hook in repo["hooks"].values():
                if hook.get("active", True) and (event in hook["events"] or "*" in hook["events"]):
                    ids.append(self._record(hook, None, repo, event, payload))
            for inst in self.store.state["installations"].values():
                if not installed_on(inst, repo):
                    continue
                app = self.store.state["apps"][str(inst["app_id"])]
                granted = inst.get("permissions") or normalise(app.get("permissions"))
                # GitHub's rule: an App hears an event only when it subscribed to it and its
                # permissions cover it (no subscription list means no events, not all of them)
                if app.get("webhook_url") and delivers(app.get("events", []), granted, event):
                    body = dict(payload)
                    body["installation"] = {"id": inst["id"], "node_id": node_id("INS", inst["id"])}
                    ids.append(self._record(None, app, repo, event, body, inst["id"]))
        return ids

    def emit_app(self, app: J, event: str, payload: J, installation_id: int | None) -> int | None:
        """Events that only the app hears (``installation``)."""
        for observe in self.observers:
            observe(event, payload)
        if not app.get("webhook_url"):
            return None
        return self._record(None, app, None, event, payload, installation_id)

    def ping(self, repo: J, hook: J, payload: J) -> int:
        for observe in self.observers:
            observe("ping", payload)
        return self._record(hook, None, repo, "ping", payload)

    def _record(
        self, hook: J | None, app: J | None, repo: J | None, event: str, payload: J, inst_id: int | None = None
    ) -> int:
        store = self.store
        delivery_id = store.next_id("delivery")
        config = hook["config"] if hook else {"url": app["webhook_url"], "content_type": "json",  # type: ignore[index]
                                              "secret": app.get("webhook_secret")}  # type: ignore[union-attr]
        row = {
            "id": delivery_id,
            "guid": str(uuid.uuid4()),
            "hook_id": hook["id"] if hook else None,
            "app_id": app["id"] if app else None,
            "event": event,
            "action": payload.get("action"),
            "installation_id": inst_id,
            "repository_id": repo["id"] if repo else None,
            "redelivery": False,
            "delivered_at": now_iso(),
            "duration": 0.0,
            "status": "queued",
            "status_code": 0,
        }
        store.state["deliveries"].append(row)
        store.write_delivery({**row, "url": config["url"], "payload": payload, "request_headers": {},
                              "content_type": config.get("content_type", "json")})
        self._enqueue(delivery_id, event, payload.get("action"))
        return delivery_id

    # --- webhook faults: GitHub does not promise order, and may deliver twice ------------------
    def _enqueue(self, delivery_id: int, event: str, action: str | None) -> None:
        fault = self.faults.take_delivery(event, action) if self.faults is not None else None
        if fault is None:
            self._queue.put((delivery_id, 0))
        elif fault.kind == "duplicate":
            self._queue.put((delivery_id, 0))
            self._queue.put((self._copy(delivery_id), 0))
        else:  # reorder: hold until the batch is full (or the fault's delay passes), then reverse it
            with self._held_lock:
                batch = self._held.setdefault(fault.id, [])
                batch.append(delivery_id)
                full = len(batch) >= fault.size
                first = len(batch) == 1
            if full:
                self._release(fault.id)
            elif first:
                timer = threading.Timer(fault.delay, self._release, args=(fault.id,))
                timer.daemon = True
                timer.start()

    def _release(self, fault_id: int) -> None:
        with self._held_lock:
            batch = self._held.pop(fault_id, [])
        for delivery_id in reversed(batch):
            self._queue.put((delivery_id, 0))

    def _copy(self, delivery_id: int) -> int:
        """A second delivery of the same event: same GUID, same payload, not marked a redelivery."""
        old = self.store.read_delivery(delivery_id)
        assert old is not None
        new_id = self.store.next_id("delivery")
        row = {k: old[k] for k in ("guid", "hook_id", "app_id", "event", "action", "installation_id",
                                   "repository_id", "redelivery", "delivered_at")}
        row.update(id=new_id, duration=0.0, status="queued", status_code=0)
        self.store.state["deliveries"].append(row)
        self.store.write_delivery({**old, **row})
        return new_id

    def _current_target(self, d: J) -> J:
        """Where the delivery's hook (or app) sends *now*: GitHub redelivers to the current URL
        and content type, so fixing a hook's URL and redelivering repairs a failed delivery."""
        if d.get("hook_id") is not None:
            repo = self.store.repo_by_id(d["repository_id"], touch=False)
            hook = repo["hooks"].get(str(d["hook_id"])) if repo else None
            if hook is None:
                raise KeyError(d["id"])
            return {"url": hook["config"]["url"], "content_type": hook["config"].get("content_type", "json")}
        app = self.store.state["apps"].peek(str(d.get("app_id")))
        if app is None or not app.get("webhook_url"):
            raise KeyError(d["id"])
        return {"url": app["webhook_url"], "content_type": "json"}

    def redeliver(self, delivery_id: int, attempt: int = 0) -> int:
        """A new delivery with the same GUID and payload, marked ``redelivery``, sent to the hook's
        current URL. KeyError when the delivery or its hook no longer exists."""
        old = self.store.read_delivery(delivery_id)
        if old is None:
            raise KeyError(delivery_id)
        target = self._current_target(old)
        new_id = self.store.next_id("delivery")
        row = {k: old[k] for k in ("guid", "hook_id", "app_id", "event", "action", "installation_id",
                                   "repository_id")}
        row.update(id=new_id, redelivery=True, delivered_at=now_iso(), duration=0.0, status="queued",
                   status_code=0)
        self.store.state["deliveries"].append(row)
        self.store.write_delivery({**old, **row, **target, "request_headers": {}, "response_headers": {},
                                   "response_body": None})
        self._queue.put((new_id, attempt))
        return new_id

    # --- sending -----------------------------------------------------------------------------
    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Block until every queued delivery has been attempted (tests and the demo use this)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._held_lock:
                held = any(self._held.values())
            if self._queue.unfinished_tasks == 0 and not held:
                return True
            time.sleep(0.01)
        return False

    def _secret_for(self, d: J) -> str | None:
        with self.store.lock:
            if d.get("hook_id") is not None:
                repo = self.store.repo_by_id(d["repository_id"], touch=False)
                hook = repo["hooks"].get(str(d["hook_id"])) if repo else None
                return hook["config"].get("secret") if hook else None
            app = self.store.state["apps"].peek(str(d.get("app_id")))
            return app.get("webhook_secret") if app else None

    def _run(self) -> None:
        while True:
            delivery_id, attempt = self._queue.get()
            try:
                self._send(delivery_id, attempt)
            except Exception:  # the sender must never die; the delivery is marked failed instead
                self._finish(delivery_id, {}, 0, "failed: internal error", {}, None, 0.0)
            finally:
                self._queue.task_done()

    def _send(self, delivery_id: int, attempt: int) -> None:
        with self.store.lock:
            d = self.store.read_delivery(delivery_id)
        if d is None:
            return
        body_json = json.dumps(d["payload"]).encode()
        if d.get("content_type") == "form":
            body = urllib.parse.urlencode({"payload": body_json.decode()}).encode()
            ctype = "application/x-www-form-urlencoded"
        else:
            body, ctype = body_json, "application/json"
        headers = {
            "Accept": "*/*",
            "Content-Type": ctype,
            "User-Agent": "GitHub-Hookshot/sandbox",
            "X-GitHub-Event": d["event"],
            "X-GitHub-Delivery": d["guid"],
            "X-GitHub-Hook-ID": str(d.get("hook_id") or d.get("app_id")),
            "X-GitHub-Hook-Installation-Target-Type": "repository" if d.get("hook_id") else "integration",
            "X-GitHub-Hook-Installation-Target-ID": str(d.get("repository_id") or d.get("app_id")),
        }
        secret = self._secret_for(d)
        if secret:
            headers["X-Hub-Signature-256"], headers["X-Hub-Signature"] = sign(secret, body)
        start = time.monotonic()
        try:
            resp = requests.post(d["url"], data=body, headers=headers, timeout=TIMEOUT_SECONDS)
            code, text, rheaders = resp.status_code, resp.text[:4096], dict(resp.headers)
            status = "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"
        except requests.Timeout:
            code, text, rheaders, status = 0, None, {}, "timed out"
        except requests.RequestException as exc:
            code, text, rheaders, status = 0, None, {}, f"failed to connect: {type(exc).__name__}"
        duration = time.monotonic() - start
        self._finish(delivery_id, headers, code, status, rheaders, text, duration)
        if not (200 <= code < 300) and attempt < self.retries:
            time.sleep(self.backoff * (2**attempt))
            with self.store.lock:
                try:
                    self.redeliver(delivery_id, attempt + 1)
                except KeyError:  # the hook (or app) was deleted meanwhile: nothing to retry to
                    return
                self.store.save()

    def _finish(
        self, delivery_id: int, headers: J, code: int, status: str, rheaders: J, text: str | None,
        duration: float,
    ) -> None:
        with self.store.lock:
            d = self.store.read_delivery(delivery_id)
            if d is None:
                return
            d.update(request_headers=headers, status_code=code, status=status, response_headers=rheaders,
                     response_body=text, duration=round(duration, 3))
            self.store.write_delivery(d)
            row = self.store.delivery_row(delivery_id)
            if row is not None:
                row.update(status_code=code, status=status, duration=round(duration, 3))
            if d.get("hook_id") is not None:
                repo = self.store.repo_by_id(d["repository_id"], touch=False)
                hook = repo["hooks"].get(str(d["hook_id"])) if repo else None
                last = {"code": code or None, "status": "active" if code else "error", "message": status}
                if hook is not None and hook.get("last_response") != last:
                    # most deliveries repeat the hook's last response: then its repository is not rewritten
                    hook["last_response"] = last
                    self.store.repo_by_id(d["repository_id"])  # looked up to change: saved below
            self.store.save()
