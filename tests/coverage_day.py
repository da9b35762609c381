"""A day of calls for the coverage report's tests, on any database URL.

The real recording service (on Twilio played by flexsim, sim_twilio) takes each call's webhooks,
so flexrec's tables hold exactly what the service writes; flexsim's call log and recording list
then hold what Twilio's would: every leg with its times (flexrec never saw some) and every
recording. The report lists them through the real gateway, whose page size the day sets to 3
so that a day of 12 legs takes pages. 3 March 2026, from 09:00 UTC:

- `A`: inbound, answered by an agent at 09:00:10, recorded, paused 30 s, ended 09:02:00:
  recorded. `A_AGENT`, its agent's leg (`client:`, named in the task's attributes): agent leg.
- `B`: inbound, the caller hung up in the queue (task canceled): abandoned.
- `C1`, `C2`: an internal agent-to-agent call (`client_call`); C1 is named in the task's
  attributes, C2 by a conference callback: internal.
- `D`: inbound to the excluded queue `Internal`: policy.
- `E`: answered; its recording went `absent` (16102, silent) as the call ended: not recorded,
  Twilio error.
- `F`: answered as the caller hung up, the create refused with 21220: not recorded, not started.
- `G`: a leg no webhook ever named: not seen.
- `H`: answered; another API client stopped the recording at 60 s of 120: partly recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sim_twilio import SimTwilio, fake_sid

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.jobs.queue import InlineJobQueue
from flexrec.jobs.tasks import register_recording_jobs
from flexrec.recording.pause import Actor
from flexrec.recording.policy import RecordingPolicy, Selector
from flexrec.recording.service import RecordingService
from flexrec.twilio.gateway import SdkGateway
from flexrec.webhooks.events import (
    parse_call_status_form,
    parse_conference_form,
    parse_recording_status_form,
    parse_taskrouter_form,
)

DAY = datetime(2026, 3, 3, tzinfo=UTC)
T0 = DAY + timedelta(hours=9)
FLEX_NUMBER = "+15559870000"
LEGS = {name: fake_sid("CA", i + 1) for i, name in enumerate("A A_AGENT B C1 C2 D E F G H".split())}
TASKS = {name: fake_sid("WT", i + 1) for i, name in enumerate("A B C D E F H".split())}
AGENT = fake_sid("WK", 1)


def ms(moment: datetime) -> int:
    """Epoch milliseconds."""
    return int(moment.timestamp() * 1000)


class _Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> None:
        self.now = T0 + timedelta(seconds=seconds)


@dataclass
class CoverageDay:
    """The service's sessions after the day, and what Twilio lists for it."""

    sessions: Any
    call_log: SdkGateway  # the service's own gateway: Twilio's lists, as flexsim serves them
    twilio: SimTwilio
    engine: Any

    def close(self) -> None:
        """Dispose of the engine."""
        self.engine.dispose()


