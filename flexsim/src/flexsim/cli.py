"""`flexsim`: run the Twilio Flex simulator in the foreground with a live progress display."""

from __future__ import annotations

import random
import socket
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from flexsim import defaults
from flexsim.config import SimConfig
from flexsim.engine import default_weights, scenario_names
from flexsim.faults import FaultPlan, FaultPlanError
from flexsim.latency import DEFAULT_LATENCY, LatencyError, LatencyModel
from flexsim.runner import SimRunner
from flexsim.speech.payment import draw_pause
from flexsim.variants import VariantError, check_pins

CREDENTIALS_HELP = (
    "Credentials: the simulated account is TWILIO_ACCOUNT_SID (default "
    f"{defaults.ACCOUNT_SID}) with auth token TWILIO_AUTH_TOKEN (default "
    f"{defaults.AUTH_TOKEN}); API key {defaults.API_KEY_SID} / {defaults.API_KEY_SECRET} "
    f"also works; workspace {defaults.WORKSPACE_SID}. Webhooks are signed with the auth token."
)


CONTROL_HELP = (
    "Control endpoints (JSON, on the same origin): POST /_sim/interactions "
    '{"scenario": "basic", "direction": "inbound"} starts a call now; GET /_sim/agents lists '
    "agents with the task each holds; POST /_sim/agents/{WK}/token "
    '{"roles": ["agent"], "ttl_s": 3600} issues that agent\'s Flex token (as the Flex UI holds '
    "one; it validates at this simulator's IAM); GET|POST /_sim/faults reads or replaces the "
    "fault plan; "
    "GET /_sim/truth (or /_sim/truth/{CA}), /_sim/stats and /_sim/webhooks show ground truth, "
    "counters and the webhook log; GET /_sim/requests?method=&path= the REST requests "
    "answered, in order; GET /_sim/recordings/{RE}/words what a recording says, word "
    "by word, with every card digit and distractor number (media ms). --rate 0 leaves traffic "
    "to POST /_sim/interactions. Arranging a world by hand (JSON bodies with the parameters of "
    "flexsim.arrange, answers the snapshot made): POST /_sim/arrange/workers, "
    "/_sim/arrange/calls, /_sim/arrange/calls/{CA}/status, /_sim/arrange/callees (how the far "
    "end of a REST-made call behaves), /_sim/arrange/tasks, /_sim/arrange/tasks/{WT}/status, "
    "/_sim/arrange/tasks/{WT}/attributes, /_sim/arrange/list-tasks-shape, "
    "/_sim/arrange/conferences, /_sim/arrange/recordings, /_sim/arrange/recordings/completed "
    "(a completed recording holding your WAV or MP3, base64 in `media`), "
    "/_sim/arrange/recordings/{RE}/end, /_sim/arrange/recordings/{RE}/delete, "
    "/_sim/arrange/sids (the next SIDs), /_sim/arrange/faults (the next requests of a method "
    "and path glob fail or wait); POST /_sim/advance "
    '{"seconds": 30} jumps simulated time ahead.'
)


FAULTS_HELP = (
    "Fault plan: comma-separated key=value, e.g. 'api=0.2,dup=0.1,reorder=0.1'. Transport: "
    "api (share of REST requests answered 429/500/503 unprocessed), timeout (share held past "
    "the client's timeout, unprocessed), latency (extra ms per request), dup / reorder / drop "
    "(share of webhooks sent twice, held back past the next one, never sent), delay (ms before "
    "each webhook). The world changing after a final state (off by default): absent / failed / "
    "stopped (share of call recordings created over REST that end early while the call is "
    "still in progress: silent and not stored, error 16102; not stored, error 16105; stopped "
    "by another API client, completed with the media so far), clobber (share of attribute "
    "writes adding a VoiceRecording to conversations.media that another integration "
    "overwrites seconds later from a stale copy without If-Match: the entries are dropped, its "
    "own 'crm' key added). seed (default --seed). Ground truth lists each call's faults."
)


def parse_weights(spec: str | None) -> dict[str, float]:
    """Parse `basic=40,hold=10,...` (unnamed scenarios keep their default weight)."""
    weights = default_weights()
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, raw = part.partition("=")
        name = name.strip()
        if not sep or name not in weights:
            raise typer.BadParameter(
                f"{part!r}: use scenario=weight with one of {scenario_names()}"
            )
        try:
            weights[name] = float(raw)
        except ValueError as exc:
            raise typer.BadParameter(f"{part!r}: the weight must be a number") from exc
    return weights


def variant_options(given: dict[str, str | None]) -> dict[str, str | None]:
    """SimConfig fields for the variant options given (`mix` draws the axis per call; an
    option left out keeps SimConfig's default)."""
    try:
        check_pins(given)
    except VariantError as exc:
        raise typer.BadParameter(str(exc)) from exc
    return {
        axis: (None if value == "mix" else value)
        for axis, value in given.items()
        if value is not None
    }


