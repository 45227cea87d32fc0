"""Settings from the environment: defaults, modes, clear errors, secrets kept out of repr."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mlgate.bot.settings import DEFAULT_DATABASE_URL, GITHUB_MAX_PAYLOAD_BYTES, SettingsError, load_settings


@pytest.fixture(scope="module")
def pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption()).decode()


BASE = {"MLGATE_WEBHOOK_SECRET": "s3cr3t-webhook", "MLGATE_GITHUB_TOKEN": "ghp_tokenvalue123"}


def test_defaults_in_token_mode() -> None:
    s = load_settings(BASE)
    assert s.auth_mode == "token" and s.github_token == "ghp_tokenvalue123"
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.github_url == "https://api.github.com"
    assert s.max_body_bytes == GITHUB_MAX_PAYLOAD_BYTES == 25 * 1024 * 1024
    assert s.serve_worker is True
    assert (s.debounce_seconds, s.debounce_max_seconds) == (2.0, 15.0)


def test_app_mode_with_inline_key_and_with_key_path(pem: str, tmp_path: Path) -> None:
    s = load_settings({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "12345", "MLGATE_PRIVATE_KEY": pem})
    assert (s.auth_mode, s.app_id, s.private_key) == ("app", 12345, pem)
    flattened = pem.strip().replace("\n", "\\n")
    s = load_settings({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "1", "MLGATE_PRIVATE_KEY": flattened})
    assert s.private_key == pem.strip()
    path = tmp_path / "app.pem"
    path.write_text(pem)
    s = load_settings({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "1", "MLGATE_PRIVATE_KEY_PATH": str(path)})
    assert s.private_key == pem


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MLGATE_GITHUB_TOKEN": "t"}, "MLGATE_WEBHOOK_SECRET is not set"),
        ({"MLGATE_WEBHOOK_SECRET": "x"}, "no GitHub credentials: set MLGATE_APP_ID"),
        ({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "1"}, "MLGATE_PRIVATE_KEY or MLGATE_PRIVATE_KEY_PATH is not"),
        ({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "abc", "MLGATE_PRIVATE_KEY": "PEM"},
         "MLGATE_APP_ID must be the numeric App ID, got 'abc'"),
        ({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "1", "MLGATE_PRIVATE_KEY": "PEM", "MLGATE_GITHUB_TOKEN": "t"},
         "not both"),
        ({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "1", "MLGATE_PRIVATE_KEY": "PEM",
          "MLGATE_PRIVATE_KEY_PATH": "/k.pem"}, "only one of MLGATE_PRIVATE_KEY and MLGATE_PRIVATE_KEY_PATH"),
        ({**BASE, "MLGATE_PRIVATE_KEY": "PEM"}, "not both"),
        ({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_PRIVATE_KEY": "PEM"}, "MLGATE_APP_ID is not set"),
        ({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "1", "MLGATE_PRIVATE_KEY": "not a key"},
         "MLGATE_PRIVATE_KEY does not look like a PEM private key"),
        ({"MLGATE_WEBHOOK_SECRET": "x", "MLGATE_APP_ID": "1", "MLGATE_PRIVATE_KEY_PATH": "/nonexistent/k.pem"},
         "MLGATE_PRIVATE_KEY_PATH: cannot read '/nonexistent/k.pem'"),
        ({**BASE, "MLGATE_DATABASE_URL": "mysql://u@h/db"}, "MLGATE_DATABASE_URL: unsupported database 'mysql'"),
        ({**BASE, "MLGATE_DATABASE_URL": "::not a url::"}, "MLGATE_DATABASE_URL is not a database URL"),
        ({**BASE, "MLGATE_GITHUB_URL": "ftp://x"}, "MLGATE_GITHUB_URL must start with http"),
        ({**BASE, "MLGATE_MAX_BODY_BYTES": "lots"}, "MLGATE_MAX_BODY_BYTES must be an integer, got 'lots'"),
        ({**BASE, "MLGATE_WORKER_THREADS": "0"}, "MLGATE_WORKER_THREADS must be at least 1"),
        ({**BASE, "MLGATE_SERVE_WORKER": "maybe"}, "MLGATE_SERVE_WORKER must be one of"),
        ({**BASE, "MLGATE_SQLITE_SYNCHRONOUS": "off"}, "MLGATE_SQLITE_SYNCHRONOUS must be FULL or NORMAL, got 'OFF'"),
        ({**BASE, "MLGATE_DEBOUNCE_SECONDS": "5", "MLGATE_DEBOUNCE_MAX_SECONDS": "1"},
         "MLGATE_DEBOUNCE_MAX_SECONDS (1) must not be smaller than MLGATE_DEBOUNCE_SECONDS (5)"),
    ],
)
def test_errors_name_the_variable(env: dict[str, str], message: str, pem: str) -> None:
    env = {k: (pem if v == "PEM" else v) for k, v in env.items()}
    with pytest.raises(SettingsError) as info:
        load_settings(env)
    assert message in str(info.value)
    assert pem not in str(info.value)


def test_worker_and_database_only_modes_relax_requirements() -> None:
    s = load_settings({"MLGATE_GITHUB_TOKEN": "t"}, require_webhook_secret=False)
    assert s.webhook_secret is None
    s = load_settings({}, require_webhook_secret=False, require_github=False)
    assert s.auth_mode == "none"


def test_overrides_and_url_normalisation() -> None:
    s = load_settings({**BASE, "MLGATE_DATABASE_URL": "postgres://bot:pw@db/mlgate",
                       "MLGATE_GITHUB_URL": "http://127.0.0.1:9000/api/v3/", "MLGATE_MAX_BODY_BYTES": "1024",
                       "MLGATE_SERVE_WORKER": "off", "MLGATE_WORKER_THREADS": "9", "MLGATE_LEASE_SECONDS": "5.5",
                       "MLGATE_SQLITE_SYNCHRONOUS": "normal"})
    assert s.database_url == "postgresql+psycopg://bot:pw@db/mlgate"
    assert s.github_url == "http://127.0.0.1:9000/api/v3"
    assert (s.max_body_bytes, s.serve_worker, s.worker_threads, s.lease_seconds) == (1024, False, 9, 5.5)
    assert s.sqlite_synchronous == "NORMAL"


def test_secrets_never_appear_in_repr_or_str(pem: str) -> None:
    token = load_settings({**BASE, "MLGATE_DATABASE_URL": "postgresql://bot:db-password-9@db/mlgate"})
    app = load_settings({"MLGATE_WEBHOOK_SECRET": "s3cr3t-webhook", "MLGATE_APP_ID": "77", "MLGATE_PRIVATE_KEY": pem})
    for s in (token, app):
        for text in (repr(s), str(s), f"{s}", s.database_url_masked):
            assert "s3cr3t-webhook" not in text
            assert "ghp_tokenvalue123" not in text
            assert "db-password-9" not in text
            assert "PRIVATE KEY" not in text
    assert "***" in token.database_url_masked
    assert "app_id=77" in repr(app)


def test_the_dashboards_sign_in_settings() -> None:
    from mlgate.bot.settings import SettingsError, load_settings

    env = {"MLGATE_WEBHOOK_SECRET": "s", "MLGATE_GITHUB_TOKEN": "t"}
    plain = load_settings(env)
    assert plain.oauth_client_id is None and plain.session_secret is None and plain.github_web_url is None
    full = load_settings({**env, "MLGATE_OAUTH_CLIENT_ID": "Iv1.abc", "MLGATE_OAUTH_CLIENT_SECRET": "shh",
                          "MLGATE_SESSION_SECRET": "k", "MLGATE_GITHUB_WEB_URL": "https://ghe.example/",
                          "MLGATE_DASHBOARD_URL": "https://mlgate.example"})
    assert (full.oauth_client_id, full.github_web_url, full.dashboard_url) == (
        "Iv1.abc", "https://ghe.example", "https://mlgate.example")
    assert "shh" not in repr(full) and "shh" not in str(full)
    with pytest.raises(SettingsError, match="MLGATE_OAUTH_CLIENT_SECRET"):
        load_settings({**env, "MLGATE_OAUTH_CLIENT_ID": "Iv1.abc"})
    with pytest.raises(SettingsError, match="MLGATE_DASHBOARD_URL must start with http"):
        load_settings({**env, "MLGATE_DASHBOARD_URL": "mlgate.example"})
