"""`mlgate serve` and `mlgate worker`.

`serve` runs the Flask app under gunicorn (programmatically) and, unless told otherwise, the
delivery worker as threads inside each web process, or with `--worker-mode process` in a drain
process of its own that gunicorn's master starts, restarts and stops (bot/intake/drain.py);
`worker` runs extra worker processes (several machines can share one PostgreSQL database). The
root command (mlgate.cli) imports this module only when one of them runs.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import signal
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import Any, cast

import click

from mlgate.bot.intake.drain import DrainProcess, WakePipe, follow_wake_pipe
from mlgate.bot.intake.worker import DispatcherFactory, Worker
from mlgate.bot.settings import WORKER_MODES, Settings, SettingsError, load_settings
from mlgate.bot.store.engine import StoreError
from mlgate.bot.store.inbox import Inbox

log = logging.getLogger(__name__)

# The bot's own dispatcher; mlgate.bot.wiring (and with it PyGithub, the gates' config models and
# Flask) is imported only when a command runs, so `--help` and a worker with another dispatcher
# (tests, the benchmark) start without them.
DEFAULT_DISPATCHER = "mlgate.bot.wiring:build_dispatcher"

_RUNNING_WORKERS: list[Worker] = []


_SECRET_VARIABLES = ("MLGATE_WEBHOOK_SECRET", "MLGATE_GITHUB_TOKEN", "MLGATE_PRIVATE_KEY", "MLGATE_METRICS_TOKEN")


def _configure_logging() -> None:
    """Text or JSON lines on stderr (MLGATE_LOG_FORMAT), secrets redacted (bot/observability/logs.py).
    Read from the environment directly: it runs before the settings, whose errors it must show."""
    from mlgate.bot.observability import logs

    fmt = os.environ.get("MLGATE_LOG_FORMAT", "text").strip().lower() or "text"
    if fmt not in logs.LOG_FORMATS:
        raise click.ClickException(f"MLGATE_LOG_FORMAT must be text or json, got {fmt!r}")
    logs.configure(os.environ.get("MLGATE_LOG_LEVEL", "INFO").strip() or "INFO", fmt,
                   [os.environ.get(name) for name in _SECRET_VARIABLES])


def _multiprocess_metrics(workers: int) -> None:
    """Several gunicorn processes share their metrics through files (prometheus_client's multiprocess
    mode); without PROMETHEUS_MULTIPROC_DIR a fresh directory is made. Must run before
    prometheus_client is imported (its value class is chosen then)."""
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="mlgate-metrics-")
        if "prometheus_client" in sys.modules:
            log.warning("prometheus_client was imported before PROMETHEUS_MULTIPROC_DIR was set: /metrics "
                        "shows one process only")


def _child_exit(_server: Any, worker: Any) -> None:
    """gunicorn's child_exit hook: drop a dead process's live gauges from /metrics."""
    from mlgate.bot.observability.metrics import mark_process_dead

    mark_process_dead(worker.pid)


def load_dispatcher_factory(spec: str) -> DispatcherFactory:
    """Import `module:function`; the function builds a Dispatcher from the settings and the database engine."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise click.ClickException(f"--dispatcher must look like 'package.module:function', got {spec!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.ClickException(f"cannot import dispatcher module {module_name!r}: {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise click.ClickException(f"{module_name!r} has no callable {attribute!r}")
    return cast(DispatcherFactory, factory)


def _settings(**kwargs: Any) -> Settings:
    try:
        return load_settings(**kwargs)
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


def _open_store(settings: Settings, *, run_migrations: bool) -> Inbox:
    from mlgate.bot.wiring import open_inbox

    try:
        return open_inbox(settings, run_migrations=run_migrations)
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def build_serving_app(settings: Settings, *, run_worker: bool, dispatcher_spec: str,
                      wake: Callable[[str], None] | None = None) -> Any:
    """What each gunicorn worker process runs after the fork: the app, plus the worker threads when
    `run_worker` (thread mode). `wake(key)`: told of each new delivery (the drain process's pipe)."""
    # Request threads hand deliveries to the intake writer (and in thread mode share the GIL with
    # the worker threads): a 1 ms switch interval (default 5 ms) keeps hand-overs from adding latency.
    sys.setswitchinterval(0.001)
    from mlgate.bot.wiring import build_web_app, build_worker

    store = _open_store(settings, run_migrations=False)
    worker: Worker | None = None
    if run_worker:
        worker = build_worker(settings, store, load_dispatcher_factory(dispatcher_spec)(settings, store.engine))
        worker.start()
        _RUNNING_WORKERS.append(worker)
    app = build_web_app(settings, store, worker, wake=wake)
    # Everything allocated so far lives as long as the process: keep it out of the collector's
    # full passes, which otherwise stall every thread for longer as the heap grows.
    gc.freeze()
    return app


def _stop_workers(_server: Any, _worker: Any) -> None:
    """gunicorn's worker_exit hook: finish running deliveries before the process goes."""
    while _RUNNING_WORKERS:
        _RUNNING_WORKERS.pop().stop(timeout=20)


def run_gunicorn(app_factory: Callable[[], Any], options: dict[str, Any], drain: DrainProcess | None = None) -> None:
    """Run a WSGI app under gunicorn without a config file (the factory runs in each worker).
    `drain`: a process the master starts once it listens, restarts when it ends (checked in the
    master's loop, about once a second) and stops with the web processes."""
    from gunicorn.app.base import BaseApplication
    from gunicorn.arbiter import Arbiter

    class _Arbiter(Arbiter):  # type: ignore[misc]
        def manage_workers(self) -> None:
            super().manage_workers()
            if drain is not None:
                if drain.proc is None:
                    drain.start()
                drain.check()

        def stop(self, graceful: bool = True) -> None:
            if drain is not None and drain.proc is not None and drain.proc.poll() is None:
                drain.proc.terminate()  # both drain at once; waited for below
            super().stop(graceful)
            if drain is not None:
                drain.stop(float(self.cfg.graceful_timeout))

    class _Application(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:  # newer settings (control_socket_disable) only where known
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return app_factory()

        def run(self) -> None:
            try:
                _Arbiter(self).run()
            except RuntimeError as exc:  # what BaseApplication.run does
                print(f"\nError: {exc}\n", file=sys.stderr)
                sys.exit(1)

    _Application().run()


def gunicorn_options(host: str, port: int, workers: int, threads: int) -> dict[str, Any]:
    return {
        "bind": _bind(host, port),
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 30,
        "graceful_timeout": 30,
        "keepalive": 5,
        "worker_exit": _stop_workers,
        "child_exit": _child_exit,
        "control_socket_disable": True,  # several servers on one machine must not share one socket
    }


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64),
              help="gunicorn worker processes.")
@click.option("--threads", default=8, show_default=True, type=click.IntRange(1, 256),
              help="Request threads per gunicorn worker.")
@click.option("--worker/--no-worker", "run_worker", default=None,
              help="Run a delivery worker with the server [default: on; env MLGATE_SERVE_WORKER].")
@click.option("--worker-mode", type=click.Choice(WORKER_MODES), default=None,
              help="thread: worker threads inside each web process; process: one drain process next to "
                   "gunicorn, restarted if it dies [default: thread; env MLGATE_SERVE_WORKER_MODE].")
@click.option("--dispatcher", "dispatcher_spec", default=DEFAULT_DISPATCHER, envvar="MLGATE_DISPATCHER",
              show_default=True, help="module:function(settings, engine) that builds the Dispatcher.")
def serve(host: str, port: int, workers: int, threads: int, run_worker: bool | None, worker_mode: str | None,
          dispatcher_spec: str) -> None:
    """Receive GitHub webhooks (POST /webhook, GET /healthz, GET /metrics) under gunicorn."""
    _multiprocess_metrics(workers)
    _configure_logging()
    base = _settings(require_github=False)
    run_worker = base.serve_worker if run_worker is None else run_worker
    worker_mode = worker_mode or base.serve_worker_mode
    settings = _settings(require_github=run_worker and dispatcher_spec == DEFAULT_DISPATCHER)
    if run_worker:
        load_dispatcher_factory(dispatcher_spec)  # fail now, not in every forked worker
    _open_store(settings, run_migrations=True).close()  # migrate once, before forking
    drain: DrainProcess | None = None
    wake: Callable[[str], None] | None = None
    if run_worker and worker_mode == "process":
        pipe = WakePipe()
        drain = DrainProcess([sys.executable, "-m", "mlgate", "worker", "--dispatcher", dispatcher_spec], pipe)
        wake = pipe.notify
    log.info("serving on %s with %s; worker: %s", _bind(host, port), settings.database_url_masked,
             f"{worker_mode} mode" if run_worker else "none")
    in_process = run_worker and worker_mode == "thread"
    run_gunicorn(lambda: build_serving_app(settings, run_worker=in_process, dispatcher_spec=dispatcher_spec,
                                           wake=wake),
                 gunicorn_options(host, port, workers, threads), drain)


@click.command("worker")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Repositories handled in parallel [default: MLGATE_WORKER_THREADS or 4].")
@click.option("--dispatcher", "dispatcher_spec", default=DEFAULT_DISPATCHER, envvar="MLGATE_DISPATCHER",
              show_default=True, help="module:function(settings, engine) that builds the Dispatcher.")
@click.option("--once", is_flag=True, help="Handle what is ready now, then exit.")
@click.option("--wake-fd", type=int, default=None, hidden=True,
              help="(set by `mlgate serve`) a pipe of new deliveries' keys; its end of file stops the worker.")
def worker(threads: int | None, dispatcher_spec: str, once: bool, wake_fd: int | None) -> None:
    """Process stored deliveries (run several against one PostgreSQL to share the load)."""
    _configure_logging()
    settings = _settings(require_webhook_secret=False, require_github=dispatcher_spec == DEFAULT_DISPATCHER)
    factory = load_dispatcher_factory(dispatcher_spec)
    store = _open_store(settings, run_migrations=True)
    from mlgate.bot.wiring import build_worker

    runner = build_worker(settings, store, factory(settings, store.engine), threads=threads)
    if once:
        handled = runner.run_pending()
        runner.stop()
        click.echo(f"handled {handled} item(s)")
        return
    stop = threading.Event()

    def _on_signal(signum: int, _frame: Any) -> None:
        log.info("signal %d: finishing running deliveries, then stopping", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    if wake_fd is not None:
        follow_wake_pipe(wake_fd, runner.wake, stop.set)
    log.info("worker %s on %s", runner.owner, settings.database_url_masked)
    runner.run_forever(stop)
