"""The coverage report's facts read the same from PostgreSQL as from SQLite (same day, same
service, same verdicts), in a schema of its own on the tests' throwaway cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from coverage_day import DAY, build_day
from sqlalchemy import create_engine, text

from flexrec.config import normalise_database_url
from flexrec.coverage.period import Period
from flexrec.coverage.report import build_report

pytestmark = pytest.mark.slow


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    schema = f"flexrec_cov_{uuid.uuid4().hex[:10]}"
    base = normalise_database_url(postgres_url)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def _verdicts(url: str) -> dict[str, object]:
    day = build_day(url)
    try:
        report = build_report(day.call_log, day.sessions, Period.day(DAY.date())).as_json()
    finally:
        day.close()
    report.pop("generated_at")
    return report


def test_postgresql_and_sqlite_give_the_same_report(pg_url: str, tmp_path: Path) -> None:
    on_postgres = _verdicts(pg_url)
    assert on_postgres["summary"]["eligible_calls"] == 4  # type: ignore[index]
    assert on_postgres == _verdicts(f"sqlite:///{tmp_path / 'flexrec.db'}")
