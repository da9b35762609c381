"""What one core of the service pays for a real call mix, and so how many calls it carries.

`webhook_throughput.py` offers a synthetic mix (mostly repeats of tasks already recorded).
Real traffic is what the simulator's contact center sends: every TaskRouter event of a call's
life that the workspace's EventsFilter lets through (the one `flexrec setup` writes, as on a
configured account; `--all-event-types` for a workspace without it), conference, call and
recording status callbacks, then the archive and the analysis of each recording. This runs
`flexrec serve` (its queue's jobs in a niced `flexrec worker` beside
it, as `flexrec serve` runs them, or with `--jobs-in-process` as its threads; pinned to one CPU)
against `flexrec sim` producing a day of calls (pinned to the other CPU), waits until every
webhook is delivered (the simulator then stops) and the archive has caught up, then prints:

- the service's CPU per call, all told and split: recording control (HTTP, signatures,
  handlers, recording jobs, attribute writes) per call, the archive job and the analysis job
  per recording (their threads' own CPU, from the service's `flexrec_job_cpu_seconds`);
- what the database was asked per call: SQL statements and write transactions (the service's
  `flexrec_db_*` counters; they do not depend on how fast the machine is);
- how long the service took to answer each kind of webhook (p50, p99, max, from the
  simulator's delivery log) beside Twilio's limits: 15 s for a TaskRouter workspace callback,
  5 s for an Event Streams batch (`--event-streams`);
- how long a recording took to start: from the arrival of the webhook that started it to
  Twilio accepting the create (`flexrec_recording_start_seconds`), and that in REST round trips
  of the simulator's configured latency (`--latency`, 150 ms by default as issue 18 measured,
  kept in real time on the compressed day);
- the Twilio calls it made, by gateway method: requests per call, and the CPU of one request
  all told and in the transport alone (urllib3 and the socket; the rest is the SDK and the
  gateway);
- the service's resident memory along the day and once traffic stopped;
- the stored analysis row per recording (waveform peaks, segments, metrics).

    .venv/bin/python bench/service_day.py                      # 150 calls, about a minute
    .venv/bin/python bench/service_day.py --json               # the same, one JSON line
    .venv/bin/python bench/service_day.py --database sqlite,postgresql   # side by side
    .venv/bin/python bench/service_day.py --calls 2000 --json  # memory over a long day

PostgreSQL (and `--queue redis`) are throwaway servers started from Debian's binaries as the
tests start them; the database server's own CPU is reported apart (it is not the service's).
Figures only. The offered rate is kept below what the core carries (`core_busy` says how much
of it the day used): a backlog would make calls end before their recording starts, which is
not the mix being measured.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from figures import (
    Metrics,
    answer_times,
    cpu_busy_s,
    cpu_ns,
    cpu_seconds,
    get_text,
    load_average,
    median_latency_ms,
    per,
    percentile,
    rounded,
    rss_mb,
    run_queue_wait_s,
)
from webhook_throughput import service_env  # this folder is on sys.path when run

from flexrec.webhooks import paths
from flexrec.webhooks.events import TASKROUTER_EVENTS_USED
from flexsim import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import RunningServer, throwaway_postgres, throwaway_redis

# The EventsFilter `flexrec setup` writes on the workspace (the types flexrec acts on).
_SETUP_FILTER = ",".join(TASKROUTER_EVENTS_USED)
ARCHIVE_JOB, ANALYSIS_JOB = "archive_recording", "archive_analyse"
# `flexrec serve` with tracemalloc on from argv[2] seconds after start (start-up is not what
# grows), dumping a snapshot every argv[2] seconds into argv[3] (--trace-memory): what the
# Python heap holds as the day goes on.
TRACED_SERVE = """
import sys, threading, time, tracemalloc
port, every, folder = sys.argv[1], float(sys.argv[2]), sys.argv[3]
def dump():
    time.sleep(every)
    tracemalloc.start(8)
    n = 0
    while True:
        time.sleep(every)
        n += 1
        tracemalloc.take_snapshot().dump(f"{folder}/heap-{n:03d}.snapshot")
threading.Thread(target=dump, daemon=True).start()
sys.argv = ["flexrec", "serve", "--port", port, "--jobs-in-process"]
from flexrec.cli import main
main()
"""
# `flexrec serve` noting when each queue job ran and how long writes waited for SQLite's write
# lock (argv[2]: a JSON line of what is new, appended every second), so the answers can be split
# by whether the archive or the analysis job was running, and lock waits told apart.
TIMED_SERVE = """
import datetime, json, os, sys, threading, time
import huey.api
port, out = sys.argv[1], sys.argv[2]
spans = []
execute = huey.api.Huey._execute
def timed(self, task, timestamp):
    started, cpu = time.time(), time.thread_time()
    try:
        return execute(self, task, timestamp)
    finally:
        spans.append((task.name, started, time.time(), time.thread_time() - cpu, task.id))
huey.api.Huey._execute = timed
# When each job was put on the queue (and when it was due, for a delayed one or a retry): with
# the spans of the process that ran it, how long a job waited for a consumer to pick it up.
enqueued = []
enqueue = huey.api.Huey.enqueue
def noted(self, task):
    eta = getattr(task, "eta", None)
    if eta is not None and eta.tzinfo is None:  # huey keeps naive UTC (or local) times
        eta = eta.replace(tzinfo=datetime.timezone.utc) if self.utc else eta
    enqueued.append((getattr(task, "id", None), time.time(), eta.timestamp() if eta else None))
    return enqueue(self, task)
huey.api.Huey.enqueue = noted
# The consumer's own loops, their thread's CPU (a worker's includes the jobs it ran, told apart
# by the spans): what a jobs process spends polling the queue and moving scheduled jobs.
import huey.consumer
loops = {"worker": 0.0, "scheduler": 0.0}
def looped(cls, key):
    loop = cls.loop
    def run(self, now=None):
        started = time.thread_time()
        try:
            return loop(self, now)
        finally:
            loops[key] += time.thread_time() - started
    cls.loop = run
looped(huey.consumer.Worker, "worker")
looped(huey.consumer.Scheduler, "scheduler")
# How long writers waited for SQLite's write lock: this process's lock (threads queue on it),
# then BEGIN IMMEDIATE (other connections and processes).
import sqlalchemy, flexrec.recording.store as store
waits = {"lock": [], "begin": [], "create": []}
import collections, traceback
holds = collections.Counter()  # (where, milliseconds held) of holds over 50 ms
waits["hold"] = []
held = threading.local()
# --writes-by-origin: each write transaction (a take of the write lock) by who took it: the
# webhook kind (the event a handler's frame holds) or the lane, and the flexrec function that
# opened it. Off by default: walking the stack on every write costs the service CPU.
origins = collections.Counter() if os.environ.get("BENCH_WRITES_BY_ORIGIN") else None
_HANDLERS = {"handle": "event_type", "handle_conference_event": "event",
             "handle_call_status": "call_status", "handle_recording_status": "status"}
def origin():
    frame, opener, kind = sys._getframe(2), None, None
    while frame is not None:
        code = frame.f_code
        if "/flexrec/" in code.co_filename and "store.py" not in code.co_filename:
            if opener is None and "contextlib" not in code.co_filename:
                opener = code.co_name
                effect, memo = frame.f_locals.get("effect"), frame.f_locals.get("memo")
                if opener == "_by_memo" and effect is not None and memo is not None:
                    # What the memo path wrote: the task's changed columns, the reservation,
                    # and whether it planned.
                    moved = [n for n in ("status", "customer_call_sid", "conference_sid",
                                         "direction", "channel", "queue_sid", "workflow_sid")
                             if getattr(effect.state, n) != getattr(memo.state, n)]
                    moved += ["attributes"] if effect.digest != memo.attributes_digest else []
                    moved += ["reservation"] if effect.reservation_changed else []
                    moved += ["replan"] if effect.replan else []
                    moved += ["link_check"] if effect.link_check else []
                    opener += "[" + ",".join(moved) + "]"
            field = _HANDLERS.get(code.co_name)
            event = frame.f_locals.get("event") if field else None
            if event is not None and hasattr(event, field):
                room = code.co_name.replace("handle_", "").replace("_event", "")
                said = getattr(event, field)
                kind = said if room == "handle" else f"{room}/{said}"
        frame = frame.f_back
    return f"{kind or thread_group()} {opener}"
