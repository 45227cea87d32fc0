"""Builds the bot: the one place that knows all the parts and how they connect.

```
Settings ──open_inbox──────────▶ Inbox            deliveries and the worker's work (one engine per process)
Settings + Inbox.engine ──build_dispatcher──▶ Handlers   forges, head log, merge queue, deployments ledger
Settings + Inbox + Handlers ──build_worker──▶ Worker     takes deliveries in order per repository
Settings + Inbox + Worker ──build_web_app───▶ Flask app  verify, store, acknowledge, wake the worker
```

Everything durable shares the inbox's engine: the queue's state, the heads the bot saw and the
deployments have their own tables but no engine of their own. `mlgate serve` and `mlgate worker`
(bot/cli.py), the demo and the end-to-end tests all build the bot through these functions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from flask import Flask
from sqlalchemy.engine import Engine

from mlgate.bot.alerts.keeper import AlertKeeper
from mlgate.bot.commands.heads import SqlHeadLog
from mlgate.bot.deploy.ledger import SqlLedger
from mlgate.bot.github.client import forge_factory
from mlgate.bot.github.forge import ForgeFactory
from mlgate.bot.history.recorder import Recorder
from mlgate.bot.history.tables import HistoryStore
from mlgate.bot.intake.app import create_app
from mlgate.bot.intake.handlers import Handlers
from mlgate.bot.intake.worker import Dispatcher, Worker, WorkerConfig
from mlgate.bot.queue.runner import QueueRunner
from mlgate.bot.queue.store import QueueStore
from mlgate.bot.settings import Settings
from mlgate.bot.store.inbox import Inbox
from mlgate.bot.web.access import ForgeAccess
from mlgate.bot.web.registry import RegistryReader
from mlgate.bot.web.views import DashboardConfig, register_dashboard
from mlgate.checks.config.models import MlgateConfig


def open_inbox(settings: Settings, *, run_migrations: bool) -> Inbox:
    """The bot's database for this process (StoreError, naming the problem, when it cannot be used)."""
    return Inbox.open(settings.database_url, run_migrations=run_migrations,
                      busy_timeout_ms=settings.sqlite_busy_timeout_ms,
                      pool_size=max(8, settings.worker_threads + 4),
                      intake_synchronous=settings.sqlite_synchronous,
                      intake_timeout=settings.intake_timeout_seconds)


def build_dispatcher(settings: Settings, engine: Engine | None = None, forges: ForgeFactory | None = None
                     ) -> Handlers:
    """The worker's Dispatcher: routes, commands, evaluations, the merge queue and deployments.

    `engine`: the bot's database (`Inbox.engine`); without one the bot keeps the heads it saw in
    memory and runs without the merge queue and deployments (their commands say so). `forges`:
    the GitHub client for each repository; by default PyGithub's (bot/github/client.py) with the
    settings' credentials. The bot's login is `settings.bot_login`, else the forges' `bot_login()`.
    """
    login: Callable[[], str | None] | str | None
    if forges is None:
        github = forge_factory(settings)
        forges, login = github, settings.bot_login or github.bot_login
    else:
        login = settings.bot_login or getattr(forges, "bot_login", None)  # a factory may know it (tests wrap one)
    handlers = Handlers(forges=forges, bot_login=login)
    if engine is not None:
        handlers.heads = SqlHeadLog(engine)
        handlers.queue = QueueRunner(QueueStore(engine), handlers._forge, handlers.queue_config,
                                     on_landed=handlers.on_landed, on_changed=handlers.on_queue_changed,
                                     lease_seconds=settings.lease_seconds)
        handlers.deploy_store = SqlLedger(engine)
        attach_history_and_alerts(settings, engine, handlers)
    return handlers


def attach_history_and_alerts(settings: Settings, engine: Engine, handlers: Handlers) -> AlertKeeper:
    """The dashboard's history (every delivery and queue step is recorded) and the alerts (kept after
    each recorded change and at each tick). They observe the bot; they decide nothing for it."""
    recorder = Recorder(HistoryStore(engine), clock=handlers.clock)
    handlers.observers.append(recorder.after_delivery)
    handlers.evaluated.append(recorder.after_evaluation)
    if handlers.queue is not None:
        handlers.queue.on_step = recorder.after_step

    def config_for(repo: str) -> MlgateConfig | None:
        branch = (handlers.queue.store.load(repo).config_branch if handlers.queue is not None else None) or "main"
        config = handlers.repo_config(handlers._forge(repo), repo, branch)
        return config.effective if config.valid else None

    keeper = AlertKeeper(engine, config_for, lambda repo: handlers._forge(repo),  # type: ignore[arg-type,return-value]
                         clock=handlers.clock, dashboard_url=settings.dashboard_url)
    recorder.listeners.append(keeper)
    handlers.tickers.append(keeper.tick)
    return keeper


def build_worker(settings: Settings, inbox: Inbox, dispatcher: Dispatcher, *, threads: int | None = None) -> Worker:
    """A worker on `inbox` with the settings' knobs (`threads` overrides MLGATE_WORKER_THREADS)."""
    config = WorkerConfig.from_settings(settings)
    if threads is not None:
        config = dataclasses.replace(config, threads=threads)
    return Worker(inbox, dispatcher, config)


def build_web_app(settings: Settings, inbox: Inbox, worker: Worker | None, forges: ForgeFactory | None = None,
                  *, wake: Callable[[str], None] | None = None) -> Flask:
    """The webhook endpoint and the dashboard; each new delivery wakes the in-process worker, if there
    is one, else calls `wake(serial key)` (`mlgate serve`'s drain process), if given.

    `forges`: what the dashboard asks about visibility and permissions (by default the settings'
    credentials; without any, every repository counts as private and nobody can read it)."""
    app = create_app(settings, store=inbox, on_delivery=worker.wake if worker else wake)
    if forges is None and settings.auth_mode != "none":
        forges = forge_factory(settings)
    factory = forges
    forge_for = (lambda repo: factory(repo)) if factory is not None else _no_forge
    register_dashboard(app, inbox.engine, ForgeAccess(forge_for), dashboard_config(settings), RegistryReader(forge_for))
    return app


def _no_forge(repo: str) -> object:
    raise RuntimeError("the bot has no GitHub credentials")


def dashboard_config(settings: Settings) -> DashboardConfig:
    web = settings.github_web_url or _web_url(settings.github_url)
    return DashboardConfig(oauth_client_id=settings.oauth_client_id, oauth_client_secret=settings.oauth_client_secret,
                           github_web_url=web, github_api_url=settings.github_url,
                           session_secret=settings.session_secret,
                           secure_cookies=bool(settings.dashboard_url and settings.dashboard_url.startswith("https:")))


def _web_url(api_url: str) -> str:
    """GitHub's web root for its API root: api.github.com → github.com; GHES's /api/v3 → its host."""
    if api_url.rstrip("/") == "https://api.github.com":
        return "https://github.com"
    return api_url.rstrip("/").removesuffix("/api/v3")
