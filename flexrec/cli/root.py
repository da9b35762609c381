"""The `flexrec` command line: serve, worker, sim, demo, setup, backfill, coverage, verify,
export, erase, audit, legal-hold, users, transcription."""

from __future__ import annotations

import gc
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer

from flexrec.cli.accounts import holds, users
from flexrec.cli.errors import EXIT_USAGE, CliError, explain
from flexrec.cli.transcription import transcription

app = typer.Typer(
    name="flexrec",
    help="Server-side dual-channel call recording for Twilio Flex, with a Flex simulator.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)


def _show_version(value: bool) -> None:
    if value:
        from flexrec import package_version

        typer.echo(f"flexrec {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_show_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug", envvar="FLEXREC_DEBUG", help="Show the full traceback of an error."
        ),
    ] = False,
) -> None:
    """Server-side dual-channel call recording for Twilio Flex, with a Flex simulator."""
    if debug:
        os.environ["FLEXREC_DEBUG"] = "1"


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (FLEXREC_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (FLEXREC_PORT).")] = None,
    workers: Annotated[
        int, typer.Option(help="Queue worker threads (in the jobs process, or here).")
    ] = 4,
    no_consumer: Annotated[
        bool,
        typer.Option(
            "--no-consumer", help="Run no queue workers (scaled setup: `flexrec worker`s do)."
        ),
    ] = False,
    processes: Annotated[
        int,
        typer.Option(
            min=1,
            help="Web processes sharing the port (one per core; use PostgreSQL beyond a few).",
        ),
    ] = 1,
    jobs_process: Annotated[
        bool,
        typer.Option(
            "--jobs-process/--jobs-in-process",
            help="Run the queue workers (archive, analysis, retention, reconciliation) in a "
            "`flexrec worker` of their own at a lower priority, so webhooks are answered first "
            "on a busy core (the default); --jobs-in-process runs them as threads of this one.",
        ),
    ] = True,
    jobs_nice: Annotated[
        int, typer.Option(min=1, max=19, help="How much lower the jobs process runs (nice).")
    ] = 10,
) -> None:
    """Run the recording service (webhooks, agent and admin APIs, console, queue workers)."""
    from flexrec.cli.serve import run_service

    run_service(
        host=host,
        port=port,
        consumer_workers=0 if no_consumer else workers,
        processes=processes,
        jobs_nice=jobs_nice if jobs_process else None,
    )


@app.command()
def worker(
    workers: Annotated[int, typer.Option(help="Queue worker threads.")] = 4,
) -> None:
    """Run only the queue workers (scaled deployment: Redis queue, PostgreSQL database)."""
    from flexrec.cli.serve import run_worker

    run_worker(workers=workers)


@app.command()
def setup(
    public_url: Annotated[
        str,
        typer.Option(
            help="The URL Twilio will post to (FLEXREC_PUBLIC_URL).", envvar="FLEXREC_PUBLIC_URL"
        ),
    ],
    mode: Annotated[
        str, typer.Option(help="'workspace' (EventCallbackUrl) or 'event-streams' (sink).")
    ] = "workspace",
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the changes only.")] = False,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix", help="Also remove duplicate deliveries (a second subscription or callback)."
        ),
    ] = False,
) -> None:
    """Point a Twilio account at this service; report Flex's own recording and duplicates.

    Workspace mode sets the EventCallbackUrl and the EventsFilter flexrec needs; event-streams
    mode makes a webhook sink and its subscription. Says when nothing needed changing.
    """
    from flexrec.cli.setup import setup_command

    if mode not in ("workspace", "event-streams"):
        raise typer.BadParameter("mode must be 'workspace' or 'event-streams'")
    chosen: Literal["workspace", "event-streams"] = (
        "workspace" if mode == "workspace" else "event-streams"
    )
    raise typer.Exit(setup_command(public_url=public_url, mode=chosen, dry_run=dry_run, fix=fix))


@app.command()
def backfill(
    since: Annotated[
        str | None, typer.Option(help="Only recordings created on or after this date (YYYY-MM-DD).")
    ] = None,
) -> None:
    """Import the recordings already on the Twilio account into the archive."""
    from flexrec.cli.setup import backfill_command

    raise typer.Exit(backfill_command(since=since))


