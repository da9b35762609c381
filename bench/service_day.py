"""What one core of the service pays for a real call mix, and so how many calls it carries.

`webhook_throughput.py` offers a synthetic mix (mostly repeats of tasks already recorded).
Real traffic is what the simulator's contact center sends: every TaskRouter event of a call's
life, conference, call and recording status callbacks, then the archive and the analysis of
each recording. This runs `flexrec serve` (SQLite, queue workers in-process, pinned to one CPU)
against `flexrec sim` producing a day of calls (pinned to the other CPU), waits until every
webhook is delivered (the simulator then stops), then prints:

- the service's CPU per call and per webhook, all told (HTTP and signatures, handlers, queue
  jobs, archive and analysis), and what one core therefore carries;
- the handler CPU per event kind, read from the service's own metric
  `flexrec_webhook_handler_cpu_seconds` (the thread's CPU, so GIL waits are not counted);
- how long the service took to answer each kind of webhook (p50, p99, max, from the
  simulator's delivery log) beside Twilio's limits: 15 s for a TaskRouter workspace callback,
  5 s for an Event Streams batch (`--event-streams`). The simulator's REST answers take
  Twilio's real ~100-300 ms (`--latency`, kept in real time on the compressed day).

    .venv/bin/python bench/service_day.py                # 150 calls, about a minute
    .venv/bin/python bench/service_day.py --calls 400 --rate 900

Figures only. The offered rate is kept below what the core carries: a backlog would make
calls end before their recording starts, which is not the mix being measured.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from webhook_throughput import service_env  # this folder is on sys.path when run

from flexsim import free_port

CLK_TCK = os.sysconf("SC_CLK_TCK")
METRIC = re.compile(
    r'flexrec_webhook_handler_cpu_seconds_(count|sum)\{kind="([^"]*)",source="([^"]*)"\} (\S+)'
)
RECEIVED = re.compile(r'flexrec_webhooks_total\{outcome="([^"]*)",source="([^"]*)"\} (\S+)')


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - loopback only
        return str(response.read().decode())


def _wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s:.0f} s")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _pinned(argv: list[str], cpu: int) -> list[str]:
    taskset = shutil.which("taskset")
    usable = cpu < (os.cpu_count() or 1)
    return [taskset, "-c", str(cpu), *argv] if taskset and usable else argv


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)  # noqa: S603


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def handler_cpu(metrics: str) -> dict[tuple[str, str], tuple[int, float]]:
    """(source, kind) -> (events handled, handler CPU seconds), from the /metrics text."""
    counts: dict[tuple[str, str], float] = {}
    sums: dict[tuple[str, str], float] = {}
    for line in metrics.splitlines():
        match = METRIC.match(line)
        if match:
            field, kind, source, value = match.groups()
            (counts if field == "count" else sums)[(source, kind)] = float(value)
    return {key: (int(counts[key]), sums.get(key, 0.0)) for key in counts}


def answered_from_memory(metrics: str) -> dict[str, tuple[int, int]]:
    """source -> (webhooks answered from memory, webhooks received), from the /metrics text."""
    counts: dict[str, list[int]] = {}
    for line in metrics.splitlines():
        match = RECEIVED.match(line)
        if match:
            outcome, source, value = match.groups()
            pair = counts.setdefault(source, [0, 0])
            pair[1] += int(float(value))
            if outcome == "repeat":
                pair[0] += int(float(value))
    return {source: (memory, total) for source, (memory, total) in counts.items()}


def _day(
    sim_url: str, sim: subprocess.Popen[bytes], deadline: float, log: dict[str, Any]
) -> dict[str, Any]:
    """The simulator's last figures: it stops by itself once the calls are done and every
    webhook is delivered. Its delivery log (the newest 5,000) is collected into `log`."""
    stats: dict[str, Any] = {}
    polls = 0
    while sim.poll() is None and time.monotonic() < deadline:
        try:
            stats = json.loads(_get(sim_url + "/_sim/stats"))
            if polls % 4 == 0 or not stats.get("webhooks", {}).get("pending", 1):
                page = json.loads(_get(sim_url + "/_sim/webhooks?limit=5000"))
                log.update((str(e["id"]) + str(e["at"]), e) for e in page["deliveries"])
        except OSError:
            pass  # stopping
        polls += 1
        time.sleep(0.5)
    time.sleep(3.0)  # the archive and analysis jobs of the last calls
    return stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=150, help="calls in the day (default 150)")
    parser.add_argument(
        "--rate", type=float, default=600.0, help="arrivals per simulated hour (default 600)"
    )
    parser.add_argument(
        "--scale", type=float, default=30.0, help="simulated seconds per real second (30)"
    )
    parser.add_argument("--agents", type=int, default=120, help="agents (default 120)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument(
        "--latency", default="100-300", help="Twilio REST answer time LOW-HIGH ms (100-300)"
    )
    parser.add_argument(
        "--event-streams", action="store_true", help="TaskRouter events via an Event Streams sink"
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="flexrec-day-"))
    sim_port, service_port = free_port(), free_port()
    sim_url, service_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{service_port}"
    env = service_env(sim_url, workdir / "data")
    env.pop("FLEXREC_START_ON")  # the default policy: start when the agent answers
    env["FLEXREC_PUBLIC_URL"] = service_url
    flexrec = [sys.executable, "-m", "flexrec"]
    service = _start(
        _pinned([*flexrec, "serve", "--port", str(service_port)], 0), env, workdir / "service.log"
    )
    sim: subprocess.Popen[bytes] | None = None
    try:
        _wait(service_url + "/healthz", service)
        cpu0, began = _cpu_seconds(service.pid), time.monotonic()
        sim_argv = [
            *flexrec,
            *("sim", "--port", str(sim_port), "--service-url", service_url),
            *("--agents", str(args.agents), "--rate", str(args.rate), "--scale", str(args.scale)),
            *("--calls", str(args.calls), "--seed", str(args.seed)),
            *("--latency", args.latency, "--latency-real-time"),
            *(["--event-streams"] if args.event_streams else []),
        ]
        sim = _start(_pinned(sim_argv, 1), env, workdir / "sim.log")
        _wait(sim_url + "/_sim/stats", sim)
        log: dict[str, Any] = {}
        stats = _day(sim_url, sim, time.monotonic() + 60 + 3 * args.calls, log)
        elapsed = time.monotonic() - began
        cpu = _cpu_seconds(service.pid) - cpu0
        metrics = _get(service_url + "/metrics")
        handlers, memory = handler_cpu(metrics), answered_from_memory(metrics)
    finally:
        if sim is not None:
            _stop(sim)
        _stop(service)
    report(args, stats, elapsed, cpu, handlers, memory)
    report_answer_times(list(log.values()))
    if args.keep:
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


# Twilio's answer limits (see flexsim.webhooks.ANSWER_LIMITS_S for the sources).
LIMITS_S = {"taskrouter": 15.0, "event-streams": 5.0}
OTHER_LIMIT_S = 15.0


def report_answer_times(deliveries: list[dict[str, Any]]) -> None:
    """Per kind of webhook: answer time p50 / p99 / max of the last attempt, beside the limit."""
    by_kind: dict[str, list[float]] = {}
    timeouts: dict[str, int] = {}
    for entry in deliveries:
        elapsed = entry.get("elapsed_ms")
        if elapsed is None:
            continue
        kind = str(entry.get("kind"))
        by_kind.setdefault(kind, []).append(float(elapsed))
        if "no answer within" in str(entry.get("error") or ""):
            timeouts[kind] = timeouts.get(kind, 0) + 1
    if not by_kind:
        print("answer times: none logged")
        return
    print("answer times (ms; the last attempt of each delivery) against Twilio's limits:")
    for kind, values in sorted(by_kind.items()):
        values.sort()
        p50 = values[len(values) // 2]
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        limit = LIMITS_S.get(kind, OTHER_LIMIT_S)
        print(
            f"  {kind:<17} n={len(values):<5} p50 {p50:7.1f}  p99 {p99:7.1f}  "
            f"max {values[-1]:7.1f}  limit {limit * 1000:7.0f}  timed out {timeouts.get(kind, 0)}"
        )


def report(
    args: argparse.Namespace,
    stats: dict[str, Any],
    elapsed: float,
    cpu: float,
    handlers: dict[tuple[str, str], tuple[int, float]],
    memory: dict[str, tuple[int, int]],
) -> None:
    """Print the day's figures."""
    hooks = stats.get("webhooks", {})
    sent = int(hooks.get("sent", 0))
    calls = int(stats.get("engine", {}).get("finished", 0))
    recordings = int(stats.get("recordings", {}).get("total", 0))
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(hooks.get("by_kind", {}).items()))
    print(
        f"day: {calls} calls ({args.rate:.0f} arrivals per simulated hour at {args.scale:.0f}x, "
        f"{args.agents} agents, seed {args.seed}), {recordings} recordings made"
    )
    failed = hooks.get("failed")
    print(f"webhooks delivered: {sent} in {elapsed:.0f} s ({by_kind}); failed {failed}")
    print(f"attempts answered past their limit (then retried): {hooks.get('timed_out', 0)}")
    if not calls or not sent:
        print("no traffic measured")
        return
    handled = sum(n for n, _ in handlers.values())
    handler_s = sum(s for _, s in handlers.values())
    print(
        f"service CPU: {cpu:.1f} s, {cpu / elapsed:.0%} of its core: "
        f"{1000 * cpu / calls:.0f} ms per call, {1000 * cpu / sent:.1f} ms per webhook all told"
    )
    print(
        f"  of which event handlers {handler_s:.1f} s ({handled} events); the rest is HTTP and "
        "signatures, repeats answered from memory, attribute writes, queue jobs, archive and "
        "analysis"
    )
    print(
        f"one core carries about {calls / cpu:.1f} calls/s, {sent / cpu:.0f} webhooks/s of this mix"
    )
    answered = ", ".join(f"{s} {m} of {t}" for s, (m, t) in sorted(memory.items()) if t)
    print(f"answered from memory (no handler run): {answered}")
    print()
    print(f"{'source':<17} {'event kind':<26} {'events':>6} {'CPU ms each':>11} {'share':>6}")
    for (source, kind), (count, seconds) in sorted(handlers.items(), key=lambda kv: -kv[1][1]):
        print(
            f"{source:<17} {kind:<26} {count:>6} {1000 * seconds / max(1, count):>11.2f} "
            f"{seconds / max(handler_s, 1e-9):>6.0%}"
        )


if __name__ == "__main__":
    main()
