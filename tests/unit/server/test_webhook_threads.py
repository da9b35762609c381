"""The webhook hand-off: work runs on a webhook thread in the caller's context, its result or
exception comes back to the awaiting request, and threads are reused, never more than the limit."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest

from flexrec.web import thread_pools
from flexrec.web.thread_pools import WebhookThreads

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


@pytest.fixture
def threads(monkeypatch: pytest.MonkeyPatch) -> WebhookThreads:
    pool = WebhookThreads(3, "test-webhook")
    monkeypatch.setattr(thread_pools, "_webhook_threads", pool)
    return pool


def test_result_comes_back_from_a_webhook_thread_in_the_callers_context(
    threads: WebhookThreads,
) -> None:
    def work(x: int) -> tuple[int, str, str]:
        return x * 2, threading.current_thread().name, REQUEST_ID.get()

    async def request() -> tuple[int, str, str]:
        REQUEST_ID.set("req-7")
        return await thread_pools.run_webhook(work, 21)

    value, thread, request_id = asyncio.run(request())
    assert value == 42
    assert thread.startswith("test-webhook_")
    assert thread != threading.current_thread().name
    assert request_id == "req-7"


def test_an_exception_reaches_the_awaiting_request(threads: WebhookThreads) -> None:
    def work() -> None:
        raise LookupError("no such task")

    with pytest.raises(LookupError, match="no such task"):
        asyncio.run(thread_pools.run_webhook(work))


def test_one_at_a_time_reuses_one_thread(threads: WebhookThreads) -> None:
    names: set[str] = set()

    async def requests() -> None:
        for _ in range(20):
            await thread_pools.run_webhook(lambda: names.add(threading.current_thread().name))

    asyncio.run(requests())
    assert threads.started == 1
    assert len(names) == 1


def test_busy_threads_never_exceed_the_limit_and_queued_work_still_runs(
    threads: WebhookThreads,
) -> None:
    release = threading.Event()
    running: list[str] = []
    lock = threading.Lock()

    def blocked(n: int) -> int:
        with lock:
            running.append(threading.current_thread().name)
        release.wait(10)
        return n

    async def requests() -> list[int]:
        pending = [asyncio.ensure_future(thread_pools.run_webhook(blocked, n)) for n in range(8)]
        while True:  # the limit's worth start; the rest wait in the queue
            await asyncio.sleep(0.01)
            with lock:
                if len(running) >= 3:
                    break
        # Every request has submitted by now (they ran before the first sleep ended).
        assert threads.started == 3
        with lock:
            assert len(running) == 3
        release.set()
        return list(await asyncio.gather(*pending))

    assert asyncio.run(requests()) == list(range(8))
    assert threads.started == 3
    assert len(set(running)) == 3
