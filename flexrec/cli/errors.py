"""The command line's one rule for failures: one line saying what is wrong and what to do.

A mistake the user can fix (a bad setting, a server that is down, a port taken) ends the command
with that line on stderr and exit code 2, never a traceback; `--debug` (or `FLEXREC_DEBUG=1`)
shows the traceback instead. Anything not recognised here is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable

from flexrec.twilio.errors import twilio_problem

EXIT_USAGE = 2
EXIT_CONFLICT = 3  # the request made sense but the state says no (e.g. release a hold not set)


class CliError(Exception):
    """A problem the user can fix; its message is the whole line shown, `exit_code` the code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0] if text else type(value).__name__


def _database(exc: Exception) -> str | None:
    from sqlalchemy import exc as sa

    from flexrec.db.urls import SUPPORTED_DATABASE_URLS, UnsupportedDatabaseUrl

    supported = " or ".join(SUPPORTED_DATABASE_URLS)
    if isinstance(exc, UnsupportedDatabaseUrl):
        return f"FLEXREC_DATABASE_URL {exc}: flexrec runs on SQLite or PostgreSQL, use {supported}"
    if isinstance(exc, sa.NoSuchModuleError | sa.ArgumentError):
        return (
            f"FLEXREC_DATABASE_URL is not a database URL flexrec can use ({_first_line(exc)}): "
            f"use {supported}"
        )
    if isinstance(exc, sa.OperationalError | sa.InterfaceError):
        return (
            f"cannot use the database ({_first_line(exc.orig)}): check FLEXREC_DATABASE_URL "
            "and that the database server is running"
        )
    return None


def _queue(exc: Exception) -> str | None:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
    except ImportError:  # pragma: no cover - redis is a dependency
        return None
    if isinstance(exc, RedisConnectionError):
        return (
            f"Redis is unreachable ({_first_line(exc)}): check FLEXREC_QUEUE_URL and that "
            "Redis is running"
        )
    return None


def _twilio(exc: Exception) -> str | None:
    from flexrec.twilio.gateway import TRANSLATED_ERRORS, GatewayError, translate_error

    if isinstance(exc, GatewayError):
        return twilio_problem(exc.status, _first_line(exc))
    if isinstance(exc, TRANSLATED_ERRORS) and not isinstance(exc, OSError):
        translated = translate_error(exc)
        return twilio_problem(translated.status, _first_line(translated))
    return None


def _policy(exc: Exception) -> str | None:
    from flexrec.archive.retention import RetentionPolicyError
    from flexrec.recording.policy import PolicyError

    if isinstance(exc, PolicyError | RetentionPolicyError):
        return f"bad policy file (FLEXREC_POLICY_FILE): {exc}"
    return None


def _archive(exc: Exception) -> str | None:
    from flexrec.archive.storage import NotWormError, StorageError

    if isinstance(exc, NotWormError):
        return str(exc)
    if isinstance(exc, StorageError):
        return f"the archive store fails: {_first_line(exc)}"
    return None


def _period(exc: Exception) -> str | None:
    from flexrec.coverage.period import PeriodError

    return str(exc) if isinstance(exc, PeriodError) else None


def _settings(exc: Exception) -> str | None:
    from pydantic import BaseModel, ValidationError

    from flexrec import config

    if not isinstance(exc, ValidationError):
        return None
    group = getattr(config, exc.title, None)
    fields = group.model_fields if isinstance(group, type) and issubclass(group, BaseModel) else {}
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        name = str(error["loc"][0]) if error["loc"] else ""
        field = fields.get(name)
        # Each setting's description starts with its environment variable's name.
        variable = (field.description or "").split(":")[0] if field is not None else name
        problems.append(f"{variable}: {message}" if variable else message)
    return "bad setting: " + "; ".join(problems) if problems else None


def _os(exc: Exception) -> str | None:
    if isinstance(exc, socket.gaierror):
        return f"a host name could not be resolved ({exc}): check the URLs in the settings"
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        return f"{exc.strerror or 'address in use'}: choose another --port, or stop what uses it"
    if isinstance(exc, PermissionError):
        return f"permission denied: {exc.filename or exc}"
    return None


_EXPLAINERS: tuple[Callable[[Exception], str | None], ...] = (
    _policy,
    _settings,
    _period,
    _database,
    _queue,
    _twilio,
    _archive,
    _os,
)


def explain(exc: BaseException) -> str | None:
    """The one line for a failure the user can fix, or None for a bug."""
    if isinstance(exc, CliError):
        return str(exc)
    if not isinstance(exc, Exception):
        return None
    seen: set[int] = set()
    current: BaseException | None = exc
    # The useful error is sometimes the cause of a wrapper (a start-up failure, a SetupError).
    while isinstance(current, Exception) and id(current) not in seen:
        seen.add(id(current))
        for explainer in _EXPLAINERS:
            line = explainer(current)
            if line:
                return line
        current = current.__cause__
    return None


def port_free(host: str, port: int) -> None:
    """Raise `CliError` when `host:port` cannot be listened on (before anything else starts)."""
    if port == 0:
        return
    listen_on(host, port, backlog=None).close()


# uvicorn's own default: connections the kernel holds while the app is not accepting yet.
LISTEN_BACKLOG = 2048


def listen_on(host: str, port: int, backlog: int | None = LISTEN_BACKLOG) -> socket.socket:
    """A socket bound to `host:port`, listening unless `backlog` is None; `CliError` when the
    address is taken or cannot be had."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # Same option uvicorn sets: a port in TIME_WAIT from a previous run is not "in use".
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        if backlog is not None:
            sock.listen(backlog)
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc)
        raise CliError(
            f"cannot listen on {host}:{port} ({reason}): another program uses it; "
            "stop it or choose another --port (FLEXREC_PORT)"
        ) from exc
    return sock
