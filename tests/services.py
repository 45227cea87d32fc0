"""The outside things the tests need, provided by the test run itself.

- GitHub's own descriptions from npm (`@octokit/openapi`, `@octokit/webhooks-examples`,
  `@octokit/webhooks-schemas`): the contract tests hold the sandbox to them, and the adapter and
  intake tests use GitHub's example bodies. Found at `MLGATE_OCTOKIT_DIR` (the only place looked at
  when it is set), else in the repository's `node_modules`, else installed once with npm into a
  cache directory (`~/.cache/mlgate/octokit-<versions>`, or under `XDG_CACHE_HOME`).
- PostgreSQL: `MLGATE_TEST_POSTGRES_URL` when it is set (CI starts Debian's server with
  `.ci/postgres.sh`), else a throw-away server for the session from the `pgserver` package.

Neither is ever a reason to skip a test: a missing `npm` is an error that says how to fix it.
No pytest here, so `bench/` scripts use the same lookup.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

# Pinned, like ruff and zizmor: the contract tests judge the sandbox by these exact descriptions,
# on every machine. Bump on purpose (a new description can reveal a new difference).
OCTOKIT_PACKAGES = {
    "@octokit/openapi": "23.0.2",
    "@octokit/webhooks-examples": "7.6.1",
    "@octokit/webhooks-schemas": "7.6.1",
}
OPENAPI_REL = "@octokit/openapi/generated/api.github.com.json"
WEBHOOKS_REL = "@octokit/webhooks-schemas/schema.json"
EXAMPLES_REL = "@octokit/webhooks-examples/api.github.com/index.json"
OCTOKIT_FILES = (OPENAPI_REL, WEBHOOKS_REL, EXAMPLES_REL)
NPM_TIMEOUT = 600


class ServiceError(RuntimeError):
    """A service the tests need cannot be provided; the message says how to fix it."""


# ---------------------------------------------------------------------------------- npm packages


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock between processes (pytest-xdist workers, two test runs at once)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@dataclass(frozen=True)
class NpmPackages:
    """Pinned npm packages the tests read files from: found at `env_var` (the only place looked at
    when it is set, so a wrong setting is reported instead of silently replaced by another copy), else
    in the repository's `node_modules`, else installed once with npm into a cache directory
    (`~/.cache/mlgate/<cache_name>-<versions>`, or under `XDG_CACHE_HOME`)."""

    what: str  # for messages: "GitHub's API description and webhook schemas"
    env_var: str
    packages: Mapping[str, str]  # name -> pinned version
    files: tuple[str, ...]  # paths under node_modules that must all exist
    cache_name: str

    def specs(self) -> list[str]:
        return [f"{name}@{version}" for name, version in self.packages.items()]

    def complete(self, node_modules: Path) -> bool:
        return all((node_modules / rel).is_file() for rel in self.files)

    def cache_dir(self) -> Path:
        """Where the test run installs the packages: one directory per set of pinned versions."""
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        versions = ",".join(f"{name}@{version}" for name, version in sorted(self.packages.items()))
        return base / "mlgate" / f"{self.cache_name}-{hashlib.sha256(versions.encode()).hexdigest()[:12]}"

    def find(self) -> Path | None:
        """The `node_modules` that has every file, or None when none has them."""
        explicit = os.environ.get(self.env_var)
        if explicit:
            missing = [rel for rel in self.files if not (Path(explicit) / rel).is_file()]
            if missing:
                raise ServiceError(f"{self.env_var}={explicit} lacks {', '.join(missing)}; unset it to let the "
                                   f"tests install {self.what} themselves, or install them there with "
                                   f"`npm install --no-save {' '.join(self.specs())}`")
            return Path(explicit)
        for candidate in (REPO_ROOT / "node_modules", self.cache_dir() / "node_modules"):
            if self.complete(candidate):
                return candidate
        return None

    def install_command(self, prefix: Path) -> list[str]:
        npm = shutil.which("npm")
        if npm is None:
            raise ServiceError(
                f"the tests need {self.what} from npm, and `npm` is not on PATH: install Node.js with npm "
                f"(Debian/Ubuntu: `apt-get install npm`), or point {self.env_var} at a node_modules directory "
                f"that has {', '.join(self.packages)}")
        return [npm, "install", "--no-save", "--no-audit", "--no-fund", "--no-package-lock", "--loglevel=error",
                "--prefix", str(prefix), *self.specs()]

    def ensure(self) -> Path:
        """The packages' `node_modules`, installed with npm into the cache directory when nothing has them."""
        found = self.find()
        if found is not None:
            return found
        cache = self.cache_dir()
        with _file_lock(cache.with_name(cache.name + ".lock")):
            if self.complete(cache / "node_modules"):  # another process installed them while this one waited
                return cache / "node_modules"
            command = self.install_command(cache)
            cache.mkdir(parents=True, exist_ok=True)
            try:
                proc = subprocess.run(command, capture_output=True, text=True, timeout=NPM_TIMEOUT, check=False)
            except subprocess.TimeoutExpired:
                raise ServiceError(f"`{' '.join(command)}` did not finish in {NPM_TIMEOUT} s") from None
            if proc.returncode != 0 or not self.complete(cache / "node_modules"):
                tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
                raise ServiceError(f"`{' '.join(command)}` failed (exit {proc.returncode}); set {self.env_var} to "
                                   f"a node_modules directory that has the packages to skip the install:\n{tail}")
        return cache / "node_modules"


