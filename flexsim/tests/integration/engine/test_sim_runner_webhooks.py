"""SimRunner against a local webhook receiver that checks every signature with the SDK."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

import flexsim
from flexsim import defaults, serve_app
from flexsim.engine import scenario_names
from flexsim.runner import SimConfig, SimRunner


@dataclass
class Received:
    """What the receiver saw."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Receiver:
    """A Starlette app on 127.0.0.1 (own thread) standing in for the flexrec service."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token)
        self.received = Received()
        self.app = Starlette(
            routes=[Route("/webhooks/{kind}", self.handle, methods=["POST", "GET"])]
        )
        self.serving = contextlib.ExitStack()
        self.url = ""

    async def handle(self, request: Request) -> Response:
        body = await request.body()
        url = str(request.url)
        signature = request.headers.get("x-twilio-signature", "")
        if request.headers.get("content-type", "").startswith("application/json"):
            params: Any = body.decode()
            valid = self.validator.validate(url, params, signature)
            payload: Any = json.loads(body)
        else:
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            valid = self.validator.validate(url, params, signature)
            payload = params
        with self.received.lock:
            self.received.requests.append(
                {
                    "kind": request.path_params["kind"],
                    "valid": valid,
                    "payload": payload,
                    "user_agent": request.headers.get("user-agent"),
                    "token": request.headers.get("i-twilio-idempotency-token"),
                }
            )
        return Response(status_code=204)

    def __enter__(self) -> Receiver:
        self.url = self.serving.enter_context(serve_app(self.app))
        return self

    def __exit__(self, *exc: object) -> None:
        self.serving.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(defaults.AUTH_TOKEN) as rx:
        yield rx


def _config(service_url: str, **overrides: Any) -> SimConfig:
    values: dict[str, Any] = {
        "port": 0,
        "agents": 12,
        "rate_per_hour": 0,
        "start_traffic": False,
        "scale": 400.0,
        "seed": 11,
        "service_url": service_url,
        "talk_time_median_s": 60.0,
        "wrap_time_mean_s": 5.0,
    }
    values.update(overrides)
    return SimConfig(**values)


def _run_every_scenario(sim: SimRunner) -> None:
    for scenario in scenario_names():
        sim.start_interaction(scenario)
    deadline = time.monotonic() + 60
    while sim.engine.generated < len(scenario_names()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.wait_idle_blocking(timeout_s=90), sim.engine.snapshot()


def test_every_scenario_sends_correctly_signed_webhooks_of_each_kind(receiver: Receiver) -> None:
    with SimRunner(_config(receiver.url)) as sim:
        _run_every_scenario(sim)
        truth = httpx.get(f"{sim.base_url}/_sim/truth").json()
        stats = httpx.get(f"{sim.base_url}/_sim/stats").json()
    requests = receiver.received.requests
    assert requests
    assert all(r["valid"] for r in requests), [r for r in requests if not r["valid"]][:3]
    assert {r["user_agent"] for r in requests} == {"TwilioProxy/1.1"}
    kinds = {r["kind"] for r in requests}
    assert {"taskrouter", "conference", "call-status", "recording-status"} <= kinds
    assert stats["webhooks"]["failed"] == 0
    assert stats["webhooks"]["sent"] == len(requests)
    scenarios = {i["scenario"] for i in truth["interactions"]}
    assert scenarios == set(scenario_names())
    assert truth["count"] == len(scenario_names())

    # every task SID the truth knows was announced by task.created, and Flex's conference write
    # reached the service through task.updated
    task_events = [r["payload"] for r in requests if r["kind"] == "taskrouter"]
    created = {p["TaskSid"] for p in task_events if p["EventType"] == "task.created"}
    for interaction in truth["interactions"]:
        for task in interaction["tasks"]:
            assert task["task_sid"] in created
    updated = [p for p in task_events if p["EventType"] == "task.updated"]
    assert any("conference" in json.loads(p["TaskAttributes"]) for p in updated), (
        "Flex's conference write was not announced"
    )

    # conference callbacks carry increasing sequence numbers per conference
    by_conf: dict[str, list[int]] = {}
    for r in requests:
        if r["kind"] == "conference":
            by_conf.setdefault(r["payload"]["ConferenceSid"], []).append(
                int(r["payload"]["SequenceNumber"])
            )
    for sequence in by_conf.values():
        assert sequence == sorted(sequence)

    # the Studio recording completed and reported its callback
    recordings = [r["payload"] for r in requests if r["kind"] == "recording-status"]
    assert any(
        p["RecordingStatus"] == "completed" and p["RecordingChannels"] == "2" for p in recordings
    )


def test_event_streams_sink_gets_signed_cloudevent_batches(receiver: Receiver) -> None:
    with SimRunner(_config(receiver.url, event_streams=True)) as sim:
        sim.start_interaction("basic")
        deadline = time.monotonic() + 30
        while sim.engine.generated < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.wait_idle_blocking(timeout_s=60)
    streams = [r for r in receiver.received.requests if r["kind"] == "event-streams"]
    assert streams and all(r["valid"] for r in streams)
    assert not [r for r in receiver.received.requests if r["kind"] == "taskrouter"]
    events = [e for r in streams for e in r["payload"]]
    types = [e["type"] for e in events]
    assert "com.twilio.taskrouter.task.created" in types
    assert "com.twilio.taskrouter.reservation.accepted" in types
    first = events[0]
    assert first["specversion"] == "1.0"
    assert first["data"]["payload"]["task_sid"].startswith("WT")


@pytest.mark.parametrize("event_streams", [False, True])
def test_a_configured_events_filter_sends_only_its_types(
    receiver: Receiver, event_streams: bool
) -> None:
    # An account whose integration ran its setup: the workspace's EventsFilter (or the sink's
    # subscription) names the types it wants, and no other TaskRouter type is posted.
    wanted = "task.created,reservation.accepted,task.completed"
    config = _config(receiver.url, event_streams=event_streams, events_filter=wanted)
    with SimRunner(config) as sim:
        assert sim.world.events_filter == wanted
        sim.start_interaction("basic")
        deadline = time.monotonic() + 30
        while sim.engine.generated < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.wait_idle_blocking(timeout_s=60)
    requests = receiver.received.requests
    if event_streams:
        types = {
            e["type"].removeprefix("com.twilio.taskrouter.")
            for r in requests
            if r["kind"] == "event-streams"
            for e in r["payload"]
        }
    else:
        types = {r["payload"]["EventType"] for r in requests if r["kind"] == "taskrouter"}
    assert types == set(wanted.split(","))


def test_duplicate_faults_repeat_the_idempotency_token(receiver: Receiver) -> None:
    with SimRunner(_config(receiver.url, faults="dup=1.0,seed=3")) as sim:
        sim.start_interaction("basic")
        deadline = time.monotonic() + 30
        while sim.engine.generated < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.wait_idle_blocking(timeout_s=60)
    tokens = [r["token"] for r in receiver.received.requests]
    assert len(tokens) == 2 * len(set(tokens))


def test_async_context_manager_serves_control_routes(receiver: Receiver) -> None:
    async def scenario() -> dict[str, Any]:
        async with SimRunner(_config(receiver.url)) as sim:
            async with httpx.AsyncClient(base_url=sim.base_url) as client:
                agents = (await client.get("/_sim/agents")).json()
                sid = agents["agents"][0]["sid"]
                token = (await client.post(f"/_sim/agents/{sid}/token", json={})).json()
                missing = await client.post("/_sim/agents/WK" + "0" * 32 + "/token", json={})
                bad_faults = await client.post("/_sim/faults", json={"spec": "nope=1"})
                faults = await client.post("/_sim/faults", json={"spec": "api=0.5,seed=2"})
                # the route starts the interaction before it answers: no wait needed before
                # waiting for it to finish
                await client.post("/_sim/interactions", json={"scenario": "hold"})
                done = await sim.wait_idle(timeout_s=60)
                return {
                    "finished": sim.stats().finished,
                    "agents": agents,
                    "token": token,
                    "missing": missing.status_code,
                    "bad_faults": bad_faults.status_code,
                    "faults": faults.json(),
                    "done": done,
                }

    out = asyncio.run(scenario())
    assert out["agents"]["count"] == 12
    assert out["token"]["token"]
    assert out["missing"] == 404
    assert out["bad_faults"] == 400
    assert out["faults"]["api_error_rate"] == 0.5
    assert out["done"] and out["finished"] == 1


def test_traffic_started_later_generates_the_configured_calls(receiver: Receiver) -> None:
    config = _config(receiver.url, rate_per_hour=3600.0, calls=6)
    seen: list[str] = []
    with SimRunner(config) as sim:
        sim.on_conversation(lambda conversation: seen.append(conversation.task_sid))
        # Let 10 simulated minutes pass: at 3,600 calls an hour traffic would have made ~600.
        started_at = sim.world.clock.now()
        while sim.world.clock.now() - started_at < 600:
            time.sleep(0.01)
        assert sim.stats().generated == 0  # nothing before start_traffic()
        sim.start_traffic()
        assert sim.wait_idle_blocking(timeout_s=90)
        truth = sim.truth()
    assert sim.engine.generated == 6
    assert len(truth) <= 6
    eligible = [t for t in truth if t["eligible"]]
    assert len(seen) >= len(eligible)
    assert all(r["valid"] for r in receiver.received.requests)


def test_the_public_api_reports_conversations_recordings_and_deliveries(
    receiver: Receiver,
) -> None:
    # Only Studio's dual recording on the call: Flex's own conference recording pinned off.
    config = _config(
        receiver.url,
        scenario_weights={"studio_recorded": 1.0},
        studio_recording="dual",
        native_recording="off",
    )
    conversations: list[flexsim.Conversation] = []
    with flexsim.SimRunner(config) as sim:
        sim.on_conversation(conversations.append)
        sim.start_interaction("studio_recorded")
        assert sim.wait_idle_blocking(timeout_s=60)
        stats = sim.stats()
        recordings = sim.recordings()
        log = sim.webhook_log()
        (truth,) = sim.truth()
        token = sim.agent_token(conversations[0].worker_sid)
        validated = httpx.post(
            f"{sim.base_url}/v1/Accounts/{config.account_sid}/Tokens/validate",
            json={"token": token},
            auth=(config.account_sid, config.auth_token),
            timeout=10,
        ).json()
    (conversation,) = conversations
    assert conversation.scenario == "studio_recorded"
    assert conversation.interaction_id == truth["interaction_id"]
    assert conversation.task_sid in {t["task_sid"] for t in truth["tasks"]}
    assert conversation.worker_sid in sim.agent_sids()
    assert (stats.generated, stats.active, stats.finished) == (1, 0, 1)
    assert stats.webhooks_sent == len(receiver.received.requests) == len(log)
    assert stats.webhooks_failed == stats.webhooks_pending == 0
    (studio,) = recordings  # Studio's recording on the customer leg
    assert (studio.party, studio.status) == ("customer", "completed")
    assert sim.recording(studio.sid) == studio
    assert sim.recording("RE" + "0" * 32) is None
    speech = sim.speech_truth(studio.sid)
    assert speech is not None and speech["channel1"] and speech["channel2"]
    assert {entry["outcome"] for entry in log} == {"sent"}
    assert validated["valid"] is True


def test_interference_reaches_a_client_as_twilio_would_report_it(receiver: Receiver) -> None:
    # A client records the customer leg and links it on the task, over REST like any client;
    # the plan ends that recording early (silent) and has another integration clobber the link.
    config = _config(
        receiver.url,
        scale=20.0,
        faults="absent=1,clobber=1",
        rest_latency="0",
        native_recording="off",
    )
    conversations: list[flexsim.Conversation] = []
    with SimRunner(config) as sim:
        sim.on_conversation(conversations.append)
        sim.start_interaction("basic", "inbound")
        deadline = time.monotonic() + 30
        while not conversations and time.monotonic() < deadline:
            time.sleep(0.005)
        (conversation,) = conversations
        auth = (config.account_sid, config.auth_token)
        account = f"{sim.base_url}/2010-04-01/Accounts/{config.account_sid}"
        task_url = f"{sim.base_url}/v1/Workspaces/{sim.workspace_sid}/Tasks/{conversation.task_sid}"
        with httpx.Client(auth=auth, timeout=10) as client:
            created = client.post(
                f"{account}/Calls/{conversation.interaction_id}/Recordings.json",
                data={
                    "RecordingChannels": "dual",
                    "RecordingStatusCallback": f"{receiver.url}/webhooks/recording-status",
                    "RecordingStatusCallbackEvent": "in-progress completed absent",
                },
            ).json()
            task = client.get(task_url)
            attributes = json.loads(task.json()["attributes"])
            entry = {
                "type": "VoiceRecording",
                "url": f"https://api.twilio.com/2010-04-01/Accounts/{config.account_sid}"
                f"/Recordings/{created['sid']}",
                "start_time": 1,
                "channels": ["customer", "others"],
            }
            attributes["conversations"] = {"media": [entry]}
            linked = client.post(
                task_url,
                data={"Attributes": json.dumps(attributes)},
                headers={"If-Match": task.headers["ETag"]},
            )
            assert linked.status_code == 200
        assert sim.wait_idle_blocking(timeout_s=90)
        truth = httpx.get(f"{sim.base_url}/_sim/truth/{conversation.task_sid}").json()
    statuses = [
        (r["payload"]["RecordingStatus"], r["payload"]["ErrorCode"])
        for r in receiver.received.requests
        if r["kind"] == "recording-status"
    ]
    assert statuses == [("in-progress", "0"), ("absent", "16102")]
    kinds = {f["kind"]: f for f in truth["faults"]}
    assert set(kinds) == {"recording_absent", "blind_write"}
    assert kinds["recording_absent"]["at_ms"] < truth["ended_at_ms"]  # the call went on
    assert kinds["blind_write"]["dropped"] == [entry]
    # the service heard of the blind write the way it hears of every write: task.updated
    updates = [
        json.loads(r["payload"]["TaskAttributes"])
        for r in receiver.received.requests
        if r["kind"] == "taskrouter" and r["payload"]["EventType"] == "task.updated"
    ]
    assert updates[-2]["conversations"]["media"] == [entry]  # the link, as written
    assert updates[-1]["crm"]["integration"] == "another-integration"
    assert "media" not in updates[-1].get("conversations", {})
    assert all(r["valid"] for r in receiver.received.requests)


def test_every_callback_goes_to_the_url_the_account_was_configured_with(
    receiver: Receiver,
) -> None:
    base = f"{receiver.url}/webhooks"
    config = _config(
        "",
        event_callback_url=f"{base}/workspace-events",
        call_status_callback_url=f"{base}/number-status",
        conference_callback_url=f"{base}/conference-status",
        studio_recording_callback_url=f"{base}/studio-recording",
        conference_callbacks="on",
        studio_recording="dual",
    )
    with SimRunner(config) as sim:
        sim.start_interaction("studio_recorded")
        deadline = time.monotonic() + 30
        while sim.engine.generated < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.wait_idle_blocking(timeout_s=60)
    kinds = {r["kind"] for r in receiver.received.requests}
    assert kinds == {"workspace-events", "number-status", "conference-status", "studio-recording"}
    assert all(r["valid"] for r in receiver.received.requests)


def test_without_callback_urls_nothing_is_sent() -> None:
    with SimRunner(_config("")) as sim:
        sim.start_interaction("basic")
        deadline = time.monotonic() + 30
        while sim.engine.generated < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert sim.wait_idle_blocking(timeout_s=60)
        assert sim.stats().webhooks_sent == 0
        assert sim.world.event_callback_url is None
