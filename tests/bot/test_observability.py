"""What operators see: `GET /metrics` (Prometheus text, parsed with prometheus_client's own parser,
summed over processes in multiprocess mode, behind an optional bearer token) and structured logs
(JSON lines with repository, PR, SHA and delivery id for every queue step; secrets never logged)."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from mlgate.bot.intake.app import create_app
from mlgate.bot.intake.webhook import sign
from mlgate.bot.observability import logs, metrics
from mlgate.bot.settings import Settings, SettingsError, load_settings
from mlgate.bot.store.inbox import Inbox
from tests.bot.test_queue_runner import World
from tests.bot.test_webhook_intake import BODY, SECRET

TOKEN = "metrics-token-0123456789"


@pytest.fixture
def inbox(tmp_path: Path) -> Iterator[Inbox]:
    s = Inbox.open(f"sqlite:///{tmp_path / 'obs.sqlite3'}")
    yield s
    s.close()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a /metrics body, parsed by prometheus_client (a malformed body raises)."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def post(client, delivery: str, event: str = "pull_request"):  # type: ignore[no-untyped-def]
    return client.post("/webhook", data=BODY, headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(SECRET, BODY),
        "Content-Type": "application/json"})


def test_metrics_parse_and_count_deliveries(inbox: Inbox) -> None:
    client = create_app(Settings(webhook_secret=SECRET), store=inbox).test_client()
    before = samples(client.get("/metrics").get_data(as_text=True))
    key = ("mlgate_deliveries_received_total", (("event", "pull_request"),))
    assert post(client, "m-1").status_code == 202
    assert post(client, "m-1").status_code == 200  # a redelivery is not counted again
    resp = client.get("/metrics")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/plain")
    after = samples(resp.get_data(as_text=True))
    assert after[key] - before.get(key, 0.0) == 1.0
    assert after[("mlgate_intake_seconds_count", ())] >= 2
    text = resp.get_data(as_text=True)
    # unlabelled families are declared from the first scrape on (labelled ones once they have a sample)
    for family in ("mlgate_intake_seconds", "mlgate_worker_lag_seconds", "mlgate_time_to_merge_seconds",
                   "mlgate_evaluation_seconds", "mlgate_github_rate_limit_remaining"):
        assert f"# HELP {family} " in text, family


def test_metrics_token_is_required_when_set(inbox: Inbox) -> None:
    client = create_app(Settings(webhook_secret=SECRET, metrics_token=TOKEN), store=inbox).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": TOKEN}).status_code == 401
    resp = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and TOKEN not in resp.get_data(as_text=True)


_CHILD = """
import sys
from mlgate.bot.observability import metrics
for _ in range(int(sys.argv[1])):
    metrics.DELIVERIES_RECEIVED.labels(event="push").inc()
metrics.QUEUE_LENGTH.labels(repo="acme/ml").set(int(sys.argv[1]))
if len(sys.argv) > 2:
    sys.stdout.write(metrics.exposition()[0].decode())
"""


def test_metrics_of_several_processes_are_summed_in_multiprocess_mode(tmp_path: Path) -> None:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for count in ("2", "3"):  # two worker processes, each counting its own deliveries
        subprocess.run([sys.executable, "-c", _CHILD, count], env=env, check=True, timeout=60)
    out = subprocess.run([sys.executable, "-c", _CHILD, "0", "scrape"], env=env, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    got = samples(out)
    assert got[("mlgate_deliveries_received_total", (("event", "push"),))] == 5.0
    assert got[("mlgate_queue_length", (("repo", "acme/ml"),))] == 0.0  # the most recent value, not a sum


# ---------------------------------------------------------------------------------------------- logs


def json_lines(secrets: tuple[str, ...] = ()) -> tuple[io.StringIO, logging.Handler]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.addFilter(logs.Redactor(secrets))
    return stream, handler


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    stream, handler = json_lines(("It's a Secret to Everybody", "ghp-like-plain-token-value"))
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old)


def test_secrets_are_never_logged(captured: io.StringIO) -> None:
    log = logging.getLogger("mlgate.test")
    log.info("secret %s and token %s", "It's a Secret to Everybody", "ghs_" + "a" * 36,
             extra={"repo": "acme/ml", "header": "Bearer abcdefghijklmnopqrstuvwx"})
    log.error("key -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- leaked")
    try:
        raise ValueError("ghp-like-plain-token-value in an exception")
    except ValueError:
        log.exception("failed")
    text = captured.getvalue()
    for secret in ("It's a Secret", "ghs_aaaa", "abcdefghijklmnop", "MIIE", "ghp-like-plain-token-value"):
        assert secret not in text, secret
    log.info("the token expired; Bearer tokens are refreshed")  # prose about tokens is left alone
    assert "the token expired; Bearer tokens are refreshed" in captured.getvalue()
    first = json.loads(text.splitlines()[0])
    assert first["repo"] == "acme/ml" and first["level"] == "info" and "***" in first["msg"]


def test_every_queue_step_is_a_json_line_with_repo_pr_sha_and_delivery(store: Inbox, captured: io.StringIO) -> None:
    before = samples(metrics.exposition()[0].decode())
    w = World(store)
    heads = {n: w.pr(n) for n in (1, 2)}
    with logs.delivery_context("delivery-42"):
        w.merge(1)
        w.merge(2)
        w.ci()
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    by_event: dict[str, list[dict]] = {}
    for line in lines:
        by_event.setdefault(line.get("event", ""), []).append(line)
    for event in ("queue.batch_built", "queue.staging_sha", "queue.check_received", "queue.fast_forward",
                  "queue.fast_forwarded", "queue.landed"):
        assert by_event.get(event), (event, sorted(by_event))
        assert all(line["repo"] == "acme/ml" and line["delivery"] == "delivery-42" for line in by_event[event])
    assert {line["pr"] for line in by_event["queue.landed"]} == {1, 2}
    assert all(len(line["sha"]) >= 7 for line in by_event["queue.landed"] + by_event["queue.staging_sha"])
    assert heads  # the PRs' heads are what landed
    after = samples(metrics.exposition()[0].decode())

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    runs = len(w.ci_runs)  # #1 starts alone at once (no batch delay), #2 follows: two builds, both landed
    assert runs == 2
    assert grew("mlgate_batches_total", outcome="landed") == runs
    assert grew("mlgate_queue_merged_total", repo="acme/ml") == 2
    assert grew("mlgate_queue_ci_runs_total", repo="acme/ml") == runs
    assert grew("mlgate_time_to_merge_seconds_count") == 2
    assert after[("mlgate_queue_ci_runs_per_merged_pr", (("repo", "acme/ml"),))] == runs / 2
    assert after[("mlgate_queue_length", (("repo", "acme/ml"),))] == 0


def test_log_settings_are_validated() -> None:
    with pytest.raises(SettingsError, match="MLGATE_LOG_FORMAT must be text or json"):
        load_settings({"MLGATE_LOG_FORMAT": "xml"}, require_webhook_secret=False, require_github=False)
    s = load_settings({"MLGATE_LOG_FORMAT": "JSON", "MLGATE_METRICS_TOKEN": TOKEN}, require_webhook_secret=False,
                      require_github=False)
    assert s.log_format == "json" and TOKEN not in repr(s) and TOKEN in s.secrets()
