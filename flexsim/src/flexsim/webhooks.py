"""Deliver world events as signed Twilio webhooks (TaskRouter, Event Streams, conference, call,
recording callbacks), with Twilio's retry habits and the fault plan's misbehaviour.

Flow: `World.emit` → `WebhookDispatcher.on_event` (under the world lock: snapshot the payload,
decide faults) → inbox → one sender per shard (a shard is chosen from the resource SID, so the
callbacks of one call, conference or task stay in order unless a fault reorders them) → the
transport (`flexsim.delivery`: flexsim.http1 for plain http, aiohttp for https; both loaded when
sending starts).

Delivery outcome:  2xx/3xx → sent;  4xx → failed (final);  5xx / timeout / connection error →
retried with exponential backoff up to `max_retries`, then failed.

Answer limits (an answer slower than its kind's limit is a timeout, logged as such, and
retried like any other): TaskRouter workspace events 15 s ("Your application should respond
to Event Callbacks with 204 No Content ... within 15 seconds", TaskRouter Events reference);
Event Streams webhook sinks 5 s (error 91308 "Sink endpoint did not respond in time"; Event
Streams retries with backoff for up to four hours, "Event delivery retries and event
duplication"); every other callback Twilio's default read timeout, 15 s (Webhooks connection
overrides, `rt` default 15000 ms).
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flexsim.delivery import (
    Delivery,
    DeliveryError,
    HttpxTransport,
    PooledTransport,
    Transport,
)
from flexsim.event_deliveries import DeliveryBuilder
from flexsim.faults import FaultPlan
from flexsim.world import TERMINAL_CALL_STATUSES, World, WorldEvent

if TYPE_CHECKING:  # both load when a transport is made: importing flexsim stays light
    import httpx

log = logging.getLogger(__name__)

# Seconds a receiver has to answer each kind of delivery (sources in the module docstring).
ANSWER_LIMITS_S: dict[str, float] = {"taskrouter": 15.0, "event-streams": 5.0}


@dataclass
class DeliveryStats:
    """Counters over every delivery since start."""

    queued: int = 0
    sent: int = 0
    failed: int = 0
    retried: int = 0
    timed_out: int = 0  # attempts answered later than their kind's limit (then retried)
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    by_kind: collections.Counter[str] = field(default_factory=collections.Counter)


class WebhookDispatcher:
    """Turns world events into signed webhook deliveries and sends them."""

    def __init__(
        self,
        world: World,
        *,
        auth_token: str,
        faults: FaultPlan | None = None,
        timeout_s: float = 15.0,
        max_retries: int = 3,
        retry_backoff_s: float = 0.5,
        shards: int = 32,
        log_size: int = 5000,
        batch_window_s: float = 0.05,
        seed: int = 0,
        call_status_events: frozenset[str] = TERMINAL_CALL_STATUSES,
    ) -> None:
        self.world = world
        self.builder = DeliveryBuilder(world, seed=seed, call_status_events=call_status_events)
        self.auth_token = auth_token
        self.faults = faults
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.retry_backoff_s = retry_backoff_s
        self.batch_window_s = batch_window_s
        self.stats = DeliveryStats()
        self.log: collections.deque[dict[str, Any]] = collections.deque(maxlen=log_size)
        # Deliveries waiting for the sender tasks (or, before start(), for a test to inspect).
        self.inbox: collections.deque[Delivery] = collections.deque()
        self._n_shards = shards
        self._stream_batches: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._queues: list[asyncio.Queue[Delivery]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._transport: Transport | None = None

    def attach(self) -> None:
        """Subscribe to the world's events."""
        self.world.subscribe(self.on_event)

    def on_event(self, event: WorldEvent) -> None:
        """Snapshot an event into deliveries (called by World.emit with the world lock held)."""
        builder = self.builder
        for delivery in builder.build(event):
            self._enqueue(delivery)
        if builder.stream_events:
            with self._lock:
                for url, cloud_event in builder.stream_events:
                    self._stream_batches.setdefault(url, []).append(cloud_event)
            builder.stream_events.clear()

    def _enqueue(self, delivery: Delivery) -> None:
        fault = self.faults.webhook_fault() if self.faults is not None else None
        with self._lock:
            if fault is not None and fault.drop:
                self.stats.dropped += 1
                self._log(delivery, status=None, attempts=0, outcome="dropped")
                return
            if fault is not None:
                delivery.reorder = fault.reorder
                delivery.delay_s = fault.delay_s
            copies = [delivery]
            if fault is not None and fault.duplicate:
                self.stats.duplicated += 1
                copies.append(
                    Delivery(**{**delivery.__dict__, "duplicate": True, "reorder": False})
                )
            for copy in copies:
                self.stats.queued += 1
                self.inbox.append(copy)
        self._poke()

    def _poke(self) -> None:
        loop = self._loop
        if loop is None or self._wake is None:
            return
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    # -- sending ----------------------------------------------------------------------------
    async def start(
        self, client: httpx.AsyncClient | None = None, transport: Transport | None = None
    ) -> None:
        """Start the sender tasks on the running loop (aiohttp unless a client is given)."""
        self._loop = asyncio.get_running_loop()
        self._loop_thread = threading.get_ident()
        self._wake = asyncio.Event()
        if transport is None:
            transport = (
                HttpxTransport(client)
                if client is not None
                else PooledTransport(max(self.timeout_s, *ANSWER_LIMITS_S.values()) + 1.0)
            )
        self._transport = transport
        self._queues = [asyncio.Queue() for _ in range(self._n_shards)]
        self._tasks = [asyncio.create_task(self._pump())]
        self._tasks += [asyncio.create_task(self._sender(q)) for q in self._queues]
        self._tasks.append(asyncio.create_task(self._stream_flusher()))
        self._wake.set()

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is pending (up to a timeout), then stop the senders."""
        try:
            await asyncio.wait_for(self.drain(), drain_timeout_s)
        except TimeoutError:
            log.warning("webhook dispatcher stopped with %d deliveries pending", self.pending)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._transport is not None:
            await self._transport.close()
            self._transport = None
        self._loop = None

    def answer_limit_s(self, kind: str) -> float:
        """How long a receiver may take to answer a delivery of `kind`."""
        return ANSWER_LIMITS_S.get(kind, self.timeout_s)

    @property
    def pending(self) -> int:
        """Deliveries not yet finished (queued, in flight, or batched for Event Streams)."""
        batched = sum(len(b) for b in self._stream_batches.values())
        return len(self.inbox) + sum(q.qsize() for q in self._queues) + self._in_flight + batched

    def log_snapshot(self) -> list[dict[str, Any]]:
        """The delivery log as it is now (safe from any thread: sends append under the lock)."""
        with self._lock:
            return list(self.log)

    async def drain(self) -> None:
        """Wait until every queued delivery has been sent or has failed."""
        # pending spans several queues and counters: polling is simpler than one more event
        while self.pending:  # noqa: ASYNC110
            await asyncio.sleep(0.02)

    async def _pump(self) -> None:
        wake = self._wake
        if wake is None:
            raise RuntimeError("dispatcher not started")
        while True:
            await wake.wait()
            wake.clear()
            while self.inbox:
                delivery = self.inbox.popleft()
                shard = hash(delivery.shard_key) % len(self._queues)
                self._queues[shard].put_nowait(delivery)

    async def _sender(self, queue: asyncio.Queue[Delivery]) -> None:
        while True:
            delivery = await queue.get()
            self._in_flight += 1
            try:
                if delivery.reorder:
                    # Hold it back: send whatever comes next on this shard first.
                    try:
                        following = await asyncio.wait_for(queue.get(), 0.5)
                    except TimeoutError:
                        following = None
                    if following is not None:
                        self._in_flight += 1
                        self.stats.reordered += 1
                        try:
                            await self._send(following)
                        finally:
                            self._in_flight -= 1
                await self._send(delivery)
            finally:
                self._in_flight -= 1

    async def _stream_flusher(self) -> None:
        while True:
            await asyncio.sleep(self.batch_window_s)
            with self._lock:
                batches, self._stream_batches = self._stream_batches, {}
            for url, events in batches.items():
                for start in range(0, len(events), 100):
                    chunk = events[start : start + 100]
                    body = json.dumps(chunk, separators=(",", ":")).encode()
                    delivery = Delivery(
                        id=self.builder.token("event-streams"),
                        kind="event-streams",
                        name=f"{len(chunk)} events",
                        url=url,
                        body=body,
                        shard_key=url,
                    )
                    self._in_flight += 1
                    try:
                        self.stats.queued += 1
                        await self._send(delivery)
                    finally:
                        self._in_flight -= 1

    async def _send(self, delivery: Delivery) -> None:
        transport = self._transport
        if transport is None:
            raise RuntimeError("dispatcher not started")
        if delivery.delay_s:
            await asyncio.sleep(delivery.delay_s)
        url, headers, body = delivery.request(self.auth_token)
        attempts = 0
        status: int | None = None
        error: str | None = None
        # When the receiver could first have heard of it (simulated epoch ms): how late an
        # answer to this callback was is measured from here, retries included.
        first_try_ms = round(self.world.clock.now() * 1000)
        while True:
            attempts += 1
            started = time.monotonic()
            limit = self.answer_limit_s(delivery.kind)
            try:
                status = await asyncio.wait_for(
                    transport.send(delivery.method, url, headers, body), limit
                )
                error = None
            except TimeoutError:
                status, error = None, f"no answer within {limit:g} s"
                self.stats.timed_out += 1
            except DeliveryError as exc:
                status, error = None, str(exc)
            elapsed_ms = (time.monotonic() - started) * 1000
            retriable = status is None or status >= 500
            if not retriable or attempts > self.max_retries:
                break
            self.stats.retried += 1
            await asyncio.sleep(self.retry_backoff_s * 2 ** (attempts - 1))
        ok = status is not None and status < 400
        with self._lock:
            if ok:
                self.stats.sent += 1
            else:
                self.stats.failed += 1
            self.stats.by_kind[delivery.kind] += 1
            self._log(
                delivery,
                status=status,
                attempts=attempts,
                outcome="sent" if ok else "failed",
                error=error,
                elapsed_ms=round(elapsed_ms, 1),
                first_try_ms=first_try_ms,
            )

    def _log(self, delivery: Delivery, **fields: Any) -> None:
        self.log.append(
            {
                "id": delivery.id,
                "kind": delivery.kind,
                "name": delivery.name,
                "url": delivery.url,
                "resource_sid": delivery.resource_sid,
                "subject_sid": delivery.subject_sid,
                "duplicate": delivery.duplicate,
                "reordered": delivery.reorder,
                "at": time.time(),
                **fields,
            }
        )
