"""Alembic migrations for the bot's store, run programmatically by `bot.store.migrate`."""
