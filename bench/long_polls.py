"""What held long polls cost a real `flexrec serve`: 2,000 agent-API long polls from 2,000
distinct valid Flex tokens, all from one address (a contact centre behind one NAT), beside a
steady load of signed webhooks.

Each poll follows a task of its own, as each agent's plugin follows the agent's call: the bench
announces `--polls` voice tasks to the service (signed TaskRouter task.created callbacks; no
recording starts before an agent accepts), and the simulator issues the tokens (IAM answers
with its usual latency). Phases:
1. webhooks alone (signed call-status callbacks, open loop): latency p50/p99, and the
   database statements per second of the service (`flexrec_db_statements_total`);
2. the polls opened at `--open-rate` per second (each: a first GET for the ETag, then
   `?wait=25` with If-None-Match, again after every answer, as the plugin does), then held:
   refusals (429/401/5xx) while opening and holding, and database statements per second with
   the polls held and no webhooks;
3. the same webhook load with the polls held, while `--change-rate` watched tasks a second
   change (task.canceled): webhook p50/p99 beside phase 1's, and how long each change took
   from its webhook's answer to its poll's answer.

    .venv/bin/python bench/long_polls.py                    # about 4 minutes
    .venv/bin/python bench/long_polls.py --polls 500 --webhook-s 10
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import multiprocessing
import secrets
import shutil
import statistics
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from figures import cpu_seconds, percentile
from stack import sim_and_service
from webhook_throughput import service_env  # this folder is on sys.path when run

from flexsim import defaults, free_port


def _json(url: str, body: dict[str, Any] | None = None, token: str | None = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310 - loopback
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
        return json.loads(answer.read())


def _metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=30) as answer:  # noqa: S310
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def _signed_call_status(url: str) -> tuple[bytes, dict[str, str]]:
    params = {
        "AccountSid": defaults.ACCOUNT_SID,
        "CallSid": "CA" + secrets.token_hex(16),
        "CallStatus": "completed",
        "Direction": "inbound",
    }
    text = url + "".join(k + params[k] for k in sorted(params))
    mac = hmac.new(defaults.AUTH_TOKEN.encode(), text.encode(), hashlib.sha1).digest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": base64.b64encode(mac).decode(),
    }
    return urlencode(params).encode(), headers


async def webhooks(base: str, rate: float, seconds: float) -> list[float]:
    """Signed call-status callbacks on a fixed schedule; each one's latency (ms) from its
    scheduled moment (a stalled server cannot hide its queue)."""
    url = base + "/webhooks/call-status"
    count = int(rate * seconds)
    posts = [_signed_call_status(url) for _ in range(count)]
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05

        async def send(due: float, body: bytes, headers: dict[str, str]) -> None:
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                if answer.status != 204:
                    raise SystemExit(f"webhook answered {answer.status}")
            latencies.append((loop.time() - due) * 1000)

        tasks = []
        for n, (body, headers) in enumerate(posts):
            due = start + n / rate
            if (delay := due - loop.time()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(due, body, headers)))
        await asyncio.gather(*tasks)
    return latencies


@dataclass
class Polls:
    """The pollers' tally (in the pollers' process)."""

    target: int
    refused: dict[int, int] = field(default_factory=dict)
    held: int = 0
    opened: int = 0
    changes: int = 0
    answered_at: dict[str, float] = field(default_factory=dict)  # task -> last change answer
    stop: bool = False

    def opened_one(self) -> None:
        """A poller got its first answer."""
        self.opened += 1

    def changed(self, task_sid: str) -> None:
        """A held poll of `task_sid` answered with a change (monotonic: one clock per host)."""
        self.changes += 1
        self.answered_at[task_sid] = time.monotonic()

    def report(self) -> dict[str, Any]:
        """What the bench's main process asks for."""
        return {"refused": dict(self.refused), "held": self.held, "opened": self.opened,
                "changes": self.changes, "answered_at": dict(self.answered_at)}  # fmt: skip


async def poller(
    session: aiohttp.ClientSession, base: str, task_sid: str, token: str, polls: Polls
) -> None:
    """One plugin following one task: a first GET for the ETag, then long polls, forever."""
    url = f"{base}/api/agent/tasks/{task_sid}/recording"
    headers = {"Authorization": f"Bearer {token}"}
    etag: str | None = None
    counted = False
    while not polls.stop:
        ask = dict(headers)
        if etag:
            ask["If-None-Match"] = etag
        holding = etag is not None
        if holding:
            polls.held += 1
        try:
            async with session.get(url + ("?wait=25" if etag else ""), headers=ask) as answer:
                await answer.read()
                status = answer.status
                etag = answer.headers.get("ETag", etag)
                retry = float(answer.headers.get("Retry-After", "1") or 1)
        except (aiohttp.ClientError, TimeoutError):
            status, retry = -1, 1.0
        finally:
            if holding:
                polls.held -= 1
        if status == 200 and holding:
            polls.changed(task_sid)
        if status in (200, 304):
            if not counted:
                counted = True
                polls.opened_one()
            continue
        polls.refused[status] = polls.refused.get(status, 0) + 1
        await asyncio.sleep(retry)


