"""Recording transitions: what Programmable Voice does to a call's or conference's recording.

Recording status machine:   in-progress ⇄ paused → stopped → completed | absent | failed
                            (processing: ended, media not ready yet; arranged by tests)
"""

from __future__ import annotations

from typing import Literal

from flexsim.world.core import WorldState
from flexsim.world.resources import (
    Call,
    EndReason,
    GivenMedia,
    PauseSpan,
    Recording,
)


class RecordingWorld(WorldState):
    """Recordings: started on a leg, paused and resumed, finished, deleted."""

    def start_recording(
        self,
        call: Call,
        *,
        channels: int = 1,
        track: str = "both",
        source: str = "StartCallRecordingAPI",
        trim: str = "do-not-trim",
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_events: tuple[str, ...] = ("completed",),
        origin: Literal["api", "account"] = "account",
    ) -> Recording:
        """Start a recording on an in-progress leg (callers check the status: 21220); `origin`
        "api" for one a client asked for over REST."""
        with self.lock:
            now = self.clock.now()
            recording = Recording(
                sid=self.sids.new("RE"),
                call_sid=call.sid,
                channels=channels,
                track=track,
                source=source,
                start_time=now,
                trim=trim,
                status_callback=status_callback,
                status_callback_method=status_callback_method,
                status_callback_events=status_callback_events,
                date_created=now,
                date_updated=now,
                origin=origin,
            )
            self.recordings[recording.sid] = recording
            call.recordings.append(recording.sid)
            self.emit("recording-status", "in-progress", recording=recording, call=call)
            return recording

    def add_completed_recording(
        self,
        call: Call,
        media: GivenMedia,
        *,
        channels: int,
        start_time: float,
        duration_s: float,
        source: str = "StartCallRecordingAPI",
        conference_sid: str | None = None,
        status_callback: str | None = None,
    ) -> Recording:
        """A recording of `call` that ran from `start_time` for `duration_s` and completed,
        holding `media` (as if it had been recorded; `completed` is reported); `channels` is
        what the resource says (the media's own, unless a test wants them to disagree)."""
        with self.lock:
            end = start_time + duration_s
            recording = Recording(
                sid=self.sids.new("RE"),
                call_sid=call.sid,
                channels=channels,
                track="both",
                source=source,
                start_time=start_time,
                conference_sid=conference_sid,
                status="completed",
                status_callback=status_callback,
                end_time=end,
                date_created=start_time,
                date_updated=end,
                end_reason="stopped",
                media=media,
            )
            self.recordings[recording.sid] = recording
            call.recordings.append(recording.sid)
            self.emit("recording-status", "completed", recording=recording, call=call)
            return recording

    def pause_recording(self, recording: Recording, behavior: Literal["skip", "silence"]) -> None:
        """Pause an in-progress recording (a no-op when already paused)."""
        with self.lock:
            if recording.status != "in-progress":
                return
            now = self.clock.now()
            recording.status = "paused"
            recording.pauses.append(PauseSpan(now, None, behavior))
            recording.date_updated = now

    def resume_recording(self, recording: Recording) -> None:
        """Resume a paused recording (a no-op when not paused)."""
        with self.lock:
            if recording.status != "paused":
                return
            now = self.clock.now()
            recording.status = "in-progress"
            recording.pauses[-1].end = now
            recording.date_updated = now

    def finish_recording(
        self,
        recording: Recording,
        reason: EndReason = "stopped",
        *,
        no_media: tuple[Literal["absent", "failed"], int] | None = None,
    ) -> None:
        """Stop a recording and complete it (or mark it absent when it holds no audio);
        `no_media` forces an outcome without media: (status, error code)."""
        with self.lock:
            if not self._end_now(recording, reason):
                return
            if no_media is not None:
                recording.status, recording.error_code = no_media
            elif (recording.duration_s or 0) < 1:
                recording.status = "absent"
                recording.error_code = 16101  # too short
            else:
                recording.status = "completed"
            call = self.calls[recording.call_sid]
            self.emit("recording-status", recording.status, recording=recording, call=call)

    def stop_for_processing(self, recording: Recording) -> None:
        """End a recording whose media Twilio is still processing: status `processing`, no
        media yet (Twilio reports no callback for it)."""
        with self.lock:
            if self._end_now(recording, "stopped"):
                recording.status = "processing"

    def _end_now(self, recording: Recording, reason: EndReason) -> bool:
        """Close a running recording's span (and its open pause) now; False if not running."""
        if recording.status not in ("in-progress", "paused"):
            return False
        now = self.clock.now()
        if recording.pauses and recording.pauses[-1].end is None:
            recording.pauses[-1].end = now
        recording.end_time = now
        recording.date_updated = now
        recording.end_reason = reason
        return True

    def delete_recording(self, recording: Recording) -> None:
        """Delete a recording (stopping it first when it is still running)."""
        with self.lock:
            self.finish_recording(recording, "deleted")
            recording.deleted = True
            recording.date_updated = self.clock.now()
