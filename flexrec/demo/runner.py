"""`flexrec demo`: the service, as its own process, against an in-process simulator.

The simulator runs in this process (its world is the ground truth); the service runs as a child
process exactly as `flexrec serve` runs in production, so `--restart` can kill -9 it. An agent
driver plays the agents' side: on some calls it pauses the recording through the service's agent
API with the agent's own Flex token (a card payment) and resumes it later.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from rich.console import Console

from flexrec.demo.card_data import card_figures
from flexrec.demo.coverage_check import Downtime, sim_coverage
from flexrec.demo.display import DemoDisplay, LiveFigures, results_table
from flexrec.demo.measures import (
    SETTLED_STAGES,
    STAGE_UNKNOWN,
    archive_figures,
    recording_stages,
    vad_accuracy,
    webhook_to_api_latencies,
)
from flexrec.demo.scoring import DemoScore, by_scenario, percentile, score_truth
from flexrec.recording.policy import RecordingPolicy
from flexsim import Conversation, SimConfig, SimRunner, defaults, free_port

REPLACEMENT_BACKOFF_S = RecordingPolicy().replacement_backoff_s

ENDED_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})

# Scenarios in which an agent takes a card payment (pause, then resume) on some calls.
PAUSABLE = frozenset({"basic", "hold", "browser_closed", "third_party"})


@dataclass
class DemoOptions:
    """What `flexrec demo` was asked for."""

    calls: int = 60
    seed: int = 7
    faults: str = ""
    restart: bool = False
    json_out: bool = False
    workdir: Path | None = None
    agents: int = 12
    event_streams: bool = False  # TaskRouter events through an Event Streams sink
    processes: int = 1  # web processes of the service (`flexrec serve --processes`)
    # Simulated seconds per real second; None: 20, or 10 with --restart, so the few real
    # seconds the killed service needs to come back stay shorter than any call.
    scale: float | None = None

    rate_per_hour: float = 900.0  # simulated arrivals
    pause_share: float = 0.3
    # Transcribe every recording and silence spoken card data (FLEXREC_CARD_DATA), scored.
    card_data: bool = False
    settle_timeout_s: float = 240.0  # a recording whose callbacks a crash lost is found by polling
    # Extra environment for the service, e.g. the scaled deployment's PostgreSQL, Redis and S3.
    service_env: dict[str, str] = field(default_factory=dict)
    # Account variants to pin (axis -> value, None: the per-call mix); unnamed axes keep the
    # simulator's default (flexsim.variants).
    variants: dict[str, str | None] = field(default_factory=dict)

    def clock_scale(self) -> float:
        """The simulated clock's speed for this run."""
        if self.scale is not None:
            return self.scale
        return 10.0 if self.restart else 20.0

    def database_url(self, workdir: Path) -> str:
        """Where the service keeps its database in this run."""
        return self.service_env.get("FLEXREC_DATABASE_URL") or (
            f"sqlite:///{workdir / 'service' / 'flexrec.db'}"
        )