def _task_event(
    url: str, event_type: str, task_sid: str, status: str
) -> tuple[bytes, dict[str, str]]:
    """A signed TaskRouter workspace callback about one inbound voice task."""
    now = time.time()
    attributes = {"call_sid": "CA" + task_sid[2:], "direction": "inbound", "type": "inbound",
                  "from": "+15550001111", "to": "+15550002222"}  # fmt: skip
    params = {
        "AccountSid": defaults.ACCOUNT_SID,
        "WorkspaceSid": defaults.WORKSPACE_SID,
        "EventType": event_type,
        "Sid": "EV" + secrets.token_hex(16),
        "ResourceType": "task",
        "ResourceSid": task_sid,
        "TaskSid": task_sid,
        "TaskAttributes": json.dumps(attributes),
        "TaskAssignmentStatus": status,
        "TaskChannelUniqueName": "voice",
        "TaskQueueSid": "WQ" + "0" * 32,
        "TaskQueueName": "Everyone",
        "Timestamp": str(int(now)),
        "TimestampMs": str(int(now * 1000)),
    }
    text = url + "".join(k + params[k] for k in sorted(params))
    mac = hmac.new(defaults.AUTH_TOKEN.encode(), text.encode(), hashlib.sha1).digest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": base64.b64encode(mac).decode(),
    }
    return urlencode(params).encode(), headers


async def announce_tasks(base: str, task_sids: list[str]) -> None:
    """Tell the service about the tasks the polls follow (task.created, pending)."""
    url = base + "/webhooks/taskrouter"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:

        async def one(task_sid: str) -> None:
            body, headers = _task_event(url, "task.created", task_sid, "pending")
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
                if answer.status != 204:
                    raise SystemExit(f"task.created answered {answer.status}")

        await asyncio.gather(*(one(sid) for sid in task_sids))


async def change_tasks(
    base: str, task_sids: list[str], rate: float, seconds: float
) -> dict[str, float]:
    """task.canceled for `rate` watched tasks a second; when each webhook was answered."""
    url = base + "/webhooks/taskrouter"
    answered: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        for task_sid in task_sids[: int(rate * seconds)]:
            body, headers = _task_event(url, "task.canceled", task_sid, "canceled")
            began = time.monotonic()
            async with session.post(url, data=body, headers=headers) as answer:
                await answer.read()
            answered[task_sid] = time.monotonic()
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - began)))
    return answered


async def _pollers(
    base: str, pairs: list[tuple[str, str]], open_rate: float, conn: Connection
) -> None:
    polls = Polls(target=len(pairs))
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=90)
    ) as session:
        running = []
        for task_sid, token in pairs:
            running.append(asyncio.create_task(poller(session, base, task_sid, token, polls)))
            await asyncio.sleep(1 / open_rate)
        while True:
            command = await asyncio.to_thread(conn.recv)
            if command == "stop":
                break
            conn.send(polls.report())
        polls.stop = True
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    conn.send(polls.report())


def pollers_main(base: str, pairs: list[tuple[str, str]], open_rate: float, conn: Any) -> None:
    """The pollers' process: the plugins, on an event loop of their own, so that their work
    never delays the webhooks whose latency the main process measures."""
    asyncio.run(_pollers(base, pairs, open_rate, conn))


def _supervisor_token(sim: str) -> str:
    worker = _json(f"{sim}/_sim/agents")["agents"][0]["sid"]
    answer = _json(f"{sim}/_sim/agents/{worker}/token", {"ttl_s": 7200, "roles": ["supervisor"]})
    return str(answer["token"])


def _ms(values: list[float]) -> str:
    if not values:
        return "-"
    return (
        f"p50 {statistics.median(values):.1f} ms, p99 {percentile(values, 99) or 0:.1f} ms, "
        f"max {max(values):.1f} ms ({len(values)} webhooks)"
    )


