"""calls.create: a REST-made call rings, is answered or not as its callee decides, records
when asked, and reports the status callback events its creator asked for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import flexsim.scenarios  # noqa: F401 - the engine below runs no scenario, but its config lists them
from flexsim import defaults
from flexsim.api import create_sim_app
from flexsim.engine import Engine, EngineConfig
from flexsim.testing import AppTransport, sdk_client
from flexsim.webhooks import WebhookDispatcher
from flexsim.world import Callee, SimClock, World

STATUS_URL = "https://back-end.example/status"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


@pytest.fixture
def sim() -> Iterator[tuple[World, Engine, Any, WebhookDispatcher]]:
    world = World(SimClock(scale=0, start_epoch=1_800_000_000.0), seed=4)
    engine = Engine(world, EngineConfig(agents=0, rate_per_hour=0))
    world.scheduler = engine.call_later
    dispatcher = WebhookDispatcher(world, auth_token="t")  # not started: deliveries stay queued
    dispatcher.attach()
    client = sdk_client(create_sim_app(world))
    yield world, engine, client, dispatcher
    client.http_client.close()


def _callbacks(dispatcher: WebhookDispatcher, kind: str = "call-status") -> list[dict[str, str]]:
    return [d.form or {} for d in dispatcher.inbox if d.kind == kind]


def test_an_answered_call_reports_each_event_asked_for_then_the_callee_hangs_up(
    sim: tuple[World, Engine, Any, WebhookDispatcher],
) -> None:
    world, engine, client, dispatcher = sim
    world.callees["+15550001"] = Callee("answer", ring_s=3.0, talk_s=40.0)
    made = client.calls.create(
        to="+15550001",
        from_="+15550100",
        url="https://back-end.example/twiml",
        status_callback=STATUS_URL,
        status_callback_event=ALL_EVENTS,
        status_callback_method="GET",
    )
    assert client.calls(made.sid).fetch().status == "queued"
    engine.advance(0.5)
    assert client.calls(made.sid).fetch().status == "queued"  # initiated shows as queued
    engine.advance(3.5)
    assert client.calls(made.sid).fetch().status == "in-progress"
    engine.advance(40)
    fetched = client.calls(made.sid).fetch()
    assert (fetched.status, fetched.duration) == ("completed", "40")
    forms = _callbacks(dispatcher)
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", "in-progress", "completed"]
    assert [f["SequenceNumber"] for f in forms] == ["0", "1", "2", "3"]
    assert {d.url for d in dispatcher.inbox if d.kind == "call-status"} == {STATUS_URL}
    assert {d.method for d in dispatcher.inbox if d.kind == "call-status"} == {"GET"}


def test_only_completed_without_events_and_the_end_states_of_a_callee(
    sim: tuple[World, Engine, Any, WebhookDispatcher],
) -> None:
    world, engine, client, dispatcher = sim
    world.callees.update(
        {
            "+1555busy": Callee("busy"),
            "+1555away": Callee("answer", ring_s=50.0),  # rings past Timeout 20
            "+1555gone": Callee("failed"),
        }
    )
    sids = {
        number: client.calls.create(
            to=number, from_="+15550100", twiml="<Response/>", status_callback=STATUS_URL,
            timeout=20,
        ).sid
        for number in ("+1555busy", "+1555away", "+1555gone")
    }  # fmt: skip
    engine.advance(60)
    statuses = {n: world.calls[sid].status for n, sid in sids.items()}
    assert statuses == {"+1555busy": "busy", "+1555away": "no-answer", "+1555gone": "failed"}
    assert sorted(f["CallStatus"] for f in _callbacks(dispatcher)) == [
        "busy",
        "failed",
        "no-answer",
    ]


def test_record_true_records_from_the_answer_and_a_hang_up_ends_it_all(
    sim: tuple[World, Engine, Any, WebhookDispatcher],
) -> None:
    world, engine, client, dispatcher = sim
    world.callees["+15550002"] = Callee("answer", ring_s=2.0, talk_s=None)
    made = client.calls.create(
        to="+15550002",
        from_="+15550100",
        twiml="<Response/>",
        record=True,
        recording_channels="dual",
        recording_status_callback="https://back-end.example/recording",
        recording_status_callback_event=["in-progress", "completed"],
    )
    engine.advance(3)
    (recording,) = client.calls(made.sid).recordings.list()
    assert (recording.channels, recording.source, recording.status) == (
        2,
        "OutboundAPI",
        "in-progress",
    )
    engine.advance(600)  # a callee that never hangs up: the call goes on
    assert world.calls[made.sid].status == "in-progress"
    client.calls(made.sid).update(status="completed")
    engine.advance(10)
    assert world.calls[made.sid].status == "completed"
    assert [f["RecordingStatus"] for f in _callbacks(dispatcher, "recording-status")] == [
        "in-progress",
        "completed",
    ]


def test_unarranged_numbers_answer_after_a_few_seconds_the_same_way_for_a_seed() -> None:
    def ring_and_talk(salt: int) -> list[tuple[str, float | None]]:
        world = World(SimClock(scale=0, start_epoch=1_800_000_000.0), seed=4, sid_salt=salt)
        engine = Engine(world, EngineConfig(agents=0, rate_per_hour=0))
        world.scheduler = engine.call_later
        client = sdk_client(create_sim_app(world))
        made = [
            client.calls.create(to=f"+1555000{n}", from_="+15550100", twiml="<Response/>").sid
            for n in range(5)
        ]
        engine.advance(8)
        out = [(world.calls[sid].status, world.calls[sid].start_time) for sid in made]
        client.http_client.close()
        return out

    first = ring_and_talk(1)
    assert {status for status, _ in first} == {"in-progress"}
    assert first == ring_and_talk(2)  # other SIDs, the same day


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"From": "+15550100", "Twiml": "<Response/>"}, 21201),
        ({"To": "+15550001", "Twiml": "<Response/>"}, 21213),
        ({"To": "+15550001", "From": "+15550100"}, 21200),
        ({"To": "+1", "From": "+1", "Url": "ftp://x"}, None),
        ({"To": "+1", "From": "+1", "Twiml": "<Response/>", "StatusCallbackEvent": "hangup"}, None),
    ],
)
def test_bad_creates_are_refused_like_twilio(fields: dict[str, str], code: int | None) -> None:
    world = World(SimClock(scale=0))
    with httpx.Client(transport=AppTransport(create_sim_app(world))) as http:
        answer = http.post(
            f"https://api.twilio.com/2010-04-01/Accounts/{defaults.ACCOUNT_SID}/Calls.json",
            data=fields,
            auth=(defaults.ACCOUNT_SID, defaults.AUTH_TOKEN),
        )
    assert answer.status_code == 400
    if code is not None:
        assert answer.json()["code"] == code
    assert world.calls == {}
