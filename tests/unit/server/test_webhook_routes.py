"""Webhook routes: signature first (403, nothing called), then parse (400), then the service."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import pytest
from server_harness import WT_OWN, Harness, sign
from starlette.datastructures import URL

from flexrec.server import routes_webhooks
from flexrec.server.metrics import REQUEST_SECONDS
from flexrec.web.body_limit import MAX_WEBHOOK_FORM_BYTES

CA = "CA" + "c" * 32
CF = "CF" + "f" * 32
RE = "RE" + "e" * 32
WR = "WR" + "d" * 32
WK = "WK" + "a" * 32

TASKROUTER = {
    "EventType": "reservation.accepted",
    "AccountSid": "AC" + "0" * 32,
    "WorkspaceSid": "WS" + "0" * 32,
    "ResourceSid": WR,
    "ResourceType": "Reservation",
    "Timestamp": "1790000000",
    "TaskSid": WT_OWN,
    "ReservationSid": WR,
    "WorkerSid": WK,
    "TaskAttributes": json.dumps({"call_sid": CA, "direction": "inbound"}),
}
CONFERENCE = {
    "StatusCallbackEvent": "participant-join",
    "ConferenceSid": CF,
    "CallSid": CA,
    "ParticipantLabel": "customer",
    "Timestamp": "Tue, 24 Nov 2026 10:00:00 +0000",
}
CALL_STATUS = {"CallSid": CA, "CallStatus": "completed", "Direction": "inbound"}
RECORDING_STATUS = {
    "RecordingSid": RE,
    "CallSid": CA,
    "RecordingStatus": "completed",
    "RecordingChannels": "2",
    "RecordingStartTime": "Tue, 24 Nov 2026 10:00:01 +0000",
    "RecordingDuration": "42",
    "ErrorCode": "0",
}

FORM_ROUTES = [
    ("/webhooks/taskrouter", TASKROUTER, "taskrouter"),
    ("/webhooks/conference", CONFERENCE, "conference"),
    ("/webhooks/call-status", CALL_STATUS, "call_status"),
    ("/webhooks/recording-status", RECORDING_STATUS, "recording_status"),
]


@pytest.mark.parametrize(("path", "params", "handler"), FORM_ROUTES)
def test_valid_signed_form_calls_service_once_and_answers_204(
    harness: Harness, path: str, params: dict[str, str], handler: str
) -> None:
    response = harness.post_signed(path, params)
    assert response.status_code == 204
    assert response.headers["content-type"] == "application/json"
    assert response.content == b""
    assert [name for name, _ in harness.recording.calls] == [handler]


@pytest.mark.parametrize(
    ("path", "params", "question"),
    [
        ("/webhooks/recording-status", {**RECORDING_STATUS, "RecordingStatus": "in-progress"},
         "known?"),
        # A TaskRouter event its task's memo takes (nothing the database keeps changes).
        ("/webhooks/taskrouter", {**TASKROUTER, "EventType": "task.updated"}, "memo?"),
    ],
)  # fmt: skip
def test_what_memory_answers_never_reaches_the_handler(
    harness: Harness, path: str, params: dict[str, str], question: str
) -> None:
    harness.recording.answer_from_memory = True
    response = harness.post_signed(path, params)
    assert response.status_code == 204
    assert [name for name, _ in harness.recording.questions] == [question]
    assert harness.recording.calls == []
    # Still signed first: a forged repeat is refused before memory is asked anything.
    harness.recording.questions.clear()
    assert harness.post_signed(path, params, signature="forged").status_code == 403
    assert harness.recording.questions == []


@pytest.mark.parametrize(
    ("path", "params", "hops"),
    [
        ("/webhooks/taskrouter", {**TASKROUTER, "EventType": "worker.activity.update"}, 0),
        # An offer ringing at an agent: nothing durable reads it (not in setup's filter).
        ("/webhooks/taskrouter", {**TASKROUTER, "EventType": "reservation.created"}, 0),
        ("/webhooks/taskrouter", TASKROUTER, 1),
        ("/webhooks/conference", CONFERENCE, 1),
        ("/webhooks/call-status", CALL_STATUS, 1),
        # A leg ringing or answered ends nothing: the room says so from memory, no hop.
        ("/webhooks/call-status", {**CALL_STATUS, "CallStatus": "ringing"}, 0),
    ],
)
def test_only_the_handler_runs_off_the_event_loop(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, path: str, params: dict[str, str], hops: int
) -> None:
    # A thread hop per request was a third of an ignored webhook's CPU: the signature check,
    # parsing and answer run on the event loop; only a handler that works goes to a thread.
    from flexrec.server import routes_webhooks

    counted: list[object] = []
    run_webhook = routes_webhooks.run_webhook

    async def counting(func: Callable[..., object], *args: object) -> object:
        counted.append(func)
        return await run_webhook(func, *args)

    monkeypatch.setattr(routes_webhooks, "run_webhook", counting)
    assert harness.post_signed(path, params).status_code == 204
    assert len(counted) == hops
    assert len(harness.recording.calls) == hops


def test_a_memo_that_breaks_leaves_the_event_to_its_handler(harness: Harness) -> None:
    harness.recording.memory_fails = True
    assert harness.post_signed("/webhooks/taskrouter", TASKROUTER).status_code == 204
    assert [name for name, _ in harness.recording.calls] == ["taskrouter"]


def test_a_ringing_leg_leaves_its_numbers_on_the_event_loop(harness: Harness) -> None:
    # A leg search tells the customer's leg by its numbers: a status callback already carries
    # them, so the room keeps them (no hop, no handler) and the search need not fetch the call.
    params = {**CALL_STATUS, "CallStatus": "ringing", "To": "+15551230002", "From": "+15559870000"}
    assert harness.post_signed("/webhooks/call-status", params).status_code == 204
    [(question, event)] = harness.recording.questions
    assert question == "note"
    assert (event.call_sid, event.to, event.from_) == (CA, "+15551230002", "+15559870000")
    assert harness.recording.calls == []


def test_handlers_run_on_the_webhook_threads_with_the_request_context(harness: Harness) -> None:
    # The webhooks' own executor (cheaper than anyio's hop), in a copy of the request's
    # context: the handler still sees when its webhook arrived (the start-latency metric).
    import threading

    from flexrec.webhooks.arrival import seconds_since_arrival

    seen: list[tuple[str, float | None]] = []

    def handler(_event: object) -> None:
        seen.append((threading.current_thread().name, seconds_since_arrival()))

    harness.recording.handle_conference_event = handler  # type: ignore[method-assign]
    assert harness.post_signed("/webhooks/conference", CONFERENCE).status_code == 204
    ((thread, since),) = seen
    assert thread.startswith("webhook")
    assert since is not None and since >= 0


def test_other_methods_on_a_webhook_path_are_405(harness: Harness) -> None:
    response = harness.client.get("/webhooks/taskrouter")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["error"] == "method_not_allowed"
    assert harness.recording.calls == []


def test_the_schema_documents_every_webhook_and_its_answers(harness: Harness) -> None:
    from flexrec.webhooks import paths as webhook_paths

    documented = harness.client.get("/openapi.json").json()["paths"]
    for path in (webhook_paths.TASKROUTER, webhook_paths.EVENT_STREAMS, webhook_paths.CONFERENCE,
                 webhook_paths.CALL_STATUS, webhook_paths.RECORDING_STATUS):  # fmt: skip
        answers = set(documented[path]["post"]["responses"])
        assert {"204", "400", "403", "413", "415", "422", "500"} <= answers


def test_taskrouter_event_reaches_service_parsed(harness: Harness) -> None:
    harness.post_signed("/webhooks/taskrouter", TASKROUTER)
    ((_, event),) = harness.recording.calls
    assert event.event_type == "reservation.accepted"
    assert event.task_sid == WT_OWN
    assert event.task_attributes == {"call_sid": CA, "direction": "inbound"}


@pytest.mark.parametrize(("path", "params", "handler"), FORM_ROUTES)
@pytest.mark.parametrize("signature", [None, "", "L/OH5YylLD5NRKLltdqwSvS0BnU="])
def test_unsigned_or_forged_is_403_and_service_not_called(
    harness: Harness, path: str, params: dict[str, str], handler: str, signature: str | None
) -> None:
    response = harness.post_signed(path, params, signature=signature)
    assert response.status_code == 403
    assert response.json()["error"] == "invalid_signature"
    assert harness.recording.calls == []


def test_signature_of_other_params_is_rejected(harness: Harness) -> None:
    forged = {**CALL_STATUS, "CallStatus": "in-progress"}
    response = harness.post_signed(
        "/webhooks/call-status", forged, signature=sign("http://testserver/webhooks/call-status",
                                                          CALL_STATUS)
    )  # fmt: skip
    assert response.status_code == 403
    assert harness.recording.calls == []


def test_malformed_but_signed_is_400_and_service_not_called(harness: Harness) -> None:
    bad = {**RECORDING_STATUS, "RecordingSid": "not-a-sid"}
    response = harness.post_signed("/webhooks/recording-status", bad)
    assert response.status_code == 400
    assert response.json()["error"] == "malformed_event"
    assert harness.recording.calls == []


def test_malformed_task_attributes_is_400(harness: Harness) -> None:
    response = harness.post_signed("/webhooks/taskrouter", {**TASKROUTER, "TaskAttributes": "{"})
    assert response.status_code == 400
    assert harness.recording.calls == []


def test_service_failure_is_500_so_twilio_retries(harness: Harness) -> None:
    harness.recording.fail_with = RuntimeError("database is locked")
    response = harness.post_signed("/webhooks/conference", CONFERENCE)
    assert response.status_code == 500
    assert "database is locked" not in response.text
    assert len(harness.recording.calls) == 1


def test_values_the_database_refuses_are_final_not_retried_forever(harness: Harness) -> None:
    from sqlalchemy.exc import DataError

    harness.recording.fail_with = DataError("INSERT", {}, ValueError("integer out of range"))
    response = harness.post_signed("/webhooks/conference", CONFERENCE)
    assert response.status_code == 422
    assert response.json()["error"] == "unprocessable_event"


def test_public_url_is_used_for_signature_behind_proxy(
    harness_factory: Callable[..., Harness],
) -> None:
    h = harness_factory(public_url="https://rec.example.com")
    path = "/webhooks/call-status?attempt=1"
    public_sig = sign("https://rec.example.com" + path, CALL_STATUS)
    assert h.post_signed(path, CALL_STATUS, signature=public_sig).status_code == 204
    # A signature over the internal URL must not pass once a public URL is configured.
    internal_sig = sign("http://testserver" + path, CALL_STATUS)
    assert h.post_signed(path, CALL_STATUS, signature=internal_sig).status_code == 403
    assert len(h.recording.calls) == 1


def test_validation_can_be_disabled_for_development(
    harness_factory: Callable[..., Harness],
) -> None:
    h = harness_factory(validate_signatures=False)
    assert h.post_signed("/webhooks/call-status", CALL_STATUS, signature=None).status_code == 204


def cloud_events(*types: str) -> bytes:
    return json.dumps(
        [
            {
                "specversion": "1.0",
                "type": f"com.twilio.taskrouter.{t}",
                "id": f"EV{i}",
                "time": "2026-11-24T10:00:00Z",
                "data": {
                    "task_sid": WT_OWN,
                    "reservation_sid": WR,
                    "worker_sid": WK,
                    "timestamp": 1790000000000,
                },
            }
            for i, t in enumerate(types)
        ]
    ).encode()


def post_json(h: Harness, body: bytes, *, good_hash: bool = True, good_sig: bool = True) -> int:
    digest = hashlib.sha256(body if good_hash else body + b"x").hexdigest()
    path = f"/webhooks/event-streams?bodySHA256={digest}"
    signature = sign("http://testserver" + path) if good_sig else sign("http://evil" + path)
    response = h.client.post(
        path,
        content=body,
        headers={"Content-Type": "application/json", "X-Twilio-Signature": signature},
    )
    return response.status_code


def test_event_streams_batch_dispatches_each_event(harness: Harness) -> None:
    body = cloud_events("reservation.accepted", "task.updated")
    assert post_json(harness, body) == 204
    events = [e for _, e in harness.recording.calls]
    assert [e.event_type for e in events] == ["reservation.accepted", "task.updated"]


@pytest.mark.parametrize(("good_hash", "good_sig"), [(False, True), (True, False)])
def test_event_streams_bad_hash_or_signature_is_403(
    harness: Harness, good_hash: bool, good_sig: bool
) -> None:
    status = post_json(harness, cloud_events("task.created"), good_hash=good_hash,
                       good_sig=good_sig)  # fmt: skip
    assert status == 403
    assert harness.recording.calls == []


def test_event_streams_without_hash_is_403(harness: Harness) -> None:
    body = cloud_events("task.created")
    path = "/webhooks/event-streams"
    response = harness.client.post(
        path, content=body, headers={"X-Twilio-Signature": sign("http://testserver" + path)}
    )
    assert response.status_code == 403
    assert harness.recording.calls == []


def test_event_streams_malformed_json_is_400(harness: Harness) -> None:
    assert post_json(harness, b"[{not json") == 400
    assert harness.recording.calls == []


def test_a_signed_body_that_is_not_utf8_is_malformed_not_forged(harness: Harness) -> None:
    assert post_json(harness, b'[{"type": "\xff"}]') == 400
    assert post_json(harness, b'[{"type": "\xff"}]', good_sig=False) == 403
    assert harness.recording.calls == []


def test_oversized_body_is_413_before_anything_else(harness: Harness) -> None:
    big = {**CALL_STATUS, "Padding": "x" * (MAX_WEBHOOK_FORM_BYTES + 1)}
    response = harness.post_signed("/webhooks/call-status", big)
    assert response.status_code == 413
    assert harness.recording.calls == []


def test_multipart_is_415(harness: Harness) -> None:
    response = harness.client.post(
        "/webhooks/call-status",
        files={"f": ("a.txt", b"x")},
        headers={"X-Twilio-Signature": "x"},
    )
    assert response.status_code == 415
    assert harness.recording.calls == []


def test_form_with_charset_and_plus_encoding_verifies(harness: Harness) -> None:
    params = {**CALL_STATUS, "Caller": "+1 555 (0100) & more"}
    url = "http://testserver/webhooks/call-status"
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in params.items())
    response = harness.client.post(
        "/webhooks/call-status",
        content=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
            "X-Twilio-Signature": sign(url, params),
        },
    )
    assert response.status_code == 204


def test_event_streams_wds_schema_with_nested_payload(harness: Harness) -> None:
    body = json.dumps(
        [
            {
                "specversion": "1.0",
                "type": "com.twilio.taskrouter.reservation.accepted",
                "id": "EV" + "5" * 32,
                "time": "2026-11-24T10:00:00Z",
                "data": {
                    "sid": "EV" + "5" * 32,
                    "name": "reservation.accepted",
                    "timestamp": "2026-11-24T10:00:00Z",
                    "product_name": "TaskRouter",
                    "payload_type": "application/json",
                    "payload": {
                        "task_sid": WT_OWN,
                        "reservation_sid": WR,
                        "worker_sid": WK,
                        "task_attributes": json.dumps({"call_sid": CA}),
                    },
                },
            }
        ]
    ).encode()
    assert post_json(harness, body) == 204
    ((_, event),) = harness.recording.calls
    assert (event.task_sid, event.reservation_sid, event.worker_sid) == (WT_OWN, WR, WK)
    assert event.task_attributes == {"call_sid": CA}


def test_webhooks_skip_fastapis_own_layers_but_keep_the_apps_rules(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    app: Any = harness.client.app
    harness.client.get("/healthz")  # FastAPI builds its stack on the first request
    through_fastapi: list[str] = []
    stack = app.middleware_stack

    async def watched(scope: Any, receive: Any, send: Any) -> None:
        through_fastapi.append(scope["path"])
        await stack(scope, receive, send)

    monkeypatch.setattr(app, "middleware_stack", watched)
    answered = REQUEST_SECONDS.labels("POST", "/webhooks/call-status", "204")
    before = _histogram_count(answered)
    assert harness.post_signed("/webhooks/call-status", CALL_STATUS).status_code == 204
    assert harness.client.get("/healthz").status_code == 200
    assert through_fastapi == ["/healthz"]  # the webhook went round FastAPI's nine layers
    # ...and through the app's own rules: timed under its route template,
    assert _histogram_count(answered) == before + 1
    # capped (declared over the limit: 413 before a byte is read, the connection closed),
    too_big = harness.post_signed(
        "/webhooks/call-status",
        CALL_STATUS,
        headers={"Content-Length": str(MAX_WEBHOOK_FORM_BYTES + 1)},
    )
    assert too_big.status_code == 413
    assert too_big.headers["connection"] == "close"
    # and an unexpected failure outside the handler is the error boundary's JSON 500.
    monkeypatch.setattr(harness.services.verifier, "verify", _explode)
    broken = harness.post_signed("/webhooks/call-status", CALL_STATUS)
    assert broken.status_code == 500
    assert broken.json()["error"] == "internal_error"


def _explode(*_args: object, **_kw: object) -> bool:
    raise RuntimeError("a bug in the signature check")


def _histogram_count(child: Any) -> float:
    return next(s.value for m in child.collect() for s in m.samples if s.name.endswith("_count"))


@pytest.mark.parametrize(
    ("scheme", "host", "server", "query"),
    [
        ("http", b"testserver", ("testserver", 80), b""),
        ("https", b"rec.example.com", ("10.0.0.5", 8000), b""),
        ("http", b"127.0.0.1:8181", ("127.0.0.1", 8181), b""),
        ("http", None, ("127.0.0.1", 80), b""),  # no Host header: the server's address
        ("https", None, ("::1", 8443), b""),
        ("http", b"bad host:x", ("127.0.0.1", 9000), b""),  # an invalid Host: the server's
        ("https", b"rec.example.com", None, b"bodySHA256=abc"),
    ],
)
def test_the_signed_url_is_the_one_starlette_builds_for_the_request(
    scheme: str, host: bytes | None, server: Any, query: bytes
) -> None:
    headers = [(b"content-type", b"application/x-www-form-urlencoded")]
    if host is not None:
        headers.append((b"host", host))
    scope = {"type": "http", "scheme": scheme, "server": server, "path": "/webhooks/taskrouter",
             "query_string": query, "headers": headers}  # fmt: skip
    for _ in range(2):  # built, then remembered
        own = routes_webhooks._own_url(scheme, host, server, scope["path"], query)
        assert own == str(URL(scope=scope))


@dataclass
class _Queue:
    queued: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)

    def enqueue(self, name: str, *args: Any, delay_s: float = 0.0) -> None:
        self.queued.append((name, args))


def _with_queue(harness: Harness, *, worker: bool) -> _Queue:
    queue = _Queue()
    harness.services.queue = queue  # type: ignore[assignment]
    harness.services.jobs_worker = object() if worker else None  # type: ignore[assignment]
    return queue


def test_event_streams_events_wait_for_no_jobs_worker(harness: Harness) -> None:
    # serve's default runs the queue's jobs in a niced worker: recording control handled there
    # started an outbound call's recording up to 45 s of talk late (the demo's seed 8).
    queue = _with_queue(harness, worker=True)
    assert post_json(harness, cloud_events("reservation.accepted", "task.updated")) == 204
    assert [e.event_type for _, e in harness.recording.calls] == [
        "reservation.accepted",
        "task.updated",
    ]
    assert queue.queued == []


def test_event_streams_events_past_the_budget_are_queued(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = _with_queue(harness, worker=True)
    monkeypatch.setattr(routes_webhooks, "INLINE_BUDGET_S", 0.0)
    assert post_json(harness, cloud_events("reservation.accepted")) == 204
    assert harness.recording.calls == []
    assert [name for name, _ in queue.queued] == ["recording.taskrouter_event"]


def test_event_streams_events_go_to_a_queue_consumed_here(harness: Harness) -> None:
    queue = _with_queue(harness, worker=False)
    assert post_json(harness, cloud_events("reservation.accepted")) == 204
    assert harness.recording.calls == []
    assert len(queue.queued) == 1
