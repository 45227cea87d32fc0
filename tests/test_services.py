"""The test run provides its own services and fails (never skips) when it cannot; shared fixtures
behave when a test fails. Inner pytest runs use `pytester`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import services

INNER_CONFTEST = (
    "from tests.bot.conftest import rsps  # noqa: F401\n"
    "from tests.conftest import pytest_runtest_makereport  # noqa: F401\n"
)


def test_a_failing_test_with_unused_http_mocks_is_one_failure_not_also_an_error(pytester: pytest.Pytester) -> None:
    """A test that registers mocks and then fails (or skips) reports that, not an extra teardown error."""
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        def test_fails(rsps):
            rsps.get("https://example.test/never-called", json={})
            assert False, "the real failure"

        def test_skips(rsps):
            rsps.get("https://example.test/never-called", json={})
            pytest.skip("a reason")

        def test_passes_but_leaves_a_mock_unused(rsps):
            rsps.get("https://example.test/never-called", json={})
        """)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1, skipped=1, errors=1)
    result.stdout.fnmatch_lines(["*AssertionError: the real failure*"])
    result.stdout.fnmatch_lines(["ERROR *::test_passes_but_leaves_a_mock_unused - *Not all requests have been*"])


# ------------------------------------------------------------------------------ GitHub's descriptions


def fake_node_modules(root: Path) -> Path:
    for rel in services.OCTOKIT_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("[]")
    return root


@pytest.fixture
def no_octokit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No MLGATE_OCTOKIT_DIR, no node_modules in the repository, an empty cache."""
    monkeypatch.delenv("MLGATE_OCTOKIT_DIR", raising=False)
    monkeypatch.setattr(services, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_an_explicit_directory_without_the_packages_is_an_error_naming_what_is_missing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / services.OPENAPI_REL).parent.mkdir(parents=True)
    (tmp_path / services.OPENAPI_REL).write_text("{}")
    monkeypatch.setenv("MLGATE_OCTOKIT_DIR", str(tmp_path))
    with pytest.raises(services.ServiceError, match=r"lacks @octokit/webhooks-schemas/schema\.json"):
        services.ensure_octokit()


def test_without_npm_the_error_says_how_to_get_it(no_octokit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(no_octokit / "empty-bin"))
    with pytest.raises(services.ServiceError, match=r"`npm` is not on PATH: install Node.js with npm"):
        services.ensure_octokit()


def test_npm_installs_the_pinned_packages_into_the_cache_once(no_octokit: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in `npm` records its arguments and lays out the files, as `npm install --prefix` does."""
    bin_dir = no_octokit / "bin"
    bin_dir.mkdir()
    log = no_octokit / "npm-calls.txt"
    files = " ".join(services.OCTOKIT_FILES)
    (bin_dir / "npm").write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'while [ "$1" != "--prefix" ]; do shift; done; prefix="$2"\n'
        f"for rel in {files}; do\n"
        '  mkdir -p "$prefix/node_modules/$(dirname $rel)"; echo "[]" > "$prefix/node_modules/$rel"\n'
        "done\n")
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    first = services.ensure_octokit()
    second = services.ensure_octokit()  # found in the cache: npm is not run again

    assert first == second == services.octokit_cache_dir() / "node_modules"
    assert str(first).startswith(str(no_octokit / "cache" / "mlgate" / "octokit-"))
    calls = log.read_text().splitlines()
    assert len(calls) == 1
    assert calls[0].split()[:2] == ["install", "--no-save"]
    for name, version in services.OCTOKIT_PACKAGES.items():
        assert f"{name}@{version}" in calls[0].split()


def test_a_failed_npm_install_is_an_error_with_its_output(no_octokit: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = no_octokit / "bin"
    bin_dir.mkdir()
    (bin_dir / "npm").write_text("#!/bin/sh\necho 'npm error code E404 something' >&2\nexit 1\n")
    (bin_dir / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(services.ServiceError, match=r"failed \(exit 1\)[\s\S]*E404"):
        services.ensure_octokit()


def test_the_repositorys_node_modules_is_used_before_the_cache(no_octokit: Path) -> None:
    repo_modules = fake_node_modules(no_octokit / "repo" / "node_modules")
    assert services.ensure_octokit() == repo_modules


def test_a_test_that_needs_the_descriptions_errors_instead_of_skipping(pytester: pytest.Pytester,
                                                                         tmp_path: Path) -> None:
    pytester.makeconftest("from tests.conftest import octokit_dir  # noqa: F401\n")
    pytester.makepyfile("def test_uses_them(octokit_dir):\n    assert octokit_dir\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLGATE_OCTOKIT_DIR", str(tmp_path / "nothing-here"))
        result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*MLGATE_OCTOKIT_DIR=*nothing-here lacks*"])


# ------------------------------------------------------------------------------------------ PostgreSQL


def test_without_a_configured_server_one_is_started_for_the_run_and_removed_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlalchemy as sa

    monkeypatch.delenv("MLGATE_TEST_POSTGRES_URL", raising=False)
    pg = services.Postgres()
    try:
        url = pg.url()
        assert url.startswith("postgresql+psycopg://") and pg.started_here
        assert pg.url() == url  # one server per run
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SHOW server_version").scalar().split(".")[0].isdigit()
        engine.dispose()
        data = Path(pg._data or "")
        assert data.is_dir()
    finally:
        pg.stop()
    assert not data.exists()


def test_a_configured_server_is_used_and_never_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGATE_TEST_POSTGRES_URL", "postgresql+psycopg://someone@db.invalid/x")
    pg = services.Postgres()
    assert pg.url() == "postgresql+psycopg://someone@db.invalid/x"
    assert not pg.started_here
    pg.stop()