class ServiceProcess:
    """`flexrec serve` as a child process that can be killed -9 and started again."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, processes: int = 1) -> None:
        self.env = env
        self.port = port
        self.processes = processes
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the service and wait until /healthz answers 200."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed argv
            [
                *(sys.executable, "-m", "flexrec", "serve", "--port", str(self.port)),
                *(("--processes", str(self.processes)) if self.processes > 1 else ()),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited at start-up; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the service did not become healthy; see {self.log_path}")

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), falling back to SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


@dataclass
class AgentDriver:
    """Plays agents taking card payments: pause, then resume, through the agent API."""

    sim: SimRunner
    service_url: str
    share: float
    seed: int
    pool: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(4))
    requested: int = 0
    answered: dict[int, int] = field(default_factory=dict)
    # How each pause request ended: the last HTTP status, or "unreachable" (a pause that was
    # not applied says here whether the service refused it, never answered, or was too late).
    pause_outcomes: dict[str, int] = field(default_factory=dict)
    # When the agent asked, per task: (action, simulated epoch s), in order (the soak tells a
    # pause that lasted to the hang-up from one the agent ended while the call went on).
    asked: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def attach(self) -> None:
        """Listen for conversations starting in the simulator."""
        self.sim.on_conversation(self._started)

    def _chosen(self, task_sid: str) -> bool:
        # A stable choice per task, independent of arrival order.
        digest = int(task_sid[-8:], 16) ^ self.seed
        return (digest % 1000) / 1000 < self.share

    def _started(self, conversation: Conversation) -> None:
        task_sid, worker_sid = conversation.task_sid, conversation.worker_sid
        call_sid = conversation.interaction_id
        if conversation.card_pause is not None:
            # A card payment: the agent pauses when the simulator's plan says (in time, late,
            # or never: the calls whose card numbers flexrec must find and silence).
            if conversation.pause_in_s is not None and conversation.resume_in_s is not None:
                pause_in, resume_in = conversation.pause_in_s, conversation.resume_in_s
                self.sim.call_later(
                    pause_in, lambda: self._submit(task_sid, worker_sid, "pause", call_sid)
                )
                self.sim.call_later(
                    resume_in, lambda: self._submit(task_sid, worker_sid, "resume", call_sid)
                )
            return
        if conversation.scenario not in PAUSABLE or not self._chosen(conversation.task_sid):
            return
        # Runs on the simulator's loop: schedule in simulated time, do HTTP on the pool.
        self.sim.call_later(25.0, lambda: self._submit(task_sid, worker_sid, "pause", call_sid))
        self.sim.call_later(55.0, lambda: self._submit(task_sid, worker_sid, "resume", call_sid))

    def _submit(self, task_sid: str, worker_sid: str, action: str, call_sid: str) -> None:
        with self.lock:
            self.asked.setdefault(task_sid, []).append((action, self.sim.world.clock.now()))
        self.pool.submit(self._act, task_sid, worker_sid, action, call_sid)

    def _call_over(self, call_sid: str) -> bool:
        return self.sim.call_status(call_sid) in ENDED_CALL_STATUSES

    def _act(self, task_sid: str, worker_sid: str, action: str, call_sid: str) -> None:
        if self._call_over(call_sid):
            # The call ended before the plan's moment (a call shorter than 25 s): an agent does
            # not press pause after hanging up (it did, and 403 said "not your task").
            return
        token = self.sim.agent_token(worker_sid)
        url = f"{self.service_url}/api/agent/tasks/{task_sid}/recording/{action}"
        with self.lock:
            self.requested += action == "pause"
        outcome = "unreachable"
        for _ in range(8):  # the service may be restarting
            try:
                response = httpx.post(
                    url, headers={"Authorization": f"Bearer {token}"}, timeout=10.0
                )
            except httpx.HTTPError:
                time.sleep(1.0)
                continue
            outcome = str(response.status_code)
            with self.lock:
                self.answered[response.status_code] = self.answered.get(response.status_code, 0) + 1
            # 409: the recording has not started yet (a fault delayed it); the agent tries again,
            # unless the call is over meanwhile (the service says so with a 409 too).
            if response.status_code < 500 and response.status_code != 409:
                break
            if self._call_over(call_sid):
                break
            time.sleep(0.5)
        if action == "pause":
            with self.lock:
                self.pause_outcomes[outcome] = self.pause_outcomes.get(outcome, 0) + 1

    def close(self) -> None:
        """Wait for requests in flight."""
        self.pool.shutdown(wait=True)


def service_env(sim: SimRunner, workdir: Path, port: int, admin_token: str) -> dict[str, str]:
    """The environment `flexrec serve` runs with against this simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "FLEXREC_"))}
    env.update(
        {
            "TWILIO_ACCOUNT_SID": sim.config.account_sid,
            "TWILIO_AUTH_TOKEN": sim.config.auth_token,
            "TWILIO_WORKSPACE_SID": sim.workspace_sid,
            "FLEXREC_TWILIO_BASE_URL": sim.base_url,
            "FLEXREC_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "FLEXREC_DATA_DIR": str(workdir / "service"),
            "FLEXREC_ADMIN_TOKEN": admin_token,
            "FLEXREC_CONSOLE_SECRET": secrets.token_urlsafe(32),
            "FLEXREC_LOG_FORMAT": "json",
            # The simulated clock runs fast (a real second is `scale` seconds of call), so the
            # safety net runs often and a hung Twilio request is given up on sooner.
            "FLEXREC_RECONCILE_INTERVAL_S": "2",
            "TWILIO_TIMEOUT_S": "2",
            # An archive copy that met an injected Twilio error is tried again within seconds,
            # not after the quarter of an hour (of call time) a real-time 15 s would be.
            "FLEXREC_ARCHIVE_RETRY_BASE_S": "1",
            # A replacement's backoff is the policy's wait in seconds of the call (a silent
            # leg is not re-recorded in a tight loop), so it runs on the call's clock, as the
            # simulator runs Twilio's latency. What the service spends itself (retries and
            # their pauses, scheduling, a restart) is not scaled: it counts `scale` times over.
            "FLEXREC_REPLACEMENT_BACKOFF_S": f"{REPLACEMENT_BACKOFF_S / sim.config.scale:g}",
        }
    )
    return env