@app.command()
def coverage(
    since: Annotated[
        str,
        typer.Option(help="First day (YYYY-MM-DD, UTC) or moment (ISO 8601) of the period."),
    ],
    until: Annotated[
        str | None,
        typer.Option(
            help="Last day, included (YYYY-MM-DD), or end moment, excluded (default: the end "
            "of --since's day)."
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the whole report as one JSON object.")
    ] = False,
    only_exceptions: Annotated[
        bool,
        typer.Option("--only-exceptions", help="List only legs not fully recorded or never seen."),
    ] = False,
) -> None:
    """Every call leg Twilio has in the period, recorded or why not (exit 1 on any exception).

    Twilio's own call list (paged) is the source, so calls no webhook announced show too.
    """
    from flexrec.cli.coverage import coverage_command
    from flexrec.coverage.period import parse_period

    period = parse_period(since, until)
    raise typer.Exit(coverage_command(period, json_out=json_out, only_exceptions=only_exceptions))


app.add_typer(users, name="users")
app.add_typer(holds, name="legal-hold")
app.add_typer(transcription, name="transcription")
ByOption = Annotated[
    str | None, typer.Option(help="Who asks, for the audit log (default: your login name).")
]


@app.command()
def audit(
    user: Annotated[str | None, typer.Option(help="Only this actor (exact name).")] = None,
    recording: Annotated[str | None, typer.Option(help="Only this recording (RE…).")] = None,
    action: Annotated[
        str | None, typer.Option(help="Only this action (`--actions` lists them).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="From this day (YYYY-MM-DD, UTC) or moment (ISO 8601).")
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="To this day, included (YYYY-MM-DD), or moment, excluded."),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Entries per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many (newest first).")] = 0,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the page as one JSON object.")
    ] = False,
    csv_to: Annotated[
        str | None,
        typer.Option(
            "--csv",
            help="Write every matching entry (up to 100,000) as CSV to this file (- for "
            "stdout); the export is audited.",
        ),
    ] = None,
    by: ByOption = None,
    actions: Annotated[
        bool, typer.Option("--actions", help="List the action names and what each means.")
    ] = False,
) -> None:
    """The audit log, newest first: who played, downloaded, held, exported or signed in."""
    from flexrec.archive.audit_log import AuditFilters
    from flexrec.cli.audit import actions_command, audit_command
    from flexrec.coverage.period import PeriodError, parse_moment

    if actions:
        raise typer.Exit(actions_command())
    if recording is not None and not re.fullmatch(r"RE[0-9a-f]{32}", recording):
        raise CliError(f"--recording {recording!r} is not a recording SID (RE and 32 hex digits)")
    start = parse_moment("--since", since) if since else None
    stop = parse_moment("--until", until, end=True) if until else None
    if start is not None and stop is not None and stop <= start:
        raise PeriodError(f"--until ({until}) is not after --since ({since})")
    filters = AuditFilters(
        user=user,
        recording_sid=recording,
        action=action,
        since=start,
        until=stop,
        limit=limit,
        offset=offset,
    )
    raise typer.Exit(audit_command(filters, json_out=json_out, csv_to=csv_to, by=by))


