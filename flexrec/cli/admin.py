"""What `flexrec legal-hold …` does, with its terminal output (the database only: no Twilio).

Every change is audited under the operator's name (`--by`, default the login name), marked as
coming from the command line.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.holds import HoldError, NotHeld, list_holds, place_hold, release_hold
from flexrec.cli.errors import EXIT_CONFLICT, CliError
from flexrec.cli.tables import print_table
from flexrec.config import Settings


@contextmanager
def open_database(
    settings: Settings | None = None, *, create: bool = False
) -> Iterator[sessionmaker[Session]]:
    """The service's database, migrated, for a command that runs beside (or without) it.

    Without `create`, a missing SQLite file is an error rather than a new empty database: a
    report run from the wrong folder must not read "OK, 0 objects" or "nothing recorded".
    """
    from flexrec.db.base import make_engine, make_session_factory
    from flexrec.db.migrate import upgrade

    settings = settings or Settings.from_env()
    url = settings.storage.resolved_database_url()
    if not create:
        _require_sqlite_file(url)
    if not settings.storage.database_url:
        settings.storage.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _require_sqlite_file(url: str) -> None:
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return
    path = Path(url[len(prefix) :].split("?", 1)[0])
    if not path.is_file():
        raise CliError(
            f"no flexrec database at {path}: run this where `flexrec serve` keeps its data, or "
            "set FLEXREC_DATA_DIR (or FLEXREC_DATABASE_URL) to the service's"
        )


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
    except NotHeld as exc:
        raise CliError(str(exc), exit_code=EXIT_CONFLICT) from None
    except HoldError as exc:
        raise CliError(str(exc)) from None
    if release:
        console.print(f"released the legal hold on [bold]{recording_sid}[/]")
    else:
        console.print(f"[bold]{recording_sid}[/] is on legal hold: {facts.hold_reason}")
    return 0


def list_holds_command(*, json_out: bool = False) -> int:
    """Print every hold in force (`json_out`: one JSON object, as the admin API answers)."""
    console = Console()
    with open_database() as sessions:
        holds = list_holds(sessions)
    if json_out:
        print(json.dumps({"items": [f.public() for f in holds]}))
        return 0
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
    print_table(table, console)
    return 0


# ---------------------------------------------------------------- console accounts


def read_new_password(password_stdin: bool, *, confirm: bool = True) -> str:
    """The new password: FLEXREC_NEW_PASSWORD, a line on stdin, or asked on the terminal."""
    import os
    import sys

    import typer

    given = os.environ.get("FLEXREC_NEW_PASSWORD", "")
    if given:
        return given
    if password_stdin:
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise CliError("--password-stdin read no password: pipe one line, the password")
        return line
    if not sys.stdin.isatty():
        raise CliError(
            "no terminal to ask the password on: pipe it with --password-stdin "
            "(printf '%s\\n' \"$PW\" | flexrec users add NAME --password-stdin) "
            "or set FLEXREC_NEW_PASSWORD"
        )
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=confirm))


def _workers_named(name: str) -> list[Any]:
    """TaskRouter workers named like `name`, in the configured (or Flex's) workspace."""
    from flexrec.cli.setup_twilio import find_workspace
    from flexrec.twilio.client import make_client
    from flexrec.twilio.gateway import SdkGateway
    from flexrec.twilio.workers import find_workers

    settings = Settings.from_env()
    client = make_client(settings.twilio)
    workspace = settings.twilio.workspace_sid
    if not workspace:
        gateway = SdkGateway(client, settings.twilio.account_sid, "")
        workspace = find_workspace(gateway, "").sid
    return find_workers(client, workspace, name)


def resolve_worker(worker: str) -> str:
    """The SID of the one TaskRouter worker named `worker` (a SID is returned as given)."""
    if worker.startswith("WK") and len(worker) == 34:
        return worker
    found = _workers_named(worker)
    if len(found) == 1:
        return str(found[0].sid)
    if not found:
        raise CliError(
            f"no TaskRouter worker is named like {worker!r}: `flexrec users workers` lists them"
        )
    names = ", ".join(f"{w.friendly_name} ({w.sid})" for w in found[:5])
    raise CliError(f"{len(found)} workers match {worker!r}: {names}; give the exact name or SID")


def workers_command(name: str, *, json_out: bool = False) -> int:
    """Print the TaskRouter workers matching `name` (all of them without one)."""
    found = _workers_named(name)
    if json_out:
        items = [{"sid": w.sid, "name": w.friendly_name, "activity": w.activity} for w in found]
        print(json.dumps({"items": items}))
        return 0 if found else 1
    console = Console()
    if not found:
        console.print(
            f"no worker is named like {name!r}" if name else "the workspace has no worker"
        )
        return 1
    table = Table(title="TaskRouter workers")
    for column in ("worker SID", "name", "activity"):
        table.add_column(column, no_wrap=column == "worker SID")
    for w in found:
        table.add_row(w.sid, w.friendly_name, w.activity or "-")
    print_table(table, console)
    return 0


def users_list_command(*, json_out: bool = False) -> int:
    """Print every console account."""
    from flexrec.accounts.changes import list_accounts

    console = Console()
    with open_database() as sessions, sessions() as session:
        accounts = list_accounts(session)
    if json_out:
        print(json.dumps({"items": [a.public() for a in accounts]}))
        return 0
    if not accounts:
        console.print("no console account yet: flexrec users add NAME --role supervisor")
        return 0
    table = Table(title=f"{len(accounts)} console account(s)")
    for column in ("user", "role", "worker SID", "state", "created"):
        table.add_column(column, no_wrap=column == "worker SID")
    for a in accounts:
        state = "[red]disabled[/]" if a.disabled else "active"
        table.add_row(a.username, a.role, a.worker_sid or "-", state, _when(a.created_at))
    print_table(table, console)
    return 0


def users_change_command(username: str, change: str, by: str | None, **options: Any) -> int:
    """Apply one account change (`disable`, `enable`, `remove`, `role`, `password`)."""
    from flexrec.accounts import changes as accounts
    from flexrec.accounts.users import UserError

    actor = operator(by)
    console = Console()
    try:
        with open_database() as sessions, sessions() as session:
            if change == "remove":
                accounts.remove_account(session, username, actor)
            elif change in ("disable", "enable"):
                accounts.set_disabled(session, username, change == "disable", actor)
            elif change == "role":
                accounts.change_role(
                    session, username, options["role"], actor, options.get("worker_sid")
                )
            elif change == "password":
                accounts.reset_password(session, username, options["password"], actor)
            session.commit()
    except UserError as exc:
        raise CliError(str(exc)) from None
    done = {
        "remove": "removed",
        "disable": "disabled (cannot sign in; open sessions end)",
        "enable": "enabled",
        "role": f"is now {options.get('role')}",
        "password": "has a new password",
    }[change]
    console.print(f"[bold]{username}[/] {done}")
    return 0
