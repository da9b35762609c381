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


def test_a_folded_detail_fits_the_terminal_instead_of_widening_the_table() -> None:
    # `flexrec audit`: a `sealed` row's JSON detail has no space, so rich sized its column to
    # the whole string and the table came out ~650 columns wide on a 100-column terminal.
    detail = '{"storage_key":"recordings/2026/12/07/' + RE + '.wav","stored_sha256":"' + "a" * 64
    detail += '","size_bytes":1016820,"retain_until":"2027-12-07T01:21:32.619149+00:00"}'
    table = Table()
    for column in ("at (UTC)", "actor", "action", "recording"):
        table.add_column(column, no_wrap=True)
    table.add_column("detail", overflow="fold", min_width=40)
    table.add_row("2026-12-07 01:21:32", "system", "sealed", RE, detail)
    out = io.StringIO()
    print_table(table, Console(file=out, width=120, force_terminal=False))
    lines = out.getvalue().splitlines()
    assert max(len(line) for line in lines) <= 120
    assert RE in lines[3]  # the SID whole on its row
    folded = "".join(line.split("│")[-2].strip() for line in lines[3:-1])
    assert folded == detail  # the detail whole, folded over lines
