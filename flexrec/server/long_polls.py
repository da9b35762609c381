"""The agent API's long poll: bounded per token, and free while nothing changes.

`GET …/recording?wait=N` with `If-None-Match` holds the request until the state differs from
that ETag (200) or `wait` runs out (304). Holding costs no thread and no database read: the
poll waits on the process's `ChangeFeed` for its task's announcement, compares the state's
cheap fingerprint only then, and reads the full state only when the fingerprint moved. A client
that hangs up ends its poll at once (the disconnect is awaited, not polled for).

A plugin polls again after every answer (a 304 each `wait` seconds while nothing happens). The
state it was last shown is remembered per task and viewer (`StateMemo`, as long as its task is
not announced again, two minutes at most), so such a poll starts holding without reading the
database; only a state that differs from what the client holds is ever answered, and always
from a fresh read.

Limits: a Flex token may hold `MAX_POLLS_PER_TOKEN` polls at once in a process (one per task
and tab is what a plugin needs), and a process `MAX_POLLS` in all; more is 429 with
Retry-After. Never per address: a contact centre's agents share one.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from flexrec.server.change_feed import ChangeFeed, Watch
from flexrec.server.metrics import WAITS_ON_PURPOSE
from flexrec.web.thread_pools import run_on

FIRST = asyncio.FIRST_COMPLETED
MAX_POLLS_PER_TOKEN = 8
MAX_POLLS = 20_000
MEMO_MAX_AGE_S = 120.0  # a safety net: a remembered read is redone at least this often
MEMO_ENTRIES = 50_000


@dataclass(frozen=True)
class Seen:
    """A state read: its fingerprint and ETag, the feed's generation before it, and when."""

    fingerprint: Any
    etag: str
    generation: int
    at: float


class StateMemo:
    """The last read of each (task, viewer), reusable while the task was not announced
    (event loop only; bounded, oldest forgotten first)."""

    def __init__(self, entries: int = MEMO_ENTRIES, max_age_s: float = MEMO_MAX_AGE_S) -> None:
        self._entries = entries
        self._max_age_s = max_age_s
        self._seen: OrderedDict[tuple[str, ...], Seen] = OrderedDict()

    def get(self, key: tuple[str, ...], feed: ChangeFeed) -> Seen | None:
        """The remembered read when still good: not announced since, not too old."""
        seen = self._seen.get(key)
        if seen is None:
            return None
        if feed.changed_since(key[0], seen.generation) or (
            time.monotonic() - seen.at > self._max_age_s
        ):
            del self._seen[key]
            return None
        return seen

    def put(self, key: tuple[str, ...], seen: Seen) -> None:
        """Remember a read (`key[0]` is the task SID)."""
        self._seen[key] = seen
        self._seen.move_to_end(key)
        while len(self._seen) > self._entries:
            self._seen.popitem(last=False)


class TooManyPolls(Exception):
    """This token (or this process) holds as many polls as it may; retry later."""

    retry_after_s = 5


class PollCap:
    """Counts held polls per token digest and in all (event loop only)."""

    def __init__(self, per_token: int = MAX_POLLS_PER_TOKEN, total: int = MAX_POLLS) -> None:
        self.per_token = per_token
        self.total = total
        self._held: dict[str, int] = {}
        self._all = 0

    @asynccontextmanager
    async def hold(self, token_digest: str) -> AsyncIterator[None]:
        """Count one poll of this token while inside; `TooManyPolls` when over a limit."""
        held = self._held.get(token_digest, 0)
        if held >= self.per_token or self._all >= self.total:
            raise TooManyPolls
        self._held[token_digest] = held + 1
        self._all += 1
        try:
            yield
        finally:
            self._all -= 1
            left = self._held[token_digest] - 1
            if left:
                self._held[token_digest] = left
            else:
                del self._held[token_digest]


async def _client_gone(request: Request) -> None:
    """Returns when the client disconnects (the request's body was read already)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _changed_or_gone(watch: Watch, gone: asyncio.Task[None], timeout_s: float) -> bool:
    """True when the task was announced within `timeout_s`; False on timeout or hang-up.
    (Futures, not tasks: a held poll keeps as few objects as it can, 2,000 of them at once.)"""
    rung = watch.arm()
    done, _ = await asyncio.wait({rung, gone}, timeout=timeout_s, return_when=FIRST)
    if rung in done:
        return True
    rung.cancel()
    return False


@dataclass(frozen=True)
class StateReads:
    """How a poll reads its task's state (blocking callables) and who it reads it for."""

    viewer: tuple[str, ...]  # what the state depends on besides the task: identity, worker, roles
    fingerprint: Callable[[], Any]
    read: Callable[[], dict[str, Any]]  # the first read (may catch the task up from TaskRouter)
    peek: Callable[[], dict[str, Any]]  # a re-read while held (never asks TaskRouter)


async def follow(
    request: Request,
    feed: ChangeFeed,
    memo: StateMemo,
    task_sid: str,
    reads: StateReads,
    *,
    wait_s: float,
    etag_of: Callable[[dict[str, Any]], str],
    matches: Callable[[str], bool],
) -> tuple[dict[str, Any] | None, str]:
    """The state once it differs from what the caller has (body, its ETag), or (None, ETag)
    when `wait_s` ran out or the client left. The first reads run on the threadpool like any
    request's, the re-reads of a held poll on a small pool of their own."""
    run = functools.partial(run_on, "long_polls")
    key = (task_sid, *reads.viewer)
    request.scope[WAITS_ON_PURPOSE] = True  # a held poll is not a slow request
    async with feed.watch(task_sid) as watch:  # before the reads: no later change is missed
        known = memo.get(key, feed)
        if known is not None and matches(known.etag):
            # The client holds what this task showed at the last read, and no announcement
            # came since: hold without reading (one that comes later rings this watch).
            seen, etag = known.fingerprint, known.etag
        else:
            generation = feed.generation
            seen = await run_in_threadpool(reads.fingerprint)
            body = await run_in_threadpool(reads.read)
            etag = etag_of(body)
            memo.put(key, Seen(seen, etag, generation, time.monotonic()))
            if not matches(etag):
                return body, etag
        gone = asyncio.ensure_future(_client_gone(request))
        try:
            deadline = time.monotonic() + wait_s
            while (left := deadline - time.monotonic()) > 0:
                if not await _changed_or_gone(watch, gone, left):
                    break
                generation = feed.generation
                now = await run(reads.fingerprint)
                if now == seen:
                    memo.put(key, Seen(seen, etag, generation, time.monotonic()))
                    continue  # announced, but nothing the state is made of moved
                seen = now
                body = await run(reads.peek)
                fresh = etag_of(body)
                memo.put(key, Seen(seen, fresh, generation, time.monotonic()))
                if fresh != etag:
                    return body, fresh
        finally:
            gone.cancel()
            with suppress(asyncio.CancelledError):
                await gone
    return None, etag
