"""Held long polls wait here, costing nothing, until their task is announced as changed.

One `ChangeFeed` per process. A long poll `watch(task_sid)`es before it reads the state (so no
change after that read can be missed) and then waits on its `Watch`: no thread, no database
read, until an announcement for its task arrives or the wait ends. Announcements come from:
- the database (flexrec.recording.changes: triggers on every write of what the state is made
  of, from any process), heard by one reader thread per process, which runs only while some
  poll waits: on SQLite one read per tick for all waiting polls together, on PostgreSQL a
  LISTEN connection;
- `publish(task_sid)` in this process (any thread), for parts without a database.
The reader hands the SIDs to the event loop, which wakes only the polls of those tasks; each
then compares its cheap fingerprint once and answers if its state really moved.

The feed also counts announcements (`generation`) and remembers when each task was last
announced, so a state read can be reused as long as its task was not announced since
(`changed_since`): a plugin polling again after a 304 costs no read while nothing changed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager

from prometheus_client import Gauge

from flexrec.logs import get_logger
from flexrec.recording.changes import ANYTHING, ChangeSource

log = get_logger(__name__)

TICK_S = 0.25  # how often SQLite's announcements are read while polls wait
MAX_REMEMBERED = 100_000  # tasks whose last announcement is remembered (oldest forgotten)
_RETRY_S = 2.0  # after a source failed (database restarting, connection lost)

HELD_POLLS = Gauge("flexrec_long_polls_held", "Agent-API long polls waiting for a change")


class Watch:
    """One waiting poll's doorbell (event loop only): a ring while nobody waits is kept."""

    def __init__(self) -> None:
        self._rung = False
        self._future: asyncio.Future[None] | None = None

    def ring(self) -> None:
        """An announcement for this poll's task arrived."""
        future = self._future
        if future is not None and not future.done():
            future.set_result(None)
        else:
            self._rung = True

    def arm(self) -> asyncio.Future[None]:
        """A future done at the next ring (at once when one came since the last wait)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._rung:
            self._rung = False
            future.set_result(None)
        self._future = future
        return future

    async def changed(self, timeout_s: float) -> bool:
        """True when rung within `timeout_s`, else False."""
        future = self.arm()
        done, _ = await asyncio.wait({future}, timeout=timeout_s)
        if future in done:
            return True
        future.cancel()
        return False


class ChangeFeed:
    """Task-change announcements fanned out to this process's waiting polls."""

    def __init__(self, source: Callable[[], ChangeSource] | None = None, tick_s: float = TICK_S):
        self._make_source = source
        self._tick_s = tick_s
        self._watches: dict[str, set[Watch]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiting = threading.Event()  # set while some poll waits: the reader reads
        self._closed = threading.Event()
        self._reader: threading.Thread | None = None
        self._lock = threading.Lock()
        self._source: ChangeSource | None = None
        # Event loop only: announcements counted, and the count at each task's last one.
        self.generation = 0
        self._changed_at: OrderedDict[str, int] = OrderedDict()
        self._forgotten = 0  # the newest count dropped from _changed_at
        if source is not None:
            self._source = source()  # now: what changes after this is heard

    @property
    def held(self) -> int:
        """How many polls wait (read from any thread)."""
        return sum(len(w) for w in list(self._watches.values()))

    @asynccontextmanager
    async def watch(self, task_sid: str) -> AsyncIterator[Watch]:
        """Wait for `task_sid`'s announcements while inside (enter before reading the state)."""
        self._loop = asyncio.get_running_loop()
        watch = Watch()
        self._watches.setdefault(task_sid, set()).add(watch)
        HELD_POLLS.inc()
        self._wake_reader()
        try:
            yield watch
        finally:
            HELD_POLLS.dec()
            watchers = self._watches.get(task_sid)
            if watchers is not None:
                watchers.discard(watch)
                if not watchers:
                    del self._watches[task_sid]
            if not self._watches:
                self._waiting.clear()

    def publish(self, task_sid: str) -> None:
        """Announce a change of `task_sid` made in this process (any thread)."""
        self._hand_over({task_sid})

    def _hand_over(self, sids: Iterable[str]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._ring, frozenset(sids))
        except RuntimeError:  # the loop closed meanwhile: nobody waits any more
            return

    def changed_since(self, task_sid: str, generation: int) -> bool:
        """Whether `task_sid` was announced after `generation` (event loop only)."""
        return self._changed_at.get(task_sid, self._forgotten) > generation

    def _ring(self, sids: frozenset[str]) -> None:
        if ANYTHING in sids:
            self._ring_all()
            return
        self.generation += 1
        for sid in sids:
            self._changed_at[sid] = self.generation
            self._changed_at.move_to_end(sid)
            for watch in self._watches.get(sid, ()):
                watch.ring()
        while len(self._changed_at) > MAX_REMEMBERED:
            _sid, self._forgotten = self._changed_at.popitem(last=False)

    def _ring_all(self) -> None:
        # Announcements may have been lost: every remembered read is suspect.
        self.generation += 1
        self._forgotten = self.generation
        self._changed_at.clear()
        for watchers in self._watches.values():
            for watch in watchers:
                watch.ring()

    def _wake_reader(self) -> None:
        self._waiting.set()
        if self._make_source is None or self._reader is not None:
            return
        with self._lock:
            if self._reader is None:
                self._reader = threading.Thread(
                    target=self._read, name="flexrec-change-feed", daemon=True
                )
                self._reader.start()

    def _read(self) -> None:
        """The reader thread: reads announcements while polls wait, sleeps otherwise."""
        assert self._make_source is not None  # noqa: S101 - started only with a source
        while not self._closed.is_set():
            if not self._waiting.wait(timeout=1.0):
                continue
            try:
                if self._source is None:
                    self._source = self._make_source()
                    # Announcements may have gone unheard while it was away: re-check all.
                    self._loop_call(self._ring_all)
                sids = self._source.wait(self._tick_s)
            except Exception as exc:
                log.warning("change_feed_failed", error=type(exc).__name__)
                self._drop_source()
                self._closed.wait(_RETRY_S)
                continue
            if sids:
                self._hand_over(sids)

    def _loop_call(self, call: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(call)
            except RuntimeError:
                return

    def _drop_source(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            try:
                source.close()
            except Exception:  # closing a broken connection may fail too
                log.debug("change_source_close_failed")

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the reader and release the source."""
        self._closed.set()
        self._waiting.set()
        reader = self._reader
        if reader is not None:
            reader.join(timeout_s)
        self._drop_source()
