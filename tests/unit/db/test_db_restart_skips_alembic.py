"""A restart has nothing to migrate: the service checks the database's revision against the
packaged head without loading Alembic (a third of a second of every start-up's outage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from flexrec.db.migrate import alembic_config, is_current, packaged_head, upgrade


def test_the_packaged_head_read_from_the_files_is_alembics() -> None:
    heads = ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()
    assert [packaged_head()] == heads


def test_only_a_database_at_the_head_counts_as_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    engine = create_engine(url)
    assert not is_current(engine)  # a new database: no version table
    upgrade(url)
    assert is_current(engine)
    script = ScriptDirectory.from_config(alembic_config(url))
    previous = script.get_revision(packaged_head()).down_revision
    with engine.begin() as connection:  # an older flexrec's database
        connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": previous})
    assert not is_current(engine)
    engine.dispose()


# The service's own build, in a fresh interpreter, on a database already at the head.
PROBE = """
import sys
from flexrec.app.services import build_services
from flexrec.config import Settings
services = build_services(Settings.from_env(), run_consumer=False)
services.close()
print(sorted(m for m in ("alembic", "flexsim") if m in sys.modules))
"""


def test_building_the_service_on_a_current_database_loads_no_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade(f"sqlite:///{tmp_path / 'flexrec.db'}")
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token")
    monkeypatch.setenv("FLEXREC_CONSOLE_SECRET", "s" * 32)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    assert probe.stdout.strip().splitlines()[-1] == "[]"
