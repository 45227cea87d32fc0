"""Alembic environment: uses the connection handed over by `mlgate.bot.store.engine.migrate` (or the URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from mlgate.bot.store.tables import metadata

config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database: mlgate runs its migrations itself (mlgate serve / mlgate worker)")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("mlgate migrations run online only (mlgate serve / mlgate worker apply them at start-up)")
run_migrations_online()
