"""Who sees what on the dashboard: public to anyone; private only to a signed-in reader (GitHub's
permission API, asked with the bot's credentials); everything else the same 404 as a name that
does not exist. Signing in is the App's OAuth web flow against the sandbox's authorize and token
endpoints, over real HTTP."""

from __future__ import annotations

import urllib.parse

import requests

from tests.web.world import EVIL, OWNER, PRIVATE, PUBLIC, READER, STRANGER, Dashboard

PAGES = ("", "/models", "/deployments", "/alerts", "/pull/4")


def sign_in(d: Dashboard, login: str, next_path: str = "/") -> requests.Session:
    s = requests.Session()
    start = s.get(f"{d.url}/-/login", params={"next": next_path}, allow_redirects=False, timeout=30)
    assert start.status_code == 302
    authorize = urllib.parse.urlsplit(start.headers["Location"])
    assert authorize.path == "/login/oauth/authorize"
    params = dict(urllib.parse.parse_qsl(authorize.query))
    assert params["client_id"] == d.client_id
    page = requests.get(start.headers["Location"], timeout=30)
    assert page.status_code == 200 and "mlgate-dashboard" in page.text
    back = requests.post(f"{d.sandbox.url}/login/oauth/authorize", data={**params, "login": login},
                         allow_redirects=False, timeout=30)
    assert back.status_code == 302
    done = s.get(back.headers["Location"], allow_redirects=False, timeout=30)
    assert done.status_code == 302 and done.headers["Location"] == next_path
    return s


def test_public_repository_is_visible_signed_out(dashboard: Dashboard) -> None:
    for page in PAGES:
        resp = requests.get(f"{dashboard.url}/{OWNER}/{PUBLIC}{page}", timeout=30)
        assert resp.status_code == 200, page
        assert "<script>" not in resp.text, page  # user text (a PR's reason, CI summaries) is escaped
        if page in ("", "/pull/4"):
            assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in resp.text, page
    index = requests.get(dashboard.url + "/", timeout=30).text
    assert f"{OWNER}/{PUBLIC}" in index and PRIVATE not in index


def test_private_repository_is_404_signed_out_with_no_hint(dashboard: Dashboard) -> None:
    missing = requests.get(f"{dashboard.url}/{OWNER}/no-such-repo", timeout=30)
    for page in PAGES:
        resp = requests.get(f"{dashboard.url}/{OWNER}/{PRIVATE}{page}", timeout=30)
        assert resp.status_code == 404, page
        assert resp.text == missing.text and PRIVATE not in resp.text


def test_private_repository_is_visible_to_a_signed_in_reader(dashboard: Dashboard) -> None:
    s = sign_in(dashboard, READER, f"/{OWNER}/{PRIVATE}")
    for page in PAGES:
        resp = s.get(f"{dashboard.url}/{OWNER}/{PRIVATE}{page}", timeout=30)
        assert resp.status_code == 200, page
        assert f"signed in as <strong>{READER}</strong>" in resp.text
    assert f"{OWNER}/{PRIVATE}" in s.get(dashboard.url + "/", timeout=30).text
    assert EVIL not in s.get(f"{dashboard.url}/{OWNER}/{PRIVATE}", timeout=30).text
    s.post(f"{dashboard.url}/-/logout", timeout=30)
    assert s.get(f"{dashboard.url}/{OWNER}/{PRIVATE}", timeout=30).status_code == 404


def test_private_repository_is_404_to_a_signed_in_user_without_read(dashboard: Dashboard) -> None:
    s = sign_in(dashboard, STRANGER)
    for page in PAGES:
        assert s.get(f"{dashboard.url}/{OWNER}/{PRIVATE}{page}", timeout=30).status_code == 404, page
    assert PRIVATE not in s.get(dashboard.url + "/", timeout=30).text
    assert s.get(f"{dashboard.url}/{OWNER}/{PUBLIC}", timeout=30).status_code == 200


def test_a_forged_or_replayed_sign_in_is_refused(dashboard: Dashboard) -> None:
    s = requests.Session()
    # no sign-in started in this session: a callback with someone's state is refused
    assert s.get(f"{dashboard.url}/-/callback", params={"code": "x", "state": "y"}, timeout=30).status_code == 400
    # a cookie signed with another key is no session at all
    s.cookies.set("mlgate_session", "eyJsb2dpbiI6ImJvYiJ9.forged.sig")
    assert s.get(f"{dashboard.url}/{OWNER}/{PRIVATE}", timeout=30).status_code == 404
    # a bad code: GitHub's error, no session
    s = requests.Session()
    start = s.get(f"{dashboard.url}/-/login", allow_redirects=False, timeout=30)
    state = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["Location"]).query))["state"]
    assert s.get(f"{dashboard.url}/-/callback", params={"code": "bad", "state": state}, timeout=30).status_code == 403


def test_sign_in_never_redirects_off_site(dashboard: Dashboard) -> None:
    s = sign_in(dashboard, READER, "/")
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        start = s.get(f"{dashboard.url}/-/login", params={"next": target}, allow_redirects=False, timeout=30)
        params = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(start.headers["Location"]).query))
        back = requests.post(f"{dashboard.sandbox.url}/login/oauth/authorize", data={**params, "login": READER},
                             allow_redirects=False, timeout=30)
        done = s.get(back.headers["Location"], allow_redirects=False, timeout=30)
        assert done.headers["Location"] == "/"


def test_the_model_card_of_a_deployed_version_is_shown_escaped(dashboard: Dashboard) -> None:
    """Issue 12: the card recorded with a landed version is on the dashboard, linked from the current
    version of each environment; its free text (the config's, so the base branch's) is escaped."""
    deployments = requests.get(f"{dashboard.url}/{OWNER}/{PUBLIC}/deployments", timeout=30).text
    link = f"/{OWNER}/{PUBLIC}/card/{'b' * 40}"
    assert f'href="{link}"' in deployments
    card = requests.get(dashboard.url + link, timeout=30)
    assert card.status_code == 200
    assert "Model card: arrests" in card.text and "roc_auc 0.75" in card.text and "@ml-fairness-team" in card.text
    assert "<script>" not in card.text and "Triage only &lt;script&gt;" in card.text
    for missing in ("f" * 40, "not-a-sha"):
        assert requests.get(f"{dashboard.url}/{OWNER}/{PUBLIC}/card/{missing}", timeout=30).status_code == 404
    assert requests.get(f"{dashboard.url}/{OWNER}/{PRIVATE}/card/{'b' * 40}", timeout=30).status_code == 404
