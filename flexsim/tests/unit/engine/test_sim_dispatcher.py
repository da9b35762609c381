"""Webhook payloads and delivery: retries, final 4xx, duplicates, reordering, drops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import httpx

from flexsim.faults import FaultPlan
from flexsim.webhooks import WebhookDispatcher

Sim = Any

SERVICE = "http://service.test"


def _configure(sim: Sim) -> None:
    sim.world.event_callback_url = f"{SERVICE}/webhooks/taskrouter"
    cfg = sim.engine.config
    cfg.conference_callback_url = f"{SERVICE}/webhooks/conference"
    cfg.call_status_callback_url = f"{SERVICE}/webhooks/call-status"
    cfg.studio_recording_callback_url = f"{SERVICE}/webhooks/recording-status"


def _deliver(
    sim: Sim,
    handler: Callable[[httpx.Request], httpx.Response],
    faults: FaultPlan | None = None,
    scenario: str = "studio_recorded",
) -> tuple[WebhookDispatcher, list[httpx.Request]]:
    _configure(sim)
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    dispatcher = WebhookDispatcher(
        sim.world, auth_token="tok", faults=faults, retry_backoff_s=0.001, max_retries=2
    )
    dispatcher.attach()
    sim.run(scenario)

    async def send() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(record))
        await dispatcher.start(client=client)
        await dispatcher.stop(drain_timeout_s=10)

    asyncio.run(send())
    return dispatcher, seen


def _form(request: httpx.Request) -> dict[str, str]:
    return dict(parse_qsl(request.content.decode(), keep_blank_values=True))


def test_every_kind_of_callback_carries_twilio_fields(sim: Sim) -> None:
    dispatcher, seen = _deliver(sim, lambda r: httpx.Response(204))
    by_path: dict[str, list[dict[str, str]]] = {}
    for request in seen:
        by_path.setdefault(request.url.path, []).append(_form(request))
    every = by_path["/webhooks/taskrouter"]
    # Worker events (here channel availability on accept and completion) carry the worker's.
    workers = [f for f in every if f["EventType"].startswith("worker.")]
    assert {f["EventType"] for f in workers} == {"worker.channel.availability.update"}
    assert all(f["ResourceType"] == "Worker" and f["WorkerSid"] for f in workers)
    taskrouter = [f for f in every if not f["EventType"].startswith("worker.")]
    for form in taskrouter:
        for key in (
            "EventType",
            "AccountSid",
            "WorkspaceSid",
            "WorkspaceName",
            "EventDescription",
            "ResourceType",
            "ResourceSid",
            "Timestamp",
            "Sid",
            "TaskSid",
            "TaskAttributes",
            "TaskAge",
            "TaskAssignmentStatus",
            "TaskQueueSid",
            "TaskQueueName",
            "WorkflowSid",
            "WorkflowName",
            "TaskChannelUniqueName",
        ):
            assert key in form, (key, form["EventType"])
        assert form["Timestamp"].isdigit()
        json.loads(form["TaskAttributes"])
    accepted = next(f for f in taskrouter if f["EventType"] == "reservation.accepted")
    assert accepted["ResourceType"] == "Reservation"
    assert accepted["ResourceSid"] == accepted["ReservationSid"]
    assert accepted["WorkerSid"].startswith("WK") and accepted["WorkerName"]
    json.loads(accepted["WorkerAttributes"])
    conference = by_path["/webhooks/conference"]
    join = next(f for f in conference if f["StatusCallbackEvent"] == "participant-join")
    assert join["ParticipantLabel"] in ("customer", "worker")
    assert join["Hold"] == "false" and join["Timestamp"].endswith("+0000")
    leave = next(f for f in conference if f["StatusCallbackEvent"] == "participant-leave")
    assert leave["ReasonParticipantLeft"] == "participant_hung_up"
    assert leave["ParticipantCallStatus"] == "completed"
    end = next(f for f in conference if f["StatusCallbackEvent"] == "conference-end")
    assert end["ReasonConferenceEnded"] == "last-participant-left"
    assert [int(f["SequenceNumber"]) for f in conference] == sorted(
        int(f["SequenceNumber"]) for f in conference
    )
    calls = by_path["/webhooks/call-status"]
    completed = [f for f in calls if f["CallStatus"] == "completed"]
    assert completed and all("CallDuration" in f for f in completed)
    (recording,) = by_path["/webhooks/recording-status"]
    assert recording["RecordingStatus"] == "completed"
    assert recording["ErrorCode"] == "0"
    assert recording["RecordingChannels"] == "2"
    assert recording["RecordingUrl"].startswith("https://api.twilio.com/2010-04-01/Accounts/AC")
    assert recording["RecordingStartTime"].endswith("+0000")
    assert int(recording["RecordingDuration"]) > 0
    assert dispatcher.stats.sent == len(seen)


def test_server_errors_are_retried_and_client_errors_are_final(sim: Sim) -> None:
    attempts: dict[str, int] = {}

    def flaky(request: httpx.Request) -> httpx.Response:
        token = request.headers["I-Twilio-Idempotency-Token"]
        attempts[token] = attempts.get(token, 0) + 1
        if request.url.path.endswith("/conference"):
            return httpx.Response(400)
        if attempts[token] == 1:
            return httpx.Response(503)
        return httpx.Response(204)

    dispatcher, seen = _deliver(sim, flaky, scenario="basic")
    conference_tokens = {
        r.headers["I-Twilio-Idempotency-Token"] for r in seen if r.url.path.endswith("/conference")
    }
    assert conference_tokens and all(attempts[t] == 1 for t in conference_tokens)
    other = set(attempts) - conference_tokens
    assert other and all(attempts[t] == 2 for t in other)
    assert dispatcher.stats.failed == len(conference_tokens)
    assert dispatcher.stats.sent == len(other)
    failed = [e for e in dispatcher.log if e["outcome"] == "failed"]
    assert failed and all(e["status"] == 400 for e in failed)


def test_timeouts_are_retried_then_given_up(sim: Sim) -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    dispatcher, seen = _deliver(sim, down, scenario="abandon")
    tokens = {r.headers["I-Twilio-Idempotency-Token"] for r in seen}
    assert len(seen) == 3 * len(tokens)  # first try and two retries each
    assert dispatcher.stats.sent == 0
    assert dispatcher.stats.failed == len(tokens)


def test_duplicates_and_drops_follow_the_fault_plan(sim_factory: Callable[..., Sim]) -> None:
    _, plain = _deliver(sim_factory(seed=2), lambda r: httpx.Response(204), scenario="basic")
    dispatcher, dup = _deliver(
        sim_factory(seed=2),
        lambda r: httpx.Response(204),
        faults=FaultPlan.parse("dup=1.0"),
        scenario="basic",
    )
    assert len(dup) == 2 * len(plain)
    assert dispatcher.stats.duplicated == len(plain)
    dispatcher, dropped = _deliver(
        sim_factory(seed=2),
        lambda r: httpx.Response(204),
        faults=FaultPlan.parse("drop=1.0"),
        scenario="basic",
    )
    assert dropped == []
    assert dispatcher.stats.dropped == len(plain)


def test_reorder_swaps_a_delivery_with_the_next_one(sim_factory: Callable[..., Sim]) -> None:
    def order(faults: FaultPlan | None) -> list[str]:
        sim = sim_factory(seed=2)
        _, seen = _deliver(sim, lambda r: httpx.Response(204), faults=faults, scenario="basic")
        return [_form(r)["EventType"] for r in seen if r.url.path.endswith("/taskrouter")]

    plain = order(None)
    shuffled = order(FaultPlan.parse("reorder=0.5,seed=1"))
    assert sorted(plain) == sorted(shuffled)
    assert plain != shuffled


def test_events_filter_limits_workspace_callbacks(sim: Sim) -> None:
    sim.world.events_filter = "task.created,task.completed"
    _, seen = _deliver(sim, lambda r: httpx.Response(204), scenario="basic")
    types = {_form(r)["EventType"] for r in seen if r.url.path.endswith("/taskrouter")}
    assert types == {"task.created", "task.completed"}


def test_call_status_callbacks_report_only_the_end_by_default(sim: Sim) -> None:
    _, seen = _deliver(sim, lambda r: httpx.Response(204), scenario="basic")
    forms = [_form(r) for r in seen if r.url.path.endswith("/call-status")]
    assert {f["CallStatus"] for f in forms} == {"completed"}
    assert len(forms) == 2  # the customer leg and the agent's leg
    assert {f["SequenceNumber"] for f in forms} == {"0"}


def test_the_log_names_a_recordings_callback_and_when_its_first_try_went(sim: Sim) -> None:
    # A receiver's answer to a callback is timed from its first try, retries included: the
    # log keeps that moment on the simulated clock, and the recording a status is about.
    tried: set[str] = set()

    def first_try_fails(request: httpx.Request) -> httpx.Response:
        token = request.headers["I-Twilio-Idempotency-Token"]
        first = token not in tried
        tried.add(token)
        return httpx.Response(503 if first else 204)

    started_ms = round(sim.world.clock.now() * 1000)
    dispatcher, seen = _deliver(sim, first_try_fails)
    request = next(r for r in seen if r.url.path.endswith("/recording-status"))
    (entry,) = [e for e in dispatcher.log if e["kind"] == "recording-status"]
    assert entry["subject_sid"] == _form(request)["RecordingSid"]
    assert entry["attempts"] == 2
    assert started_ms <= entry["first_try_ms"] <= round(sim.world.clock.now() * 1000)
    assert all(e["subject_sid"] == "" for e in dispatcher.log if e["kind"] != "recording-status")
