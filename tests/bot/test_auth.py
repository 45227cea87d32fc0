"""GitHub App authentication: JWT claims, the installation-token cache, and no secret in any log."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

import jwt
import pytest
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from mlgate.bot.github.auth import AppCredentials, AuthError
from mlgate.bot.github.client import ForgeOptions, forge_factory
from mlgate.bot.settings import Settings
from mlgate.retry import RetryPolicy
from tests.bot.test_github_adapter import BASE, REPO, Sleeps, calls, comment, op_example
from tests.conftest import FakeTime

APP_ID = 12345
TOKENS = "/app/installations/{installation_id}/access_tokens"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def token_answer(token: str, expires_at: str) -> dict:
    data = op_example(TOKENS, "post", "201")
    data.update(token=token, expires_at=expires_at)
    return data


EXAMPLE_EXPIRY = datetime.fromisoformat("2016-07-11T22:14:10+00:00").timestamp()  # the example's expires_at


def bearer(mock: responses.RequestsMock, index: int) -> str:
    header = mock.calls[index].request.headers["Authorization"]
    assert header.startswith("Bearer ")
    return header.removeprefix("Bearer ")


def test_jwt_claims_verify_with_the_public_key(key, pem):
    now = 1_790_000_000
    token = AppCredentials(BASE, APP_ID, pem, clock=lambda: now + 0.7).jwt()
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    claims = jwt.decode(
        token, key.public_key(), algorithms=["RS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert claims == {"iat": now - 60, "exp": now + 540, "iss": str(APP_ID)}
    assert claims["exp"] - now <= 600  # GitHub refuses an exp more than ten minutes ahead
    with pytest.raises(jwt.InvalidSignatureError):
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwt.decode(token, other.public_key(), algorithms=["RS256"], options={"verify_exp": False})


def test_installation_token_is_cached_until_five_minutes_before_expiry(rsps, key, pem):
    clock = FakeTime(EXAMPLE_EXPIRY - 3600)
    example = op_example(TOKENS, "post", "201")
    rsps.post(f"{BASE}/app/installations/1/access_tokens", status=201, json=example)
    rsps.post(
        f"{BASE}/app/installations/1/access_tokens",
        status=201,
        json=token_answer("ghs_second", "2016-07-11T23:14:10Z"),
    )
    creds = AppCredentials(BASE, APP_ID, pem, clock=clock)

    assert creds.installation_token(1) == example["token"]
    clock.now = EXAMPLE_EXPIRY - 301
    assert creds.installation_token(1) == example["token"]
    assert len(rsps.calls) == 1
    clock.now = EXAMPLE_EXPIRY - 300
    assert creds.installation_token(1) == "ghs_second"
    assert creds.installation_token(1) == "ghs_second"

    assert calls(rsps) == [("POST", "/app/installations/1/access_tokens")] * 2
    claims = jwt.decode(bearer(rsps, 1), key.public_key(), algorithms=["RS256"], options={"verify_exp": False})
    assert claims["iat"] == int(EXAMPLE_EXPIRY - 300) - 60


def test_concurrent_callers_share_one_refresh(rsps, pem):
    rsps.post(f"{BASE}/app/installations/1/access_tokens", status=201, json=op_example(TOKENS, "post", "201"))
    creds = AppCredentials(BASE, APP_ID, pem, clock=lambda: EXAMPLE_EXPIRY - 3600)
    barrier = threading.Barrier(8)
    seen: list[str] = []

    def worker() -> None:
        barrier.wait()
        seen.append(creds.installation_token(1))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and len(set(seen)) == 1
    assert len(rsps.calls) == 1


def test_token_request_is_retried_after_502(rsps, pem):
    sleeps = Sleeps()
    rsps.post(f"{BASE}/app/installations/1/access_tokens", status=502, json={"message": "Server Error"})
    rsps.post(f"{BASE}/app/installations/1/access_tokens", status=201, json=op_example(TOKENS, "post", "201"))
    creds = AppCredentials(BASE, APP_ID, pem, clock=lambda: EXAMPLE_EXPIRY - 3600, sleep=sleeps)
    assert creds.installation_token(1).startswith("ghs_")
    assert sleeps == [1.0]


def test_installation_lookup_is_cached(rsps, pem):
    rsps.get(f"{BASE}/repos/{REPO}/installation", json=op_example("/repos/{owner}/{repo}/installation", "get"))
    creds = AppCredentials(BASE, APP_ID, pem)
    assert creds.installation_id(REPO) == 1
    assert creds.installation_id(REPO) == 1
    assert calls(rsps) == [("GET", f"/repos/{REPO}/installation")]


def test_app_not_installed_is_a_clear_error(rsps, pem):
    rsps.get(f"{BASE}/repos/{REPO}/installation", status=404, json={"message": "Not Found"})
    with pytest.raises(AuthError, match=f"GitHub App {APP_ID} is not installed on {REPO}"):
        AppCredentials(BASE, APP_ID, pem).installation_id(REPO)


def test_refused_jwt_names_what_to_check_and_no_secret(rsps, pem):
    rsps.post(
        f"{BASE}/app/installations/1/access_tokens",
        status=401,
        json={"message": "'Expiration time' claim ('exp') is too far in the future"},
    )
    creds = AppCredentials(BASE, APP_ID, pem)
    with pytest.raises(AuthError) as info:
        creds.installation_token(1)
    message = str(info.value)
    assert "MLGATE_APP_ID" in message and "clock" in message and "too far in the future" in message
    assert bearer(rsps, 0) not in message and "PRIVATE KEY" not in message
    assert len(rsps.calls) == 1  # a 401 is not retried


@pytest.mark.parametrize(
    ("pem_text", "match"),
    [
        ("", "private key is empty"),
        ("-----BEGIN RSA PRIVATE KEY-----\nbm90IGEga2V5\n-----END RSA PRIVATE KEY-----\n", "not a readable PEM"),
        (None, "must be RSA"),
    ],
)
def test_bad_private_key_is_named_not_echoed(pem_text, match):
    if pem_text is None:
        ec_key = ec.generate_private_key(ec.SECP256R1())
        pem_text = ec_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    with pytest.raises(AuthError, match=match) as info:
        AppCredentials(BASE, APP_ID, pem_text)
    assert "bm90IGEga2V5" not in str(info.value)
    assert info.value.__cause__ is None


def test_repr_holds_no_secret(pem):
    text = repr(AppCredentials(BASE, APP_ID, pem))
    assert "PRIVATE" not in text and str(APP_ID) in text


# -- through the factory -----------------------------------------------------------------------


def app_settings(pem: str) -> Settings:
    return Settings(github_url=BASE, app_id=str(APP_ID), private_key=pem, github_token=None)


def test_app_mode_forge_uses_refreshed_installation_tokens_and_logs_no_secret(rsps, pem, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub pins its logger to INFO; open it up
    clock = FakeTime(EXAMPLE_EXPIRY - 3600)
    options = ForgeOptions(retry=RetryPolicy(), seconds_between_writes=0, sleep=Sleeps(), clock=clock)
    first = op_example(TOKENS, "post", "201")
    pulls = op_example("/repos/{owner}/{repo}/pulls", "get")
    rsps.get(f"{BASE}/repos/{REPO}/installation", json=op_example("/repos/{owner}/{repo}/installation", "get"))
    rsps.post(f"{BASE}/app/installations/1/access_tokens", status=201, json=first)
    rsps.get(f"{BASE}/repos/{REPO}/pulls", json=pulls)
    rsps.post(
        f"{BASE}/app/installations/1/access_tokens",
        status=201,
        json=token_answer("ghs_refreshed", "2016-07-11T23:14:10Z"),
    )
    rsps.get(f"{BASE}/repos/{REPO}/pulls", json=pulls)

    factory = forge_factory(app_settings(pem), options)
    assert factory(REPO, None).open_pull_numbers(REPO) == [1347]
    clock.now = EXAMPLE_EXPIRY - 60
    assert factory(REPO, None).open_pull_numbers(REPO) == [1347]

    assert calls(rsps) == [
        ("GET", f"/repos/{REPO}/installation"),
        ("POST", "/app/installations/1/access_tokens"),
        ("GET", f"/repos/{REPO}/pulls?per_page=100&state=open"),
        ("POST", "/app/installations/1/access_tokens"),
        ("GET", f"/repos/{REPO}/pulls?per_page=100&state=open"),
    ]
    assert rsps.calls[2].request.headers["Authorization"] == f"token {first['token']}"
    assert rsps.calls[4].request.headers["Authorization"] == "token ghs_refreshed"
    secrets = [first["token"], "ghs_refreshed", bearer(rsps, 0), bearer(rsps, 1), pem.splitlines()[1]]
    assert any(r.name.startswith("github") and "access_tokens" not in r.getMessage() for r in caplog.records), (
        "expected PyGithub's request log to be captured"
    )
    assert "token (removed)" in caplog.text  # PyGithub logged the masked Authorization header
    for secret in secrets:
        assert secret not in caplog.text


def test_app_mode_bot_identity_comes_from_the_app_slug(rsps, pem):
    clock = FakeTime(EXAMPLE_EXPIRY - 3600)
    options = ForgeOptions(seconds_between_writes=0, sleep=Sleeps(), clock=clock)
    rsps.post(f"{BASE}/app/installations/7/access_tokens", status=201, json=op_example(TOKENS, "post", "201"))
    rsps.get(f"{BASE}/app", json=op_example("/app", "get"))
    rsps.get(f"{BASE}/repos/{REPO}/issues/5/comments", json=[comment(3, "octoapp[bot]", "<!-- m --> report")])

    forge = forge_factory(app_settings(pem), options)(REPO, 7)
    assert forge.find_comment(REPO, 5, "<!-- m -->") == (3, "<!-- m --> report")
    assert calls(rsps)[0] == ("GET", "/app")
    assert rsps.calls[0].request.headers["Authorization"].startswith("Bearer ")


@pytest.mark.parametrize(
    ("app_id", "key", "token", "match"),
    [
        ("12345", None, None, "MLGATE_PRIVATE_KEY is not set"),
        (None, "pem", None, "MLGATE_APP_ID is not set"),
        (None, None, None, "no GitHub credentials"),
    ],
)
def test_factory_names_missing_settings(app_id, key, token, match):
    settings = Settings(github_url=BASE, app_id=app_id, private_key=key, github_token=token)
    with pytest.raises(AuthError, match=match):
        forge_factory(settings)


def test_a_refused_installation_token_is_replaced_once(rsps, pem):
    options = ForgeOptions(seconds_between_writes=0, sleep=Sleeps(), clock=lambda: EXAMPLE_EXPIRY - 3600)
    bad = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
    rsps.post(
        f"{BASE}/app/installations/7/access_tokens",
        status=201,
        json=token_answer("ghs_revoked", "2016-07-11T22:14:10Z"),
    )
    rsps.get(f"{BASE}/repos/{REPO}/pulls", status=401, json=bad)
    rsps.post(
        f"{BASE}/app/installations/7/access_tokens", status=201, json=token_answer("ghs_new", "2016-07-11T22:14:10Z")
    )
    rsps.get(f"{BASE}/repos/{REPO}/pulls", json=op_example("/repos/{owner}/{repo}/pulls", "get"))

    assert forge_factory(app_settings(pem), options)(REPO, 7).open_pull_numbers(REPO) == [1347]
    assert [c.request.headers["Authorization"] for c in rsps.calls][1::2] == ["token ghs_revoked", "token ghs_new"]


def test_a_second_refusal_is_an_error(rsps, pem):
    from mlgate.bot.github.client import GitHubAPIError

    options = ForgeOptions(seconds_between_writes=0, sleep=Sleeps(), clock=lambda: EXAMPLE_EXPIRY - 3600)
    rsps.post(f"{BASE}/app/installations/7/access_tokens", status=201, json=op_example(TOKENS, "post", "201"))
    rsps.get(f"{BASE}/repos/{REPO}/pulls", status=401, json={"message": "Bad credentials"})
    with pytest.raises(GitHubAPIError, match="HTTP 401"):
        forge_factory(app_settings(pem), options)(REPO, 7).open_pull_numbers(REPO)
    assert [c.request.method for c in rsps.calls] == ["POST", "GET", "POST", "GET"]


def test_app_mode_finds_its_check_run_by_app_id(rsps, pem):
    options = ForgeOptions(seconds_between_writes=0, sleep=Sleeps(), clock=lambda: EXAMPLE_EXPIRY - 3600)
    sha = "ce587453ced02b1526dfb4cb910479d431683101"
    runs = op_example("/repos/{owner}/{repo}/commits/{ref}/check-runs", "get")
    runs["check_runs"][0].update(name="mlgate", id=77)
    rsps.post(f"{BASE}/app/installations/7/access_tokens", status=201, json=op_example(TOKENS, "post", "201"))
    rsps.get(f"{BASE}/repos/{REPO}/commits/{sha}/check-runs", json=runs)
    rsps.patch(
        f"{BASE}/repos/{REPO}/check-runs/77",
        json=op_example("/repos/{owner}/{repo}/check-runs/{check_run_id}", "patch"),
    )

    forge = forge_factory(app_settings(pem), options)(REPO, 7)
    assert forge.set_check(REPO, sha, "mlgate", status="completed", conclusion="success", title="t", summary="s") == 77
    assert calls(rsps)[1:] == [
        ("GET", f"/repos/{REPO}/commits/{sha}/check-runs?app_id={APP_ID}&check_name=mlgate&per_page=100"),
        ("PATCH", f"/repos/{REPO}/check-runs/77"),
    ]


def test_a_vanished_installation_is_forgotten(rsps, pem):
    rsps.get(f"{BASE}/repos/{REPO}/installation", json=op_example("/repos/{owner}/{repo}/installation", "get"))
    rsps.post(f"{BASE}/app/installations/1/access_tokens", status=404, json={"message": "Not Found"})
    creds = AppCredentials(BASE, APP_ID, pem)
    installation = creds.installation_id(REPO)
    with pytest.raises(AuthError, match=f"installation 1 of GitHub App {APP_ID} does not exist"):
        creds.installation_token(installation)
    other = {**op_example("/repos/{owner}/{repo}/installation", "get"), "id": 2}
    rsps.get(f"{BASE}/repos/{REPO}/installation", json=other)
    assert creds.installation_id(REPO) == 2  # looked up again, not served from the cache
