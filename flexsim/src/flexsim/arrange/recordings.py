"""Arranging conferences and recordings: running ones, and completed ones holding a client's
own media (a WAV or MP3 it made), served by the media routes exactly as given."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Literal

from flexsim.arrange.base import ArrangeBase, ArrangeError, conference_info, recording_info
from flexsim.views import ConferenceInfo, RecordingInfo
from flexsim.world import Call, Conference, GivenMedia, Recording, Task

END_STATUSES = ("completed", "absent", "failed", "processing")
# The leg a completed recording is put on when the caller names none.
ARRANGED_FROM, ARRANGED_TO = "+15005550006", "+15005550001"


class RecordingArrange(ArrangeBase):
    """Conferences and recordings in the world (see `flexsim.arrange.Arrange`)."""

    def conference(
        self,
        task_sid: str,
        participants: dict[str, str | None],
        *,
        status_callback: str | None = None,
        record_channels: int = 0,
    ) -> ConferenceInfo:
        """The task's conference (FriendlyName = the task SID, as Flex names it) with these
        in-progress legs joined in order (call SID -> label or None); `record_channels` 1 or 2
        records it from the start as Flex's Call Recording does."""
        if record_channels not in (0, 1, 2):
            raise ArrangeError("record_channels is 0 (off), 1 or 2")
        world = self.world
        with world.lock:
            task: Task = self._get(world.tasks, task_sid, "task")
            calls = [self._get(world.calls, sid, "call") for sid in participants]
            if any(c.status != "in-progress" for c in calls):
                raise ArrangeError("participants must be in-progress calls")
            conference = world.create_conference(task, status_callback, record_channels)
            for call in calls:
                world.join_conference(conference, call, participants[call.sid])
            return conference_info(conference)

    def recording(
        self,
        call_sid: str,
        *,
        channels: int = 2,
        source: str = "StartCallRecordingAPI",
        status_callback: str | None = None,
        status_callback_events: list[str] | None = None,
        origin: Literal["api", "account"] = "account",
    ) -> RecordingInfo:
        """A recording running on an in-progress call (as a Studio flow or another tool made
        it: origin "account"; "api" to have interference treat it as a client's)."""
        if channels not in (1, 2):
            raise ArrangeError("channels is 1 or 2")
        world = self.world
        with world.lock:
            call: Call = self._get(world.calls, call_sid, "call")
            if call.status != "in-progress":
                raise ArrangeError(f"call {call_sid} is {call.status}, not in-progress")
            recording = world.start_recording(
                call,
                channels=channels,
                source=source,
                status_callback=status_callback,
                status_callback_events=tuple(status_callback_events or ["completed"]),
                origin=origin,
            )
            return recording_info(world, recording)

    def completed_recording(
        self,
        media: bytes | str,
        *,
        call_sid: str | None = None,
        conference_sid: str | None = None,
        channels: int | None = None,
        duration_s: float | None = None,
        start_time: float | str | datetime | None = None,
        source: str = "StartCallRecordingAPI",
        status_callback: str | None = None,
        media_format: Literal["wav", "mp3"] | None = None,
    ) -> RecordingInfo:
        """A recording that ran and completed, whose media is `media` (WAV or MP3 bytes, or
        base64 text), served as given by `.wav`/`.mp3` (converted when the other format or a
        mono mix is asked for).

        `call_sid`: an arranged leg (default: a new completed inbound leg); `conference_sid`:
        an arranged conference it recorded (its first participant's leg unless `call_sid`).
        `channels` and `duration_s` are what the resource says, read from the media unless
        given (give both, and `media_format`, for bytes that are no sound file). `start_time`:
        epoch seconds, ISO-8601 or a datetime (default: it ended now).
        """
        data = _media_bytes(media)
        given = _given_media(data, channels, duration_s, media_format)
        seconds = float(duration_s) if duration_s is not None else given[1]
        if seconds < 0:
            raise ArrangeError("duration_s must not be negative")
        world = self.world
        with world.lock:
            conference: Conference | None = None
            if conference_sid is not None:
                conference = self._get(world.conferences, conference_sid, "conference")
            call = self._recorded_call(call_sid, conference)
            started = _epoch(start_time, world.clock.now() - seconds)
            recording = world.add_completed_recording(
                call,
                given[0],
                channels=channels or given[0].channels,
                start_time=started,
                duration_s=seconds,
                source=source,
                conference_sid=conference_sid,
                status_callback=status_callback,
            )
            return recording_info(world, recording)

    def end_recording(
        self, recording_sid: str, status: str = "completed", error_code: int | None = None
    ) -> RecordingInfo:
        """End a running recording now as Twilio would: `completed` (media from the call's
        talk), `absent` (nothing stored; 16102 unless `error_code`), `failed` (not stored;
        16105), or `processing` (ended, media not ready: its `.wav` answers 404)."""
        if status not in END_STATUSES:
            raise ArrangeError(f"status must be one of {END_STATUSES}")
        world = self.world
        with world.lock:
            recording: Recording = self._get(world.recordings, recording_sid, "recording")
            if recording.status not in ("in-progress", "paused"):
                raise ArrangeError(f"recording {recording_sid} is {recording.status}, not running")
            if status == "processing":
                world.stop_for_processing(recording)
            elif status == "completed":
                world.finish_recording(recording, "stopped")
            else:
                code = error_code or (16102 if status == "absent" else 16105)
                world.finish_recording(recording, "stopped", no_media=(status, code))  # type: ignore[arg-type]
            return recording_info(world, recording)

    def delete_recording(self, recording_sid: str) -> RecordingInfo:
        """Delete a recording behind the clients' backs (the console, another API client):
        fetches and media answer 404 from now on (a running one is stopped first)."""
        world = self.world
        with world.lock:
            recording: Recording = self._get(world.recordings, recording_sid, "recording")
            world.delete_recording(recording)
            return recording_info(world, recording)

    def _recorded_call(self, call_sid: str | None, conference: Conference | None) -> Call:
        world = self.world
        if call_sid is not None:
            call: Call = self._get(world.calls, call_sid, "call")
            return call
        if conference is not None and conference.participants:
            return world.calls[next(iter(conference.participants))]
        call = world.create_call(
            from_=ARRANGED_FROM, to=ARRANGED_TO, direction="inbound", party="customer"
        )
        for step in ("ringing", "in-progress", "completed"):
            world.set_call_status(call, step)
        return call


