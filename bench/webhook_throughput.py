"""Webhook throughput per core and webhook-to-Recording-API latency of the real flexrec service.

The product target is "p99 under 20 ms at 1,000 webhooks/s". Three processes, all on 127.0.0.1:

- the service, exactly as `flexrec serve` runs it (`flexrec.cli.serve.run_service`: SQLite database
  and queue in a temporary folder, queue consumers in-process, INFO logs to a file), pinned to
  CPU 0 so "per core" is honest; then, in the same run, a bare FastAPI app whose one route reads
  the form and answers 204 (the framework baseline), pinned the same way;
- the Twilio simulator (`flexsim`, no traffic of its own), which serves the REST calls the
  service makes and time-stamps every recording it is asked to create (`Recording.created_wall`);
- this process, the load generator (asyncio + aiohttp), pinned with the simulator to the other
  CPU when there is one.

The load is TaskRouter workspace events, signed like Twilio signs them: one in ten is a
`task.created` of a new inbound voice task whose customer leg is in progress (policy
`start_on=task`, so the service starts the recording inside the webhook: the fast path), the
rest are `task.updated` events of tasks already handled. Each rate is offered open-loop (sends
on a fixed schedule, latency counted from the scheduled moment, so a stalled server cannot hide
its queue), then a closed-loop run at saturation. Figures only, never assertions.

    .venv/bin/python bench/webhook_throughput.py           # about 2 minutes
    .venv/bin/python bench/webhook_throughput.py --quick   # a 20-second smoke run
    .venv/bin/python bench/webhook_throughput.py --rates '' --profile /tmp/stacks.txt
        # saturation only, the service sampled by py-spy (collapsed stacks, GIL holder only)

After the saturation run each server is offered half of what it managed, open-loop: the
latency it gives at a load it can sustain. Last, the service's CPU per webhook of each kind
alone (a repeat of a task already recorded; a new call with everything it sets off),
measured on the service the other phases warmed, the figures that say what one core can carry
for a given mix.

The machine may be shared: the srvCPU column says how much of its core the server actually got,
and /core (answers per server CPU-second) is the figure least disturbed by neighbours.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import multiprocessing
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from figures import cpu_ns, cpu_seconds, load_average, percentile

from flexsim import defaults, free_port, twilio_signature

WEBHOOK_PATH = "/webhooks/taskrouter"
FAST_EVERY = 10  # one event in ten reveals a new leg (task.created), like ~10 events per call
# A well-formed TaskRouter type flexrec does not act on: signature checked, type read, 204.
IGNORED_EVENT = "worker.activity.update"
POOL_TASKS = 100  # tasks handled before the phases (50 with --quick); task.updated cycles them
SATURATION_CONCURRENCY = 32  # in-flight webhooks at saturation (--concurrency)
CONNECTION_LIMIT = 512
BACKLOG_S = 1.0  # an open-loop offer stops once this much of it is waiting for answers,
BACKLOG_MAX = 300  # or this many webhooks, whichever is fewer (bounds the drain that follows)
DRAIN_S = 90.0  # the most a phase's recordings are waited for once its load stops
EVENT_SERIAL = itertools.count(1)  # event Sids are unique across phases: the service dedups them

BASELINE_APP = """
from fastapi import FastAPI, Request, Response

app = FastAPI()


@app.post("/webhooks/taskrouter")
async def taskrouter(request: Request) -> Response:
    await request.form()
    return Response(status_code=204)


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}
"""
# argv: PORT PROCESSES APP_DIR (where BASELINE_APP was written as baseline_app.py)
BASELINE_CODE = """
import sys
import uvicorn

uvicorn.run("baseline_app:app", app_dir=sys.argv[3], host="127.0.0.1", port=int(sys.argv[1]),
            workers=int(sys.argv[2]), log_level="warning", access_log=False)