class TimedLock:
    def __init__(self, lock):
        self.lock = lock
    def acquire(self, *args):
        started = time.perf_counter()
        got = self.lock.acquire(*args)
        now = time.perf_counter()
        waits["lock"].append(now - started)
        if getattr(held, "depth", 0) == 0:
            held.at, held.depth = now, 0
            if origins is not None:
                origins[origin()] += 1
        held.depth += 1
        return got
    def release(self):
        held.depth -= 1
        if held.depth == 0:
            took = time.perf_counter() - held.at
            waits["hold"].append(took)
            if took > 0.05:
                where = [f"{f.name}:{f.lineno}" for f in traceback.extract_stack(limit=12)
                         if "/flexrec/" in f.filename and "store.py" not in f.filename]
                holds[" < ".join(reversed(where[-4:]))] += 1
        self.lock.release()
lock_for = store._sqlite_write_lock
timed_locks = {}
def timed_lock(bind):
    lock = lock_for(bind)
    return timed_locks.setdefault(id(lock), TimedLock(lock))
store._sqlite_write_lock = timed_lock
class TimedBegin:  # BEGIN IMMEDIATE runs on the driver's cursor: no SQLAlchemy event sees it
    def __init__(self, prepared):
        self.prepared = prepared
    def execute(self, executor, params=None):
        started = time.perf_counter()
        try:
            return self.prepared.execute(executor, params)
        finally:
            waits["begin"].append(time.perf_counter() - started)
store._BEGIN_IMMEDIATE = TimedBegin(store._BEGIN_IMMEDIATE)
# Each Twilio call by the gateway method that made it (the outermost one on its thread): calls,
# HTTP requests, the thread's CPU in all of it and in the transport alone (urllib3, sockets).
import flexrec.twilio.client as twilio_client, flexrec.twilio.gateway as gateway
twilio = collections.defaultdict(lambda: [0, 0, 0.0, 0.0])
in_call = threading.local()
# CPU by thread, threads grouped by name (a pool's numbered threads together: the starts' lane
# flexrec-start, the after-answer lane flexrec-after, the webhook handlers, the event loop),
# and of it in Twilio calls: what each lane spends outside its requests.
import re
twilio_by_thread = collections.defaultdict(dict)  # group -> {kind: calls, '': CPU s}
def thread_group(name=None):
    return re.sub(r"_[0-9]+$", "", name or threading.current_thread().name)
def thread_cpu():
    groups = collections.defaultdict(float)
    for thread in threading.enumerate():
        try:
            clock = time.pthread_getcpuclockid(thread.ident)
            groups[thread_group(thread.name)] += time.clock_gettime(clock)
        except (OSError, TypeError):  # ended between the listing and the read
            pass
    return dict(groups)
def counted(kind, method):
    def call(*args, **kwargs):
        if getattr(in_call, "kind", None) is not None:
            return method(*args, **kwargs)
        in_call.kind, started, wall = kind, time.thread_time(), time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            in_call.kind = None
            twilio[kind][0] += 1
            twilio[kind][2] += time.thread_time() - started
            by_thread = twilio_by_thread[thread_group()]
            by_thread[kind] = by_thread.get(kind, 0) + 1
            by_thread[""] = by_thread.get("", 0.0) + time.thread_time() - started
            if kind == "create_recording":  # a start's round trip as the service saw it
                waits["create"].append(time.perf_counter() - wall)
    return call
for kind in dir(gateway.SdkGateway):
    if not kind.startswith("_") and callable(getattr(gateway.SdkGateway, kind)):
        setattr(gateway.SdkGateway, kind, counted(kind, getattr(gateway.SdkGateway, kind)))
def transported(method):
    def send(*args, **kwargs):
        started = time.thread_time()
        try:
            return method(*args, **kwargs)
        finally:
            kind = getattr(in_call, "kind", None) or "outside the gateway"
            twilio[kind][1] += 1
            twilio[kind][3] += time.thread_time() - started
    return send
for name in ("request", "download"):
    setattr(twilio_client.PooledHttpClient, name,
            transported(getattr(twilio_client.PooledHttpClient, name)))
def dump():
    # What came since the last line, one JSON line a second: rewriting the whole day's lists
    # every second cost the service ~0.6 ms of CPU a call over a 150-call day (more on longer
    # days), counted as the service's own.
    sent = {"jobs": 0, "enqueued": 0, **{k: 0 for k in waits}}
    with open(out, "a") as f:
        while True:
            time.sleep(1.0)
            line = {"jobs": spans[sent["jobs"]:], "waits": {}, "long_holds": holds.most_common(8),
                    "twilio": dict(twilio), "enqueued": enqueued[sent["enqueued"]:],
                    "loops": dict(loops), "at": time.time(), "threads": thread_cpu(),
                    "twilio_by_thread": dict(twilio_by_thread),
                    "writes_by_origin": dict(origins or {})}
            sent["jobs"] += len(line["jobs"])
            sent["enqueued"] += len(line["enqueued"])
            for k, v in waits.items():
                line["waits"][k] = v[sent[k]:]
                sent[k] += len(line["waits"][k])
            f.write(json.dumps(line) + "\\n")
            f.flush()
threading.Thread(target=dump, daemon=True).start()
# --profile-lanes DIR: each background lane's work under cProfile on its thread's CPU clock
# (flexrec.recording.background), the lane's stats written to DIR/<lane>.pstats every 5 s.
if os.environ.get("BENCH_PROFILE_LANES"):
    import cProfile, flexrec.recording.background as background
    profiles = {}  # thread name -> (lane, lock, profiler)
    run_timed = background._timed
    def profiled(first, due, call):
        lane, lock, profiler = profiles.setdefault(
            threading.current_thread().name,
            ("start" if first else "after", threading.Lock(), cProfile.Profile(time.thread_time)),
        )
        with lock:  # taken by the dump only between two pieces of work
            profiler.enable()
            try:
                return run_timed(first, due, call)
            finally:
                profiler.disable()
    background._timed = profiled
    def dump_profiles():
        import pstats
        folder = os.environ["BENCH_PROFILE_LANES"]
        while True:
            time.sleep(5.0)
            joined = {}
            for lane, lock, profiler in list(profiles.values()):
                with lock:
                    profiler.create_stats()
                    stats = pstats.Stats(profiler)
                if lane in joined:
                    joined[lane].add(stats)
                else:
                    joined[lane] = stats
            for lane, stats in joined.items():
                stats.dump_stats(f"{folder}/{lane}.pstats")
    threading.Thread(target=dump_profiles, daemon=True).start()
if os.environ.get("BENCH_GIL_SWITCH_INTERVAL_S"):  # compare GIL hand-off intervals
    sys.setswitchinterval(float(os.environ["BENCH_GIL_SWITCH_INTERVAL_S"]))
if os.environ.get("BENCH_ROLE") == "worker":  # --jobs-process: the queue's jobs apart
    sys.argv = ["flexrec", "worker"]
else:
    sys.argv = ["flexrec", "serve", "--port", port]
    if os.environ.get("BENCH_ROLE") == "web":
        sys.argv.append("--no-consumer")
    else:
        sys.argv.append("--jobs-in-process")
