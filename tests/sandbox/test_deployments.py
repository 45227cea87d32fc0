"""Deployments and their statuses, with required status contexts and the webhooks they fire."""

from __future__ import annotations

from mlgate.sandbox.harness import SandboxServer, WebhookSink


def test_deployment_lifecycle(server: SandboxServer, make_repo, sink: WebhookSink) -> None:  # type: ignore[no-untyped-def]
    repo = make_repo("alice")
    full, name = repo["full_name"], repo["name"]
    server.add_hook("alice", name, sink.url, "k", "alice", events=("deployment", "deployment_status"))
    sha = server.api("GET", f"/repos/{full}/git/ref/heads/main", "alice").json()["object"]["sha"]
    server.api("POST", f"/repos/{full}/statuses/{sha}", "alice", json={"state": "pending", "context": "ci"})
    blocked = server.api("POST", f"/repos/{full}/deployments", "alice", json={"ref": "main", "environment": "staging"})
    assert blocked.status_code == 409
    server.api("POST", f"/repos/{full}/statuses/{sha}", "alice", json={"state": "success", "context": "ci"})
    dep = server.api("POST", f"/repos/{full}/deployments", "alice", json={
        "ref": "main", "environment": "staging", "payload": {"model": "abc123", "data": "v7"},
        "description": "ship it"})
    assert dep.status_code == 201
    d = dep.json()
    assert d["sha"] == sha and d["payload"] == {"model": "abc123", "data": "v7"} and d["environment"] == "staging"
    forced = server.api("POST", f"/repos/{full}/deployments", "alice",
                        json={"ref": sha, "environment": "production", "required_contexts": []})
    assert forced.status_code == 201 and forced.json()["production_environment"] is True
    assert server.api("POST", f"/repos/{full}/deployments", "alice", json={"ref": "nope"}).status_code == 422
    st = server.api("POST", f"/repos/{full}/deployments/{d['id']}/statuses", "alice",
                    json={"state": "success", "log_url": "http://ci/log", "environment_url": "http://staging"})
    assert st.status_code == 201 and st.json()["state"] == "success"
    assert server.api("POST", f"/repos/{full}/deployments/{d['id']}/statuses", "alice",
                      json={"state": "bogus"}).status_code == 422
    listed = server.api("GET", f"/repos/{full}/deployments", "alice", params={"environment": "staging"}).json()
    assert [x["id"] for x in listed] == [d["id"]]
    assert server.api("GET", f"/repos/{full}/deployments/{d['id']}", "alice").json()["description"] == "ship it"
    statuses = server.api("GET", f"/repos/{full}/deployments/{d['id']}/statuses", "alice").json()
    assert [s["state"] for s in statuses] == ["success"]
    one = server.api("GET", f"/repos/{full}/deployments/{d['id']}/statuses/{statuses[0]['id']}", "alice")
    assert one.json()["environment_url"] == "http://staging"
    # a newer successful deployment to the same environment makes the old one inactive
    newer = server.api("POST", f"/repos/{full}/deployments", "alice",
                       json={"ref": "main", "environment": "staging"}).json()
    server.api("POST", f"/repos/{full}/deployments/{newer['id']}/statuses", "alice", json={"state": "success"})
    states = [s["state"] for s in server.api("GET", f"/repos/{full}/deployments/{d['id']}/statuses", "alice").json()]
    assert states[0] == "inactive"
    server.wait_for_webhooks()
    events = [(x.event, x.payload.get("action")) for x in sink.deliveries
              if x.payload.get("repository", {}).get("full_name") == full]
    assert events.count(("deployment", "created")) == 3 and events.count(("deployment_status", "created")) == 2