"""

SERVICE_CODE = (
    "import sys; from flexrec.cli.serve import run_service; "
    "run_service(consumer_workers=4, processes=int(sys.argv[2]))"
)


# -- CPU placement ------------------------------------------------------------------------------
def _cpus(processes: int = 1) -> tuple[set[int], set[int]]:
    """(the server's CPUs, the CPUs left for the simulator and the load generator).

    One CPU per server process while one is left over; else everything is shared.
    """
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    if processes < len(allowed):
        return set(allowed[:processes]), set(allowed[processes:])
    return set(allowed), set(allowed)


def _cpu_list(cpus: set[int]) -> str:
    return ",".join(map(str, sorted(cpus)))


def _pin(cpus: set[int]) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and every process under it."""
    return cpu_seconds(pid, tree=True)


# -- the simulator, in its own process ----------------------------------------------------------
def _sim_main(conn: Connection, cpus: set[int]) -> None:
    """Run the simulator and answer the load generator's requests over a pipe."""
    _pin(cpus)
    import logging

    from flexsim import SimConfig, SimRunner, callbacks

    logging.disable(logging.WARNING)  # a client hanging up at shutdown is not news
    sim = SimRunner(SimConfig(port=0, start_traffic=False, agents=2)).start()
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
                attributes = {
                    "call_sid": call.sid,
                    "direction": "inbound",
                    "from": customer,
                    "to": "+15550000000",
                    "caller": customer,
                    "called": "+15550000000",
                    "type": "inbound",
                    "name": customer,
                }
                task = world.create_task(attributes, queue, workflow)
                with world.lock:
                    form = callbacks.taskrouter_form(
                        world, "task.created", task.date_created, {"task": task}, "EV"
                    )
                forms.append(form)
            conn.send(forms)
        elif command == "updates":  # a task.updated form per task, as the task is now
            with world.lock:
                forms = [
                    callbacks.taskrouter_form(
                        world, "task.updated", world.clock.now(), {"task": world.tasks[s]}, "EV"
                    )
                    for s in arg
                ]
            conn.send(forms)
        elif command == "recordings":  # call SID -> (recordings made, first create's wall time)
            seen: dict[str, tuple[int, float]] = {}
            with world.lock:
                for recording in world.recordings.values():
                    if recording.call_sid in arg:
                        count, first = seen.get(recording.call_sid, (0, float("inf")))
                        seen[recording.call_sid] = (count + 1, min(first, recording.created_wall))
            conn.send(seen)
        elif command == "callbacks":  # status callbacks delivered to the service so far
            conn.send(sim.dispatcher.stats.sent)
        elif command == "stop":
            sim.stop()
            conn.send(None)
            return


class Simulator:
    """The simulator process, seen from the load generator."""

    def __init__(self, cpus: set[int]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self.process = context.Process(target=_sim_main, args=(child, cpus), daemon=True)
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


# -- the server under test, in its own process --------------------------------------------------
def _wait_healthy(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - loopback
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s:.0f} s")


@dataclass
class Server:
    """A server process on loopback: the flexrec service or the bare-framework baseline."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str

    @property
    def webhook_url(self) -> str:
        """The exact URL Twilio would post TaskRouter events to (and signs)."""
        return self.base_url + WEBHOOK_PATH

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


def start_server(
    name: str, code: str, cpus: set[int], env: dict[str, str], log: Path, processes: int = 1
) -> Server:
    """Start `python -c code PORT PROCESSES LOG_DIR` pinned to `cpus`; wait for its /healthz."""
    port = free_port()
    env = {**env, "FLEXREC_PORT": str(port), "FLEXREC_HOST": "127.0.0.1"}
    argv = [sys.executable, "-c", code, str(port), str(processes), str(log.parent)]
    taskset = shutil.which("taskset")
    if taskset:  # pinned from the first instruction: every thread and child inherits the CPUs
        argv = [taskset, "-c", _cpu_list(cpus), *argv]
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603
    if not taskset and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(process.pid, cpus)
    server = Server(name, process, f"http://127.0.0.1:{port}")
    _wait_healthy(server.base_url + "/healthz", process)
    return server


def service_env(sim_url: str, data_dir: Path) -> dict[str, str]:
    """The environment `flexrec serve` reads, pointed at the simulator and a temporary folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "FLEXREC_"))}
    env.update(
        {
            "TWILIO_ACCOUNT_SID": defaults.ACCOUNT_SID,
            "TWILIO_AUTH_TOKEN": defaults.AUTH_TOKEN,
            "TWILIO_WORKSPACE_SID": defaults.WORKSPACE_SID,
            "FLEXREC_TWILIO_BASE_URL": sim_url,
            "FLEXREC_DATA_DIR": str(data_dir),
            "FLEXREC_CONSOLE_SECRET": secrets.token_urlsafe(32),
            "FLEXREC_START_ON": "task",
            "FLEXREC_LOG_FORMAT": "json",
        }
    )
    return env


# -- the load -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Webhook:
    """One signed TaskRouter event, ready to send."""

    body: bytes
    headers: dict[str, str]
    call_sid: str | None  # set on task.created events that should start a recording


@dataclass
class Outcome:
    """What happened to one request (times: monotonic seconds of this process)."""

    webhook: Webhook
    due: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0


def sign(url: str, form: dict[str, str], call_sid: str | None) -> Webhook:
    """Encode and sign a form post exactly as Twilio does."""
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": twilio_signature(defaults.AUTH_TOKEN, url, form),
    }
    return Webhook(urlencode(form).encode(), headers, call_sid)


