"""`flexrec users` and `flexrec legal-hold`: the console's accounts and the archive's holds.

Each command parses its options and hands over to flexrec.cli.admin, imported when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

JsonOption = Annotated[
    bool, typer.Option("--json", help="Print one JSON object (for scripts) instead of a table.")
]
users = typer.Typer(help="Console accounts.", no_args_is_help=True)


@users.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Sign-in name.")],
    role: Annotated[str, typer.Option(help="agent, supervisor or admin.")] = "supervisor",
    worker_sid: Annotated[
        str | None, typer.Option(help="The agent's TaskRouter worker SID (agents only).")
    ] = None,
    worker: Annotated[
        str | None,
        typer.Option(help="Find the agent's worker SID by the worker's name in TaskRouter."),
    ] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
) -> None:
    """Create a console account (password asked on the terminal, never echoed).

    Without a terminal: --password-stdin, or FLEXREC_NEW_PASSWORD.
    """
    from flexrec.cli.admin import read_new_password, resolve_worker
    from flexrec.cli.errors import CliError
    from flexrec.cli.setup import add_user_command

    if role == "agent" and not (worker or worker_sid):
        raise CliError(
            "an agent account needs the agent's worker: --worker NAME looks it up in TaskRouter "
            "(`flexrec users workers` lists them), or --worker-sid WK…"
        )
    if worker and not worker_sid:
        worker_sid = resolve_worker(worker)
    password = read_new_password(password_stdin)
    raise typer.Exit(
        add_user_command(username=username, password=password, role=role, worker_sid=worker_sid)
    )


UserArg = Annotated[str, typer.Argument(help="The account's sign-in name.")]
UserBy = Annotated[
    str | None, typer.Option(help="Who makes the change, for the audit log (default: login).")
]


@users.command("list")
def users_list(json_out: JsonOption = False) -> None:
    """List console accounts (role, worker SID, disabled or not)."""
    from flexrec.cli.admin import users_list_command

    raise typer.Exit(users_list_command(json_out=json_out))


@users.command("disable")
def users_disable(username: UserArg, by: UserBy = None) -> None:
    """Stop an account signing in (its open sessions end too)."""
    from flexrec.cli.admin import users_change_command

    raise typer.Exit(users_change_command(username, "disable", by))


@users.command("enable")
def users_enable(username: UserArg, by: UserBy = None) -> None:
    """Let a disabled account sign in again."""
    from flexrec.cli.admin import users_change_command

    raise typer.Exit(users_change_command(username, "enable", by))


@users.command("remove")
def users_remove(username: UserArg, by: UserBy = None) -> None:
    """Delete an account (its audit history stays)."""
    from flexrec.cli.admin import users_change_command

    raise typer.Exit(users_change_command(username, "remove", by))


@users.command("role")
def users_role(
    username: UserArg,
    role: Annotated[str, typer.Argument(help="agent, supervisor or admin.")],
    worker_sid: Annotated[str | None, typer.Option(help="The worker SID (to agent).")] = None,
    worker: Annotated[str | None, typer.Option(help="Find the worker SID by name.")] = None,
    by: UserBy = None,
) -> None:
    """Change an account's role (an agent needs its worker SID)."""
    from flexrec.cli.admin import resolve_worker, users_change_command

    if worker and not worker_sid:
        worker_sid = resolve_worker(worker)
    raise typer.Exit(users_change_command(username, "role", by, role=role, worker_sid=worker_sid))


@users.command("reset-password")
def users_reset_password(
    username: UserArg,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    by: UserBy = None,
) -> None:
    """Give an account a new password (asked on the terminal, or --password-stdin)."""
    from flexrec.cli.admin import read_new_password, users_change_command

    password = read_new_password(password_stdin)
    raise typer.Exit(users_change_command(username, "password", by, password=password))


@users.command("workers")
def users_workers(
    name: Annotated[str, typer.Argument(help="Part of the worker's name (empty: all).")] = "",
    json_out: JsonOption = False,
) -> None:
    """Find agents' TaskRouter worker SIDs by name (for `users add --role agent`)."""
    from flexrec.cli.admin import workers_command

    raise typer.Exit(workers_command(name, json_out=json_out))


holds = typer.Typer(
    help="Legal holds: a held recording is never deleted (retention, Twilio clean-up).",
    no_args_is_help=True,
)
RecordingSidArg = Annotated[str, typer.Argument(help="The recording's SID (RE...).")]
ByOption = Annotated[
    str | None, typer.Option(help="Who asks, for the audit log (default: your login name).")
]


@holds.command("add")
def legal_hold_add(
    recording_sid: RecordingSidArg,
    reason: Annotated[str, typer.Option(help="Why: a case or matter reference (required).")],
    by: ByOption = None,
) -> None:
    """Put a recording on legal hold (audited with who, when and why)."""
    from flexrec.cli.admin import hold_command

    raise typer.Exit(hold_command(recording_sid, reason=reason, by=by, release=False))


@holds.command("remove")
def legal_hold_remove(
    recording_sid: RecordingSidArg,
    reason: Annotated[str, typer.Option(help="Why the hold ends (required).")],
    by: ByOption = None,
) -> None:
    """Release a legal hold; retention applies again from its next sweep.

    Exit code 3 when the recording is not on hold (nothing changed).
    """
    from flexrec.cli.admin import hold_command

    raise typer.Exit(hold_command(recording_sid, reason=reason, by=by, release=True))


@holds.command("list")
def legal_hold_list(json_out: JsonOption = False) -> None:
    """List the recordings on legal hold."""
    from flexrec.cli.admin import list_holds_command

    raise typer.Exit(list_holds_command(json_out=json_out))
