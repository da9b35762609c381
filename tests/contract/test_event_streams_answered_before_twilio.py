"""An Event Streams sink must answer within 5 seconds, so a batch is
acknowledged before any of its work talks to Twilio; the work is queued, and done after.

Sources:
- Twilio error 91308 "Sink endpoint did not respond in time",
  https://www.twilio.com/docs/api/errors/91308 ("acknowledge incoming payloads immediately
  with an HTTP 2xx status code, offloading long-running operations to a background queue").
- Event Streams webhook sink batches: a JSON array of CloudEvents
  (https://www.twilio.com/docs/events/webhook-quickstart), TaskRouter types as in
  https://www.twilio.com/docs/events/event-types/taskrouter (WDSEvent schema, `data.payload`).
- TaskRouter Events reference, https://www.twilio.com/docs/taskrouter/api/event/reference
  (workspace callbacks answered within 15 s; one event each, so its fast path stays inline).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from contract_app import ACCOUNT_SID, ServiceApp

WS = "WS" + "1" * 32
WK = "WK" + "2" * 32
WQ = "WQ" + "3" * 32
CALLS = 20  # a busy minute's worth of new calls in one batch


def _accepted(n: int) -> tuple[dict[str, object], str, str]:
    task_sid, call_sid = f"WT{n:032x}", f"CA{n:032x}"
    attributes = {"call_sid": call_sid, "direction": "inbound", "type": "inbound"}
    event = {
        "specversion": "1.0",
        "type": "com.twilio.taskrouter.reservation.accepted",
        "source": "/v1/Workspaces/" + WS,
        "id": f"EV{n:032x}",
        "dataschema": "https://events-schemas.twilio.com/TaskRouter.WDSEvent/4",
        "datacontenttype": "application/json",
        "time": "2026-11-20T10:00:00.000Z",
        "data": {
            "sid": f"EV{n:032x}",
            "account_sid": ACCOUNT_SID,
            "timestamp": "2026-11-20T10:00:00.000Z",
            "product_name": "TaskRouter",
            "payload_type": "application/json",
            "payload": {
                "sid": f"EV{n:032x}",
                "eventtype": "reservation.accepted",
                "account_sid": ACCOUNT_SID,
                "timestamp": "2026-11-20T10:00:00.000Z",
                "workspace_sid": WS,
                "task_sid": task_sid,
                "task_attributes": json.dumps(attributes),
                "task_assignment_status": "assigned",
                "task_channel_unique_name": "voice",
                "task_queue_sid": WQ,
                "reservation_sid": f"WR{n:032x}",
                "worker_sid": WK,
                "worker_name": "alice",
            },
        },
    }
    return event, task_sid, call_sid


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ServiceApp]:
    service_app = ServiceApp(tmp_path)
    yield service_app
    service_app.close()


def test_a_batch_of_new_calls_is_acknowledged_before_any_twilio_call(app: ServiceApp) -> None:
    batch = []
    for n in range(1, CALLS + 1):
        event, task_sid, call_sid = _accepted(n)
        app.twilio.add_call(call_sid)
        app.twilio.add_task(task_sid, {"call_sid": call_sid}, assignment_status="assigned")
        batch.append(event)
    assert app.post_json("/webhooks/event-streams", batch) == 204
    # Nothing waited on Twilio (~100-300 ms a call, several per new call) before the answer.
    assert app.twilio.requests == []
    assert len(app.queue.pending) == CALLS
    app.run_jobs()  # the queued work, done durably after the answer
    assert sorted(t.call_sid for t in app.targets()) == sorted(f"CA{n:032x}" for n in range(1, 21))
    assert len(app.twilio.recordings) == CALLS


def test_a_redelivered_batch_records_nothing_twice(app: ServiceApp) -> None:
    event, task_sid, call_sid = _accepted(1)
    app.twilio.add_call(call_sid)
    app.twilio.add_task(task_sid, {"call_sid": call_sid}, assignment_status="assigned")
    # Event Streams delivers at least once: a timed-out batch comes again.
    for _ in range(2):
        assert app.post_json("/webhooks/event-streams", [event]) == 204
        app.run_jobs()
    assert [r.call_sid for r in app.twilio.recordings.values()] == [call_sid]
