"""What one webhook costs, kind by kind and layer by layer, in process (instructions or CPU).

The service as `flexrec serve` builds it (`build_service`: SQLite, the SDK gateway over the
pooled transport, the background lanes; no queue consumers, as in serve's default where the
jobs run in a worker process), its ASGI app called directly (no server, no socket in front),
the simulator in a process of its own (its work is not counted). Each kind is sent one webhook
at a time, and each webhook's follow-up work (a new call's recording create, its attribute
write) is waited for before the next, so a phase's count is everything that kind sets off in
this process. Then each layer alone, on the same inputs, so a kind's figure splits into them:

- `ignored`: a TaskRouter type flexrec does not use (the edge alone: rules, read, signature,
  form, type, 204);
- `repeat`: `task.updated` of a task handled and linked, only its version and clock moved
  (the nine in ten of `webhook_throughput.py`'s mix);
- `new_call`: `task.created` of a new inbound call in progress (policy `start_on=task`): the
  handler, the recording create, the attribute write (an If-Match update of the event's
  version, once the warm-up's echoes showed versions are ETags; else a fetch first), all after
  the answer (the one in ten);
- `recording_progress`: the `in-progress` callback of a recording this process started
  (answered from memory);
- `call_progress`: a call status that ends nothing (answered from memory).

Layers: `signature` (the SDK validator on the form), `form` (url-decoding), `event` (parsing
into the domain event), `handler` (the recording room's handler called directly, its
follow-up work included), `hop` (the handoff to a webhook thread and back, with nothing to
run), and for a new call its Twilio requests one by one through the gateway (`sdk_*`) and
through the transport alone (`transport_*`, the same method, URL and form): the SDK's own work
is the difference. What is left of a kind's figure is the edge's own plumbing (ASGI rules,
reading, the answer).

    .venv/bin/python bench/webhook_costs.py                 # CPU time, every kind (~20 s)
    .venv/bin/python bench/webhook_costs.py --callgrind     # instructions (~2-3 min)
    .venv/bin/python bench/webhook_costs.py --callgrind --kinds repeat,new_call --json

CPU time (`time.process_time`, every thread of this process) moves with the machine's load;
instructions (`valgrind --tool=callgrind`, phases marked with callgrind's client requests from
a small C helper built on first use) do not, so compare trees with `--callgrind`. Instructions
are not time: a cache miss or a system call costs more than its count, and the kernel's work
(sockets, futexes) is not counted. Figures only, never assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response  # the baseline's route resolves these names
from figures import load_average  # this folder is on sys.path when a bench runs

from flexsim import defaults, twilio_signature

KINDS = ("bare_fastapi", "ignored", "repeat", "new_call", "recording_progress", "call_progress")
# The mix of webhook_throughput.py: one new call (with its recording's in-progress callback)
# in ten webhooks, the rest repeats.
MIX = {"repeat": 0.9, "new_call": 0.1, "recording_progress": 0.1}
PUBLIC_URL = "http://127.0.0.1:9"  # the discard port: the simulator's callbacks go nowhere
IGNORED_EVENT = "worker.activity.update"
WARM = 3  # webhooks of each kind and calls of each layer before measuring (first-use imports)
HELPER_C = r"""
#include <valgrind/callgrind.h>
void cg_start(void) { CALLGRIND_START_INSTRUMENTATION; }
void cg_zero(void) { CALLGRIND_ZERO_STATS; }
void cg_dump(const char *name) { CALLGRIND_DUMP_STATS_AT(name); }
"""


# -- phase marks ------------------------------------------------------------------------------
class Marks:
    """Where a phase starts and ends: callgrind's counters zeroed and dumped (under callgrind),
    and this process's CPU time either way."""

    def __init__(self, callgrind: bool) -> None:
        self._lib: Any = _helper() if callgrind else None
        self.cpu_s: dict[str, float] = {}
        self.counts: dict[str, dict[str, float]] = {}
        if self._lib is not None:
            self._lib.cg_start()

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count what runs inside as phase `name`."""
        counts = _counts()
        if self._lib is not None:
            self._lib.cg_zero()
        started = time.process_time()
        yield
        self.cpu_s[name] = time.process_time() - started
        if self._lib is not None:
            self._lib.cg_dump(name.encode())
        after = _counts()
        self.counts[name] = {k: v - counts.get(k, 0.0) for k, v in after.items()
                             if v != counts.get(k, 0.0)}  # fmt: skip


TWILIO_REQUESTS = [0]  # requests through the transport (counted by a wrapper, below)


def _counts() -> dict[str, float]:
    """SQL statements, write transactions, TaskRouter event paths, Twilio requests so far."""
    from prometheus_client import REGISTRY

    out = {"twilio_requests": float(TWILIO_REQUESTS[0])}
    wanted = {
        "flexrec_db_statements_total": "sql_statements",
        "flexrec_db_write_transactions_total": "write_transactions",
        "flexrec_taskrouter_event_paths_total": "path",
    }
    for family in REGISTRY.collect():
        short = wanted.get(family.name) or wanted.get(family.name + "_total")
        if short is None:
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            key = short if short != "path" else f"path_{sample.labels.get('path')}"
            out[key] = out.get(key, 0.0) + sample.value
    return out


def _count_twilio_requests() -> None:
    from flexrec.twilio.client import PooledHttpClient

    request = PooledHttpClient.request

    def counted(self: PooledHttpClient, *args: Any, **kwargs: Any) -> Any:
        TWILIO_REQUESTS[0] += 1
        return request(self, *args, **kwargs)

    PooledHttpClient.request = counted  # type: ignore[method-assign]


def _helper() -> Any:
    """The C helper issuing callgrind's client requests (built once into the temp folder)."""
    folder = Path(tempfile.gettempdir()) / "flexrec-bench-callgrind"
    folder.mkdir(exist_ok=True)
    library = folder / "marks.so"
    if not library.exists():
        source = folder / "marks.c"
        source.write_text(HELPER_C)
        cc = sysconfig.get_config_var("CC") or "cc"
        subprocess.run(  # noqa: S603 - our own source, the platform's compiler
            [*cc.split()[:1], "-O1", "-shared", "-fPIC", "-o", str(library), str(source)],
            check=True,
        )
    return ctypes.CDLL(str(library))


