"""GitHub App authentication: JWT rules, expiring installation tokens, installation scope, and
the app's own webhook (with ``installation`` in every payload) and delivery log."""

from __future__ import annotations

import time

import jwt

from mlgate.sandbox.harness import SandboxServer, WebhookSink


def _jwt(app_id: int, key: str, exp: int = 540, iat: int = -30) -> str:
    now = int(time.time())
    return jwt.encode({"iat": now + iat, "exp": now + exp, "iss": str(app_id)}, key, algorithm="RS256")


def test_jwt_and_installation_tokens(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("carol")
    other = make_repo("bob")
    app = server.register_app("tokens-app", owner="carol", permissions={"issues": "write"})
    inst = server.install_app(app.id, "carol", repositories=[repo["name"]])
    good = {"Authorization": f"Bearer {_jwt(app.id, app.private_key)}"}
    assert server.api("GET", "/app", headers=good).json()["slug"] == "tokens-app"
    assert [i["id"] for i in server.api("GET", "/app/installations", headers=good).json()] == [inst]
    assert server.api("GET", f"/app/installations/{inst}", headers=good).json()["account"]["login"] == "carol"
    assert server.api("GET", f"/repos/{repo['full_name']}/installation", headers=good).json()["id"] == inst
    assert server.api("GET", f"/repos/{other['full_name']}/installation", headers=good).status_code == 404

    too_long = {"Authorization": f"Bearer {_jwt(app.id, app.private_key, exp=3600)}"}
    assert server.api("GET", "/app", headers=too_long).status_code == 401
    expired = {"Authorization": f"Bearer {_jwt(app.id, app.private_key, exp=-120, iat=-700)}"}
    assert server.api("GET", "/app", headers=expired).status_code == 401
    other_key = server.register_app("other-app").private_key
    forged = {"Authorization": f"Bearer {_jwt(app.id, other_key)}"}
    assert server.api("GET", "/app", headers=forged).status_code == 401
    assert server.api("GET", "/app", "alice").status_code == 401

    tok = server.api("POST", f"/app/installations/{inst}/access_tokens", headers=good)
    assert tok.status_code == 201 and tok.json()["token"].startswith("ghs_") and tok.json()["expires_at"]
    token = tok.json()["token"]
    repos = server.api("GET", "/installation/repositories", token).json()
    assert [r["full_name"] for r in repos["repositories"]] == [repo["full_name"]]
    made = server.api("POST", f"/repos/{repo['full_name']}/issues", token, json={"title": "from app"})
    assert made.status_code == 201 and made.json()["user"]["login"] == "tokens-app[bot]"
    assert server.api("POST", f"/repos/{other['full_name']}/issues/1/comments", token,
                      json={"body": "x"}).status_code in (403, 404)  # not installed there
    assert server.api("GET", "/app", token).status_code == 401
    server.admin("POST", f"/installations/{inst}/expire-tokens").raise_for_status()
    gone = server.api("GET", f"/repos/{repo['full_name']}", token)
    assert gone.status_code == 401 and gone.json()["message"] == "Bad credentials"


def test_app_webhooks_and_delivery_log(server: SandboxServer, make_repo) -> None:  # type: ignore[no-untyped-def]
    sink = WebhookSink().start()
    try:
        app = server.register_app("hooked-app", webhook_url=sink.url, webhook_secret="appsecret", owner="dave",
                                  permissions={"issues": "read", "contents": "read", "checks": "write"},
                                  events=["issue_comment", "push", "check_suite"])
        repo = server.create_repo("dave", "dave-repo", "dave", auto_init=True)
        inst = server.install_app(app.id, "dave")
        server.api("POST", f"/repos/{repo['full_name']}/issues", "dave", json={"title": "t"})
        server.api("POST", f"/repos/{repo['full_name']}/issues/1/comments", "dave", json={"body": "/try"})
        server.wait_for_webhooks()
        events = [(d.event, d.payload.get("action")) for d in sink.deliveries]
        assert events == [("installation", "created"), ("issue_comment", "created")]
        sha = server.push_files("dave", "dave-repo", "feature", {"f.txt": "1\n"}, "dave", base="main")
        server.wait_for_webhooks()
        requested = sink.events("check_suite", "requested")
        assert len(requested) == 1 and requested[0].payload["check_suite"]["head_sha"] == sha
        assert requested[0].payload["check_suite"]["head_branch"] == "feature"
        assert requested[0].payload["installation"]["id"] == inst
        suites = server.api("GET", f"/repos/{repo['full_name']}/commits/{sha}/check-suites", "dave").json()
        assert [s["app"]["slug"] for s in suites["check_suites"]] == ["hooked-app"]
        assert all(d.signature_ok("appsecret") for d in sink.deliveries)
        assert sink.deliveries[1].payload["installation"]["id"] == inst
        assert sink.deliveries[1].headers["X-GitHub-Hook-Installation-Target-Type"] == "integration"
        good = {"Authorization": f"Bearer {_jwt(app.id, app.private_key)}"}
        log = server.api("GET", "/app/hook/deliveries", headers=good).json()
        assert [d["event"] for d in log] == ["check_suite", "push", "issue_comment", "installation"]
        comment = log[2]
        detail = server.api("GET", f"/app/hook/deliveries/{comment['id']}", headers=good).json()
        assert detail["request"]["payload"]["comment"]["body"] == "/try"
        assert server.api("POST", f"/app/hook/deliveries/{comment['id']}/attempts", headers=good).status_code == 202
        server.wait_for_webhooks()
        assert sink.deliveries[-1].guid == sink.deliveries[1].guid
        assert server.api("GET", "/app/hook/config", headers=good).json()["url"] == sink.url
    finally:
        sink.stop()
