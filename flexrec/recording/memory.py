"""What this process remembers of its own recording starts, so their callbacks skip the database.

Twilio posts a new recording's `in-progress` status callback while it is still answering our
create, and the start attempt stores the same facts from that answer. So the callback of a
recording this process already stored as running (`known_live`), or of a leg whose attempt is in
flight here (`InFlight`: parked until the attempt ends), is answered without a write
transaction. Per process and bounded; losing it only sends a callback down the ordinary path.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Final

MAX_ITEMS = 50_000  # recordings live at once in a large contact center; older ones fall out
# How long what this process remembers of a call outlives the call's end (a task completed, a
# leg's last status): callbacks that trail the end (the conference's own end, a redelivery:
# Twilio waits 15 s for an answer) still find it, and then it goes, so a day's memory holds
# the live calls and the last half minute's, not every call up to the bounds above.
LINGER_S: Final = 30.0


def _put_newest(items: OrderedDict[str, Any], key: str, value: Any, limit: int) -> None:
    """Store `key` as the newest entry, dropping the oldest beyond `limit`."""
    items[key] = value
    items.move_to_end(key)
    while len(items) > limit:
        items.popitem(last=False)


class RecentSet:
    """A thread-safe, bounded set that forgets its oldest members first."""

    def __init__(self, max_items: int = MAX_ITEMS) -> None:
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

    def __len__(self) -> int:
        return len(self._items)


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


class RecentTimes:
    """A thread-safe, bounded map of key → when (monotonic seconds) it was last noted."""

    def __init__(self, max_items: int = MAX_ITEMS, clock: Callable[[], float] = time.monotonic):
        self._items: OrderedDict[str, float] = OrderedDict()
        self._max = max_items
        self._clock = clock
        self._lock = threading.Lock()

    def note(self, key: str) -> None:
        """`key` was seen now."""
        with self._lock:
            _put_newest(self._items, key, self._clock(), self._max)

    def forget(self, key: str) -> None:
        """Forget `key` (its task is over: nothing asks about it again)."""
        with self._lock:
            self._items.pop(key, None)

    def __len__(self) -> int:
        return len(self._items)

    def seen_within(self, key: str, seconds: float) -> bool:
        """Whether `key` was noted in the last `seconds` (never, after a restart)."""
        when = self._items.get(key)
        return when is not None and self._clock() - when < seconds


class Expiry:
    """Keys to forget `linger_s` after their call ended, oldest first (not thread-safe: its
    owner calls it under its own lock)."""

    def __init__(self, linger_s: float = LINGER_S, clock: Callable[[], float] = time.monotonic):
        self._due: deque[tuple[float, str]] = deque()
        self._marked: set[str] = set()
        self._linger_s = linger_s
        self._clock = clock

    def mark(self, key: str) -> None:
        """`key`'s call is over: forget it once `linger_s` has passed (a second mark of a key
        not yet due changes nothing)."""
        if key not in self._marked:
            self._marked.add(key)
            self._due.append((self._clock() + self._linger_s, key))

    def due(self) -> list[str]:
        """The keys whose time has come (each once)."""
        now, due = self._clock(), []
        while self._due and self._due[0][0] <= now:
            key = self._due.popleft()[1]
            self._marked.discard(key)
            due.append(key)
        return due

    def __len__(self) -> int:
        return len(self._due)