from flexrec.cli import main
main()
"""
DONE_STATES = ("verified", "deleted_from_twilio")
# Twilio's answer limits (see flexsim.webhooks.ANSWER_LIMITS_S for the sources).
LIMITS_S = {"taskrouter": 15.0, "event-streams": 5.0}
OTHER_LIMIT_S = 15.0


def _wait(url: str, process: subprocess.Popen[bytes], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            get_text(url)
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout_s:.0f} s")


def _wait_for_line(
    log: Path, line: bytes, process: subprocess.Popen[bytes], timeout_s: float = 120.0
) -> None:
    deadline = time.monotonic() + timeout_s
    while line not in log.read_bytes():
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {line!r} in {log} after {timeout_s:.0f} s")
        time.sleep(0.1)


def _pinned(argv: list[str], cpu: int, priority: int | None = None) -> list[str]:
    taskset = shutil.which("taskset")
    usable = cpu < len(os.sched_getaffinity(0))
    pinned = [taskset, "-c", str(cpu), *argv] if taskset and usable else argv
    # Set before exec, so every thread the process starts inherits it.
    return ["nice", "-n", str(priority), *pinned] if priority is not None else pinned


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    # Run from the log's folder: `python -c` and `-m` put the working directory first on
    # sys.path, so from a checkout they would import its flexrec whatever the interpreter
    # (--against would run this tree twice).
    with log.open("wb") as out:
        return subprocess.Popen(  # noqa: S603
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def _database(kind: str, workdir: Path) -> Iterator[tuple[str, RunningServer | None]]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'data' / 'flexrec.db'}", None
    elif kind == "postgresql":
        with throwaway_postgres() as server:
            yield server.url, server
    else:
        raise SystemExit(f"unknown database {kind!r} (sqlite, postgresql)")


@contextlib.contextmanager
def _queue(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'data' / 'queue.db'}"
    elif kind == "redis":
        with throwaway_redis() as server:
            yield server.url
    else:
        raise SystemExit(f"unknown queue {kind!r} (sqlite, redis)")


class Day:
    """The simulator's progress, its delivery log, and the memory of the service (and of its
    jobs worker) along the way."""

    def __init__(
        self, sim_url: str, service_pid: int, calls: int, worker_pid: int | None = None
    ) -> None:
        self.sim_url = sim_url
        self.service_pid = service_pid
        self.worker_pid = worker_pid
        self.step = max(10, calls // 10)
        self.stats: dict[str, Any] = {}
        self.log: dict[str, dict[str, Any]] = {}
        self.rss_by_calls: dict[str, float] = {}
        self.worker_rss_by_calls: dict[str, float] = {}
        self.sim_cpu_s = 0.0  # the simulator's CPU, last read before it stopped

    def follow(self, sim: subprocess.Popen[bytes], deadline: float) -> None:
        """Until the simulator stops by itself (calls done, every webhook delivered): its stats,
        its delivery log (the newest 5,000, collected as it goes) and the service's RSS."""
        polls = 0
        while sim.poll() is None and time.monotonic() < deadline:
            try:
                self.stats = json.loads(get_text(self.sim_url + "/_sim/stats"))
                if polls % 4 == 0 or not self.stats.get("webhooks", {}).get("pending", 1):
                    page = json.loads(get_text(self.sim_url + "/_sim/webhooks?limit=5000"))
                    self.log.update((str(e["id"]) + str(e["at"]), e) for e in page["deliveries"])
            except OSError:
                pass  # stopping
            self.sim_cpu_s = max(self.sim_cpu_s, cpu_seconds(sim.pid))
            finished = int(self.stats.get("engine", {}).get("finished", 0))
            mark = finished // self.step * self.step
            if mark and str(mark) not in self.rss_by_calls:
                self.rss_by_calls[str(mark)] = round(rss_mb(self.service_pid)[0], 1)
                if self.worker_pid is not None:
                    self.worker_rss_by_calls[str(mark)] = round(rss_mb(self.worker_pid)[0], 1)
            polls += 1
            time.sleep(0.5)


def _settle(
    service_url: str, worker_spans: Path | None, timeout_s: float = 120.0, quiet_s: float = 4.0
) -> None:
    """Wait until the archive and analysis jobs stop running (the day's last recordings), in
    the service or, with `--jobs-process`, in the worker (its span file)."""
    deadline = time.monotonic() + timeout_s
    last: tuple[float, float] | None = None
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        if worker_spans is not None:
            jobs = [span[0] for span in _timed_serve(worker_spans).get("jobs", [])]
            runs = (float(jobs.count(ARCHIVE_JOB)), float(jobs.count(ANALYSIS_JOB)))
        else:
            metrics = Metrics.scrape(service_url)
            runs = (
                metrics.total("flexrec_job_cpu_seconds_count", job=ARCHIVE_JOB),
                metrics.total("flexrec_job_cpu_seconds_count", job=ANALYSIS_JOB),
            )
        if runs != last:
            last, quiet_since = runs, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
        time.sleep(0.5)


def stored_analyses(database_url: str) -> dict[str, float]:
    """Archived and analysed recordings, and the stored size of an analysis row (mean bytes)."""
    engine = sa.create_engine(database_url)
    try:
        columns = [c["name"] for c in sa.inspect(engine).get_columns("recording_analyses")]
        if engine.dialect.name == "postgresql":
            sizes = " + ".join(f"coalesce(pg_column_size({c}), 0)" for c in columns)
        else:
            sizes = " + ".join(f"coalesce(length(CAST({c} AS BLOB)), 0)" for c in columns)
        states = ", ".join(f"'{s}'" for s in DONE_STATES)
        with engine.connect() as conn:
            archived = conn.execute(
                sa.text(f"SELECT count(*) FROM archived_recordings WHERE state IN ({states})")  # noqa: S608
            ).scalar_one()
            # Analyses that failed (a mono recording) cost CPU too: they count as analysed.
            analysed = conn.execute(
                sa.text("SELECT count(*) FROM recording_analyses WHERE state IN ('done', 'failed')")
            ).scalar_one()
            # The waveform: JSON `peaks` before issue 18, compressed `waveform` since.
            peaks = "waveform" if "waveform" in columns else "peaks"
            size = (
                f"pg_column_size({peaks})"
                if engine.dialect.name == "postgresql"
                else f"length(CAST({peaks} AS BLOB))"
            )
            row_bytes, peaks_bytes = conn.execute(
                sa.text(
                    f"SELECT avg({sizes}), avg(coalesce({size}, 0))"  # noqa: S608 - our columns
                    " FROM recording_analyses WHERE state = 'done'"
                )
            ).one()
    finally:
        engine.dispose()
    return {
        "archived": int(archived),
        "analysed": int(analysed),
        "row_bytes": float(row_bytes or 0),
        "peaks_bytes": float(peaks_bytes or 0),
    }