def _media_bytes(media: bytes | str) -> bytes:
    if isinstance(media, bytes):
        data = media
    else:  # base64, as the HTTP control API carries it
        try:
            data = base64.b64decode(media, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ArrangeError("media must be bytes or base64 text") from exc
    if not data:
        raise ArrangeError("media is empty")
    return data


def _given_media(
    data: bytes,
    channels: int | None,
    duration_s: float | None,
    media_format: Literal["wav", "mp3"] | None,
) -> tuple[GivenMedia, float]:
    """The media as the world keeps it, and its length in whole seconds (as Twilio reports)."""
    if channels not in (None, 1, 2):
        raise ArrangeError("channels is 1 or 2")
    if media_format not in (None, "wav", "mp3"):
        raise ArrangeError('media_format is "wav" or "mp3"')
    # Imported here: reading a sound file needs libsndfile, which only media arrangements use.
    from flexsim.media import inspect_media

    facts = inspect_media(data)
    if facts is None:
        if channels is None or duration_s is None:
            raise ArrangeError(
                "media is not a WAV or MP3 file libsndfile can read: give channels and "
                "duration_s (and media_format) to serve it as it is"
            )
        return GivenMedia(data, media_format or "wav", channels), float(duration_s)
    if media_format is not None and media_format != facts.fmt:
        raise ArrangeError(f"media is {facts.fmt}, not {media_format}")
    media = GivenMedia(data, facts.fmt, facts.channels, facts.sample_rate_hz)
    return media, float(round(facts.duration_s))


def _epoch(value: float | str | datetime | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ArrangeError("start_time needs a time zone")
        return value.timestamp()
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ArrangeError("start_time: epoch seconds or ISO-8601 with a zone") from exc
        return _epoch(parsed, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ArrangeError("start_time: epoch seconds or ISO-8601 with a zone")
    return float(value)
