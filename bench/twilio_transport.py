"""CPU per request of the Twilio transport (`PooledHttpClient.request`, what the SDK calls).

A keep-alive HTTP/1.1 server in a process of its own answers every request with a Twilio-sized
JSON body (and an ETag); this process sends GETs and form POSTs through the transport and
reads its own thread's CPU time, round by round, the two kinds alternated. The server's work
is not counted. Run it from two trees back to back to compare transports:

    .venv/bin/python bench/twilio_transport.py              # 8 rounds of 300 requests a kind
    .venv/bin/python bench/twilio_transport.py --json
    .venv/bin/python bench/twilio_transport.py --latency-ms 150 --requests 20   # a slow Twilio

Figures only (median and lowest round per kind, microseconds per request).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from figures import load_average  # this folder is on sys.path when run

from flexrec.twilio.client import PooledHttpClient

SERVER = """
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
delay = float(sys.argv[1]) / 1000
body = json.dumps({"sid": "WT" + "0" * 32, "attributes": json.dumps({"x": "y" * 600}),
                   "assignment_status": "assigned", "url": "https://taskrouter.twilio.com/v1"}).encode()
class Answer(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if delay:
            time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("ETag", '"7"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = _answer
    def log_message(self, *args):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), Answer)
print(server.server_address[1], flush=True)
server.serve_forever()
"""
URL = "https://taskrouter.twilio.com/v1/Workspaces/WS0/Tasks/WT0"
AUTH = ("AC" + "0" * 32, "token")
FORM = {"Attributes": json.dumps({"conversations": {"media": [{"type": "Recording"}]}})}


def one_round(client: PooledHttpClient, method: str, requests: int) -> float:
    """Microseconds of this thread's CPU per request over `requests` requests."""
    data = FORM if method == "POST" else None
    headers = {"If-Match": '"7"'} if method == "POST" else {"Accept": "application/json"}
    started = time.thread_time()
    for _ in range(requests):
        response = client.request(method, URL, data=data, headers=dict(headers), auth=AUTH)
        if response.status_code != 200:
            raise SystemExit(f"the server answered {response.status_code}")
    return (time.thread_time() - started) / requests * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--requests", type=int, default=300, help="requests per round and kind")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="the server's answer delay")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_before = load_average()
    server = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, "-c", SERVER, str(args.latency_ms)], stdout=subprocess.PIPE
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        client = PooledHttpClient(f"http://127.0.0.1:{port}", timeout=10)
        for method in ("GET", "POST"):
            one_round(client, method, max(20, args.requests // 5))  # connections, imports
        rounds: dict[str, list[float]] = {"GET": [], "POST": []}
        for _ in range(args.rounds):
            for method in rounds:
                rounds[method].append(one_round(client, method, args.requests))
        client.close()
    finally:
        server.terminate()
        server.wait()
    figures = {
        "transport": str(Path(sys.modules[PooledHttpClient.__module__].__file__ or "").parent),
        "cpu_us_per_request": {
            m: {"median": round(statistics.median(v), 1), "lowest": round(min(v), 1)}
            for m, v in rounds.items()
        },
        "rounds": args.rounds,
        "requests_per_round": args.requests,
        "latency_ms": args.latency_ms,
        "load_average_before": load_before,
        "load_average_after": load_average(),
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return
    for method, v in figures["cpu_us_per_request"].items():
        print(f"{method:<5} CPU per request: median {v['median']} us, lowest {v['lowest']} us")
    print(f"load average before/after: {load_before} / {figures['load_average_after']}")


if __name__ == "__main__":
    main()
