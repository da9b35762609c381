"""Deliver world events as signed Twilio webhooks (TaskRouter, Event Streams, conference, call,
recording callbacks), with Twilio's retry habits and the fault plan's misbehaviour.

Flow: `World.emit` → `WebhookDispatcher.on_event` (under the world lock: snapshot the payload,
decide faults) → inbox → one sender per shard (a shard is chosen from the resource SID, so the
callbacks of one call, conference or task stay in order unless a fault reorders them) → the
transport (flexsim.http1 for plain http, aiohttp for https; both loaded when sending starts).

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
import functools
import itertools
import json
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from flexsim import callbacks
from flexsim.faults import FaultPlan
from flexsim.http1 import Http1Pool, HttpProtocolError, split_target
from flexsim.signature import json_webhook_url, twilio_signature
from flexsim.world import TERMINAL_CALL_STATUSES, SidFactory, World, WorldEvent

if TYPE_CHECKING:  # both load when a transport is made: importing flexsim stays light
    import aiohttp
    import httpx

log = logging.getLogger(__name__)

USER_AGENT = "TwilioProxy/1.1"

# Seconds a receiver has to answer each kind of delivery (sources in the module docstring).
ANSWER_LIMITS_S: dict[str, float] = {"taskrouter": 15.0, "event-streams": 5.0}


# Form names and most values (SIDs, statuses, names, numbers) repeat from webhook to webhook:
# remembering their quoted form spares urllib's per-character quoting on the hot path.
_quote = functools.lru_cache(maxsize=8192)(quote_plus)


def encode_form(form: Mapping[str, str]) -> str:
    """The bytes `urlencode(form)` gives, with the quoting of repeated names and values cached."""
    quote = _quote
    return "&".join([f"{quote(name)}={quote(value)}" for name, value in form.items()])


class Transport(ABC):
    """Sends one request and returns the HTTP status; raises `OSError`-like errors on failure."""

    @abstractmethod
    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """Send and return the status code."""

    async def close(self) -> None:  # noqa: B027 - optional: most transports hold nothing
        """Release connections."""


class AiohttpTransport(Transport):
    """aiohttp's pooled client (about 10x less CPU per request than httpx's async client on
    this workload): the default transport's fallback for https and URLs with credentials."""

    def __init__(self, timeout_s: float, max_connections: int = 64) -> None:
        import aiohttp

        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._limit = max_connections
        self._session: aiohttp.ClientSession | None = None

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """POST/GET through a shared session (created lazily on the running loop)."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                connector=aiohttp.TCPConnector(limit=self._limit),
                skip_auto_headers=("User-Agent", "Content-Type"),
            )
        try:
            async with self._session.request(method, url, headers=headers, data=body) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(type(exc).__name__) from exc

    async def close(self) -> None:
        """Close the session."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class PooledTransport(Transport):
    """The default transport: the lean keep-alive client of `flexsim.http1` for plain
    `http://` callback URLs (a fraction of aiohttp's CPU per webhook), aiohttp for the rest
    (`max_connections` bounds aiohttp's pool; the lean client opens one per request in flight)."""

    def __init__(self, timeout_s: float, max_connections: int = 64) -> None:
        self._pool = Http1Pool(timeout_s)
        self._fallback = AiohttpTransport(timeout_s, max_connections)

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """Send over a pooled connection (https and URLs with credentials go through aiohttp)."""
        if split_target(url) is None:
            return await self._fallback.send(method, url, headers, body)
        try:
            return await self._pool.request(method, url, headers, body)
        except (OSError, TimeoutError, HttpProtocolError) as exc:
            raise DeliveryError(type(exc).__name__) from exc

    async def close(self) -> None:
        """Close the pooled connections and the fallback session."""
        self._pool.close()
        await self._fallback.close()