class EventSource:
    """Makes the webhook mix: a fresh fast-path task.created every FAST_EVERY, else task.updated."""

    def __init__(self, sim: Simulator, updates: list[dict[str, str]], real_tasks: bool) -> None:
        self.sim = sim
        self.updates = updates
        self.real_tasks = real_tasks  # False (baseline): reuse one task.created, no new legs
        self.serial = 0
        self._spare_created: dict[str, str] | None = None

    def _event_fields(self, form: dict[str, str]) -> dict[str, str]:
        self.serial = next(EVENT_SERIAL)
        now = time.time()
        fields = dict(form)
        fields["Sid"] = f"EV{os.getpid():08x}{self.serial:024x}"
        fields["Timestamp"] = str(int(now))
        fields["TimestampMs"] = str(int(now * 1000))
        return fields

    def batch(
        self, url: str, count: int, fast_every: int = FAST_EVERY, ignored: bool = False
    ) -> list[Webhook]:
        """`count` signed webhooks for one phase, every `fast_every`-th a new call; `ignored`:
        all of a type flexrec does not use (the edge alone: HTTP, signature, parse, answer)."""
        if ignored:
            return [self._ignored(url) for _ in range(count)]
        fast = count // fast_every
        if self.real_tasks:
            created = self.sim.ask("tasks", fast)
        else:
            if self._spare_created is None:
                self._spare_created = self.sim.ask("tasks", 1)[0]
            created = [self._spare_created] * fast
        out: list[Webhook] = []
        for n in range(count):
            if n % fast_every == fast_every - 1 and created:
                form = self._event_fields(created.pop())
                call_sid = json.loads(form["TaskAttributes"])["call_sid"]
                out.append(sign(url, form, call_sid if self.real_tasks else None))
            else:
                template = self.updates[self.serial % len(self.updates)]
                form = self._event_fields(template)
                form["TaskVersion"] = str(int(template["TaskVersion"]) + self.serial)
                out.append(sign(url, form, None))
        return out

    def _ignored(self, url: str) -> Webhook:
        form = self._event_fields(self.updates[self.serial % len(self.updates)])
        form["EventType"] = IGNORED_EVENT
        return sign(url, form, None)


async def _send(session: aiohttp.ClientSession, url: str, outcome: Outcome) -> None:
    loop = asyncio.get_running_loop()
    outcome.sent = loop.time()
    try:
        async with session.post(
            url, data=outcome.webhook.body, headers=outcome.webhook.headers
        ) as r:
            await r.read()
            outcome.status = r.status
    except (aiohttp.ClientError, TimeoutError):
        outcome.status = -1
    outcome.done = loop.time()


async def open_loop(
    url: str, webhooks: Sequence[Webhook], rate: float
) -> tuple[list[Outcome], float | None]:
    """Send on a fixed schedule (`rate` per second) whatever the server does.

    Once more than BACKLOG_S seconds (at most BACKLOG_MAX) of webhooks are waiting for answers
    the server is plainly overloaded: the offer stops there (returned: seconds after the start)
    instead of piling up minutes of queue, and only the webhooks actually sent are returned.
    """
    timeout = aiohttp.ClientTimeout(total=30)
    backlog_cap = max(50, min(BACKLOG_MAX, int(rate * BACKLOG_S)))
    in_flight = 0

    async def send(session: aiohttp.ClientSession, outcome: Outcome) -> None:
        nonlocal in_flight
        in_flight += 1
        try:
            await _send(session, url, outcome)
        finally:
            in_flight -= 1

    connector = aiohttp.TCPConnector(limit=CONNECTION_LIMIT)
    stopped_after: float | None = None
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        outcomes = [Outcome(w, start + n / rate) for n, w in enumerate(webhooks)]
        tasks = []
        for n, outcome in enumerate(outcomes):
            delay = outcome.due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if in_flight > backlog_cap:
                stopped_after = loop.time() - start
                outcomes = outcomes[:n]
                break
            tasks.append(asyncio.create_task(send(session, outcome)))
        await asyncio.gather(*tasks)
    return outcomes, stopped_after


async def closed_loop(
    url: str, webhooks: Sequence[Webhook], duration_s: float, concurrency: int
) -> list[Outcome]:
    """`concurrency` senders back to back until `duration_s` passes (or webhooks run out)."""
    timeout = aiohttp.ClientTimeout(total=15)
    connector = aiohttp.TCPConnector(limit=concurrency)
    outcomes: list[Outcome] = []
    feed = iter(webhooks)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + duration_s

        async def sender() -> None:
            for webhook in feed:
                if loop.time() >= stop_at:
                    return
                outcome = Outcome(webhook, loop.time())
                outcomes.append(outcome)
                await _send(session, url, outcome)

        await asyncio.gather(*(sender() for _ in range(concurrency)))
    return outcomes


# -- figures ------------------------------------------------------------------------------------
def ms(value: float | None) -> str:
    """Milliseconds for the table."""
    return "-" if value is None else f"{value * 1000:.1f}"