def run_day(
    args: argparse.Namespace, database: str, queue: str, python: Path | None = None
) -> dict[str, Any]:
    """One simulated day against a fresh service on `database` / `queue` (the simulator and
    the service run by `python`, another tree's interpreter for --against); its figures."""
    executable = str(python or sys.executable)
    workdir = Path(tempfile.mkdtemp(prefix="flexrec-day-"))
    sim_port, service_port = free_port(), free_port()
    sim_url, service_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{service_port}"
    env = service_env(sim_url, workdir / "data")
    env.pop("FLEXREC_START_ON")  # the default policy: start when the agent answers
    env["FLEXREC_PUBLIC_URL"] = service_url
    flexrec = [executable, "-m", "flexrec"]
    load_before = load_average()
    with _database(database, workdir) as (database_url, db_server), _queue(queue, workdir) as q:
        env["FLEXREC_DATABASE_URL"], env["FLEXREC_QUEUE_URL"] = database_url, q
        spans_file = workdir / "job_spans.json"
        serve = [executable, "-c", TIMED_SERVE, str(service_port), str(spans_file)]
        if args.trace_memory:
            args.trace_memory.mkdir(parents=True, exist_ok=True)
            traced = (str(service_port), str(args.trace_every), str(args.trace_memory))
            serve = [executable, "-c", TRACED_SERVE, *traced]
        apart = args.jobs_process is not None and not args.trace_memory
        worker_spans = workdir / "worker_spans.json" if apart else None
        role = {"BENCH_ROLE": "web"} if apart else {}
        if args.writes_by_origin:
            role["BENCH_WRITES_BY_ORIGIN"] = "1"
        if args.profile_lanes:
            args.profile_lanes.mkdir(parents=True, exist_ok=True)
            role["BENCH_PROFILE_LANES"] = str(args.profile_lanes.resolve())
        service = _start(_pinned(serve, 0, args.priority), env | role, workdir / "service.log")
        sim: subprocess.Popen[bytes] | None = None
        worker: subprocess.Popen[bytes] | None = None
        try:
            _wait(service_url + "/healthz", service)
            if worker_spans is not None:
                # The queue's jobs in a process of their own on the same core, `nice`d: the
                # kernel, not the GIL, decides who runs when a webhook and a job both can.
                argv = [executable, "-c", TIMED_SERVE, "0", str(worker_spans)]
                worker = _start(
                    _pinned(argv, 0, args.jobs_process),
                    env | {"BENCH_ROLE": "worker"},
                    workdir / "worker.log",
                )
                # Its start-up (imports, checks: 1-2 s of CPU, several seconds niced on a busy
                # machine) is not the day's work: its CPU is read once it says it runs.
                _wait_for_line(workdir / "worker.log", b"worker_started", worker)
            worker_cpu0 = cpu_seconds(worker.pid) if worker else 0.0
            switches0 = context_switches(service.pid)
            before = Metrics.scrape(service_url)
            cpu0, began, began_wall = cpu_seconds(service.pid), time.monotonic(), time.time()
            waited0 = run_queue_wait_s(service.pid)
            core0 = cpu_busy_s(0)
            db_cpu0 = cpu_seconds(db_server.pid, tree=True) if db_server else 0.0
            sim_argv = [
                *flexrec,
                *("sim", "--port", str(sim_port), "--service-url", service_url),
                *("--agents", str(args.agents), "--rate", str(args.rate)),
                *("--scale", str(args.scale), "--calls", str(args.calls), "--seed", str(args.seed)),
                *("--latency", args.latency, "--latency-real-time"),
                *(["--event-streams"] if args.event_streams else []),
                *(["--events-filter", _SETUP_FILTER] if args.events_filter else []),
            ]
            sim = _start(_pinned(sim_argv, 1, args.priority), env, workdir / "sim.log")
            _wait(sim_url + "/_sim/stats", sim)
            day = Day(sim_url, service.pid, args.calls, worker.pid if worker else None)
            day.follow(sim, time.monotonic() + 60 + 3 * args.calls)
            traffic_s = time.monotonic() - began
            switches = [
                n - n0 for n, n0 in zip(context_switches(service.pid), switches0, strict=True)
            ]
            waited = run_queue_wait_s(service.pid) - waited0
            core = [now - then for now, then in zip(cpu_busy_s(0), core0, strict=True)]
            service_cpu = cpu_seconds(service.pid) - cpu0
            sim_cpu = day.sim_cpu_s
            _settle(service_url, worker_spans)
            elapsed = time.monotonic() - began
            cpu = cpu_seconds(service.pid) - cpu0
            jobs_process_cpu = cpu_seconds(worker.pid) - worker_cpu0 if worker else None
            db_cpu = cpu_seconds(db_server.pid, tree=True) - db_cpu0 if db_server else None
            counted = Metrics.scrape(service_url).minus(before)
            # Traffic stopped and the archive caught up: does memory come back down, and what
            # do the processes burn with nothing to do (timers, chores, polling)? That is paid
            # every second of a day, however many calls it has.
            idle_pids = [service.pid] + ([worker.pid] if worker else [])
            idle0, idle_at = sum(cpu_ns(p, tree=False) for p in idle_pids), time.monotonic()
            time.sleep(args.idle)
            idle_ns = sum(cpu_ns(p, tree=False) for p in idle_pids) - idle0
            idle_ms_per_s = idle_ns / 1e6 / (time.monotonic() - idle_at)
            rss_end, rss_peak = rss_mb(service.pid)
            worker_rss = rss_mb(worker.pid) if worker else None
            stored = stored_analyses(database_url)
        finally:
            if sim is not None:
                _stop(sim)
            if worker is not None:
                _stop(worker)
            _stop(service)
    timed = _timed_serve(spans_file)
    spans = _job_spans(timed)
    worker_timed = _timed_serve(worker_spans) if worker_spans is not None else {}
    upkeep_s: float | None = None
    if worker_spans is not None:
        # The jobs ran in the worker: their CPU is the worker's (from its spans, by job), and
        # the day's all told is both processes' (the calibration then counts the same).
        spans = _job_spans(worker_timed)
        # What the worker spent outside every job: start-up's tail, the queue's polling and
        # scheduler, metrics, the parent watch, this bench's own timers.
        upkeep_s = (jobs_process_cpu or 0.0) - sum(job_cpu for *_, job_cpu in spans)
        loops = worker_timed.get("loops", {})
        polling_s = loops.get("worker", 0.0) - sum(job_cpu for *_, job_cpu in spans)
        for name, *_, job_cpu in spans:
            counted.samples[("flexrec_job_cpu_seconds_sum", frozenset({("job", name)}))] = (
                counted.samples.get(
                    ("flexrec_job_cpu_seconds_sum", frozenset({("job", name)})), 0.0
                )
                + job_cpu
            )
        cpu += jobs_process_cpu or 0.0
    figures = day_figures(args, database, queue, day, counted, cpu, elapsed, traffic_s, stored)
    figures.update(tail_figures(counted, waited, traffic_s, figures["webhooks"]))
    figures["jobs_process_nice"] = args.jobs_process
    figures["jobs_process_cpu_s"] = (
        round(jobs_process_cpu, 2) if jobs_process_cpu is not None else None
    )
    # control_cpu_ms_per_call stays what it was (both processes, all but the archive and
    # analysis jobs): the worker's upkeep is in it; the service's part is printed apart.
    calls = figures["calls"]
    figures["worker_upkeep_cpu_ms_per_call"] = per(upkeep_s, calls, 1000) if upkeep_s else None
    figures["service_control_cpu_ms_per_call"] = (
        per(figures["control_cpu_ms_per_call"] * calls / 1000 - upkeep_s, calls, 1000)
        if upkeep_s is not None and figures["control_cpu_ms_per_call"] is not None
        else figures["control_cpu_ms_per_call"]
    )
    figures.update(job_start_waits(worker_timed or timed, timed, worker_timed))
    if upkeep_s is not None:
        # Of the upkeep: the queue workers' loops outside their jobs (polling, dequeues), the
        # scheduler's loop (scheduled and periodic jobs moved to the queue), and the rest.
        scheduler_s = worker_timed.get("loops", {}).get("scheduler", 0.0)
        figures["worker_upkeep_ms_per_call_by_part"] = {
            "queue_polling": per(polling_s, calls, 1000),
            "scheduler": per(scheduler_s, calls, 1000),
            "rest": per(upkeep_s - polling_s - scheduler_s, calls, 1000),
        }
    if worker_rss is not None:
        figures.update(
            jobs_process_rss_mb_end=round(worker_rss[0], 1),
            jobs_process_rss_mb_peak=round(worker_rss[1], 1),
            jobs_process_rss_mb_by_calls=day.worker_rss_by_calls,
        )
    figures.update(answers_beside_jobs(day.log.values(), [(n, a, b) for n, a, b, _ in spans]))
    figures.update(write_lock_waits(timed))
    if args.writes_by_origin:
        figures["writes_by_origin_per_call"] = {
            where: round(n / calls, 3)
            for where, n in sorted(timed.get("writes_by_origin", {}).items(), key=lambda w: -w[1])
        }
    if worker_spans is not None:  # the jobs process's own waits, at SQLite's lock the same file
        worker_waits = write_lock_waits(_timed_serve(worker_spans))
        figures.update({f"jobs_process_{k}": v for k, v in worker_waits.items()})
    figures.update(twilio_calls(timed, figures["calls"]))
    figures.update(thread_figures(timed, began_wall, figures["calls"]))
    figures.update(
        sim_core_busy=round(sim_cpu / traffic_s, 3) if traffic_s else None,
        # Once the day was over (--idle s): the service's and its jobs worker's CPU a second.
        idle_cpu_ms_per_s=round(idle_ms_per_s, 2),
        # The service's threads (those alive at the end) while traffic lasted: how often they
        # slept and woke (voluntary) or were put off the CPU (involuntary), per webhook.
        context_switches_per_webhook=per(sum(switches), figures["webhooks"]),
        context_switches_per_webhook_by_kind={
            "voluntary": per(switches[0], figures["webhooks"]),
            "involuntary": per(switches[1], figures["webhooks"]),
        },
        # What else ran on the service's core while traffic lasted, and what the host stole.
        others_on_service_core=round((core[0] - service_cpu) / traffic_s, 3) if traffic_s else None,
        steal_on_service_core=round(core[1] / traffic_s, 3) if traffic_s else None,
        database_server_cpu_ms_per_call=per(db_cpu or 0, figures["calls"], 1000)
        if db_cpu is not None
        else None,
        rss_mb_end=round(rss_end, 1),
        rss_mb_peak=round(rss_peak, 1),
        rss_mb_by_calls=day.rss_by_calls,
        load_average_before=load_before,
        load_average_after=load_average(),
    )
    if args.keep:
        figures["kept"] = str(workdir)
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def context_switches(pid: int) -> list[int]:
    """Voluntary and involuntary context switches of the live threads of `pid`."""
    counts = [0, 0]
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            for line in status.read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    counts[0] += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    counts[1] += int(line.split()[1])
        except (OSError, ValueError):
            continue  # a thread that ended meanwhile
    return counts