class HttpxTransport(Transport):
    """Delivery through an httpx client (tests pass one with a `MockTransport`)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
        """Send through the httpx client."""
        import httpx

        try:
            response = await self.client.request(method, url, headers=headers, content=body)
        except httpx.HTTPError as exc:
            raise DeliveryError(type(exc).__name__) from exc
        return response.status_code

    async def close(self) -> None:
        """Close the client."""
        await self.client.aclose()


class DeliveryError(Exception):
    """The request got no HTTP answer (refused, reset, timed out)."""


@dataclass
class Delivery:
    """One HTTP request to make (and remake on retries)."""

    id: str  # I-Twilio-Idempotency-Token: the same for retries and duplicates
    kind: str
    name: str
    url: str
    method: str = "POST"
    form: dict[str, str] | None = None
    body: bytes | None = None
    shard_key: str = ""
    resource_sid: str = ""
    reorder: bool = False
    delay_s: float = 0.0
    duplicate: bool = False

    def request(self, auth_token: str) -> tuple[str, dict[str, str], bytes | None]:
        """Final URL, headers and body, signed exactly as Twilio signs."""
        headers = {"User-Agent": USER_AGENT, "I-Twilio-Idempotency-Token": self.id}
        if self.body is not None:
            url = json_webhook_url(self.url, self.body)
            headers["Content-Type"] = "application/json"
            headers["X-Twilio-Signature"] = twilio_signature(auth_token, url, None)
            return url, headers, self.body
        form = self.form or {}
        if self.method == "GET":
            url = f"{self.url}{'&' if '?' in self.url else '?'}{encode_form(form)}"
            headers["X-Twilio-Signature"] = twilio_signature(auth_token, url, None)
            return url, headers, None
        headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        headers["X-Twilio-Signature"] = twilio_signature(auth_token, self.url, form)
        return self.url, headers, encode_form(form).encode()


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
        # Twilio's default without StatusCallbackEvent: only the call's end is reported.
        self.call_status_events = call_status_events
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
        self._sids = SidFactory(seed ^ 0x5EB, world.sid_salt)
        self._n_shards = shards
        self._call_seq: dict[str, int] = {}
        self._stream_batches: dict[str, list[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._wake: asyncio.Event | None = None
        self._queues: list[asyncio.Queue[Delivery]] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._in_flight = 0
        self._transport: Transport | None = None

    # -- building ---------------------------------------------------------------------------
    def attach(self) -> None:
        """Subscribe to the world's events."""
        self.world.subscribe(self.on_event)

    def on_event(self, event: WorldEvent) -> None:
        """Snapshot an event into deliveries (called by World.emit with the world lock held)."""
        for delivery in self._build(event):
            self._enqueue(delivery)

    def _build(self, event: WorldEvent) -> list[Delivery]:
        world = self.world
        data = event.data
        if event.kind == "taskrouter":
            return self._build_taskrouter(event)
        if event.kind == "conference":
            conference = data["conference"]
            conference.sequence += 1
            if not conference.status_callback:
                return []
            form = callbacks.conference_form(world, event.name, event.at, data, conference.sequence)
            return [
                self._delivery(
                    "conference", event.name, conference.status_callback, form, conference.sid
                )
            ]
        if event.kind == "call-status":
            call = data["call"]
            wanted = call.status_callback_statuses or self.call_status_events
            if not call.status_callback or call.status not in wanted:
                return []
            seq = self._call_seq.get(call.sid, -1) + 1
            self._call_seq[call.sid] = seq
            if call.status in ("completed", "busy", "no-answer", "failed", "canceled"):
                self._call_seq.pop(call.sid, None)
            form = callbacks.call_status_form(world, call, event.at, seq)
            delivery = self._delivery(
                "call-status", event.name, call.status_callback, form, call.sid
            )
            delivery.method = call.status_callback_method.upper()
            return [delivery]
        if event.kind == "recording-status":
            recording = data["recording"]
            if not recording.status_callback:
                return []
            if recording.status not in recording.status_callback_events:
                return []
            form = callbacks.recording_status_form(world, recording, data["call"])
            delivery = self._delivery(
                "recording-status", event.name, recording.status_callback, form, recording.call_sid
            )
            delivery.method = recording.status_callback_method.upper()
            return [delivery]
        return []

    def _build_taskrouter(self, event: WorldEvent) -> list[Delivery]:
        world = self.world
        event_sid = self._sids.new("EV")
        form = callbacks.taskrouter_form(world, event.name, event.at, event.data, event_sid)
        task = event.data.get("task")
        key = task.sid if task is not None else form["ResourceSid"]
        out: list[Delivery] = []
        events_filter = getattr(world, "events_filter", None)
        wanted = not events_filter or event.name in {
            name.strip() for name in str(events_filter).split(",")
        }
        if world.event_callback_url and wanted:
            out.append(
                self._delivery("taskrouter", event.name, world.event_callback_url, form, key)
            )
        sinks = getattr(world, "event_stream_sinks", None) or []
        if sinks:
            cloud_event = callbacks.event_streams_cloudevent(world, form, event.at)
            for sink in sinks:
                if self._sink_wants(sink, cloud_event["type"]):
                    with self._lock:
                        self._stream_batches.setdefault(self._sink_url(sink), []).append(
                            cloud_event
                        )
        return out

    def _sink_url(self, sink: Any) -> str:
        destination = sink.get("destination") if isinstance(sink, dict) else None
        if destination is None and isinstance(sink, dict):
            destination = (sink.get("sink_configuration") or {}).get("destination")
        return str(destination or "")

    def _sink_wants(self, sink: Any, event_type: str) -> bool:
        """Whether a webhook sink has a subscription covering `event_type` (as Event Streams)."""
        if not isinstance(sink, dict) or not self._sink_url(sink):
            return False
        if sink.get("sink_type", "webhook") != "webhook":
            return False
        for sub in getattr(self.world, "event_subscriptions", None) or []:
            if not isinstance(sub, dict) or sub.get("sink_sid") != sink.get("sid"):
                continue
            for entry in sub.get("types") or []:
                name = entry.get("type") if isinstance(entry, dict) else entry
                if name == event_type:
                    return True
        return False

    def _delivery(self, kind: str, name: str, url: str, form: dict[str, str], key: str) -> Delivery:
        token = f"{next(self._ids):08d}-{kind}-{key}"
        return Delivery(
            id=token, kind=kind, name=name, url=url, form=form, shard_key=key, resource_sid=key
        )

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
                        id=f"{next(self._ids):08d}-event-streams",
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
            )

    def _log(self, delivery: Delivery, **fields: Any) -> None:
        self.log.append(
            {
                "id": delivery.id,
                "kind": delivery.kind,
                "name": delivery.name,
                "url": delivery.url,
                "resource_sid": delivery.resource_sid,
                "duplicate": delivery.duplicate,
                "reordered": delivery.reorder,
                "at": time.time(),
                **fields,
            }
        )
