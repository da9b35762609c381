"""Agent API: Flex token from header or body, IAM outcomes, service errors mapped, CORS."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from server_harness import WK_ALICE, WT_FOREIGN, WT_NONE, WT_OWN, Harness

from flexrec.recording.service import Actor

BASE = "/api/agent/tasks"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_own_task_state_with_bearer_token(harness: Harness) -> None:
    response = harness.client.get(f"{BASE}/{WT_OWN}/recording", headers=bearer("tok-alice"))
    assert response.status_code == 200
    assert response.json()["status"] == "recording"
    name, (task_sid, actor) = harness.recording.calls[-1]
    assert (name, task_sid) == ("state", WT_OWN)
    assert actor.worker_sid == WK_ALICE
    assert actor.identity == "alice"
    assert tuple(actor.roles) == ("agent",)
    assert isinstance(actor, Actor)


@pytest.mark.parametrize(("action", "status"), [("pause", "paused"), ("resume", "recording")])
def test_pause_and_resume_own_task(harness: Harness, action: str, status: str) -> None:
    response = harness.client.post(
        f"{BASE}/{WT_OWN}/recording/{action}", headers=bearer("tok-alice")
    )
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert harness.recording.calls[-1][0] == action


def test_token_as_form_field(harness: Harness) -> None:
    response = harness.client.post(f"{BASE}/{WT_OWN}/recording/pause", data={"Token": "tok-alice"})
    assert response.status_code == 200
    assert harness.tokens.seen == ["tok-alice"]


def test_token_as_json_field(harness: Harness) -> None:
    response = harness.client.post(f"{BASE}/{WT_OWN}/recording", json={"Token": "tok-alice"})
    assert response.status_code == 200


def test_expired_token_is_401_and_service_not_called(harness: Harness) -> None:
    response = harness.client.post(
        f"{BASE}/{WT_OWN}/recording/pause", headers=bearer("tok-expired")
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert harness.recording.calls == []


def test_a_token_refused_again_says_why_once(harness: Harness) -> None:
    # A retried refused token answered "the Flex token was rejected: the Flex token was
    # rejected" (the README recipe's newcomer saw it), Twilio's reason lost.
    for _ in range(2):
        response = harness.client.post(
            f"{BASE}/{WT_OWN}/recording/pause", headers=bearer("tok-expired")
        )
        assert response.status_code == 401
        message = response.json()["message"]
        assert message.count("rejected") == 1 and "has expired" in message
    assert harness.tokens.seen == ["tok-expired"]  # the second answer came from memory


def test_missing_token_is_401(harness: Harness) -> None:
    response = harness.client.post(f"{BASE}/{WT_OWN}/recording/pause")
    assert response.status_code == 401
    assert response.json()["error"] == "missing_token"
    assert harness.tokens.seen == []


def test_iam_down_is_503_not_401(harness: Harness) -> None:
    harness.tokens.down = True
    response = harness.client.post(f"{BASE}/{WT_OWN}/recording/pause", headers=bearer("tok-alice"))
    assert response.status_code == 503
    assert response.json()["error"] == "token_service_unavailable"
    assert harness.recording.calls == []


def test_foreign_task_is_403(harness: Harness) -> None:
    response = harness.client.post(
        f"{BASE}/{WT_FOREIGN}/recording/pause", headers=bearer("tok-alice")
    )
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


def test_supervisor_may_act_on_any_task(harness: Harness) -> None:
    for task in (WT_OWN, WT_FOREIGN):
        response = harness.client.post(f"{BASE}/{task}/recording/pause", headers=bearer("tok-sup"))
        assert response.status_code == 200


def test_unknown_task_is_404(harness: Harness) -> None:
    response = harness.client.get(f"{BASE}/{WT_NONE}/recording", headers=bearer("tok-sup"))
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_invalid_state_is_409(harness: Harness) -> None:
    from flexrec.recording.errors import InvalidState

    def refuse(task_sid: str, actor: object) -> object:
        raise InvalidState("recording already completed")

    harness.recording.pauses.pause = refuse  # type: ignore[method-assign]
    response = harness.client.post(f"{BASE}/{WT_OWN}/recording/pause", headers=bearer("tok-alice"))
    assert response.status_code == 409
    assert response.json() == {"error": "invalid_state", "message": "recording already completed"}


def test_bad_task_sid_is_400(harness: Harness) -> None:
    response = harness.client.get(f"{BASE}/WTnope/recording", headers=bearer("tok-alice"))
    assert response.status_code == 400
    assert harness.recording.calls == []


def test_cors_allows_flex_origin_only(harness: Harness) -> None:
    headers = {
        "Origin": "https://flex.twilio.com",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    ok = harness.client.options(f"{BASE}/{WT_OWN}/recording/pause", headers=headers)
    assert ok.status_code == 200
    assert ok.headers["access-control-allow-origin"] == "https://flex.twilio.com"
    assert "access-control-allow-credentials" not in ok.headers
    evil = harness.client.options(
        f"{BASE}/{WT_OWN}/recording/pause", headers={**headers, "Origin": "https://evil.example"}
    )
    assert evil.headers.get("access-control-allow-origin") not in ("*", "https://evil.example")


def test_cors_wildcard_setting_is_ignored(harness_factory: Callable[..., Harness]) -> None:
    h = harness_factory(cors_origins="*, https://crm.example.com")
    response = h.client.get(
        f"{BASE}/{WT_OWN}/recording",
        headers={**bearer("tok-alice"), "Origin": "https://other.example"},
    )
    assert response.headers.get("access-control-allow-origin") != "*"
    ok = h.client.get(
        f"{BASE}/{WT_OWN}/recording",
        headers={**bearer("tok-alice"), "Origin": "https://crm.example.com"},
    )
    assert ok.headers["access-control-allow-origin"] == "https://crm.example.com"


def test_oversized_body_is_413_without_token_check(harness: Harness) -> None:
    response = harness.client.post(
        f"{BASE}/{WT_OWN}/recording/pause", data={"Token": "tok-alice", "pad": "x" * 70_000}
    )
    assert response.status_code == 413
    assert harness.tokens.seen == []


def test_twilio_unavailable_is_503_with_retry_after(harness: Harness) -> None:
    from flexrec.recording.errors import Unavailable

    def give_up(task_sid: str, actor: object) -> object:
        raise Unavailable("Twilio did not answer; try again")

    harness.recording.pauses.pause = give_up  # type: ignore[method-assign]
    response = harness.client.post(f"{BASE}/{WT_OWN}/recording/pause", headers=bearer("tok-alice"))
    assert response.status_code == 503
    assert response.json() == {
        "error": "twilio_unavailable",
        "message": "Twilio did not answer; try again",
    }
    assert response.headers["retry-after"] == "5"
