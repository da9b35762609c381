"""Per-key budgets (token buckets) for what strangers may make the service do: IAM token checks
per client, password guesses per account and per client.

Each key starts with `burst` units and gains one every `refill_s` seconds up to `burst`. `take`
spends a unit or says how long until one is back; `give_back` returns a unit when the work
turned out to be legitimate (a valid token, a right password), so only failures run a budget
down. Memory is bounded: the least recently used keys are forgotten first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class KeyedBudget:
    """A thread-safe token bucket per key."""

    def __init__(
        self,
        burst: int,
        refill_s: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.burst = burst
        self.refill_s = refill_s
        self._max_keys = max_keys
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def _units(self, key: str, now: float) -> float:
        units, at = self._buckets.get(key, (float(self.burst), now))
        return min(float(self.burst), units + (now - at) / self.refill_s)

    def _store(self, key: str, units: float, now: float) -> None:
        self._buckets[key] = (units, now)
        self._buckets.move_to_end(key)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)

    def wait_s(self, key: str) -> float:
        """Seconds until `key` has a unit to spend (0 when it has one now)."""
        now = self._clock()
        with self._lock:
            units = self._units(key, now)
        return 0.0 if units >= 1.0 else (1.0 - units) * self.refill_s

    def take(self, key: str) -> float:
        """Spend one unit of `key`: 0 when spent, else the seconds until one is back."""
        now = self._clock()
        with self._lock:
            units = self._units(key, now)
            if units < 1.0:
                return (1.0 - units) * self.refill_s
            self._store(key, units - 1.0, now)
            return 0.0

    def give_back(self, key: str) -> None:
        """Return a unit spent on work that turned out legitimate."""
        now = self._clock()
        with self._lock:
            self._store(key, min(float(self.burst), self._units(key, now) + 1.0), now)
