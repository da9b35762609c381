"""The REST requests a simulator received, in order, for tests that count or order calls.

Each Twilio route appends one entry when it answers (faulted and refused requests too, with the
status they got); the simulator's own `/_sim` routes are not logged. The log keeps the newest
`limit` entries, so a long run with traffic holds memory flat.
"""

from __future__ import annotations

import fnmatch
import itertools
import threading
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

DEFAULT_LIMIT = 10_000


@dataclass(frozen=True)
class LoggedRequest:
    """One request: its place in the log, method, path, query string and answered status."""

    seq: int
    method: str
    path: str
    query: str
    status: int

    def as_dict(self) -> dict[str, Any]:
        """The entry as JSON-able fields."""
        return asdict(self)


class RequestLog:
    """The newest `limit` requests, safe to append to from any thread."""

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._entries: deque[LoggedRequest] = deque(maxlen=limit)
        self._seq = itertools.count(1)
        self._lock = threading.Lock()

    def append(self, method: str, path: str, query: str, status: int) -> None:
        """Log one answered request."""
        with self._lock:
            self._entries.append(LoggedRequest(next(self._seq), method, path, query, status))

    def entries(self, method: str | None = None, path: str = "*") -> list[LoggedRequest]:
        """The logged requests, oldest first; only those of `method` and matching the glob
        `path` (`*` matches any run of characters, `/` included) when given."""
        with self._lock:
            entries = list(self._entries)
        wanted = method.upper() if method else None
        return [
            e
            for e in entries
            if (wanted is None or e.method == wanted) and fnmatch.fnmatchcase(e.path, path)
        ]

    def count(self, method: str | None = None, path: str = "*") -> int:
        """How many logged requests match (see `entries`)."""
        return len(self.entries(method, path))

    def clear(self) -> None:
        """Forget every entry (the sequence goes on)."""
        with self._lock:
            self._entries.clear()
