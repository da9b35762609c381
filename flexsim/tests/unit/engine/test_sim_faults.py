"""Fault plans parse strictly and decide the same way for the same seed."""

from __future__ import annotations

import pytest

from flexsim.faults import ApiFault, FaultPlan, FaultPlanError


def test_parse_reads_every_key() -> None:
    plan = FaultPlan.parse("api=0.2,dup=0.1,reorder=0.1,drop=0.0,latency=50,timeout=0.01,delay=5")
    assert plan.api_error_rate == 0.2
    assert plan.dup_rate == 0.1
    assert plan.reorder_rate == 0.1
    assert plan.drop_rate == 0.0
    assert plan.api_latency_ms == 50
    assert plan.api_timeout_rate == 0.01
    assert plan.delay_ms == 5
    assert plan.active


def test_parse_reads_the_interference_keys_which_are_off_by_default() -> None:
    plan = FaultPlan.parse("absent=0.05,failed=0.04,stopped=0.03,clobber=0.1")
    assert (plan.rec_absent_rate, plan.rec_failed_rate, plan.rec_stopped_rate) == (
        0.05,
        0.04,
        0.03,
    )
    assert plan.clobber_rate == 0.1
    assert plan.interferes and not plan.active  # no transport faults were asked for
    assert not FaultPlan.parse("api=0.2,dup=0.1,reorder=0.1").interferes
    assert FaultPlan().recording_fate("0:0") is None
    assert FaultPlan().blind_write_delay("0:0") is None


def test_interference_draws_never_move_the_transport_decisions() -> None:
    def transport(spec: str) -> list[object]:
        plan = FaultPlan.parse(spec, seed=2)
        out: list[object] = []
        for n in range(100):
            out.append(plan.api_fault("GET", "/v1/Workspaces/WS1/Tasks"))
            plan.recording_fate(f"{n}:0")
            out.append(plan.webhook_fault())
            plan.blind_write_delay(f"{n}:0")
        return out

    assert transport("api=0.3,dup=0.2") == transport("api=0.3,dup=0.2,absent=0.5,clobber=0.5")


@pytest.mark.parametrize(
    "spec",
    ["api", "api=x", "bogus=1", "api=1.5", "latency=-1", "clobber=2", "absent=0.6,stopped=0.6"],
)
def test_parse_rejects_bad_specs(spec: str) -> None:
    with pytest.raises(FaultPlanError):
        FaultPlan.parse(spec)


def test_empty_plan_injects_nothing() -> None:
    plan = FaultPlan.parse("")
    assert not plan.active
    assert plan.api_fault("POST", "/2010-04-01/Accounts/AC1/Calls.json") is None
    assert plan.webhook_fault().drop is False


def test_same_seed_same_decisions() -> None:
    def decisions(seed: int) -> list[object]:
        plan = FaultPlan.parse(
            "api=0.3,timeout=0.05,latency=20,dup=0.2,reorder=0.2,drop=0.1", seed=seed
        )
        out: list[object] = []
        for _ in range(200):
            out.append(plan.api_fault("GET", "/v1/Workspaces/WS1/Tasks/WT1"))
            out.append(plan.webhook_fault())
        return out

    assert decisions(4) == decisions(4)
    assert decisions(4) != decisions(5)


def test_error_rate_is_roughly_honoured_and_errors_are_twilio_statuses() -> None:
    plan = FaultPlan.parse("api=0.25,seed=1")
    faults = [
        plan.api_fault("POST", "/2010-04-01/Accounts/AC1/Calls/CA1/Recordings.json")
        for _ in range(4000)
    ]
    errors = [f for f in faults if f is not None and f.status is not None]
    assert 800 < len(errors) < 1200
    assert {f.status for f in errors} == {429, 500, 503}


def test_timeout_outlasts_the_client_and_never_processes() -> None:
    plan = FaultPlan.parse("timeout=1.0")
    fault = plan.api_fault("POST", "/2010-04-01/Accounts/AC1/Calls/CA1/Recordings.json")
    assert fault is not None
    assert fault.kind == "timeout"
    assert fault.status == 503
    assert fault.delay_s >= 10


def test_sim_control_routes_are_exempt() -> None:
    plan = FaultPlan.parse("api=1.0")
    assert plan.api_fault("GET", "/_sim/truth") is None
    assert plan.api_fault("GET", "/v1/Workspaces/WS1") is not None


def test_replace_with_updates_in_place() -> None:
    plan = FaultPlan.parse("api=0.5")
    holder = plan
    plan.replace_with(FaultPlan.parse("dup=0.3"))
    assert holder.api_error_rate == 0.0
    assert holder.dup_rate == 0.3


def test_a_request_hook_chooses_first_and_defers_with_none() -> None:
    plan = FaultPlan()  # no rates: without the hook nothing is faulted
    held = ApiFault(503, 5.0, "timeout")
    plan.set_request_hook(lambda method, path: held if method == "POST" else None)
    assert plan.api_fault("POST", "/2010-04-01/Accounts/AC1/Calls/CA1/Recordings.json") is held
    assert plan.api_fault("GET", "/2010-04-01/Accounts/AC1/Calls/CA1.json") is None
    assert plan.api_fault("POST", "/_sim/faults") is None  # the control routes are exempt
    plan.set_request_hook(None)
    assert plan.api_fault("POST", "/2010-04-01/Accounts/AC1/Calls.json") is None
