"""How long a restart of `flexrec serve` leaves calls unrecorded: start-up and the first recording.

A kill -9 costs every live call the seconds until the new process records it again, and at the
demo's clock (x10) each real second is ten seconds of call. This bench times, in real seconds
from the spawn of `flexrec serve` (as the demo runs it, against an in-process simulator):

- `healthz_s`: until `/healthz` answers 200 (the process is serving), and `healthz_cpu_s` the
  CPU seconds the process had used by then (what the shared machine's load cannot skew);
- `first_record_s`: until Twilio (the simulator) holds a recording of a customer leg that went
  live while the service was down: the call began, queued and was answered during the kill, so
  every webhook about it was refused and only the restarted service's own work finds it.

Each round starts the service, kills it -9, starts one call and waits until its agent answers,
then spawns the service again. `--busy N` runs N processes spinning on the CPU meanwhile, for
the figure under load; the load average is printed with the figures (the machine is shared).

    .venv/bin/python bench/restart.py                 # 5 rounds, idle (about a minute)
    .venv/bin/python bench/restart.py --busy 4 --json
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from flexrec.demo.runner import service_env
from flexsim import Conversation, SimConfig, SimRunner, defaults, free_port

BUSY_LOOP = "while True: pass"


def _spawn(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and fixed argv
            [sys.executable, "-m", "flexrec", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _healthy_after(url: str, process: subprocess.Popen[bytes], spawned: float) -> float:
    """Seconds from `spawned` until /healthz answers 200 (polled every 10 ms)."""
    deadline = spawned + 120.0
    with httpx.Client(timeout=5.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"the service exited at start-up (code {process.returncode})")
            try:
                if client.get(f"{url}/healthz").status_code == 200:
                    return time.monotonic() - spawned
            except httpx.HTTPError:
                time.sleep(0.01)
    raise SystemExit("the service did not answer /healthz within 120 s")


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far: a figure the load cannot skew."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _kill(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, 9)
        process.wait(timeout=10)


def _recorded_after(sim: SimRunner, call_sid: str, spawned_wall: float, limit_s: float) -> float:
    """Seconds from `spawned_wall` until the simulator holds a recording of `call_sid`."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        for recording in sim.recordings():
            if recording.call_sid == call_sid:
                return recording.created_wall - spawned_wall
        time.sleep(0.02)
    return float("nan")


def run(rounds: int, scale: float, workdir: Path) -> list[dict[str, float]]:
    """`rounds` restarts, each with one call that went live while the service was down."""
    port = free_port()
    config = SimConfig(
        port=0,
        agents=2,
        rate_per_hour=0.0,
        scale=scale,
        seed=3,
        service_url=f"http://127.0.0.1:{port}",
        start_traffic=False,
        account_sid=defaults.ACCOUNT_SID,
        auth_token=defaults.AUTH_TOKEN,
        talk_time_median_s=600.0,  # the call outlives the round
    )
    answered: dict[str, threading.Event] = {}
    rows: list[dict[str, float]] = []
    log = workdir / "service.log"
    with SimRunner(config) as sim:
        env = service_env(sim, workdir, port, secrets.token_urlsafe(24))

        def on_answer(conversation: Conversation) -> None:
            answered.setdefault(conversation.interaction_id, threading.Event()).set()

        sim.on_conversation(on_answer)
        url = f"http://127.0.0.1:{port}"
        first = _spawn(env, port, log)  # migrates the new database: not a restart, not timed
        _healthy_after(url, first, time.monotonic())
        current = first
        for _ in range(rounds):
            _kill(current)
            before = set(answered)
            sim.start_interaction("basic", "inbound")
            call_sid = _wait_new_answer(answered, before)
            spawned_wall, spawned = time.time(), time.monotonic()
            current = _spawn(env, port, log)
            healthz_s = _healthy_after(url, current, spawned)
            healthz_cpu_s = _cpu_s(current.pid)
            first_record_s = _recorded_after(sim, call_sid, spawned_wall, 60.0)
            rows.append(
                {
                    "healthz_s": healthz_s,
                    "healthz_cpu_s": healthz_cpu_s,
                    "first_record_s": first_record_s,
                }
            )
        _kill(current)
    return rows


def _wait_new_answer(answered: dict[str, threading.Event], before: set[str]) -> str:
    deadline = time.monotonic() + 120.0
    while time.monotonic() < deadline:
        for call_sid, event in list(answered.items()):
            if call_sid not in before and event.is_set():
                return call_sid
        time.sleep(0.05)
    raise SystemExit("no agent answered the call within 120 s")


def _summary(values: list[float]) -> dict[str, float]:
    ok = sorted(v for v in values if v == v)
    return {
        "median": round(statistics.median(ok), 3) if ok else float("nan"),
        "min": round(ok[0], 3) if ok else float("nan"),
        "max": round(ok[-1], 3) if ok else float("nan"),
        "missed": len(values) - len(ok),
    }


def main() -> None:
    """Parse the options, run the rounds (with busy processes if asked) and print figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--scale", type=float, default=10.0, help="the simulator's clock (x)")
    parser.add_argument("--busy", type=int, default=0, help="CPU-spinning processes meanwhile")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    busy = [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP])  # noqa: S603 - fixed argv
        for _ in range(args.busy)
    ]
    load_before = os.getloadavg()
    try:
        with tempfile.TemporaryDirectory(prefix="flexrec-restart-") as folder:
            rows = run(args.rounds, args.scale, Path(folder))
    finally:
        for process in busy:
            process.kill()
    load_after = os.getloadavg()
    figures = {
        "rounds": rows,
        "healthz_s": _summary([r["healthz_s"] for r in rows]),
        "healthz_cpu_s": _summary([r["healthz_cpu_s"] for r in rows]),
        "first_record_s": _summary([r["first_record_s"] for r in rows]),
        "busy": args.busy,
        "scale": args.scale,
        "load_1min": [round(load_before[0], 2), round(load_after[0], 2)],
    }
    if args.json:
        print(json.dumps(figures, sort_keys=True))
        return
    for name in ("healthz_s", "healthz_cpu_s", "first_record_s"):
        s = figures[name]
        print(f"{name:16s} median {s['median']:6.2f} s  min {s['min']:6.2f}  max {s['max']:6.2f}"
              f"  missed {s['missed']}")  # fmt: skip
    print(f"rounds {len(rows)}, busy {args.busy}, clock x{args.scale:g}, "
          f"load {load_before[0]:.2f} -> {load_after[0]:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
