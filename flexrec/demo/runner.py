"""`flexrec demo`: the service, as its own process, against an in-process simulator.

The simulator runs in this process (its world is the ground truth); the service runs as a child
process exactly as `flexrec serve` runs in production (`service_process`), so `--restart` can
kill -9 it. The agents (`agents`) pause and resume on some calls; after the last call the run
waits for archive and analysis (`settle`), then scores the day against the truth (`scoring`).
"""

from __future__ import annotations

import json
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rich.console import Console

from flexrec.demo.agents import AgentDriver
from flexrec.demo.card_data import card_figures
from flexrec.demo.coverage_check import Downtime, sim_coverage
from flexrec.demo.display import DemoDisplay, LiveFigures, results_table
from flexrec.demo.early_ends import Notices
from flexrec.demo.measures import (
    archive_figures,
    vad_accuracy,
    webhook_to_api_latencies,
)
from flexrec.demo.scoring import DemoScore, by_scenario, percentile, score_truth
from flexrec.demo.service_process import ServiceProcess, service_env
from flexrec.demo.settle import settle, show_live
from flexrec.webhooks.events import TASKROUTER_EVENTS_USED
from flexsim import SimConfig, SimRunner, defaults, free_port


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
    leaks = (score.card_data or {}).get("leak_bundles") or []
    if leaks:
        console.print(
            f"[red]card digits audible[/]: each such recording kept for a replay (no audio; "
            f"`{Path(command_path()).with_name('python')} -m flexrec.demo.card_leaks FILE`"
            " re-runs the rules):",
            soft_wrap=True,
        )
        for line in leaks:
            console.print(f"  {line}", soft_wrap=True)
    if keep:
        console.print(f"[dim]{replay_hint(workdir)}[/]", soft_wrap=True)
    if options.json_out:
        print(json.dumps(score.as_json(), sort_keys=True))
    return 0 if score.ok else 1


def leaks_dir(options: DemoOptions, workdir: Path) -> Path:
    """Where recordings that kept card digits audible are kept for a replay: in the kept work
    folder, else beside it in the temp folder (the work folder itself is removed)."""
    if options.workdir is not None:
        return workdir / "card_leaks"
    return workdir.with_name(workdir.name + "-card-leaks")


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
        # The account as `flexrec setup` leaves it: TaskRouter posts only the types flexrec
        # uses (tests/integration/server/test_setup_against_sim.py holds the two together).
        events_filter=",".join(TASKROUTER_EVENTS_USED),
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
                    show_live(sim, driver, figures)
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
                settled = settle(
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
                show_live(sim, driver, figures)
                display.update(figures)
                truth = sim.truth()
                deliveries = sim.webhook_log()
                score = score_truth(truth, downtime, Notices.of_run(deliveries, driver.asked))
                if keep_truth is not None:
                    keep_truth.write_text(json.dumps(truth))
                    run = {"scale": options.clock_scale(), "anchor": clock_anchor}
                    run["downtime_ms"] = downtime
                    run["asked"] = driver.asked
                    (workdir / "run.json").write_text(json.dumps(run))
                    (workdir / "webhooks.json").write_text(json.dumps(deliveries))
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
                        card_figures(
                            sim,
                            database_url,
                            workdir / "service" / "archive",
                            leaks_dir(options, workdir),
                            env,
                        )
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