@dataclass
class PhaseResult:
    """The figures of one phase against one server."""

    server: str
    load: str
    sent: int
    errors: int
    achieved_per_s: float
    server_cpu: float  # cores the server used (its processes together; 1.0 = one whole core)
    sim_cpu: float
    client_cpu: float
    callbacks_per_s: float  # recording status callbacks the simulator posted to the server
    stopped_after_s: float | None  # open loop: the offer was stopped (overload) after this
    latency: list[float] = field(default_factory=list)  # seconds, per 2xx response
    lag: list[float] = field(default_factory=list)  # how late the client sent (open loop)
    api_latency: list[float] = field(default_factory=list)  # seconds, webhook -> create
    fast_sent: int = 0
    recorded: int = 0
    drain_s: float = 0.0  # after the phase, until every recording it set off was made
    duplicates: int = 0

    @property
    def per_core(self) -> float:
        """Webhooks answered per second of server CPU."""
        return self.achieved_per_s / self.server_cpu if self.server_cpu > 0 else 0.0


def run_phase(
    server: Server,
    sim: Simulator,
    source: EventSource,
    load: str,
    rate: float | None,
    duration_s: float,
    saturation_cap: int,
    profile: Path | None = None,
    concurrency: int = SATURATION_CONCURRENCY,
    ignored: bool = False,
) -> PhaseResult:
    """Offer one load to one server and measure it (sampled by py-spy into `profile` if set)."""
    count = int(rate * duration_s) if rate else saturation_cap
    webhooks = source.batch(server.webhook_url, count, ignored=ignored)
    spy = _start_py_spy(server.process.pid, duration_s, profile) if profile else None
    pids = (server.process.pid, sim.process.pid or 0)
    cpu0 = [_cpu_seconds(pid) for pid in pids]
    client0 = time.process_time()
    callbacks0 = sim.ask("callbacks")
    wall0, loop_wall = time.monotonic(), time.time()
    stopped_after: float | None = None
    if rate:
        outcomes, stopped_after = asyncio.run(open_loop(server.webhook_url, webhooks, rate))
    else:
        outcomes = asyncio.run(closed_loop(server.webhook_url, webhooks, duration_s, concurrency))
    elapsed = time.monotonic() - wall0
    if spy is not None:
        spy.wait(30)
    cpu = [(_cpu_seconds(pid) - before) / elapsed for pid, before in zip(pids, cpu0, strict=True)]
    client = (time.process_time() - client0) / elapsed
    callbacks = sim.ask("callbacks") - callbacks0
    ok = [o for o in outcomes if 200 <= o.status < 300]
    first = min(o.due for o in outcomes)
    last = max(o.done for o in outcomes)
    result = PhaseResult(
        server=server.name,
        load=load,
        sent=len(outcomes),
        errors=len(outcomes) - len(ok),
        achieved_per_s=len(ok) / (last - first) if last > first else 0.0,
        server_cpu=cpu[0],
        sim_cpu=cpu[1],
        client_cpu=client,
        latency=[o.done - o.due for o in ok],
        lag=[o.sent - o.due for o in outcomes] if rate else [],
        callbacks_per_s=callbacks / elapsed,
        stopped_after_s=stopped_after,
    )
    fast = [o for o in outcomes if o.webhook.call_sid]
    if fast:
        # The monotonic and wall clocks of this process, lined up once (drift over a phase is
        # microseconds): the simulator stamps creates with time.time().
        offset = loop_wall - wall0
        # Every recording the phase set off is waited for (DRAIN_S at most), so the next phase
        # starts on a service with no Twilio calls queued from this one: a webhook is answered
        # before its Twilio calls, and at saturation they queue behind the service's threads.
        drain0 = time.monotonic()
        calls = {o.webhook.call_sid for o in fast if o.webhook.call_sid}
        made = _recordings(sim, calls, DRAIN_S)
        result.drain_s = time.monotonic() - drain0
        result.fast_sent = len(fast)
        for outcome in fast:
            count_first = made.get(outcome.webhook.call_sid or "")
            if count_first is None:
                continue
            count_made, created_wall = count_first
            result.recorded += 1
            result.duplicates += count_made - 1
            result.api_latency.append(created_wall - (outcome.due + offset))
    return result


def cpu_per_kind(server: Server, source: EventSource, count: int = 300) -> dict[str, float]:
    """Server CPU milliseconds per webhook of each kind, each kind alone, a few at a time.

    A new call's figure includes everything it sets off in the server: its recording status
    callback and the attribute write that runs after the answer (the pause lets it finish).
    """
    figures: dict[str, float] = {}
    pid = server.process.pid
    for kind, every in (("edge only", 0), ("repeat", count + 1), ("new call", 1)):
        webhooks = source.batch(server.webhook_url, count, fast_every=every or 1, ignored=not every)
        time.sleep(2.0)  # what earlier phases left running (attribute writes) finishes first
        quiet0, wall0 = _cpu_seconds(pid), time.monotonic()
        time.sleep(1.0)
        idle_per_s = (_cpu_seconds(pid) - quiet0) / (time.monotonic() - wall0)
        before, started = _cpu_seconds(pid), time.monotonic()
        outcomes = asyncio.run(closed_loop(server.webhook_url, webhooks, 120.0, 4))
        time.sleep(1.0)  # this kind's follow-up work finishes
        spent = _cpu_seconds(pid) - before - idle_per_s * (time.monotonic() - started)
        figures[kind] = 1000 * max(0.0, spent) / max(1, len(outcomes))
    return figures


