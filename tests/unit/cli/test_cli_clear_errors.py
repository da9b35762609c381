"""A newcomer's mistakes end in one line on stderr and exit code 2; `--debug` shows the trace."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flexrec.cli import root as cli
from flexrec.cli.errors import CliError, explain, port_free
from flexrec.config import StorageSettings, normalise_database_url
from flexrec.twilio.gateway import GatewayError
from flexsim import free_port

SIM_SID = "AC" + "f" * 32


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flexrec", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    code = ended.value.code
    return code if isinstance(code, int) else 0


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_bad_backfill_date_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "backfill", "--since", "2026-13-01") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "YYYY-MM-DD" in err
    assert "Traceback" not in err


def test_debug_shows_the_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "argv", ["flexrec", "--debug", "backfill", "--since", "x"])
    with pytest.raises(CliError, match="YYYY-MM-DD"):
        cli.main()


def test_serve_without_credentials_says_what_to_set(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(monkeypatch, "serve") == 2
    err = capsys.readouterr().err
    assert "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN not set" in err
    assert err.count("\n") == 1


def test_serve_on_a_taken_port_starts_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    taken_port: int,
    tmp_path: Path,
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SIM_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "simulator-auth-token")
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path / "data"))
    assert run_cli(monkeypatch, "serve", "--port", str(taken_port)) == 2
    assert f"cannot listen on 127.0.0.1:{taken_port}" in capsys.readouterr().err
    assert not (tmp_path / "data").exists()  # refused before the database was opened


def test_sim_on_a_taken_port_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], taken_port: int
) -> None:
    assert run_cli(monkeypatch, "sim", "--port", str(taken_port)) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{taken_port}" in err
    assert "Traceback" not in err


def test_version(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(monkeypatch, "--version") == 0
    assert capsys.readouterr().out.startswith("flexrec 0.")


def test_bad_policy_file_names_the_setting(tmp_path: Path) -> None:
    from flexrec.recording.policy import PolicyError

    line = explain(PolicyError("unknown policy keys ['retain']"))
    assert line is not None
    assert "FLEXREC_POLICY_FILE" in line


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db/flexrec", "postgresql+psycopg://u:p@db/flexrec"),
        ("postgresql://u@db/flexrec", "postgresql+psycopg://u@db/flexrec"),
        ("postgresql+psycopg://u@db/x", "postgresql+psycopg://u@db/x"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_postgres_urls_as_users_write_them(given: str, expected: str) -> None:
    assert normalise_database_url(given) == expected
    assert StorageSettings(database_url=given).resolved_database_url() == expected


def test_unknown_database_scheme_is_explained() -> None:
    from flexrec.db.base import make_engine

    with pytest.raises(Exception) as raised:
        make_engine("mysq://x/y")
    line = explain(raised.value)
    assert line is not None
    assert "FLEXREC_DATABASE_URL" in line


@pytest.mark.parametrize(
    "url",
    [
        "mysql://flexrec:s3cret-pw@db/flexrec",
        "mysql+pymysql://flexrec:s3cret-pw@db/flexrec",
        "oracle://flexrec:s3cret-pw@db/flexrec",
        "postgresql://flexrec:s3cret-pw@db:notaport/flexrec",
        "postgresql+psycopg2://flexrec:s3cret-pw@db/flexrec",
        "postgresql://flexrec:s3cret-pw@db:70000/flexrec",
        "sqlite://flexrec.db",
        "garbage",
    ],
)
@pytest.mark.parametrize("command", [["serve", "--port", "{free}"], ["worker"], ["users", "list"]])
def test_an_unsupported_database_url_is_one_line_naming_the_supported_ones(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    url: str,
    command: list[str],
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SIM_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "simulator-auth-token")
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLEXREC_DATABASE_URL", url)
    # A port nobody uses (0 would mean the default, 8080, which may well be taken here).
    command = [str(free_port()) if word == "{free}" else word for word in command]
    assert run_cli(monkeypatch, *command) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("flexrec: error: FLEXREC_DATABASE_URL ")
    assert "sqlite:///" in err
    assert "postgresql://" in err
    assert "s3cret-pw" not in err


def test_database_down_is_explained() -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine("postgresql+psycopg://u@127.0.0.1:1/x")
    with pytest.raises(Exception) as raised, engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    line = explain(raised.value)
    assert line is not None
    assert "database server is running" in line


def test_redis_down_is_explained() -> None:
    from redis import Redis

    with pytest.raises(Exception) as raised:
        Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1).ping()
    line = explain(raised.value)
    assert line is not None
    assert "FLEXREC_QUEUE_URL" in line


@pytest.mark.parametrize(
    ("status", "words"),
    [(401, "refused the credentials"), (None, "could not be reached"), (503, "HTTP 503")],
)
def test_twilio_failures_are_explained(status: int | None, words: str) -> None:
    line = explain(GatewayError("boom", status=status))
    assert line is not None
    assert words in line


def test_a_bug_keeps_its_traceback() -> None:
    assert explain(KeyError("x")) is None


def test_port_free_raises_on_a_taken_port(taken_port: int) -> None:
    with pytest.raises(CliError, match="another program uses it"):
        port_free("127.0.0.1", taken_port)
    port_free("127.0.0.1", 0)  # any free port is always possible


def test_setup_dry_run_with_twilio_unreachable_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # A port nothing listens on: connections are refused.
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SIM_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "simulator-auth-token")
    monkeypatch.setenv("FLEXREC_TWILIO_BASE_URL", f"http://127.0.0.1:{dead}")
    code = run_cli(monkeypatch, "setup", "--public-url", "https://rec.example.com", "--dry-run")
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("flexrec: error: Twilio could not be reached")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    ("env", "value", "words"),
    [
        ("FLEXREC_VERIFY_EVERY_MINUTES", "90", "whole hours"),
        ("FLEXREC_AUDIT_ANCHOR_MINUTES", "120", "less than or equal to 60"),
        ("FLEXREC_COVERAGE_SWEEP_MINUTES", "61", "less than or equal to 60"),
        ("FLEXREC_PORT", "eighty", "valid integer"),
    ],
)
def test_a_bad_setting_is_one_line_naming_its_variable(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    env: str,
    value: str,
    words: str,
) -> None:
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", SIM_SID)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "simulator-auth-token")
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv(env, value)
    assert run_cli(monkeypatch, "serve", "--port", str(free_port())) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"flexrec: error: bad setting: {env}: ")
    assert words in err


@pytest.mark.parametrize("minutes", [0, 1, 15, 59, 60, 120, 1440, 2880])
def test_schedules_a_clock_can_keep_are_accepted(minutes: int) -> None:
    assert StorageSettings(verify_every_minutes=minutes).verify_every_minutes == minutes
