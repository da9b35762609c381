"""Agent API long poll: ETags on every state answer, If-None-Match + wait, held polls that cost
nothing until their task is announced, a cap per token, CORS for the plugin."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
from server_harness import WT_FOREIGN, WT_OWN, Harness

from flexrec.server.long_polls import MAX_POLLS_PER_TOKEN

BASE = "/api/agent/tasks"
ALICE = {"Authorization": "Bearer tok-alice"}


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=MAX_POLLS_PER_TOKEN + 2) as executor:
        yield executor


def until(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for what another thread does (a poll being held), failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def hold(
    harness: Harness, pool: ThreadPoolExecutor, etag: str, wait: float = 20, **headers: str
) -> Future[Any]:
    """A long poll sent from another thread, returned once the service holds it."""
    before = harness.services.changes.held
    poll = pool.submit(
        harness.client.get,
        f"{BASE}/{WT_OWN}/recording?wait={wait}",
        headers={**ALICE, **headers, "If-None-Match": etag},
    )
    until(lambda: harness.services.changes.held > before or poll.done())
    return poll


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


def test_the_long_poll_answers_with_the_change(harness: Harness, pool: ThreadPoolExecutor) -> None:
    etag = etag_of(harness)
    poll = hold(harness, pool, f"W/{etag}")
    harness.recording.watch_states = ["paused"]
    harness.services.changes.publish(WT_OWN)  # what the database announces on a write
    response = poll.result(timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "paused"
    assert response.headers["etag"] != etag
    # The re-read never catches up from TaskRouter (the stub records it as "watch").
    assert [name for name, _ in harness.recording.calls] == ["state", "state", "watch"]


def test_a_held_poll_costs_nothing_until_its_task_is_announced(
    harness: Harness, pool: ThreadPoolExecutor
) -> None:
    etag = etag_of(harness)
    poll = hold(harness, pool, etag, wait=1.0)
    harness.services.changes.publish(WT_FOREIGN)  # another task's change wakes nobody here
    response = poll.result(timeout=10)
    assert response.status_code == 304
    assert response.headers["etag"] == etag
    # The one fingerprint and state read that started the poll, and nothing while it waited.
    assert harness.recording.fingerprints == 1
    assert [name for name, _ in harness.recording.calls] == ["state", "state"]


def test_an_unmoved_fingerprint_skips_the_full_read(
    harness: Harness, pool: ThreadPoolExecutor
) -> None:
    etag = etag_of(harness)
    harness.recording.fingerprint_moves = False
    harness.recording.watch_states = ["paused"]  # would be found, were the state re-read
    poll = hold(harness, pool, etag, wait=1.0)
    harness.services.changes.publish(WT_OWN)
    response = poll.result(timeout=10)
    assert response.status_code == 304
    assert "watch" not in [name for name, _ in harness.recording.calls]
    assert harness.recording.fingerprints == 2  # the first read's, then the announcement's


def test_losing_the_task_during_a_long_poll_is_403(
    harness: Harness, pool: ThreadPoolExecutor
) -> None:
    etag = etag_of(harness)
    poll = hold(harness, pool, etag)
    harness.recording.owners[WT_OWN] = "WK" + "f" * 32  # the reservation went elsewhere
    harness.services.changes.publish(WT_OWN)
    assert poll.result(timeout=10).status_code == 403


def test_polls_are_capped_per_token_not_per_address(
    harness: Harness, pool: ThreadPoolExecutor
) -> None:
    etag = etag_of(harness)
    held = [hold(harness, pool, etag, wait=5) for _ in range(MAX_POLLS_PER_TOKEN)]
    refused = harness.client.get(
        f"{BASE}/{WT_OWN}/recording?wait=5", headers={**ALICE, "If-None-Match": etag}
    )
    assert refused.status_code == 429
    assert refused.json()["error"] == "too_many_polls"
    assert int(refused.headers["Retry-After"]) >= 1
    # Another agent's token from the same address is not refused.
    supervisor = hold(harness, pool, etag, wait=0.2, Authorization="Bearer tok-sup")
    assert supervisor.result(timeout=10).status_code in (200, 304)
    harness.recording.watch_states = ["paused"] * MAX_POLLS_PER_TOKEN
    harness.services.changes.publish(WT_OWN)
    assert {poll.result(timeout=10).status_code for poll in held} <= {200, 304}


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


def test_polling_again_after_a_304_reads_nothing_until_the_task_is_announced(
    harness: Harness,
) -> None:
    etag = etag_of(harness)

    def poll() -> int:
        return harness.client.get(
            f"{BASE}/{WT_OWN}/recording?wait=0.05", headers={**ALICE, "If-None-Match": etag}
        ).status_code

    assert poll() == 304
    reads = (harness.recording.fingerprints, len(harness.recording.calls))
    assert [poll() for _ in range(5)] == [304] * 5
    assert (harness.recording.fingerprints, len(harness.recording.calls)) == reads
    harness.services.changes.publish(WT_OWN)  # the task changed (nothing visible, here)
    assert poll() == 304
    assert harness.recording.fingerprints == reads[0] + 1


def test_a_pause_here_is_never_answered_with_the_state_from_before_it(
    harness: Harness,
) -> None:
    etag = etag_of(harness)
    assert (
        harness.client.get(
            f"{BASE}/{WT_OWN}/recording?wait=0.05", headers={**ALICE, "If-None-Match": etag}
        ).status_code
        == 304
    )
    paused = harness.client.post(f"{BASE}/{WT_OWN}/recording/pause", headers=ALICE)
    # The next poll reads afresh: the remembered state is from before the pause.
    again = harness.client.get(
        f"{BASE}/{WT_OWN}/recording?wait=0.05",
        headers={**ALICE, "If-None-Match": paused.headers["etag"]},
    )
    assert again.status_code == 200
    assert again.json()["status"] == "recording"  # the stub's state reads never pause