@dataclass
class Round:
    """One interleaved round: CPU per webhook of each server on the same mix (microseconds)."""

    bare_us: float
    flexrec_us: float
    bare_sent: int
    flexrec_sent: int

    @property
    def ratio(self) -> float:
        """flexrec's webhooks per CPU-second over the bare app's (bare CPU / flexrec CPU)."""
        return self.bare_us / self.flexrec_us if self.flexrec_us > 0 else 0.0


def _idle_ns_per_s(pid: int, seconds: float = 0.5) -> float:
    """What the server spends with no load (tickers, heartbeats), per second."""
    ns0, wall0 = cpu_ns(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_ns(pid) - ns0) / (time.monotonic() - wall0)


def _until_quiet(pid: int, idle_ns_per_s: float, limit_s: float = 10.0) -> None:
    """Wait until the server's CPU falls back to its idle rate: the follow-up work a round set
    off (starts, link writes, status callbacks) is done and counted with the round."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        ns0, wall0 = cpu_ns(pid), time.monotonic()
        time.sleep(0.2)
        rate = (cpu_ns(pid) - ns0) / (time.monotonic() - wall0)
        if rate <= 2 * idle_ns_per_s + 2e6:  # within 0.2% of a core of idle
            return


def cpu_per_webhook_us(
    server: Server,
    sim: Simulator,
    webhooks: Sequence[Webhook],
    concurrency: int,
    rate: float | None = None,
) -> tuple[float, int]:
    """The server's CPU per answered webhook (us), everything the webhooks set off included,
    its idle rate taken off; and how many were answered. `rate`: offered open-loop at this
    many a second (each webhook arrives alone) instead of closed-loop at `concurrency`."""
    pid = server.process.pid
    idle = _idle_ns_per_s(pid)
    ns0, wall0 = cpu_ns(pid), time.monotonic()
    if rate:
        outcomes, _ = asyncio.run(open_loop(server.webhook_url, webhooks, rate))
    else:
        outcomes = asyncio.run(closed_loop(server.webhook_url, webhooks, 600.0, concurrency))
    calls = {o.webhook.call_sid for o in outcomes if o.webhook.call_sid}
    if calls:
        _recordings(sim, calls, DRAIN_S)
    _until_quiet(pid, idle)
    spent_ns = cpu_ns(pid) - ns0 - idle * (time.monotonic() - wall0)
    answered = sum(1 for o in outcomes if 200 <= o.status < 300)
    return max(0.0, spent_ns) / 1000 / max(1, answered), answered


def interleaved_rounds(
    service: Server,
    baseline: Server,
    sim: Simulator,
    sources: tuple[EventSource, EventSource],
    rounds: int,
    per_round: int,
    concurrency: int,
    rate: float | None = None,
) -> list[Round]:
    """`rounds` short rounds, bare FastAPI then flexrec, each `per_round` webhooks of the same
    mix closed-loop at `concurrency`: each side's process CPU per webhook, a round apart at
    most, so what the machine's other tenants do to caches and clocks touches both alike."""
    service_source, baseline_source = sources
    out: list[Round] = []
    for n in range(rounds):
        bare_us, bare_sent = cpu_per_webhook_us(
            baseline, sim, baseline_source.batch(baseline.webhook_url, per_round), concurrency, rate
        )
        flexrec_us, flexrec_sent = cpu_per_webhook_us(
            service, sim, service_source.batch(service.webhook_url, per_round), concurrency, rate
        )
        out.append(Round(bare_us, flexrec_us, bare_sent, flexrec_sent))
        print(
            f"  round {n + 1}: bare FastAPI {bare_us:.0f} us, flexrec {flexrec_us:.0f} us of CPU "
            f"a webhook: ratio {out[-1].ratio:.1%}"
        )
    return out


