"""Pure parsers turning Twilio callbacks into frozen domain events (no web framework).

What is parsed, by source:
- TaskRouter workspace events (form, `EventCallbackUrl`): `EventType`, `ResourceSid`,
  `Timestamp` (epoch seconds; epoch ms and ISO 8601 are accepted too), `TaskSid`,
  `TaskAttributes` (JSON object string), `TaskAssignmentStatus`, `TaskQueueSid`,
  `TaskQueueName`, `WorkflowSid`, `WorkflowName`, `ReservationSid`, `WorkerSid`, `WorkerName`,
  `TaskChannelUniqueName`, `TaskVersion` (the task's revision the event shows), `Sid` (event
  SID, when present).
- Event Streams (JSON array of CloudEvents, `type` `com.twilio.taskrouter.<event>`): the same
  fields from `data`; keys are matched ignoring case and underscores, so `task_sid`, `taskSid`
  and `TaskSid` are all read. The CloudEvent `id` is the event key; `time` backs up `timestamp`.
- Conference status callbacks, call status callbacks and recording status callbacks (forms),
  with the parameters documented by Twilio (see each parser).

Every parser raises `MalformedEvent` (the web layer answers 400) for input it cannot trust.

TaskRouter sends every event type of its reference (worker, task-queue, workflow, activity and
workspace families, three-part names such as `worker.activity.update` included) unless the
workspace's `EventsFilter` is set: `TASKROUTER_EVENTS_USED` names the ones flexrec acts on
(and what `flexrec setup` puts in the filter); any other well-formed type is ignored (204). In
an Event Streams batch, an item of another product, of an unused type, or one that does not
parse is skipped on its own: it never costs the batch's other events.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from flexrec.bounds import INT32_MAX, INT64_MAX
from flexrec.safejson import UnsafeJson, loads_bounded

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
_EVENT_STREAMS_PREFIX = "com.twilio.taskrouter."
# Epoch ms up to the end of year 9999: later cannot be a datetime anywhere downstream.
_MAX_TIME_MS = 253_402_300_799_999

# `family.action` or `family.sub.action` (e.g. `worker.channel.availability.update`).
_EVENT_TYPE = re.compile(r"^[a-z][a-z-]*(\.[a-z][a-z-]*)+$")

# The TaskRouter event types flexrec acts on; everything else is acknowledged and ignored.
# `flexrec setup` writes this list into the workspace's EventsFilter (and an Event Streams
# subscription) when it owns the callback. Each type costs a webhook a call (and most a write):
# one is listed only if something durable reads what it says. Not `reservation.created`: an
# offered reservation is read by nothing (what is read starts at `accepted`, which carries the
# task's attributes and status too), and the task status it moved to, `reserved`, told nothing
# `pending` does not (docs/design.md, "TaskRouter events").
TASKROUTER_EVENTS_USED: tuple[str, ...] = (
    "task.created",
    "task.updated",
    "task.canceled",
    "task.wrapup",
    "task.completed",
    "task.deleted",
    "task.system-deleted",
    "reservation.accepted",
    "reservation.rejected",
    "reservation.timeout",
    "reservation.canceled",
    "reservation.rescinded",
    "reservation.wrapup",
    "reservation.completed",
    "reservation.failed",
)
_USED = frozenset(TASKROUTER_EVENTS_USED)


def is_used_taskrouter_event(event_type: str) -> bool:
    """Whether flexrec acts on this TaskRouter event type."""
    return event_type in _USED


class MalformedEvent(ValueError):
    """A callback that is missing required fields or carries unparsable values."""


@dataclass(frozen=True)
class TaskRouterEvent:
    """One TaskRouter event (workspace callback or Event Streams), reduced to what we use."""

    event_type: str
    resource_sid: str | None
    timestamp_ms: int
    task_sid: str | None
    task_attributes: dict[str, Any] | None
    task_assignment_status: str | None
    task_queue_sid: str | None
    task_queue_name: str | None
    workflow_sid: str | None
    reservation_sid: str | None
    worker_sid: str | None
    worker_name: str | None
    event_sid: str | None
    workflow_name: str | None = None
    task_channel: str | None = None
    # The task's revision the attributes are of (`TaskVersion`; an int in Event Streams).
    task_version: str | None = None


@dataclass(frozen=True)
class ConferenceEvent:
    """A conference status callback (`StatusCallbackEvent` such as `participant-join`)."""

    event: str
    conference_sid: str
    friendly_name: str | None
    call_sid: str | None
    participant_label: str | None
    hold: bool | None
    sequence_number: int | None
    timestamp: int | None  # epoch ms
    participant_call_status: str | None = None


@dataclass(frozen=True)
class CallStatusEvent:
    """A call status callback for one leg."""

    call_sid: str
    call_status: str
    timestamp: int | None  # epoch ms
    direction: str | None
    to: str | None = None  # the numbers the leg was dialled to and from (`To`, `From`)
    from_: str | None = None


@dataclass(frozen=True)
class RecordingStatusEvent:
    """A recording status callback (`in-progress`, `completed`, `absent`, `failed`)."""

    recording_sid: str
    call_sid: str | None
    status: str
    url: str | None
    channels: int | None
    start_time_ms: int | None
    duration_s: int | None
    error_code: int | None
    track: str | None
    source: str | None
    conference_sid: str | None = None


RECORDING_STATUSES = frozenset({"in-progress", "paused", "completed", "absent", "failed"})
CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "failed", "no-answer",
     "canceled"}
)  # fmt: skip


# A form's forty names are the same few dozen every time: each is normalised once (three string
# passes a name were a third of parsing a TaskRouter event). Bounded: a signed form may still
# carry names of its own.
@functools.lru_cache(maxsize=4096)
def _norm(key: str) -> str:
    return key.replace("_", "").replace("-", "").lower()


def _normalized(source: Mapping[str, Any]) -> dict[str, Any]:
    """Keys lowercased without underscores, so snake, camel and Pascal case all match."""
    return {_norm(str(k)): v for k, v in source.items()}


def _text(data: Mapping[str, Any], key: str) -> str | None:
    return _clean_text(data.get(_norm(key)))


def _clean_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):  # a repeated form field: the first value counts
        value = value[0] if value else None
        if value is None:
            return None
    # PostgreSQL text cannot hold NUL; keep the rest of the value rather than lose the event.
    text = str(value).replace("\x00", "\ufffd").strip()
    return text or None


def _sid(data: Mapping[str, Any], key: str, prefix: str, *, required: bool = False) -> str | None:
    value = _text(data, key)
    if value is None:
        if required:
            raise MalformedEvent(f"missing {key}")
        return None
    if not _SID.match(value) or not value.startswith(prefix):
        raise MalformedEvent(f"{key} is not a {prefix} SID")
    return value


def _required_sid(data: Mapping[str, Any], key: str, prefix: str) -> str:
    value = _sid(data, key, prefix)
    if value is None:
        raise MalformedEvent(f"missing {key}")
    return value


def _int(data: Mapping[str, Any], key: str, limit: int = INT32_MAX) -> int | None:
    """An integer field; outside ±`limit` it is no real callback (counts Twilio sends are
    small) and must not reach a database column (MalformedEvent)."""
    value = _text(data, key)
    if value is None:
        return None
    try:
        number = int(value) if value.lstrip("+-").isdigit() else int(float(value))
    except (ValueError, OverflowError) as exc:  # nan, inf, 1e400
        raise MalformedEvent(f"{key} is not a number") from exc
    if not -limit <= number <= limit:
        raise MalformedEvent(f"{key} is out of range")
    return number


def _bool(data: Mapping[str, Any], key: str) -> bool | None:
    value = _text(data, key)
    if value is None:
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise MalformedEvent(f"{key} is not a boolean")


def parse_time_ms(value: Any) -> int | None:
    """Epoch ms from epoch seconds, epoch ms, ISO 8601 or RFC 2822; None for empty input.

    Raises MalformedEvent for non-finite numbers and times before 1970 or after 9999.
    """
    try:
        ms = _time_ms(value)
    except (OverflowError, ValueError) as exc:  # float('nan') → int, year out of range
        if isinstance(exc, MalformedEvent):
            raise
        raise MalformedEvent(f"unparsable time {str(value)[:40]!r}") from exc
    if ms is not None and not 0 <= ms <= _MAX_TIME_MS:
        raise MalformedEvent(f"time out of range {str(value)[:40]!r}")
    return ms


def _time_ms(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
        return int(number if number > 1e11 else number * 1000)
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return int(number if number > 1e11 else number * 1000)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError) as exc:
            raise MalformedEvent(f"unparsable time {text!r}") from exc
    if parsed.tzinfo is None:
        raise MalformedEvent(f"time without a time zone {text!r}")
    return int(parsed.timestamp() * 1000)


def _attributes(data: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = data.get(_norm("TaskAttributes"))
    if raw is None or raw == "":
        return None
    if isinstance(raw, dict):
        return raw
    try:
        parsed = loads_bounded(str(raw))
    except UnsafeJson as exc:
        raise MalformedEvent(f"TaskAttributes: {exc}") from exc
    if not isinstance(parsed, dict):
        raise MalformedEvent("TaskAttributes is not a JSON object")
    return parsed


def _taskrouter_event(
    data: Mapping[str, Any], event_type: str, event_sid: str | None, fallback_time: Any = None
) -> TaskRouterEvent:
    if not _EVENT_TYPE.match(event_type):
        raise MalformedEvent("EventType is not a TaskRouter event name")
    timestamp = data.get(_norm("TimestampMs")) or data.get(_norm("Timestamp")) or fallback_time
    timestamp_ms = parse_time_ms(timestamp)
    if timestamp_ms is None:
        raise MalformedEvent("missing Timestamp")
    task_sid = _sid(
        data, "TaskSid", "WT", required=event_type.startswith(("task.", "reservation."))
    )
    reservation_sid = _sid(
        data, "ReservationSid", "WR", required=event_type.startswith("reservation.")
    )
    resource_sid = _text(data, "ResourceSid")
    return TaskRouterEvent(
        event_type=event_type,
        resource_sid=resource_sid,
        timestamp_ms=timestamp_ms,
        task_sid=task_sid,
        task_attributes=_attributes(data),
        task_assignment_status=_text(data, "TaskAssignmentStatus"),
        task_queue_sid=_sid(data, "TaskQueueSid", "WQ"),
        task_queue_name=_text(data, "TaskQueueName"),
        workflow_sid=_sid(data, "WorkflowSid", "WW"),
        reservation_sid=reservation_sid,
        worker_sid=_sid(data, "WorkerSid", "WK"),
        worker_name=_text(data, "WorkerName"),
        event_sid=event_sid,
        workflow_name=_text(data, "WorkflowName"),
        task_channel=_text(data, "TaskChannelUniqueName"),
        task_version=_clean_text(data.get("taskversion")),  # _norm("TaskVersion")
    )


def taskrouter_event_type(form: Mapping[str, Any]) -> str:
    """The `EventType` of a workspace callback (checked, nothing else parsed yet)."""
    # Twilio spells it so: the whole form is normalised only for another spelling.
    event_type = _clean_text(form.get("EventType"))
    if event_type is None:
        event_type = _text(_normalized(form), "EventType")
    if event_type is None:
        raise MalformedEvent("missing EventType")
    if not _EVENT_TYPE.match(event_type):
        raise MalformedEvent("EventType is not a TaskRouter event name")
    return event_type


def parse_taskrouter_form(form: Mapping[str, Any]) -> TaskRouterEvent:
    """Parse a TaskRouter workspace event callback (form fields)."""
    data = _normalized(form)
    event_type = _text(data, "EventType")
    if event_type is None:
        raise MalformedEvent("missing EventType")
    return _taskrouter_event(data, event_type, _text(data, "Sid") or _text(data, "EventSid"))


@dataclass(frozen=True)
class EventStreamsBatch:
    """An Event Streams delivery: the used TaskRouter events, and what was skipped and why."""

    events: list[TaskRouterEvent]
    ignored: int  # other products' events and TaskRouter types flexrec does not use
    malformed: list[str]  # one reason per item that could not be parsed


def parse_event_streams(body: bytes) -> list[TaskRouterEvent]:
    """Parse an Event Streams webhook body into the TaskRouter events flexrec uses."""
    return parse_event_streams_batch(body).events


def parse_event_streams_batch(body: bytes) -> EventStreamsBatch:
    """Parse an Event Streams body; only a body that is not a JSON list of objects is malformed."""
    try:
        payload = loads_bounded(body)
    except UnsafeJson as exc:
        raise MalformedEvent(f"body: {exc}") from exc
    if isinstance(payload, dict):  # a single CloudEvent instead of a batch
        payload = [payload]
    if not isinstance(payload, list):
        raise MalformedEvent("body is not a JSON array of CloudEvents")
    events: list[TaskRouterEvent] = []
    ignored = 0
    malformed: list[str] = []
    for item in payload:
        if not isinstance(item, dict):
            malformed.append("CloudEvent is not an object")
            continue
        cloud_type = str(item.get("type", ""))
        event_type = cloud_type.removeprefix(_EVENT_STREAMS_PREFIX)
        if not cloud_type.startswith(_EVENT_STREAMS_PREFIX) or event_type not in _USED:
            ignored += 1
            continue
        try:
            events.append(_cloud_event(item, event_type))
        except MalformedEvent as exc:
            malformed.append(f"{item.get('id') or cloud_type}: {exc}")
    return EventStreamsBatch(events, ignored, malformed)


def _cloud_event(item: Mapping[str, Any], event_type: str) -> TaskRouterEvent:
    body_data = item.get("data")
    if not isinstance(body_data, dict):
        raise MalformedEvent("CloudEvent data is not an object")
    inner = body_data.get("payload")
    if isinstance(inner, dict):
        # Twilio's TaskRouter.WDSEvent schema nests the event's fields under data.payload.
        body_data = {**body_data, **inner}
    data = _normalized(body_data)
    event_id = item.get("id")
    return _taskrouter_event(
        data, event_type, str(event_id) if event_id else None, item.get("time")
    )


def parse_conference_form(form: Mapping[str, Any]) -> ConferenceEvent:
    """Parse a conference status callback (`StatusCallbackEvent`, `ConferenceSid`, ...)."""
    data = _normalized(form)
    event = _text(data, "StatusCallbackEvent")
    if event is None:
        raise MalformedEvent("missing StatusCallbackEvent")
    conference_sid = _required_sid(data, "ConferenceSid", "CF")
    label = _text(data, "ParticipantLabel")
    return ConferenceEvent(
        event=event,
        conference_sid=conference_sid,
        friendly_name=_text(data, "FriendlyName"),
        call_sid=_sid(data, "CallSid", "CA", required=event.startswith("participant-")),
        participant_label=label.lower() if label else None,
        hold=_bool(data, "Hold"),
        sequence_number=_int(data, "SequenceNumber", INT64_MAX),
        timestamp=parse_time_ms(_text(data, "Timestamp")),
        participant_call_status=_text(data, "ParticipantCallStatus"),
    )


def parse_call_status_form(form: Mapping[str, Any]) -> CallStatusEvent:
    """Parse a call status callback (`CallSid`, `CallStatus`, `Timestamp`, `Direction`, `To`,
    `From`)."""
    data = _normalized(form)
    call_sid = _required_sid(data, "CallSid", "CA")
    status = _text(data, "CallStatus")
    if status is None or status not in CALL_STATUSES:
        raise MalformedEvent("missing or unknown CallStatus")
    return CallStatusEvent(
        call_sid=call_sid,
        call_status=status,
        timestamp=parse_time_ms(_text(data, "Timestamp")),
        direction=_text(data, "Direction"),
        to=_text(data, "To"),
        from_=_text(data, "From"),
    )


def parse_recording_status_form(form: Mapping[str, Any]) -> RecordingStatusEvent:
    """Parse a recording status callback (`RecordingSid`, `RecordingStatus`, start time, ...)."""
    data = _normalized(form)
    recording_sid = _required_sid(data, "RecordingSid", "RE")
    status = _text(data, "RecordingStatus")
    if status is None or status not in RECORDING_STATUSES:
        raise MalformedEvent("missing or unknown RecordingStatus")
    error_code = _int(data, "ErrorCode")
    return RecordingStatusEvent(
        recording_sid=recording_sid,
        call_sid=_sid(data, "CallSid", "CA"),
        status=status,
        url=_text(data, "RecordingUrl"),
        channels=_int(data, "RecordingChannels"),
        start_time_ms=parse_time_ms(_text(data, "RecordingStartTime")),
        duration_s=_int(data, "RecordingDuration"),
        error_code=error_code or None,  # Twilio sends ErrorCode=0 on success
        track=_text(data, "RecordingTrack"),
        source=_text(data, "RecordingSource"),
        conference_sid=_sid(data, "ConferenceSid", "CF"),
    )
