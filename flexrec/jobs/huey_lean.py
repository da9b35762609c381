"""huey without the PostgreSQL client its storage module imports whether used or not.

`huey.storage` imports `psycopg` at its top for its PostgreSQL storage, which flexrec never
uses (its queue is SQLite or Redis): a twentieth of a second of CPU in every start of `flexrec
serve`, and a start-up is every restart's outage (each real second of it is a second of every
call that begins meanwhile, unrecorded). The package imports this module first
(flexrec/jobs/__init__.py), so `from huey import ...` anywhere after finds huey loaded this way;
`import psycopg` itself works as before (the database's driver on PostgreSQL).
"""

from __future__ import annotations

import importlib
import sys

_NOT_USED = "psycopg"


def _import_huey() -> None:
    if _NOT_USED in sys.modules:
        return  # loaded already: nothing to spare
    sys.modules[_NOT_USED] = None  # type: ignore[assignment] # huey's "import psycopg" fails
    try:
        importlib.import_module("huey")
    finally:
        if sys.modules.get(_NOT_USED, ...) is None:
            del sys.modules[_NOT_USED]


_import_huey()
