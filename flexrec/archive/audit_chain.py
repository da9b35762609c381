"""The audit log as a hash chain: every row carries the previous row's hash and its own.

A row's hash covers its chain position (`seq`), every field a reader sees and the previous
row's hash, so changing, removing or reordering a row breaks the chain from that row on.
Someone who rewrites history *and* recomputes every later hash makes a chain that holds
together again: the anchors (flexrec.custody.anchors) catch that, because the head was written
to WORM storage (and to the log) before the rewrite.

The chain stays linear with several processes writing (serve --processes N, workers, the CLI)
on SQLite and PostgreSQL alike: the row that links a new audit row takes the one-row
`audit_chain_head` lock first (an UPDATE, which waits on both databases) and holds it until its
transaction commits, so two writers can never link onto the same head. The rule lives in one
place, a `before_insert` hook on `AuditLog`: every writer of audit rows is covered without
knowing about it.

Format version 1 (frozen: migrations and `flexrec verify` of old rows depend on it):

    row_hash = sha256(prev_hash || canonical JSON of
        {"v": 1, "seq", "at" (UTC, microseconds, Z), "actor", "actor_worker_sid",
         "action", "recording_sid", "ip", "detail"})   sorted keys, no spaces, UTF-8
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    Integer,
    String,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Mapper, Session, mapped_column

from flexrec.db.base import Base
from flexrec.db.models import UTCDateTime
from flexrec.db.prepared import Prepared


class AuditLog(Base):
    """Who did what to which recording, when, and from where (append-only, hash-chained: the
    hook below links every new row)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    # Flex identity, console user name, or "system" for retention and jobs.
    actor: Mapped[str] = mapped_column(String(255))
    actor_worker_sid: Mapped[str | None] = mapped_column(String(34), default=None)
    action: Mapped[str] = mapped_column(String(32), index=True)
    recording_sid: Mapped[str | None] = mapped_column(String(34), default=None, index=True)
    ip: Mapped[str | None] = mapped_column(String(64), default=None)
    # Free-form details: requested byte range, purpose of a signed link, user agent.
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Position in the hash chain (1, 2, 3 ... with no gap), the previous row's hash and this
    # row's own; set by the chain hook as the row is inserted, never by the writer.
    seq: Mapped[int | None] = mapped_column(BigInteger, default=None, unique=True)
    prev_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    row_hash: Mapped[str | None] = mapped_column(String(64), default=None)


class AuditChainHead(Base):
    """The newest link of the audit chain (one row): the lock every audit writer takes."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    row_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first row of the chain."""

CHAIN_VERSION = 1
HEAD_ID = 1


def _text(value: str | None) -> str | None:
    # The engine stores NUL as U+FFFD (flexrec.db.base); hash what is stored.
    return value.replace("\x00", "\ufffd") if value is not None else None