async def run(args: argparse.Namespace, sim: str, base: str, service_pid: int) -> None:
    """The three phases against a running simulator and service."""
    task_sids = ["WT" + secrets.token_hex(16) for _ in range(args.polls)]
    await announce_tasks(base, task_sids)

    def statements_per_s(seconds: float) -> str:
        before = _metric(base, "flexrec_db_statements_total")
        cpu = cpu_seconds(service_pid, tree=True)
        time.sleep(seconds)
        used = (cpu_seconds(service_pid, tree=True) - cpu) / seconds
        statements = (_metric(base, "flexrec_db_statements_total") - before) / seconds
        return f"database {statements:.1f} statements/s, service CPU {used * 100:.0f}%"

    async def webhooks_with_cpu() -> tuple[list[float], float]:
        cpu = cpu_seconds(service_pid, tree=True)
        latencies = await webhooks(base, args.webhook_rate, args.webhook_s)
        return latencies, (cpu_seconds(service_pid, tree=True) - cpu) / args.webhook_s

    quiet = await asyncio.to_thread(statements_per_s, args.quiet_s)
    alone, alone_cpu = await webhooks_with_cpu()
    print(f"no polls held: {quiet}; webhooks {_ms(alone)}, service CPU {alone_cpu * 100:.0f}%")

    tokens = [_supervisor_token(sim) for _ in range(args.polls)]
    context = multiprocessing.get_context("spawn")
    conn, child = context.Pipe()
    pairs = list(zip(task_sids, tokens, strict=True))
    process = context.Process(target=pollers_main, args=(base, pairs, args.open_rate, child))
    process.start()

    def ask(command: str = "report") -> dict[str, Any]:
        conn.send(command)
        answer: dict[str, Any] = conn.recv()
        return answer

    try:
        began = time.monotonic()
        report = ask()
        while report["opened"] < args.polls and time.monotonic() - began < 300:
            await asyncio.sleep(1)
            report = ask()
        opened_s = time.monotonic() - began
        await asyncio.sleep(2)
        report = ask()
        print(
            f"{report['opened']} of {args.polls} polls opened in {opened_s:.0f} s from one "
            f"address (distinct tokens, one task each, {args.open_rate:.0f}/s); "
            f"{report['held']} held; refused: {report['refused'] or 0}"
        )
        held_statements = await asyncio.to_thread(statements_per_s, args.quiet_s)
        print(f"{report['held']} polls held, nothing changing: {held_statements}")
        (loaded, loaded_cpu), changed = await asyncio.gather(
            webhooks_with_cpu(),
            change_tasks(base, task_sids, args.change_rate, args.webhook_s),
        )
        await asyncio.sleep(3)  # the last changes' answers
        report = ask()
        ratio = (percentile(loaded, 99) or 0.0) / (percentile(alone, 99) or 1.0)
        print(
            f"{report['held']} polls held: webhooks {_ms(loaded)}, service CPU "
            f"{loaded_cpu * 100:.0f}%; p99 {ratio:.2f}x of none held"
        )
        delays = [
            (report["answered_at"][sid] - at) * 1000
            for sid, at in changed.items()
            if sid in report["answered_at"]
        ]
        print(
            f"{len(delays)} of {len(changed)} task changes reached their waiting poll, "
            f"p50 {statistics.median(delays) if delays else float('nan'):.0f} ms, "
            f"max {max(delays) if delays else float('nan'):.0f} ms after the change's webhook"
        )
        report = ask("stop")
        print(f"refused in all: {report['refused'] or 0} (of {args.polls} distinct tokens)")
    finally:
        process.join(30)
        if process.is_alive():
            process.terminate()
    # The machine may be shared: the same load again once the polls are gone brackets the
    # held run between two runs with none held.
    await asyncio.sleep(5)
    after, after_cpu = await webhooks_with_cpu()
    print(f"polls released: webhooks {_ms(after)}, service CPU {after_cpu * 100:.0f}%")
    held_p99 = percentile(loaded, 99) or 0.0
    print(
        f"held p99 {held_p99:.1f} ms: {held_p99 / (percentile(alone, 99) or 1.0):.2f}x of the "
        f"run before, {held_p99 / (percentile(after, 99) or 1.0):.2f}x of the run after"
    )


def main() -> None:
    """Start the simulator and the service, run the phases, stop both."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polls", type=int, default=2000)
    parser.add_argument("--open-rate", type=float, default=50.0, help="polls opened per second")
    parser.add_argument("--webhook-rate", type=float, default=25.0)
    parser.add_argument("--webhook-s", type=float, default=20.0)
    parser.add_argument("--change-rate", type=float, default=2.0, help="task changes per second")
    parser.add_argument("--quiet-s", type=float, default=10.0)
    parser.add_argument("--keep", action="store_true", help="keep the logs' folder")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-polls-"))
    sim_port, service_port = free_port(), free_port()
    sim_url, base = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{service_port}"
    env = service_env(sim_url, workdir / "data")
    env.pop("FLEXREC_START_ON", None)  # recordings start when an agent answers: none here
    try:
        stack = sim_and_service(
            workdir,
            env,
            sim_port=sim_port,
            service_port=service_port,
            sim_args=["--rate", "0", "--agents", "4"],
        )
        with stack as running:
            asyncio.run(run(args, sim_url, base, running.service.pid))
    finally:
        if args.keep:
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
