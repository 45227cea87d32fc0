"""POST /webhook and GET /healthz: signatures, limits, bad input, deduplication, GitHub's examples,
and the same over real HTTP under gunicorn."""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from werkzeug.test import EnvironBuilder, run_wsgi_app

from mlgate.bot.intake.app import create_app
from mlgate.bot.intake.webhook import WebhookError, parse_delivery, sign, verify_signature
from mlgate.bot.settings import Settings, SettingsError, load_settings
from mlgate.bot.store.inbox import Inbox
from tests.bot.conftest import fresh_database
from tests.conftest import free_port, github_webhook_examples, wait_for_port, wait_until

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "It's a Secret to Everybody"
SUBSCRIBED = ("pull_request", "pull_request_review", "issue_comment", "check_run", "check_suite", "status", "push",
              "deployment", "deployment_status", "installation", "installation_repositories")
BODY = json.dumps({"action": "opened", "number": 4, "repository": {"full_name": "octo/one"},
                   "installation": {"id": 42}, "pull_request": {"title": "canary-text-in-body"}}).encode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Inbox]:
    s = Inbox.open(f"sqlite:///{tmp_path / 'intake.sqlite3'}")
    yield s
    s.close()


@pytest.fixture
def client(store: Inbox):  # type: ignore[no-untyped-def]
    app = create_app(Settings(webhook_secret=SECRET, max_body_bytes=64 * 1024), store=store)
    return app.test_client()


def headers(body: bytes = BODY, delivery: str = "d-1", event: str = "pull_request", **extra: str) -> dict[str, str]:
    h = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(SECRET, body),
         "Content-Type": "application/json"}
    h.update(extra)
    return h


# ---------------------------------------------------------------------------------- pure parts


def test_github_documented_signature_example() -> None:
    # The example from GitHub's "Validating webhook deliveries" page.
    expected = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(SECRET, b"Hello, World!") == expected
    verify_signature(SECRET, b"Hello, World!", expected)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (None, "missing X-Hub-Signature-256"),
        ("", "missing X-Hub-Signature-256"),
        ("sha1=01dc10d0c83e72ed246219cdd91669667fe2ca59", "must be 'sha256=<hex digest>'"),
        ("sha256=", "must be 'sha256=<hex digest>'"),
        ("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17", "must be 'sha256=<hex digest>'"),
        ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18", "does not match"),
        ("sha256=ÿÿÿ", "does not match"),
    ],
)
def test_bad_signatures_are_refused(header: str | None, message: str) -> None:
    with pytest.raises(WebhookError) as info:
        verify_signature(SECRET, b"Hello, World!", header)
    assert info.value.status == 401
    assert message in info.value.message


# ---------------------------------------------------------------------------------- the endpoint


def test_valid_delivery_is_stored_and_acknowledged(client, store: Inbox) -> None:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    response = client.post("/webhook", data=BODY, headers=headers())
    elapsed = time.perf_counter() - started
    assert response.status_code == 202
    assert response.get_json() == {"status": "queued", "delivery": "d-1"}
    (row,) = store.deliveries()
    assert (row.delivery_id, row.event, row.action, row.repo, row.installation_id, row.status) == (
        "d-1", "pull_request", "opened", "octo/one", 42, "pending")
    assert store.delivery_payload("d-1") == json.loads(BODY)
    assert elapsed < 0.5


def test_redelivery_answers_200_and_stores_nothing_new(client, store: Inbox) -> None:  # type: ignore[no-untyped-def]
    assert client.post("/webhook", data=BODY, headers=headers()).status_code == 202
    again = client.post("/webhook", data=BODY, headers=headers())
    assert again.status_code == 200
    assert again.get_json()["status"] == "duplicate"
    assert len(store.deliveries()) == 1


