"""Webhooks: registration, GitHub's headers and HMAC signature, the delivery log, redelivery,
no automatic retry by default (GitHub's behaviour), optional retries, form encoding."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.parse
from pathlib import Path

from mlgate.sandbox.harness import SandboxServer, WebhookSink


def test_hook_crud_ping_and_signed_headers(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice", collaborators={"bob": "write"})
    full, name = repo["full_name"], repo["name"]
    sink = WebhookSink().start()
    try:
        hook = server.add_hook("alice", name, sink.url, "topsecret", "alice", events=("push", "pull_request"))
        assert hook["config"]["secret"] == "********" and hook["events"] == ["push", "pull_request"]
        assert server.api("POST", f"/repos/{full}/hooks", "bob", json={"config": {"url": sink.url}}).status_code == 403
        assert server.api("GET", f"/repos/{full}/hooks", "alice").json()[0]["id"] == hook["id"]
        server.push_files("alice", name, "wh", {"w.txt": "1\n"}, "bob", base="main")
        server.wait_for_webhooks()
        ping, push = sink.deliveries[0], sink.deliveries[1]
        assert ping.event == "ping" and ping.payload["hook_id"] == hook["id"]
        assert push.event == "push" and push.payload["ref"] == "refs/heads/wh" and push.payload["created"] is True
        assert push.payload["pusher"]["name"] == "bob" and push.payload["sender"]["login"] == "bob"
        body = push.body
        expected = "sha256=" + hmac.new(b"topsecret", body, hashlib.sha256).hexdigest()
        assert push.headers["X-Hub-Signature-256"] == expected
        assert push.headers["X-Hub-Signature"] == "sha1=" + hmac.new(b"topsecret", body, hashlib.sha1).hexdigest()
        assert push.headers["X-GitHub-Hook-ID"] == str(hook["id"])
        assert push.headers["User-Agent"].startswith("GitHub-Hookshot/")
        assert push.headers["Content-Type"] == "application/json"
        patched = server.api("PATCH", f"/repos/{full}/hooks/{hook['id']}", "alice",
                             json={"add_events": ["status"], "remove_events": ["push"], "active": True})
        assert patched.json()["events"] == ["pull_request", "status"]
        assert server.api("GET", f"/repos/{full}/hooks/{hook['id']}", "alice").json()["last_response"]["code"] == 200
        assert server.api("POST", f"/repos/{full}/hooks/{hook['id']}/pings", "alice").status_code == 204
        server.api("PATCH", f"/repos/{full}/hooks/{hook['id']}", "alice", json={"events": ["push"]})
        assert server.api("POST", f"/repos/{full}/hooks/{hook['id']}/tests", "alice").status_code == 204
        server.wait_for_webhooks()
        assert [d.event for d in sink.deliveries[-2:]] == ["ping", "push"]
        assert server.api("DELETE", f"/repos/{full}/hooks/{hook['id']}", "alice").status_code == 204
        assert server.api("GET", f"/repos/{full}/hooks/{hook['id']}", "alice").status_code == 404
    finally:
        sink.stop()


def test_failed_delivery_is_logged_not_retried_and_can_be_redelivered(server: SandboxServer,  # type: ignore[no-untyped-def]
                                                                      make_repo) -> None:
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    sink = WebhookSink(status=500).start()
    try:
        hook = server.add_hook("alice", name, sink.url, "s", "alice", events=("issue_comment",))
        server.api("POST", f"/repos/{full}/issues", "alice", json={"title": "t"})
        server.api("POST", f"/repos/{full}/issues/1/comments", "alice", json={"body": "/merge"})
        server.wait_for_webhooks()
        assert [d.event for d in sink.deliveries] == ["ping", "issue_comment"]  # one attempt each, no retry
        log = server.api("GET", f"/repos/{full}/hooks/{hook['id']}/deliveries", "alice").json()
        failed = next(d for d in log if d["event"] == "issue_comment")
        assert failed["status_code"] == 500 and failed["redelivery"] is False and failed["action"] == "created"
        detail = server.api("GET", f"/repos/{full}/hooks/{hook['id']}/deliveries/{failed['id']}", "alice").json()
        assert detail["request"]["headers"]["X-GitHub-Event"] == "issue_comment"
        assert detail["request"]["payload"]["comment"]["body"] == "/merge"
        assert detail["response"]["payload"] == "ok"
        sink.status = 200
        again = server.api("POST", f"/repos/{full}/hooks/{hook['id']}/deliveries/{failed['id']}/attempts", "alice")
        assert again.status_code == 202
        server.wait_for_webhooks()
        assert sink.deliveries[-1].guid == sink.deliveries[-2].guid  # a redelivery keeps X-GitHub-Delivery
        log = server.api("GET", f"/repos/{full}/hooks/{hook['id']}/deliveries", "alice").json()
        assert log[0]["redelivery"] is True and log[0]["status_code"] == 200
        assert server.api("GET", f"/repos/{full}/hooks/{hook['id']}/deliveries/999999", "alice").status_code == 404
    finally:
        sink.stop()


def test_unreachable_receiver_is_recorded(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    hook = server.add_hook("alice", repo["name"], "http://127.0.0.1:9/nothing", "s", "alice")
    server.wait_for_webhooks()
    log = server.api("GET", f"/repos/{repo['full_name']}/hooks/{hook['id']}/deliveries", "alice").json()
    assert log[0]["status_code"] == 0 and log[0]["status"].startswith("failed to connect")


def test_optional_automatic_retries_and_form_encoding(tmp_path: Path) -> None:
    with SandboxServer(tmp_path / "data", users=("alice",), webhook_retries=2) as srv:
        srv.sandbox.dispatcher.backoff = 0.01
        sink = WebhookSink(status=502).start()
        try:
            srv.api("POST", "/user/repos", "alice", json={"name": "r", "auto_init": True}).raise_for_status()
            resp = srv.api("POST", "/repos/alice/r/hooks", "alice", json={
                "config": {"url": sink.url, "secret": "s", "content_type": "form"}, "events": ["push"]})
            assert resp.json()["config"]["content_type"] == "form"
            srv.wait_for_webhooks()
            assert [d.event for d in sink.deliveries] == ["ping"] * 3  # first attempt + 2 retries
            assert len({d.guid for d in sink.deliveries}) == 1
            d = sink.deliveries[0]
            assert d.headers["Content-Type"] == "application/x-www-form-urlencoded"
            payload = json.loads(urllib.parse.parse_qs(d.body.decode())["payload"][0])
            assert payload["hook_id"] == resp.json()["id"] and d.signature_ok("s")
        finally:
            sink.stop()


def test_a_redelivery_goes_to_the_hooks_current_url(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    """GitHub's redelivery uses the hook as it is now: an operator who fixed a wrong URL (or switched
    the content type) gets the old delivery at the new address."""
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    old_sink, new_sink = WebhookSink(status=404).start(), WebhookSink().start()
    try:
        hook = server.add_hook("alice", name, old_sink.url + "/wrong-path", "s", "alice", events=("issue_comment",))
        server.api("POST", f"/repos/{full}/issues", "alice", json={"title": "t"})
        server.api("POST", f"/repos/{full}/issues/1/comments", "alice", json={"body": "hello"})
        server.wait_for_webhooks()
        assert [d.event for d in old_sink.deliveries] == ["ping", "issue_comment"]
        log = server.api("GET", f"/repos/{full}/hooks/{hook['id']}/deliveries", "alice").json()
        failed = next(d for d in log if d["event"] == "issue_comment")
        assert failed["status_code"] == 404
        fixed = server.api("PATCH", f"/repos/{full}/hooks/{hook['id']}", "alice",
                           json={"config": {"url": new_sink.url, "content_type": "json"}})
        assert fixed.status_code == 200, fixed.text
        again = server.api("POST", f"/repos/{full}/hooks/{hook['id']}/deliveries/{failed['id']}/attempts", "alice")
        assert again.status_code == 202
        server.wait_for_webhooks()
        assert [d.event for d in old_sink.deliveries] == ["ping", "issue_comment"]  # nothing more at the old URL
        (redelivered,) = new_sink.deliveries
        assert redelivered.event == "issue_comment" and redelivered.guid == old_sink.deliveries[1].guid
        assert redelivered.headers["Content-Type"] == "application/json" and redelivered.signature_ok("s")
        detail = server.api("GET", f"/repos/{full}/hooks/{hook['id']}/deliveries", "alice").json()[0]
        assert detail["redelivery"] is True and detail["status_code"] == 200
    finally:
        old_sink.stop()
        new_sink.stop()
