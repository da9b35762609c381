"""The app over the real RecordingService, a migrated SQLite file and CORE's in-memory Twilio."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sim_twilio import SimTwilio
from testkit import assert_recorded_exactly_once

from flexrec.app.factory import create_app
from flexrec.app.services import database_check
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.service import RecordingService
from flexrec.server.services import Services
from flexrec.twilio.flex_tokens import InvalidToken, TokenInfo
from flexrec.webhooks.signature import SignatureVerifier

AUTH = "integration-auth-token"
PUBLIC = "https://rec.example.com"
CA = "CA" + "c" * 32
WT = "WT" + "1" * 32
WR = "WR" + "d" * 32
WK_ALICE = "WK" + "a" * 32
WK_BOB = "WK" + "b" * 32
WS = "WS" + "0" * 32
AC = "AC" + "0" * 32


class TableTokens:
    """Token strings mapped to who holds them."""

    table: ClassVar[dict[str, TokenInfo]] = {
        "tok-alice": TokenInfo("alice", WK_ALICE, ("agent",), None),
        "tok-bob": TokenInfo("bob", WK_BOB, ("agent",), None),
        "tok-sup": TokenInfo("sue", None, ("supervisor",), None),
    }

    def validate(self, token: str) -> TokenInfo:
        if token not in self.table:
            raise InvalidToken("expired")
        return self.table[token]


@dataclass
class World:
    client: TestClient
    twilio: SimTwilio

    def post(self, path: str, params: dict[str, str]) -> Any:
        text = PUBLIC + path + "".join(k + params[k] for k in sorted(params))
        sig = base64.b64encode(hmac.new(AUTH.encode(), text.encode(), hashlib.sha1).digest())
        return self.client.post(
            path,
            content=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sig.decode(),
            },
        )


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    twilio = SimTwilio(account_sid=AC)
    service = RecordingService(
        make_session_factory(engine),
        recordings=twilio,
        tasks=twilio,
        policy=RecordingPolicy(),
        public_url=PUBLIC,
    )
    services = Services(
        recording=service,
        tokens=TableTokens(),
        verifier=SignatureVerifier(AUTH),
        engine=engine,
        health_checks={"database": database_check(engine)},
        closers=[engine.dispose],
    )
    settings = Settings(
        twilio=TwilioSettings(account_sid=AC, auth_token=AUTH, workspace_sid=WS),
        server=ServerSettings(public_url=PUBLIC, admin_token="integration-admin"),
    )
    with TestClient(create_app(settings, services)) as client:
        yield World(client, twilio)
    services.close()


def accept_inbound(w: World) -> None:
    attributes = {"call_sid": CA, "direction": "inbound", "type": "inbound", "from": "+15550001"}
    w.twilio.add_call(CA, "in-progress")
    w.twilio.add_task(WT, attributes)
    params = {
        "EventType": "reservation.accepted",
        "AccountSid": AC,
        "WorkspaceSid": WS,
        "ResourceType": "Reservation",
        "ResourceSid": WR,
        "Timestamp": "1790000000",
        "TaskSid": WT,
        "TaskAttributes": json.dumps(attributes),
        "TaskAssignmentStatus": "assigned",
        "ReservationSid": WR,
        "WorkerSid": WK_ALICE,
        "WorkerName": "alice",
    }
    for _ in range(2):  # Twilio may deliver an event twice
        assert w.post("/webhooks/taskrouter", params).status_code == 204


def test_accepted_inbound_call_is_recorded_once_and_paused_by_its_agent(world: World) -> None:
    accept_inbound(world)
    assert_recorded_exactly_once(world.twilio, CA)

    def call(token: str, action: str = "") -> Any:
        path = f"/api/agent/tasks/{WT}/recording" + (f"/{action}" if action else "")
        return world.client.post(path, headers={"Authorization": f"Bearer {token}"})

    state = call("tok-alice")
    assert state.status_code == 200, state.text
    assert state.json()["call_sid"] == CA
    assert call("tok-bob", "pause").status_code == 403
    paused = call("tok-alice", "pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["state"] == "paused"
    assert call("tok-sup", "resume").json()["state"] == "recording"
    assert call("tok-expired", "pause").status_code == 401


def test_admin_lists_the_recording_and_task(world: World) -> None:
    accept_inbound(world)
    headers = {"Authorization": "Bearer integration-admin"}
    tasks = world.client.get("/api/admin/tasks", params={"task_sid": WT}, headers=headers)
    assert tasks.status_code == 200, tasks.text
    assert [t["sid"] for t in tasks.json()["items"]] == [WT]
    recordings = world.client.get("/api/admin/recordings", headers=headers)
    assert recordings.status_code == 200, recordings.text
    (item,) = recordings.json()["items"]
    assert item["call_sid"] == CA
    assert item["task_sids"] == [WT]
    for params, expected in (
        ({"since": "2000-01-01T00:00:00Z"}, 1),
        ({"since": "2999-01-01T00:00:00Z"}, 0),
        ({"until": "2000-01-01T00:00:00"}, 0),
        ({"direction": "outbound"}, 0),
        ({"call_sid": CA}, 1),
    ):
        found = world.client.get("/api/admin/recordings", params=params, headers=headers)
        assert len(found.json()["items"]) == expected, params


def test_unknown_task_is_404(world: World) -> None:
    response = world.client.get(
        f"/api/agent/tasks/{'WT' + '9' * 32}/recording", headers={"Authorization": "Bearer tok-sup"}
    )
    assert response.status_code == 404


def test_healthz_checks_the_real_database(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok", "checks": {"database": "ok"}}
