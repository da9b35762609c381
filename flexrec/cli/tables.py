"""How the command line prints a table: never cutting a value someone will copy.

Rich fits a table to the terminal (80 columns when output is not a terminal) by shortening cells
with "…": a recording SID or a URL cut that way is useless. Here each column is at least as wide
as its longest word (free text still wraps between words; a column made to fold, such as a JSON
detail, may break anywhere), and the table as wide as that needs; a terminal narrower than that
wraps the lines, which keeps every value whole. Commands that list things also take `--json`.
"""

from __future__ import annotations

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text


def _longest_word(cells: object) -> int:
    longest = 0
    for cell in cells:  # type: ignore[attr-defined]
        text = cell.plain if isinstance(cell, Text) else str(cell)
        longest = max([longest, *(len(word) for word in text.split())])
    return longest


def print_table(table: Table, console: Console | None = None) -> None:
    """Print `table` with every SID, URL and date whole, however narrow the terminal."""
    console = console or Console()
    for column in table.columns:
        if column.overflow != "fold":
            header = column.header.plain if isinstance(column.header, Text) else column.header
            words = max(_longest_word(column.cells), _longest_word([header]))
            column.min_width = max(column.min_width or 0, words)
    needed = Measurement.get(console, console.options.update_width(1_000_000), table).minimum
    if needed > console.width:
        console = Console(
            width=needed,
            file=console.file,
            force_terminal=console.is_terminal,
            color_system=console.color_system,  # type: ignore[arg-type]
            highlight=False,
        )
    console.print(table, crop=False)
