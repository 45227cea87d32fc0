"""Who is calling: a user (sandbox-only: the token *is* the login), a GitHub App (RS256 JWT)
or an app installation (an expiring ``ghs_`` token minted from the JWT)."""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt

from mlgate.sandbox.errors import ApiError
from mlgate.sandbox.store import Store

INSTALLATION_TOKEN_TTL = timedelta(hours=1)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller; ``login`` is the account its writes are attributed to."""

    kind: str  # anonymous | user | app | installation
    login: str | None = None
    app_id: int | None = None
    installation_id: int | None = None

    @property
    def key(self) -> str:
        """Rate-limit bucket."""
        return f"{self.kind}:{self.login or self.app_id or ''}:{self.installation_id or ''}"


ANONYMOUS = Principal("anonymous")


def _credential(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme in ("token", "bearer"):
        return value.strip()
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(401, "Bad credentials") from None
        user, _, password = decoded.decode(errors="replace").partition(":")
        # git sends "x-access-token:<token>" or "alice:alice"; either part may carry the token
        return password or user
    return None


def authenticate(store: Store, header: str | None) -> Principal:
    """Map an Authorization header to a principal, or raise 401 Bad credentials."""
    cred = _credential(header)
    if cred is None:
        if header:
            raise ApiError(401, "Bad credentials")
        return ANONYMOUS
    state = store.state
    if cred.startswith("ghs_"):
        tok = state["tokens"].get(cred)
        if tok is None or tok["expires_at"] < time.time():
            raise ApiError(401, "Bad credentials")
        inst = state["installations"].get(str(tok["installation_id"]))
        if inst is None:
            raise ApiError(401, "Bad credentials")
        app = state["apps"][str(inst["app_id"])]
        return Principal("installation", login=app["bot_login"], app_id=app["id"], installation_id=inst["id"])
    if cred.startswith("ghu_"):  # a user-to-server token from the OAuth web flow (sandbox/oauth.py)
        user_tok = state.get("oauth_tokens", {}).get(cred)
        if user_tok is None or user_tok["expires_at"] < time.time():
            raise ApiError(401, "Bad credentials")
        return Principal("user", login=user_tok["login"])
    if cred.count(".") == 2:
        return _app_from_jwt(store, cred)
    rec = state["users"].get(cred)
    if rec is None or rec["type"] != "User":
        raise ApiError(401, "Bad credentials")
    return Principal("user", login=cred)


def _app_from_jwt(store: Store, token: str) -> Principal:
    """GitHub's rules: RS256, ``iss`` is the app id (or client id), ``exp`` at most 10 minutes ahead."""
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    iss = str(claims.get("iss", ""))
    app = store.state["apps"].get(iss) or next(
        (a for a in store.state["apps"].values() if f"Iv1.sandbox{a['id']}" == iss), None
    )
    if app is None:
        raise ApiError(401, "A JSON web token could not be decoded")
    try:
        claims = jwt.decode(
            token, app["public_key_pem"], algorithms=["RS256"], options={"require": ["iat", "exp", "iss"]},
            leeway=60,
        )
    except jwt.ExpiredSignatureError as exc:
        raise ApiError(401, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires") from exc  # noqa: E501
    except jwt.PyJWTError as exc:
        raise ApiError(401, "A JSON web token could not be decoded") from exc
    if claims["exp"] - time.time() > 600 + 60:
        raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
    return Principal("app", login=app["bot_login"], app_id=app["id"])


def mint_installation_token(store: Store, installation_id: int) -> dict[str, Any]:
    token = "ghs_" + secrets.token_urlsafe(27)
    expires = datetime.now(timezone.utc) + INSTALLATION_TOKEN_TTL
    store.state["tokens"][token] = {"installation_id": installation_id, "expires_at": expires.timestamp()}
    return {"token": token, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


def generate_app_keypair() -> tuple[str, str]:
    """(private PEM, public PEM) for apps registered without a key of their own."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    return private, public


def public_key_from_private(private_pem: str) -> str:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem.encode(), password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