def _timed_serve(path: Path) -> dict[str, Any]:
    """The timers' lines (TIMED_SERVE) joined: lists added up, the latest counts kept."""
    try:
        text = path.read_text()
    except OSError:
        return {}  # --trace-memory runs the service without the timers
    found: dict[str, Any] = {"jobs": [], "waits": {}, "enqueued": []}
    for raw in text.splitlines():
        try:
            line = json.loads(raw)
        except ValueError:
            continue  # the line being written when the service stopped
        found["jobs"] += line["jobs"]
        found["enqueued"] += line.get("enqueued", [])
        for kind, new in line["waits"].items():
            found["waits"].setdefault(kind, []).extend(new)
        found["long_holds"], found["twilio"] = line["long_holds"], line["twilio"]
        found["loops"] = line.get("loops", {})
        found["writes_by_origin"] = line.get("writes_by_origin", {})
        if "threads" in line:
            found.setdefault("thread_cpu", []).append(
                (line["at"], line["threads"], line.get("twilio_by_thread", {}))
            )
    return found


# The service's threads whose CPU per call is printed (grouped as the timers group them).
THREAD_GROUPS = {
    "MainThread": "event loop (uvicorn, the edge)",
    "webhook": "webhook handlers",
    "flexrec-start": "starts lane",
    "flexrec-after": "after-answer lane (links, settles)",
    "flexrec-due": "timer",
    "flexrec-chore": "chores",
}


def thread_figures(timed: dict[str, Any], began_wall: float, calls: int) -> dict[str, Any]:
    """The service's CPU per call by thread group over the day (from the timers' last line
    before the day began to their last line), and of it in Twilio calls (the gateway's)."""
    snapshots = timed.get("thread_cpu", [])
    if not snapshots or not calls:
        return {}
    first = max((s for s in snapshots if s[0] <= began_wall), key=lambda s: s[0], default=None)
    _, threads0, twilio0 = first if first is not None else (0.0, {}, {})
    _, threads1, twilio1 = snapshots[-1]
    groups = sorted(set(threads1) | set(twilio1))
    cpu = {g: threads1.get(g, 0.0) - threads0.get(g, 0.0) for g in groups}

    def less(group: str, key: str) -> float:
        return float(twilio1.get(group, {}).get(key, 0) - twilio0.get(group, {}).get(key, 0))

    return {
        "thread_cpu_ms_per_call": {g: per(v, calls, 1000) for g, v in cpu.items() if v > 0},
        "thread_twilio_cpu_ms_per_call": {
            g: per(less(g, ""), calls, 1000) for g in groups if less(g, "") > 0
        },
        # Gateway calls per call, by thread group and method (outermost gateway calls).
        "thread_twilio_calls_per_call": {
            g: {k: per(less(g, k), calls, 1) for k in sorted(twilio1.get(g, {})) if k}
            for g in groups
            if twilio1.get(g)
        },
    }


def _job_spans(timed: dict[str, Any]) -> list[tuple[str, float, float, float]]:
    """(job, started, ended, its thread's CPU seconds) of each queue job the process ran."""
    return [(str(n), float(a), float(b), float(c)) for n, a, b, c, *_ in timed.get("jobs", [])]


def job_start_waits(ran: dict[str, Any], *enqueuers: dict[str, Any]) -> dict[str, Any]:
    """How long each job the process `ran` waited from due to started: due is when it was put
    on the queue (by any of `enqueuers`, the processes' timers), or its eta for a delayed job or
    a retry; the latest due before the start counts (a retry is its own wait)."""
    due: dict[str, list[float]] = {}
    for timed in enqueuers:
        for task_id, at, eta in timed.get("enqueued", []):
            if task_id is not None:
                due.setdefault(str(task_id), []).append(float(eta) if eta else float(at))
    waits_ms = []
    for name, started, _ended, _cpu, *rest in ran.get("jobs", []):
        before = [d for d in due.get(str(rest[0]) if rest else "", []) if d <= started + 0.001]
        if before and name in (ARCHIVE_JOB, ANALYSIS_JOB):
            waits_ms.append(1000 * (float(started) - max(before)))
    return {
        "job_start_wait_ms_p50": rounded(percentile(waits_ms, 50)),
        "job_start_wait_ms_p99": rounded(percentile(waits_ms, 99)),
        "job_start_wait_ms_max": rounded(max(waits_ms)) if waits_ms else None,
        "job_start_waits_timed": len(waits_ms),
    }


def twilio_calls(timed: dict[str, Any], calls: int) -> dict[str, Any]:
    """The service's Twilio calls by gateway method: requests per call, and the CPU of one
    request all told and in the transport alone (the rest is the SDK and the gateway). The
    control figure leaves out the archive's media downloads (one per recording)."""
    rows = {str(k): v for k, v in timed.get("twilio", {}).items() if v[1]}
    control = [v for k, v in rows.items() if k != "download_media"]
    requests = sum(v[1] for v in control)
    return {
        "twilio_requests_per_call": {k: per(v[1], calls, 1) for k, v in sorted(rows.items())},
        "twilio_cpu_us_per_request": {k: per(v[2], v[1], 1e6, 0) for k, v in sorted(rows.items())},
        "twilio_transport_us_per_request": {
            k: per(v[3], v[1], 1e6, 0) for k, v in sorted(rows.items())
        },
        "twilio_control_requests_per_call": per(requests, calls, 1),
        "twilio_control_cpu_ms_per_call": per(sum(v[2] for v in control), calls, 1000),
    }


def write_lock_waits(timed: dict[str, Any]) -> dict[str, Any]:
    """How long writes waited for SQLite's write lock, in the service's process (threads
    queue on its lock) and at BEGIN IMMEDIATE (other connections): p99 and waits over 10 ms."""
    out: dict[str, Any] = {}
    out["write_lock_long_holds"] = timed.get("long_holds", [])
    # The Recording API create's own time (request sent to answer read, in the service): what
    # a start spends beyond it is the service's (the webhook, the hand-off, the GIL, the CPU).
    creates = [1000 * w for w in timed.get("waits", {}).get("create", [])]
    out["create_request_ms_p50"] = rounded(percentile(creates, 50))
    out["create_request_ms_p99"] = rounded(percentile(creates, 99))
    for kind, label in (
        ("lock", "write_lock"),
        ("hold", "write_lock_hold"),
        ("begin", "begin_immediate"),
    ):
        waits = [1000 * w for w in timed.get("waits", {}).get(kind, [])]
        out[f"{label}_count"] = len(waits)
        out[f"{label}_wait_ms_p99"] = rounded(percentile(waits, 99))
        out[f"{label}_waits_over_10_ms"] = sum(w > 10 for w in waits)
        out[f"{label}_wait_ms_total"] = round(sum(waits), 1)
    return out


def answers_beside_jobs(
    deliveries: Iterable[dict[str, Any]], spans: list[tuple[str, float, float]]
) -> dict[str, Any]:
    """Answer times split by whether an archive or analysis job ran in the service at any
    moment of the answer: those jobs share the service's core (and its GIL) with the webhooks."""
    heavy = sorted((a, b) for name, a, b in spans if "archive" in name)
    starts = [a for a, _ in heavy]
    longest = max((b - a for a, b in heavy), default=0.0)
    split: dict[str, list[float]] = {"during": [], "apart": []}
    for entry in deliveries:
        elapsed, end = entry.get("elapsed_ms"), entry.get("at")
        if elapsed is None or end is None:
            continue
        begin = float(end) - float(elapsed) / 1000
        # Jobs starting before the answer ended and ending after it began (none that started
        # longer than the longest job before it can still be running).
        first = bisect.bisect_left(starts, begin - longest)
        last = bisect.bisect_right(starts, float(end))
        during = any(b > begin for _, b in heavy[first:last])
        split["during" if during else "apart"].append(float(elapsed))
    busy = sum(b - a for a, b in heavy)
    return {
        "archive_jobs_timed": len(heavy),
        "archive_jobs_wall_s": round(busy, 1),
        "answers_during_archive_jobs": {
            k: {"n": len(v), "p50": rounded(percentile(v, 50)), "p99": rounded(percentile(v, 99))}
            for k, v in split.items()
        },
    }


def _webhook_route(labels: dict[str, str]) -> bool:
    return labels.get("route", "").startswith(paths.PREFIX)


