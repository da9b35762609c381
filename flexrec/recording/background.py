"""Work the service does right after a webhook is answered, and small periodic chores.

A webhook that starts a recording commits the (durable) pending attribute write before it
answers; the write itself (a task read and an If-Match update, two round trips to TaskRouter)
then runs here, at once, instead of holding the webhook open. If the process dies first, the
pending row is still there for the queue's reconciliation. Without a `Background` (unit tests,
one-off commands) the same work simply runs inline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import structlog

log = structlog.get_logger(__name__)


class Background:
    """A few threads for follow-up work, plus periodic chores, stopped together."""

    def __init__(self, threads: int = 2, name: str = "flexrec-after") -> None:
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        self._stop = threading.Event()
        self._tickers: list[tuple[threading.Thread, Callable[[], object]]] = []
        self._closed = False

    def submit(self, work: Callable[[], object]) -> None:
        """Run `work` soon on a background thread (inline once closing); errors are logged.

        `work` must leave its own retry behind (a queued job, a pending row) when it fails.
        """
        if self._closed:
            _quietly(work)
            return
        try:
            self._executor.submit(_quietly, work)
        except RuntimeError:  # shut down between the check and the submit
            _quietly(work)

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
        self._closed = True
        self._executor.shutdown(wait=True)
        self._stop.set()
        for thread, chore in self._tickers:
            thread.join(timeout_s)
            _quietly(chore)


def _quietly(call: Callable[[], object]) -> None:
    try:
        call()
    except Exception:
        log.exception("background work failed")
