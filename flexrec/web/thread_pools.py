"""Thread limiters of their own for work a stranger can start (token checks, password hashes,
long polls' state reads),
so it never takes the threads webhooks are handled on, nor more memory than a few at once.

anyio's default limiter (40 threads) serves every sync route and `run_in_threadpool`; work run
through `run_on(name, ...)` counts against its own limiter instead (one per event loop).
Webhooks, the busiest hand-off, run on a plain executor of their own (`run_webhook`): half the
CPU of anyio's hop (measured, 30 against 46-68 us a call), with the same context copy.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import anyio.to_thread
from anyio import CapacityLimiter

T = TypeVar("T")

POOL_SIZES = {
    "token_checks": 8,  # waiting on Twilio IAM
    "password_hashes": 4,  # scrypt: 16 MiB and tens of ms each
    "long_polls": 4,  # state reads of held polls whose task was announced as changed
}

WEBHOOK_THREADS = 40  # as many as anyio's default limiter gave them: handlers wait on locks

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


_webhook_pool: ThreadPoolExecutor | None = None
_webhook_pool_lock = threading.Lock()


def _webhook_executor() -> ThreadPoolExecutor:
    global _webhook_pool  # one pool per process, made on first use
    with _webhook_pool_lock:
        if _webhook_pool is None:
            _webhook_pool = ThreadPoolExecutor(WEBHOOK_THREADS, thread_name_prefix="webhook")
        return _webhook_pool


async def run_webhook(func: Callable[..., T], *args: object) -> T:
    """Run blocking `func(*args)` on the webhook threads, in a copy of the caller's context
    (request ids, the arrival mark)."""
    # The thread settles an asyncio future itself: the loop's run_in_executor chains a second
    # future to the executor's and checks the callable each time, a third of a hop's CPU.
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    context = contextvars.copy_context()

    def run() -> None:
        try:
            result = context.run(func, *args)
        except BaseException as exc:  # whatever it is, the awaiting request gets it
            loop.call_soon_threadsafe(_settle, future, None, exc)
        else:
            loop.call_soon_threadsafe(_settle, future, result, None)

    _webhook_executor().submit(run)
    return await future


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (the server stopping): nobody waits
        return
    if error is None:
        future.set_result(result)  # type: ignore[arg-type]
    else:
        future.set_exception(error)
