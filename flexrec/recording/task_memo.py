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

One fact is held here before the row has it: the task's clock (`last_event_ms`, the TaskRouter
time of the newest event applied). An event that moves only the clock (Flex repeating the
task's attributes and status, which is most of a call's task.updated events) is not written;
the memo keeps the newer clock and the next write of a real change carries it. The clock is an
ordering hint, not a fact anyone reads: it decides whether a late event is older than what the
row holds. What a lost clock costs (a crash, or the memo dropped): an event delivered late,
older than the lost clock but newer than the row's, is taken as the newest; since the events in
between changed nothing, its facts are those of a moment the task has already left and come
back from (a reservation rejected and the task reserved again; attributes edited and restored),
and they stand until the task's next event. A terminal status still sticks, legs once known
never change, and attributes without a link written are checked against Twilio as any are. A
clock held by one web process is, to another (`serve --processes N`), a lost clock.
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
from flexrec.recording.memory import Expiry
from flexrec.recording.rows import ReservationState, TaskState
from flexrec.recording.states import TERMINAL_TASK_STATUSES

MAX_TASKS: Final = 20_000  # live tasks of a large contact centre, with room for the recent ones


def attributes_digest(attributes: Mapping[str, Any] | None) -> str | None:
    """A digest of task attributes (None for none), to tell a change without keeping them."""
    if attributes is None:
        return None
    text = json.dumps(attributes, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def held_over(row: TaskState, held_clock: int | None) -> tuple[TaskState, RowClock | None]:
    """A memo's state from a row just read or written, keeping a newer clock held here (a
    writer that did not know it wrote the row's older one): (state, `TaskMemo.row_clock`)."""
    if held_clock is None or (row.last_event_ms is not None and row.last_event_ms >= held_clock):
        return row, None
    return replace(row, last_event_ms=held_clock), RowClock(row.last_event_ms)


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
    # The task row's clock while `state.last_event_ms` is a newer one held here only (events
    # that moved only the clock: see the module docstring); None: the row has the state's.
    row_clock: RowClock | None = None

    @property
    def written_clock(self) -> int | None:
        """The clock the task row holds (what its conditional write compares)."""
        return self.state.last_event_ms if self.row_clock is None else self.row_clock.ms

    @property
    def held_clock(self) -> int | None:
        """A newer clock than the row's, held here only (None: none)."""
        return None if self.row_clock is None else self.state.last_event_ms


@dataclass(frozen=True)
class RowClock:
    """The clock a task row holds (None when no event set it yet)."""

    ms: int | None


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
    """The memos of recently seen tasks (thread-safe, bounded). A task's memo and lock go a
    while after the task is over (`Expiry`): the events that trail its end (a late
    reservation.completed, the conference's end) still find them; a later one takes the full
    path, which the terminal status survives (rows only move forward)."""

    max_tasks: int = MAX_TASKS
    expiry: Expiry = field(default_factory=Expiry)
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
            if memo.state.status in TERMINAL_TASK_STATUSES:
                self.expiry.mark(task_sid)
            for over in self.expiry.due():
                self._items.pop(over, None)
                lock = self._task_locks.get(over)
                # A lock held is a handler of the task at work: it stays. (One fetched but not yet
                # taken is the bound's race above: the memo path's writes are conditional and the
                # full path locks the rows, so two handlers of a task long over cost a full path.)
                if lock is not None and not lock.locked():
                    del self._task_locks[over]

    def __len__(self) -> int:
        return len(self._items)

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
                state, row_clock = held_over(TaskState.of(task), memo.held_clock)
                self._items[task.sid] = replace(
                    memo,
                    state=state,
                    updated_at=task.updated_at,
                    attributes_digest=attributes_digest(task.attributes),
                    policy_decision=task.policy_decision,
                    settled=settled,
                    row_clock=row_clock,
                )

    def note_attributes(
        self, task_sid: str, was: datetime, attributes: Mapping[str, Any], now: datetime
    ) -> None:
        """The task row, last written at `was`, took `attributes` at `now` (a link's write,
        flexrec.recording.links): its memo, if still of that row, takes them too."""
        with self._lock:
            memo = self._items.get(task_sid)
            if memo is not None and memo.updated_at == was:
                self._items[task_sid] = replace(
                    memo, attributes_digest=attributes_digest(attributes), updated_at=now
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
