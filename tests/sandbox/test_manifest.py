"""The GitHub App manifest flow on the sandbox: the repository's own app.yml registers an App with
exactly its permissions and events; the form POST yields a one-time code; what GitHub refuses
(unknown keys, events the permissions do not cover, a name in use) is refused with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import requests
import yaml

from mlgate.sandbox import app_permissions
from mlgate.sandbox.harness import SandboxServer
from tests.sandbox.conftest import unique

APP_YML = Path(__file__).resolve().parents[2] / "app.yml"


def _manifest(**changes: object) -> dict[str, object]:
    data = yaml.safe_load(APP_YML.read_text())
    data.update({"name": unique("manifest-app"), **changes})
    return data


def test_app_yml_registers_an_app_with_exactly_its_permissions_and_events(server: SandboxServer,
                                                                          make_repo) -> None:  # type: ignore[no-untyped-def]
    manifest = yaml.safe_load(APP_YML.read_text())
    creds = server.register_app_from_manifest(owner="alice", name=unique("mlgate"), webhook_url="http://127.0.0.1:9/x")
    assert creds.permissions == app_permissions.normalise(manifest["default_permissions"])
    assert creds.events == manifest["default_events"]
    assert creds.webhook_secret and creds.bot_login == f"{creds.slug}[bot]"
    assert server.api("GET", "/app", headers={"Authorization": f"Bearer {creds.jwt()}"}).json()["events"] == \
        manifest["default_events"]
    repo = make_repo("alice")
    inst = server.install_app(creds.id, "alice", repositories=[repo["name"]])
    token = server.installation_token(creds, inst)
    sha = server.api("GET", f"/repos/{repo['full_name']}/commits/main", token).json()["sha"]
    run = server.api("POST", f"/repos/{repo['full_name']}/check-runs", token, json={"name": "mlgate", "head_sha": sha})
    assert run.status_code == 201 and run.json()["app"]["slug"] == creds.slug


def test_the_form_flow_redirects_with_a_one_time_code(server: SandboxServer) -> None:
    manifest = _manifest(redirect_url="http://127.0.0.1:9/registered")
    form = requests.post(f"{server.url}/settings/apps/new?state=abc123", data={"manifest": json.dumps(manifest)},
                         headers={"Authorization": "token bob"}, allow_redirects=False, timeout=30)
    assert form.status_code == 302
    target = urlparse(form.headers["Location"])
    assert target.path == "/registered" and parse_qs(target.query)["state"] == ["abc123"]
    code = parse_qs(target.query)["code"][0]
    made = server.api("POST", f"/app-manifests/{code}/conversions")
    assert made.status_code == 201
    body = made.json()
    assert body["owner"]["login"] == "bob" and body["pem"].startswith("-----BEGIN") and body["webhook_secret"]
    assert body["client_id"] and body["client_secret"]
    assert server.api("POST", f"/app-manifests/{code}/conversions").status_code == 404  # single use

    org = requests.post(f"{server.url}/organizations/acme/settings/apps/new",
                        data={"manifest": json.dumps(_manifest())}, allow_redirects=False, timeout=30)
    assert org.status_code == 201
    owned = server.api("POST", f"/app-manifests/{org.json()['code']}/conversions").json()
    assert owned["owner"]["login"] == "acme"
    nobody = requests.post(f"{server.url}/settings/apps/new", data={"manifest": json.dumps(_manifest())}, timeout=30)
    assert nobody.status_code == 401


def test_what_github_refuses_in_a_manifest(server: SandboxServer) -> None:
    def convert(manifest: dict[str, object]) -> requests.Response:
        code = server.admin("POST", "/app-manifests", json={"manifest": manifest, "owner": "alice"})
        if code.status_code != 201:
            return code
        return server.api("POST", f"/app-manifests/{code.json()['code']}/conversions")

    typo = _manifest()
    typo["default_permission"] = typo.pop("default_permissions")
    resp = convert(typo)
    assert resp.status_code == 422 and "default_permission: not a manifest key" in resp.text
    no_url = _manifest()
    del no_url["url"]
    assert "url: is required" in convert(no_url).text
    blind = _manifest(default_permissions={"contents": "write"})
    resp = convert(blind)
    assert resp.status_code == 422
    messages = resp.json()["errors"]
    assert "default_events: deployment_status needs the deployments: read permission" in messages
    assert "default_events: check_run needs the checks: read permission" in messages
    name = unique("taken")
    assert convert(_manifest(name=name)).status_code == 201
    again = convert(_manifest(name=name))
    assert again.status_code == 422 and "already in use" in again.text
