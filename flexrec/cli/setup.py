"""What `flexrec setup`, `backfill` and `users add` do, with their terminal output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flexrec.cli.errors import CliError
from flexrec.cli.start_checks import card_data_engine
from flexrec.cli.tables import print_table
from flexrec.config import Settings


def setup_command(
    *,
    public_url: str,
    mode: Literal["workspace", "event-streams"],
    dry_run: bool,
    fix: bool = False,
) -> int:
    """Point the account at the service and print each change; 0 on success.

    A problem the user can fix (credentials refused, Twilio unreachable, no such workspace)
    raises and the CLI prints it as one line (exit 2). Duplicate deliveries are removed with
    `fix`; asked for on a terminal otherwise.
    """
    import sys

    from flexrec.cli.setup_twilio import nothing_to_do, run_setup

    console = Console()
    settings = Settings.from_env()
    url = public_url.rstrip("/")
    changes = run_setup(settings, url, mode, dry_run, fix=fix)
    fixable = [c for c in changes if c.warning and "--fix" in c.what]
    if fixable and not (fix or dry_run) and sys.stdin.isatty():
        _print_changes(console, changes, dry_run)
        if console.input("Remove the duplicate deliveries now? [y/N] ").strip().lower() == "y":
            changes = run_setup(settings, url, mode, dry_run, fix=True)
        else:
            return 0
    _print_changes(console, changes, dry_run)
    for line in card_data_notes(settings):
        console.print(line)
    if nothing_to_do(changes):
        console.print(
            "[green]Nothing needed changing:[/] the account already sends flexrec the events it "
            "needs, once."
        )
    elif not any(c.applied or not (c.warning or c.info) for c in changes):
        console.print("Nothing needed changing; see the warnings above.")
    return 0


def card_data_notes(settings: Settings) -> list[str]:
    """What `flexrec setup` says about spoken card data, Twilio's unredacted copy and the
    card-data webhook."""
    hook = urlsplit(settings.card_data.card_data_webhook_url.strip()).hostname
    if not settings.card_data.card_data:
        notes = [
            "Spoken card numbers are not checked (FLEXREC_CARD_DATA=true transcribes each "
            "recording and silences card data before archiving it)."
        ]
        if hook:
            notes.append(
                f"[yellow]FLEXREC_CARD_DATA_WEBHOOK_URL ({hook}) will never be called[/]: "
                "nothing is checked for card data without FLEXREC_CARD_DATA=true."
            )
        return notes
    notes = [f"Spoken card data is silenced before archiving; {card_data_engine(settings)}."]
    if not settings.storage.delete_from_twilio:
        notes.append(
            "[yellow]Twilio keeps its unredacted copy of every recording[/]: set "
            "FLEXREC_DELETE_FROM_TWILIO=true so it is deleted once the redacted one is archived, "
            "and keep Insights playing through flexrec's url_provider (Insights would otherwise "
            "play Twilio's copy, or nothing once it is gone)."
        )
    else:
        notes.append(
            "Twilio's copy is deleted once the redacted one is archived: Insights must play "
            "through flexrec's url_provider (the VoiceRecording entry flexrec writes)."
        )
    if hook:
        notes.append(f"A signed notice of each call with card data silenced is posted to {hook}.")
    return notes


def _print_changes(console: Console, changes: list[Any], dry_run: bool) -> None:
    planned = [c for c in changes if not c.info]
    if planned:
        changed = any(not (c.warning or c.info) for c in planned)
        title = "Warnings" if not changed else "Dry run: nothing was changed"
        table = Table(title=title if dry_run or not changed else "Changes made")
        table.add_column("what")
        table.add_column("before")
        table.add_column("after")
        table.add_column("")
        for change in planned:
            state = (
                "[yellow]warning[/]"
                if change.warning
                else ("done" if change.applied else "planned")
            )
            table.add_row(change.what, change.before or "", change.after or "", state)
        print_table(table, console)
    for change in changes:
        if change.info:
            console.print(change.what)


def backfill_command(*, since: str | None) -> int:
    """Archive every completed recording already on the account, with a progress bar."""
    from flexrec.app.services import build_services
    from flexrec.archive.backfill import BackfillProgress, backfill

    console = Console()
    settings = Settings.from_env()
    start = parse_since(since)
    services = build_services(settings, run_consumer=False)
    try:
        archive = services.archive
        assert archive is not None  # noqa: S101 - build_services attaches it
        with Progress(
            TextColumn("[bold]Backfill"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("backfill", total=None, last="")

            def step(update: BackfillProgress) -> None:
                progress.update(
                    task, completed=update.done, last=f"{update.recording_sid} {update.outcome}"
                )

            report = backfill(services.client, archive.job, since=start, progress=step)
    finally:
        services.close()
    console.print(
        f"seen {report.seen}: archived {len(report.archived)}, already archived "
        f"{len(report.already)}, skipped {len(report.skipped)}, failed {len(report.failed)}"
    )
    for sid, error in report.failed.items():
        console.print(f"[red]{sid}[/]: {error}")
    return 1 if report.failed else 0


def parse_since(since: str | None) -> datetime | None:
    """`--since` as a UTC midnight, or a `CliError` saying the format."""
    if not since:
        return None
    try:
        return datetime.strptime(since, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CliError(
            f"--since {since!r} is not a date: write it as YYYY-MM-DD, e.g. 2026-01-31"
        ) from None


def add_user_command(*, username: str, password: str, role: str, worker_sid: str | None) -> int:
    """Create a console account in the service's database."""
    from flexrec.accounts.changes import audit_account
    from flexrec.accounts.users import UserError, create_user
    from flexrec.cli.admin import operator
    from flexrec.db.base import make_engine, make_session_factory
    from flexrec.db.migrate import upgrade

    console = Console()
    settings = Settings.from_env()
    url = settings.storage.resolved_database_url()
    if url.startswith("sqlite:///"):
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            try:
                create_user(session, username, password, role, worker_sid)
                audit_account(
                    session, "user_created", operator(None), username, role=role,
                    worker_sid=worker_sid,
                )  # fmt: skip
                session.commit()
            except UserError as exc:
                if role == "agent" and not worker_sid:
                    raise CliError(
                        f"{exc}: give --worker-sid WK…, or --worker NAME to look it up in "
                        "TaskRouter (`flexrec users workers` lists them)"
                    ) from None
                raise CliError(str(exc)) from None
    finally:
        engine.dispose()
    console.print(f"created {role} [bold]{username}[/]")
    return 0
