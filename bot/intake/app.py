"""The web entry point: verify, store, acknowledge. Nothing else happens in the request.

It also serves `GET /healthz` and `GET /metrics` (Prometheus; an optional bearer token,
`MLGATE_METRICS_TOKEN`).

A delivery is answered 202 only after it is committed to the store, so an acknowledged delivery
is never lost; the worker picks it up from there. 503 means it was not stored (GitHub's
redelivery is the remedy), and comes within `MLGATE_INTAKE_TIMEOUT_SECONDS` when the database is
locked (bot/intake/writer.py). Bodies and signatures are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from mlgate.bot.intake.webhook import SIGNATURE_HEADER, WebhookError, parse_delivery, verify_signature
from mlgate.bot.intake.writer import IntakeWriter
from mlgate.bot.observability import metrics
from mlgate.bot.settings import Settings, load_settings
from mlgate.bot.store.engine import StoreError
from mlgate.bot.store.inbox import Inbox

log = logging.getLogger(__name__)


def _too_large(limit: int) -> tuple[Response, int]:
    return jsonify(error=f"body larger than the limit of {limit} bytes"), 413


def create_app(
    settings: Settings | None = None,
    *,
    store: Inbox | None = None,
    run_migrations: bool = True,
    on_delivery: Callable[[str], None] | None = None,
) -> Flask:
    """Build the Flask app. `on_delivery(serial_key)` is called after each new delivery is stored
    (the in-process worker passes its `wake` so it starts at once instead of at the next poll)."""
    settings = settings or load_settings(require_github=False)
    if not settings.webhook_secret:
        raise ValueError("MLGATE_WEBHOOK_SECRET is not set: the webhook endpoint cannot verify deliveries")
    secret = settings.webhook_secret.encode("utf-8")
    limit = settings.max_body_bytes
    store = store or Inbox.open(settings.database_url, run_migrations=run_migrations,
                                busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                                intake_timeout=settings.intake_timeout_seconds)

    app = Flask("mlgate")
    # Werkzeug refuses a larger Content-Length before reading, and stops a chunked body at the limit.
    app.config["MAX_CONTENT_LENGTH"] = limit
    app.extensions["mlgate_store"] = store
    # Group commit (one fsync per burst, not per request), with a bounded wait for locks.
    writer = IntakeWriter(store, timeout=settings.intake_timeout_seconds)
    app.extensions["mlgate_intake"] = writer

    @app.errorhandler(RequestEntityTooLarge)
    def _entity_too_large(_exc: Exception) -> tuple[Response, int]:
        return _too_large(limit)

    @app.post("/webhook")
    def webhook() -> Any:
        with metrics.INTAKE_SECONDS.time():
            return _webhook()

    def _webhook() -> Any:
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit)
        body = request.get_data(cache=False)
        # A chunked body is cut off at the limit without an error: look for one byte more.
        if request.content_length is None and len(body) >= limit and request.environ["wsgi.input"].read(1):
            return _too_large(limit)
        try:
            verify_signature(secret, body, request.headers.get(SIGNATURE_HEADER))
            delivery = parse_delivery(request.headers, body)
        except WebhookError as exc:
            log.warning("webhook rejected with %d: %s", exc.status, exc.message)
            return jsonify(error=exc.message), exc.status
        try:
            new = writer.add(delivery)
        except (SQLAlchemyError, StoreError) as exc:
            log.error("delivery %s not stored: %s", delivery.delivery_id,
                      exc if isinstance(exc, StoreError) else type(exc).__name__)
            return jsonify(error="the delivery could not be stored; redeliver it later"), 503
        if not new:
            log.info("delivery %s (%s) is a redelivery: already stored", delivery.delivery_id, delivery.event,
                     extra={"delivery": delivery.delivery_id, "event": "webhook.duplicate"})
            return jsonify(status="duplicate", delivery=delivery.delivery_id), 200
        metrics.DELIVERIES_RECEIVED.labels(event=delivery.event).inc()
        if on_delivery is not None:
            on_delivery(delivery.serial_key)
        # What jsonify would send, without its encoder: the id is letters, digits and ._:- only
        # (parse_delivery checked), so it needs no escaping.
        return Response(f'{{"delivery":"{delivery.delivery_id}","status":"queued"}}\n', status=202,
                        mimetype="application/json")

    @app.get("/metrics")
    def metrics_endpoint() -> Any:
        """Prometheus' text format, summed over gunicorn's processes (bot/observability/metrics.py)."""
        if not metrics.authorized(request.headers.get("Authorization"), settings.metrics_token):
            return Response("a bearer token is required\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="mlgate metrics"'})
        body, content_type = metrics.exposition()
        return Response(body, status=200, headers={"Content-Type": content_type})

    @app.get("/healthz")
    def healthz() -> Any:
        if store.ping():
            return jsonify(status="ok", database="ok"), 200
        return jsonify(status="unavailable", database="unreachable"), 503

    return app