# -- the simulator, in its own process ---------------------------------------------------------
def _sim_main(conn: Connection) -> None:
    """Run the simulator; answer with webhook forms and call SIDs over a pipe."""
    import logging

    import uvicorn

    from flexsim import SimConfig, SimRunner, callbacks

    logging.disable(logging.WARNING)  # callbacks to the discard port fail: not news
    # Under callgrind the service runs ~50x slower: seconds pass between its requests, and
    # uvicorn's 5 s keep-alive would close its connections (each request a new one, and a POST
    # lost with its connection retried), which the service never sees at full speed.
    config_init = uvicorn.Config.__init__

    def kept_alive(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["timeout_keep_alive"] = 3600
        config_init(self, *args, **kwargs)

    uvicorn.Config.__init__ = kept_alive  # type: ignore[method-assign]
    # No REST latency: what the service spends does not depend on it, and runs are shorter.
    sim = SimRunner(SimConfig(port=0, start_traffic=False, agents=2, rest_latency="0")).start()
    world = sim.world
    queue = next(iter(world.queues.values()))
    workflow = next(iter(world.workflows.values()))
    conn.send(sim.base_url)
    number = 0
    while True:
        command, arg = conn.recv()
        if command == "tasks":  # n new inbound calls in progress, each with its task.created
            forms = []
            for _ in range(int(arg)):
                number += 1
                customer = f"+1555{number:07d}"
                call = world.create_call(
                    from_=customer, to="+15550000000", direction="inbound", party="customer"
                )
                world.set_call_status(call, "ringing")
                world.set_call_status(call, "in-progress")
                attributes = {"call_sid": call.sid, "direction": "inbound", "from": customer,
                              "to": "+15550000000", "caller": customer, "called": "+15550000000",
                              "type": "inbound", "name": customer}  # fmt: skip
                task = world.create_task(attributes, queue, workflow)
                with world.lock:
                    forms.append(callbacks.taskrouter_form(
                        world, "task.created", task.date_created, {"task": task}, "EV"
                    ))  # fmt: skip
            conn.send(forms)
        elif command == "updates":  # a task.updated form per task, as the task is now
            with world.lock:
                conn.send([
                    callbacks.taskrouter_form(
                        world, "task.updated", world.clock.now(), {"task": world.tasks[s]}, "EV"
                    )
                    for s in arg
                ])  # fmt: skip
        elif command == "recording_forms":  # the in-progress callback of each call's recording
            with world.lock:
                conn.send([
                    {**callbacks.recording_status_form(world, r, world.calls[r.call_sid]),
                     "RecordingStatus": "in-progress"}
                    for r in world.recordings.values() if r.call_sid in arg
                ])  # fmt: skip
        elif command == "call_forms":  # an in-progress call status callback per call
            with world.lock:
                conn.send([
                    callbacks.call_status_form(world, world.calls[s], world.clock.now(), 2)
                    for s in arg
                ])  # fmt: skip
        elif command == "stop":
            sim.stop()
            conn.send(None)
            return


class Simulator:
    """The simulator process, seen from here."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_sim_main, args=(child,), daemon=True)
        self.process.start()
        self.base_url: str = self._conn.recv()

    def ask(self, command: str, arg: Any = None) -> Any:
        """Send one command and wait for its answer."""
        self._conn.send((command, arg))
        return self._conn.recv()

    def stop(self) -> None:
        """Stop serving and wait for the process."""
        try:
            self.ask("stop")
        except (EOFError, OSError):
            pass
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()


# -- the service, in this process ---------------------------------------------------------------
class FollowUps:
    """Counts the background work a webhook sets off, so a phase waits for all of it."""

    def __init__(self) -> None:
        self._open = 0
        self._lock = threading.Lock()
        self._idle = threading.Event()
        self._idle.set()

    def install(self) -> None:
        """Wrap `Background.submit` (before the service is built)."""
        from flexrec.recording.background import Background

        submit = Background.submit
        follow = self

        def counted(self: Background, work: Callable[[], object], *, first: bool = False) -> None:
            follow._opened()

            def run() -> object:
                try:
                    return work()
                finally:
                    follow._closed()

            submit(self, run, first=first)

        Background.submit = counted  # type: ignore[method-assign]

    def _opened(self) -> None:
        with self._lock:
            self._open += 1
            self._idle.clear()

    def _closed(self) -> None:
        with self._lock:
            self._open -= 1
            if self._open == 0:
                self._idle.set()

    def wait(self, timeout_s: float = 120.0) -> None:
        """Until no follow-up work is running or queued."""
        if not self._idle.wait(timeout_s):
            raise RuntimeError("follow-up work still running")


@dataclass
class Service:
    """The app and its services, and how to post to it."""

    app: Any
    services: Any
    follow: FollowUps
    state: dict[str, Any] = field(default_factory=dict)

    def signed(self, path: str, form: dict[str, str]) -> tuple[bytes, bytes]:
        """The body and X-Twilio-Signature of a form post to `path`."""
        signature = twilio_signature(defaults.AUTH_TOKEN, PUBLIC_URL + path, form)
        return urlencode(form).encode(), signature.encode()

    async def post(self, path: str, body: bytes, signature: bytes) -> int:
        """One webhook through the app's ASGI stack; its status."""
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1", "server": ("127.0.0.1", 8080), "client": ("127.0.0.1", 40000),
            "scheme": "http", "method": "POST", "root_path": "", "path": path,
            "raw_path": path.encode(), "query_string": b"", "state": dict(self.state),
            "headers": [
                (b"host", b"127.0.0.1:8080"),
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
                (b"x-twilio-signature", signature),
                (b"user-agent", b"TwilioProxy/1.1"),
            ],
        }  # fmt: skip
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        status = 0

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


