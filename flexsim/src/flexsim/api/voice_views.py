"""Voice API (2010-04-01) resources as Twilio writes them: calls, recordings, conferences."""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal, TypeVar

from flexsim.api.formats import API_VERSION, rfc2822, v2010_page
from flexsim.api.params import Params
from flexsim.errors import invalid_parameter
from flexsim.world import Call, Conference, Participant, Recording, World

T = TypeVar("T")
DATE_CREATED_FILTERS = ("DateCreated", "DateCreated<", "DateCreated>")

_PARTICIPANT_STATUS = {"completed": "complete"}  # the world says completed, Twilio complete


def v2010_list(
    query: Params,
    key: str,
    items: Sequence[T],
    view: Callable[[T], dict[str, Any]],
    path: str,
    filter_names: Iterable[str],
) -> dict[str, Any]:
    """The requested page of `items` (filtered, in the list's order) in the Voice API's list
    envelope, its page links keeping the filters the request gave."""
    page = query.page()
    chunk, more = page.slice(items)
    filters = query.filters(filter_names)
    return v2010_page(key, [view(item) for item in chunk], path, filters, page, more)


RecordingUpdate = tuple[str, Literal["skip", "silence"]]


def recording_update(form: Params) -> RecordingUpdate:
    """A call or conference recording update's Status (required) and PauseBehavior."""
    status = form.enum("Status", {"paused", "in-progress", "stopped"})
    if status is None:
        raise invalid_parameter("Status", "required: paused, in-progress or stopped")
    skip = form.enum("PauseBehavior", {"skip", "silence"}, "silence") == "skip"
    return status, "skip" if skip else "silence"


def apply_recording_update(world: World, recording: Recording, update: RecordingUpdate) -> None:
    """Pause, resume or stop a running recording."""
    status, behavior = update
    if status == "paused":
        world.pause_recording(recording, behavior)
    elif status == "in-progress":
        world.resume_recording(recording)
    else:
        world.finish_recording(recording, "stopped")


def account_path(account_sid: str) -> str:
    """`/2010-04-01/Accounts/{AC}`."""
    return f"/{API_VERSION}/Accounts/{account_sid}"


def call_view(call: Call, account_sid: str) -> dict[str, Any]:
    """A Call resource."""
    base = f"{account_path(account_sid)}/Calls/{call.sid}"
    duration: str | None = None
    if call.end_time is not None:
        duration = str(int(call.end_time - call.start_time)) if call.start_time else "0"
    return {
        "sid": call.sid,
        "date_created": rfc2822(call.date_created),
        "date_updated": rfc2822(call.date_updated),
        "parent_call_sid": call.parent_call_sid,
        "account_sid": account_sid,
        "to": call.to,
        "to_formatted": call.to,
        "from": call.from_,
        "from_formatted": call.from_,
        "phone_number_sid": None,
        # `initiated` is a callback's moment, not a resource status (OAI `call_enum_status`)
        "status": "queued" if call.status == "initiated" else call.status,
        "start_time": rfc2822(call.start_time),
        "end_time": rfc2822(call.end_time),
        "duration": duration,
        "price": None,
        "price_unit": "USD",
        "direction": call.direction,
        "answered_by": None,
        "api_version": API_VERSION,
        "forwarded_from": None,
        "group_sid": None,
        "caller_name": None,
        "queue_time": "0",
        "trunk_sid": None,
        "uri": f"{base}.json",
        "subresource_uris": {
            "recordings": f"{base}/Recordings.json",
            "notifications": f"{base}/Notifications.json",
            "events": f"{base}/Events.json",
            "streams": f"{base}/Streams.json",
            "siprec": f"{base}/Siprec.json",
            "payments": f"{base}/Payments.json",
        },
    }


def rest_status(recording: Recording) -> str:
    """The status the REST resource shows. A `failed` recording (status callback
    `RecordingStatus=failed`, Twilio support "Getting Started with Recording Status Callbacks")
    shows `absent` with its error code (16105 "Recording was not stored"): the resource's
    status enum (OAI `call_recording_enum_status`, `recording_enum_status`) has no `failed`."""
    return "absent" if recording.status == "failed" else recording.status


def _recording_duration(recording: Recording) -> str:
    # Twilio reports -1 until the recording has ended.
    duration = recording.duration_s
    return "-1" if duration is None else str(duration)


def call_recording_view(recording: Recording, account_sid: str) -> dict[str, Any]:
    """A Call Recording resource (`/Calls/{CA}/Recordings/{RE}`)."""
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": recording.conference_sid,
        "date_created": rfc2822(recording.date_created),
        "date_updated": rfc2822(recording.date_updated),
        "start_time": rfc2822(recording.start_time),
        "duration": _recording_duration(recording),
        "sid": recording.sid,
        "price": None,
        "uri": (
            f"{account_path(account_sid)}/Calls/{recording.call_sid}/Recordings/"
            f"{recording.sid}.json"
        ),
        "encryption_details": None,
        "price_unit": "USD",
        "status": rest_status(recording),
        "channels": recording.channels,
        "source": recording.source,
        "error_code": recording.error_code,
        "track": recording.track,
    }


