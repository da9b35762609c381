"""Thread limiters of their own for work a stranger can start (token checks, password hashes,
long polls' state reads),
so it never takes the threads webhooks are handled on, nor more memory than a few at once.

anyio's default limiter (40 threads) serves every sync route and `run_in_threadpool`; work run
through `run_on(name, ...)` counts against its own limiter instead (one per event loop).
Webhooks, the busiest hand-off, run on threads of their own (`run_webhook`, `WebhookThreads`):
less CPU than anyio's hop or a `ThreadPoolExecutor`'s, with the same context copy.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

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


# (the caller's context, the function, its arguments, the loop, the future it settles)
_Item = tuple[
    contextvars.Context,
    Callable[..., Any],
    tuple[object, ...],
    asyncio.AbstractEventLoop,
    "asyncio.Future[Any]",
]


class WebhookThreads:
    """Up to `limit` daemon threads running webhook work from one queue, each item settling
    its awaiting request's asyncio future itself.

    What `ThreadPoolExecutor` does for a webhook and this does not: a `concurrent.futures`
    Future per item (a Condition and its lock, settled, then read by nobody: the asyncio
    future is the one awaited), a work item object, a semaphore (Python code over a Condition)
    to find an idle thread, a `queue.Queue` (Python code over a Condition) instead of the C
    `SimpleQueue`. Each of those is Python code run once on the event loop and once on the
    thread for every webhook handed over. Threads start as work arrives and stay (a daemon: a
    stop waits for the requests in flight, and they for their work, not for the threads).
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit = limit
        self._name = name
        self._work: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = 0
        self._idle = 0  # threads waiting for work and not yet promised an item

    @property
    def started(self) -> int:
        """Threads started so far."""
        return self._started

    def submit(self, item: _Item) -> None:
        """Queue `item`; start a thread for it when none is idle and the limit allows."""
        self._work.put(item)
        with self._lock:
            if self._idle:
                self._idle -= 1  # that thread takes this item (or one queued before it)
                return
            if self._started >= self._limit:
                return  # it waits for the next thread to finish
            number = self._started
            self._started += 1
        threading.Thread(target=self._serve, name=f"{self._name}_{number}", daemon=True).start()

    def _serve(self) -> None:
        get, lock = self._work.get, self._lock
        while True:
            loop, future, settled = _run(get())
            # Idle before the answer can reach the request: its next webhook, handed over the
            # moment it is answered, then finds this thread instead of starting another.
            with lock:
                self._idle += 1
            loop.call_soon_threadsafe(_settle, future, *settled)
            del loop, future, settled  # nothing of a request outlives it in an idle thread


def _run(
    item: _Item,
) -> tuple[asyncio.AbstractEventLoop, asyncio.Future[Any], tuple[Any, BaseException | None]]:
    context, func, args, loop, future = item
    try:
        return loop, future, (context.run(func, *args), None)
    except BaseException as exc:  # whatever it is, the awaiting request gets it
        return loop, future, (None, exc)


_webhook_threads: WebhookThreads | None = None
_webhook_threads_lock = threading.Lock()


def webhook_threads() -> WebhookThreads:
    """The process's webhook threads (made on first use)."""
    global _webhook_threads  # one pool per process, made on first use
    if _webhook_threads is not None:
        return _webhook_threads
    with _webhook_threads_lock:
        if _webhook_threads is None:
            _webhook_threads = WebhookThreads(WEBHOOK_THREADS, "webhook")
        return _webhook_threads


async def run_webhook(func: Callable[..., T], *args: object) -> T:
    """Run blocking `func(*args)` on the webhook threads, in a copy of the caller's context
    (request ids, the arrival mark)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()
    webhook_threads().submit((contextvars.copy_context(), func, args, loop, future))
    return await future


def _settle(future: asyncio.Future[T], result: T | None, error: BaseException | None) -> None:
    if future.done():  # the request was cancelled (the server stopping): nobody waits
        return
    if error is None:
        future.set_result(result)  # type: ignore[arg-type]
    else:
        future.set_exception(error)
