"""The dashboard of `mlgate demo`, read in Chromium: the real bot, fed by the sandbox's webhooks and
the fake CI's real gate results, recorded the queue, the gates on every landed commit, the
deployments and the alerts; every page shows them, and the alert is a GitHub issue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from mlgate.demo import DemoResult, run_demo
from tests.browser import offline_page

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoResult]:
    lines: list[str] = []
    result = run_demo(lines.append, keep=True, step_timeout=90, root=tmp_path_factory.mktemp("demo"))
    try:
        assert result.ok, "\n".join(lines)[-4000:]
        assert any(line.startswith("Dashboard: http://127.0.0.1:") for line in lines)
        yield result
    finally:
        if result.stop is not None:
            result.stop()


def test_every_page_of_the_demo(demo: DemoResult, browser: Any, screens: Path) -> None:
    base = demo.urls["dashboard"]
    offline = offline_page(browser, width=1200, height=900)
    page = offline.page
    foreign: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((demo.urls["bot"], demo.urls["sandbox"]))
            else foreign.append(r.url))
    try:
        page.goto(demo.urls["bot"] + "/")
        assert "alice/arrests" in page.inner_text("main")

        page.goto(base)
        text = page.inner_text("main")
        assert "landed" in text and "CI runs per merged PR" in text and "No batch running." in text
        page.screenshot(path=str(screens / "demo-queue.png"), full_page=True)

        page.goto(base + "/pull/1")
        text = page.inner_text("main")
        assert "mlgate/bias" in text and "failure" in text and "never queued" in text

        page.goto(base + "/pull/2")  # the bloated model: blocked by the budget gate alone
        text = page.inner_text("main")
        assert "mlgate/budget" in text and "failure" in text and "never queued" in text

        page.goto(base + "/pull/3")  # the training change: blocked on bob, then approved by him, then landed
        rules = page.inner_text("table.rules")
        assert "training code needs an ML reviewer" in rules and "satisfied" in rules and "bob" in rules
        assert "merged" in page.inner_text("main")

        page.goto(base + "/models")
        text = page.inner_text("main")
        assert "2000" in text.split("Newest data timestamp seen by the data gate:")[1][:30]
        labels = [c.get_attribute("aria-label") or "" for c in page.query_selector_all("svg[role=img]")]
        assert any(label.startswith("mlgate/quality roc_auc") for label in labels), labels
        assert "@ml-fairness-team" in page.inner_text("table.registry")
        page.screenshot(path=str(screens / "demo-models.png"), full_page=True)

        page.goto(base + "/deployments")
        text = page.inner_text("main")
        assert "staging" in text and "rolled back deployment" in text and "production" in text
        assert "\talice\t" in page.inner_text("section:nth-of-type(2) table")  # who asked for the rollback

        page.goto(base + "/alerts")
        text = page.inner_text("main")
        assert "Deployment to production failed" in text
        page.screenshot(path=str(screens / "demo-alerts.png"), full_page=True)
    finally:
        offline.close()
    assert foreign == [] and offline.refused == []
    issues = requests.get(f"{demo.urls['sandbox']}/api/v3/repos/alice/arrests/issues",
                          params={"labels": "mlgate-alert", "state": "open"},
                          headers={"Authorization": "token alice"}, timeout=30).json()
    assert "Deployment to production failed" in [i["title"] for i in issues]
