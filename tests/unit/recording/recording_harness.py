"""Shared builders for the recording unit tests: a migrated SQLite file, Twilio played by flexsim
in process (sim_twilio), a settable clock, an inline queue, and helpers that feed events through
the real parsers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sim_twilio import SimTwilio, fake_sid
from sqlalchemy import select

from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.db.models import AttributeWrite, PauseEvent, RecordingTarget, TaskRecord
from flexrec.jobs.queue import InlineJobQueue
from flexrec.jobs.tasks import register_recording_jobs
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.service import RecordingService
from flexrec.webhooks.events import (
    TaskRouterEvent,
    parse_call_status_form,
    parse_conference_form,
    parse_recording_status_form,
    parse_taskrouter_form,
)

PUBLIC_URL = "https://rec.example.com"
QUEUE_SID = fake_sid("WQ", 1)
WORKFLOW_SID = fake_sid("WW", 1)
CONFERENCE_SID = fake_sid("CF", 1)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def ms(self) -> int:
        return int(self.now.timestamp() * 1000)


class Harness:
    """The recording service wired to fakes, plus event helpers."""

    def __init__(self, tmp_path: Path, policy: RecordingPolicy | None = None) -> None:
        tmp_path.mkdir(parents=True, exist_ok=True)
        url = f"sqlite:///{tmp_path / 'flexrec.db'}"
        upgrade(url)
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.twilio = SimTwilio()
        self.clock = Clock()
        self.twilio.now_ms = self.clock.ms()
        self.queue = InlineJobQueue()
        self.slept: list[float] = []
        self.service = self.make_service(policy or RecordingPolicy())
        self._event_ms = self.clock.ms()

    def make_service(self, policy: RecordingPolicy, inline_attempts: int = 1) -> RecordingService:
        # One try per attempt by default, so tests see each retry go through the queue.
        service = RecordingService(
            self.sessions,
            self.twilio,
            self.twilio,
            policy,
            PUBLIC_URL,
            clock=self.clock,
            inline_attempts=inline_attempts,
            sleep=self.slept.append,
        )
        register_recording_jobs(self.queue, service, reconcile_at_start=False)
        return service

    def close(self) -> None:
        self.engine.dispose()

    # -- events -------------------------------------------------------------------------------
    def next_ms(self) -> int:
        self._event_ms += 1000
        return self._event_ms

    def tr(self, event_type: str, task_sid: str, attrs: dict[str, Any] | None = None,
           **kwargs: Any) -> None:  # fmt: skip
        """Feed one TaskRouter event (see `parse_tr` for the options) to the service."""
        self.service.task_events.handle(self.parse_tr(event_type, task_sid, attrs, **kwargs))

    def parse_tr(
        self,
        event_type: str,
        task_sid: str,
        attrs: dict[str, Any] | None = None,
        *,
        ts_ms: int | None = None,
        status: str | None = None,
        reservation: str | None = None,
        worker: str | None = None,
        queue_name: str = "Sales",
        channel: str = "voice",
    ) -> TaskRouterEvent:
        form = {
            "EventType": event_type,
            "Timestamp": str((ts_ms if ts_ms is not None else self.next_ms()) // 1000),
            "TaskSid": task_sid,
            "ResourceSid": reservation or task_sid,
            "TaskQueueSid": QUEUE_SID,
            "TaskQueueName": queue_name,
            "WorkflowSid": WORKFLOW_SID,
            "TaskChannelUniqueName": channel,
        }
        if attrs is not None:
            form["TaskAttributes"] = json.dumps(attrs)
        if status:
            form["TaskAssignmentStatus"] = status
        if reservation:
            form["ReservationSid"] = reservation
        if worker:
            form["WorkerSid"] = worker
            form["WorkerName"] = "agent-" + worker[-2:]
        return parse_taskrouter_form(form)

    def conference(
        self,
        event: str,
        call_sid: str,
        label: str,
        task_sid: str,
        conf: str = CONFERENCE_SID,
        at: str = "Tue, 24 Nov 2026 12:00:05 +0000",
    ) -> None:
        form = {
            "StatusCallbackEvent": event,
            "ConferenceSid": conf,
            "FriendlyName": task_sid,
            "CallSid": call_sid,
            "ParticipantLabel": label,
            "SequenceNumber": str(self.next_ms()),
            "Timestamp": at,
        }
        self.service.intake.handle_conference_event(parse_conference_form(form))

    def call_status(self, call_sid: str, status: str, **extra: str) -> None:
        self.service.intake.handle_call_status(
            parse_call_status_form({"CallSid": call_sid, "CallStatus": status, **extra})
        )

    def recording_status(
        self, recording_sid: str, call_sid: str, status: str, **extra: str
    ) -> None:
        form = {
            "RecordingSid": recording_sid,
            "CallSid": call_sid,
            "RecordingStatus": status,
            "RecordingChannels": "2",
            "RecordingStartTime": "Tue, 24 Nov 2026 12:00:03 +0000",
            "RecordingUrl": f"https://api.twilio.com/2010-04-01/Accounts/AC/Recordings/{recording_sid}",
            "ErrorCode": "0",
            **extra,
        }
        if status == "completed":
            form.setdefault("RecordingDuration", "42")
        self.service.intake.handle_recording_status(parse_recording_status_form(form))

    def end_recording(self, recording_sid: str, status: str, **extra: str) -> None:
        """Twilio ends a recording (`completed`, `absent` or `failed`) and posts its callback,
        shaped as Twilio documents it (absent: ErrorCode 16101 too short / 16102 silent)."""
        recording = self.twilio.recordings[recording_sid]
        recording.status = status
        fields = {"RecordingDuration": "0", **extra} if status != "completed" else extra
        self.recording_status(recording_sid, recording.call_sid, status, **fields)

    # -- inspection ---------------------------------------------------------------------------
    def targets(self) -> list[RecordingTarget]:
        with self.sessions() as s:
            return list(s.scalars(select(RecordingTarget).order_by(RecordingTarget.id)).all())

    def target(self, call_sid: str) -> RecordingTarget:
        with self.sessions() as s:
            return s.scalars(
                select(RecordingTarget).where(RecordingTarget.call_sid == call_sid)
            ).one()

    def links(self) -> list[AttributeWrite]:
        with self.sessions() as s:
            return list(s.scalars(select(AttributeWrite).order_by(AttributeWrite.id)).all())

    def task_row(self, task_sid: str) -> TaskRecord | None:
        with self.sessions() as s:
            return s.get(TaskRecord, task_sid)

    def pause_events(self) -> list[PauseEvent]:
        with self.sessions() as s:
            return list(s.scalars(select(PauseEvent).order_by(PauseEvent.id)).all())

    def media(self, task_sid: str) -> list[dict[str, Any]]:
        attrs = self.twilio.tasks[task_sid].attributes
        media = attrs.get("conversations", {}).get("media", [])
        return list(media)


def inbound_attrs(call_sid: str, **extra: Any) -> dict[str, Any]:
    """Flex inbound task attributes at creation."""
    return {
        "call_sid": call_sid,
        "direction": "inbound",
        "from": "+15551230001",
        "to": "+15559870000",
        "caller": "+15551230001",
        "called": "+15559870000",
        "type": "inbound",
        "name": "+15551230001",
        **extra,
    }


def outbound_attrs(**extra: Any) -> dict[str, Any]:
    """Flex outbound dialpad task attributes at creation (no call_sid)."""
    return {
        "direction": "outbound",
        "outbound_to": "+15551230002",
        "from": "+15559870000",
        "to": "+15551230002",
        "type": "outbound",
        "name": "+15551230002",
        **extra,
    }


def with_conference(attrs: dict[str, Any], worker: str, customer: str | None = None) -> dict:
    """Attributes after Flex wrote the conference (and, later, the customer leg)."""
    participants = {"worker": worker}
    if customer:
        participants["customer"] = customer
    return {**attrs, "conference": {"sid": CONFERENCE_SID, "participants": participants}}