def tail_figures(
    counted: Metrics, waited_s: float, traffic_s: float, webhooks: int
) -> dict[str, Any]:
    """What an answer's tail is made of: the answer time the service saw itself (arrival to
    response, its histogram), the garbage collector's pauses, and how long the service's
    threads stood ready while the machine's other tenants had its core."""
    request = "flexrec_http_request_duration_seconds"
    served = [counted.histogram_quantile(request, q, _webhook_route) for q in (0.5, 0.99)]
    gc_s = counted.by_label("flexrec_gc_pause_seconds_sum", "generation")
    gc_n = counted.by_label("flexrec_gc_pause_seconds_count", "generation")
    pause = "flexrec_gc_pause_seconds"
    return {
        "served_answer_ms_p50": rounded(served[0] * 1000 if served[0] is not None else None),
        "served_answer_ms_p99": rounded(served[1] * 1000 if served[1] is not None else None),
        "served_answers_over_50_ms": int(counted.count_over(request, 0.05, _webhook_route)),
        "gc_collections_by_generation": {g: int(n) for g, n in sorted(gc_n.items())},
        "gc_pause_ms_by_generation": {g: round(v * 1000, 1) for g, v in sorted(gc_s.items())},
        "gc_pauses_over_10_ms": int(counted.count_over(pause, 0.01)),
        "gc_pauses_over_50_ms": int(counted.count_over(pause, 0.05)),
        "service_run_queue_wait_share": round(waited_s / traffic_s, 3) if traffic_s else None,
        "run_queue_wait_ms_per_webhook": per(waited_s, webhooks, 1000),
    }


def day_figures(
    args: argparse.Namespace,
    database: str,
    queue: str,
    day: Day,
    counted: Metrics,
    cpu: float,
    elapsed: float,
    traffic_s: float,
    stored: dict[str, float],
) -> dict[str, Any]:
    """The day's figures as one flat mapping (the JSON line)."""
    hooks = day.stats.get("webhooks", {})
    calls = int(day.stats.get("engine", {}).get("finished", 0))
    sent = int(hooks.get("sent", 0))
    job_cpu = counted.by_label("flexrec_job_cpu_seconds_sum", "job")
    archive_s, analysis_s = job_cpu.get(ARCHIVE_JOB, 0.0), job_cpu.get(ANALYSIS_JOB, 0.0)
    handler_s = counted.total("flexrec_webhook_handler_cpu_seconds_sum")
    latency_ms = median_latency_ms(args.latency)
    start_p50 = counted.histogram_quantile("flexrec_recording_start_seconds", 0.5)
    start_p99 = counted.histogram_quantile("flexrec_recording_start_seconds", 0.99)
    answers = answer_times(day.log.values())
    kinds: dict[str, dict[str, float]] = {}
    for (name, labels), value in counted.samples.items():
        if name.startswith("flexrec_webhook_handler_cpu_seconds_"):
            label = dict(labels)
            key = f"{label.get('source')}/{label.get('kind')}"
            kinds.setdefault(key, {})[name.rsplit("_", 1)[-1]] = value
    memory = counted.by_label("flexrec_webhooks_total", "outcome").get("repeat", 0.0)
    return {
        "bench": "service_day",
        "database": database,
        "queue": queue,
        "event_streams": args.event_streams,
        # "setup": the workspace's EventsFilter (or the sink's subscription) is what `flexrec
        # setup` writes, as on a configured account; "none": TaskRouter sends every type.
        "events_filter": "setup" if args.events_filter else "none",
        "webhooks_per_call": per(sent, calls),
        "calls": calls,
        "recordings_made": int(day.stats.get("recordings", {}).get("total", 0)),
        "recordings_archived": int(stored["archived"]),
        "recordings_analysed": int(stored["analysed"]),
        "webhooks": sent,
        "webhooks_failed": int(hooks.get("failed", 0) or 0),
        "webhooks_timed_out": int(hooks.get("timed_out", 0) or 0),
        "webhooks_answered_from_memory": int(memory),
        # How TaskRouter events were applied: memory (no database), write (one short write),
        # plan (a write and the planner), full (the task's rows read and merged, then planned)
        "taskrouter_event_paths": {
            k: int(v)
            for k, v in counted.by_label("flexrec_taskrouter_event_paths_total", "path").items()
        },
        "rate_per_sim_hour": args.rate,
        "scale": args.scale,
        "rest_latency_ms": latency_ms,
        "traffic_s": round(traffic_s, 1),
        "elapsed_s": round(elapsed, 1),
        "service_cpu_s": round(cpu, 2),
        "core_busy": round(cpu / traffic_s, 3) if traffic_s else None,
        "cpu_ms_per_call": per(cpu, calls, 1000),
        "control_cpu_ms_per_call": per(cpu - archive_s - analysis_s, calls, 1000),
        "handler_cpu_ms_per_call": per(handler_s, calls, 1000),
        "archive_cpu_ms_per_recording": per(archive_s, stored["archived"], 1000),
        "analysis_cpu_ms_per_recording": per(analysis_s, stored["analysed"], 1000),
        "sql_statements_per_call": per(counted.total("flexrec_db_statements_total"), calls, 1, 1),
        "write_transactions_per_call": per(
            counted.total("flexrec_db_write_transactions_total"), calls, 1, 1
        ),
        "webhook_answer_ms_p50": answers["p50"],
        "webhook_answer_ms_p99": answers["p99"],
        "webhook_answer_ms_by_kind": answers["by_kind"],
        "start_ms_p50": rounded(start_p50 * 1000 if start_p50 is not None else None),
        "start_ms_p99": rounded(start_p99 * 1000 if start_p99 is not None else None),
        "start_round_trips_p50": round(start_p50 * 1000 / latency_ms, 2)
        if start_p50 is not None and latency_ms
        else None,
        "starts_timed": int(counted.total("flexrec_recording_start_seconds_count")),
        # How long follow-up work waited for a background thread, by lane (first: starts and
        # leg searches; after: link writes, settles): whether creates queue behind the rest.
        "background_wait_ms": {
            lane: {
                "n": int(counted.total("flexrec_background_wait_seconds_count", lane=lane)),
                **{
                    f"p{round(q * 100)}": rounded(
                        1000
                        * (
                            counted.histogram_quantile(
                                "flexrec_background_wait_seconds", q, lane=lane
                            )
                            or 0.0
                        )
                    )
                    for q in (0.5, 0.99)
                },
            }
            for lane in ("first", "after")
        },
        "analysis_row_bytes_per_recording": round(stored["row_bytes"]),
        "peaks_bytes_per_recording": round(stored["peaks_bytes"]),
        "handler_cpu_ms_by_kind": {
            key: {"n": int(v["count"]), "ms": per(v.get("sum", 0.0), v["count"], 1000)}
            for key, v in sorted(kinds.items())
            if v.get("count")
        },
    }


