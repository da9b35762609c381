"""The operator's commands on a real (SQLite) database: legal holds and console accounts."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from flexrec import cli
from flexrec.archive.models import ArchivedRecording, AuditLog
from flexrec.cli_admin import open_database

RE = "RE" + "4" * 32


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flexrec", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    code = ended.value.code
    return code if isinstance(code, int) else 0


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "data"
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(folder))
    monkeypatch.setenv("COLUMNS", "200")  # rich tables unwrapped, for the assertions
    return folder


def _archived(sid: str) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with open_database() as sessions, sessions() as session:
        session.add(
            ArchivedRecording(recording_sid=sid, state="verified", created_at=now, updated_at=now)
        )
        session.commit()


def test_legal_hold_add_list_remove(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _archived(RE)
    assert run_cli(monkeypatch, "legal-hold", "add", RE, "--reason", "case 9", "--by", "kim") == 0
    assert "on legal hold: case 9" in capsys.readouterr().out
    assert run_cli(monkeypatch, "legal-hold", "list") == 0
    listed = capsys.readouterr().out
    assert RE in listed and "cli:kim" in listed and "case 9" in listed
    assert run_cli(monkeypatch, "legal-hold", "remove", RE, "--by", "kim") == 0
    assert run_cli(monkeypatch, "legal-hold", "list") == 0
    assert "no recording is on legal hold" in capsys.readouterr().out
    with open_database() as sessions, sessions() as session:
        actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["legal_hold_set", "legal_hold_cleared"]


def test_holding_an_unknown_recording_is_one_line(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "legal-hold", "add", RE, "--reason", "x") == 2
    err = capsys.readouterr().err
    assert "is not in the archive" in err and err.count("\n") == 1
