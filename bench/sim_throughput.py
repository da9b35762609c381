"""How much simulated contact center one core sustains: calls, concurrent calls, webhooks/s.

Runs the simulator (engine + signed webhooks + REST app) pinned to one CPU, posting every
webhook to a local sink server in a separate process (pinned to another CPU when there is one),
and prints figures. With `--audio`, each eligible call gets a dual recording on the customer
leg and its WAV is rendered (flexsim.media.render_media) when the call ends.

    .venv/bin/python bench/sim_throughput.py                  # saturate: calls/s, webhooks/s
    .venv/bin/python bench/sim_throughput.py --audio          # the same with audio rendering
    .venv/bin/python bench/sim_throughput.py --realtime       # 500 agents at scale 1: CPU share
    .venv/bin/python bench/sim_throughput.py --target         # the issue's 50,000 agents, ~6 min

Per-call figures come from the steady state after `--warmup` seconds, and "one core sustains"
is 1 / (CPU per call): on a shared machine expect them to move by 10-20% from run to run.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from typing import Any

from flexsim import free_port

# The target: 50,000 agents, each taking a call every ~6 minutes (IVR, talk, wrap-up
# and idle time between calls): about 140 calls a second in real time.
TARGET_AGENTS = 50_000
TARGET_HANDLE_S = 360.0

SINK_CODE = """
import sys, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off")
"""


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def _start_sink() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    cpus = os.cpu_count() or 1
    cmd = [sys.executable, "-c", SINK_CODE, str(port)]
    if cpus > 1 and os.path.exists("/usr/bin/taskset"):
        cmd = ["/usr/bin/taskset", "-c", str(cpus - 1), *cmd]
    proc = subprocess.Popen(cmd)  # noqa: S603 - fixed argv, no user input
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc, f"http://127.0.0.1:{port}"
        time.sleep(0.05)
    proc.terminate()
    raise RuntimeError("sink server did not start")


def _finished(sim: Any) -> int:
    return sum(1 for record in sim.engine.records if record.finished)


def _sent(sim: Any) -> int:
    return int(sim.dispatcher.stats.sent)


def _window(
    sim: Any, warm: tuple[float, float, int, int] | None
) -> tuple[float, float, int, int] | None:
    """CPU s, wall s, calls finished and webhooks sent since the warm-up (None: too few)."""
    if warm is None:
        return None
    cpu0, wall0, calls0, hooks0 = warm
    calls = _finished(sim) - calls0
    if calls < 50:
        return None
    return time.process_time() - cpu0, time.monotonic() - wall0, calls, _sent(sim) - hooks0


def _print_window(window: tuple[float, float, int, int], warmup_s: float) -> None:
    """Steady-state figures, what one core sustains, and what the issue's target needs."""
    cpu, wall, calls, hooks = window
    per_call_ms = cpu / calls * 1000
    print(f"  steady state           {wall:8.2f} s   (after a {warmup_s:.0f} s warm-up)")
    print(f"    calls finished       {calls:8d}   ({calls / wall:.1f}/s)")
    print(f"    webhooks sent        {hooks:8d}   ({hooks / wall:.0f}/s)")
    print(f"    webhooks per call    {hooks / calls:8.1f}")
    print(f"    CPU per call         {per_call_ms:8.2f} ms  ({cpu / wall:.0%} of one core)")
    print(f"    CPU per webhook      {cpu / max(hooks, 1) * 1000:8.3f} ms")
    print(
        f"  one core sustains      {1000 / per_call_ms:8.0f} calls/s   "
        f"(~{1000 / per_call_ms * hooks / calls:.0f} webhooks/s)"
    )
    needed = TARGET_AGENTS / TARGET_HANDLE_S
    print(
        f"  control plane of a {TARGET_AGENTS:,}-agent center needs ~{needed:.0f} calls/s "
        f"(~{needed * per_call_ms / 1000:.2f} cores of simulator CPU at this rate)"
    )


def _add_audio(sim: Any) -> dict[str, float]:
    """Record every connected customer leg (dual) and render each finished recording."""
    from flexsim import render_media

    world = sim.world
    figures = {"rendered": 0.0, "render_cpu_s": 0.0, "audio_s": 0.0}

    def on_started(timeline: Any, task: Any, worker: Any) -> None:
        call = world.calls.get(timeline.customer_call_sid)
        if call is not None and call.status == "in-progress" and not call.recordings:
            world.start_recording(call, channels=2)

    def on_finished(record: Any) -> None:
        for sid in record.call_sids:
            for rec_sid in world.calls[sid].recordings:
                recording = world.recordings[rec_sid]
                if recording.status != "completed":
                    continue
                started = time.process_time()
                render_media(world, recording, "wav", None)
                figures["render_cpu_s"] += time.process_time() - started
                figures["rendered"] += 1
                figures["audio_s"] += recording.duration_s or 0

    sim.engine.on_conversation_started(on_started)
    sim.engine.on_interaction_finished(on_finished)
    return figures


