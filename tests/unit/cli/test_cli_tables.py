"""Tables in the command line never cut a value someone copies (SIDs, URLs)."""

from __future__ import annotations

import io

from rich.console import Console
from rich.table import Table

from flexrec.cli.setup import _print_changes
from flexrec.cli.setup_twilio import Change
from flexrec.cli.tables import print_table

RE = "REbaf3897a3e7" + "4" * 19
URL = "https://recording.example.com/webhooks/taskrouter"
OLD_URL = "https://old-recorder.example.org/flex/some/long/path/webhooks/taskrouter"


def _narrow() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=80, force_terminal=False), out


def test_a_wide_table_keeps_every_sid_whole_on_a_narrow_terminal() -> None:
    table = Table()
    for column in ("recording", "held by", "since", "reason", "retention date"):
        table.add_column(column)
    table.add_row(RE, "cli:someone", "2026-12-06 22:40 UTC", "matter 2026-17 " * 3, "2027-12-06")
    console, out = _narrow()
    console.print(table)
    assert RE not in out.getvalue()  # what rich does by itself: "REbaf3897a3e…"
    console, out = _narrow()
    print_table(table, console)
    text = out.getvalue()
    assert RE in text
    assert "matter 2026-17" in text  # free text still wraps between words


def test_setup_dry_run_shows_whole_urls() -> None:
    console, out = _narrow()
    changes = [Change("workspace EventCallbackUrl", OLD_URL, URL, applied=False)]
    _print_changes(console, changes, dry_run=True)
    text = out.getvalue()
    assert URL in text and OLD_URL in text
