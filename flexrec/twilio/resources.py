"""What the gateway hands back: Twilio resources reduced to the fields the service reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
CALL_NOT_RECORDABLE = 21220


@dataclass(frozen=True)
class RecordingInfo:
    """A call recording as Twilio reports it."""

    sid: str
    call_sid: str
    status: str
    start_time_ms: int | None
    channels: int | None
    duration_s: int | None = None
    source: str | None = None
    track: str | None = None
    error_code: int | None = None
    account_sid: str | None = None
    uri: str | None = None  # `/2010-04-01/Accounts/AC…/Recordings/RE….json`
    conference_sid: str | None = None


@dataclass(frozen=True)
class CallInfo:
    """A call leg as Twilio reports it (fetch)."""

    sid: str
    status: str
    direction: str | None = None
    from_: str | None = None
    to: str | None = None
    parent_call_sid: str | None = None
    # Twilio's own clock (epoch ms): start empty until dialled, end empty until it ended.
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    duration_s: int | None = None  # empty for busy, failed, unanswered or ongoing calls

    @property
    def ended(self) -> bool:
        """True when the leg can no longer be recorded."""
        return self.status in TERMINAL_CALL_STATUSES


@dataclass(frozen=True)
class TaskSnapshot:
    """One revision of a TaskRouter task.

    `attributes` is None when the view did not carry them: Twilio's List Tasks answers
    `attributes: null` (spec `taskrouter.v1.workspace.task.attributes`: shown only on FETCH),
    so a listed task says nothing about its attributes and must be fetched to learn them.
    """

    sid: str
    attributes: dict[str, Any] | None
    etag: str | None
    assignment_status: str | None = None
    queue_sid: str | None = None
    queue_name: str | None = None
    workflow_sid: str | None = None
    workflow_name: str | None = None
    channel: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReservationInfo:
    """A task's reservation as TaskRouter reports it."""

    sid: str
    worker_sid: str | None
    status: str  # pending|accepted|rejected|timeout|canceled|rescinded|wrapping|completed
    worker_name: str | None = None


@dataclass(frozen=True)
class ConferenceInfo:
    """A conference (Flex names the conference of a task after the task SID)."""

    sid: str
    friendly_name: str | None
    status: str | None  # init | in-progress | completed


@dataclass(frozen=True)
class ParticipantInfo:
    """A call leg in a conference; `label` is whatever the participant's creator set."""

    call_sid: str
    conference_sid: str
    label: str | None
    status: str | None
    hold: bool | None = None
    muted: bool | None = None


@dataclass(frozen=True)
class WorkspaceInfo:
    """A TaskRouter workspace and its event callback settings."""

    sid: str
    friendly_name: str | None
    event_callback_url: str | None
    events_filter: str | None


@dataclass(frozen=True)
class CreateRecordingRequest:
    """The parameters of a dual-channel call recording we start."""

    call_sid: str
    status_callback: str
    channels: str = "dual"
    track: str = "both"
    # `failed` too (Twilio support, "Getting Started with Recording Status Callbacks": the four
    # statuses one subscribes to): a recording that fails mid-call is replaced at once. Not
    # `in-progress`: the create's answer already says the recording runs, and a create whose
    # answer was lost is adopted by the next attempt's list (or by its end's callback), so the
    # callback changed nothing and cost a webhook a recording (issue 18).
    events: tuple[str, ...] = ("completed", "absent", "failed")
    trim: str = "do-not-trim"
