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

MIN_FOLDED_WIDTH = 20


def _longest_word(cells: object) -> int:
    longest = 0
    for cell in cells:  # type: ignore[attr-defined]
        text = cell.plain if isinstance(cell, Text) else str(cell)
        longest = max([longest, *(len(word) for word in text.split())])
    return longest


def print_table(table: Table, console: Console | None = None) -> None:
    """Print `table` with every SID, URL and date whole, however narrow the terminal."""
    console = console or Console()
    folded = [column for column in table.columns if column.overflow == "fold"]
    for column in table.columns:
        if column.overflow != "fold":
            header = column.header.plain if isinstance(column.header, Text) else column.header
            words = max(_longest_word(column.cells), _longest_word([header]))
            column.min_width = max(column.min_width or 0, words)
        elif column.max_width is None:
            # A folded cell breaks anywhere, yet rich sizes a column by its longest word: one
            # JSON detail without spaces made the table hundreds of columns wide. It gets its
            # minimum, then whatever the terminal has to spare.
            column.max_width = column.min_width or MIN_FOLDED_WIDTH
    needed = Measurement.get(console, console.options.update_width(1_000_000), table).minimum
    spare = console.width - needed
    for i, column in enumerate(folded):
        if spare > 0 and column.max_width is not None:
            column.max_width += spare // len(folded) + (1 if i < spare % len(folded) else 0)
    if needed > console.width:
        console = Console(
            width=needed,
            file=console.file,
            force_terminal=console.is_terminal,
            color_system=console.color_system,  # type: ignore[arg-type]
            highlight=False,
        )
    console.print(table, crop=False)
