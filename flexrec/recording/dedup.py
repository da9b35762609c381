"""Each webhook event handled once: its seen-mark, and a handler re-run after lock contention.

A handler marks its event seen inside its own write transaction (one statement answers "seen?"
and marks it), so a failure rolls the mark back with everything else and Twilio's redelivery is
handled again. Marks are kept `DEDUP_RETENTION`, far longer than Twilio redelivers.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

import structlog
from sqlalchemy import delete
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from flexrec.db.models import ProcessedEvent
from flexrec.recording.store import insert_ignore, write_session

log = structlog.get_logger(__name__)

DEDUP_RETENTION = timedelta(days=2)  # Twilio stops redelivering long before this
_CONTENTION_CODES = ("40P01", "40001")  # PostgreSQL deadlock_detected, serialization_failure
_HANDLER_ATTEMPTS = 3

_P = ParamSpec("_P")
_T = TypeVar("_T")


def event_key(prefix: str, event_id: str | None, event: object) -> str:
    """Event Streams ids are unique; otherwise the event's content is its identity."""
    if event_id:
        return f"{prefix}:{event_id}"[:128]
    digest = hashlib.sha256(repr(event).encode()).hexdigest()
    return f"{prefix}:{digest}"


def insert_seen(session: Session, key: str, kind: str, now: datetime) -> bool:
    """Mark the event handled in the caller's transaction; False when it already was."""
    return insert_ignore(
        session, ProcessedEvent, {"key": key, "kind": kind, "received_at": now}, ["key"]
    )


def was_seen(session: Session, key: str) -> bool:
    """True when the event is marked handled."""
    return session.get(ProcessedEvent, key) is not None


def mark_seen(sessions: sessionmaker[Session], key: str, kind: str, now: datetime) -> None:
    """Mark the event handled in a transaction of its own."""
    with write_session(sessions) as session:
        insert_seen(session, key, kind, now)


def forget_old_events(sessions: sessionmaker[Session], now: datetime) -> None:
    """Drop seen-marks older than any redelivery."""
    with write_session(sessions) as session:
        session.execute(
            delete(ProcessedEvent).where(ProcessedEvent.received_at < now - DEDUP_RETENTION)
        )


def _contended(exc: OperationalError) -> bool:
    """A lock conflict the database resolved by failing us: safe to run the handler again."""
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code in _CONTENTION_CODES or "database is locked" in str(exc.orig)


def retry_contention(handler: Callable[_P, _T]) -> Callable[_P, _T]:
    """Re-run an (idempotent) event handler when the database aborted it over lock contention."""

    @functools.wraps(handler)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        for attempt in range(1, _HANDLER_ATTEMPTS + 1):
            try:
                return handler(*args, **kwargs)
            except OperationalError as exc:
                if attempt == _HANDLER_ATTEMPTS or not _contended(exc):
                    raise
                log.info("database contention, handling again", attempt=attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper
