"""Watches who writes `recording_targets` during a test: only flexrec.recording.transitions may.

Three kinds of write are seen: an ORM attribute set on a `RecordingTarget` (flushed later, by
the ORM or as a prepared UPDATE, so the flush's own stack says nothing), a Core
INSERT/UPDATE/DELETE on the table, and a prepared one (flexrec.db.prepared). Each is blamed on
the innermost flexrec frame of its stack; a write with no flexrec frame is a test arranging its
world, not the service writing.
"""

from __future__ import annotations

import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.sql.dml import UpdateBase

import flexrec
from flexrec.db.models import RecordingTarget
from flexrec.db.prepared import watch

PACKAGE = Path(flexrec.__file__).resolve().parent
ALLOWED = PACKAGE / "recording" / "transitions"  # the package: its modules are the writers
TABLE = RecordingTarget.__tablename__


def _writer(stack: list[traceback.FrameSummary]) -> Path | None:
    """The innermost frame of flexrec's own code above its database plumbing (flexrec.db
    runs what a room wrote), or None."""
    for frame in reversed(stack):
        path = Path(frame.filename).resolve()
        if path.is_relative_to(PACKAGE) and not path.is_relative_to(PACKAGE / "db"):
            return path
    return None


def _in_flush(stack: list[traceback.FrameSummary]) -> bool:
    # The ORM's flush, or flexrec's prepared one (flexrec.db.prepared.write_changes), writes
    # what attribute sets changed: those sets were blamed when they were made.
    return any(
        f.filename.endswith(("orm/unitofwork.py", "orm/persistence.py"))
        or (f.name == "write_changes" and f.filename.endswith("db/prepared.py"))
        for f in stack
    )


@contextmanager
def watch_target_writers() -> Iterator[list[str]]:
    """Yield a list that fills with one line per write of the table from outside transitions."""
    offenders: list[str] = []

    def blame(what: str) -> None:
        stack = traceback.extract_stack()[:-2]
        writer = _writer(stack)
        if writer is not None and not writer.is_relative_to(ALLOWED):
            offenders.append(f"{what} from {writer.relative_to(PACKAGE.parent)}")

    def on_set(_target: Any, _value: Any, _old: Any, initiator: Any) -> None:
        blame(f"RecordingTarget.{initiator.key} =")

    def before_execute(_conn: Any, clause: Any, *_args: Any) -> None:
        table = getattr(clause, "table", None)
        if isinstance(clause, UpdateBase) and getattr(table, "name", None) == TABLE:
            if not _in_flush(traceback.extract_stack()):
                blame(type(clause).__name__.upper())

    def on_prepared(sql: str) -> None:
        # A prepared statement (flexrec.db.prepared) runs on the driver's cursor, unseen by
        # SQLAlchemy's events.
        head = sql.split(None, 3)
        verb = head[0].upper()
        table = head[2] if verb in ("INSERT", "DELETE") else head[1]
        if verb in ("INSERT", "UPDATE", "DELETE") and table == TABLE:
            if not _in_flush(traceback.extract_stack()):
                blame(verb)

    attributes = [getattr(RecordingTarget, c.key) for c in RecordingTarget.__mapper__.column_attrs]
    for attribute in attributes:
        event.listen(attribute, "set", on_set)
    event.listen(Engine, "before_execute", before_execute)
    try:
        with watch(on_prepared):
            yield offenders
    finally:
        event.remove(Engine, "before_execute", before_execute)
        for attribute in attributes:
            event.remove(attribute, "set", on_set)