@pytest.mark.parametrize(
    ("change", "status", "message"),
    [
        ({"X-Hub-Signature-256": None}, 401, "missing X-Hub-Signature-256"),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401, "signature does not match"),
        ({"X-Hub-Signature-256": sign("wrong secret", BODY)}, 401, "signature does not match"),
        ({"X-Hub-Signature-256": "sha1=" + "0" * 40}, 401, "must be 'sha256=<hex digest>'"),
        ({"X-GitHub-Event": None}, 400, "missing X-GitHub-Event"),
        ({"X-GitHub-Delivery": None}, 400, "missing X-GitHub-Delivery"),
        ({"X-GitHub-Delivery": "x" * 101}, 400, "X-GitHub-Delivery must be 1-100 characters"),
        ({"X-GitHub-Event": "Pull Request"}, 400, "X-GitHub-Event is not an event name"),
    ],
)
def test_rejected_requests_store_nothing(client, store: Inbox, change: dict, status: int,  # type: ignore[no-untyped-def]
                                         message: str, caplog: pytest.LogCaptureFixture) -> None:
    h = headers()
    for key, value in change.items():
        if value is None:
            h.pop(key)
        else:
            h[key] = value
    with caplog.at_level(logging.DEBUG):
        response = client.post("/webhook", data=BODY, headers=h)
    assert response.status_code == status
    assert message in response.get_json()["error"]
    assert store.deliveries() == []
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "canary-text-in-body" not in logged
    assert SECRET not in logged
    assert sign(SECRET, BODY) not in logged


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "body is not valid JSON at line 1 column 2"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'{"a": NaN}', "body is not valid JSON"),
        (b"\xff\xfe{}", "body is not UTF-8 (invalid byte at offset 0)"),
        (b"", "body is not valid JSON"),
    ],
)
def test_malformed_bodies_are_400(client, store: Inbox, body: bytes, message: str) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/webhook", data=body, headers=headers(body))
    assert response.status_code == 400
    assert message in response.get_json()["error"]
    assert store.deliveries() == []


class CountingStream:
    """A request body that records how much of it was read."""

    def __init__(self, size: int) -> None:
        self.size, self.read_bytes = size, 0

    def read(self, n: int = -1) -> bytes:
        n = self.size - self.read_bytes if n < 0 else min(n, self.size - self.read_bytes)
        self.read_bytes += n
        return b"x" * n

    def readline(self, n: int = -1) -> bytes:
        return self.read(n)


def test_oversized_body_is_413_without_being_read(client, store: Inbox) -> None:  # type: ignore[no-untyped-def]
    stream = CountingStream(10 * 1024 * 1024)
    environ = EnvironBuilder(path="/webhook", method="POST", headers=headers(b"irrelevant")).get_environ()
    environ["wsgi.input"] = stream
    environ["CONTENT_LENGTH"] = str(stream.size)
    app_iter, status, _ = run_wsgi_app(client.application, environ, buffered=True)
    assert status.startswith("413")
    assert "larger than the limit of 65536 bytes" in json.loads(b"".join(app_iter))["error"]
    assert stream.read_bytes == 0
    assert store.deliveries() == []


def test_body_at_the_limit_is_accepted(store: Inbox) -> None:
    payload = {"action": "created", "repository": {"full_name": "octo/one"}, "pad": ""}
    base = len(json.dumps(payload).encode())
    payload["pad"] = "p" * (1000 - base)
    body = json.dumps(payload).encode()
    assert len(body) == 1000
    app = create_app(Settings(webhook_secret=SECRET, max_body_bytes=1000), store=store)
    assert app.test_client().post("/webhook", data=body, headers=headers(body)).status_code == 202
    bigger = body[:-2] + b'p"}'
    response = app.test_client().post("/webhook", data=bigger, headers=headers(bigger, delivery="d-2"))
    assert response.status_code == 413


def test_store_failure_is_503_and_healthz_reports_it(client, store: Inbox) -> None:  # type: ignore[no-untyped-def]
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()) == (200, {"status": "ok", "database": "ok"})
    with store.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE deliveries"))
        conn.execute(sa.text("DROP TABLE key_locks"))
    response = client.post("/webhook", data=BODY, headers=headers())
    assert response.status_code == 503
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()) == (503, {"status": "unavailable", "database": "unreachable"})


