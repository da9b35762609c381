"""Agent API long poll: ETags on every state answer, If-None-Match + wait, CORS for the plugin."""

from __future__ import annotations

import pytest
from server_harness import WT_FOREIGN, WT_OWN, Harness

from flexrec.server import routes_agent

BASE = "/api/agent/tasks"
ALICE = {"Authorization": "Bearer tok-alice"}


@pytest.fixture(autouse=True)
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(routes_agent, "WATCH_POLL_S", 0.01)


def etag_of(harness: Harness, task: str = WT_OWN) -> str:
    response = harness.client.get(f"{BASE}/{task}/recording", headers=ALICE)
    assert response.status_code == 200
    return str(response.headers["etag"])


def test_every_state_answer_has_a_stable_etag_and_is_never_cached(harness: Harness) -> None:
    first = harness.client.get(f"{BASE}/{WT_OWN}/recording", headers=ALICE)
    again = harness.client.post(f"{BASE}/{WT_OWN}/recording", headers=ALICE)
    paused = harness.client.post(f"{BASE}/{WT_OWN}/recording/pause", headers=ALICE)
    assert first.headers["etag"] == again.headers["etag"]
    assert first.headers["etag"].startswith('"')
    assert paused.headers["etag"] != first.headers["etag"]
    assert first.headers["cache-control"] == "no-store"


def test_a_matching_etag_without_wait_is_304_at_once(harness: Harness) -> None:
    etag = etag_of(harness)
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording", headers={**ALICE, "If-None-Match": etag}
    )
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    assert response.content == b""


def test_a_stale_etag_gets_the_current_state_at_once(harness: Harness) -> None:
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording?wait=20", headers={**ALICE, "If-None-Match": '"old"'}
    )
    assert response.status_code == 200
    assert [name for name, _ in harness.recording.calls] == ["state"]


def test_the_long_poll_answers_with_the_change(harness: Harness) -> None:
    etag = etag_of(harness)
    harness.recording.watch_states = ["recording", "recording", "paused"]
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording?wait=20", headers={**ALICE, "If-None-Match": f"W/{etag}"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "paused"
    assert response.headers["etag"] != etag
    # The re-reads never catch up from TaskRouter (the stub records them as "watch").
    assert [name for name, _ in harness.recording.calls] == ["state", "state"] + ["watch"] * 3


def test_the_long_poll_ends_with_304_when_nothing_changes(harness: Harness) -> None:
    etag = etag_of(harness)
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording?wait=0.1", headers={**ALICE, "If-None-Match": etag}
    )
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    assert ("watch", (WT_OWN, harness.recording.calls[-1][1][1])) in harness.recording.calls


def test_an_unmoved_fingerprint_skips_the_full_read(harness: Harness) -> None:
    etag = etag_of(harness)
    harness.recording.fingerprint_moves = False
    harness.recording.watch_states = ["paused"]  # would be found, were the state re-read
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording?wait=0.1", headers={**ALICE, "If-None-Match": etag}
    )
    assert response.status_code == 304
    assert "watch" not in [name for name, _ in harness.recording.calls]
    assert harness.recording.fingerprints >= 3  # the first read's, then about one per poll


def test_losing_the_task_during_a_long_poll_is_403(harness: Harness) -> None:
    etag = etag_of(harness)
    harness.recording.owners[WT_OWN] = "WK" + "f" * 32  # the reservation went elsewhere
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording?wait=5", headers={**ALICE, "If-None-Match": etag}
    )
    assert response.status_code == 403


def test_a_foreign_task_is_refused_before_any_wait(harness: Harness) -> None:
    response = harness.client.get(
        f"{BASE}/{WT_FOREIGN}/recording?wait=20", headers={**ALICE, "If-None-Match": '"x"'}
    )
    assert response.status_code == 403
    assert [name for name, _ in harness.recording.calls] == ["state"]


@pytest.mark.parametrize("wait", ["31", "-1", "soon"])
def test_a_bad_wait_is_a_4xx(harness: Harness, wait: str) -> None:
    response = harness.client.get(f"{BASE}/{WT_OWN}/recording?wait={wait}", headers=ALICE)
    assert 400 <= response.status_code < 500
    assert harness.recording.calls == []


def test_cors_lets_the_plugin_send_if_none_match_and_read_etag(harness: Harness) -> None:
    preflight = harness.client.options(
        f"{BASE}/{WT_OWN}/recording",
        headers={
            "Origin": "https://flex.twilio.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization,if-none-match",
        },
    )
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "if-none-match" in allowed
    response = harness.client.get(
        f"{BASE}/{WT_OWN}/recording", headers={**ALICE, "Origin": "https://flex.twilio.com"}
    )
    exposed = response.headers["access-control-expose-headers"].lower()
    assert "etag" in exposed and "retry-after" in exposed


def test_openapi_documents_the_long_poll(harness: Harness) -> None:
    spec = harness.client.get("/openapi.json").json()
    get = spec["paths"]["/api/agent/tasks/{task_sid}/recording"]["get"]
    params = {p["name"] for p in get["parameters"]}
    assert {"wait", "if-none-match"} <= params
    assert "304" in get["responses"]
    schema = spec["components"]["schemas"]["AgentRecordingState"]["properties"]
    assert {"paused_by", "paused_at", "may_act", "pause_pending"} <= set(schema)