class _Day:
    def __init__(self, url: str) -> None:
        upgrade(url)
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.twilio = SimTwilio()
        self.clock = _Clock()
        self.twilio.now_ms = ms(T0)
        self.twilio.gateway.page_size = 3
        policy = RecordingPolicy(exclude=Selector(queues=("Internal",)))
        self.service = RecordingService(
            self.sessions, self.twilio, self.twilio, policy, "https://rec.example.com",
            clock=self.clock, sleep=lambda _s: None,
        )  # fmt: skip
        register_recording_jobs(InlineJobQueue(), self.service, reconcile_at_start=False)
        self.reservations = 0

    def event(self, kind: str, task: str, attrs: dict[str, Any], at: float, **form: str) -> None:
        self.clock.at(at)
        fields = {
            "EventType": kind,
            "Timestamp": str(ms(self.clock.now) // 1000),
            "TaskSid": task,
            "ResourceSid": form.get("ReservationSid", task),
            "TaskQueueSid": fake_sid("WQ", 1),
            "TaskQueueName": form.pop("queue", "Sales"),
            "WorkflowSid": fake_sid("WW", 1),
            "TaskChannelUniqueName": "voice",
            "TaskAttributes": json.dumps(attrs),
            **form,
        }
        self.service.task_events.handle(parse_taskrouter_form(fields))

    def answered(self, task: str, attrs: dict[str, Any], at: float, queue: str = "Sales") -> str:
        """Task created at `at - 8`, accepted at `at`; returns the reservation SID."""
        self.twilio.add_task(task, attrs)
        self.event("task.created", task, attrs, at - 8, TaskAssignmentStatus="pending", queue=queue)
        self.reservations += 1
        res = fake_sid("WR", self.reservations)
        common = {"ReservationSid": res, "WorkerSid": AGENT, "WorkerName": "alice", "queue": queue}
        self.event("reservation.created", task, attrs, at - 4, **common)
        self.event("reservation.accepted", task, attrs, at, TaskAssignmentStatus="assigned",
                   **common)  # fmt: skip
        return res

    def ended(self, call: str, at: float) -> None:
        self.clock.at(at)
        self.twilio.add_call(call, "completed")
        form = {"CallSid": call, "CallStatus": "completed"}
        self.service.intake.handle_call_status(parse_call_status_form(form))

    def recording_status(self, rec: str, call: str, status: str, at: float, **extra: str) -> None:
        self.clock.at(at)
        form = {
            "RecordingSid": rec,
            "CallSid": call,
            "RecordingStatus": status,
            "RecordingChannels": "2",
            "RecordingStartTime": "Tue, 03 Mar 2026 09:00:10 +0000",
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{rec}",
            "ErrorCode": "0",
            **extra,
        }
        self.service.intake.handle_recording_status(parse_recording_status_form(form))

    def listed(self, call: str, start_s: float, end_s: float | None, *, status: str = "completed",
               to: str = FLEX_NUMBER, from_: str = "+15551230001") -> None:  # fmt: skip
        start = ms(T0 + timedelta(seconds=start_s))
        end = ms(T0 + timedelta(seconds=end_s)) if end_s is not None else None
        self.twilio.log_call(call, start_ms=start, end_ms=end, status=status, from_=from_, to=to)

    def recorded(self, call: str, start_s: float, duration_s: int, status: str = "completed",
                 error_code: int | None = None) -> str:  # fmt: skip
        (rec,) = self.twilio.recordings_on(call)
        start = ms(T0 + timedelta(seconds=start_s))
        self.twilio.log_recording(
            rec.sid, start_ms=start, duration_s=duration_s, status=status, error_code=error_code
        )
        return rec.sid


def inbound(call: str, **extra: Any) -> dict[str, Any]:
    """Flex inbound task attributes."""
    return {"call_sid": call, "direction": "inbound", "from": "+15551230001",
            "to": FLEX_NUMBER, "type": "inbound", **extra}  # fmt: skip


def build_day(url: str) -> CoverageDay:
    """Run the day through the service and list it as Twilio would."""
    d = _Day(url)
    leg, task = LEGS, TASKS
    # A: recorded, with the agent's leg named by Flex, paused 09:00:30-09:01:00.
    d.twilio.add_call(leg["A"])
    conference = {"sid": fake_sid("CF", 1), "participants": {"worker": leg["A_AGENT"]}}
    d.answered(task["A"], inbound(leg["A"], conference=conference), at=10)
    actor = Actor("alice", AGENT, ("agent",))
    d.clock.at(30)
    d.service.pauses.pause(task["A"], actor)
    d.clock.at(60)
    d.service.pauses.resume(task["A"], actor)
    d.ended(leg["A"], 120)
    rec_a = d.recorded(leg["A"], 10, 110)
    d.recording_status(rec_a, leg["A"], "completed", 120, RecordingDuration="110")
    d.listed(leg["A"], 0, 120)
    d.listed(leg["A_AGENT"], 9, 121, to="client:alice", from_=FLEX_NUMBER)
    # B: abandoned in the queue.
    d.twilio.add_call(leg["B"])
    d.event("task.created", task["B"], inbound(leg["B"]), 200, TaskAssignmentStatus="pending")
    d.event("task.canceled", task["B"], inbound(leg["B"]), 230, TaskAssignmentStatus="canceled")
    d.ended(leg["B"], 230)
    d.listed(leg["B"], 190, 230)
    # C: internal agent-to-agent call.
    internal = {
        "client_call": True, "direction": "outbound", "from": "client:alice", "to": "client:bob",
        "conference": {"participants": {"worker": leg["C1"]}},
    }  # fmt: skip
    d.answered(task["C"], internal, at=300)
    d.clock.at(302)
    joined = {"StatusCallbackEvent": "participant-join", "ConferenceSid": fake_sid("CF", 3),
              "FriendlyName": task["C"], "CallSid": leg["C2"], "ParticipantLabel": "worker",
              "SequenceNumber": "1", "Timestamp": "Tue, 03 Mar 2026 09:05:02 +0000"}  # fmt: skip
    d.service.intake.handle_conference_event(parse_conference_form(joined))
    d.listed(leg["C1"], 299, 400, from_="client:alice", to=FLEX_NUMBER)
    d.listed(leg["C2"], 302, 400, from_=FLEX_NUMBER, to="client:bob")
    # D: the policy excludes its queue.
    d.twilio.add_call(leg["D"])
    d.answered(task["D"], inbound(leg["D"]), at=500, queue="Internal")
    d.ended(leg["D"], 560)
    d.listed(leg["D"], 480, 560)
    # E: the recording went absent (silent) as the call ended.
    d.twilio.add_call(leg["E"])
    d.answered(task["E"], inbound(leg["E"]), at=610)
    d.ended(leg["E"], 700)
    rec_e = d.recorded(leg["E"], 610, 0, status="absent", error_code=16102)
    d.recording_status(rec_e, leg["E"], "absent", 701, ErrorCode="16102")
    d.listed(leg["E"], 600, 700)
    # F: the caller hung up as the agent answered: the create is refused with 21220.
    d.twilio.add_call(leg["F"], "completed")
    d.answered(task["F"], inbound(leg["F"]), at=810)
    d.listed(leg["F"], 800, 811)
    # G: a leg flexrec never heard of.
    d.listed(leg["G"], 900, 960, from_="+15550009999")
    # H: another API client stopped the recording at 60 s; the call went on to 120 s.
    d.twilio.add_call(leg["H"])
    d.answered(task["H"], inbound(leg["H"]), at=1010)
    rec_h = d.recorded(leg["H"], 1010, 60)
    d.recording_status(rec_h, leg["H"], "completed", 1070, RecordingDuration="60")
    d.ended(leg["H"], 1130)
    d.listed(leg["H"], 1000, 1130)
    # A leg of the day before and one of the next day: outside the period.
    d.listed(fake_sid("CA", 98), -86_400, -86_300)
    d.listed(fake_sid("CA", 99), 86_400, 86_500)
    return CoverageDay(d.sessions, d.twilio.gateway, d.twilio, d.engine)
