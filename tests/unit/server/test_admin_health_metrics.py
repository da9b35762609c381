"""Admin API auth and filters, /healthz, /metrics, OpenAPI, and secrets kept out of logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest
from server_harness import ADMIN_TOKEN, AUTH_TOKEN, WT_OWN, Harness, sign

from flexrec.server.gauges import refresh_gauges

CA = "CA" + "c" * 32


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", ["/api/admin/recordings", "/api/admin/tasks"])
def test_admin_token_lists_with_filters(harness: Harness, path: str) -> None:
    response = harness.client.get(
        path,
        params={"status": "completed", "direction": "inbound", "task_sid": WT_OWN,
                "since": "2026-11-01T00:00:00", "limit": "10", "offset": "20"},
        headers=bearer(ADMIN_TOKEN),
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["limit"] == 10
    assert body["offset"] == 20
    assert len(body["items"]) == 1
    name, filters = harness.recording.calls[-1]
    assert name == path.rsplit("/", 1)[-1].replace("recordings", "list_recordings").replace(
        "tasks", "list_tasks"
    )
    assert filters["status"] == "completed"
    assert filters["direction"] == "inbound"
    assert filters["task_sid"] == WT_OWN
    assert filters["since"].tzinfo is not None
    assert "until" not in filters
    assert (filters["limit"], filters["offset"]) == (10, 20)


def test_admin_without_token_is_401(harness: Harness) -> None:
    assert harness.client.get("/api/admin/recordings").status_code == 401
    assert harness.recording.calls == []


def test_admin_with_agent_flex_token_is_403(harness: Harness) -> None:
    response = harness.client.get("/api/admin/recordings", headers=bearer("tok-alice"))
    assert response.status_code == 403
    assert harness.recording.calls == []


def test_admin_with_supervisor_flex_token_is_200(harness: Harness) -> None:
    assert harness.client.get("/api/admin/tasks", headers=bearer("tok-sup")).status_code == 200


def test_admin_wrong_token_is_401(harness: Harness) -> None:
    response = harness.client.get("/api/admin/tasks", headers=bearer(ADMIN_TOKEN + "x"))
    assert response.status_code == 401


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "501"}, {"offset": "-1"}, {"direction": "sideways"},
     {"call_sid": "CA123"}, {"since": "2026-11-02T00:00:00Z", "until": "2026-11-01T00:00:00Z"}],
)  # fmt: skip
def test_admin_bad_filters_are_400(harness: Harness, params: dict[str, str]) -> None:
    response = harness.client.get(
        "/api/admin/recordings", params=params, headers=bearer(ADMIN_TOKEN)
    )
    assert response.status_code == 400
    assert harness.recording.calls == []


def test_openapi_documents_admin_and_agent_routes(harness: Harness) -> None:
    paths = harness.client.get("/openapi.json").json()["paths"]
    assert "/api/admin/recordings" in paths
    assert "/api/admin/tasks" in paths
    assert "/api/agent/tasks/{task_sid}/recording/pause" in paths
    assert harness.client.get("/docs").status_code == 200


def test_healthz_ok(harness: Harness) -> None:
    response = harness.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "queue": "ok"}}


def test_healthz_503_names_failed_check_without_details(harness: Harness) -> None:
    def broken() -> None:
        raise ConnectionError("redis://:hunter2secret@redis:6379 refused")

    harness.services.health_checks["queue"] = broken
    response = harness.client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["checks"] == {"database": "ok", "queue": "failed: ConnectionError"}
    assert "hunter2secret" not in response.text


def test_metrics_show_route_latency_and_webhook_counts(harness: Harness) -> None:
    harness.client.get("/healthz")
    harness.post_signed("/webhooks/call-status", {"CallSid": CA, "CallStatus": "ringing"})
    text = harness.client.get("/metrics").text
    assert 'flexrec_http_request_duration_seconds_count{method="GET",route="/healthz"' in text
    assert 'route="/webhooks/call-status",status="204"' in text
    assert 'flexrec_webhooks_total{outcome="accepted",source="call-status"}' in text
    assert "flexrec_attribute_write_conflicts_total" in text  # the recording service's own


def _handler_cpu_count(text: str, source: str, kind: str) -> float:
    prefix = f'flexrec_webhook_handler_cpu_seconds_count{{kind="{kind}",source="{source}"}} '
    lines = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def test_metrics_give_handler_cpu_per_event_kind(harness: Harness) -> None:
    # What a core pays per kind of event is how an operator sizes the service.
    before = _handler_cpu_count(harness.client.get("/metrics").text, "call-status", "no-answer")
    for _ in range(2):
        harness.post_signed("/webhooks/call-status", {"CallSid": CA, "CallStatus": "no-answer"})
    text = harness.client.get("/metrics").text
    assert _handler_cpu_count(text, "call-status", "no-answer") == before + 2
    assert 'flexrec_webhook_handler_cpu_seconds_sum{kind="no-answer",source="call-status"}' in text


def test_metrics_use_route_template_not_raw_path(harness: Harness) -> None:
    harness.client.get(f"/api/agent/tasks/{WT_OWN}/recording", headers=bearer("tok-alice"))
    text = harness.client.get("/metrics").text
    assert 'route="/api/agent/tasks/{task_sid}/recording"' in text
    assert WT_OWN not in text


def test_token_and_signature_never_in_logs_or_responses(
    harness_factory: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flexrec.logs import configure_logging

    stream = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging("DEBUG", json_output=True, stream=stream)
    h = harness_factory()
    flex_token = "eyJraWQiOiJTQ2FiYyIsImFsZyI6ImRpciJ9..secretpart.moresecret.tag123"
    h.tokens.table[flex_token] = h.tokens.table["tok-alice"]
    bad_token = "tok-expired-9f8e7d6c"
    responses = [
        h.client.post(f"/api/agent/tasks/{WT_OWN}/recording/pause",
                      headers=bearer(flex_token)),
        h.client.post(f"/api/agent/tasks/{WT_OWN}/recording/pause", data={"Token": bad_token}),
        h.client.get("/api/admin/tasks", headers=bearer(ADMIN_TOKEN)),
    ]  # fmt: skip
    params = {"CallSid": CA, "CallStatus": "completed"}
    good_sig = sign("http://testserver/webhooks/call-status", params)
    forged_sig = "Zm9yZ2VkLXNpZ25hdHVyZS12YWx1ZQ=="
    responses.append(h.post_signed("/webhooks/call-status", params, signature=good_sig))
    responses.append(h.post_signed("/webhooks/call-status", params, signature=forged_sig))
    h.recording.fail_with = RuntimeError(f"boom with {AUTH_TOKEN} inside")
    responses.append(h.post_signed("/webhooks/call-status", params))
    assert [r.status_code for r in responses] == [200, 401, 200, 204, 403, 500]
    logged = stream.getvalue()
    assert logged, "expected log output"
    for line in logged.splitlines():
        json.loads(line)
    everything = (
        logged + "".join(r.text for r in responses) + "".join(str(r.headers) for r in responses)
    )
    for secret in (flex_token, "secretpart", bad_token, ADMIN_TOKEN, good_sig, forged_sig,
                   AUTH_TOKEN):  # fmt: skip
        assert secret not in everything
    assert "webhook_handler_failed" in logged
    assert '"http_request"' in logged


def test_delivery_id_is_bound_and_probes_are_quiet(
    harness_factory: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flexrec.logs import configure_logging

    stream = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging("INFO", json_output=True, stream=stream)
    h = harness_factory()
    h.client.get("/healthz")
    h.recording.fail_with = RuntimeError("try again")
    params = {"CallSid": CA, "CallStatus": "completed"}
    h.post_signed("/webhooks/call-status", params, headers={"I-Twilio-Idempotency-Token": "d-42"})
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert not any(line.get("path") == "/healthz" for line in lines)
    failed = [line for line in lines if line["event"] == "webhook_handler_failed"]
    assert failed[0]["delivery_id"] == "d-42"
    assert failed[0]["call_sid"] == CA
    access = [line for line in lines if line["event"] == "http_request"]
    assert access[-1]["delivery_id"] == "d-42"
    assert access[-1]["status"] == 500


class CountingQueue:
    """A job queue whose storage counts how often it is asked for its depth."""

    def __init__(self, depth: int) -> None:
        self.huey = self
        self.depth = depth
        self.asked = 0

    def pending_count(self) -> int:
        self.asked += 1
        return self.depth


def test_a_scrape_answers_from_memory_and_queries_nothing(harness: Harness) -> None:
    queue = CountingQueue(depth=7)
    opened: list[int] = []

    def sessions() -> None:
        opened.append(1)
        raise AssertionError("a scrape must not open a database session")

    harness.services.queue = queue  # type: ignore[assignment]
    harness.services.archive = type("Archive", (), {"sessions": staticmethod(sessions)})()  # type: ignore[assignment]
    for _ in range(5):
        assert harness.client.get("/metrics").status_code == 200
    assert (queue.asked, opened) == (0, [])
    # The service refreshes them itself (a background chore every 15 s in each process).
    refresh_gauges(harness.services)
    assert queue.asked == 1
    assert "flexrec_queue_depth 7.0" in harness.client.get("/metrics").text


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (bearer("wrong-token"), 401), (bearer(ADMIN_TOKEN), 401), (bearer("m3trics"), 200)],
)
def test_a_metrics_token_guards_the_scrape(
    harness_factory: Callable[..., Harness], headers: dict[str, str], status: int
) -> None:
    harness = harness_factory(metrics_token="m3trics")
    answer = harness.client.get("/metrics", headers=headers)
    assert answer.status_code == status
    assert ("flexrec_ready" in answer.text) is (status == 200)