def report(f: dict[str, Any]) -> None:
    """Print one day's figures for a reader."""
    print(
        f"day on {f['database']} (queue {f['queue']}): {f['calls']} calls at "
        f"{f['rate_per_sim_hour']:.0f} arrivals per simulated hour, {f['scale']:.0f}x; "
        f"{f['recordings_made']} recordings made, {f['recordings_archived']} archived, "
        f"{f['recordings_analysed']} analysed"
    )
    print(
        f"webhooks delivered: {f['webhooks']} in {f['traffic_s']:.0f} s "
        f"({f['webhooks_per_call']} a call; workspace EventsFilter: {f['events_filter']}); failed "
        f"{f['webhooks_failed']}; attempts past their limit (then retried) "
        f"{f['webhooks_timed_out']}; answered from memory {f['webhooks_answered_from_memory']}"
    )
    print(
        f"service CPU {f['service_cpu_s']:.1f} s ({f['core_busy']:.0%} of its core while traffic "
        f"lasted): {f['cpu_ms_per_call']} ms per call all told"
    )
    print(
        f"  control {f['control_cpu_ms_per_call']} ms per call (event handlers "
        f"{f['handler_cpu_ms_per_call']}); archive {f['archive_cpu_ms_per_recording']} ms and "
        f"analysis {f['analysis_cpu_ms_per_recording']} ms per recording"
    )
    if f.get("worker_upkeep_cpu_ms_per_call") is not None:
        print(
            f"  of control: the service {f['service_control_cpu_ms_per_call']} ms per call, the "
            f"jobs worker's upkeep outside its jobs {f['worker_upkeep_cpu_ms_per_call']} ms "
            f"({f['worker_upkeep_ms_per_call_by_part']})"
        )
    print(
        f"  archive and analysis jobs waited from due to started: p50 "
        f"{f['job_start_wait_ms_p50']} ms, p99 {f['job_start_wait_ms_p99']} ms, max "
        f"{f['job_start_wait_ms_max']} ms ({f['job_start_waits_timed']} jobs)"
    )
    print(
        f"database: {f['sql_statements_per_call']} statements and "
        f"{f['write_transactions_per_call']} write transactions per call"
        + (
            f"; the database server's own CPU {f['database_server_cpu_ms_per_call']} ms per call"
            if f.get("database_server_cpu_ms_per_call") is not None
            else ""
        )
    )
    print(
        f"recording start (webhook arrival -> create accepted, {f['starts_timed']} timed): "
        f"p50 {f['start_ms_p50']} ms = {f['start_round_trips_p50']} round trips of "
        f"{f['rest_latency_ms']:.0f} ms, p99 {f['start_ms_p99']} ms"
    )
    print(
        f"  of which the create request itself (sent to answered, in the service): p50 "
        f"{f['create_request_ms_p50']} ms, p99 {f['create_request_ms_p99']} ms"
    )
    waits = f["background_wait_ms"]
    print(
        "wait for a background thread once due: "
        + "; ".join(
            f"{lane} p50 {w['p50']} ms, p99 {w['p99']} ms ({w['n']})" for lane, w in waits.items()
        )
    )
    print(
        f"memory: RSS {f['rss_mb_end']} MB once traffic stopped (peak {f['rss_mb_peak']} MB); "
        f"along the day (calls finished: MB) {f['rss_mb_by_calls']}"
    )
    if f.get("jobs_process_rss_mb_end") is not None:
        print(
            f"  the jobs worker: RSS {f['jobs_process_rss_mb_end']} MB once traffic stopped "
            f"(peak {f['jobs_process_rss_mb_peak']} MB); along the day "
            f"{f['jobs_process_rss_mb_by_calls']}"
        )
    print(
        f"stored analysis per recording: {f['analysis_row_bytes_per_recording']} bytes, of which "
        f"peaks {f['peaks_bytes_per_recording']}"
    )
    print(
        f"answer times (ms; last attempt of each delivery): all p50 {f['webhook_answer_ms_p50']} "
        f"p99 {f['webhook_answer_ms_p99']}"
    )
    for kind, a in f["webhook_answer_ms_by_kind"].items():
        limit = LIMITS_S.get(kind, OTHER_LIMIT_S) * 1000
        print(
            f"  {kind:<17} n={a['n']:<5} p50 {a['p50']:7.1f}  p99 {a['p99']:7.1f}  "
            f"max {a['max']:7.1f}  limit {limit:7.0f}  timed out {a['timed_out']}"
        )
    print(f"{'source/event kind':<44} {'events':>6} {'CPU ms each':>11}")
    by_cost = sorted(f["handler_cpu_ms_by_kind"].items(), key=lambda kv: -kv[1]["n"] * kv[1]["ms"])
    for key, v in by_cost:
        print(f"{key:<44} {v['n']:>6} {v['ms']:>11.2f}")
    print(
        f"answer times the service saw (arrival to response, its histogram): p50 "
        f"{f['served_answer_ms_p50']} p99 {f['served_answer_ms_p99']}; over 50 ms "
        f"{f['served_answers_over_50_ms']}"
    )
    print(
        f"garbage collections {f['gc_collections_by_generation']}, their pauses (ms) "
        f"{f['gc_pause_ms_by_generation']}; over 10 ms {f['gc_pauses_over_10_ms']}, over "
        f"50 ms {f['gc_pauses_over_50_ms']}"
    )
    print(
        f"the service's threads stood ready while other processes had its core: "
        f"{f['service_run_queue_wait_share']:.0%} of the traffic's time, "
        f"{f['run_queue_wait_ms_per_webhook']} ms per webhook; other processes used "
        f"{f['others_on_service_core']:.0%} of its core (stolen by the host "
        f"{f['steal_on_service_core']:.0%}); the simulator's process {f['sim_core_busy']:.0%}"
    )
    split = f["answers_during_archive_jobs"]
    print(
        f"answers while an archive or analysis job ran ({f['archive_jobs_timed']} jobs, "
        f"{f['archive_jobs_wall_s']} s): {split['during']}; otherwise {split['apart']}"
    )
    print(
        f"waits for SQLite's write lock: in the process {f['write_lock_count']} (p99 "
        f"{f['write_lock_wait_ms_p99']} ms, over 10 ms {f['write_lock_waits_over_10_ms']}, "
        f"{f['write_lock_wait_ms_total']} ms in all); BEGIN IMMEDIATE {f['begin_immediate_count']}"
        f" (p99 {f['begin_immediate_wait_ms_p99']} ms, over 10 ms "
        f"{f['begin_immediate_waits_over_10_ms']}, {f['begin_immediate_wait_ms_total']} ms)"
    )
    print(
        f"the lock held: p99 {f['write_lock_hold_wait_ms_p99']} ms, over 10 ms "
        f"{f['write_lock_hold_waits_over_10_ms']}; where, of holds over 50 ms: "
        f"{f['write_lock_long_holds']}"
    )
    if f.get("twilio_requests_per_call"):
        print(
            f"Twilio: {f['twilio_control_requests_per_call']} control requests per call, "
            f"{f['twilio_control_cpu_ms_per_call']} ms of CPU per call (media downloads apart)"
        )
        print(f"{'gateway method':<28} {'per call':>8} {'CPU us each':>11} {'transport us':>12}")
        for kind, n in f["twilio_requests_per_call"].items():
            cpu, sent = f["twilio_cpu_us_per_request"][kind], f["twilio_transport_us_per_request"]
            print(f"{kind:<28} {n:>8} {cpu!s:>11} {sent[kind]!s:>12}")
    if f.get("thread_cpu_ms_per_call"):
        twilio = f["thread_twilio_cpu_ms_per_call"]
        print(f"{'service thread':<36} {'CPU ms a call':>13} {'in Twilio calls':>15}")
        for group, value in sorted(f["thread_cpu_ms_per_call"].items(), key=lambda i: -i[1]):
            label = THREAD_GROUPS.get(group, group)
            print(f"{label:<36} {value!s:>13} {twilio.get(group, '-')!s:>15}")
    if f.get("saturation_calls_per_s"):
        print(
            f"saturation: {f['calibration_cpu_ms_per_call']} ms of service CPU per call (the "
            f"calibration day) = {f['saturation_calls_per_s']} calls/s on one core; offered "
            f"{f['offered_calls_per_s']} calls/s ({f['offered_share_of_saturation']:.0%})"
        )
    print(
        f"idle once the day was over: {f['idle_cpu_ms_per_s']} ms of CPU a second (service "
        "and worker); "
        f"context switches per webhook {f['context_switches_per_webhook']} "
        f"({f['context_switches_per_webhook_by_kind']})"
    )
    print(f"load average before/after: {f['load_average_before']} / {f['load_average_after']}")


SIDE_BY_SIDE = (
    ("cpu_ms_per_call", "service CPU ms per call, all told"),
    ("control_cpu_ms_per_call", "control CPU ms per call"),
    ("sql_statements_per_call", "SQL statements per call"),
    ("write_transactions_per_call", "write transactions per call"),
    ("database_server_cpu_ms_per_call", "database server CPU ms per call"),
    ("archive_cpu_ms_per_recording", "archive CPU ms per recording"),
    ("analysis_cpu_ms_per_recording", "analysis CPU ms per recording"),
    ("webhook_answer_ms_p99", "webhook answer p99 ms"),
    ("start_round_trips_p50", "start round trips p50"),
    ("rss_mb_end", "RSS MB at the end"),
    ("jobs_process_rss_mb_end", "the jobs worker's RSS MB at the end"),
    ("worker_upkeep_cpu_ms_per_call", "the jobs worker's upkeep ms per call"),
)


def report_side_by_side(runs: list[dict[str, Any]]) -> None:
    """The figures that differ by database, one column per run."""
    names = [f"{r['database']}/{r['queue']}" for r in runs]
    print(f"{'':<34}" + "".join(f"{n:>20}" for n in names))
    for key, label in SIDE_BY_SIDE:
        print(f"{label:<34}" + "".join(f"{r.get(key)!s:>20}" for r in runs))


