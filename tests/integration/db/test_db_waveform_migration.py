"""Peaks kept as JSON floats before are converted to the compact waveform by the migration."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command

from flexrec.archive.waveform import decode_waveform
from flexrec.db.migrate import alembic_config, upgrade

BEFORE = "0008_coverage_legs_counted_once"
REVISION = "0009_waveforms_are_compact_int8"


def _legacy_peaks() -> dict[str, object]:
    highs = np.linspace(0.0, 0.6, 100).round(4)
    return {
        "version": 1,
        "sample_rate_hz": 8000,
        "bucket_samples": 160,
        "buckets_per_s": 50.0,
        "duration_ms": 2000,
        "channels": [
            {"label": "customer", "min": (-highs).tolist(), "max": highs.tolist()},
            {"label": "agent", "min": [0.0] * 100, "max": [0.01] * 100},
        ],
    }


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_json_peaks_become_a_compact_waveform_and_back(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    if database == "postgresql":
        server = request.getfixturevalue("postgres_url")
        admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:  # a database of its own on the session's server
            conn.execute(sa.text("DROP DATABASE IF EXISTS waveform_migration"))
            conn.execute(sa.text("CREATE DATABASE waveform_migration"))
        admin.dispose()
        url = server.rsplit("/", 1)[0] + "/waveform_migration"
    else:
        url = f"sqlite:///{tmp_path / 'migrate.db'}"
    upgrade(url, BEFORE)
    engine = sa.create_engine(url)
    now = datetime(2026, 12, 6, tzinfo=UTC)
    table = sa.table(
        "recording_analyses",
        *(sa.column(c) for c in ("recording_sid", "state", "created_at", "updated_at")),
        sa.column("metrics", sa.JSON),
        sa.column("segments", sa.JSON),
        sa.column("peaks", sa.JSON),
    )
    with engine.begin() as conn:
        for sid, peaks in (("RE" + "1" * 32, _legacy_peaks()), ("RE" + "2" * 32, None)):
            conn.execute(
                table.insert().values(
                    recording_sid=sid,
                    state="done",
                    created_at=now,
                    updated_at=now,
                    metrics={},
                    segments=[],
                    peaks=peaks,
                )
            )
    upgrade(url, REVISION)
    with engine.connect() as conn:
        rows = dict(
            conn.execute(sa.text("SELECT recording_sid, waveform FROM recording_analyses")).all()
        )
        columns = {c["name"] for c in sa.inspect(conn).get_columns("recording_analyses")}
    assert "peaks" not in columns
    assert rows["RE" + "2" * 32] is None
    waveform = decode_waveform(bytes(rows["RE" + "1" * 32]))
    assert (waveform.channels, waveform.buckets, waveform.duration_ms) == (2, 100, 2000)
    maxima = waveform.as_floats()[0][0::2]
    assert maxima[-1] == pytest.approx(0.6, abs=0.6 / 127)
    assert len(bytes(rows["RE" + "1" * 32])) < len(json.dumps(_legacy_peaks())) / 5

    command.downgrade(alembic_config(url), BEFORE)
    with engine.connect() as conn:
        back = conn.execute(
            sa.text("SELECT peaks FROM recording_analyses WHERE recording_sid = :s"),
            {"s": "RE" + "1" * 32},
        ).scalar_one()
    peaks = json.loads(back) if isinstance(back, str) else back
    assert len(peaks["channels"]) == 2
    assert peaks["channels"][0]["max"][-1] == pytest.approx(0.6, abs=0.6 / 127)
    engine.dispose()
