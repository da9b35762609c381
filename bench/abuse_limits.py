"""What a stranger can make a real `flexrec serve` do: memory for unauthenticated bodies, Twilio
calls for garbage tokens, and webhook latency while token checks hang.

Runs the simulator, a counting proxy in front of it (every Twilio request the service makes goes
through it, so IAM token checks are counted outside the service), and `flexrec serve`:

1. 50 MB chunked bodies with no credentials to the agent API (`Token` form), the console's Flex
   sign-in (JSON) and the Insights media-URL route: the service's peak RSS growth (VmHWM).
2. 1,000 requests with garbage tokens from one client: how many reached Twilio IAM.
3. Webhook latency (signed call-status callbacks) while IAM answers take 2 s and 200 token
   requests from 200 clients (X-Forwarded-For through a trusted proxy) wait on it.

    .venv/bin/python bench/abuse_limits.py
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

from webhook_throughput import service_env  # this folder is on sys.path when run

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


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def _wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{process.args} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


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
        token = secrets.token_urlsafe(48)
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


def main() -> None:
    """Run the three measurements against a real service."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--body-mb", type=int, default=50)
    parser.add_argument("--garbage", type=int, default=1000)
    parser.add_argument("--in-flight", type=int, default=200)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-abuse-"))
    sim_port, proxy_port, service_port = free_port(), free_port(), free_port()
    proxy = CountingProxy(proxy_port, sim_port)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    env = service_env(f"http://127.0.0.1:{proxy_port}", workdir / "data")
    # The bench stands in for a reverse proxy on loopback: it may say whom it forwards for.
    env["FLEXREC_TRUSTED_PROXIES"] = "127.0.0.1"
    flexrec = [sys.executable, "-m", "flexrec"]
    sim = _start(
        [*flexrec, "sim", "--port", str(sim_port), "--rate", "1"], env, workdir / "sim.log"
    )
    service: subprocess.Popen[bytes] | None = None
    try:
        _wait(f"http://127.0.0.1:{sim_port}/_sim/stats", sim)
        service = _start([*flexrec, "serve", "--port", str(service_port)], env,
                         workdir / "service.log")  # fmt: skip
        _wait(f"http://127.0.0.1:{service_port}/healthz", service)
        time.sleep(2)  # start-up recovery done
        memory(service_port, service.pid, args.body_mb)
        garbage_tokens(service_port, proxy, args.garbage)
        webhooks_while_iam_hangs(service_port, proxy, args.in_flight)
    finally:
        for process in (service, sim):
            if process is not None:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
        proxy.shutdown()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
