"""The dashboard read in a real browser (Playwright driving Debian's Chromium): each page against
the sandbox world, checking what a person reads, with screenshots (under pytest's tmp dir).
The page may reach nothing but the dashboard and the sandbox (tests/browser.py's `offline_page`
refuses the rest); any other request, or a script that runs, fails the test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser import offline_page
from tests.web.world import EVIL, OWNER, PRIVATE, PUBLIC, READER, Dashboard

pytestmark = pytest.mark.e2e


@pytest.fixture
def page(browser: Any, dashboard: Dashboard) -> Iterator[Any]:
    offline = offline_page(browser, width=1200, height=900)  # loopback only: nothing from the internet
    p = offline.page
    foreign: list[str] = []
    allowed = (dashboard.url, dashboard.sandbox.url)
    p.on("request", lambda r: None if r.url.startswith(allowed) else foreign.append(r.url))
    dialogs: list[str] = []
    p.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    yield p
    offline.close()
    assert foreign == [] and offline.refused == [], f"the page fetched from elsewhere: {foreign + offline.refused}"
    assert dialogs == [], f"a script ran: {dialogs}"


def shot(page: Any, screens: Path, name: str) -> None:
    page.screenshot(path=str(screens / f"{name}.png"), full_page=True)


def test_index_lists_public_repositories_only(page: Any, dashboard: Dashboard, screens: Path) -> None:
    page.goto(dashboard.url + "/")
    text = page.inner_text("main")
    assert f"{OWNER}/{PUBLIC}" in text and PRIVATE not in text
    assert "passing" in text and "staging was rolled back" in text
    shot(page, screens, "index")


def test_queue_page_shows_the_running_batch_and_the_order(page: Any, dashboard: Dashboard, screens: Path) -> None:
    page.goto(f"{dashboard.url}/{OWNER}/{PUBLIC}")
    text = page.inner_text("main")
    assert "Running batch 4" in text and "dddddddddddd" in text and "since 2026-11-30" in text
    rows = [r.inner_text() for r in page.query_selector_all("table.waiting tr")][1:]
    # the order the queue will try them: #6 (priority 2) before #5, then #7 waiting on its review
    assert [r.split("\t")[1] for r in rows] == ["#6", "#5", "#7"]
    assert EVIL in rows[2]  # shown literally, never run (the fixture fails on a dialog)
    assert "landed" in text and "CI runs per merged PR: 1.33" in text
    shot(page, screens, "queue")


def test_pull_page_shows_gates_per_head_and_queue_events(page: Any, dashboard: Dashboard, screens: Path) -> None:
    page.goto(f"{dashboard.url}/{OWNER}/{PUBLIC}/pull/4")
    text = page.inner_text("main")
    heads = [h.inner_text() for h in page.query_selector_all("main h3")]
    assert heads[0].startswith("444444444444") and heads[1].startswith("333333333333")
    assert "roc_auc below its floor" in text and "testing" in text and "in build 4" in text
    rules = [t.inner_text() for t in page.query_selector_all("table.rules")]
    assert "satisfied\tbob\t@bob" in rules[0] and "missing_approvals\t—" in rules[1]
    assert "mlgate: success" in heads[0] and "mlgate: failure" in heads[1]
    shot(page, screens, "pull")


def test_models_page_charts_the_metrics_with_honest_axes(page: Any, dashboard: Dashboard, screens: Path) -> None:
    page.goto(f"{dashboard.url}/{OWNER}/{PUBLIC}/models")
    text = page.inner_text("main")
    assert "2002-01-31T00:00:00" in text  # data freshness: the newest timestamp the data gate saw
    charts = page.query_selector_all("svg[role=img]")
    labels = [c.get_attribute("aria-label") for c in charts]
    assert any(label.startswith("mlgate/quality roc_auc, roc_auc, axis from") for label in labels), labels
    svg = next(c for c in charts if "roc_auc" in (c.get_attribute("aria-label") or ""))
    ticks = [t.text_content() for t in svg.query_selector_all("text.tick")]
    assert "aaaaaaa" in ticks and "ccccccc" in ticks and "landed commits" in (svg.text_content() or "")
    assert len(svg.query_selector_all("circle")) == 3
    registry = [r.inner_text().split("\t") for r in page.query_selector_all("table.registry tr")][1:]
    assert [(r[0], r[1], r[4]) for r in registry] == [("age", "@ml-team", "yes"), ("colour", "carol", "unused")]
    assert registry[1][2] == EVIL and registry[1][3] == "none"  # shown literally; no docs
    shot(page, screens, "models")


def test_deployments_page(page: Any, dashboard: Dashboard, screens: Path) -> None:
    page.goto(f"{dashboard.url}/{OWNER}/{PUBLIC}/deployments")
    text = page.inner_text("main")
    assert "rolled back deployment 102" in text and "failure" in text
    history = [r.inner_text().split("\t") for r in page.query_selector_all("section:nth-of-type(2) table tr")][1:]
    assert [(r[0], r[6]) for r in history] == [("103", OWNER), ("102", "mlgate (after landing)"),
                                               ("101", "mlgate (after landing)")]
    current = page.inner_text("section:first-of-type table")
    assert "staging" in current and "bbbbbbbbbbbb" in current and "103" in current
    shot(page, screens, "deployments")


def test_alerts_page(page: Any, dashboard: Dashboard, screens: Path) -> None:
    page.goto(f"{dashboard.url}/{OWNER}/{PUBLIC}/alerts")
    text = page.inner_text("main")
    assert "Open alerts" in text and "staging was rolled back" in text and "#1" in text
    assert "staging was rolled back to bbbbbbbbbbbb (deployment 103" in text and "`" not in text
    assert page.get_attribute("text=#1", "href") == f"{dashboard.sandbox.url}/{OWNER}/{PUBLIC}/issues/1"
    shot(page, screens, "alerts")


def test_private_pages_need_a_reader_signed_in(page: Any, dashboard: Dashboard, screens: Path) -> None:
    resp = page.goto(f"{dashboard.url}/{OWNER}/{PRIVATE}/models")
    assert resp.status == 404 and PRIVATE not in page.content()
    page.goto(f"{dashboard.url}/{OWNER}/{PUBLIC}")
    page.click("text=Sign in with GitHub")
    page.wait_for_url(f"{dashboard.sandbox.url}/login/oauth/authorize*")
    assert "mlgate-dashboard" in page.inner_text("body")
    page.fill("input[name=login]", READER)
    page.click("button[type=submit]")
    page.wait_for_url(f"{dashboard.url}/{OWNER}/{PUBLIC}")
    assert f"signed in as {READER}" in page.inner_text("header")
    page.goto(f"{dashboard.url}/{OWNER}/{PRIVATE}")
    assert "Running batch 4" in page.inner_text("main")
    shot(page, screens, "private-signed-in")
    page.click("text=Sign out")
    assert page.goto(f"{dashboard.url}/{OWNER}/{PRIVATE}").status == 404
