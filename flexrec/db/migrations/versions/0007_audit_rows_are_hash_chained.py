"""Audit rows are hash-chained: each carries its position, the previous row's hash and its own

Rows written before this revision are linked in id order, so the chain covers the whole log.

Revision ID: 0007_audit_rows_are_hash_chained
Revises: 0006_sec10_console_sessions
Create Date: 2026-12-06 21:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import flexrec.db.models

revision: str = "0007_audit_rows_are_hash_chained"
down_revision: str | None = "0006_sec10_console_sessions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GENESIS = "0" * 64


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("row_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint(batch.f("uq_audit_log_seq"), ["seq"])
    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("row_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", flexrec.db.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    _link_existing_rows()


def _link_existing_rows() -> None:
    # Format version 1 of flexrec.archive.audit_chain (frozen), so old rows verify like new ones.
    from flexrec.archive.audit_chain import row_digest

    bind = op.get_bind()
    log = sa.table(
        "audit_log",
        sa.column("id", sa.Integer()),
        sa.column("at", flexrec.db.models.UTCDateTime()),
        sa.column("actor", sa.String()),
        sa.column("actor_worker_sid", sa.String()),
        sa.column("action", sa.String()),
        sa.column("recording_sid", sa.String()),
        sa.column("ip", sa.String()),
        sa.column("detail", sa.JSON()),
        sa.column("seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("row_hash", sa.String()),
    )
    prev, seq = GENESIS, 0
    rows = bind.execute(sa.select(log).order_by(log.c.id)).mappings().all()
    for row in rows:
        seq += 1
        digest = row_digest(
            prev,
            seq=seq,
            at=row["at"],
            actor=row["actor"],
            actor_worker_sid=row["actor_worker_sid"],
            action=row["action"],
            recording_sid=row["recording_sid"],
            ip=row["ip"],
            detail=row["detail"],
        )
        bind.execute(
            sa.update(log)
            .where(log.c.id == row["id"])
            .values(seq=seq, prev_hash=prev, row_hash=digest)
        )
        prev = digest
    head = sa.table(
        "audit_chain_head",
        sa.column("id", sa.Integer()),
        sa.column("seq", sa.BigInteger()),
        sa.column("row_hash", sa.String()),
    )
    bind.execute(sa.insert(head).values(id=1, seq=seq, row_hash=prev))


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_constraint(batch.f("uq_audit_log_seq"), type_="unique")
        batch.drop_column("row_hash")
        batch.drop_column("prev_hash")
        batch.drop_column("seq")
