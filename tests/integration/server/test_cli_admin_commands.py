"""The operator's commands on a real (SQLite) database: legal holds and console accounts."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.models import ArchivedRecording
from flexrec.cli import root as cli
from flexrec.cli.admin import open_database

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
    monkeypatch.setenv("COLUMNS", "80")  # a narrow terminal: no SID may be cut
    return folder


def _archived(sid: str) -> None:
    now = datetime(2026, 5, 1, tzinfo=UTC)
    with open_database(create=True) as sessions, sessions() as session:
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
    assert RE in listed and "cli:kim" in listed and "case 9" in listed  # whole, at 80 columns
    assert run_cli(monkeypatch, "legal-hold", "list", "--json") == 0
    held = json.loads(capsys.readouterr().out)["items"]
    assert [(h["recording_sid"], h["held_by"], h["hold_reason"]) for h in held] == [
        (RE, "cli:kim", "case 9")
    ]
    assert run_cli(monkeypatch, "legal-hold", "remove", RE, "--by", "kim") == 2  # say why
    assert "--reason" in capsys.readouterr().err
    remove = ("legal-hold", "remove", RE, "--reason", "case closed", "--by", "kim")
    assert run_cli(monkeypatch, *remove) == 0
    assert run_cli(monkeypatch, "legal-hold", "list") == 0
    assert "no recording is on legal hold" in capsys.readouterr().out
    # Releasing again is not success: exit 3, one line, nothing written.
    assert run_cli(monkeypatch, *remove) == 3
    err = capsys.readouterr().err
    assert "is not on legal hold" in err and err.count("\n") == 1
    with open_database() as sessions, sessions() as session:
        actions = [a.action for a in session.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert actions == ["legal_hold_set", "legal_hold_cleared"]


def test_audit_lists_filters_and_exports_the_log(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # a narrow terminal: no SID may be cut
    _archived(RE)
    assert run_cli(monkeypatch, "legal-hold", "add", RE, "--reason", "case 9", "--by", "kim") == 0
    capsys.readouterr()
    assert run_cli(monkeypatch, "audit", "--action", "legal_hold_set") == 0
    out = capsys.readouterr().out
    assert RE in out and "cli:kim" in out and "case 9" in out
    assert run_cli(monkeypatch, "audit", "--recording", RE, "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["action"] for e in listed["items"]] == ["legal_hold_set"]
    assert run_cli(monkeypatch, "audit", "--since", "2999-01-01") == 0
    assert "no audit entry matches" in capsys.readouterr().out
    # A misspelt action: one line naming the valid ones, exit 2 (it matched nothing, silently).
    assert run_cli(monkeypatch, "audit", "--action", "legal_hold_sett") == 2
    err = capsys.readouterr().err
    assert "legal_hold_set" in err and err.count("\n") == 1
    # An export is audited under the operator's name, as the console's is.
    target = tmp_path / "audit.csv"
    assert run_cli(monkeypatch, "audit", "--csv", str(target), "--by", "kim") == 0
    rows = list(csv.reader(io.StringIO(target.read_text())))
    assert rows[0][:3] == ["at", "actor", "action"] and rows[1][3] == RE
    assert run_cli(monkeypatch, "audit", "--action", "audit_exported", "--json") == 0
    exported = json.loads(capsys.readouterr().out)["items"]
    assert [(e["actor"], e["detail"]["via"]) for e in exported] == [("cli:kim", "cli")]
    assert run_cli(monkeypatch, "audit", "--actions") == 0
    assert "legal_hold_cleared" in capsys.readouterr().out


def test_holding_an_unknown_recording_is_one_line(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with open_database(create=True):
        pass
    assert run_cli(monkeypatch, "legal-hold", "add", RE, "--reason", "x") == 2
    err = capsys.readouterr().err
    assert "is not in the archive" in err and err.count("\n") == 1


def _add(monkeypatch: pytest.MonkeyPatch, name: str, *extra: str, pw: str = "pw-123456") -> int:
    monkeypatch.setattr(sys, "stdin", io.StringIO(pw + "\n"))
    return run_cli(monkeypatch, "users", "add", name, "--password-stdin", *extra)


def test_users_add_without_a_terminal_says_how_to_give_the_password(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    assert run_cli(monkeypatch, "users", "add", "kim") == 2
    err = capsys.readouterr().err
    assert "--password-stdin" in err and "FLEXREC_NEW_PASSWORD" in err
    assert _add(monkeypatch, "kim") == 0
    monkeypatch.setenv("FLEXREC_NEW_PASSWORD", "from-the-env-1")
    assert run_cli(monkeypatch, "users", "add", "lee", "--role", "admin") == 0


def test_an_agent_without_a_worker_is_refused_before_the_password(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "users", "add", "al", "--role", "agent") == 2
    assert "--worker NAME" in capsys.readouterr().err


def test_users_list_disable_enable_role_reset_remove(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from flexrec.accounts.users import authenticate_user

    assert _add(monkeypatch, "kim", pw="first-pass-1") == 0
    assert run_cli(monkeypatch, "users", "disable", "kim", "--by", "ops") == 0
    with open_database() as sessions, sessions() as session:
        assert authenticate_user(session, "kim", "first-pass-1") is None  # disabled
    assert run_cli(monkeypatch, "users", "enable", "kim") == 0
    assert run_cli(monkeypatch, "users", "role", "kim", "admin") == 0
    wk = "WK" + "a" * 32
    assert run_cli(monkeypatch, "users", "role", "kim", "agent") == 2  # no worker SID
    assert run_cli(monkeypatch, "users", "role", "kim", "agent", "--worker-sid", wk) == 0
    monkeypatch.setattr(sys, "stdin", io.StringIO("second-pass-2\n"))
    assert run_cli(monkeypatch, "users", "reset-password", "kim", "--password-stdin") == 0
    with open_database() as sessions, sessions() as session:
        user = authenticate_user(session, "kim", "second-pass-2")
        assert user is not None and (user.role, user.worker_sid) == ("agent", wk)
    capsys.readouterr()
    assert run_cli(monkeypatch, "users", "list") == 0
    listed = capsys.readouterr().out
    assert "kim" in listed and wk in listed and "active" in listed
    assert run_cli(monkeypatch, "users", "list", "--json") == 0
    accounts = json.loads(capsys.readouterr().out)["items"]
    assert [(a["username"], a["role"], a["worker_sid"]) for a in accounts] == [("kim", "agent", wk)]
    assert run_cli(monkeypatch, "users", "remove", "kim") == 0
    assert run_cli(monkeypatch, "users", "remove", "kim") == 2
    with open_database() as sessions, sessions() as session:
        actions = [
            a.action
            for a in session.scalars(select(AuditLog).order_by(AuditLog.id))
            if a.action.startswith("user_")
        ]
    assert actions == [
        "user_created", "user_disabled", "user_enabled", "user_role_changed",
        "user_role_changed", "user_password_reset", "user_removed",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "argv",
    [
        ("verify",),
        ("audit",),
        ("legal-hold", "list"),
        ("users", "list"),
        ("coverage", "--since", "2026-03-03"),
    ],
)
def test_a_report_run_from_the_wrong_folder_says_so_and_creates_nothing(
    argv: tuple[str, ...],
    data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # An empty database made on the spot would read "OK: 0 objects" or "nothing recorded".
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "x" * 32)
    assert run_cli(monkeypatch, *argv) == 2
    err = capsys.readouterr().err
    assert f"no flexrec database at {data_dir / 'flexrec.db'}" in err and err.count("\n") == 1
    assert not data_dir.exists()
