"""The shared browser fixture (tests/browser.py): Debian's Chromium, offline but for loopback."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import (
    CHROMIUM_ARGS,
    GITHUB_CSS_REL,
    MERMAID_REL,
    chromium_path,
    find_browser_assets,
    local_url,
    offline_page,
)
from tests.services import ServiceError


@pytest.mark.parametrize(("url", "local"), [
    ("file:///tmp/page.html", True),
    ("data:text/plain,hi", True),
    ("http://127.0.0.1:8080/dashboard", True),
    ("http://[::1]:8080/", True),
    ("http://localhost:5000/x", True),
    ("https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.min.js", False),
    ("https://github.githubassets.com/assets/github.css", False),
    ("http://192.0.2.1/pixel.png", False),
    ("http://localhost.example.com/", False),
    ("ftp://127.0.0.1/x", False),
])
def test_only_local_files_and_loopback_count_as_local(url: str, local: bool) -> None:
    assert local_url(url) is local


def test_chromium_is_debians_headless_without_sandbox(browser: Any) -> None:
    path = chromium_path()
    assert path is not None and Path(path).is_file()
    assert {"--headless", "--no-sandbox", "--disable-gpu"} <= set(CHROMIUM_ARGS)
    assert browser.is_connected() and browser.version.split(".")[0].isdigit()


@pytest.fixture
def loopback_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"served on loopback"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Access-Control-Allow-Origin", "*")  # the page is a file: URL
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_an_offline_page_refuses_the_internet_and_reaches_loopback(browser: Any, tmp_path: Path,
                                                                    loopback_server: str) -> None:
    page_file = tmp_path / "page.html"
    page_file.write_text('<!doctype html><img src="http://192.0.2.1/pixel.png">'
                         '<script src="https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.min.js"></script>',
                         encoding="utf-8")
    offline = offline_page(browser)
    try:
        offline.page.goto(page_file.as_uri())
        offline.page.wait_for_load_state("load")
        assert sorted(offline.refused) == ["http://192.0.2.1/pixel.png",
                                           "https://cdn.jsdelivr.net/npm/mermaid@11/dist/mermaid.min.js"]
        text = offline.page.evaluate("async (url) => (await fetch(url)).text()", loopback_server)
        assert text == "served on loopback"
        assert offline.page.viewport_size == {"width": 1000, "height": 900}
    finally:
        offline.close()


def test_the_npm_packages_are_there(browser_assets: Path) -> None:
    assert "mermaid" in (browser_assets / MERMAID_REL).read_text(encoding="utf-8")[:20_000].lower()
    assert ".markdown-body" in (browser_assets / GITHUB_CSS_REL).read_text(encoding="utf-8")


def test_a_named_chromium_that_is_not_there_is_not_replaced_by_another(monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.setenv("MLGATE_CHROMIUM", str(tmp_path / "no-such-chromium"))
    assert chromium_path() is None  # the fixture then fails with the install command; never a skip


def test_a_named_npm_dir_without_the_packages_is_an_error_that_says_how_to_fix_it(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MLGATE_BROWSER_NPM_DIR", str(tmp_path))
    with pytest.raises(ServiceError, match=r"lacks mermaid/dist/mermaid\.min\.js.*npm install --no-save mermaid@"):
        find_browser_assets()