# ---------------------------------------------------------------------------------- a locked database

GITHUB_TIMEOUT = 10.0  # GitHub gives up on a delivery after 10 s


def body_for(n: int) -> bytes:
    return json.dumps({"action": "opened", "number": n, "repository": {"full_name": "octo/one"}}).encode()


def post_concurrently(app, deliveries: list[str]) -> dict[str, tuple[int, float]]:  # type: ignore[no-untyped-def]
    """POST one delivery per thread at once; (status, seconds) per delivery id."""
    results: dict[str, tuple[int, float]] = {}
    start = threading.Barrier(len(deliveries))

    def post(n: int, delivery_id: str) -> None:
        body = body_for(n)
        client = app.test_client()
        start.wait()
        began = time.monotonic()
        status = client.post("/webhook", data=body, headers=headers(body, delivery=delivery_id)).status_code
        results[delivery_id] = (status, time.monotonic() - began)

    threads = [threading.Thread(target=post, args=(n, d)) for n, d in enumerate(deliveries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_locked_sqlite_answers_in_time_and_503_means_not_stored(tmp_path: Path) -> None:
    """Another process holds the write lock; an in-process worker transaction waits for it too.
    The default settings: answered within GitHub's 10 s (MLGATE_INTAKE_TIMEOUT_SECONDS, 5 s)."""
    path = tmp_path / "locked.sqlite3"
    store = Inbox.open(f"sqlite:///{path}")
    app = create_app(Settings(webhook_secret=SECRET), store=store)
    locker = sqlite3.connect(path, isolation_level=None, timeout=0)
    locker.execute("BEGIN IMMEDIATE")  # the write lock, as another process's long transaction holds it
    worker_write = threading.Thread(target=store.request_resync)  # waits for SQLite holding the process's gate
    try:
        worker_write.start()
        assert wait_until(lambda: store._gate is not None and store._gate._held, 5)
        ids = [f"locked-{i}" for i in range(3)]
        results = post_concurrently(app, ids)
        assert set(results) == set(ids)
        for delivery_id, (status, seconds) in results.items():
            assert status in (202, 503), (delivery_id, status)
            assert seconds < GITHUB_TIMEOUT - 1, (delivery_id, seconds)
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        worker_write.join(30)
        app.extensions["mlgate_intake"].close()  # whatever the intake still had in hand is written now
    try:
        for delivery_id, (status, _) in results.items():
            stored = store.delivery(delivery_id) is not None
            assert stored == (status == 202), (delivery_id, status, "stored" if stored else "not stored")
        assert [s for s, _ in results.values()] == [503, 503, 503]  # the lock was never released in time
    finally:
        store.close()


@pytest.mark.postgres
def test_postgres_lock_answers_in_time_and_503_means_not_stored(tmp_path: Path) -> None:
    """A migration-like ACCESS EXCLUSIVE lock on the inbox: refused in time, then accepted once it goes."""
    with fresh_database("postgres", tmp_path) as url:
        store = Inbox.open(url)
        app = create_app(Settings(webhook_secret=SECRET, intake_timeout_seconds=1.0), store=store)
        locker = sa.create_engine(url).connect()
        try:
            locker.exec_driver_sql("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
            results = post_concurrently(app, ["pg-a", "pg-b"])
            for delivery_id, (status, seconds) in results.items():
                assert status == 503, (delivery_id, status)
                assert seconds < 2.0, (delivery_id, seconds)  # MLGATE_INTAKE_TIMEOUT_SECONDS=1

            # Released while a request waits for it: that request is stored and answered 202.
            answer: dict[str, int] = {}
            body = body_for(9)
            waiting = threading.Thread(target=lambda: answer.setdefault("pg-c", app.test_client().post(
                "/webhook", data=body, headers=headers(body, delivery="pg-c")).status_code))
            waiting.start()
            blocked = sa.text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                              "AND datname = current_database()")
            with sa.create_engine(url).connect() as probe:
                assert wait_until(lambda: probe.execute(blocked).scalar() > 0, 5)
            locker.rollback()
            waiting.join(GITHUB_TIMEOUT)
            assert answer == {"pg-c": 202}
        finally:
            locker.rollback()
            locker.close()
            app.extensions["mlgate_intake"].close()
        try:
            assert store.delivery("pg-a") is None and store.delivery("pg-b") is None
            assert store.delivery("pg-c") is not None
        finally:
            store.close()


def test_the_intake_timeout_stays_inside_githubs_ten_seconds() -> None:
    env = {"MLGATE_WEBHOOK_SECRET": SECRET}
    assert load_settings(env, require_github=False).intake_timeout_seconds == 5.0
    assert load_settings({**env, "MLGATE_INTAKE_TIMEOUT_SECONDS": "2.5"}, require_github=False).intake_timeout_seconds \
        == 2.5
    with pytest.raises(SettingsError, match="MLGATE_INTAKE_TIMEOUT_SECONDS must be at most 9"):
        load_settings({**env, "MLGATE_INTAKE_TIMEOUT_SECONDS": "10"}, require_github=False)
    with pytest.raises(SettingsError, match=r"MLGATE_INTAKE_TIMEOUT_SECONDS must be at least 0\.1"):
        load_settings({**env, "MLGATE_INTAKE_TIMEOUT_SECONDS": "0"}, require_github=False)


def test_new_deliveries_wake_the_worker_but_duplicates_do_not(store: Inbox) -> None:
    calls: list[str] = []
    app = create_app(Settings(webhook_secret=SECRET), store=store, on_delivery=calls.append)
    c = app.test_client()
    c.post("/webhook", data=BODY, headers=headers())
    c.post("/webhook", data=BODY, headers=headers())
    c.post("/webhook", data=b"{}", headers=headers(b"{}", delivery="d-2", **{"X-Hub-Signature-256": "sha256=00"}))
    assert calls == ["octo/one"]


def test_the_app_refuses_to_start_without_a_secret(store: Inbox) -> None:
    with pytest.raises(ValueError, match="MLGATE_WEBHOOK_SECRET is not set"):
        create_app(Settings(webhook_secret=None), store=store)


# ---------------------------------------------------------------------------------- GitHub's examples


def test_every_example_payload_of_the_subscribed_events_is_accepted(client, store: Inbox) -> None:  # type: ignore[no-untyped-def]
    by_event = {entry["name"]: entry["examples"] for entry in github_webhook_examples()}
    assert set(SUBSCRIBED) <= set(by_event), set(SUBSCRIBED) - set(by_event)
    expected = {}
    for event in SUBSCRIBED:
        assert by_event[event], f"no examples for {event}"
        for i, example in enumerate(by_event[event]):
            body = json.dumps(example).encode()
            delivery_id = f"{event}-{i}"
            response = client.post("/webhook", data=body, headers=headers(body, delivery=delivery_id, event=event))
            assert response.status_code == 202, (delivery_id, response.get_json())
            expected[delivery_id] = (event, example.get("action"), (example.get("repository") or {}).get("full_name"),
                                     (example.get("installation") or {}).get("id"))
    rows = {row.delivery_id: row for row in store.deliveries()}
    assert set(rows) == set(expected)
    for delivery_id, (event, action, repo, installation) in expected.items():
        row = rows[delivery_id]
        assert (row.event, row.action, row.repo, row.installation_id) == (event, action, repo, installation)
        assert store.delivery_payload(delivery_id) == by_event[event][int(delivery_id.rsplit("-", 1)[1])]
    # Spot checks written out by hand, independent of the extraction code.
    assert rows["pull_request-0"].repo == "Codertocat/Hello-World" and rows["pull_request-0"].action == "opened"
    assert rows["push-0"].action is None
    assert rows["installation-0"].repo is None and rows["installation-0"].serial_key == "installation:2"
    assert rows["check_run-6"].repo == "electron/electron" and rows["check_run-6"].installation_id == 690857


def _nested(depth: int) -> bytes:
    """A signed-able object nested `depth` levels deep: {"a": {"a": ... 1 ...}} (lists in between)."""
    opening = "".join('{"a":' if level % 2 == 0 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 == 0 else "]" for level in reversed(range(depth)))
    return (opening + "1" + closing).encode()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        # json.loads(bytes) would detect and accept these encodings; GitHub sends UTF-8 only.
        ('{"action": "opened"}'.encode("utf-16"), "body is not UTF-8"),
        ('{"action": "opened"}'.encode("utf-16-le"), "body is not valid JSON"),  # NUL bytes are UTF-8
        ('{"action": "opened"}'.encode("utf-32"), "body is not UTF-8"),
        ('{"action": "fermé"}'.encode("latin-1"), "body is not UTF-8"),
        (b'{"action": "caf\xe9"}', "body is not UTF-8"),
        ('\ufeff{"action": "opened"}'.encode(), "body is not valid JSON"),
        (_nested(10_000), "body is nested deeper than 100 levels"),
        (_nested(101), "body is nested deeper than 100 levels"),
        (b'{"action": "x\\u0000y"}', "action contains a NUL character"),
        (b'{"repository": {"full_name": "octo/\\u0000"}}', "repository.full_name contains a NUL character"),
    ],
    ids=["utf-16", "utf-16-le", "utf-32", "latin-1", "latin-1-bytes", "utf-8-bom", "very-deep", "depth-101",
         "nul-action", "nul-repo"],
)
def test_signed_bodies_that_are_not_utf8_json_or_too_deep_are_400(client, store: Inbox, body: bytes,  # type: ignore[no-untyped-def]
                                                                   message: str) -> None:
    response = client.post("/webhook", data=body, headers=headers(body))
    assert response.status_code == 400, response.data[:200]
    assert message in response.get_json()["error"]
    assert store.deliveries() == []


