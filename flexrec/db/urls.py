"""Which database URLs flexrec runs on, checked before any engine is made.

flexrec runs on SQLite (the embedded default) and PostgreSQL through psycopg 3 (what
`normalise_database_url` turns `postgres://` and `postgresql://` into). Anything else, or a
string that is not a URL at all, is refused here with the reason, so the command line can say
it in one line instead of letting SQLAlchemy fail deep inside a dialect import (a MySQL URL
ended in `ModuleNotFoundError: MySQLdb`, a port that is not a number in a bare `ValueError`).
The reason never repeats the URL: it may hold a password.
"""

from __future__ import annotations

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

SUPPORTED_DATABASE_URLS = (
    "sqlite:///path/to/flexrec.db",
    "postgresql://user:password@host:5432/dbname",
)
_DRIVERS = {"sqlite": ("pysqlite",), "postgresql": ("psycopg",)}
_MAX_PORT = 65535


class UnsupportedDatabaseUrl(ValueError):
    """FLEXREC_DATABASE_URL is not a URL of a database flexrec runs on; says why."""


def check_database_url(url: str) -> URL:
    """The parsed URL when flexrec can run on it, else `UnsupportedDatabaseUrl`."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UnsupportedDatabaseUrl("is not a database URL") from None
    except ValueError:  # a port that is not a number
        raise UnsupportedDatabaseUrl("has a port that is not a number") from None
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    drivers = _DRIVERS.get(backend)
    if drivers is None:
        raise UnsupportedDatabaseUrl(f"names {backend!r}, which flexrec does not run on")
    if driver not in drivers:
        raise UnsupportedDatabaseUrl(
            f"asks for the {backend} driver {driver!r}; flexrec installs {drivers[0]} only"
        )
    if backend == "sqlite" and parsed.host:
        # sqlite://name.db reads "name.db" as a host and opens nothing: three slashes are needed.
        raise UnsupportedDatabaseUrl("is a SQLite URL with two slashes (a file needs three)")
    if parsed.port is not None and not 0 < parsed.port <= _MAX_PORT:
        raise UnsupportedDatabaseUrl(f"has port {parsed.port}, outside 1-{_MAX_PORT}")
    return parsed
