"""How often the agent API may re-read a task from TaskRouter on behalf of a refused caller.

A 403/404 on the agent API may only mean the webhooks that would have told us about the task
(or the caller's reservation) have not arrived yet, so the service catches up from TaskRouter
(two calls) before refusing. Without a limit, anyone with a valid agent token could make every
request for someone else's task cost two TaskRouter calls. So a task is caught up at most once
per cooldown, and each caller has a small budget of catch-ups that refills slowly.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class CatchUpLimiter:
    """Decides whether a refused agent request may re-read its task from TaskRouter."""

    task_cooldown_s: float = 30.0
    caller_burst: int = 5
    caller_refill_s: float = 10.0  # one more catch-up per caller this often
    max_entries: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _tasks: OrderedDict[str, float] = field(default_factory=OrderedDict, init=False)
    _callers: OrderedDict[str, tuple[float, float]] = field(default_factory=OrderedDict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def allow(self, task_sid: str, caller: str) -> bool:
        """True (and counted) when `caller` may have `task_sid` re-read from TaskRouter now."""
        now = self.clock()
        with self._lock:
            last = self._tasks.get(task_sid)
            if last is not None and now - last < self.task_cooldown_s:
                return False
            units, at = self._callers.get(caller, (float(self.caller_burst), now))
            units = min(float(self.caller_burst), units + (now - at) / self.caller_refill_s)
            if units < 1.0:
                self._callers[caller] = (units, now)
                return False
            self._callers[caller] = (units - 1.0, now)
            self._callers.move_to_end(caller)
            self._tasks[task_sid] = now
            self._tasks.move_to_end(task_sid)
            for memory in (self._tasks, self._callers):
                while len(memory) > self.max_entries:
                    memory.popitem(last=False)
            return True
