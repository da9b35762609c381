"""What this process knows a task's rows hold, so a TaskRouter event costs one short write.

Most events of a call change one thing (a status, a reservation's status, the attributes Flex
wrote) and nothing the recording plan depends on. With a task's memo (its row's columns but the
attributes, a digest of those, its reservations, whether its plan has nothing left to do, and
the media its links were last written with) the handler works out the event's effect in memory
(the same merge rules, flexrec.recording.rows), writes only the columns that change, and runs
the planner only when something it reads changed. An event that changes nothing is answered
without touching the database.

The database stays the truth: a memo is filled from it (or from a write this process made),
each write is conditional on the row still being what the memo says (`updated_at` of the task,
the reservation's status and clock), and a memo that does not hold is dropped and the event
takes the full path. Memos are per process and bounded; losing one costs a full path.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from flexrec.db.models import TaskRecord
from flexrec.recording.rows import ReservationState, TaskState

MAX_TASKS: Final = 20_000  # live tasks of a large contact centre, with room for the recent ones


def attributes_digest(attributes: Mapping[str, Any] | None) -> str | None:
    """A digest of task attributes (None for none), to tell a change without keeping them."""
    if attributes is None:
        return None
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class TaskMemo:
    """One task as its rows hold it (see the module docstring)."""

    state: TaskState
    updated_at: datetime  # the task row's, for the conditional write
    attributes_digest: str | None
    policy_decision: str | None
    reservations: Mapping[str, ReservationState]
    # The last plan left nothing to do (no start, link, search due): an event that changes
    # nothing the planner reads need not run it.
    settled: bool
    # Each link this process wrote, by media list (None: the task's own, else the
    # reservation's): what it wrote; None: not known here, so attributes seen with links done
    # are checked against the database.
    media: Mapping[str | None, WrittenMedia] | None = None
    has_done_links: bool = False
    # Reservations held here only: offered and never taken (pending, then rejected, timed out,
    # ...). Nothing reads such a row (who may act or look, planning, coverage: taken ones),
    # so it is written once a worker takes it; a restart only forgets what nobody reads.
    unwritten: frozenset[str] = frozenset()


@dataclass(frozen=True)
class WrittenMedia:
    """What a link write left in a media list: the SIDs leading it, the SIDs it removed."""

    leading: tuple[str, ...]
    removed: frozenset[str]
    written_ms: int

    def holds(self, present: tuple[str, ...], seen_ms: int) -> bool:
        """Whether attributes seen at `seen_ms` with these VoiceRecordings keep what was
        written (attributes older than the write are not judged)."""
        if seen_ms + 1000 <= self.written_ms:
            return True
        return present[: len(self.leading)] == self.leading and not self.removed.intersection(
            present
        )


@dataclass
class TaskMemos:
    """The memos of recently seen tasks (thread-safe, bounded)."""

    max_tasks: int = MAX_TASKS
    _items: OrderedDict[str, TaskMemo] = field(default_factory=OrderedDict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _task_locks: dict[str, threading.Lock] = field(default_factory=dict, init=False)

    def get(self, task_sid: str) -> TaskMemo | None:
        """The task's memo, or None."""
        return self._items.get(task_sid)

    def put(self, task_sid: str, memo: TaskMemo) -> None:
        """Remember `memo` for the task (as the newest)."""
        with self._lock:
            self._items[task_sid] = memo
            self._items.move_to_end(task_sid)
            while len(self._items) > self.max_tasks:
                old, _ = self._items.popitem(last=False)
                self._task_locks.pop(old, None)

    def forget(self, task_sid: str) -> None:
        """Drop the task's memo: something changed its rows behind it."""
        with self._lock:
            self._items.pop(task_sid, None)

    def refresh(self, task: TaskRecord, *, settled: bool) -> None:
        """The task's row was written (and planned) by another handler of this process: its
        memo, if any, takes the row's new columns."""
        with self._lock:
            memo = self._items.get(task.sid)
            if memo is not None:
                self._items[task.sid] = replace(
                    memo,
                    state=TaskState.of(task),
                    updated_at=task.updated_at,
                    attributes_digest=attributes_digest(task.attributes),
                    policy_decision=task.policy_decision,
                    settled=settled,
                )

    def unsettle(self, task_sid: str) -> None:
        """The task's plan has work again, and its links' media is not known here any more."""
        with self._lock:
            memo = self._items.get(task_sid)
            if memo is not None:
                self._items[task_sid] = replace(memo, settled=False, media=None)

    def note_media(self, task_sid: str, reservation_sid: str | None, written: WrittenMedia) -> None:
        """A link of the task was written (or found in place)."""
        with self._lock:
            memo = self._items.get(task_sid)
            if memo is not None:
                media = dict(memo.media or {})
                media[reservation_sid] = written
                # The task's own link written: its plan has nothing left (a worker leg's plan
                # never settles: that policy plans every event).
                settled = memo.settled or reservation_sid is None
                self._items[task_sid] = replace(
                    memo, media=media, has_done_links=True, settled=settled
                )

    def lock(self, task_sid: str) -> threading.Lock:
        """The lock this process's handlers of one task take, so they use its memo in turn."""
        with self._lock:
            found = self._task_locks.get(task_sid)
            if found is None:
                found = self._task_locks[task_sid] = threading.Lock()
            return found