def test_a_body_at_the_depth_limit_is_accepted(client, store: Inbox) -> None:  # type: ignore[no-untyped-def]
    body = _nested(100)
    response = client.post("/webhook", data=body, headers=headers(body))
    assert response.status_code == 202, response.get_json()
    assert store.delivery_payload("d-1") == json.loads(body)


@pytest.mark.parametrize(
    "text",
    ['{"action": "opened", "title": "\\ud800", "installation": {"id": 3}}',  # a lone surrogate escape
     '{"action": "opened", "size": 1e400, "installation": {"id": 3}}',  # read as infinity
     '{"action": "opened", "installation": {"id": 3}, "deep": ' + "[" * 1100 + "]" * 1100 + "}",  # orjson: > 1024
     '{"action": "opened", "installation": {"id": 3}, "big": 123456789012345678901234567890}'],
    ids=["lone-surrogate", "1e400", "nesting-past-1024", "big-int"],
)
def test_the_fast_parser_never_changes_what_is_accepted_or_read(text: str) -> None:
    """orjson does the validation parse; where it would differ from the standard library (it refuses
    some bodies json.loads reads, reads integers past 64 bits as floats), json.loads decides."""
    h = {"X-GitHub-Event": "push", "X-GitHub-Delivery": "abc"}
    body = text.encode()
    try:
        expected: object = json.loads(text)
    except RecursionError:
        expected = RecursionError
    if expected is RecursionError or text.count("[") > 100:
        with pytest.raises(WebhookError, match="nested deeper than 100 levels"):
            parse_delivery(h, body)
        return
    d = parse_delivery(h, body)
    assert (d.action, d.installation_id, d.body) == ("opened", 3, text)


