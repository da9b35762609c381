"""The simulator signs webhooks exactly as Twilio does: checked with the SDK's validator."""

from __future__ import annotations

import json

from twilio.request_validator import RequestValidator

from flexsim.delivery import Delivery, json_webhook_url, twilio_signature

DOC_URL = "https://example.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+14158675310",
    "Digits": "1234",
    "From": "+14158675310",
    "To": "+18005551212",
}


def test_signature_matches_twilio_documented_vector() -> None:
    assert twilio_signature("12345", DOC_URL, DOC_PARAMS) == "L/OH5YylLD5NRKLltdqwSvS0BnU="


def test_form_delivery_validates_with_sdk_and_fails_when_tampered() -> None:
    delivery = Delivery(
        id="1",
        kind="taskrouter",
        name="task.created",
        url="http://127.0.0.1:8000/webhooks/taskrouter",
        form={"EventType": "task.created", "TaskSid": "WT" + "a" * 32, "Empty": ""},
    )
    url, headers, body = delivery.request("secret-token")
    validator = RequestValidator("secret-token")
    assert body is not None
    assert validator.validate(url, delivery.form, headers["X-Twilio-Signature"])
    tampered = {**(delivery.form or {}), "TaskSid": "WT" + "b" * 32}
    assert not validator.validate(url, tampered, headers["X-Twilio-Signature"])
    assert not RequestValidator("other").validate(url, delivery.form, headers["X-Twilio-Signature"])
    assert headers["User-Agent"] == "TwilioProxy/1.1"
    assert headers["I-Twilio-Idempotency-Token"] == "1"


def test_json_delivery_carries_body_hash_and_validates_with_sdk() -> None:
    body = json.dumps([{"specversion": "1.0", "type": "com.twilio.taskrouter.task.created"}])
    delivery = Delivery(
        id="2",
        kind="event-streams",
        name="1 events",
        url="https://svc.example/webhooks/event-streams",
        body=body.encode(),
    )
    url, headers, sent = delivery.request("tok")
    assert sent == body.encode()
    assert url == json_webhook_url(delivery.url, body.encode())
    assert "bodySHA256=" in url
    validator = RequestValidator("tok")
    assert validator.validate(url, body, headers["X-Twilio-Signature"])
    assert not validator.validate(url, body + " ", headers["X-Twilio-Signature"])


def test_get_delivery_signs_the_query_string() -> None:
    delivery = Delivery(
        id="3",
        kind="recording-status",
        name="completed",
        url="http://svc.example/cb?x=1",
        method="GET",
        form={"RecordingSid": "RE" + "c" * 32},
    )
    url, headers, body = delivery.request("tok")
    assert body is None
    assert url.startswith("http://svc.example/cb?x=1&RecordingSid=RE")
    assert RequestValidator("tok").validate(url, {}, headers["X-Twilio-Signature"])
