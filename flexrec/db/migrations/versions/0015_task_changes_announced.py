"""A change to what an agent's recording state is made of is announced by the database

Triggers on the rows `flexrec.recording.watch.state_fingerprint` reads (tasks, reservations,
recording targets, the attribute writes that link a target into a task, pause events) announce
the task SIDs whose state may have moved, whoever wrote them (a web process, a queue worker):
on SQLite as rows of `task_changes` that each web process reads once per tick for all its
held long polls, on PostgreSQL as NOTIFY flexrec_task_changes (delivered on commit).
A later `batch_alter_table` of one of these tables rebuilds it on SQLite without its triggers:
such a migration must create them again (tests/unit/recording/test_recording_changes.py fails
otherwise).

Revision ID: 0015_task_changes_announced
Revises: 0014_recordings_replaced_live
Create Date: 2026-12-06 23:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_task_changes_announced"
down_revision: str | None = "0014_recordings_replaced_live"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANNEL = "flexrec_task_changes"
# The target columns a state answer shows (claims and retry bookkeeping are left out).
_TARGET_COLUMNS = (
    "state", "recording_sid", "call_sid", "reservation_sid", "start_time_ms", "last_error",
    "desired_state", "desired_by",
)  # fmt: skip

# (trigger name, event, table, WHEN condition or "", the task SID expression)
_TRIGGERS = (
    ("tasks_new", "INSERT", "tasks", "", "NEW.sid"),
    ("tasks_moved", "UPDATE", "tasks", "status|policy_decision", "NEW.sid"),
    ("reservations_new", "INSERT", "reservations", "", "NEW.task_sid"),
    ("reservations_moved", "UPDATE", "reservations", "status|worker_sid", "NEW.task_sid"),
    ("pauses_new", "INSERT", "pause_events", "", "NEW.task_sid"),
    ("links_new", "INSERT", "attribute_writes", "", "NEW.task_sid"),
    ("targets_new", "INSERT", "recording_targets", "", "NEW.task_sid"),
    ("targets_moved", "UPDATE", "recording_targets", "|".join(_TARGET_COLUMNS), "NEW.task_sid"),
)


def _changed(columns: str, same: str) -> str:
    return " OR ".join(f"OLD.{c} {same} NEW.{c}" for c in columns.split("|"))


def _sqlite_trigger(name: str, event: str, table: str, columns: str, sid: str) -> str:
    when = f"WHEN {_changed(columns, 'IS NOT')}" if columns else ""
    linked = ""
    if table == "recording_targets":  # a transferred call's recording shows in other tasks too
        linked = (
            "INSERT INTO task_changes (task_sid, at_s) SELECT task_sid, "
            "CAST(strftime('%s', 'now') AS INTEGER) FROM attribute_writes "
            "WHERE target_id = NEW.id AND task_sid <> NEW.task_sid;"
        )
    # Every name and column here is a constant of this file, never input.
    head = f"CREATE TRIGGER flexrec_announce_{name} AFTER {event} ON {table} FOR EACH ROW {when}"
    body = "INSERT INTO task_changes (task_sid, at_s) VALUES ("
    return f"{head} BEGIN {body}{sid}, CAST(strftime('%s', 'now') AS INTEGER)); {linked} END"


_PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION flexrec_announce_task_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'tasks' THEN
    PERFORM pg_notify('{CHANNEL}', NEW.sid);
  ELSE
    PERFORM pg_notify('{CHANNEL}', NEW.task_sid);
  END IF;
  IF TG_TABLE_NAME = 'recording_targets' THEN
    PERFORM pg_notify('{CHANNEL}', w.task_sid) FROM attribute_writes w WHERE w.target_id = NEW.id;
  END IF;
  RETURN NULL;
END $$
"""


def _pg_trigger(name: str, event: str, table: str, columns: str) -> str:
    of = f" OF {', '.join(columns.split('|'))}" if columns else ""
    when = f"WHEN ({_changed(columns, 'IS DISTINCT FROM')})" if columns else ""
    return (
        f"CREATE TRIGGER flexrec_announce_{name} AFTER {event}{of} ON {table} FOR EACH ROW "
        f"{when} EXECUTE FUNCTION flexrec_announce_task_change()"
    )


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "task_changes",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task_sid", sa.String(length=34), nullable=False),
        sa.Column("at_s", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_task_changes")),
        sqlite_autoincrement=True,  # seq never reused, so a reader's cursor never skips a row
    )
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for name, event, table, columns, sid in _TRIGGERS:
            op.execute(_sqlite_trigger(name, event, table, columns, sid))
    elif dialect == "postgresql":
        op.execute(_PG_FUNCTION)
        for name, event, table, columns, _sid in _TRIGGERS:
            op.execute(_pg_trigger(name, event, table, columns))


def downgrade() -> None:
    """Revert this revision."""
    dialect = op.get_bind().dialect.name
    for name, _event, table, _columns, _sid in _TRIGGERS:
        on = f" ON {table}" if dialect == "postgresql" else ""
        op.execute(f"DROP TRIGGER IF EXISTS flexrec_announce_{name}{on}")
    if dialect == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS flexrec_announce_task_change()")
    op.drop_table("task_changes")
