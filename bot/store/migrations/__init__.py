"""Alembic migrations for the bot's store, run programmatically by `mlgate.bot.store.engine.migrate`."""
