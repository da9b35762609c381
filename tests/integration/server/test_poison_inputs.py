"""Signed poison input and absurd query values get a clear 4xx (or are stored safely), never a
5xx, on SQLite and PostgreSQL alike.

The whole service as `flexrec serve` builds it (webhooks, admin API, console), its Twilio
pointed at a closed port: every request below used to answer 500 on one database or both,
which Twilio retries forever.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from flexrec.accounts.users import create_user
from flexrec.cli.serve import build_service
from flexrec.config import Settings
from flexrec.db.models import TaskRecord

AUTH = "poison-auth-token"
ADMIN = "poison-admin-token-123"
PUBLIC = "http://testserver"
WT = "WT" + "1" * 32
CA = "CA" + "2" * 32
RE = "RE" + "3" * 32
CF = "CF" + "4" * 32
NUMBERS = ("inf", "nan", "1e400", "-1e400", str(2**63), "9" * 23, str(-(2**63) - 1))
DEEP = '{"a":' * 1500 + "1" + "}" * 1500


def _sign(url: str, params: dict[str, str]) -> str:
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(AUTH.encode(), data.encode(), hashlib.sha1).digest()).decode()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'flexrec.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    schema = f"poison_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{base}?options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def service(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, Any]]:
    env = {
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": AUTH,
        "TWILIO_WORKSPACE_SID": "WS" + "0" * 32,
        "FLEXREC_TWILIO_BASE_URL": "http://127.0.0.1:9",  # nothing listens: Twilio "fails"
        "TWILIO_TIMEOUT_S": "1",
        "FLEXREC_PUBLIC_URL": PUBLIC,
        "FLEXREC_DATA_DIR": str(tmp_path / "data"),
        "FLEXREC_DATABASE_URL": database_url,
        "FLEXREC_ADMIN_TOKEN": ADMIN,
        "FLEXREC_CONSOLE_SECRET": "s" * 40,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    app, services = build_service(Settings.from_env(), consumer_workers=0)
    with services.sessions() as session:
        create_user(session, "sue", "a-long-enough-password", "supervisor")
        session.commit()
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, services
    finally:
        services.close()


def _post_form(client: TestClient, path: str, params: dict[str, str]) -> Any:
    return client.post(
        path,
        content=urlencode(params),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": _sign(PUBLIC + path, params),
        },
    )


def _post_json(client: TestClient, body: bytes) -> Any:
    path = "/webhooks/event-streams?bodySHA256=" + hashlib.sha256(body).hexdigest()
    return client.post(
        path,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Twilio-Signature": _sign(PUBLIC + path, {}),
        },
    )


def _task_form(**changes: str) -> dict[str, str]:
    attributes = {"call_sid": CA, "direction": "inbound"}
    form = {
        "EventType": "task.created",
        "TaskSid": WT,
        "Timestamp": "1790000000",
        "TaskAttributes": json.dumps(attributes),
        "TaskAssignmentStatus": "pending",
        "TaskChannelUniqueName": "voice",
    }
    return {**form, **changes}


def _webhook_cases() -> list[tuple[str, str, dict[str, str]]]:
    cases: list[tuple[str, str, dict[str, str]]] = [
        ("deep attributes", "/webhooks/taskrouter", _task_form(TaskAttributes=DEEP)),
    ]
    for n, value in enumerate(NUMBERS):
        sid = f"WT{n:032x}"
        attributes = '{"call_sid": "CA' + "6" * 32 + f'", "direction": "inbound", "n": {value}}}'
        cases += [
            (f"Timestamp={value}", "/webhooks/taskrouter", _task_form(Timestamp=value)),
            (f"attribute {value}", "/webhooks/taskrouter",
             _task_form(TaskSid=sid, TaskAttributes=attributes)),
            (f"SequenceNumber={value}", "/webhooks/conference",
             {"StatusCallbackEvent": "participant-join", "ConferenceSid": CF, "FriendlyName": WT,
              "CallSid": CA, "ParticipantLabel": "customer", "SequenceNumber": value,
              "Timestamp": "Tue, 24 Nov 2026 12:00:05 +0000"}),
            (f"RecordingDuration={value}", "/webhooks/recording-status",
             {"RecordingSid": RE, "CallSid": CA, "RecordingStatus": "completed",
              "RecordingDuration": value, "RecordingChannels": value, "ErrorCode": value,
              "RecordingStartTime": "Tue, 24 Nov 2026 12:00:05 +0000"}),
            (f"call Timestamp={value}", "/webhooks/call-status",
             {"CallSid": CA, "CallStatus": "completed", "Timestamp": value}),
        ]  # fmt: skip
    named = '{"call_sid": "CA' + "8" * 32 + '", "direction": "inbound", "name": "a\\u0000b"}'
    cases += [
        ("NUL in names", "/webhooks/taskrouter",
         _task_form(EventType="reservation.accepted", TaskSid="WT" + "7" * 32,
                    TaskQueueName="q\x00", WorkerName="w\x00", ReservationSid="WR" + "1" * 32,
                    WorkerSid="WK" + "1" * 32, TaskAssignmentStatus="assigned",
                    TaskAttributes=named)),
        ("NUL in a conference", "/webhooks/conference",
         {"StatusCallbackEvent": "participant-join", "ConferenceSid": CF, "FriendlyName": "f\x00",
          "CallSid": CA, "ParticipantLabel": "cust\x00omer", "SequenceNumber": "1"}),
        ("NUL in a recording", "/webhooks/recording-status",
         {"RecordingSid": RE, "CallSid": CA, "RecordingStatus": "in-progress",
          "RecordingSource": "a\x00", "RecordingTrack": "b\x00"}),
    ]  # fmt: skip
    return cases


def test_signed_poison_webhooks_get_4xx_or_are_stored_never_5xx(
    service: tuple[TestClient, Any],
) -> None:
    client, services = service
    answers = {name: _post_form(client, path, form).status_code
               for name, path, form in _webhook_cases()}  # fmt: skip
    cloud = {"specversion": "1.0", "type": "com.twilio.taskrouter.task.created", "id": "EV1",
             "source": "x", "time": "2026-11-24T12:00:00Z",
             "data": {"payload": {"task_sid": WT, "task_attributes": DEEP}}}  # fmt: skip
    bodies = {
        "deep batch": ("[" * 1500 + "]" * 1500).encode(),
        "deep cloud attributes": json.dumps([cloud]).encode(),
        "NaN in a batch": b'[{"type": "com.twilio.taskrouter.task.created", "id": "E2", '
        b'"data": {"task_sid": "' + WT.encode() + b'", "timestamp": NaN}}]',
    }
    answers.update({name: _post_json(client, body).status_code for name, body in bodies.items()})

    server_errors = {name: status for name, status in answers.items() if status >= 500}
    print(f"\nsigned poison inputs: {len(answers)}, answered 5xx: {len(server_errors)}")
    assert server_errors == {}
    assert answers["deep attributes"] == 400
    assert answers["Timestamp=inf"] == 400
    assert answers["RecordingDuration=" + "9" * 23] == 400
    assert answers["NUL in names"] == 204  # stored, with the NUL replaced
    with services.sessions() as session:
        stored = session.scalars(select(TaskRecord).where(TaskRecord.sid == "WT" + "7" * 32)).one()
        assert "\x00" not in json.dumps(stored.attributes)


def _signed_in(client: TestClient) -> None:
    page = client.get("/console/login").text
    marker = '<input type="hidden" name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    form = {"username": "sue", "password": "a-long-enough-password",
            "csrf_token": page[start : page.index('"', start)]}  # fmt: skip
    assert client.post("/console/login", data=form, follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "path",
    [
        f"/api/admin/recordings?offset={2**63}",
        f"/api/admin/tasks?offset={2**63}",
        "/api/admin/tasks?since=0001-01-01T00:00:00%2B01:00",
        "/console/api/audit?since=0001-01-01T00:00:00%2B01:00",
        f"/api/admin/audit?offset={2**63}",
        "/console/api/recordings?page=1e20",
        f"/console/api/recordings?page={2**63 - 1}",
        "/console/api/recordings?min_interruptions=1e20",
        f"/console/api/recordings?min_interruptions={2**63}",
        "/console/api/recordings?date_to=9999-12-31",
        "/console/api/recordings?min_duration_s=1e400",
        "/console/api/recordings?max_talk_ratio=nan",
    ],
)
def test_absurd_query_values_are_a_400(service: tuple[TestClient, Any], path: str) -> None:
    client, _services = service
    _signed_in(client)
    answer = client.get(path, headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("path", ["/api/admin/tasks", "/api/admin/audit", "/console/api/audit"])
def test_a_naive_and_an_aware_time_together_are_compared_as_utc(
    service: tuple[TestClient, Any], path: str
) -> None:
    client, _services = service
    _signed_in(client)
    query = "?since=2026-01-01T00:00:00&until=2026-01-02T00:00:00%2B00:00"
    answer = client.get(path + query, headers={"Authorization": f"Bearer {ADMIN}"})
    assert answer.status_code == 200, answer.text


@pytest.mark.parametrize(
    "path",
    [
        "/console/api/recordings?q=a%00b",
        "/console/api/recordings?agent=%00",
        "/console/api/recordings?queue=%00",
        "/api/admin/tasks?status=%00",
        "/api/admin/recordings?queue=%00",
        "/api/admin/audit?user=%00&action=play",
        "/console/api/audit?user=%00",
        # An action is one of the known names: one with a NUL is none of them (400).
        "/api/admin/audit?action=%00",
    ],
)
def test_nul_characters_in_queries_are_searched_for_safely_on_both_databases(
    service: tuple[TestClient, Any], path: str
) -> None:
    client, _services = service
    _signed_in(client)
    answer = client.get(path, headers={"Authorization": f"Bearer {ADMIN}"})
    if "action=%00" in path:
        assert answer.status_code == 400 and "unknown action" in answer.text, answer.text
        return
    assert answer.status_code == 200, answer.text  # nothing matches: stored values hold no NUL


def test_a_nul_in_a_sign_in_form_is_refused_not_a_500(service: tuple[TestClient, Any]) -> None:
    client, _services = service
    page = client.get("/console/login").text
    marker = '<input type="hidden" name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    form = {"username": "s\x00ue", "password": "p\x00w",
            "csrf_token": page[start : page.index('"', start)]}  # fmt: skip
    answer = client.post("/console/login", data=form, follow_redirects=False)
    assert answer.status_code == 401 or answer.status_code == 200  # the form again, refused