def _progress(sim: SimRunner, started: float, last: dict[str, float]) -> Table:
    engine = sim.engine.snapshot()
    hooks = sim.dispatcher.stats
    now = time.monotonic()
    rate = (hooks.sent - last["sent"]) / max(now - last["at"], 1e-6)
    last.update(sent=hooks.sent, at=now)
    table = Table(title=f"flexsim at {sim.base_url}", show_header=False)
    table.add_row("simulated time", time.strftime("%H:%M:%S", time.gmtime(sim.world.clock.now())))
    table.add_row("running for", f"{now - started:.0f} s")
    table.add_row("interactions active", str(engine["active"]))
    table.add_row("interactions finished", f"{engine['finished']} of {engine['generated']}")
    table.add_row("waiting for an agent", str(engine["waiting_for_agent"]))
    table.add_row("agents busy", f"{engine['agents_busy']} / {engine['agents']}")
    table.add_row(
        "webhooks",
        f"{hooks.sent} sent, {hooks.failed} failed, {hooks.retried} retried, {rate:.0f}/s",
    )
    by_scenario = ", ".join(f"{k} {v}" for k, v in sorted(engine["by_scenario"].items()))
    table.add_row("by scenario", by_scenario or "-")
    if engine["engine_errors"]:
        table.add_row("engine errors", str(engine["engine_errors"]))
    return table


def _port_free(host: str, port: int) -> None:
    # One line and exit 2 for a taken port, before the simulator's thread starts.
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            typer.echo(
                f"flexsim: error: cannot listen on {host}:{port} ({exc.strerror or exc}): "
                "another program uses it; stop it or choose another --port (0: any free port)",
                err=True,
            )
            raise typer.Exit(2) from None


