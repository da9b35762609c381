"""What a stranger can make a real `flexrec serve` do: memory for unauthenticated bodies, Twilio
calls for garbage tokens, and webhook latency while token checks hang.

Runs the simulator, a counting proxy in front of it (every Twilio request the service makes goes
through it, so IAM token checks are counted outside the service), and `flexrec serve`:

1. 50 MB chunked bodies with no credentials to the agent API (`Token` form), the console's Flex
   sign-in (JSON) and the Insights media-URL route: the service's peak RSS growth (VmHWM).
2. 1,000 requests with garbage tokens from one client: how many reached Twilio IAM.
3. Webhook latency (signed call-status callbacks) while IAM answers take 2 s and 200 token
   requests from 200 clients (X-Forwarded-For through a trusted proxy), tokens shaped like
   this account's so that they do reach IAM, wait on it.
4. A real agent behind the same address as a flood of garbage tokens (random strings, then
   tokens shaped like this account's Flex tokens that only IAM can refuse): how many of the
   agent's requests with its known token were refused, how many IAM calls the flood caused,
   and how long a new token of that agent, opening its live task, waited to be checked.

    .venv/bin/python bench/abuse_limits.py
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import secrets
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from stack import sim_and_service  # this folder is on sys.path when run
from webhook_throughput import service_env

from flexsim import defaults, free_port

WT = "WT" + "0" * 32
RE = "RE" + "0" * 32
MB = 1024 * 1024


class CountingProxy(ThreadingHTTPServer):
    """Forwards every request to the simulator, counting IAM token checks; can delay them."""

    daemon_threads = True

    def __init__(self, port: int, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.iam_calls = 0
        self.iam_delay_s = 0.0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", port), _ProxyHandler)


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: CountingProxy

    def log_message(self, format: str, *args: object) -> None:
        return

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        if "/Tokens/validate" in self.path:
            with self.server.lock:
                self.server.iam_calls += 1
            if self.server.iam_delay_s:
                time.sleep(self.server.iam_delay_s)
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        upstream.request(self.command, self.path, body=body, headers=headers)
        answer = upstream.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        for key, value in answer.getheaders():
            if key.lower() not in ("transfer-encoding", "content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        upstream.close()

    do_GET = do_POST = do_PUT = do_DELETE = _forward


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _chunks(total: int, first: bytes) -> Iterator[bytes]:
    yield first
    sent = len(first)
    piece = b"a" * (64 * 1024)
    while sent < total:
        sent += len(piece)
        yield piece


def _post_chunked(port: int, path: str, content_type: str, first: bytes, total: int) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "POST", path, body=_chunks(total, first), headers={"Content-Type": content_type},
            encode_chunked=True,
        )  # fmt: skip
        return str(conn.getresponse().status)
    except OSError as exc:  # the service answered and closed while we were still sending
        try:
            return f"{conn.getresponse().status} (closed early: {type(exc).__name__})"
        except (OSError, http.client.HTTPException):
            return f"connection closed early ({type(exc).__name__})"
    finally:
        conn.close()


def memory(port: int, pid: int, size_mb: int) -> None:
    """Peak RSS growth while unauthenticated chunked bodies arrive."""
    before_rss, before_peak = _status_kb(pid, "VmRSS"), _status_kb(pid, "VmHWM")
    routes = [
        (f"/api/agent/tasks/{WT}/recording", "application/x-www-form-urlencoded", b"Token=x&p="),
        ("/console/login/flex", "application/json", b'{"token": "x", "p": "'),
        (f"/insights/recordings/{RE}/url", "application/x-www-form-urlencoded", b"Token=x&p="),
    ]
    for path, content_type, first in routes:
        status = _post_chunked(port, path, content_type, first, size_mb * MB)
        print(f"  {size_mb} MB chunked to {path}: {status}")
    after_peak = _status_kb(pid, "VmHWM")
    growth = max(0, after_peak - max(before_rss, before_peak))
    print(
        f"memory: peak RSS {before_peak / 1024:.1f} -> {after_peak / 1024:.1f} MB "
        f"(RSS before {before_rss / 1024:.1f} MB); peak growth {growth / 1024:.1f} MB"
    )


def garbage_tokens(port: int, proxy: CountingProxy, count: int) -> None:
    """How many Twilio IAM calls `count` garbage-token requests from one client cause."""
    before = proxy.iam_calls
    statuses: dict[int, int] = {}
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    started = time.monotonic()
    for _ in range(count):
        token = secrets.token_urlsafe(48)
        conn.request(
            "GET", f"/api/agent/tasks/{WT}/recording", headers={"Authorization": f"Bearer {token}"}
        )
        answer = conn.getresponse()
        answer.read()
        statuses[answer.status] = statuses.get(answer.status, 0) + 1
    conn.close()
    elapsed = time.monotonic() - started
    shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
    print(
        f"garbage tokens: {count} requests in {elapsed:.1f} s ({shown}); "
        f"Twilio IAM calls: {proxy.iam_calls - before}"
    )


def _signed_call_status(url: str, call_sid: str) -> tuple[bytes, dict[str, str]]:
    params = {"CallSid": call_sid, "CallStatus": "completed", "Direction": "inbound"}
    text = url + "".join(k + params[k] for k in sorted(params))
    mac = hmac.new(defaults.AUTH_TOKEN.encode(), text.encode(), hashlib.sha1).digest()
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": base64.b64encode(mac).decode(),
    }
    return urlencode(params).encode(), headers


def webhooks_while_iam_hangs(port: int, proxy: CountingProxy, in_flight: int) -> None:
    """Webhook latency with IAM answering in 2 s and `in_flight` token requests waiting."""
    url = f"http://127.0.0.1:{port}/webhooks/call-status"

    def one_webhook(n: int) -> float:
        body, headers = _signed_call_status(url, "CA" + f"{n:032x}")
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        began = time.monotonic()
        conn.request("POST", "/webhooks/call-status", body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        conn.close()
        if answer.status != 204:
            raise SystemExit(f"webhook answered {answer.status}")
        return (time.monotonic() - began) * 1000

    def one_token(n: int) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        # Shaped like this account's tokens: random strings never reach IAM any more.
        token = _shaped_garbage()
        # Each from another client (through the trusted proxy), so none is refused for budget
        # and every one waits on IAM: the worst case for the threadpool.
        client = f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"
        headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": client}
        conn.request("GET", f"/api/agent/tasks/{WT}/recording", headers=headers)
        status = conn.getresponse().status
        conn.close()
        return status

    quiet = statistics.median(one_webhook(n) for n in range(30))
    asked_before = proxy.iam_calls
    proxy.iam_delay_s = 2.0
    with ThreadPoolExecutor(in_flight) as pool:
        pending = [pool.submit(one_token, n) for n in range(in_flight)]
        time.sleep(0.5)  # let the token requests arrive first
        loaded = statistics.median(one_webhook(1000 + n) for n in range(30))
        asked_during = proxy.iam_calls - asked_before
        statuses = [future.result() for future in pending]
    proxy.iam_delay_s = 0.0
    print(
        f"webhooks: p50 {quiet:.1f} ms quiet, {loaded:.1f} ms with {in_flight} token requests "
        f"in flight and IAM answering in 2 s ({asked_during} IAM checks under way while the "
        f"webhooks ran; token answers {sorted(set(statuses))})"
    )


def _get_json(url: str, body: dict[str, object] | None = None) -> dict[str, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(  # noqa: S310 - loopback URL we built
        url, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        result: dict[str, Any] = json.loads(answer.read())
        return result


def _agent_on_a_live_task(sim_port: int, service_port: int) -> tuple[str, str]:
    """Start a call and wait until an agent holds its task and the service knows it."""
    sim = f"http://127.0.0.1:{sim_port}"
    _get_json(f"{sim}/_sim/interactions", {"scenario": "basic", "direction": "inbound"})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for agent in _get_json(f"{sim}/_sim/agents")["agents"]:
            task_sid = agent.get("task_sid")
            if not task_sid:
                continue
            token = _get_json(f"{sim}/_sim/agents/{agent['sid']}/token", {"ttl_s": 3600})
            status = _agent_request(service_port, task_sid, token["token"])
            if status == 200:
                return task_sid, str(agent["sid"])
        time.sleep(0.5)
    raise SystemExit("no agent took the call within 60 s")


def _agent_request(port: int, task_sid: str, token: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(
            "GET",
            f"/api/agent/tasks/{task_sid}/recording",
            headers={"Authorization": f"Bearer {token}"},
        )
        answer = conn.getresponse()
        answer.read()
        return answer.status
    finally:
        conn.close()


def _shaped_garbage() -> str:
    """A token shaped like this account's Flex tokens (JWT, its account, not expired) that
    only Twilio IAM can tell is wrong."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    claims = {"sub": defaults.ACCOUNT_SID, "exp": time.time() + 3600, "jti": secrets.token_hex(8)}
    return f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"


