"""How the bot is built (bot/wiring.py): one database engine for everything, settings typed end to end."""

from __future__ import annotations

from pathlib import Path

from mlgate.bot.commands.heads import MemoryHeadLog, SqlHeadLog
from mlgate.bot.deploy.ledger import SqlLedger
from mlgate.bot.intake.worker import WorkerConfig
from mlgate.bot.settings import DEFAULTS, Settings, load_settings
from mlgate.bot.wiring import build_dispatcher, build_worker, open_inbox
from tests.bot.fake_forge import FakeForge


def test_everything_durable_shares_the_inboxs_engine(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'bot.sqlite3'}", bot_login="robot[bot]")
    inbox = open_inbox(settings, run_migrations=True)
    try:
        forge = FakeForge()
        bot = build_dispatcher(settings, inbox.engine, forges=lambda repo, installation=None: forge)
        assert isinstance(bot.heads, SqlHeadLog) and bot.heads.engine is inbox.engine
        assert bot.queue is not None and bot.queue.store.engine is inbox.engine
        assert isinstance(bot.deploy_store, SqlLedger) and bot.deploy_store.engine is inbox.engine
        assert bot.bot_login == "robot[bot]"
        worker = build_worker(settings, inbox, bot, threads=2)
        assert worker.store is inbox and worker.dispatcher is bot and worker.config.threads == 2
        worker.stop(timeout=1)
    finally:
        inbox.close()


def test_without_a_database_the_bot_runs_without_queue_and_deployments() -> None:
    forge = FakeForge()
    bot = build_dispatcher(Settings(), forges=lambda repo, installation=None: forge)
    assert bot.queue is None and bot.deploy_store is None and isinstance(bot.heads, MemoryHeadLog)


def test_the_workers_defaults_are_the_settings_defaults() -> None:
    assert WorkerConfig() == WorkerConfig.from_settings(DEFAULTS) == WorkerConfig.from_settings(Settings())
    env = {"MLGATE_WEBHOOK_SECRET": "s", "MLGATE_GITHUB_TOKEN": "t", "MLGATE_WORKER_THREADS": "9"}
    assert WorkerConfig.from_settings(load_settings(env)).threads == 9


def test_the_bots_login_is_a_setting() -> None:
    env = {"MLGATE_WEBHOOK_SECRET": "s", "MLGATE_GITHUB_TOKEN": "t"}
    assert load_settings(env).bot_login is None
    assert load_settings({**env, "MLGATE_BOT_LOGIN": " mlgate-bot "}).bot_login == "mlgate-bot"
