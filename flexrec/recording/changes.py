"""Which tasks' agent-visible state may have moved, as the database announces it.

Publishing is the database's job, so no writer can forget it: triggers (migration 0015) on the
rows a task's state is made of (tasks, reservations, recording targets and the attribute writes
linking them into tasks, pause events: exactly what `watch.state_fingerprint` reads) announce
the task SID in the same transaction as the write, whichever process made it. Core's single
writer of targets (transitions) and every other writer carry nothing; a new table that the
agent state reads needs its trigger (tests/unit/recording/test_recording_changes.py checks the
two lists agree).

Two ways to hear them, one per database:
- SQLite (the embedded default): the triggers append `task_changes` rows; a reader keeps a
  cursor and asks once per tick for the rows past it: one indexed read per process per tick,
  however many long polls wait. SQLite commits one writer at a time, so rows become visible in
  `seq` order and the cursor never skips one; rows pruned before a reader saw them (it slept
  through `KEEP_S` with no poll waiting) are reported as `ANYTHING`.
- PostgreSQL: the triggers NOTIFY `flexrec_task_changes` (delivered on commit) and a listener
  connection per process hears them at once; no table is read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy import delete, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from flexrec.db.models import TaskChange

CHANNEL = "flexrec_task_changes"
ANYTHING = "*"  # announced when announcements were lost: every task may have changed
KEEP_S = 600.0  # rows older than this were read long ago by every reader (ticks are < 1 s)
_BATCH = 10_000


class ChangeSource(Protocol):
    """Blocking reads of announcements, for one reader thread."""

    def wait(self, timeout_s: float) -> set[str]:
        """Task SIDs announced since the last call (may block up to `timeout_s`)."""
        ...

    def close(self) -> None:
        """Release what the source holds."""
        ...


class TableChanges:
    """SQLite: `task_changes` rows past a cursor, read once per `tick_s`."""

    def __init__(self, sessions: Callable[[], Session], *, sleep: Callable[[float], Any]) -> None:
        self._sessions = sessions
        self._sleep = sleep
        self.cursor = self._latest()  # what happened before this process watched is no news

    def _latest(self) -> int:
        with self._sessions() as session:
            return int(session.execute(select(func.max(TaskChange.seq))).scalar() or 0)

    def read(self) -> set[str]:
        """The task SIDs of the rows past the cursor (one query), moving the cursor;
        `ANYTHING` among them when rows past it were pruned before being read (`seq` has no
        holes otherwise: SQLite's AUTOINCREMENT takes a number only with a committed row)."""
        with self._sessions() as session:
            rows = session.execute(
                select(TaskChange.seq, TaskChange.task_sid)
                .where(TaskChange.seq > self.cursor)
                .order_by(TaskChange.seq)
                .limit(_BATCH)
            ).all()
        if not rows:
            return set()
        lost = int(rows[0][0]) > self.cursor + 1
        self.cursor = int(rows[-1][0])
        return {str(sid) for _seq, sid in rows} | ({ANYTHING} if lost else set())

    def wait(self, timeout_s: float) -> set[str]:
        """Sleep one tick (the timeout), then read."""
        self._sleep(timeout_s)
        return self.read()

    def close(self) -> None:
        """Nothing held between reads."""


class PgNotifications:
    """PostgreSQL: LISTEN flexrec_task_changes on a connection of its own."""

    def __init__(self, database_url: str) -> None:
        import psycopg

        libpq = make_url(database_url).set(drivername="postgresql")
        self._conn = psycopg.connect(libpq.render_as_string(hide_password=False), autocommit=True)
        self._conn.execute(f"LISTEN {CHANNEL}")

    def wait(self, timeout_s: float) -> set[str]:
        """The SIDs notified within `timeout_s` (returns at the first, with what came along)."""
        sids: set[str] = set()
        for note in self._conn.notifies(timeout=timeout_s, stop_after=1):
            sids.add(note.payload)
        if sids:
            for note in self._conn.notifies(timeout=0.001):
                sids.add(note.payload)
        return sids

    def close(self) -> None:
        """Close the listening connection."""
        self._conn.close()


def source_for(database_url: str, sessions: Callable[[], Session]) -> Callable[[], ChangeSource]:
    """How this database announces changes: a factory of sources (called by the reader thread,
    again after a failure)."""
    if make_url(database_url).get_backend_name() == "postgresql":
        return lambda: PgNotifications(database_url)
    return lambda: TableChanges(sessions, sleep=time.sleep)


def prune_changes(sessions: Callable[[], Session], now_s: float, keep_s: float = KEEP_S) -> int:
    """Delete announcements older than `keep_s` (a periodic chore); how many went."""
    with sessions() as session:
        gone = session.execute(delete(TaskChange).where(TaskChange.at_s < int(now_s - keep_s)))
        session.commit()
    return int(getattr(gone, "rowcount", 0) or 0)
