"""`flexrec verify` as an operator runs it: exit 0 untouched, 1 with one line naming the change."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sim_recordings import SimRecordings
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.audit_log import record_event
from flexrec.archive.models import SealedObject
from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import LocalStorage
from flexrec.cli import root as cli
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade


def sid(prefix: str, n: int) -> str:
    return f"{prefix}{n:032x}"


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flexrec", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    code = ended.value.code
    return code if isinstance(code, int) else 0


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path))
    yield tmp_path


@pytest.fixture
def sessions(data_dir: Path) -> Iterator[sessionmaker[Session]]:
    url = f"sqlite:///{data_dir / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    twilio = SimRecordings()
    archive = ArchiveService(sessions, LocalStorage(data_dir / "archive"), twilio.sdk_client())
    for n in range(1, 4):
        twilio.add(sid("RE", n), sid("CA", n))
        archive.job.archive_recording(sid("RE", n))
        record_event(sessions, "play", f"agent-{n}", recording_sid=sid("RE", n))
    yield sessions
    engine.dispose()


def test_an_untouched_archive_exits_0(
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(monkeypatch, "verify") == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("OK: 3 objects")


def test_one_flipped_byte_of_an_object_exits_1_naming_it(
    sessions: sessionmaker[Session],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sessions() as session:
        key = session.scalars(
            select(SealedObject.storage_key).where(SealedObject.recording_sid == sid("RE", 2))
        ).one()
    path = data_dir / "archive" / key
    data = bytearray(path.read_bytes())
    data[100] ^= 0x40
    path.write_bytes(bytes(data))
    assert run_cli(monkeypatch, "verify") == 1
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"altered {sid('RE', 2)} {key}:")
    assert run_cli(monkeypatch, "verify", "--recording", sid("RE", 1)) == 0


def test_one_flipped_byte_of_an_audit_row_exits_1_naming_it(
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with sessions() as session:
        row = session.scalars(select(AuditLog).where(AuditLog.actor == "agent-2")).one()
        session.execute(text("UPDATE audit_log SET ip = '10.0.0.1' WHERE id = :id"), {"id": row.id})
        session.commit()
    assert run_cli(monkeypatch, "verify", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert [(p["kind"], p["subject"]) for p in report["problems"]] == [
        ("audit", f"audit seq={row.seq} id={row.id}")
    ]
    assert report["objects_checked"] == 3 and report["locks"]["none"] == 3


def test_bad_options_are_one_line(
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run_cli(monkeypatch, "verify", "--recording", "RE123") == 2
    assert "not a recording SID" in capsys.readouterr().err
    assert run_cli(monkeypatch, "verify", "--since", "yesterday") == 2
    assert "--since" in capsys.readouterr().err