def _live(sim: SimRunner, driver: AgentDriver, figures: LiveFigures) -> None:
    stats = sim.stats()
    figures.finished = stats.finished
    figures.active = stats.active
    figures.recordings = sum(1 for r in sim.recordings() if r.party != "worker")
    figures.webhooks_sent = stats.webhooks_sent
    figures.webhooks_failed = stats.webhooks_failed
    figures.pauses = driver.requested


def run_demo(options: DemoOptions) -> int:
    """Run the demo; returns the process exit code (0 when every promise held)."""
    # Not a terminal (CI, a pipe): still wide enough for the table to read at a glance.
    console = Console(stderr=options.json_out, width=None if sys.stdout.isatty() else 110)
    workdir = options.workdir or Path(tempfile.mkdtemp(prefix="flexrec-demo-"))
    keep = options.workdir is not None
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        score = execute(options, workdir, console)
    finally:
        if not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    console.print(results_table(score, by_scenario(score.per_call)))
    if keep:
        console.print(f"[dim]{replay_hint(workdir)}[/]", soft_wrap=True)
    if options.json_out:
        print(json.dumps(score.as_json(), sort_keys=True))
    return 0 if score.ok else 1


def replay_hint(workdir: Path, sim_port: int = 8181) -> str:
    """How to open the kept run's calls in the console: the service on the kept data, against a
    simulator of the same account (the calls were made on it, so it is the Twilio to ask)."""
    env = (
        f"FLEXREC_DATA_DIR={workdir / 'service'} TWILIO_ACCOUNT_SID={defaults.ACCOUNT_SID} "
        f"TWILIO_AUTH_TOKEN={defaults.AUTH_TOKEN} TWILIO_WORKSPACE_SID={defaults.WORKSPACE_SID} "
        f"FLEXREC_TWILIO_BASE_URL=http://127.0.0.1:{sim_port}"
    )
    cli = command_path()
    return (
        f"service data and log kept in {workdir}. To play the calls in the console:\n"
        f"  export {env}\n"
        f"  {cli} sim --port {sim_port} --rate 0 &   # the simulated account they were made on\n"
        f"  {cli} users add me --role supervisor && {cli} serve   "
        "# then http://127.0.0.1:8080/console/"
    )