def build(sim_url: str, data_dir: Path, log_file: Path) -> Service:
    """The service as `flexrec serve` builds it, pointed at the simulator."""
    env = {
        "TWILIO_ACCOUNT_SID": defaults.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": defaults.AUTH_TOKEN,
        "TWILIO_WORKSPACE_SID": defaults.WORKSPACE_SID,
        "FLEXREC_TWILIO_BASE_URL": sim_url,
        "FLEXREC_DATA_DIR": str(data_dir),
        "FLEXREC_PUBLIC_URL": PUBLIC_URL,
        "FLEXREC_CONSOLE_SECRET": "bench-console-secret-" + "x" * 24,
        "FLEXREC_START_ON": "task",
        "FLEXREC_LOG_FORMAT": "json",
    }
    for name in [k for k in os.environ if k.startswith(("TWILIO_", "FLEXREC_"))]:
        del os.environ[name]
    os.environ.update(env)
    from flexrec.cli.serve import _logging, build_service
    from flexrec.config import Settings

    settings = Settings.from_env()
    sys.stderr = log_file.open("a")  # the service logs at INFO, as serve does (not to the table)
    try:
        _logging(settings)
    finally:
        logs, sys.stderr = sys.stderr, sys.__stderr__
    for handler in __import__("logging").getLogger().handlers:
        if getattr(handler, "_flexrec", False):
            handler.setStream(logs)
    follow = FollowUps()
    follow.install()
    _count_twilio_requests()
    app, services = build_service(settings, consumer_workers=0)
    return Service(app, services, follow)