def conference_recording_view(recording: Recording, account_sid: str) -> dict[str, Any]:
    """A Conference Recording resource (`/Conferences/{CF}/Recordings/{RE}`; no `track`)."""
    view = call_recording_view(recording, account_sid)
    del view["track"]
    view["uri"] = (
        f"{account_path(account_sid)}/Conferences/{recording.conference_sid}/Recordings/"
        f"{recording.sid}.json"
    )
    return view


def recording_view(recording: Recording, account_sid: str, api_host: str) -> dict[str, Any]:
    """An account-level Recording resource (adds `media_url`, `subresource_uris`, `deleted`)."""
    base = f"{account_path(account_sid)}/Recordings/{recording.sid}"
    return {
        "account_sid": account_sid,
        "api_version": API_VERSION,
        "call_sid": recording.call_sid,
        "conference_sid": recording.conference_sid,
        "date_created": rfc2822(recording.date_created),
        "date_updated": rfc2822(recording.date_updated),
        "start_time": rfc2822(recording.start_time),
        "duration": _recording_duration(recording),
        "sid": recording.sid,
        "price": None,
        "price_unit": "USD",
        "status": "deleted" if recording.deleted else rest_status(recording),
        "channels": recording.channels,
        "source": recording.source,
        "error_code": recording.error_code,
        "uri": f"{base}.json",
        "encryption_details": None,
        "subresource_uris": {
            "add_on_results": f"{base}/AddOnResults.json",
            "transcriptions": f"{base}/Transcriptions.json",
        },
        "media_url": f"{api_host}{base}",
    }


def conference_view(conference: Conference, account_sid: str) -> dict[str, Any]:
    """A Conference resource."""
    base = f"{account_path(account_sid)}/Conferences/{conference.sid}"
    return {
        "account_sid": account_sid,
        "date_created": rfc2822(conference.date_created),
        "date_updated": rfc2822(conference.date_updated),
        "api_version": API_VERSION,
        "friendly_name": conference.friendly_name,
        "region": "us1",
        "sid": conference.sid,
        "status": conference.status,
        "uri": f"{base}.json",
        "subresource_uris": {
            "participants": f"{base}/Participants.json",
            "recordings": f"{base}/Recordings.json",
        },
        "reason_conference_ended": conference.reason_ended,
        "call_sid_ending_conference": conference.call_sid_ending,
    }


def participant_view(
    participant: Participant, conference_sid: str, account_sid: str
) -> dict[str, Any]:
    """A conference Participant resource."""
    return {
        "account_sid": account_sid,
        "call_sid": participant.call_sid,
        "label": participant.label,
        "call_sid_to_coach": None,
        "coaching": participant.coaching,
        "conference_sid": conference_sid,
        "date_created": rfc2822(participant.date_created),
        "date_updated": rfc2822(participant.date_updated),
        "end_conference_on_exit": participant.end_conference_on_exit,
        "muted": participant.muted,
        "hold": participant.hold,
        "start_conference_on_enter": participant.start_conference_on_enter,
        "status": _PARTICIPANT_STATUS.get(participant.status, participant.status),
        "queue_time": "0",
        "uri": (
            f"{account_path(account_sid)}/Conferences/{conference_sid}/Participants/"
            f"{participant.call_sid}.json"
        ),
    }


_DATE_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d")


def parse_date_filter(name: str, value: str) -> tuple[float, bool]:
    """A date filter value as epoch seconds, and whether it named a whole day."""
    for fmt in _DATE_FORMATS:
        try:
            parsed = time.strptime(value, fmt)
        except ValueError:
            continue
        return float(calendar.timegm(parsed)), fmt == "%Y-%m-%d"
    raise invalid_parameter(name, "must be a date YYYY-MM-DD or an ISO 8601 date-time")


class DateFilter:
    """Twilio's `Name`, `Name<` and `Name>` filters (on the day, on or before, on or after)."""

    def __init__(self, name: str, values: dict[str, str | None]) -> None:
        self.low: float | None = None
        self.high: float | None = None
        exact = values.get(name)
        if exact is not None:
            # "Created on this date": the whole UTC day, even when the SDK sends a date-time.
            start, _ = parse_date_filter(name, exact)
            day = start - start % 86400
            self.low, self.high = day, day + 86400
        before = values.get(name + "<")
        if before is not None:
            start, whole_day = parse_date_filter(name + "<", before)
            self.high = start + 86400 if whole_day else start + 1
        after = values.get(name + ">")
        if after is not None:
            self.low, _ = parse_date_filter(name + ">", after)

    @classmethod
    def from_params(cls, name: str, get: Callable[[str], str | None]) -> DateFilter:
        """The filter on `name` from a parameter lookup such as `req.query.get`."""
        return cls(name, {key: get(key) for key in (name, name + "<", name + ">")})

    @property
    def active(self) -> bool:
        """Whether any bound was given."""
        return self.low is not None or self.high is not None

    def accepts(self, epoch: float | None) -> bool:
        """Whether a timestamp falls within the bounds."""
        if not self.active:
            return True
        if epoch is None:
            return False
        if self.low is not None and epoch < self.low:
            return False
        return not (self.high is not None and epoch >= self.high)
