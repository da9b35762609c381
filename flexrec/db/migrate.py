"""Runs flexrec's Alembic migrations from inside the package (no alembic.ini needed)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from flexrec.db.urls import check_database_url

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at the packaged migrations and the given database."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # ConfigParser treats % as interpolation; URLs may hold escaped passwords.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database at `database_url` up to `revision` (default: the newest)."""
    check_database_url(database_url)  # before Alembic imports a dialect it cannot load
    command.upgrade(alembic_config(database_url), revision)


def upgrade_engine(engine: Engine, revision: str = "head") -> None:
    """Migrate through an existing engine (used for in-memory SQLite, whose data is per-engine)."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