def test_an_installation_id_past_64_bits_is_read_exactly() -> None:
    body = json.dumps({"installation": {"id": 2**70}}).encode()
    d = parse_delivery({"X-GitHub-Event": "installation", "X-GitHub-Delivery": "abc"}, body)
    assert d.installation_id == 2**70 and isinstance(d.installation_id, int)


def test_parse_delivery_ignores_odd_field_types() -> None:
    body = json.dumps({"action": 5, "repository": {"full_name": ["x"]}, "installation": {"id": True}}).encode()
    d = parse_delivery({"X-GitHub-Event": "status", "X-GitHub-Delivery": "abc"}, body)
    assert (d.action, d.repo, d.installation_id, d.serial_key) == (None, None, None, "global")


# ---------------------------------------------------------------------------------- over real HTTP


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[int, str]]:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'served.sqlite3'}"
    env = {**os.environ, "MLGATE_WEBHOOK_SECRET": SECRET, "MLGATE_DATABASE_URL": url,
           "MLGATE_MAX_BODY_BYTES": str(1024 * 1024), "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "mlgate", "serve", "--no-worker", "--port", str(port)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    listening = False
    try:
        wait_for_port(port, 20, alive=lambda: proc.poll() is None)
        listening = True
        yield port, url
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0].decode()
        assert listening, f"the server did not start:\n{output}"
        assert "canary-text-in-body" not in output
        assert SECRET not in output


