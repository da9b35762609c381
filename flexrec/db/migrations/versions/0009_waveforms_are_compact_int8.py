"""An analysis keeps its waveform as compressed int8 max/min pairs instead of JSON floats

Peaks stored as JSON (~225 KB a recording) are converted to the compact form (~10 KB) and the
JSON column is dropped.

Revision ID: 0009_waveforms_are_compact_int8
Revises: 0008_coverage_legs_counted_once
Create Date: 2026-12-06 22:30:00
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from flexrec.archive.waveform import decode_waveform, waveform_from_peaks

revision: str = "0009_waveforms_are_compact_int8"
down_revision: str | None = "0008_coverage_legs_counted_once"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 100


def _convert(source: str, target: str, convert: Any) -> None:
    """Rewrite every row's `source` value into `target`, a batch of rows in memory at a time."""
    table = sa.table("recording_analyses", sa.column("id"), sa.column(source), sa.column(target))
    bind = op.get_bind()
    ids = [
        int(i) for (i,) in bind.execute(sa.select(table.c.id).where(table.c[source].is_not(None)))
    ]
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        rows = bind.execute(sa.select(table.c.id, table.c[source]).where(table.c.id.in_(chunk)))
        for row_id, value in rows.all():
            bind.execute(
                table.update().where(table.c.id == row_id).values({target: convert(value)})
            )


def _peaks_to_waveform(value: Any) -> bytes | None:
    peaks = json.loads(value) if isinstance(value, str | bytes) else value
    try:
        return waveform_from_peaks(peaks)
    except (KeyError, TypeError, ValueError):
        return None  # unreadable peaks: the console computes them again from the media


def _waveform_to_peaks(value: Any) -> str:
    waveform = decode_waveform(bytes(value))
    floats = waveform.as_floats().reshape(waveform.channels, -1, 2)
    return json.dumps(
        {
            "version": 1,
            "sample_rate_hz": waveform.sample_rate_hz,
            "bucket_samples": waveform.bucket_samples,
            "buckets_per_s": waveform.buckets_per_s,
            "duration_ms": waveform.duration_ms,
            "channels": [
                {
                    "label": f"channel_{index + 1}",
                    "min": [round(float(v), 4) for v in floats[index, :, 1]],
                    "max": [round(float(v), 4) for v in floats[index, :, 0]],
                }
                for index in range(waveform.channels)
            ],
        }
    )


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("recording_analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("waveform", sa.LargeBinary(), nullable=True))
    _convert("peaks", "waveform", _peaks_to_waveform)
    with op.batch_alter_table("recording_analyses", schema=None) as batch_op:
        batch_op.drop_column("peaks")


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("recording_analyses", schema=None) as batch_op:
        batch_op.add_column(sa.Column("peaks", sa.JSON(), nullable=True))
    _convert("waveform", "peaks", _waveform_to_peaks)
    with op.batch_alter_table("recording_analyses", schema=None) as batch_op:
        batch_op.drop_column("waveform")