# GitHub's descriptions: the contract tests hold the sandbox to them.
OCTOKIT = NpmPackages("GitHub's API description and webhook schemas", "MLGATE_OCTOKIT_DIR", OCTOKIT_PACKAGES,
                      OCTOKIT_FILES, "octokit")


def octokit_cache_dir() -> Path:
    return OCTOKIT.cache_dir()


def find_octokit() -> Path | None:
    return OCTOKIT.find()


def ensure_octokit() -> Path:
    return OCTOKIT.ensure()


# ------------------------------------------------------------------------------------------ PostgreSQL


class Postgres:
    """The PostgreSQL server of a test run: the configured one, or one started on first use.

    Lazy, so a run without PostgreSQL tests starts nothing; `stop` (at the session's end) stops only
    a server this object started.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._url: str | None = None
        self._server: Any = None
        self._data: str | None = None

    def url(self) -> str:
        """A SQLAlchemy URL (psycopg driver) to a database the tests may create databases from."""
        with self._lock:
            if self._url is None:
                self._url = os.environ.get("MLGATE_TEST_POSTGRES_URL") or self._start()
            return self._url

    def _start(self) -> str:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns about a missing XDG_RUNTIME_DIR
                import pgserver
        except ImportError:
            raise ServiceError("MLGATE_TEST_POSTGRES_URL is not set and the `pgserver` package is missing: "
                               "`pip install -e '.[dev]'` installs it (or start a server: "
                               'eval "$(.ci/postgres.sh)")') from None
        # A short path: the server's Unix socket lives in the data directory (at most 107 bytes).
        self._data = tempfile.mkdtemp(prefix="mlgate-pg-", dir="/tmp" if Path("/tmp").is_dir() else None)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._server = pgserver.get_server(self._data, cleanup_mode="delete")
        uri: str = self._server.get_uri()
        if not uri.startswith("postgresql://"):
            raise ServiceError(f"pgserver gave an unexpected URI: {uri}")
        return "postgresql+psycopg://" + uri.removeprefix("postgresql://")

    @property
    def started_here(self) -> bool:
        return self._server is not None

    def stop(self) -> None:
        with self._lock:
            if self._server is not None:
                self._server.cleanup()
                self._server = None
            if self._data is not None:
                shutil.rmtree(self._data, ignore_errors=True)
                self._data = None
            self._url = None


POSTGRES = Postgres()