def sim(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port (0: any free port).")] = (
        defaults.DEFAULT_PORT
    ),
    agents: Annotated[int, typer.Option(help="Number of Flex agents (workers).")] = 10,
    queues: Annotated[str, typer.Option(help="Comma-separated TaskQueue names.")] = "Everyone",
    rate: Annotated[float, typer.Option(help="Arrivals per simulated hour (Poisson).")] = 120.0,
    inbound_share: Annotated[
        float, typer.Option(help="Share of inbound calls among direction-neutral scenarios.")
    ] = 0.8,
    calls: Annotated[
        int | None, typer.Option(help="Stop after this many interactions (default: forever).")
    ] = None,
    scale: Annotated[
        float, typer.Option(help="Simulated seconds per real second (60: an hour a minute).")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same day.")] = 0,
    faults: Annotated[str | None, typer.Option(help=FAULTS_HELP)] = None,
    latency: Annotated[
        str,
        typer.Option(
            help="REST answer time LOW-HIGH in ms (5th-95th percentile of a log-normal), like "
            "Twilio's ~100-300 ms; '0' answers at once. Timeouts and 5xx: --faults."
        ),
    ] = DEFAULT_LATENCY,
    latency_real_time: Annotated[
        bool,
        typer.Option(
            "--latency-real-time",
            help="Keep --latency in real time whatever --scale (it is simulated time, like "
            "every duration, by default).",
        ),
    ] = False,
    event_callback_url: Annotated[
        str | None,
        typer.Option(help="The workspace's EventCallbackUrl: TaskRouter events go there."),
    ] = None,
    event_streams_url: Annotated[
        str | None,
        typer.Option(help="An Event Streams webhook sink subscribed to every TaskRouter event."),
    ] = None,
    call_status_callback_url: Annotated[
        str | None,
        typer.Option(help="Status callback of the account's own call legs (customers, agents)."),
    ] = None,
    conference_callback_url: Annotated[
        str | None,
        typer.Option(
            help="Conference status callback, on calls whose conference has one "
            "(--conference-callbacks)."
        ),
    ] = None,
    studio_recording_callback_url: Annotated[
        str | None,
        typer.Option(help="Recording status callback of a Studio flow's Call Recording."),
    ] = None,
    service_url: Annotated[
        str | None,
        typer.Option(
            help="Shorthand for a service serving every callback under one base URL: "
            "{url}/webhooks/taskrouter, /event-streams, /call-status, /conference and "
            "/recording-status; the options above win."
        ),
    ] = None,
    event_streams: Annotated[
        bool,
        typer.Option(
            "--event-streams",
            help="With --service-url: TaskRouter events through an Event Streams sink at "
            "{url}/webhooks/event-streams instead of the workspace EventCallbackUrl.",
        ),
    ] = False,
    events_filter: Annotated[
        str | None,
        typer.Option(
            help="The workspace's EventsFilter: comma-separated TaskRouter event types sent to "
            "its EventCallbackUrl (default: every type), and the types the --event-streams "
            "sink is subscribed to."
        ),
    ] = None,
    scenarios: Annotated[
        str | None,
        typer.Option(help=f"Scenario weights, e.g. 'basic=40,hold=10'; names: {scenario_names()}."),
    ] = None,
    talk_time: Annotated[float, typer.Option(help="Median talk time (simulated s).")] = 120.0,
    outbound_attributes: Annotated[
        str | None,
        typer.Option(
            help="Variant: Flex writes `conference` into outbound task attributes "
            "(written|absent|mix; default mix)."
        ),
    ] = None,
    participant_labels: Annotated[
        str | None,
        typer.Option(
            help="Variant: conference participants labelled customer/worker "
            "(present|absent|mix; default mix)."
        ),
    ] = None,
    conference_callbacks: Annotated[
        str | None,
        typer.Option(
            help="Variant: a conference status callback is configured (on|off|mix; default mix)."
        ),
    ] = None,
    studio_recording: Annotated[
        str | None,
        typer.Option(
            help="Variant: channels of a Studio flow's recording (dual|mono|mix; default mix)."
        ),
    ] = None,
    native_recording: Annotated[
        str | None,
        typer.Option(
            help="Variant: Flex's own Call Recording of the conference "
            "(off|dual|mono|mix; default mix)."
        ),
    ] = None,
    card_share: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Share of conversations in which the customer reads a card number out.",
        ),
    ] = 0.3,
    card_pause: Annotated[
        str | None,
        typer.Option(
            help="Variant: when the agent pauses for a card payment "
            "(in_time|late|never|mix; default mix)."
        ),
    ] = None,
) -> None:
    """Run a simulated Twilio Flex account: Twilio's REST paths, live traffic, signed webhooks."""
    try:
        FaultPlan.parse(faults)
    except FaultPlanError as exc:
        raise typer.BadParameter(str(exc), param_hint="--faults") from exc
    try:
        LatencyModel.parse(latency)
    except LatencyError as exc:
        raise typer.BadParameter(str(exc), param_hint="--latency") from exc
    given = {
        "outbound_attributes": outbound_attributes,
        "participant_labels": participant_labels,
        "conference_callbacks": conference_callbacks,
        "studio_recording": studio_recording,
        "native_recording": native_recording,
    }
    variants = variant_options(given)
    config = SimConfig(
        host=host,
        port=port,
        agents=agents,
        queues=tuple(q.strip() for q in queues.split(",") if q.strip()) or ("Everyone",),
        rate_per_hour=rate,
        inbound_share=inbound_share,
        scenario_weights=parse_weights(scenarios),
        calls=calls,
        scale=scale,
        seed=seed,
        service_url=service_url,
        event_streams=event_streams,
        events_filter=events_filter,
        event_callback_url=event_callback_url,
        event_streams_url=event_streams_url,
        call_status_callback_url=call_status_callback_url,
        conference_callback_url=conference_callback_url,
        studio_recording_callback_url=studio_recording_callback_url,
        faults=faults,
        rest_latency=latency,
        rest_latency_real_time=latency_real_time,
        talk_time_median_s=talk_time,
        card_share=card_share,
        card_pause=None if card_pause in (None, "mix") else card_pause,
    )
    try:
        draw_pause(random.Random(0), config.card_pause)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--card-pause") from exc
    for axis, value in variants.items():
        setattr(config, axis, value)
    console = Console()
    _port_free(host, port)
    runner = SimRunner(config)
    runner.start()
    started = time.monotonic()
    last = {"sent": 0.0, "at": started}
    console.print(f"[bold]flexsim[/] (a simulated Twilio Flex account) on {runner.base_url}")
    if not any(vars(config.callback_urls()).values()):
        console.print(
            "no callback URLs: the account sends nothing until a client configures one over "
            "REST (workspace EventCallbackUrl, Event Streams sinks, a call's StatusCallback)"
        )
    try:
        with Live(_progress(runner, started, last), console=console, refresh_per_second=2) as live:
            while True:
                time.sleep(0.5)
                live.update(_progress(runner, started, last))
                if calls is not None and runner.done():
                    break
    except KeyboardInterrupt:
        pass
    finally:
        runner.stop()
    console.print("simulator stopped")


SDK_HELP = (
    "Point the official SDK at it: from Python, flexsim.testing.sdk_client('http://HOST:PORT'); "
    "from any SDK, a custom HTTP client that sends Twilio's paths to http://HOST:PORT. Ground "
    "truth, stats and the webhook log are at /_sim/truth, /_sim/stats and /_sim/webhooks."
)
sim.__doc__ = f"{sim.__doc__}\n\n    {SDK_HELP}\n\n    {CONTROL_HELP}\n\n    {CREDENTIALS_HELP}"


def main() -> None:
    """Entry point of the `flexsim` command (`flexrec sim` is the same command)."""
    typer.run(sim)
