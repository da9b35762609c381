"""SdkGateway over the real SDK with a recording HTTP client: parameters, ETag, error mapping."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client

from flexrec.twilio.gateway import (
    CreateRecordingRequest,
    GatewayError,
    PreconditionFailed,
    SdkGateway,
    UnreadableTask,
)
from flexrec.webhooks.events import parse_time_ms

AC = "AC" + "a" * 32
WS = "WS" + "b" * 32
CA = "CA" + "c" * 32
RE = "RE" + "d" * 32
WT = "WT" + "e" * 32


class StubHttp(HttpClient):
    """Answers each request with the next queued response and remembers what was sent."""

    def __init__(self) -> None:
        super().__init__(logger=None, is_async=False)  # type: ignore[arg-type]
        self.sent: list[dict[str, Any]] = []
        self.replies: list[Response | Exception] = []

    def request(self, method: str, uri: str, params: Any = None, data: Any = None,
                headers: Any = None, auth: Any = None, timeout: Any = None,
                allow_redirects: bool = False) -> Response:  # fmt: skip
        self.sent.append(
            {"method": method, "uri": uri, "params": params, "data": data, "headers": headers}
        )
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply


def recording_json(status: str = "in-progress") -> str:
    return json.dumps(
        {
            "sid": RE, "call_sid": CA, "account_sid": AC, "status": status, "channels": 2,
            "start_time": "Tue, 24 Nov 2026 12:00:03 +0000", "duration": "-1",
            "source": "StartCallRecordingAPI", "track": "both", "error_code": None,
            "date_created": "Tue, 24 Nov 2026 12:00:03 +0000",
            "date_updated": "Tue, 24 Nov 2026 12:00:03 +0000",
        }
    )  # fmt: skip


def task_json(attributes: dict[str, Any]) -> str:
    return json.dumps(
        {
            "sid": WT, "account_sid": AC, "workspace_sid": WS,
            "attributes": json.dumps(attributes), "assignment_status": "assigned",
            "task_queue_sid": "WQ" + "1" * 32, "task_queue_friendly_name": "Sales",
            "workflow_sid": "WW" + "2" * 32, "workflow_friendly_name": "Main",
            "task_channel_unique_name": "voice",
        }
    )  # fmt: skip


@pytest.fixture
def stub() -> StubHttp:
    return StubHttp()


@pytest.fixture
def gateway(stub: StubHttp) -> SdkGateway:
    return SdkGateway(Client(AC, "token", http_client=stub), AC, WS)


def test_create_sends_dual_channel_with_our_callback(stub: StubHttp, gateway: SdkGateway) -> None:
    stub.replies.append(Response(201, recording_json()))
    info = gateway.create_recording(CreateRecordingRequest(CA, "https://rec.example.com/cb"))
    sent = stub.sent[0]
    assert sent["method"] == "POST"
    assert sent["uri"].endswith(f"/2010-04-01/Accounts/{AC}/Calls/{CA}/Recordings.json")
    data = sent["data"]
    assert data["RecordingChannels"] == "dual"
    assert data["RecordingStatusCallback"] == "https://rec.example.com/cb"
    assert data["RecordingStatusCallbackEvent"] == ["completed", "absent", "failed"]
    assert data["Trim"] == "do-not-trim"
    assert (info.sid, info.status, info.channels) == (RE, "in-progress", 2)
    assert info.start_time_ms == parse_time_ms("2026-11-24T12:00:03Z")
    assert info.duration_s is None  # Twilio reports -1 while recording


def test_pause_sends_status_and_behavior_to_the_real_sid(
    stub: StubHttp, gateway: SdkGateway
) -> None:
    stub.replies.append(Response(200, recording_json("paused")))
    gateway.update_recording(CA, RE, "paused", "skip")
    sent = stub.sent[0]
    assert sent["uri"].endswith(f"/Calls/{CA}/Recordings/{RE}.json")
    assert sent["data"] == {"Status": "paused", "PauseBehavior": "skip"}


def test_task_etag_is_read_and_sent_back_as_if_match(stub: StubHttp, gateway: SdkGateway) -> None:
    stub.replies.append(Response(200, task_json({"a": 1}), {"ETag": '"7"'}))
    snapshot = gateway.fetch_task(WT)
    assert (snapshot.etag, snapshot.attributes, snapshot.queue_name) == ('"7"', {"a": 1}, "Sales")
    stub.replies.append(Response(200, task_json({"a": 2}), {"ETag": '"8"'}))
    updated = gateway.update_task_attributes(WT, {"a": 2}, snapshot.etag)
    sent = stub.sent[1]
    assert sent["headers"]["If-Match"] == '"7"'
    assert json.loads(sent["data"]["Attributes"]) == {"a": 2}
    assert updated.etag == '"8"'


def test_errors_are_translated(stub: StubHttp, gateway: SdkGateway) -> None:
    def error(status: int, code: int) -> Response:
        return Response(status, json.dumps({"code": code, "message": "m", "status": status}))

    stub.replies.append(error(412, 20412))
    with pytest.raises(PreconditionFailed):
        gateway.update_task_attributes(WT, {}, '"1"')
    stub.replies.append(error(400, 21220))
    with pytest.raises(GatewayError) as info:
        gateway.create_recording(CreateRecordingRequest(CA, "https://x"))
    assert (info.value.status, info.value.code, info.value.retryable) == (400, 21220, False)
    stub.replies.append(error(429, 20429))
    with pytest.raises(GatewayError) as info:
        gateway.fetch_call(CA)
    assert info.value.retryable
    stub.replies.append(requests.exceptions.ReadTimeout("slow"))
    with pytest.raises(GatewayError) as info:
        gateway.list_recordings(CA)
    assert info.value.status is None and info.value.retryable


def test_list_reservations(stub: StubHttp, gateway: SdkGateway) -> None:
    body = {
        "reservations": [
            {"sid": "WR" + "1" * 32, "worker_sid": "WK" + "2" * 32, "worker_name": "alice",
             "reservation_status": "accepted", "task_sid": WT, "workspace_sid": WS,
             "account_sid": AC}
        ],
        "meta": {"key": "reservations", "next_page_url": None, "page": 0, "page_size": 50},
    }  # fmt: skip
    stub.replies.append(Response(200, json.dumps(body)))
    (reservation,) = gateway.list_reservations(WT)
    assert stub.sent[0]["uri"].endswith(f"/v1/Workspaces/{WS}/Tasks/{WT}/Reservations")
    assert (reservation.worker_sid, reservation.status) == ("WK" + "2" * 32, "accepted")


def test_list_page_errors_keep_their_status(stub: StubHttp, gateway: SdkGateway) -> None:
    stub.replies.append(Response(404, json.dumps({"code": 20404, "message": "nf", "status": 404})))
    with pytest.raises(GatewayError) as info:
        gateway.list_recordings(CA)
    assert (info.value.status, info.value.code, info.value.retryable) == (404, 20404, False)
    stub.replies.append(Response(503, json.dumps({"code": 20503, "message": "x", "status": 503})))
    with pytest.raises(GatewayError) as info:
        gateway.list_tasks(["assigned"])
    assert (info.value.status, info.value.retryable) == (503, True)


def _nested(depth: int) -> str:
    return '{"a":' * depth + "1" + "}" * depth


def test_a_task_nested_too_deep_is_skipped_in_listings_and_never_retried(
    stub: StubHttp, gateway: SdkGateway
) -> None:
    poisoned = json.loads(task_json({}))
    poisoned["sid"] = "WT" + "f" * 32
    poisoned["attributes"] = _nested(1500)
    good = json.loads(task_json({"call_sid": CA}))
    page = {
        "tasks": [poisoned, good],
        "meta": {"key": "tasks", "next_page_url": None, "page": 0, "page_size": 50},
    }
    stub.replies.append(Response(200, json.dumps(page)))

    (task,) = gateway.list_tasks(["assigned"])

    assert (task.sid, task.attributes) == (WT, {"call_sid": CA})
    stub.replies.append(Response(200, json.dumps(poisoned)))
    with pytest.raises(UnreadableTask) as info:
        gateway.fetch_task(poisoned["sid"])
    assert not info.value.retryable