def run(args: argparse.Namespace) -> None:
    """Run one measurement and print its figures."""
    from flexsim import SimConfig, SimRunner

    _pin(0)
    sink, sink_url = _start_sink()
    try:
        config = SimConfig(
            port=0,
            agents=args.agents,
            rate_per_hour=args.rate,
            calls=args.calls,
            scale=args.scale,
            seed=1,
            service_url=sink_url,
            talk_time_median_s=args.talk_time,
            webhook_timeout_s=30.0,
        )
        sim = SimRunner(config)
        audio = _add_audio(sim) if args.audio else None
        peak_active = 0
        cpu0, wall0 = time.process_time(), time.monotonic()
        # Per-call figures come from the window after the warm-up: by then calls finish as fast
        # as they start, so the CPU of calls still in progress does not count against too few.
        warm: tuple[float, float, int, int] | None = None
        with sim:
            deadline = wall0 + args.duration
            while time.monotonic() < deadline and not sim.done():
                peak_active = max(peak_active, sim.engine.active)
                if warm is None and time.monotonic() - wall0 >= args.warmup:
                    warm = (time.process_time(), time.monotonic(), _finished(sim), _sent(sim))
                time.sleep(0.05)
            wall = time.monotonic() - wall0
            cpu = time.process_time() - cpu0
            window = _window(sim, warm)
            snap = sim.engine.snapshot()
            hooks = sim.dispatcher.stats
            pending = sim.dispatcher.pending
        mode = "audio on" if args.audio else "audio off"
        share = cpu / wall
        print(f"sim_throughput ({mode}; agents={args.agents}, scale={args.scale})")
        print(f"  arrivals               {args.rate:8.0f} per simulated hour")
        print(f"  wall time              {wall:8.2f} s")
        print(f"  simulator CPU          {cpu:8.2f} s   ({share:.0%} of one core)")
        print(f"  interactions finished  {snap['finished']:8d}   ({snap['finished'] / wall:.1f}/s)")
        print(f"  peak concurrent calls  {peak_active:8d}")
        print(f"  webhooks sent          {hooks.sent:8d}   ({hooks.sent / wall:.0f}/s)")
        print(f"  webhooks failed        {hooks.failed:8d}   ({pending} still pending at the end)")
        if window is not None:
            _print_window(window, args.warmup)
        elif snap["finished"]:
            print(f"  webhooks per call      {hooks.sent / snap['finished']:8.1f}")
            print(f"  CPU per call           {cpu / snap['finished'] * 1000:8.2f} ms")
        if audio is not None:
            print(
                f"  recordings rendered    {audio['rendered']:8.0f}   "
                f"({audio['audio_s']:.0f} s of audio in {audio['render_cpu_s']:.2f} CPU s)"
            )
        if snap["engine_errors"]:
            print(f"  engine errors          {snap['engine_errors']:8d}")
    finally:
        sink.terminate()
        sink.wait(10)


def main() -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--audio", action="store_true", help="render each recording's WAV")
    parser.add_argument("--realtime", action="store_true", help="500 agents at scale 1, 30 s")
    parser.add_argument(
        "--target",
        action="store_true",
        help=f"{TARGET_AGENTS:,} agents at scale 1, ~{TARGET_AGENTS / TARGET_HANDLE_S:.0f} calls/s",
    )
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--rate", type=float, default=None, help="arrivals per simulated hour")
    parser.add_argument("--scale", type=float, default=None)
    parser.add_argument("--calls", type=int, default=None)
    parser.add_argument("--talk-time", type=float, default=60.0)
    parser.add_argument("--duration", type=float, default=30.0, help="real seconds at most")
    parser.add_argument(
        "--warmup", type=float, default=10.0, help="real seconds before per-call figures count"
    )
    args = parser.parse_args()
    if args.target:
        # the whole contact center in real time; calls last minutes, so the steady state (as
        # many calls ending as starting) needs a long warm-up
        args.agents = TARGET_AGENTS
        args.scale = 1.0
        args.talk_time = 120.0
        args.rate = TARGET_AGENTS / TARGET_HANDLE_S * 3600
        args.calls = None
        args.duration = max(args.duration, 360.0)
        args.warmup = max(args.warmup, 240.0)
    elif args.realtime:
        args.agents = 500
        args.scale = args.scale or 1.0
        args.talk_time = 120.0
        # about every agent busy: ~150 s per call (IVR, talk, wrap) over 500 agents
        args.rate = args.rate or 500 * 3600 / 150
        args.calls = None
    else:
        args.scale = args.scale or 20.0
        args.rate = args.rate or 200 * 3600 / 90 * 1.0
        args.calls = args.calls or 3000
    run(args)


if __name__ == "__main__":
    main()