async def _lifespan(service: Service) -> Callable[[], Any]:
    """Start the app's lifespan; the coroutine that shuts it down."""
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": service.state}
    task = asyncio.create_task(service.app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await outbox.get()
    if started["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"the app did not start: {started}")

    async def stop() -> None:
        await inbox.put({"type": "lifespan.shutdown"})
        await outbox.get()
        await task

    return stop


# -- the kinds --------------------------------------------------------------------------------
@dataclass
class Posted:
    """One webhook ready to post, and what its layers take."""

    path: str
    form: dict[str, str]
    body: bytes
    signature: bytes


def _stamped(form: dict[str, str], serial: int) -> dict[str, str]:
    out = dict(form)
    now = time.time()
    out["Sid"] = f"EV{os.getpid():08x}{serial:024x}"
    out["Timestamp"] = str(int(now))
    out["TimestampMs"] = str(int(now * 1000))
    return out


class Run:
    """One measured run: the service, the simulator, the marks."""

    def __init__(self, service: Service, sim: Simulator, marks: Marks, count: int) -> None:
        self.service = service
        self.sim = sim
        self.marks = marks
        self.count = count
        self.serial = 0
        self.linked: list[dict[str, str]] = []  # task.created forms of tasks handled and linked
        from flexrec.webhooks import paths

        self.paths = paths

    def _posted(self, path: str, form: dict[str, str]) -> Posted:
        body, signature = self.service.signed(path, form)
        return Posted(path, form, body, signature)

    def taskrouter(self, form: dict[str, str]) -> Posted:
        self.serial += 1
        return self._posted(self.paths.TASKROUTER, _stamped(form, self.serial))

    async def post_all(self, posts: list[Posted], to: Service | None = None) -> None:
        for post in posts:
            status = await (to or self.service).post(post.path, post.body, post.signature)
            if status >= 300:
                raise RuntimeError(f"{post.path} answered {status}")
            self.service.follow.wait()

    async def handled_tasks(self, n: int) -> list[dict[str, str]]:
        """n new calls handled (recorded and linked) outside any phase, and TaskRouter's echo of
        each link write (as the simulator would send it): the service compares the echoes'
        TaskVersion with the ETags it was answered before it sends an event's version as
        If-Match (flexrec.recording.task_versions), as it would on a real day's first calls."""
        created = self.sim.ask("tasks", n)
        await self.post_all([self.taskrouter(f) for f in created])
        echoes = self.sim.ask("updates", [f["TaskSid"] for f in created])
        await self.post_all([self.taskrouter(f) for f in echoes])
        return list(created)

    async def whole(self, name: str, posts: list[Posted], to: Service | None = None) -> None:
        await self.post_all(posts[:WARM], to)
        with self.marks.phase(name):
            await self.post_all(posts[WARM:], to)

    def layer(self, name: str, work: Callable[[Any], object], inputs: list[Any]) -> None:
        for item in inputs[:WARM]:
            work(item)
        with self.marks.phase(name):
            for item in inputs[WARM:]:
                work(item)
        self.service.follow.wait()

    def edge_layers(self, kind: str, posts: list[Posted], parser: Callable[[Any], Any]) -> None:
        from flexrec.webhooks.forms import parse_form

        verifier = self.service.services.verifier
        url = PUBLIC_URL + posts[0].path
        forms = [parse_form(p.body) for p in posts]
        self.layer(f"{kind}/form", lambda p: parse_form(p.body), posts)
        self.layer(
            f"{kind}/signature",
            lambda pair: verifier.verify(url, pair[0], pair[1].signature.decode()),
            list(zip(forms, posts, strict=True)),
        )
        self.layer(f"{kind}/event", parser, forms)

    async def hop(self) -> None:
        from flexrec.web.thread_pools import run_webhook

        def nothing() -> None:
            return None

        for _ in range(WARM):
            await run_webhook(nothing)
        with self.marks.phase("hop"):
            for _ in range(self.count):
                await run_webhook(nothing)

    # -- each kind, whole and by layer ----------------------------------------------------------
    async def bare_fastapi(self) -> None:
        """webhook_throughput.py's baseline in process: a FastAPI route that reads the form."""
        bare = FastAPI()

        @bare.post(self.paths.TASKROUTER)
        async def taskrouter(request: Request) -> Response:
            await request.form()
            return Response(status_code=204)

        posts = self._repeats()
        await self.whole("bare_fastapi", posts, Service(bare, None, self.service.follow))

    async def ignored(self) -> None:
        from flexrec.webhooks import events

        template = self.linked[0]
        posts = []
        for _ in range(self.count + WARM):
            form = dict(template)
            form["EventType"] = IGNORED_EVENT
            posts.append(self.taskrouter(form))
        await self.whole("ignored", posts)
        self.edge_layers("ignored", posts, events.taskrouter_event_type)

    def _repeats(self) -> list[Posted]:
        updates = self.sim.ask("updates", [f["TaskSid"] for f in self.linked])
        posts = []
        for n in range(self.count + WARM):
            template = updates[n % len(updates)]
            form = dict(template)
            form["TaskVersion"] = str(int(template["TaskVersion"]) + self.serial + 1)
            posts.append(self.taskrouter(form))
        return posts

    async def repeat(self) -> None:
        from flexrec.webhooks import events

        # Each task's first repeat after its link checks the link once: not the usual repeat.
        await self.post_all(self._repeats()[: len(self.linked)])
        await self.whole("repeat", self._repeats())
        posts = self._repeats()
        self.edge_layers("repeat", posts, events.parse_taskrouter_form)
        handle = self.service.services.recording.task_events.handle
        parsed = [events.parse_taskrouter_form(p.form) for p in posts]
        self.layer("repeat/handler", handle, parsed)

    async def new_call(self) -> None:
        from flexrec.webhooks import events
        from flexrec.webhooks.forms import parse_form

        n = self.count + WARM
        posts = [self.taskrouter(f) for f in self.sim.ask("tasks", n)]
        await self.whole("new_call", posts)
        self.edge_layers("new_call", posts, events.parse_taskrouter_form)
        handle = self.service.services.recording.task_events.handle
        direct = [self.taskrouter(f) for f in self.sim.ask("tasks", n)]
        self.layer(
            "new_call/handler",
            lambda p: (handle(events.parse_taskrouter_form(parse_form(p.body))),
                       self.service.follow.wait()),
            direct,
        )  # fmt: skip
        self.twilio_layers([json.loads(f.form["TaskAttributes"])["call_sid"] for f in direct],
                           [p.form["TaskSid"] for p in posts])  # fmt: skip

    def twilio_layers(self, recorded_calls: list[str], linked_tasks: list[str]) -> None:
        """The new call's Twilio requests alone: through the gateway, then the transport."""
        from flexrec.twilio.gateway import CreateRecordingRequest

        gateway = self.service.services.gateway
        client = self.service.services.client
        transport = client.http_client
        fresh = [json.loads(f["TaskAttributes"])["call_sid"]
                 for f in self.sim.ask("tasks", 2 * (self.count + WARM) + 1)]  # fmt: skip
        captured: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
        request = transport.request

        def capture(*args: Any, **kwargs: Any) -> Any:
            captured.append((args, kwargs))
            return request(*args, **kwargs)

        half = self.count + WARM
        creates = [
            CreateRecordingRequest(sid, PUBLIC_URL + self.paths.RECORDING_STATUS)
            for sid in fresh[:half]
        ]
        transport.request = capture
        try:
            gateway.create_recording(CreateRecordingRequest(fresh[-1], creates[0].status_callback))
        finally:
            transport.request = request
        (method, url), kwargs = captured[0][0][:2], captured[0][1]
        self.layer("sdk_create_recording", gateway.create_recording, creates)
        self.layer(
            "transport_create_recording",
            lambda sid: transport.request(method, url.replace(fresh[-1], sid), **kwargs),
            fresh[half:-1],
        )
        snapshots: list[Any] = []
        self.layer("sdk_fetch_task", lambda sid: snapshots.append(gateway.fetch_task(sid)),
                   linked_tasks)  # fmt: skip
        captured.clear()
        transport.request = capture
        try:
            gateway.fetch_task(linked_tasks[0])
            snapshot = gateway.fetch_task(linked_tasks[0])
            gateway.update_task_attributes(linked_tasks[0], snapshot.attributes or {}, None)
        finally:
            transport.request = request
        fetch, update = captured[0], captured[2]
        self.layer(
            "transport_fetch_task",
            lambda sid: transport.request(fetch[0][0], fetch[0][1].replace(linked_tasks[0], sid),
                                          **fetch[1]),
            linked_tasks,
        )  # fmt: skip
        by_sid = {s.sid: s for s in snapshots}
        self.layer(
            "sdk_update_task_attributes",
            lambda sid: gateway.update_task_attributes(sid, by_sid[sid].attributes or {}, None),
            [s for s in linked_tasks if s in by_sid],
        )
        self.layer(
            "transport_update_task_attributes",
            lambda sid: transport.request(
                update[0][0], update[0][1].replace(linked_tasks[0], sid), **update[1]
            ),
            linked_tasks,
        )

    async def recording_progress(self) -> None:
        from flexrec.webhooks import events

        calls = [json.loads(f["TaskAttributes"])["call_sid"] for f in self.linked]
        forms = self.sim.ask("recording_forms", calls)
        posts = [self._posted(self.paths.RECORDING_STATUS, f) for f in forms]
        posts = (posts * (1 + (self.count + WARM) // len(posts)))[: self.count + WARM]
        await self.whole("recording_progress", posts)
        self.edge_layers("recording_progress", posts, events.parse_recording_status_form)

    async def call_progress(self) -> None:
        from flexrec.webhooks import events

        calls = [json.loads(f["TaskAttributes"])["call_sid"] for f in self.linked]
        forms = self.sim.ask("call_forms", calls)
        posts = [self._posted(self.paths.CALL_STATUS, f) for f in forms]
        posts = (posts * (1 + (self.count + WARM) // len(posts)))[: self.count + WARM]
        await self.whole("call_progress", posts)
        self.edge_layers("call_progress", posts, events.parse_call_status_form)


async def measure(
    kinds: list[str], count: int, callgrind: bool, workdir: Path
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Run the kinds; each phase's CPU seconds (and, under callgrind, its dump)."""
    sim = Simulator()
    try:
        service = build(sim.base_url, workdir / "data", workdir / "service.log")
        stop = await _lifespan(service)
        try:
            from flexrec.twilio.client import warm_sdk

            warm_sdk()
            # The service's chores (lease heartbeats, gauges, pruning) tick on wall-clock time,
            # which under callgrind runs ~50x slower per instruction: stopped, so a phase
            # counts only what its webhooks do.
            ctx = service.services.recording.ctx
            ctx.background._stop.set()
            # Its lease stays fresh without them: its clock stands still (no other process
            # here could take its claims over).
            if ctx.lease is not None:
                ctx.lease._monotonic = lambda: 0.0
            run = Run(service, sim, Marks(False), count)
            run.linked = await run.handled_tasks(max(20, count // 2))
            await run.hop()  # the webhook threads made
            run.marks = Marks(callgrind)
            await run.hop()
            for kind in kinds:
                await getattr(run, kind)()
        finally:
            await stop()
            service.services.close()
    finally:
        sim.stop()
    return run.marks.cpu_s, run.marks.counts


# -- under callgrind, and the table -------------------------------------------------------------
_DUMP = re.compile(r"callgrind\.out\.\d+\.(\d+)")


def read_dumps(folder: Path) -> dict[str, int]:
    """Instructions by phase name, from callgrind's dump files."""
    out: dict[str, int] = {}
    for path in sorted(folder.glob("callgrind.out.*"), key=lambda p: p.name):
        name = total = None
        with path.open() as dump:
            for line in dump:
                if line.startswith("desc: Trigger: Client Request: "):
                    name = line.removeprefix("desc: Trigger: Client Request: ").strip()
                # `totals:` (the sum of the cost lines); `summary:` can carry costs a thread
                # held from before the zeroing.
                elif line.startswith("totals:"):
                    total = int(line.split()[1])
                    break
        if name and total is not None:
            out[name] = total
    return out


def under_callgrind(args: argparse.Namespace, workdir: Path) -> dict[str, int]:
    """Run this bench's phases in a child under callgrind; instructions by phase."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        raise SystemExit("valgrind is not installed")
    dumps = workdir / "callgrind"
    dumps.mkdir()
    argv = [valgrind, "--tool=callgrind", "--instr-atstart=no", "--dump-instr=no",
            "--compress-strings=no", f"--callgrind-out-file={dumps}/callgrind.out.%p",
            sys.executable, __file__, "--child", "--kinds", ",".join(args.kinds),
            "--webhooks", str(args.webhooks), "--workdir", str(workdir)]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    log = workdir / "valgrind.log"
    with log.open("wb") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)  # noqa: S603
    if done.returncode:
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise SystemExit(f"the run under callgrind failed ({done.returncode})")
    return read_dumps(dumps)


def table(figures: dict[str, float], counts: dict[str, dict[str, float]], unit: str,
          kinds: list[str], count: int) -> list[str]:  # fmt: skip
    """Each kind and its layers, what is left of it, and the mix's average."""
    scale, label = (1e-3, "k instructions") if unit == "instructions" else (1e6, "us of CPU")

    def show(value: float) -> str:
        return f"{value * scale:9.1f}"

    def said(name: str) -> str:
        found = counts.get(name, {})
        return "  ".join(f"{k} {v / count:g}" for k, v in sorted(found.items()))

    lines = [f"per webhook, {label}; each layer alone on the same inputs"]
    for kind in kinds:
        whole = figures.get(kind)
        if whole is None:
            continue
        lines.append(f"{kind:<36}{show(whole)}   {said(kind)}")
        parts = {k.split("/", 1)[1]: v for k, v in figures.items() if k.startswith(kind + "/")}
        for name, value in parts.items():
            lines.append(f"  {name:<34}{show(value)}")
        if parts:
            rest = whole - sum(parts.values())
            lines.append(f"  {'the rest (rules, read, hop, answer)':<34}{show(rest)}")
    twilio = [k for k in figures if k.startswith(("sdk_", "transport_"))]
    if twilio:
        lines.append("a new call's Twilio requests, each alone (sdk_: gateway, SDK, transport)")
        for name in twilio:
            lines.append(f"  {name:<34}{show(figures[name])}")
    lines.append(f"{'a hop to a webhook thread and back':<36}{show(figures.get('hop', 0.0))}")
    if all(k in figures for k in MIX):
        mix = sum(figures[k] * w for k, w in MIX.items())
        lines.append(f"{'the mix (9 repeats, 1 new call)':<36}{show(mix)}")
        bare = figures.get("bare_fastapi")
        if bare:
            lines.append(f"{'bare FastAPI over the mix':<36}{bare / mix:9.1%}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated; default all")
    parser.add_argument("--webhooks", type=int, default=40, help="measured per kind (40)")
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    parser.add_argument("--json", action="store_true", help="one JSON line on stdout")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.kinds = [k for k in args.kinds.split(",") if k]
    unknown = set(args.kinds) - set(KINDS)
    if unknown:
        parser.error(f"unknown kinds: {', '.join(sorted(unknown))}")
    if args.child:
        _cpu, counts = asyncio.run(measure(args.kinds, args.webhooks, True, args.workdir))
        (args.workdir / "counts.json").write_text(json.dumps(counts))
        return
    load_before = load_average()
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-costs-"))
    began = time.monotonic()
    try:
        if args.callgrind:
            totals: dict[str, float] = dict(under_callgrind(args, workdir))
            counts = json.loads((workdir / "counts.json").read_text())
            unit = "instructions"
        else:
            totals, counts = asyncio.run(measure(args.kinds, args.webhooks, False, workdir))
            unit = "cpu_seconds"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures = {name: value / args.webhooks for name, value in totals.items()}
    load = [load_before, load_average()]
    if args.json:
        key = "instructions_per_webhook" if unit == "instructions" else "cpu_us_per_webhook"
        scale = 1.0 if unit == "instructions" else 1e6
        mixed = all(k in figures for k in MIX)
        mix = sum(figures[k] * w for k, w in MIX.items()) if mixed else None
        print(json.dumps({
            "bench": "webhook_costs", "unit": unit, "webhooks_per_kind": args.webhooks,
            key: {k: round(v * scale, 1) for k, v in figures.items()},
            "mix": None if mix is None else round(mix * scale, 1),
            "counts_per_webhook": {
                name: {k: round(v / args.webhooks, 3) for k, v in found.items()}
                for name, found in counts.items() if name in KINDS
            },
            "load_average_before_after": load, "seconds": round(time.monotonic() - began),
        }, sort_keys=True))  # fmt: skip
        return
    print("\n".join(table(figures, counts, unit, args.kinds, args.webhooks)))
    print(f"load average before/after: {load[0]} / {load[1]}; {time.monotonic() - began:.0f} s")


if __name__ == "__main__":
    main()