class Flood:
    """Garbage-token requests for invented tasks, sent as fast as the service answers."""

    def __init__(self, port: int, make: Callable[[], str], connections: int = 2) -> None:
        self.port = port
        self.make = make
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run) for _ in range(connections)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while not self._stop.is_set():
            stranger = "WT" + secrets.token_hex(16)
            conn.request(
                "GET", f"/api/agent/tasks/{stranger}/recording",
                headers={"Authorization": f"Bearer {self.make()}"},
            )  # fmt: skip
            answer = conn.getresponse()
            answer.read()
            with self._lock:
                self.statuses[answer.status] = self.statuses.get(answer.status, 0) + 1
                self.sent += 1
        conn.close()

    def stop(self) -> None:
        """Stop sending and wait for the senders."""
        self._stop.set()
        for thread in self._threads:
            thread.join()


def agent_during_a_flood(
    sim_port: int, service_port: int, proxy: CountingProxy, seconds: float
) -> None:
    """A real agent's requests while garbage tokens flood from the agent's own address."""
    task_sid, worker_sid = _agent_on_a_live_task(sim_port, service_port)
    sim = f"http://127.0.0.1:{sim_port}"
    known = _get_json(f"{sim}/_sim/agents/{worker_sid}/token", {"ttl_s": 3600})["token"]
    assert _agent_request(service_port, task_sid, known) == 200  # checked once, then known
    kinds: list[tuple[str, Callable[[], str]]] = [
        ("random", lambda: secrets.token_urlsafe(48)),
        ("shaped", _shaped_garbage),
    ]
    for kind, make in kinds:
        asked_before = proxy.iam_calls
        flood = Flood(service_port, make)
        time.sleep(2)  # the flood has spent the address's budget by now
        agent: dict[int, int] = {}
        began = time.monotonic()
        while time.monotonic() - began < seconds:
            status = _agent_request(service_port, task_sid, known)
            agent[status] = agent.get(status, 0) + 1
            time.sleep(0.25)
        # A new token of the same agent (Flex renews them), opening its live task mid-flood.
        fresh = _get_json(f"{sim}/_sim/agents/{worker_sid}/token", {"ttl_s": 3600})["token"]
        asked_at = time.monotonic()
        fresh_status = _agent_request(service_port, task_sid, fresh)
        while fresh_status in (429, 503) and time.monotonic() - asked_at < 60:
            time.sleep(1)  # what the plugin does after a 429
            fresh_status = _agent_request(service_port, task_sid, fresh)
        fresh_ms = (time.monotonic() - asked_at) * 1000
        flood.stop()
        refused = sum(n for status, n in agent.items() if status in (401, 429))
        print(
            f"agent during a {kind}-token flood ({flood.sent} requests in {seconds + 2:.0f} s "
            f"from its address: {dict(sorted(flood.statuses.items()))}; Twilio IAM calls: "
            f"{proxy.iam_calls - asked_before}): agent refused {refused} of "
            f"{sum(agent.values())} requests; a new token of the agent on its live task "
            f"answered {fresh_status} after {fresh_ms:.0f} ms"
        )


