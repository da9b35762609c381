"""The `flexrec` command line: one module per group of commands, `app` the typer root.

`errors` is the one place an exception becomes the line a user reads; `tables` prints tables.
"""

from flexrec.cli.root import app, main

__all__ = ["app", "main"]
