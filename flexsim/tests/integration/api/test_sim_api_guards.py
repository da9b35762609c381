"""Cross-cutting guards of the simulator: auth, unknown SIDs, IAM tokens, faults, never a 500."""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import APIRouter
from sim_api_support import ACCOUNT_AUTH, KEY_AUTH, basic

from flexsim import defaults, serve_app
from flexsim.api import SERVED_ROUTES, create_sim_app
from flexsim.tokens import issue_token

if TYPE_CHECKING:
    from sim_api_support import Scenario

AC = defaults.ACCOUNT_SID
OTHER_AC = "AC" + "9" * 32


def test_missing_or_wrong_credentials_are_401_with_twilio_body(served: str) -> None:
    url = f"{served}/2010-04-01/Accounts/{AC}/Calls.json"
    for headers in ({}, basic(AC, "wrong"), basic("SK" + "0" * 32, defaults.API_KEY_SECRET)):
        response = httpx.get(url, headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "code": 20003,
            "message": "Authenticate",
            "more_info": "https://www.twilio.com/docs/errors/20003",
            "status": 401,
        }
    assert httpx.get(url, headers=KEY_AUTH).status_code == 200
    assert httpx.get(url, headers=ACCOUNT_AUTH).status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        f"/2010-04-01/Accounts/{OTHER_AC}/Calls.json",
        f"/2010-04-01/Accounts/{AC}/Calls/CA{'0' * 32}.json",
        f"/2010-04-01/Accounts/{AC}/Calls/not-a-sid.json",
        f"/2010-04-01/Accounts/{AC}/Calls/CA{'0' * 32}/Recordings.json",
        f"/2010-04-01/Accounts/{AC}/Recordings/RE{'0' * 32}.json",
        f"/2010-04-01/Accounts/{AC}/Conferences/CF{'0' * 32}.json",
        f"/v1/Workspaces/WS{'0' * 32}/Tasks",
        f"/v1/Workspaces/{defaults.WORKSPACE_SID}/Tasks/WT{'0' * 32}",
        f"/v1/Workspaces/{defaults.WORKSPACE_SID}/Workers/WK{'0' * 32}",
        f"/v1/Sinks/DG{'0' * 32}",
        "/no/such/route",
    ],
)
def test_unknown_resources_are_404_with_twilio_body(api: httpx.Client, path: str) -> None:
    response = api.get(path)
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == 20404
    assert body["message"] == f"The requested resource {path} was not found"


def test_unsupported_method_is_405_with_twilio_body(api: httpx.Client) -> None:
    response = api.delete(f"/2010-04-01/Accounts/{AC}/Calls.json")
    assert response.status_code == 405
    assert response.json()["code"] == 20004


def test_token_validation_valid_expired_forged(api: httpx.Client, scenario: Scenario) -> None:
    world = scenario.world
    url = f"/v1/Accounts/{AC}/Tokens/validate"
    token = issue_token(world, scenario.worker_sid, ttl_s=60, roles=["agent", "supervisor"])

    valid = api.post(url, json={"token": token}).json()
    assert valid["valid"] is True
    assert valid["code"] == 0
    assert (valid["worker_sid"], valid["identity"]) == (scenario.worker_sid, "alice")
    assert valid["roles"] == ["agent", "supervisor"]
    assert valid["expiration"] == "2026-11-18T11:07:45Z"  # START_EPOCH + 5 s + 60 s

    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert api.post(url, json={"token": forged}).json()["valid"] is False
    assert api.post(url, json={"token": "eyJhbGciOi.x.y"}).json()["code"] == 20101
    assert api.post(url, json={}).json()["valid"] is False

    world.clock.advance(61)
    expired = api.post(url, json={"token": token}).json()
    assert (expired["valid"], expired["code"]) == (False, 20104)