@app.command()
def demo(
    calls: Annotated[int, typer.Option(help="How many calls to simulate.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the simulated day.")] = 7,
    faults: Annotated[
        str,
        typer.Option(
            help="Simulator faults, e.g. api=0.2,dup=0.1,reorder=0.1 (none by default); every "
            "key, early-ending recordings and blind attribute writes included, in "
            "`flexrec sim --help`."
        ),
    ] = "",
    restart: Annotated[
        bool, typer.Option("--restart", help="kill -9 the service mid-run and restart it.")
    ] = False,
    event_streams: Annotated[
        bool,
        typer.Option(
            "--event-streams", help="Deliver TaskRouter events through an Event Streams sink."
        ),
    ] = False,
    json_out: Annotated[
        bool, typer.Option("--json", help="End with one JSON object of the scores.")
    ] = False,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the demo's data here (default: a temp folder).")
    ] = None,
    processes: Annotated[
        int, typer.Option(min=1, help="Run the service with this many web processes.")
    ] = 1,
    card_data: Annotated[
        bool,
        typer.Option(
            "--card-data",
            help="Transcribe every recording, silence spoken card data and score it against "
            "the simulator's truth (CPU-heavy: try --calls 12).",
        ),
    ] = False,
    transcription_engine: Annotated[
        str | None,
        typer.Option(
            "--transcription-engine",
            help="The engine --card-data transcribes with (FLEXREC_TRANSCRIPTION_ENGINE; "
            "implies --card-data), e.g. faster-whisper after `flexrec transcription install "
            "faster-whisper`.",
        ),
    ] = None,
    transcription_model: Annotated[
        Path | None,
        typer.Option(
            "--transcription-model",
            help="Its model folder (FLEXREC_TRANSCRIPTION_MODEL; default: where `flexrec "
            "transcription install` puts it).",
        ),
    ] = None,
    scale: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Simulated seconds per real second (default 20, or 10 with --restart). Every "
            "real second the service spends counts as this many seconds of call: run x1 or x2 "
            "(with fewer calls) for the figures a real call would see.",
        ),
    ] = None,
) -> None:
    """Run the service against the simulator for a mixed day of calls and score it."""
    try:
        import flexsim  # noqa: F401 - cheap (names load on first use): is the extra installed?
    except ImportError:
        typer.echo(SIM_MISSING, err=True)
        raise typer.Exit(EXIT_USAGE) from None
    from flexrec.demo.runner import DemoOptions, run_demo

    engine_env: dict[str, str] = {}
    if transcription_engine is not None:
        from flexrec.transcription.install import default_folder

        card_data = True
        # The demo's service gets none of this shell's FLEXREC_ settings: name the engine.
        engine_env["FLEXREC_TRANSCRIPTION_ENGINE"] = transcription_engine
        if transcription_engine != "pocketsphinx":
            from flexrec.config import StorageSettings

            model = transcription_model or default_folder(
                StorageSettings().data_dir, transcription_engine
            )
            engine_env["FLEXREC_TRANSCRIPTION_MODEL"] = str(model.absolute())
    code = run_demo(
        DemoOptions(
            calls=calls,
            seed=seed,
            faults=faults,
            restart=restart,
            event_streams=event_streams,
            json_out=json_out,
            workdir=workdir,
            processes=processes,
            card_data=card_data,
            scale=scale,
            service_env=engine_env,
        )
    )
    raise typer.Exit(code)


def _register_custody() -> None:
    # verify / export / erase live beside their implementation (flexrec/cli_custody.py).
    from flexrec.cli.custody import add_custody_commands

    add_custody_commands(app)


_register_custody()


SIM_MISSING = (
    "flexrec: error: the simulator is not installed; `flexrec sim` and `flexrec demo` need "
    'flexrec\'s sim extra: pip install "flexrec[sim]" (make setup installs it)'
)


def _register_sim() -> None:
    # The simulator's command lives with the simulator (an optional dependency: `sim` extra).
    try:
        from flexsim.cli import sim
    except ImportError:

        @app.command(name="sim", help="Run the Twilio Flex simulator (needs flexrec[sim]).")
        def sim_missing() -> None:
            typer.echo(SIM_MISSING, err=True)
            raise typer.Exit(EXIT_USAGE)

        return
    app.command(name="sim")(sim)


def _debugging(argv: list[str]) -> bool:
    # Read before the command runs: the error may come from option parsing's own callbacks.
    return "--debug" in argv or os.environ.get("FLEXREC_DEBUG", "") not in ("", "0", "false")


# Commands that run for hours: their start-up is every restart's outage (each real second of it
# is a second of every live call unrecorded), and they never run the simulator, whose command's
# import alone costs a third of a second of CPU.
SERVICE_COMMANDS = frozenset({"serve", "worker"})


def command_of(argv: list[str]) -> str | None:
    """The command named in `argv` (the root's options are flags: the first other word)."""
    return next((word for word in argv if not word.startswith("-")), None)


def main() -> None:
    """Entry point of the `flexrec` script: a fixable error is one line on stderr, exit 2."""
    collecting = gc.isenabled()
    if command_of(sys.argv[1:]) in SERVICE_COMMANDS:
        # Start-up makes ~180,000 objects that live as long as the process: the collections
        # it would run find a few thousand to free and cost a quarter of a second of CPU.
        # The process turns the collector on once started (flexrec.cli.serve.quiet_collector).
        gc.disable()
    else:
        _register_sim()
    try:
        app()
    except Exception as exc:
        line = None if _debugging(sys.argv[1:]) else explain(exc)
        if line is None:
            raise
        print(f"flexrec: error: {line}", file=sys.stderr)
        sys.exit(exc.exit_code if isinstance(exc, CliError) else EXIT_USAGE)
    finally:
        if collecting:  # a start that failed before it was turned back on
            gc.enable()
