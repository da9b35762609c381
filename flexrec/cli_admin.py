"""What `flexrec legal-hold …` does, with its terminal output (the database only: no Twilio).

Every change is audited under the operator's name (`--by`, default the login name), marked as
coming from the command line.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.holds import HoldError, list_holds, place_hold, release_hold
from flexrec.cli_errors import CliError
from flexrec.config import Settings


@contextmanager
def open_database(settings: Settings | None = None) -> Iterator[sessionmaker[Session]]:
    """The service's database, migrated, for a command that runs beside (or without) it."""
    from flexrec.db.base import make_engine, make_session_factory
    from flexrec.db.migrate import upgrade

    settings = settings or Settings.from_env()
    url = settings.storage.resolved_database_url()
    if not settings.storage.database_url:
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def operator(by: str | None) -> str:
    """Who the audit log names for a command-line change."""
    name = by or getpass.getuser()
    return f"cli:{name}"


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "-"


def hold_command(recording_sid: str, *, reason: str, by: str | None, release: bool) -> int:
    """Set or release one hold and print the outcome."""
    console = Console()
    try:
        with open_database() as sessions:
            if release:
                facts = release_hold(sessions, recording_sid, operator(by), reason)
            else:
                facts = place_hold(sessions, recording_sid, operator(by), reason)
    except RecordingNotArchived:
        raise CliError(
            f"{recording_sid} is not in the archive: check the SID (`flexrec legal-hold list` "
            "shows holds; the console lists recordings)"
        ) from None
    except HoldError as exc:
        raise CliError(str(exc)) from None
    if release:
        console.print(f"released the legal hold on [bold]{recording_sid}[/]")
    else:
        console.print(f"[bold]{recording_sid}[/] is on legal hold: {facts.hold_reason}")
    return 0


def list_holds_command() -> int:
    """Print every hold in force."""
    console = Console()
    with open_database() as sessions:
        holds = list_holds(sessions)
    if not holds:
        console.print("no recording is on legal hold")
        return 0
    table = Table(title=f"{len(holds)} recording(s) on legal hold")
    for column in ("recording", "held by", "since", "reason", "retention date"):
        table.add_column(column)
    for facts in holds:
        table.add_row(
            facts.recording_sid,
            facts.held_by or "-",
            _when(facts.held_at),
            facts.hold_reason or "-",
            _when(facts.retain_until),
        )
    console.print(table)
    return 0
