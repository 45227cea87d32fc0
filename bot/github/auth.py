"""GitHub App credentials: the app JWT, installation tokens cached until shortly before expiry.

Kept apart from `bot/github/client.py` (and free of PyGithub) because it is the one place that holds
secrets: the private key and the tokens never appear in a log line, an exception message or a
repr. Token exchange goes through `requests` directly so that the clock is injectable and the
cache is shared, thread-safe, by every forge of an installation.

Retries: `POST /app/installations/{id}/access_tokens` is treated as idempotent (an extra token
is harmless and expires by itself), so it is retried like the GETs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mlgate.retry import Failure, ForgeError, Retrier, RetryPolicy, classify_requests_error

log = logging.getLogger(__name__)

API_VERSION = "2022-11-28"
JWT_BACKDATE = 60  # seconds: GitHub recommends iat 60 s in the past against clock drift
JWT_LIFETIME = 540  # seconds after now; GitHub refuses exp more than 10 minutes ahead
REFRESH_BEFORE = 300  # seconds: refresh an installation token this long before it expires


class AuthError(ForgeError):
    """Credentials are missing, malformed or refused; the message says which, never the secret."""


class HTTPFailureError(ForgeError):
    """An HTTP error answer from GitHub to one of our own `requests` calls."""

    def __init__(self, what: str, status: int, headers: dict[str, str], message: str) -> None:
        super().__init__(f"{what}: HTTP {status}: {message}")
        self.status = status
        self.headers = headers
        self.message = message


def classify(exc: BaseException) -> Failure | None:
    if isinstance(exc, HTTPFailureError):
        return Failure(exc.status, exc.headers, exc.message)
    return classify_requests_error(exc)


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """Parse the App's PEM private key, with an error that names the problem but not the key."""
    if not pem or not pem.strip():
        raise AuthError("the GitHub App private key is empty (set MLGATE_PRIVATE_KEY or MLGATE_PRIVATE_KEY_PATH)")
    try:
        key = serialization.load_pem_private_key(pem.strip().encode() + b"\n", password=None)
    except (ValueError, TypeError) as exc:
        raise AuthError(
            f"the GitHub App private key is not a readable PEM private key ({type(exc).__name__})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise AuthError(f"the GitHub App private key must be RSA (GitHub signs with RS256), got {type(key).__name__}")
    return key


def app_jwt(app_id: str | int, key: rsa.RSAPrivateKey, now: float) -> str:
    """An RS256 JWT identifying the App: iat 60 s in the past, exp 9 minutes ahead."""
    issued = int(now) - JWT_BACKDATE
    claims = {"iat": issued, "exp": int(now) + JWT_LIFETIME, "iss": str(app_id)}
    return jwt.encode(claims, key, algorithm="RS256")


def _parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass
class _Cached:
    token: str = field(repr=False)
    expires_at: float


class AppCredentials:
    """JWTs, installation ids and installation tokens of one GitHub App.

    `installation_token` returns a cached token until `refresh_before` seconds before its
    `expires_at`, then fetches a new one; concurrent callers for one installation wait for a
    single refresh (a lock per installation), other installations are not blocked.
    """

    def __init__(
        self,
        api_url: str,
        app_id: str | int,
        private_key: str,
        *,
        session: requests.Session | None = None,
        policy: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        refresh_before: float = REFRESH_BEFORE,
        timeout: float = 15.0,
        user_agent: str = "mlgate",
    ) -> None:
        if not str(app_id).strip():
            raise AuthError("the GitHub App id is empty (set MLGATE_APP_ID)")
        self.api_url = api_url.rstrip("/")
        self.app_id = str(app_id).strip()
        self._key = load_private_key(private_key)
        self._session = session or requests.Session()
        self._clock = clock
        self._retrier = Retrier(policy or RetryPolicy(), classify, sleep=sleep, clock=clock)
        self.refresh_before = refresh_before
        self.timeout = timeout
        self.user_agent = user_agent
        self._tokens: dict[int, _Cached] = {}
        self._locks: dict[int, threading.Lock] = {}
        self._locks_lock = threading.Lock()
        self._installations: dict[str, int] = {}
        self._slug: str | None = None

    def __repr__(self) -> str:
        return f"AppCredentials(api_url={self.api_url!r}, app_id={self.app_id!r})"

    def jwt(self) -> str:
        return app_jwt(self.app_id, self._key, self._clock())

    def _request(self, method: str, path: str, what: str) -> Any:
        def send() -> Any:
            headers = {
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.jwt()}",
                "User-Agent": self.user_agent,
                "X-GitHub-Api-Version": API_VERSION,
            }
            resp = self._session.request(method, self.api_url + path, headers=headers, timeout=self.timeout)
            if resp.status_code >= 400:
                try:
                    message = str(resp.json().get("message", ""))
                except ValueError:
                    message = resp.text[:200]
                raise HTTPFailureError(what, resp.status_code, dict(resp.headers), message)
            return resp.json()

        try:
            return self._retrier.call(send, what=what, idempotent=True)
        except HTTPFailureError as exc:
            if exc.status == 401:
                raise AuthError(
                    f"{what}: GitHub refused the App JWT ({exc.message or 'HTTP 401'}); "
                    f"check MLGATE_APP_ID ({self.app_id}), the private key, and this machine's clock"
                ) from None
            raise

    def installation_token(self, installation_id: int) -> str:
        with self._locks_lock:
            lock = self._locks.setdefault(installation_id, threading.Lock())
        with lock:
            cached = self._tokens.get(installation_id)
            if cached is not None and self._clock() < cached.expires_at - self.refresh_before:
                return cached.token
            try:
                data = self._request(
                    "POST",
                    f"/app/installations/{installation_id}/access_tokens",
                    f"token for installation {installation_id}",
                )
            except HTTPFailureError as exc:
                if exc.status != 404:
                    raise
                with self._locks_lock:  # the app was uninstalled: forget repos pointing at it
                    for repo in [r for r, i in self._installations.items() if i == installation_id]:
                        del self._installations[repo]
                raise AuthError(f"installation {installation_id} of GitHub App {self.app_id} does not exist") from None
            try:
                fresh = _Cached(str(data["token"]), _parse_time(str(data["expires_at"])))
            except (KeyError, TypeError, ValueError) as exc:
                raise AuthError(
                    f"GitHub's installation-token answer lacks a usable token/expires_at ({type(exc).__name__})"
                ) from None
            self._tokens[installation_id] = fresh
            log.info("new token for installation %d, valid until %s", installation_id, data["expires_at"])
            return fresh.token

    def forget(self, installation_id: int) -> None:
        """Drop the cached token (GitHub refused it), so the next request fetches a new one."""
        with self._locks_lock:
            self._tokens.pop(installation_id, None)

    def installation_id(self, repo: str) -> int:
        """The App's installation on `owner/name` (cached; GET /repos/{owner}/{repo}/installation)."""
        if repo not in self._installations:
            try:
                data = self._request("GET", f"/repos/{repo}/installation", f"installation of {repo}")
            except HTTPFailureError as exc:
                if exc.status == 404:
                    raise AuthError(f"the GitHub App {self.app_id} is not installed on {repo}") from None
                raise
            self._installations[repo] = int(data["id"])
        return self._installations[repo]

    def app_slug(self) -> str:
        """The App's slug (GET /app): its comments are written by `<slug>[bot]`."""
        if self._slug is None:
            self._slug = str(self._request("GET", "/app", "app identity")["slug"])
        return self._slug