# The figures a before/after pair compares, summarised over repeated days.
SUMMARISED = (
    "control_cpu_ms_per_call",
    "service_control_cpu_ms_per_call",
    "handler_cpu_ms_per_call",
    "webhooks_per_call",
    "write_transactions_per_call",
    "sql_statements_per_call",
    "context_switches_per_webhook",
    "idle_cpu_ms_per_s",
    "others_on_service_core",
)


def _spread(values: list[float]) -> dict[str, Any]:
    median = statistics.median(values)
    return {
        "median": round(median, 3),
        "lowest": round(min(values), 3),
        "highest": round(max(values), 3),
        "spread_share": round((max(values) - min(values)) / median, 3) if median else None,
    }


def summarise(sides: list[list[dict[str, Any]]]) -> dict[str, Any]:
    """Each SUMMARISED figure's median, lowest and highest over each side's days (its spread
    as a share of the median: how far apart two days of one tree read) and, with two sides,
    the ratio B / A of each pair of days run back to back (median, lowest, highest)."""
    out: dict[str, Any] = {
        "bench": "service_day_summary",
        "database": sides[0][0]["database"],
        "days": [len(days) for days in sides],
        "pythons": [days[0].get("python") for days in sides],
        "load_average_before": [[d["load_average_before"][0] for d in days] for days in sides],
    }
    for key in SUMMARISED:
        per_side = [[float(d[key]) for d in days if d.get(key) is not None] for days in sides]
        if not all(per_side):
            continue
        out[key] = [_spread(values) for values in per_side]
        if len(sides) == 2:
            pairs = [
                b[key] / a[key]
                for a, b in zip(sides[0], sides[1], strict=False)
                if a.get(key) and b.get(key) is not None
            ]
            if pairs:
                out[f"{key}_ratio_b_over_a"] = _spread(pairs)
    return out


def report_summary(summary: dict[str, Any]) -> None:
    """Print the summary of repeated days for a reader."""
    sides = len(summary["days"])
    print(
        f"{'/'.join(map(str, summary['days']))} days on {summary['database']} "
        + (f"(A = {summary['pythons'][0]}, B = {summary['pythons'][1]})" if sides == 2 else "")
    )
    print("  median (lowest-highest, spread as a share of the median); with two trees, B / A")
    for key in SUMMARISED:
        if key not in summary:
            continue
        cells = [
            f"{v['median']} ({v['lowest']}-{v['highest']}, {v['spread_share']:.0%})"
            for v in summary[key]
        ]
        ratio = summary.get(f"{key}_ratio_b_over_a")
        if ratio:
            cells.append(f"B/A {ratio['median']} ({ratio['lowest']}-{ratio['highest']})")
        print(f"  {key:<34} " + "  |  ".join(cells))


def day_at_saturation(
    args: argparse.Namespace, database: str, python: Path | None = None
) -> dict[str, Any]:
    """A calibration day measures the service's CPU per call (all told: the archive and
    analysis jobs share its core); one core then carries 1 / that calls a second, and the day
    is run with arrivals at `args.saturation` of it."""
    calibration = run_day(
        argparse.Namespace(**{**vars(args), "calls": args.calibration_calls}),
        database,
        args.queue,
        python,
    )
    cpu_ms = calibration["cpu_ms_per_call"]
    if not cpu_ms:
        raise SystemExit("the calibration day finished no call")
    saturation = 1000 / cpu_ms  # calls a second
    offered = args.saturation * saturation
    rate = offered / args.scale * 3600  # arrivals per simulated hour
    figures = run_day(
        argparse.Namespace(**{**vars(args), "rate": rate}), database, args.queue, python
    )
    figures.update(
        calibration_cpu_ms_per_call=cpu_ms,
        calibration_load_average=calibration["load_average_before"],
        saturation_calls_per_s=round(saturation, 2),
        offered_calls_per_s=round(offered, 2),
        offered_share_of_saturation=args.saturation,
    )
    return figures


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
        "--latency",
        default="150",
        help="Twilio REST answer time in ms: X, or LOW-HIGH (5th-95th percentile); default 150",
    )
    parser.add_argument(
        "--event-streams", action="store_true", help="TaskRouter events via an Event Streams sink"
    )
    parser.add_argument(
        "--all-event-types",
        action="store_false",
        dest="events_filter",
        help="a workspace without the EventsFilter `flexrec setup` writes (TaskRouter then "
        "sends every event type, agents' status changes too); by default it has it, as a "
        "configured account does",
    )
    parser.add_argument(
        "--database",
        default="sqlite",
        help="sqlite, postgresql, or both comma-separated (one day each, side by side)",
    )
    parser.add_argument("--queue", default="sqlite", help="the job queue: sqlite or redis")
    parser.add_argument(
        "--idle",
        type=float,
        default=5.0,
        help="seconds idle before the end RSS and the idle CPU (default 5)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line per day")
    parser.add_argument(
        "--trace-memory",
        type=Path,
        help="run the service under tracemalloc, heap snapshots into this folder (slower)",
    )
    parser.add_argument(
        "--trace-every", type=float, default=20.0, help="seconds between snapshots (20)"
    )
    parser.add_argument(
        "--profile-lanes",
        type=Path,
        metavar="DIR",
        help="cProfile the background lanes' work on thread CPU time: DIR/start.pstats and "
        "DIR/after.pstats (slower; for where the time goes, not for the day's figures)",
    )
    parser.add_argument(
        "--writes-by-origin",
        action="store_true",
        help="count the service's write transactions (SQLite) by webhook kind or lane and the "
        "function that opened each: writes_by_origin_per_call (costs CPU: not for CPU figures)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the data folder and logs")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run N days (of each tree, with --against) and print the median and spread of "
        "the CPU figures",
    )
    parser.add_argument(
        "--against",
        type=Path,
        metavar="PYTHON",
        help="another tree's interpreter (its .venv/bin/python, flexrec installed from that "
        "tree): its days alternate with this tree's (A, B, A, B, ...) and the summary gives "
        "each side's median and the pairs' ratios, B over A",
    )
    parser.add_argument(
        "--saturation",
        type=float,
        metavar="FRACTION",
        help="run at FRACTION (0.8: issue 18's 80%%) of the rate that fills the service's core, "
        "found by a calibration day first (its service CPU per call, all told)",
    )
    parser.add_argument(
        "--calibration-calls", type=int, default=60, help="calls in the calibration day (60)"
    )
    parser.add_argument(
        "--jobs-process",
        type=int,
        metavar="NICE",
        default=10,
        help="run the queue's jobs (archive, analysis) in a `flexrec worker` process of their "
        "own on the service's core at this nice value, as `flexrec serve` does by default "
        "(the bench starts it, with its timers, and the service runs --no-consumer); 10",
    )
    parser.add_argument(
        "--jobs-in-process",
        action="store_const",
        const=None,
        dest="jobs_process",
        help="run the queue's jobs as threads of the service (`flexrec serve --jobs-in-process`)",
    )
    parser.add_argument(
        "--priority",
        type=int,
        metavar="NICE",
        help="nice value for the service and the simulator (e.g. -10, as root): on a shared "
        "machine the other tenants then take less of their cores",
    )
    args = parser.parse_args()
    runs = []
    trees = [Path(sys.executable)] + ([args.against] if args.against else [])
    for database in [d.strip() for d in args.database.split(",") if d.strip()]:
        days: dict[Path, list[dict[str, Any]]] = {tree: [] for tree in trees}
        for _ in range(max(1, args.repeat)):
            for tree in trees:  # alternated: A, B, A, B, ... under the same load
                figures = (
                    day_at_saturation(args, database, tree)
                    if args.saturation
                    else run_day(args, database, args.queue, tree)
                )
                figures["python"] = str(tree)
                days[tree].append(figures)
                if args.json:
                    print(json.dumps(figures, sort_keys=True), flush=True)
                else:
                    report(figures)
                    print()
        runs.append(days[trees[0]][0])
        if len(trees) > 1 or args.repeat > 1:
            summary = summarise([days[tree] for tree in trees])
            if args.json:
                print(json.dumps(summary, sort_keys=True), flush=True)
            else:
                report_summary(summary)
                print()
    if len(runs) > 1 and not args.json:
        report_side_by_side(runs)


if __name__ == "__main__":
    main()
