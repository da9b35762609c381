"""The gateway's one error translation, against the error bodies Twilio documents, served by
flexsim in process (its app through flexsim.testing's SDK client: no socket, no hand-written
bodies): rate limits and outages from flexsim's fault plan, not found, a stale If-Match and a
realtime call on a call that is no longer live from the simulated account itself.

Twilio's body is `{"code", "message", "more_info", "status"}` (twilio.com/docs/errors); the
official SDK raises `TwilioRestException` for a single resource and `TwilioException("Unable to
fetch page", response)` for a list page: both must leave the gateway as the same GatewayError.
"""

from __future__ import annotations

import pytest

from flexrec.twilio.gateway import (
    CreateRecordingRequest,
    GatewayError,
    PreconditionFailed,
    SdkGateway,
)
from flexsim import ApiFault, FaultPlan, World, create_sim_app, defaults
from flexsim.testing import sdk_client

CALLBACK = "https://rec.example.com/webhooks/recording-status"


@pytest.fixture
def world() -> World:
    return World()


@pytest.fixture
def faults() -> FaultPlan:
    return FaultPlan()


@pytest.fixture
def gateway(world: World, faults: FaultPlan) -> SdkGateway:
    client = sdk_client(create_sim_app(world, faults=faults))
    return SdkGateway(client, defaults.ACCOUNT_SID, world.workspace_sid)


def _live_call(world: World) -> str:
    call = world.create_call(
        from_="+15550002222", to="+15550001111", direction="inbound", party="customer"
    )
    world.set_call_status(call, "in-progress")
    return call.sid


def _answer_every_request(faults: FaultPlan, status: int) -> None:
    faults.set_request_hook(lambda _method, _path: ApiFault(status, 0.0, "error"))


@pytest.mark.parametrize("status", [429, 500, 503])
def test_rate_limits_and_outages_are_retryable_with_twilios_code(
    world: World, faults: FaultPlan, gateway: SdkGateway, status: int
) -> None:
    call_sid = _live_call(world)
    _answer_every_request(faults, status)
    with pytest.raises(GatewayError) as single:
        gateway.fetch_call(call_sid)
    with pytest.raises(GatewayError) as page:
        gateway.list_recordings(call_sid)
    for error in (single.value, page.value):
        assert (error.status, error.code, error.retryable) == (status, 20000 + status, True)
        assert not isinstance(error, PreconditionFailed)


def test_a_missing_resource_is_final_and_says_not_found(gateway: SdkGateway) -> None:
    with pytest.raises(GatewayError) as info:
        gateway.fetch_call("CA" + "0" * 32)
    error = info.value
    assert (error.status, error.code, error.retryable, error.not_found) == (404, 20404, False, True)


def test_a_stale_if_match_is_precondition_failed(world: World, gateway: SdkGateway) -> None:
    task = world.create_task(
        {"direction": "inbound"}, world.add_queue("Everyone"), world.add_workflow("Anyone")
    )
    read = gateway.fetch_task(task.sid)
    assert read.etag
    gateway.update_task_attributes(task.sid, {"first": 1}, read.etag)
    with pytest.raises(PreconditionFailed) as info:
        gateway.update_task_attributes(task.sid, {"second": 2}, read.etag)
    assert (info.value.status, info.value.code, info.value.retryable) == (412, 20412, False)


def test_recording_a_call_that_ended_is_final(world: World, gateway: SdkGateway) -> None:
    call_sid = _live_call(world)
    world.set_call_status(world.calls[call_sid], "completed")
    with pytest.raises(GatewayError) as info:
        gateway.create_recording(CreateRecordingRequest(call_sid, CALLBACK))
    error = info.value
    assert (error.status, error.code, error.retryable) == (400, 21220, False)


def test_a_request_the_fault_plan_lets_through_succeeds(
    world: World, faults: FaultPlan, gateway: SdkGateway
) -> None:
    call_sid = _live_call(world)
    faults.set_request_hook(lambda _method, _path: None)
    started = gateway.create_recording(CreateRecordingRequest(call_sid, CALLBACK))
    assert started.call_sid == call_sid and started.status == "in-progress"
