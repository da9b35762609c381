"""/readyz says why the service cannot do its job; /healthz stays a cheap liveness check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_harness import WT_OWN, Harness
from sqlalchemy import create_engine, text
from twilio.base.exceptions import TwilioRestException

from flexrec.archive.storage import MemoryStorage, StorageError
from flexrec.server.readiness import (
    Cached,
    CheckResult,
    SignatureWatch,
    archive_store_works,
    database_writable,
    twilio_credentials,
)

TASK_EVENT = {
    "EventType": "task.created",
    "ResourceSid": WT_OWN,
    "TaskSid": WT_OWN,
    "Timestamp": "1767225600",
    "TaskAttributes": "{}",
}


def test_a_wrong_auth_token_makes_readyz_fail_while_healthz_stays_green(
    harness: Harness,
) -> None:
    for _ in range(5):
        forged = harness.post_signed("/webhooks/taskrouter", TASK_EVENT, signature="wrong")
        assert forged.status_code == 403
    ready = harness.client.get("/readyz")
    assert ready.status_code == 503
    assert "TWILIO_AUTH_TOKEN" in ready.json()["checks"]["webhooks"]
    assert harness.client.get("/healthz").status_code == 200
    # One genuine webhook among the refused ones: someone is forging, Twilio is fine.
    assert harness.post_signed("/webhooks/taskrouter", TASK_EVENT).status_code == 204
    assert harness.client.get("/readyz").status_code == 200


def test_metrics_carry_the_readiness_gauges(harness: Harness) -> None:
    harness.client.get("/readyz")
    body = harness.client.get("/metrics").text
    assert "flexrec_ready 1.0" in body
    assert "flexrec_queue_depth" in body
    assert "flexrec_archive_backlog" in body
    assert "flexrec_archive_oldest_unarchived_seconds" in body


def test_signature_watch_forgets_old_refusals() -> None:
    now = [0.0]
    watch = SignatureWatch(window_s=60, clock=lambda: now[0])
    for _ in range(5):
        watch.record(False)
    assert not watch.check().ok
    now[0] = 61.0
    assert watch.check().ok


def test_database_that_refuses_writes_is_not_ready(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
        conn.execute(text("INSERT INTO alembic_version VALUES ('x')"))
    assert database_writable(engine).ok
    engine.dispose()
    read_only = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true")
    result = database_writable(read_only)
    read_only.dispose()
    assert not result.ok
    assert "refuses writes" in result.detail


class _Accounts:
    def __init__(self, error: Exception | None) -> None:
        self.error = error

    def __call__(self, _sid: str) -> Any:
        return self

    def fetch(self) -> None:
        if self.error is not None:
            raise self.error


class _Client:
    def __init__(self, error: Exception | None) -> None:
        self.api = type("Api", (), {})()
        self.api.v2010 = type("V2010", (), {"accounts": _Accounts(error)})()


@pytest.mark.parametrize(
    ("error", "ok", "words"),
    [
        (None, True, "ok"),
        (TwilioRestException(401, "uri", "Authenticate", 20003), False, "refused the credentials"),
        (ConnectionRefusedError("refused"), True, "could not be reached"),
    ],
)
def test_twilio_credentials(error: Exception | None, ok: bool, words: str) -> None:
    result = twilio_credentials(_Client(error), "AC" + "0" * 32)
    assert result.ok is ok
    assert words in result.detail


def test_archive_store_probe() -> None:
    assert archive_store_works(MemoryStorage()).ok

    class Broken(MemoryStorage):
        def put(self, key: str, data: bytes) -> None:
            raise StorageError("bucket unreachable")

    result = archive_store_works(Broken())
    assert not result.ok and "bucket unreachable" in result.detail


def test_slow_checks_run_at_most_once_per_period() -> None:
    now = [0.0]
    calls: list[int] = []

    def check() -> CheckResult:
        calls.append(1)
        return CheckResult(True)

    cached = Cached(check, every_s=60, clock=lambda: now[0])
    cached()
    cached()
    now[0] = 60.0
    cached()
    assert len(calls) == 2


def test_an_unknown_workspace_is_not_ready() -> None:
    class Workspaces:
        def __call__(self, _sid: str) -> Any:
            return self

        def fetch(self) -> None:
            raise TwilioRestException(404, "uri", "not found", 20404)

    client = _Client(None)
    client.taskrouter = type("TR", (), {})()  # type: ignore[attr-defined]
    client.taskrouter.v1 = type("V1", (), {"workspaces": Workspaces()})()  # type: ignore[attr-defined]
    result = twilio_credentials(client, "AC" + "0" * 32, "WS" + "0" * 32)
    assert not result.ok and "TWILIO_WORKSPACE_SID" in result.detail