def main() -> None:
    """Run the four measurements against a real service."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--body-mb", type=int, default=50)
    parser.add_argument("--garbage", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--flood-s", type=float, default=20.0)
    parser.add_argument(
        "--only", choices=["memory", "garbage", "webhooks", "flood"], action="append",
        help="run only these measurements (repeatable; default: all)",
    )  # fmt: skip
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-abuse-"))
    sim_port, proxy_port, service_port = free_port(), free_port(), free_port()
    proxy = CountingProxy(proxy_port, sim_port)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    env = service_env(f"http://127.0.0.1:{proxy_port}", workdir / "data")
    # The bench stands in for a reverse proxy on loopback: it may say whom it forwards for.
    env["FLEXREC_TRUSTED_PROXIES"] = "127.0.0.1"
    stack = sim_and_service(
        workdir, env, sim_port=sim_port, service_port=service_port, sim_args=["--rate", "1"]
    )
    try:
        with stack as running:
            time.sleep(2)  # start-up recovery done
            only = set(args.only or ["memory", "garbage", "webhooks", "flood"])
            if "memory" in only:
                memory(service_port, running.service.pid, args.body_mb)
            if "garbage" in only:
                garbage_tokens(service_port, proxy, args.garbage)
            if "webhooks" in only:
                webhooks_while_iam_hangs(service_port, proxy, args.in_flight)
            if "flood" in only:
                agent_during_a_flood(sim_port, service_port, proxy, args.flood_s)
    finally:
        proxy.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
