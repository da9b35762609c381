"""Anchors: the audit chain's head, written where the database's owner cannot rewrite it.

Someone who rewrites the audit history and recomputes every later hash makes a chain that
holds together again; it can no longer end at a head that was written, before the rewrite, to
WORM storage (an object under `anchors/audit/`, locked like the longest retention rule) and to
the log (`audit.anchor` lines, for an external system to keep). `flexrec verify` checks every
anchor against the chain; rows after the newest anchor are the unanchored tail, which it
reports. The service anchors every 15 minutes (at least hourly, as auditors expect) when the
chain has moved.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.audit_chain import AuditChainHead
from flexrec.archive.models import AuditAnchor
from flexrec.archive.storage import BlobNotFound, BlobStore, ObjectLock, StorageError
from flexrec.archive.worm import versioned

log = structlog.get_logger(__name__)

ANCHOR_PREFIX = "anchors/audit/"
CHAIN_NAME = "flexrec-audit-v1"


@dataclass(frozen=True)
class Anchor:
    """One anchored head: the chain had `seq` rows ending in `row_hash` at `anchored_at`."""

    seq: int
    row_hash: str
    anchored_at: datetime
    storage_key: str | None = None
    version_id: str | None = None

    def document(self) -> dict[str, Any]:
        """The JSON object written to storage."""
        return {
            "chain": CHAIN_NAME,
            "seq": self.seq,
            "row_hash": self.row_hash,
            "anchored_at": self.anchored_at.astimezone(UTC).isoformat(),
        }


def anchor_key(seq: int, at: datetime) -> str:
    """Where the anchor of head `seq` is stored (sorted by time, then position)."""
    return f"{ANCHOR_PREFIX}{at:%Y/%m/%d}/{seq:012d}.json"


def anchor_head(
    sessions: Callable[[], Session],
    store: BlobStore,
    *,
    lock: ObjectLock | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Anchor | None:
    """Write the chain's current head to storage and the log; None when already anchored."""
    with sessions() as session:
        head = session.get(AuditChainHead, 1)
        if head is None or head.seq == 0:
            return None
        last = session.scalars(
            select(AuditAnchor).order_by(AuditAnchor.seq.desc()).limit(1)
        ).one_or_none()
        if last is not None and last.seq >= head.seq:
            return None
        now = clock()
        anchor = Anchor(int(head.seq), str(head.row_hash), now, anchor_key(int(head.seq), now))
        body = json.dumps(anchor.document(), sort_keys=True).encode("utf-8")
        assert anchor.storage_key is not None  # noqa: S101 - set just above
        # The log line first: even when storage fails, an external system has the head.
        log.info("audit.anchor", seq=anchor.seq, row_hash=anchor.row_hash, key=anchor.storage_key)
        side = versioned(store)
        version_id = None
        if side is not None:
            version_id = side.put_version(anchor.storage_key, body, lock)
        else:
            store.put(anchor.storage_key, body)
        session.add(
            AuditAnchor(
                seq=anchor.seq,
                row_hash=anchor.row_hash,
                anchored_at=now,
                storage_key=anchor.storage_key,
                version_id=version_id,
            )
        )
        session.commit()
        return Anchor(anchor.seq, anchor.row_hash, now, anchor.storage_key, version_id)


@dataclass
class AnchorSet:
    """Every anchor found, and anchors the database lists whose object is gone or differs."""

    anchors: list[Anchor]
    problems: list[str]


def load_anchors(sessions: Callable[[], Session], store: BlobStore) -> AnchorSet:
    """The anchors in storage (the ones that count), checked against the database's list."""
    found: dict[tuple[int, str], Anchor] = {}
    problems: list[str] = []
    try:
        keys = store.list_keys(ANCHOR_PREFIX)
    except StorageError as exc:
        problems.append(f"audit anchors: storage could not be listed ({exc})")
        keys = []
    for key in keys:
        try:
            document = json.loads(store.get(key))
            anchor = Anchor(
                int(document["seq"]),
                str(document["row_hash"]),
                datetime.fromisoformat(document["anchored_at"]),
                key,
            )
        except (BlobNotFound, ValueError, KeyError, TypeError) as exc:
            problems.append(f"audit anchor {key}: unreadable ({type(exc).__name__})")
            continue
        found[(anchor.seq, anchor.row_hash)] = anchor
    with sessions() as session:
        listed = session.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)).all()
    stored_seqs = {seq for seq, _ in found}
    for row in listed:
        if (row.seq, row.row_hash) in found:
            continue
        if row.seq in stored_seqs:
            problems.append(
                f"audit anchor seq={row.seq}: the database's copy differs from the stored one"
            )
        else:
            problems.append(
                f"audit anchor seq={row.seq} ({row.storage_key}): listed in the database but "
                "missing from storage"
            )
    return AnchorSet(sorted(found.values(), key=lambda a: (a.seq, a.anchored_at)), problems)
