"""The call legs this process has seen, with the numbers they were dialled to and from.

A leg search (flexrec.recording.legs) tells the agent's leg from the customer's by each leg's
`To` and `From`, which a conference participant does not carry: it fetched every participant's
call on every attempt. Those numbers never change for a leg, and Twilio already posts them in
each call status callback (`To`, `From`), so a leg seen in one, or fetched by an earlier search
attempt, needs no fetch. Per process and bounded: a leg missing here (another process took its
callback, a restart, an account that sends no call status callbacks) is fetched as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from flexrec.recording.memory import MAX_ITEMS, Expiry


@dataclass(frozen=True)
class SeenCall:
    """A leg's numbers as Twilio reported them (a `legs.CallLike`)."""

    sid: str
    to: str | None
    from_: str | None


class SeenCalls:
    """A thread-safe, bounded map of call SID -> the leg's numbers, oldest forgotten first."""

    def __init__(self, max_items: int = MAX_ITEMS, expiry: Expiry | None = None) -> None:
        self._items: OrderedDict[str, SeenCall] = OrderedDict()
        self._max = max_items
        self._lock = threading.Lock()
        self._ended = expiry if expiry is not None else Expiry()

    def ended(self, sid: str) -> None:
        """The leg's call is over: its numbers are forgotten a while later (`Expiry`), since a
        search looks for the legs of live calls."""
        with self._lock:
            self._ended.mark(sid)
            for due in self._ended.due():
                self._items.pop(due, None)

    def note(self, sid: str, to: str | None, from_: str | None) -> None:
        """Remember a leg's numbers (a report without either adds nothing)."""
        if not to and not from_:
            return
        if sid in self._items:
            return  # a leg's numbers never change: the first report holds
        with self._lock:
            self._items[sid] = SeenCall(sid, to, from_)
            while len(self._items) > self._max:
                self._items.popitem(last=False)

    def get(self, sid: str) -> SeenCall | None:
        """The leg's numbers, if this process saw them."""
        return self._items.get(sid)

    def __len__(self) -> int:
        return len(self._items)
