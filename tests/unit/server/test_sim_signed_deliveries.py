"""Webhooks signed by the simulator's delivery code are accepted by the service's routes."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlsplit

from server_harness import AUTH_TOKEN, Harness

from flexsim.delivery import Delivery

CA = "CA" + "c" * 32
WT = "WT" + "1" * 32


def send(h: Harness, delivery: Delivery, token: str = AUTH_TOKEN) -> int:
    url, headers, body = delivery.request(token)
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    return h.client.post(path, content=body or b"", headers=headers).status_code


def test_form_and_json_deliveries_verify(harness_factory: Callable[..., Harness]) -> None:
    h = harness_factory(public_url="http://127.0.0.1:8080")
    base = "http://127.0.0.1:8080"
    form = Delivery(
        id="1", kind="call", name="completed", url=f"{base}/webhooks/call-status",
        form={"CallSid": CA, "CallStatus": "completed", "Caller": "+1 555 (0100) & more"},
    )  # fmt: skip
    body = json.dumps(
        [{"type": "com.twilio.taskrouter.task.created", "id": "EV1",
          "data": {"task_sid": WT, "timestamp": 1790000000000}}]
    ).encode()  # fmt: skip
    stream = Delivery(id="2", kind="event-streams", name="batch",
                      url=f"{base}/webhooks/event-streams", body=body)  # fmt: skip
    assert send(h, form) == 204
    assert send(h, stream) == 204
    assert send(h, form, token="another-account-token") == 403
    assert [name for name, _ in h.recording.calls] == ["call_status", "taskrouter"]
