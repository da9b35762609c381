"""/readyz says why the service cannot do its job; /healthz stays a cheap liveness check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from server_harness import ADMIN_TOKEN, WT_OWN, Harness
from sqlalchemy import create_engine, text
from structlog.testing import capture_logs
from twilio.base.exceptions import TwilioRestException

from flexrec.archive.storage import MemoryStorage, StorageError
from flexrec.server.readiness import (
    Cached,
    CheckResult,
    Readiness,
    archive_store_works,
    database_writable,
    twilio_credentials,
)
from flexrec.server.signature_watch import SignatureWatch

SIGNAL = "flexrec_webhook_signatures_all_refused"

TASK_EVENT = {
    "AccountSid": "AC" + "0" * 32,  # the harness's account, as in every Twilio callback
    "EventType": "task.created",
    "ResourceSid": WT_OWN,
    "TaskSid": WT_OWN,
    "Timestamp": "1767225600",
    "TaskAttributes": "{}",
}


def _webhooks_report(harness: Harness) -> str:
    ready = harness.client.get("/readyz", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert ready.status_code == 200
    report: str = ready.json()["reports"]["webhooks"]
    return report


def _gauge(harness: Harness) -> str:
    lines = harness.client.get("/metrics").text.splitlines()
    return next(line for line in lines if line.startswith(SIGNAL + " "))


def test_forged_webhooks_never_take_the_service_out_of_its_load_balancer(
    harness: Harness,
) -> None:
    # 1,000 forged posts once turned /readyz 503 for ten minutes.
    for _ in range(1000):
        forged = harness.post_signed("/webhooks/taskrouter", TASK_EVENT, signature="wrong")
        assert forged.status_code == 403
    assert harness.client.get("/readyz").status_code == 200
    assert harness.client.get("/healthz").status_code == 200


def test_a_wrong_auth_token_is_the_operators_signal_not_readiness(harness: Harness) -> None:
    with capture_logs() as logs:
        for _ in range(5):  # Twilio's own posts, refused: they name the account
            forged = harness.post_signed("/webhooks/taskrouter", TASK_EVENT, signature="wrong")
            assert forged.status_code == 403
    alerts = [e for e in logs if e["event"] == "webhook_signatures_all_refused"]
    assert [e["log_level"] for e in alerts] == ["error"]  # once, when it starts
    assert harness.client.get("/readyz").status_code == 200
    assert "webhooks" not in harness.client.get("/readyz").text  # not for strangers
    assert "TWILIO_AUTH_TOKEN" in _webhooks_report(harness)
    assert _gauge(harness) == f"{SIGNAL} 1.0"
    # One genuine webhook among the refused ones: Twilio's posts pass, someone else forges.
    assert harness.post_signed("/webhooks/taskrouter", TASK_EVENT).status_code == 204
    assert _webhooks_report(harness) == "ok"
    assert _gauge(harness) == f"{SIGNAL} 0.0"


def test_forged_posts_that_do_not_name_the_account_say_nothing_about_twilio(
    harness: Harness,
) -> None:
    stranger = {**TASK_EVENT, "AccountSid": "AC" + "7" * 32}
    for _ in range(20):
        harness.post_signed("/webhooks/taskrouter", stranger, signature="wrong")
    assert _webhooks_report(harness) == "ok (no webhook yet)"
    assert _gauge(harness) == f"{SIGNAL} 0.0"


def test_anonymous_readyz_shows_no_internal_error_text(harness: Harness) -> None:
    secret_detail = "the database refuses writes (disk I/O error in /srv/flexrec/secret.db)"
    harness.client.app.state.readiness = Readiness(  # type: ignore[attr-defined]
        {"database": lambda: CheckResult(False, secret_detail), "queue": lambda: CheckResult(True)}
    )
    anonymous = harness.client.get("/readyz")
    assert anonymous.status_code == 503
    assert anonymous.json() == {
        "status": "not_ready",
        "checks": {"database": "failing", "queue": "ok"},
    }
    for credential in (ADMIN_TOKEN, "tok-sup"):
        told = harness.client.get("/readyz", headers={"Authorization": f"Bearer {credential}"})
        assert told.status_code == 503
        assert told.json()["checks"]["database"] == secret_detail


@pytest.mark.parametrize(("credential", "status"), [("tok-alice", 403), ("wrong", 401)])
def test_readyz_details_need_the_admin_token_or_a_supervisor(
    harness: Harness, credential: str, status: int
) -> None:
    answer = harness.client.get("/readyz", headers={"Authorization": f"Bearer {credential}"})
    assert answer.status_code == status
    assert "checks" not in answer.text


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
    assert watch.state().all_refused
    now[0] = 61.0
    assert not watch.state().all_refused


def test_signature_watch_reads_the_last_thousand_posts_of_the_window() -> None:
    """An accepted post clears the signal until it leaves the window: by age, or by 1,000
    refusals after it (the posts the watch keeps)."""
    now = [0.0]
    watch = SignatureWatch(window_s=60, clock=lambda: now[0])
    watch.record(True)
    for _ in range(999):
        watch.record(False)
    assert not watch.state().all_refused
    watch.record(False)
    state = watch.state()
    assert state.all_refused and "the last 1000 webhooks" in state.detail
    watch.record(True)
    assert watch.state().detail == "ok"
    now[0] = 30.0
    for _ in range(4):
        watch.record(False)
    assert not watch.state().all_refused  # the accepted post is 30 s old
    now[0] = 61.0
    watch.record(False)
    state = watch.state()
    assert state.all_refused and "the last 5 webhooks" in state.detail
    now[0] = 200.0
    assert watch.state().detail == "ok (no webhook yet)"


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
