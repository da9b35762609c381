"""Memory of tasks whose recordings are settled, so repeated TaskRouter events skip the database.

Most TaskRouter traffic repeats what the service already holds: a `task.updated` of a task that
is recorded and linked. Once the database has said so for a task (`_changes_nothing`), the facts
it agreed to are kept here; a later event carrying the same facts is answered from memory. Any
event that takes the full path forgets the task, so the next one is checked against the
database again. The only database write such an event owes (moving the task's newest event
time forward, so a late older event cannot overwrite it) is batched: `flush()` writes every
pending advance in one transaction, from a background ticker and at shutdown. A crash loses at
most one interval of advances, which can only let one stale event through the full path, where
the next current event corrects it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from flexrec.webhooks.events import TaskRouterEvent

# Facts of an event that the settled check compares (attributes, status, routing, channel).
Facts = tuple[Any, ...]
MAX_TASKS = 50_000  # live tasks of a large contact center; older ones fall out first


def event_facts(event: TaskRouterEvent) -> Facts:
    """What a settled check compares: the event's attributes and task columns."""
    return (
        event.task_attributes,
        event.task_assignment_status,
        event.task_queue_sid,
        event.task_queue_name,
        event.workflow_sid,
        event.workflow_name,
        event.task_channel,
    )


def _put_newest(items: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
    """Store `key` as the newest entry, dropping the oldest beyond `limit`."""
    items[key] = value
    items.move_to_end(key)
    while len(items) > limit:
        items.popitem(last=False)


def _keep_newest(times: dict[str, int], key: str, event_ms: int) -> None:
    """Keep the later of the stored and the given event time."""
    if event_ms > times.get(key, 0):
        times[key] = event_ms


class SettledTasks:
    """Thread-safe, bounded map of task SID -> facts the database confirmed as settled."""

    def __init__(self, max_tasks: int = MAX_TASKS) -> None:
        self._facts: OrderedDict[str, Facts] = OrderedDict()
        self._advances: dict[str, int] = {}
        self._max = max_tasks
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._facts)

    def remember(self, task_sid: str, facts: Facts, event_ms: int | None = None) -> None:
        """The database confirmed `facts` for the task and nothing is left to do for it; the
        confirming event's time (if given) is kept for flush like a repeat's."""
        with self._lock:
            _put_newest(self._facts, task_sid, facts, self._max)
            if event_ms is not None:
                _keep_newest(self._advances, task_sid, event_ms)

    def forget(self, task_sid: str) -> None:
        """The task takes the full path: check it against the database next time."""
        with self._lock:
            self._facts.pop(task_sid, None)

    def repeat(self, task_sid: str, facts: Facts, event_ms: int) -> bool:
        """True when `facts` are the ones remembered; the event time is then kept for flush."""
        with self._lock:
            known = self._facts.get(task_sid)
            if known is None or known != facts:
                return False
            _keep_newest(self._advances, task_sid, event_ms)
            return True

    def take_advances(self) -> dict[str, int]:
        """The event times waiting to be written (task SID -> newest event ms), emptied."""
        with self._lock:
            advances, self._advances = self._advances, {}
        return advances

    def restore_advances(self, advances: Iterable[tuple[str, int]]) -> None:
        """Put back advances whose write failed, keeping the newest time per task."""
        with self._lock:
            for task_sid, event_ms in advances:
                _keep_newest(self._advances, task_sid, event_ms)

    def flush(self, write: Callable[[dict[str, int]], None]) -> int:
        """Write pending advances with `write` (one transaction); returns how many."""
        advances = self.take_advances()
        if not advances:
            return 0
        try:
            write(advances)
        except Exception:
            self.restore_advances(advances.items())
            raise
        return len(advances)


class RecentSet:
    """A thread-safe, bounded set that forgets its oldest members first."""

    def __init__(self, max_items: int = MAX_TASKS) -> None:
        self._items: OrderedDict[str, None] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def add(self, item: str) -> None:
        """Remember `item` (as the newest)."""
        with self._lock:
            _put_newest(self._items, item, None, self._max)

    def discard(self, item: str) -> None:
        """Forget `item` if present."""
        with self._lock:
            self._items.pop(item, None)


class InFlight:
    """Legs whose start attempt runs in this process, and the callbacks parked for each.

    Twilio posts a new recording's `in-progress` callback while it is still answering our
    create; the attempt then stores the same facts, so the callback is parked instead of racing
    it. When the attempt ends the parked callbacks come back: dropped if the attempt stored
    their recording, handled as usual otherwise (say the create's answer was lost).
    """

    def __init__(self) -> None:
        self._legs: dict[str, list[Any]] = {}
        self._lock = threading.Lock()

    def begin(self, call_sid: str) -> None:
        """A start attempt on the leg begins."""
        with self._lock:
            self._legs.setdefault(call_sid, [])

    def park(self, call_sid: str, event: Any) -> bool:
        """Keep `event` for the leg's attempt; False when no attempt runs on it."""
        with self._lock:
            parked = self._legs.get(call_sid)
            if parked is None:
                return False
            parked.append(event)
            return True

    def end(self, call_sid: str) -> list[Any]:
        """The attempt is over: the callbacks parked meanwhile."""
        with self._lock:
            return self._legs.pop(call_sid, [])