def command_path() -> str:
    """How to type this `flexrec` here: `.venv/bin/flexrec` in a clone, else its full path."""
    found = Path(sys.executable).with_name("flexrec")
    if not found.exists():
        return "flexrec"
    try:
        return str(found.absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(found.absolute())


def execute(options: DemoOptions, workdir: Path, console: Console) -> DemoScore:
    """Run simulator and service, drive the day, and score it."""
    port = free_port()
    admin_token = secrets.token_urlsafe(24)
    config = SimConfig(
        port=0,
        agents=options.agents,
        rate_per_hour=options.rate_per_hour,
        calls=options.calls,
        scale=options.clock_scale(),
        seed=options.seed,
        service_url=f"http://127.0.0.1:{port}",
        faults=options.faults or None,
        event_streams=options.event_streams,
        start_traffic=False,
        account_sid=defaults.ACCOUNT_SID,
        auth_token=defaults.AUTH_TOKEN,
    )
    for axis, value in options.variants.items():
        setattr(config, axis, value)
    config.variant_pins()  # an unknown axis or value fails here, before anything starts
    figures = LiveFigures(total_calls=options.calls)
    # A kept work folder keeps the simulator's truth too, for a closer look at a run, with its
    # webhook deliveries and the clock (flexrec.demo.gaps reads them beside the service log).
    keep_truth = workdir / "truth.json" if options.workdir is not None else None
    with SimRunner(config) as sim:
        env = service_env(sim, workdir, port, admin_token) | options.service_env
        if options.card_data:
            env["FLEXREC_CARD_DATA"] = "true"
        service = ServiceProcess(env, port, workdir / "service.log", options.processes)
        database_url = options.database_url(workdir)
        driver = AgentDriver(sim, service.url, options.pause_share, options.seed)
        driver.attach()
        with DemoDisplay(console, options.calls) as display:
            display.say(
                f"[bold]flexrec demo[/]: {options.calls} calls, {options.agents} agents, "
                f"seed {options.seed}, clock x{options.clock_scale():g}"
                + (f", faults {options.faults}" if options.faults else "")
                + (", kill -9 mid-run" if options.restart else "")
                + (", events via Event Streams" if options.event_streams else "")
            )
            display.say(f"simulator at {sim.base_url}; starting the service at {service.url}")
            service.start()
            clock_anchor = {"wall_s": time.time(), "sim_ms": sim.now_ms()}
            sim.start_traffic()
            figures.phase = "calls in progress"
            restart_at = options.calls * 0.4 if options.restart else None
            downtime: list[tuple[int, int]] = []  # simulated ms the service was down
            try:
                polls = 0
                while not sim.done():
                    _live(sim, driver, figures)
                    polls += 1
                    if polls % 5 == 0:  # the database once a second is plenty for a display
                        figures.archived = archive_figures(database_url)[1]
                    if restart_at is not None and figures.finished >= restart_at:
                        restart_at = None
                        display.say("[yellow]kill -9 the service[/] (mid-run), restarting it")
                        down_at = sim.now_ms()
                        service.kill()
                        service.start()
                        downtime.append((down_at, sim.now_ms()))
                        figures.restarts += 1
                    display.update(figures)
                    time.sleep(0.2)
                figures.phase = "waiting for archive and analysis"
                settled = _settle(
                    database_url,
                    figures,
                    display,
                    # transcription runs at a few times real time: the archive needs longer
                    options.settle_timeout_s * (4 if options.card_data else 1),
                    sim,
                    driver,
                )
                colour = "red" if not settled.clean else "yellow" if settled.unreported else "green"
                display.say(f"[{colour}]{settled.summary()}[/]")
                driver.close()
                _live(sim, driver, figures)
                display.update(figures)
                truth = sim.truth()
                score = score_truth(truth, downtime)
                if keep_truth is not None:
                    keep_truth.write_text(json.dumps(truth))
                    run = {"scale": options.clock_scale(), "anchor": clock_anchor}
                    run["downtime_ms"] = downtime
                    (workdir / "run.json").write_text(json.dumps(run))
                    (workdir / "webhooks.json").write_text(json.dumps(sim.webhook_log()))
                killed = Downtime.of_run(downtime, options.clock_scale())
                check = sim_coverage(sim, database_url, killed)[1]
                score.coverage_agrees = check.agrees
                score.coverage_legs_checked = check.legs_checked
                score.coverage_mismatches = check.mismatches[:20]
                latencies = webhook_to_api_latencies(sim)
                score.webhook_to_api_ms_p50 = percentile(latencies, 50)
                score.webhook_to_api_ms_p99 = percentile(latencies, 99)
                score.pauses_requested = driver.requested
                score.pause_answers = dict(sorted(driver.pause_outcomes.items()))
                archived, analysed = archive_figures(database_url)
                score.archived, score.analysed = archived, analysed
                score.vad_precision, score.vad_recall = vad_accuracy(sim, database_url)
                if options.card_data:
                    score.card_data = asdict(
                        card_figures(sim, database_url, workdir / "service" / "archive")
                    )
                score.analysis_mono = settled.count("mono")
                score.analysis_failed = settled.count("analysis_failed")
                score.archive_failed = settled.count("archive_failed")
                score.settle_s = round(settled.seconds, 1)
                score.settled = not settled.timed_out
                score.mono_unreported = len(settled.unreported)
                score.restarts = figures.restarts
                score.faults = options.faults
            finally:
                service.stop()
    return score


@dataclass
class Settled:
    """How the wait for archive and analysis after the last call ended, and why it waited."""

    seconds: float
    stages: dict[str, str]  # recording SID -> its stage when the wait ended
    waited_for: dict[str, int]  # wait stage -> recordings seen in it while waiting
    timed_out: bool
    # Mono recordings flexrec did not make (a Studio flow's) that never reached the service:
    # their completed callback was lost (e.g. while it was killed); flexrec's own are waited for.
    unreported: list[str] = field(default_factory=list)

    def count(self, stage: str) -> int:
        """Recordings that ended the wait in `stage`."""
        return sum(1 for value in self.stages.values() if value == stage)

    def summary(self) -> str:
        """One line: how long, what it waited for, how it ended."""
        why = ", ".join(f"{n} {stage}" for stage, n in sorted(self.waited_for.items()))
        outcome = ", ".join(
            f"{self.count(key)} {label}" for key, label in SETTLED_STAGES.items() if self.count(key)
        )
        verb = "did not settle in" if self.timed_out else "settled in"
        line = f"archive and analysis {verb} {self.seconds:.1f} s after the last call"
        line += f" (waited for {why})" if why else " (nothing left to wait for)"
        pending: dict[str, list[str]] = {}
        for sid, stage in sorted(self.stages.items()):
            if stage not in SETTLED_STAGES:
                pending.setdefault(stage, []).append(sid)
        if pending:
            line += "; still " + ", ".join(
                f"{len(sids)} {stage} ({' '.join(sids[:3])}{' …' if len(sids) > 3 else ''})"
                for stage, sids in pending.items()
            )
        line += f": {outcome or 'no recordings'}"
        if self.unreported:
            line += (
                f"; {len(self.unreported)} mono recording(s) flexrec did not make never reached"
                f" the service (completed callback lost): {' '.join(self.unreported[:3])}"
            )
        return line

    @property
    def clean(self) -> bool:
        """Every recording reached a good end (analysed, or mono with what one channel gives)."""
        return not self.timed_out and all(
            stage in ("analysed", "mono") for stage in self.stages.values()
        )


# How long a mono recording the service has not heard of may still be announced by a late
# completed callback (the simulator delivers them within a second, retries within seconds).
UNREPORTED_GRACE_S = 15.0


def _completed_customer_recordings(sim: SimRunner) -> tuple[set[str], set[str]]:
    """(dual, mono) completed customer-leg call recordings of the simulated account."""
    dual: set[str] = set()
    mono: set[str] = set()
    for item in sim.truth():
        for recording in item.get("recordings", []):
            if (
                recording.get("party") != "customer"
                or recording.get("status") != "completed"
                or recording.get("conference_sid")
            ):
                continue
            (dual if recording.get("channels") == 2 else mono).add(str(recording["sid"]))
    return dual, mono


def _settle(
    database_url: str,
    figures: LiveFigures,
    display: DemoDisplay,
    timeout_s: float,
    sim: SimRunner,
    driver: AgentDriver,
) -> Settled:
    """Wait until every completed customer-leg recording is archived and its analysis is done,
    mono or failed; ends as soon as none is left to wait for (or time runs out).

    Every dual recording is waited for: flexrec made or adopted it, so it must find it even if
    a crash lost its callbacks. A mono one is someone else's (a Studio flow's) that flexrec
    only hears of through its completed callback: waited for once the service has noted it,
    or for `UNREPORTED_GRACE_S` while that callback may still be on its way.
    """
    started = time.monotonic()
    deadline = started + timeout_s
    waited_for: dict[str, set[str]] = {}
    while True:
        _live(sim, driver, figures)
        dual, mono = _completed_customer_recordings(sim)
        stages = recording_stages(database_url, dual | mono)
        unreported = sorted(sid for sid in mono if stages[sid] == STAGE_UNKNOWN)
        if time.monotonic() - started >= UNREPORTED_GRACE_S:
            for sid in unreported:
                del stages[sid]  # its callback is not late but lost: nothing will bring it
        waiting = {sid: stage for sid, stage in stages.items() if stage not in SETTLED_STAGES}
        for sid, stage in waiting.items():
            waited_for.setdefault(stage, set()).add(sid)
        figures.archived = len(stages) - len(waiting)
        figures.recordings = len(stages)
        display.update(figures)
        timed_out = time.monotonic() >= deadline
        if not waiting or timed_out:
            return Settled(
                seconds=time.monotonic() - started,
                stages=stages,
                waited_for={stage: len(sids) for stage, sids in waited_for.items()},
                timed_out=bool(waiting),
                unreported=unreported,
            )
        time.sleep(0.25)