@pytest.mark.e2e
@pytest.mark.slow
def test_under_gunicorn_over_real_http(served: tuple[int, str]) -> None:
    port, url = served
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("POST", "/webhook", body=BODY, headers=headers())
    response = conn.getresponse()
    assert response.status == 202, response.read()
    response.read()
    conn.close()

    # Announced too large: answered before the body is sent.
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 104857600\r\n\r\n" + b"{" * 1000)
    assert sock.recv(200).startswith(b"HTTP/1.1 413")
    sock.close()

    # Chunked and too large: cut off at the limit.
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    chunks = (b"x" * 65536 for _ in range(40))  # 2.5 MiB > 1 MiB
    try:
        conn.request("POST", "/webhook", body=chunks, headers=headers(b"", delivery="d-chunked"),
                     encode_chunked=True)
        status = conn.getresponse().status
    except (BrokenPipeError, ConnectionResetError):
        status = 413  # the server answered and closed before we finished sending
    assert status == 413
    conn.close()

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/healthz")
    assert conn.getresponse().status == 200
    conn.close()

    store = Inbox.open(url, run_migrations=False)
    assert [row.delivery_id for row in store.deliveries()] == ["d-1"]
    store.close()


# ---------------------------------------------------------------------------------- start-up without a database


@pytest.mark.parametrize("command", ["serve", "worker"])
@pytest.mark.parametrize("database", ["postgres-refused", "sqlite-not-a-database", "sqlite-newer-schema"])
def test_an_unreachable_database_is_one_line_not_a_traceback(tmp_path: Path, command: str, database: str) -> None:
    if database == "postgres-refused":
        url = f"postgresql://mlgate:hunter2-secret@127.0.0.1:{free_port()}/mlgate"  # nothing listens there
    elif database == "sqlite-not-a-database":
        garbage = tmp_path / "garbage.sqlite3"
        garbage.write_bytes(b"this is not a SQLite database" * 100)
        url = f"sqlite:///{garbage}"
    else:  # migrated by a newer mlgate: a revision this code does not know
        url = f"sqlite:///{tmp_path / 'newer.sqlite3'}"
        Inbox.open(url).close()
        with sa.create_engine(url).begin() as conn:
            conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    env = {**os.environ, "MLGATE_WEBHOOK_SECRET": SECRET, "MLGATE_DATABASE_URL": url,
           "PYTHONPATH": str(REPO_ROOT), "MLGATE_GITHUB_TOKEN": "ghp_unused"}
    proc = subprocess.run([sys.executable, "-m", "mlgate", command, "--port", str(free_port())]
                          if command == "serve" else [sys.executable, "-m", "mlgate", command, "--once"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 1, output
    assert "Traceback" not in output
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert lines[0].startswith("Error: cannot use the database "), output
    assert "hunter2-secret" not in output
    if database == "postgres-refused":
        assert "postgresql+psycopg://mlgate:***@127.0.0.1" in output and "refused" in output.lower()
    elif database == "sqlite-not-a-database":
        assert "not a database" in output
    else:
        assert "9999_from_the_future" in output
