"""What `flexrec audit` does: the audit log read, filtered, printed or exported as CSV.

The same filters and CSV as the console's Audit log page and `GET /api/admin/audit`
(flexrec.archive.audit_log); an export is audited like theirs, under the operator's name.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from flexrec.archive import audit_log
from flexrec.archive.audit_actions import AUDIT_ACTION_MEANINGS, UnknownAuditAction
from flexrec.cli.admin import open_database, operator
from flexrec.cli.errors import CliError
from flexrec.cli.tables import print_table


def audit_command(
    filters: audit_log.AuditFilters,
    *,
    json_out: bool = False,
    csv_to: str | None = None,
    by: str | None = None,
) -> int:
    """Print the matching entries (newest first), or write them as CSV to `csv_to` (`-`: stdout)."""
    try:
        with open_database() as sessions:
            if csv_to is not None:
                body = audit_log.export_csv(sessions, filters, operator(by), via="cli")
                _write(csv_to, body)
                return 0
            with sessions() as session:
                rows, total = audit_log.search(session, filters)
                entries = [audit_log.public(r) for r in rows]
    except UnknownAuditAction as exc:
        raise CliError(f"{exc} (`flexrec audit --actions` says what each means)") from None
    if json_out:
        print(json.dumps({"items": entries, "total": total, "offset": filters.offset}))
        return 0
    _print(entries, total, filters)
    return 0


def _write(target: str, body: str) -> None:
    if target == "-":
        sys.stdout.write(body)
        return
    path = Path(target)
    try:
        path.write_text(body, encoding="utf-8")
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
    rows = body.count("\n") - 1
    print(f"wrote {rows} audit entr{'y' if rows == 1 else 'ies'} to {target}", file=sys.stderr)


def _print(entries: list[dict[str, object]], total: int, f: audit_log.AuditFilters) -> None:
    console = Console()
    if not entries:
        console.print("no audit entry matches")
        return
    shown = f"{f.offset + 1}-{f.offset + len(entries)} of {total}"
    table = Table(title=f"audit log, newest first ({shown})", title_justify="left")
    # Values people copy (SIDs, addresses) are never cut; the detail column wraps instead.
    table.add_column("at (UTC)", no_wrap=True)
    table.add_column("actor", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("recording", no_wrap=True)
    table.add_column("ip", no_wrap=True)
    table.add_column("detail", overflow="fold", min_width=40)
    for e in entries:
        detail = json.dumps(e["detail"], sort_keys=True, separators=(",", ":"))
        table.add_row(
            str(e["at"]).replace("T", " ")[:19],  # to the second; --json has it all
            str(e["actor"]),
            str(e["action"]),
            str(e["recording_sid"] or "-"),
            str(e["ip"] or "-"),
            "" if detail == "{}" else detail,
        )
    print_table(table, console)
    if f.offset + len(entries) < total:
        console.print(f"[dim]more: --offset {f.offset + len(entries)} (or --csv FILE for all)[/]")


def actions_command() -> int:
    """Print every action name the audit log holds, and what it means."""
    table = Table(title="audit actions", title_justify="left")
    table.add_column("action", no_wrap=True)
    table.add_column("meaning")
    for name, meaning in sorted(AUDIT_ACTION_MEANINGS.items()):
        table.add_row(name, meaning)
    print_table(table)
    return 0
