"""Work the service does right after a webhook is answered, work due later, and chores.

A webhook commits its durable intent (a pending target or link, an ended recording to
settle) before it answers; the Twilio calls it sets off then run here, at once, instead of
holding the webhook open, and retries run here when they are due (`submit_at`) instead of
waiting for a queue consumer's poll (huey's idle workers poll up to 10 s apart). If the process
dies first, the row is still there for reconciliation (at start-up and every minute). Without a
`Background` (unit tests, one-off commands) the same work runs inline or through the queue.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import structlog

from flexrec.recording.metrics import BACKGROUND_WAIT_SECONDS

log = structlog.get_logger(__name__)


class Background:
    """A few threads for follow-up work, plus periodic chores, stopped together.

    Two lanes: `first` work (a recording's start and what leads to it: a leg search, a pause
    held for one) has threads of its own, so it never queues behind the rest (link writes of
    two round trips each, settles, refreshes)."""

    # Most work here waits on Twilio (100-300 ms a round trip): threads are cheap. A burst of
    # link writes (a busy minute, reconcile after a restart) filled every thread of a single
    # pool, and starts queued behind it: start time is talk left unrecorded, link time is not.
    def __init__(
        self, threads: int = 12, name: str = "flexrec-after", first_threads: int = 12
    ) -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._first = ThreadPoolExecutor(
            max_workers=first_threads, thread_name_prefix="flexrec-start"
        )
        self._stop = threading.Event()
        self._tickers: list[tuple[threading.Thread, Callable[[], object]]] = []
        self._closed = False
        self._due: list[tuple[float, int, bool, Callable[[], object]]] = []
        self._due_changed = threading.Condition()
        self._order = itertools.count()
        self._timer: threading.Thread | None = None

    def submit(self, work: Callable[[], object], *, first: bool = False) -> None:
        """Run `work` soon on a background thread (inline once closing); errors are logged.

        It runs in a copy of the caller's context (the webhook's arrival time, bound SIDs).
        `work` must leave its own retry behind (a queued job, a pending row) when it fails.
        `first`: on the starts' own lane.
        """
        if self._closed:
            _quietly(work)
            return
        context = contextvars.copy_context()
        try:
            self._lane(first).submit(context.run, _timed, first, time.monotonic(), work)
        except RuntimeError:  # shut down between the check and the submit
            _quietly(work)

    def _lane(self, first: bool) -> ThreadPoolExecutor:
        return self._first if first else self._executor

    def submit_at(self, delay_s: float, work: Callable[[], object], *, first: bool = False) -> None:
        """Run `work` on a background thread once `delay_s` seconds have passed (dropped if the
        service closes first: what it does is due in a row reconciliation reads)."""
        if delay_s <= 0:
            self.submit(work, first=first)
            return
        with self._due_changed:
            if self._closed:
                return
            entry = (time.monotonic() + delay_s, next(self._order), first, work)
            heapq.heappush(self._due, entry)
            if self._timer is None:
                self._timer = threading.Thread(
                    target=self._run_due, name="flexrec-due", daemon=True
                )
                self._timer.start()
            self._due_changed.notify()

    def _run_due(self) -> None:
        while True:
            with self._due_changed:
                while not self._closed:
                    wait = self._due[0][0] - time.monotonic() if self._due else None
                    if wait is not None and wait <= 0:
                        break
                    self._due_changed.wait(wait)
                if self._closed:
                    return
                due, _, first, work = heapq.heappop(self._due)
            try:
                self._lane(first).submit(_timed, first, due, work)
            except RuntimeError:  # closing
                return

    def every(self, interval_s: float, chore: Callable[[], object]) -> None:
        """Run `chore` every `interval_s` seconds, and once more at `close()`."""

        def loop() -> None:
            while not self._stop.wait(interval_s):
                _quietly(chore)

        thread = threading.Thread(target=loop, name="flexrec-chore", daemon=True)
        thread.start()
        self._tickers.append((thread, chore))

    def close(self, timeout_s: float = 10.0) -> None:
        """Finish queued follow-ups, stop the chores and run each one last time."""
        if self._closed:
            return
        with self._due_changed:
            self._closed = True
            self._due.clear()
            self._due_changed.notify_all()
        self._first.shutdown(wait=True)
        self._executor.shutdown(wait=True)
        self._stop.set()
        for thread, chore in self._tickers:
            thread.join(timeout_s)
            _quietly(chore)


def _timed(first: bool, due: float, call: Callable[[], object]) -> None:
    WAITED[first].observe(max(0.0, time.monotonic() - due))
    _quietly(call)


WAITED = {
    first: BACKGROUND_WAIT_SECONDS.labels("first" if first else "after") for first in (True, False)
}


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except Exception:
        log.exception("background work failed")
