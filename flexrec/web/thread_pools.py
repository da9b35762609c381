"""Thread limiters of their own for work a stranger can start (token checks, password hashes,
long polls' state reads),
so it never takes the threads webhooks are handled on, nor more memory than a few at once.

anyio's default limiter (40 threads) serves every sync route and `run_in_threadpool`; work run
through `run_on(name, ...)` counts against its own limiter instead (one per event loop).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")

POOL_SIZES = {
    "token_checks": 8,  # waiting on Twilio IAM
    "password_hashes": 4,  # scrypt: 16 MiB and tens of ms each
    "long_polls": 4,  # state reads of held polls whose task was announced as changed
}

_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, CapacityLimiter]] = (
    weakref.WeakKeyDictionary()
)


def limiter(name: str) -> CapacityLimiter:
    """The running loop's limiter for pool `name` (created on first use)."""
    pools = _limiters.setdefault(asyncio.get_running_loop(), {})
    found = pools.get(name)
    if found is None:
        found = pools[name] = CapacityLimiter(POOL_SIZES[name])
    return found


async def run_on(name: str, func: Callable[..., T], *args: object) -> T:
    """Run blocking `func(*args)` on pool `name`'s threads."""
    return await anyio.to_thread.run_sync(func, *args, limiter=limiter(name))