def _start_py_spy(pid: int, duration_s: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = Path(sys.executable).with_name("py-spy")
    if not spy.exists():
        print(f"no {spy}: not profiling")
        return None
    argv = [str(spy), "record", "--pid", str(pid), "--duration", str(max(1, int(duration_s) - 1))]
    # --gil: only the thread holding the GIL is sampled, so the stacks show where the CPU goes
    # (threads queueing for the GIL, a pooled connection or SQLite's write lock are left out).
    argv += ["--rate", "250", "--gil", "--format", "raw", "--output", str(out), "--nonblocking"]
    argv += ["--subprocesses"]  # the web processes of `--processes N`
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603


def _recordings(
    sim: Simulator, call_sids: set[str], wait_s: float = 5.0
) -> dict[str, tuple[int, float]]:
    # Creates that failed inside the webhook are retried from the queue: give them a moment.
    deadline = time.monotonic() + wait_s
    made: dict[str, tuple[int, float]] = {}
    while time.monotonic() < deadline:
        made = sim.ask("recordings", call_sids)
        if len(made) == len(call_sids):
            break
        time.sleep(0.25)
    return made


def print_table(results: Sequence[PhaseResult]) -> None:
    """The figures, one line per (server, load); then which offers were stopped, and when."""
    head = (
        f"{'server':<9} {'offered':>9} {'sent':>6} {'err':>4} {'done/s':>7} {'srvCPU':>6} "
        f"{'/core':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'api p50':>8} {'api p99':>8} "
        f"{'rec':>9} {'dup':>3} {'cb/s':>4} {'simCPU':>6} {'genCPU':>6} {'lag99':>6}"
    )
    print(head)
    print("-" * len(head))
    for r in results:
        rec = f"{r.recorded}/{r.fast_sent}" if r.fast_sent else "-"
        print(
            f"{r.server:<9} {r.load + ('!' if r.stopped_after_s is not None else ''):>9} "
            f"{r.sent:>6} {r.errors:>4} {r.achieved_per_s:>7.0f} "
            f"{r.server_cpu:>6.0%} {r.per_core:>6.0f} {ms(percentile(r.latency, 50)):>7} "
            f"{ms(percentile(r.latency, 99)):>7} {ms(max(r.latency, default=None)):>7} "
            f"{ms(percentile(r.api_latency, 50)):>8} {ms(percentile(r.api_latency, 99)):>8} "
            f"{rec:>9} {r.duplicates if r.fast_sent else '-':>3} {r.callbacks_per_s:>4.0f} "
            f"{r.sim_cpu:>6.0%} "
            f"{r.client_cpu:>6.0%} {ms(percentile(r.lag, 99)):>6}"
        )
    for r in results:
        if r.drain_s > 1.0:
            print(
                f"~ {r.server} {r.load}: its last recording was made {r.drain_s:.1f} s after the "
                "load stopped (its Twilio calls queued behind the service's threads)"
            )
        if r.stopped_after_s is not None:
            print(
                f"! {r.server} {r.load}: the backlog passed {BACKLOG_S:.0f} s (or {BACKLOG_MAX}) "
                f"of webhooks after {r.stopped_after_s:.1f} s: offer stopped (not sustained)"
            )


# -- the run ------------------------------------------------------------------------------------
def warm_pool(server: Server, sim: Simulator, pool: int) -> list[dict[str, str]]:
    """Have the service handle `pool` tasks (recording started and linked); their updates."""
    created = sim.ask("tasks", pool)
    source = EventSource(sim, [], real_tasks=True)
    webhooks = [sign(server.webhook_url, source._event_fields(f), None) for f in created]
    # A few at a time, as fast as the service answers: nothing here is measured.
    asyncio.run(closed_loop(server.webhook_url, webhooks, duration_s=120.0, concurrency=4))
    sids = [f["TaskSid"] for f in created]
    calls = {json.loads(f["TaskAttributes"])["call_sid"] for f in created}
    recorded = len(_recordings(sim, calls))
    deadline = time.monotonic() + 20
    while True:  # a link that lost a race is retried from the queue: wait for every one
        updates: list[dict[str, str]] = sim.ask("updates", sids)
        linked = sum("conversations" in json.loads(f["TaskAttributes"]) for f in updates)
        if linked == len(sids) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"warm-up: {pool} tasks handled, {recorded} recorded, {linked} linked")
    return updates