def _at(value: datetime) -> str:
    value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def row_digest(
    prev_hash: str,
    *,
    seq: int,
    at: datetime,
    actor: str,
    actor_worker_sid: str | None,
    action: str,
    recording_sid: str | None,
    ip: str | None,
    detail: Mapping[str, Any] | None,
) -> str:
    """The hash of one audit row linked onto `prev_hash` (format version 1)."""
    # Through JSON and back first: what the column gives back (tuples as lists, keys as text)
    # must hash like what was written.
    plain_detail = json.loads(json.dumps(dict(detail or {})))
    body = json.dumps(
        {
            "v": CHAIN_VERSION,
            "seq": seq,
            "at": _at(at),
            "actor": _text(actor),
            "actor_worker_sid": _text(actor_worker_sid),
            "action": _text(action),
            "recording_sid": _text(recording_sid),
            "ip": _text(ip),
            "detail": plain_detail,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def digest_of(row: AuditLog, prev_hash: str) -> str:
    """The hash `row` should carry when linked onto `prev_hash`."""
    assert row.seq is not None  # noqa: S101 - only chained rows are hashed
    return row_digest(
        prev_hash,
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        actor_worker_sid=row.actor_worker_sid,
        action=row.action,
        recording_sid=row.recording_sid,
        ip=row.ip,
        detail=row.detail,
    )


# The chain's statements run for every audit row (two a recording archived and analysed, each
# console action): prepared (flexrec.db.prepared), ~10 us each on the driver's cursor instead of
# ~100 us of SQLAlchemy's execution and the statement's construction.
_TAKE_HEAD = Prepared(
    update(AuditChainHead).where(AuditChainHead.id == HEAD_ID).values(seq=AuditChainHead.seq)
)
_READ_HEAD = Prepared(
    select(AuditChainHead.seq, AuditChainHead.row_hash).where(AuditChainHead.id == HEAD_ID)
)
_MOVE_HEAD = Prepared(
    update(AuditChainHead)
    .where(AuditChainHead.id == HEAD_ID)
    .values(
        seq=bindparam("seq"), row_hash=bindparam("row_hash"), updated_at=bindparam("updated_at")
    )
)


def lock_head(connection: Connection) -> tuple[int, str]:
    """Take the chain's write lock for this transaction and return the head (seq, hash).

    The UPDATE comes first because it waits for other writers on both databases (a SELECT
    would not on SQLite, and could read a head another writer is about to move).
    """
    if not _TAKE_HEAD.execute(connection).rowcount:
        # A database made by create_all (unit tests) has no head row yet; migrations add it.
        try:
            with connection.begin_nested():
                connection.execute(
                    insert(AuditChainHead).values(id=HEAD_ID, seq=0, row_hash=GENESIS_HASH)
                )
        except IntegrityError:
            connection.execute(
                update(AuditChainHead)
                .where(AuditChainHead.id == HEAD_ID)
                .values(seq=AuditChainHead.seq)
            )
    head = _READ_HEAD.execute(connection).first()
    return int(head.seq), str(head.row_hash)


@event.listens_for(AuditLog, "before_insert")
def _link_row(_mapper: Mapper[Any], connection: Connection, row: AuditLog) -> None:
    """Link every new audit row onto the chain, inside the transaction that inserts it."""
    if row.at is None:
        row.at = datetime.now(UTC)
    if row.detail is None:
        row.detail = {}
    seq, prev = lock_head(connection)
    row.seq = seq + 1
    row.prev_hash = prev
    row.row_hash = digest_of(row, prev)
    _MOVE_HEAD.execute(connection, {"seq": row.seq, "row_hash": row.row_hash, "updated_at": row.at})


@dataclass(frozen=True)
class ChainProblem:
    """One broken link, altered row or gap in the audit chain."""

    seq: int | None
    row_id: int | None
    kind: str  # altered | link | gap | unchained | head
    message: str


@dataclass
class ChainWalk:
    """What walking the chain found: problems, and the stored hash of each seq asked for."""

    rows: int = 0
    last_seq: int = 0
    last_hash: str = GENESIS_HASH
    problems: list[ChainProblem] = field(default_factory=list)
    hashes: dict[int, str] = field(default_factory=dict)
    ids: dict[int, int] = field(default_factory=dict)


def walk_chain(session: Session, *, keep: Collection[int] = (), batch: int = 5000) -> ChainWalk:
    """Recompute every row's hash in `seq` order and compare it with what is stored.

    `keep`: the seqs whose stored hash and row id the caller wants back (the anchored ones).
    """
    walk = ChainWalk()
    wanted = set(keep)
    expected_seq = 1
    prev = GENESIS_HASH
    for row in _rows_in_order(session, batch):
        walk.rows += 1
        seq = int(row.seq) if row.seq is not None else 0
        if seq != expected_seq:
            walk.problems.append(
                ChainProblem(
                    seq,
                    row.id,
                    "gap",
                    f"audit row seq={seq} id={row.id}: rows seq={expected_seq}..{seq - 1} "
                    "are missing from the chain",
                )
            )
        if row.prev_hash != prev:
            walk.problems.append(
                ChainProblem(
                    seq,
                    row.id,
                    "link",
                    f"audit row seq={seq} id={row.id}: its prev_hash does not match the "
                    "previous row's hash (a row before it was altered, removed or inserted)",
                )
            )
        if row.row_hash != digest_of(row, str(row.prev_hash or "")):
            walk.problems.append(
                ChainProblem(
                    seq,
                    row.id,
                    "altered",
                    f"audit row seq={seq} id={row.id}: content does not match its hash "
                    "(the row was altered)",
                )
            )
        if seq in wanted:
            walk.ids[seq] = row.id
            walk.hashes[seq] = str(row.row_hash)
        prev = str(row.row_hash)
        expected_seq = seq + 1
        walk.last_seq, walk.last_hash = seq, prev
    for row_id in session.scalars(
        select(AuditLog.id).where(AuditLog.seq.is_(None)).order_by(AuditLog.id)
    ):
        walk.problems.append(
            ChainProblem(
                None,
                row_id,
                "unchained",
                f"audit row id={row_id}: not in the chain (written around flexrec)",
            )
        )
    head = session.execute(
        select(AuditChainHead.seq, AuditChainHead.row_hash).where(AuditChainHead.id == HEAD_ID)
    ).one_or_none()
    if head is not None and (int(head.seq), str(head.row_hash)) != (walk.last_seq, prev):
        walk.problems.append(
            ChainProblem(
                walk.last_seq + 1 if int(head.seq) > walk.last_seq else walk.last_seq,
                None,
                "head",
                f"audit chain head says seq={head.seq} but the last row is seq={walk.last_seq}"
                " with another hash (rows at the end were removed or rewritten)",
            )
        )
    return walk


def _rows_in_order(session: Session, batch: int) -> Iterator[AuditLog]:
    after = 0
    while True:
        rows = session.scalars(
            select(AuditLog)
            .where(AuditLog.seq.is_not(None), AuditLog.seq > after)
            .order_by(AuditLog.seq)
            .limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        after = int(rows[-1].seq or 0)
        session.expunge_all()
