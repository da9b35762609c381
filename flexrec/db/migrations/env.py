"""Alembic environment: runs flexrec's migrations against the URL `flexrec.db.migrate` passes."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import Connection, engine_from_config, pool, text

import flexrec.db.models  # noqa: F401 - registers the tables on Base.metadata
from flexrec.db.base import Base, use_wal

# The archive and the console define their tables on the same Base.
for _module in (
    "flexrec.archive.models",
    "flexrec.archive.audit_chain",
    "flexrec.accounts.users",
    "flexrec.accounts.sessions",
    "flexrec.coverage.models",
    "flexrec.pci.models",
):
    importlib.import_module(_module)

config = context.config
target_metadata = Base.metadata


VERSION_NUM_LENGTH = 128


def _wide_version_table(connection: Connection) -> None:
    """Alembic's own table holds revision IDs in VARCHAR(32); ours name the rule they hold and
    may be longer (PostgreSQL refuses a longer one, SQLite does not check). Create it wider
    before Alembic would, or widen the one an older flexrec made."""
    if connection.dialect.name != "postgresql":
        return
    connection.execute(
        text(
            "CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    length = connection.execute(
        text(
            "SELECT character_maximum_length FROM information_schema.columns "
            "WHERE table_name = 'alembic_version' AND column_name = 'version_num' "
            "AND table_schema = current_schema()"
        )
    ).scalar()
    if length is not None and length < VERSION_NUM_LENGTH:
        connection.execute(
            text(
                "ALTER TABLE alembic_version ALTER COLUMN version_num "
                f"TYPE VARCHAR({VERSION_NUM_LENGTH})"
            )
        )


def _configure(connection: Connection) -> None:
    # Batch mode lets ALTER TABLE work on SQLite, which cannot alter columns in place.
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        # Inside Alembic's transaction, so it commits with the migrations it runs.
        _wide_version_table(connection)
        context.run_migrations()


def run_migrations_online() -> None:
    """Run migrations on the connection the caller passed, or on a new engine for the URL."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        return
    engine = engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # The file is made in WAL mode, so the processes that open it next (serve, workers,
            # the CLI, often all at once) find it there instead of each switching it.
            use_wal(conn.connection.dbapi_connection)
        _configure(conn)


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        render_as_batch=True,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
