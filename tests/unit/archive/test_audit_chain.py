"""The audit log's hash chain: every row linked as it is written, any edit found by the walk."""

from __future__ import annotations

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import (
    GENESIS_HASH,
    AuditChainHead,
    AuditLog,
    digest_of,
    walk_chain,
)
from flexrec.archive.audit_log import record_event
from flexrec.db.prepared import watch

RE = "RE" + "a" * 32


def _write(sessions: sessionmaker[Session], n: int) -> None:
    for i in range(n):
        record_event(sessions, "play", f"agent-{i}", recording_sid=RE, detail={"range": [0, i]})


def test_rows_are_linked_in_order_and_the_head_follows(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 3)
    with sessions() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
        assert [r.seq for r in rows] == [1, 2, 3]
        assert rows[0].prev_hash == GENESIS_HASH
        assert [r.prev_hash for r in rows[1:]] == [r.row_hash for r in rows[:-1]]
        assert all(r.row_hash == digest_of(r, str(r.prev_hash)) for r in rows)
        head = session.get(AuditChainHead, 1)
        assert head is not None and (head.seq, head.row_hash) == (3, rows[-1].row_hash)
        walk = walk_chain(session)
    assert walk.problems == [] and walk.rows == 3


def test_a_row_is_linked_by_prepared_statements_on_the_driver(
    sessions: sessionmaker[Session],
) -> None:
    """Linking runs for every audit row (two a recording archived and analysed): the head taken,
    read and moved by prepared statements, not SQLAlchemy's execution of each."""
    _write(sessions, 1)  # the head row exists (create_all made no head; the first row adds it)
    seen: list[str] = []
    with watch(lambda sql: seen.append(" ".join(sql.split()[:2]).upper())):
        _write(sessions, 2)
    linked_once = ["UPDATE AUDIT_CHAIN_HEAD", "SELECT AUDIT_CHAIN_HEAD.SEQ,"]
    assert seen == [*linked_once, "UPDATE AUDIT_CHAIN_HEAD"] * 2
    with sessions() as session:
        assert walk_chain(session).problems == [] and walk_chain(session).rows == 3


def test_rows_added_together_in_one_transaction_are_linked_one_after_another(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        session.add_all([AuditLog(actor="a", action="play"), AuditLog(actor="b", action="play")])
        session.commit()
    with sessions() as session:
        assert walk_chain(session).problems == []


def test_one_flipped_byte_names_exactly_that_row(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 5)
    with sessions() as session:
        session.execute(text("UPDATE audit_log SET actor = 'agent-X' WHERE seq = 3"))
        session.commit()
        problems = walk_chain(session).problems
    assert [(p.seq, p.kind) for p in problems] == [(3, "altered")]
    assert "seq=3" in problems[0].message


def test_a_removed_row_breaks_the_link_of_the_next(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 4)
    with sessions() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq = 2"))
        session.commit()
        kinds = {(p.seq, p.kind) for p in walk_chain(session).problems}
    assert kinds == {(3, "gap"), (3, "link")}


def test_removing_the_newest_rows_is_caught_by_the_head(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 4)
    with sessions() as session:
        session.execute(text("DELETE FROM audit_log WHERE seq = 4"))
        session.commit()
        problems = walk_chain(session).problems
    assert [p.kind for p in problems] == ["head"]


def test_a_row_written_around_the_hook_is_reported(sessions: sessionmaker[Session]) -> None:
    _write(sessions, 1)
    with sessions() as session:
        session.execute(
            text(
                "INSERT INTO audit_log (at, actor, action, detail) "
                "VALUES ('2026-01-01 00:00:00', 'x', 'play', '{}')"
            )
        )
        session.commit()
        problems = walk_chain(session).problems
    assert [p.kind for p in problems] == ["unchained"]


def test_a_rewrite_that_recomputes_every_hash_holds_together_without_anchors(
    sessions: sessionmaker[Session],
) -> None:
    # What anchors are for: the chain alone cannot tell a careful rewrite (see the anchor tests).
    _write(sessions, 4)
    with sessions() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.seq)).all()
        rows[1].actor = "someone-else"
        prev = GENESIS_HASH
        for row in rows:
            row.prev_hash = prev
            row.row_hash = digest_of(row, prev)
            prev = row.row_hash
        session.execute(update(AuditChainHead).values(row_hash=prev))
        session.commit()
        assert walk_chain(session).problems == []
