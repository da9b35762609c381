"""`InProcessSim`: a whole account in the test's process (no socket, no thread), with the
scripted faults of its plan and the request log, as unit tests of any project use them."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from flexsim.faults import ApiFault, FaultPlan
from flexsim.request_log import RequestLog
from flexsim.testing import InProcessSim, make_wav


def test_the_sdk_reads_an_arranged_recording_in_process() -> None:
    sim = InProcessSim()
    wav = make_wav(duration_s=2.0, channels=1)
    made = sim.arrange.completed_recording(wav)
    client = sim.client()
    fetched = client.recordings(made.sid).fetch()
    assert (fetched.status, fetched.channels, fetched.duration) == ("completed", 1, "2")
    # It ended at the simulated clock's now, which only the test moves.
    assert fetched.date_updated.timestamp() == sim.world.clock.now()
    sim.advance(60)
    assert client.recordings(made.sid).fetch().date_updated.timestamp() == (
        sim.world.clock.now() - 60
    )
    assert sim.request_log.count("GET", f"*/Recordings/{made.sid}.json") == 2


def test_wrong_credentials_are_refused_and_logged(flexsim_in_process: InProcessSim) -> None:
    sim = flexsim_in_process
    made = sim.arrange.completed_recording(make_wav())
    client = Client(sim.account_sid, "wrong", http_client=sim.client().http_client)
    with pytest.raises(TwilioRestException) as refused:
        client.recordings(made.sid).fetch()
    assert (refused.value.status, refused.value.code) == (401, 20003)
    (entry,) = sim.request_log.entries()
    assert (entry.method, entry.status) == ("GET", 401)


def test_scripted_faults_come_first_match_by_glob_and_are_used_up_in_order() -> None:
    plan = FaultPlan(api_error_rate=0.0)
    plan.set_request_hook(lambda method, path: ApiFault(418, 0.0, "error"))
    plan.fault_next("get", "*/Recordings/*.wav", status=503, times=2)
    plan.fault_next("GET", "*/Recordings/*.wav", status=500)
    media = "/2010-04-01/Accounts/AC1/Recordings/RE1.wav"
    statuses = [getattr(plan.api_fault("GET", media), "status", None) for _ in range(4)]
    assert statuses == [503, 503, 500, 418]  # then the hook again
    assert plan.scripted() == []
    plan.fault_next("DELETE", "*/Recordings/RE*.json", delay_s=1.5)
    assert plan.api_fault("GET", "/2010-04-01/Accounts/AC1/Recordings/RE1.json") == ApiFault(
        418, 0.0, "error"
    )
    slowed = plan.api_fault("DELETE", "/2010-04-01/Accounts/AC1/Recordings/RE1.json")
    assert slowed == ApiFault(None, 1.5, "latency", None)
    assert plan.api_fault("GET", "/_sim/requests") is None  # the control routes never fail


def test_the_request_log_keeps_the_newest_and_filters_by_glob() -> None:
    log = RequestLog(limit=3)
    for n in range(5):
        log.append("GET", f"/x/RE{n}.wav", "RequestedChannels=2", 200)
    log.append("DELETE", "/x/RE4.json", "", 204)
    assert [e.seq for e in log.entries()] == [4, 5, 6]
    assert log.count("GET", "*.wav") == 2
    assert log.entries("delete")[0].as_dict() == {
        "seq": 6,
        "method": "DELETE",
        "path": "/x/RE4.json",
        "query": "",
        "status": 204,
    }
    log.clear()
    assert log.entries() == []
