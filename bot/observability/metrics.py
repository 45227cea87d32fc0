"""The bot's Prometheus metrics and the `GET /metrics` endpoint (prometheus_client).

Correct under gunicorn's several processes: when `PROMETHEUS_MULTIPROC_DIR` is set (before
prometheus_client is first imported; `mlgate serve --workers N` sets it to a fresh directory when
unset), every process writes its samples to files there and `/metrics` adds them up with the
`MultiProcessCollector`; gauges say how (the newest value for queue lengths and the rate limit).
Without it one process's registry is served. `MLGATE_METRICS_TOKEN`, when set, must be presented
as `Authorization: Bearer <token>` (compared in constant time); without it `/metrics` is open.

Names (all prefixed `mlgate_`): see docs/bot-operations.md#metrics.
"""

from __future__ import annotations

import hmac
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge, Histogram

    DELIVERIES_RECEIVED: Counter
    DELIVERIES_HANDLED: Counter
    DELIVERIES_FAILED: Counter
    INTAKE_SECONDS: Histogram
    WORKER_LAG: Histogram
    QUEUE_LENGTH: Gauge
    BATCHES: Counter
    CI_RUNS: Counter
    MERGED: Counter
    CI_RUNS_PER_MERGED: Gauge
    TIME_TO_MERGE: Histogram
    GITHUB_CALLS: Counter
    RATE_REMAINING: Gauge
    EVALUATIONS: Counter
    EVALUATION_SECONDS: Histogram

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
_LONG = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
_made: dict[str, Any] = {}
_lock = threading.Lock()


def _make() -> dict[str, Any]:
    """The metrics, created on first use: prometheus_client picks its (multiprocess or not) value
    class when it is imported, so importing this module must not import it (`mlgate serve` sets
    PROMETHEUS_MULTIPROC_DIR first, then forks)."""
    from prometheus_client import Counter, Gauge, Histogram

    return {
        "DELIVERIES_RECEIVED": Counter("mlgate_deliveries_received_total", "Webhook deliveries stored (202)",
                                       ["event"]),
        "DELIVERIES_HANDLED": Counter("mlgate_deliveries_handled_total", "Deliveries the worker handled", ["event"]),
        "DELIVERIES_FAILED": Counter("mlgate_deliveries_failed_total",
                                     "Delivery attempts that raised (each is retried until MLGATE_MAX_ATTEMPTS)",
                                     ["event"]),
        "INTAKE_SECONDS": Histogram("mlgate_intake_seconds", "POST /webhook: verify, parse and store",
                                    buckets=_LATENCY),
        "WORKER_LAG": Histogram("mlgate_worker_lag_seconds", "From a delivery being stored to its handling",
                                buckets=(*_LATENCY, 30, 60, 300)),
        "QUEUE_LENGTH": Gauge("mlgate_queue_length", "PRs waiting, queued or being tested", ["repo"],
                              multiprocess_mode="mostrecent"),
        "BATCHES": Counter("mlgate_batches_total",
                           "Staging builds of the merge queue by outcome (landed, failed, abandoned)", ["outcome"]),
        "CI_RUNS": Counter("mlgate_queue_ci_runs_total", "Staging builds that got a verdict (CI runs)", ["repo"]),
        "MERGED": Counter("mlgate_queue_merged_total", "PRs landed by the merge queue", ["repo"]),
        "CI_RUNS_PER_MERGED": Gauge("mlgate_queue_ci_runs_per_merged_pr",
                                    "CI runs per merged PR since the queue's state began", ["repo"],
                                    multiprocess_mode="mostrecent"),
        "TIME_TO_MERGE": Histogram("mlgate_time_to_merge_seconds", "From /merge to landing", buckets=_LONG),
        "GITHUB_CALLS": Counter("mlgate_github_api_calls_total", "GitHub API operations (retries counted once)",
                                ["kind", "outcome"]),
        "RATE_REMAINING": Gauge("mlgate_github_rate_limit_remaining",
                                "X-RateLimit-Remaining of the last GitHub answer", multiprocess_mode="mostrecent"),
        "EVALUATIONS": Counter("mlgate_evaluations_total", "PR evaluations by outcome (ok, error)", ["outcome"]),
        "EVALUATION_SECONDS": Histogram("mlgate_evaluation_seconds", "One PR evaluation: read, decide, write",
                                        buckets=(*_LATENCY, 30, 60)),
    }


def __getattr__(name: str) -> Any:
    if name.isupper() and not name.startswith("_") and name != "MULTIPROC_ENV":
        with _lock:
            if not _made:
                _made.update(_make())
        if name in _made:
            return _made[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, summed over every process when multiprocess."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
    from prometheus_client import multiprocess as _multiprocess

    __getattr__("QUEUE_LENGTH")  # every metric exists (at zero) from the first scrape on
    if multiprocess_dir():
        registry = CollectorRegistry()
        _multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def authorized(header: str | None, token: str | None) -> bool:
    """No token configured: open. Else `Bearer <token>`, compared in constant time."""
    if not token:
        return True
    scheme, _, given = (header or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def mark_process_dead(pid: int) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges are dropped (multiprocess only)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess as _multiprocess

        _multiprocess.mark_process_dead(pid)


def observe_github_call(kind: str, ok: bool, remaining: int | None) -> None:
    GITHUB_CALLS = __getattr__("GITHUB_CALLS")
    RATE_REMAINING = __getattr__("RATE_REMAINING")
    GITHUB_CALLS.labels(kind=kind, outcome="ok" if ok else "error").inc()
    if remaining is not None and remaining >= 0:
        RATE_REMAINING.set(remaining)