def test_token_validation_for_another_account_or_without_auth_is_refused(
    api: httpx.Client, scenario: Scenario
) -> None:
    token = issue_token(scenario.world, scenario.worker_sid, ttl_s=60, roles=["agent"])
    other = api.post(f"/v1/Accounts/{OTHER_AC}/Tokens/validate", json={"token": token})
    assert (other.status_code, other.json()["code"]) == (404, 20404)
    anonymous = httpx.post(
        f"{api.base_url}/v1/Accounts/{AC}/Tokens/validate",
        json={"token": token},
    )
    assert anonymous.status_code == 401
    not_json = api.post(
        f"/v1/Accounts/{AC}/Tokens/validate",
        content=b"token=abc",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 400


def test_a_token_from_another_world_does_not_validate(
    api: httpx.Client, scenario: Scenario
) -> None:
    from sim_api_support import build_scenario

    elsewhere = build_scenario()
    token = issue_token(elsewhere.world, elsewhere.worker_sid, ttl_s=60, roles=["agent"])
    body = api.post(f"/v1/Accounts/{AC}/Tokens/validate", json={"token": token}).json()
    assert (body["valid"], body["code"]) == (False, 20101)


@dataclass
class StubFault:
    """What a fault plan answers (no `code`: a plan from before faults carried Twilio's code)."""

    status: int | None
    delay_s: float = 0.0


class StubFaults:
    """Fails the n-th Twilio request with a status and records what was asked."""

    def __init__(self, plan: dict[int, StubFault]) -> None:
        self.plan = plan
        self.asked: list[tuple[str, str]] = []

    def api_fault(self, method: str, path: str) -> StubFault | None:
        self.asked.append((method, path))
        return self.plan.get(len(self.asked))


def test_faults_answer_twilio_errors_and_spare_the_sim_control_routes(
    scenario: Scenario,
) -> None:
    faults = StubFaults(
        {1: StubFault(429), 2: StubFault(503, delay_s=0.01), 3: StubFault(None, 0.01)}
    )
    control = APIRouter()

    @control.get("/_sim/ping")
    def ping() -> dict[str, bool]:
        return {"ok": True}

    app = create_sim_app(scenario.world, faults=faults, extra_routers=[control])
    calls = f"/2010-04-01/Accounts/{AC}/Calls.json"
    with serve_app(app) as base, httpx.Client(base_url=base, headers=ACCOUNT_AUTH) as client:
        limited = client.get(calls)
        unavailable = client.get(calls)
        delayed = client.get(calls)
        normal = client.get(calls)
        pinged = client.get("/_sim/ping")
    assert (limited.status_code, limited.json()["code"]) == (429, 20429)
    assert (unavailable.status_code, unavailable.json()["code"]) == (503, 20503)
    assert delayed.status_code == normal.status_code == 200
    assert pinged.json() == {"ok": True}
    assert faults.asked == [("GET", calls)] * 4


def test_a_simulator_bug_is_a_twilio_shaped_500(
    api: httpx.Client, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flexsim.api.voice_calls as voice_calls

    def broken(*args: object) -> dict[str, object]:
        raise RuntimeError("bug")

    monkeypatch.setattr(voice_calls, "call_view", broken)
    response = api.get(f"/2010-04-01/Accounts/{AC}/Calls/{scenario.customer_sid}.json")
    assert (response.status_code, response.json()["code"]) == (500, 20500)


# -- fuzzing: malformed input of every kind must never be answered with a 500 -----------------
PARAM_NAMES = [
    *("Status", "PauseBehavior", "RecordingChannels", "RecordingTrack", "Trim"),
    *("RecordingStatusCallback", "RecordingStatusCallbackEvent", "RecordingStatusCallbackMethod"),
    *("Url", "Twiml", "Method", "Hold", "Muted", "EndConferenceOnExit", "HoldUrl"),
    *("Attributes", "AssignmentStatus", "Reason", "Priority", "EventCallbackUrl", "EventsFilter"),
    *("FriendlyName", "MultiTaskEnabled", "PrioritizeQueueOrder", "Description", "SinkType"),
    *("SinkConfiguration", "SinkSid", "Types", "PageSize", "Page", "PageToken", "To", "From"),
    *("ParentCallSid", "CallSid", "DateCreated", "DateCreated<", "DateCreated>", "StartTime>"),
    *("AssignmentStatus", "EvaluateTaskAttributes", "Ordering", "InUse", "IncludeSoftDeleted"),
    *("RequestedChannels", "ReservationStatus", "WorkerSid", "Available", "Coaching", "UiVersion"),
]
NASTY = [
    "",
    " ",
    "0",
    "-1",
    "99999999999999999999",
    "1e309",
    "true",
    "null",
    "{}",
    "[]",
    '{"a":',
    "%",
    "%zz",
    "\u0000",
    "é\u202e",
    "x" * 5000,
    "Twilio.CURRENT",
    "CA" + "f" * 32,
    "DG" + "1" * 32,
    "http://",
    "https://example.com/x",
    "paused",
    "stopped",
    "in-progress",
    "dual",
    "skip",
    "completed",
    "canceled",
    "wrapping",
    "a == 'b'",
    "a == ",
    "9999-99-99",
    "2026-11-18",
    '{"type": 1}',
    '{"destination": 5}',
    "*",
]

IF_MATCH = ["0", "1", "-1", "*", '"2"', 'W/"1"', "abc", "99999999999999999999"]


def _fill(template: str, scenario: Scenario, rng: random.Random) -> str:
    real = {
        "AccountSid": AC,
        "Sid": rng.choice(
            [scenario.customer_sid, scenario.task_sid, defaults.WORKSPACE_SID, "Twilio.CURRENT"]
        ),
        "CallSid": rng.choice([scenario.customer_sid, scenario.ended_sid, "customer"]),
        "ConferenceSid": scenario.conference_sid,
        "WorkspaceSid": defaults.WORKSPACE_SID,
        "TaskSid": scenario.task_sid,
        "WorkerSid": scenario.worker_sid,
    }

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if rng.random() < 0.3:
            return rng.choice(["x", "CA" + "z" * 32, "%20", "..", "a.b", "é"])
        return real.get(name, "x")

    return re.sub(r"\{(\w+)\}", value, template)


def test_fuzzed_requests_never_get_a_500(
    api: httpx.Client, scenario: Scenario, fake_media: list[tuple[str, str, int | None]]
) -> None:
    rng = random.Random(20261124)
    statuses: set[int] = set()
    for method, template in SERVED_ROUTES:
        for _ in range(40):
            path = _fill(template, scenario, rng)
            params = [
                (rng.choice(PARAM_NAMES), rng.choice(NASTY)) for _ in range(rng.randint(0, 6))
            ]
            headers = {"If-Match": rng.choice(IF_MATCH)} if rng.random() < 0.2 else {}
            if method == "POST":
                kind = rng.random()
                if kind < 0.7:
                    response = api.post(path, data=dict(params), headers=headers)
                elif kind < 0.85:
                    response = api.post(
                        path, content=bytes(rng.getrandbits(8) for _ in range(64)), headers=headers
                    )
                else:
                    response = api.post(
                        path,
                        content=json.dumps(dict(params)).encode(),
                        headers={"Content-Type": "application/json"},
                    )
            else:
                response = api.request(method, path, params=params, headers=headers)
            statuses.add(response.status_code)
            assert response.status_code < 500, (method, path, params, response.text)
            if response.headers.get("content-type") == "application/json":
                body = response.json()
                if response.status_code >= 400:
                    assert set(body) == {"code", "message", "more_info", "status"}
    # The fuzzing reached both successes and refusals.
    assert any(s < 300 for s in statuses) and any(400 <= s < 500 for s in statuses)
