"""What `flexrec coverage` does: build the period's report and print it (table or JSON)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from flexrec.cli.errors import CliError
from flexrec.cli.tables import print_table
from flexrec.config import Settings
from flexrec.coverage.outcomes import REASONS, LegCoverage
from flexrec.coverage.period import Period
from flexrec.coverage.report import CoverageReport, build_report

_STYLE = {
    "recorded": "green",
    "partly_recorded": "yellow",
    "not_recorded": "red",
    "not_seen": "red",
    "in_progress": "cyan",
    "not_eligible": "dim",
}


def report_for(settings: Settings, period: Period) -> CoverageReport:
    """The report of `period` for the account and database the settings name."""
    from flexrec.cli.admin import open_database
    from flexrec.recording.policy import load_policy
    from flexrec.twilio.client import make_client
    from flexrec.twilio.gateway import SdkGateway

    if not settings.twilio.account_sid:
        raise CliError(
            "the coverage report lists the account's calls from Twilio: set TWILIO_ACCOUNT_SID "
            "and TWILIO_AUTH_TOKEN (or TWILIO_API_KEY and TWILIO_API_SECRET)"
        )
    policy = load_policy(settings.policy)
    client = make_client(settings.twilio)
    gateway = SdkGateway(client, settings.twilio.account_sid, settings.twilio.workspace_sid)
    try:
        with open_database(settings) as sessions:
            return build_report(gateway, sessions, period, policy_leg=policy.leg)
    finally:
        close = getattr(client.http_client, "close", None)
        if callable(close):
            close()


def _when(epoch_ms: int | None) -> str:
    if epoch_ms is None:
        return "-"
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%m-%d %H:%M:%S")


def _legs(count: int) -> str:
    return f"{count} leg" if count == 1 else f"{count} legs"


def _figures(leg: LegCoverage) -> str:
    if leg.outcome in ("recorded", "partly_recorded", "not_recorded"):
        gap = f", gap {leg.start_gap_s:.0f} s" if leg.start_gap_s is not None else ""
        paused = f", paused {leg.paused_s:.0f} s" if leg.paused_s else ""
        return f"{leg.recorded_s:.0f}/{leg.talk_s:.0f} s{paused}{gap}"
    return f"{leg.duration_s} s" if leg.duration_s is not None else "-"


def legs_table(legs: list[LegCoverage], title: str) -> Table:
    """The legs as a terminal table, oldest first."""
    table = Table(title=title, title_justify="left")
    for column in ("started (UTC)", "call leg", "role", "outcome", "recorded/talk", "why"):
        table.add_column(column, no_wrap=column in ("call leg", "started (UTC)"))
    for leg in legs:
        style = _STYLE.get(leg.outcome, "")
        why = leg.detail if leg.reason else ", ".join(leg.recording_sids)
        if leg.reason and leg.reason in REASONS and leg.outcome == "not_eligible":
            why = f"{leg.reason}: {leg.detail}"
        table.add_row(
            _when(leg.started_ms),
            leg.call_sid,
            leg.role,
            f"[{style}]{leg.outcome.replace('_', ' ')}[/]" if style else leg.outcome,
            _figures(leg),
            why,
        )
    return table


def print_report(report: CoverageReport, console: Console, *, only_exceptions: bool) -> None:
    """The report for a person: the legs, then the summary and the exceptions in words."""
    s = report.summary
    legs = report.exceptions if only_exceptions else report.legs
    title = (
        f"Call legs of {report.period.describe()} on {report.account_sid} "
        f"({len(legs)} of {s.legs} shown)"
    )
    if legs:
        print_table(legs_table(legs, title), console)
    pct = s.talk_time_recorded_pct
    console.print(
        f"[bold]{report.period.describe()}[/]: {s.legs} call legs; "
        f"{s.recorded_calls} of {s.eligible_calls} eligible calls recorded "
        f"({s.fully_recorded_calls} fully), "
        f"{'n/a' if pct is None else f'{pct:.2f}%'} of eligible talk time recorded "
        f"(pauses excluded); {_legs(s.not_seen_legs)} flexrec never saw; "
        f"{_legs(s.in_progress_legs)} still in progress. "
        f"Twilio requests: {report.twilio_requests}."
    )
    if report.outages:
        count = len(report.outages)
        times = "once" if count == 1 else f"{count} times"
        windows = ", ".join(o.describe() for o in report.outages)
        console.print(f"[yellow]flexrec was down {times} in the period:[/] {windows}.")
    exceptions = report.exceptions
    if not exceptions:
        console.print("[green]Every eligible call of the period was recorded.[/]")
        return
    console.print(
        f"Every eligible call of the period was recorded, except these {len(exceptions)}:"
    )
    for leg in exceptions:
        outcome = leg.outcome.replace("_", " ")
        console.print(f"  {leg.call_sid} ({_when(leg.started_ms)}): {outcome}: {leg.detail}")


def coverage_command(period: Period, *, json_out: bool, only_exceptions: bool) -> int:
    """Print the report; 0 when every eligible call was recorded and every leg seen, else 1."""
    report = report_for(Settings.from_env(), period)
    if json_out:
        print(json.dumps(report.as_json(), sort_keys=True))
    else:
        print_report(report, Console(), only_exceptions=only_exceptions)
    return 1 if report.exceptions else 0