def measure(
    server: Server,
    sim: Simulator,
    source: EventSource,
    rates: Sequence[float],
    duration_s: float,
    on_result: Callable[[PhaseResult], None],
    profile: Path | None = None,
    concurrency: int = SATURATION_CONCURRENCY,
) -> None:
    """Every rate open-loop, saturation (profiled when asked), then half of it, open-loop."""
    cap = int(4000 * duration_s)
    for rate in rates:
        on_result(run_phase(server, sim, source, f"{rate:.0f}/s", rate, duration_s, cap))
    saturated = run_phase(
        server, sim, source, "saturate", None, duration_s, cap, profile, concurrency
    )
    on_result(saturated)
    # The edge alone at saturation: every webhook of a type flexrec does not use.
    on_result(run_phase(server, sim, source, "edge", None, duration_s, cap, None, concurrency,
                        ignored=True))  # fmt: skip
    # What a sustainable load looks like: half of what this server just managed flat out.
    half = max(10.0, round(saturated.achieved_per_s / 2))
    on_result(run_phase(server, sim, source, f"{half:.0f}/s", half, duration_s, cap))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a 20-second smoke run")
    parser.add_argument("--duration", type=float, help="seconds per phase (default 10, quick 2)")
    parser.add_argument(
        "--rates", help="comma-separated offered rates (default 200,500,1000; '' = none)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=SATURATION_CONCURRENCY,
        help=f"webhooks in flight at saturation (default {SATURATION_CONCURRENCY})",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=1,
        help="web processes of each server (flexrec serve --processes; default 1)",
    )
    parser.add_argument(
        "--database-url",
        help="the service's database (default: SQLite in a temporary folder); PostgreSQL suits "
        "--processes > 1: SQLite makes processes wait for each other's writes",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        help="py-spy the service during saturation; collapsed stacks to this file",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON line on stdout (the table goes to stderr)"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=7,
        help="interleaved rounds, bare FastAPI then flexrec, each side's CPU per webhook "
        "(default 7; 0: none)",
    )
    parser.add_argument(
        "--round-webhooks", type=int, help="webhooks a side per round (default 1500, quick 300)"
    )
    parser.add_argument(
        "--round-rate",
        type=float,
        help="offer each round open-loop at this many webhooks a second (each arrives alone) "
        "instead of closed-loop at --concurrency",
    )
    parser.add_argument(
        "--rounds-only",
        action="store_true",
        help="only the warm-up and the interleaved rounds (no saturation phases): ~1 minute",
    )
    args = parser.parse_args()
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            figures = run(args)
        print(json.dumps(figures, sort_keys=True))
    else:
        run(args)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Every phase against the service, then against the baseline; the figures for --json."""
    duration = args.duration or (2.0 if args.quick else 10.0)
    default_rates = "1000" if args.quick else "200,500,1000"
    rates = [float(r) for r in (default_rates if args.rates is None else args.rates).split(",")
             if r.strip()]  # fmt: skip
    server_cpus, other_cpus = _cpus(args.processes)
    _pin(other_cpus)
    print(
        f"server ({args.processes} web process{'es' if args.processes > 1 else ''}) pinned to "
        f"CPU {_cpu_list(server_cpus)}; simulator and load generator on CPU "
        f"{_cpu_list(other_cpus)}; {duration:.0f} s per phase; "
        f"1 in {FAST_EVERY} webhooks is a fast-path task.created"
    )
    load_before = load_average()
    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-bench-"))
    sim = Simulator(other_cpus)
    results: list[PhaseResult] = []

    def show(result: PhaseResult) -> None:
        results.append(result)
        print(
            f"  {result.server} {result.load}: {result.achieved_per_s:.0f}/s, "
            f"p99 {ms(percentile(result.latency, 99))} ms, "
            f"api p99 {ms(percentile(result.api_latency, 99))} ms"
        )

    kinds: dict[str, float] = {}
    rounds: list[Round] = []
    per_round = args.round_webhooks or (300 if args.quick else 1500)
    try:
        env = service_env(sim.base_url, workdir / "data")
        if args.database_url:
            env["FLEXREC_DATABASE_URL"] = args.database_url
        service = start_server(
            "flexrec", SERVICE_CODE, server_cpus, env, workdir / "service.log", args.processes
        )
        print(f"simulator and service up after {time.monotonic() - began:.1f} s")
        try:
            updates = warm_pool(service, sim, POOL_TASKS // 2 if args.quick else POOL_TASKS)
            source = EventSource(sim, updates, True)
            if not args.rounds_only:
                measure(service, sim, source, rates, duration, show, args.profile, args.concurrency)
                kinds = cpu_per_kind(service, source, 100 if args.quick else 300)
            # The service stays up, idle, for the interleaved rounds: the bare app's phases
            # share its core with the service's tickers (heartbeats, chores), a few ms a second.
            (workdir / "baseline_app.py").write_text(BASELINE_APP)
            baseline = start_server(
                "baseline", BASELINE_CODE, server_cpus, env, workdir / "base.log", args.processes
            )
            try:
                base_source = EventSource(sim, updates, False)
                if not args.rounds_only:
                    measure(baseline, sim, base_source, rates, duration, show, None,
                            args.concurrency)  # fmt: skip
                if args.rounds:
                    offer = (
                        f"open loop at {args.round_rate:.0f}/s"
                        if args.round_rate
                        else f"closed loop at {args.concurrency} in flight"
                    )
                    print(
                        f"interleaved rounds: {args.rounds} x {per_round} webhooks a side, {offer}"
                    )
                    rounds = interleaved_rounds(
                        service, baseline, sim, (source, base_source), args.rounds, per_round,
                        args.concurrency, args.round_rate,
                    )  # fmt: skip
            finally:
                baseline.stop()
        finally:
            service.stop()
    finally:
        sim.stop()
    print()
    print_table(results)
    print()
    print(
        "done/s: 2xx answers/s; srvCPU: cores the server used (100% = one); /core: answers per "
        "server CPU-second;\np50/p99/max: response time from the scheduled send (open loop) or "
        "from the send (saturate);\napi: webhook sent -> the simulator got the recording create "
        "(fast-path task.created only);\nrec: legs recorded / fast-path events; dup: extra "
        "recordings; cb/s: recording status callbacks the\nsimulator posted to the server on "
        "top; simCPU/genCPU: simulator / load generator CPU; lag99: how late\nthe load "
        "generator sent (p99; large = the figures above are the client's, not the server's)."
    )
    print(
        "service CPU per webhook, each kind alone: "
        + "; ".join(f"{kind} {value:.2f} ms" for kind, value in kinds.items())
        + " (a new call's figure includes its status callback and attribute write)"
    )
    if rounds:
        ratios = sorted(r.ratio for r in rounds)
        print(
            "CPU per webhook, interleaved rounds (bare FastAPI / flexrec, us): "
            + "; ".join(f"{r.bare_us:.0f} / {r.flexrec_us:.0f}" for r in rounds)
        )
        print(
            f"per-core ratio vs bare FastAPI (bare CPU per webhook over flexrec's): median "
            f"{statistics.median(ratios):.1%}, spread {ratios[0]:.1%}-{ratios[-1]:.1%} over "
            f"{len(rounds)} rounds"
        )
    print(f"load average before/after: {load_before} / {load_average()} (shared CPUs)")
    log = workdir / "service.log"
    if log.exists():
        lines = log.read_text(errors="replace").splitlines()
        print(f"service log: {len(lines)} lines ({log.stat().st_size / 1e6:.1f} MB) at INFO")
    print(f"total {time.monotonic() - began:.0f} s")
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    offer = (
        f"open loop {args.round_rate:g}/s" if args.round_rate else f"closed loop {args.concurrency}"
    )
    return json_figures(
        results, kinds, args.processes, [load_before, load_average()], rounds, offer
    )


def _phase_figures(r: PhaseResult) -> dict[str, Any]:
    def rounded_ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    return {
        "load": r.load,
        "stopped": r.stopped_after_s is not None,
        "sent": r.sent,
        "errors": r.errors,
        "done_per_s": round(r.achieved_per_s),
        "server_cpu": round(r.server_cpu, 3),
        "per_core": round(r.per_core),
        "p50_ms": rounded_ms(percentile(r.latency, 50)),
        "p99_ms": rounded_ms(percentile(r.latency, 99)),
        "api_p50_ms": rounded_ms(percentile(r.api_latency, 50)),
        "api_p99_ms": rounded_ms(percentile(r.api_latency, 99)),
        "recorded": r.recorded,
        "fast_sent": r.fast_sent,
        "duplicates": r.duplicates,
        "drain_s": round(r.drain_s, 1),
    }


def json_figures(
    results: Sequence[PhaseResult],
    kinds: dict[str, float],
    processes: int,
    load: list[list[float]],
    rounds: Sequence[Round] = (),
    round_offer: str | None = None,
) -> dict[str, Any]:
    """The run as one mapping: the per-core ratio from the interleaved rounds' CPU per webhook
    (median and spread), and the older per-core answers at saturation against the bare app's."""
    saturated = {r.server: r for r in results if r.load == "saturate"}
    service, baseline = saturated.get("flexrec"), saturated.get("baseline")
    edge = next((r for r in results if r.server == "flexrec" and r.load == "edge"), None)

    def ratio_of(result: PhaseResult | None) -> float | None:
        if result is None or baseline is None or not baseline.per_core:
            return None
        return round(result.per_core / baseline.per_core, 4)

    ratio = ratio_of(service)
    api = [x for r in results if r.server == "flexrec" for x in r.api_latency]
    ratios = sorted(r.ratio for r in rounds)
    return {
        "bench": "webhook_throughput",
        "processes": processes,
        # The median of the interleaved rounds (each: the bare app's CPU per webhook over
        # flexrec's, on the same mix); the saturation phases' ratio is kept under its own name.
        "per_core_ratio_vs_bare_fastapi": round(statistics.median(ratios), 4) if ratios else None,
        "per_core_ratio_rounds": [round(x, 4) for x in ratios],
        "per_core_ratio_spread": [round(ratios[0], 4), round(ratios[-1], 4)] if ratios else None,
        "cpu_us_per_webhook_rounds": {
            "bare_fastapi": [round(r.bare_us, 1) for r in rounds],
            "flexrec": [round(r.flexrec_us, 1) for r in rounds],
        },
        "round_webhooks": [r.flexrec_sent for r in rounds],
        "round_offer": round_offer if rounds else None,
        "saturation_per_core_ratio_vs_bare_fastapi": ratio,
        "flexrec_per_core": round(service.per_core) if service else None,
        "edge_per_core_ratio_vs_bare_fastapi": ratio_of(edge),
        "edge_per_core": round(edge.per_core) if edge else None,
        "bare_fastapi_per_core": round(baseline.per_core) if baseline else None,
        "flexrec_saturated_per_s": round(service.achieved_per_s) if service else None,
        "api_ms_p50": None if not api else round(1000 * (percentile(api, 50) or 0), 1),
        "cpu_ms_per_webhook": {kind: round(value, 2) for kind, value in kinds.items()},
        "phases": {
            r.server: [_phase_figures(p) for p in results if p.server == r.server] for r in results
        },
        "load_average_before_after": load,
    }


if __name__ == "__main__":
    main()
