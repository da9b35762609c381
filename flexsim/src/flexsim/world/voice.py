"""Voice transitions: call legs, conferences and their participants (recordings: `recordings`).

Call status machine:        queued → (initiated) → ringing → in-progress → completed
                                                 ↘ busy | no-answer | failed | canceled
"""

from __future__ import annotations

from typing import Literal

from flexsim.world.recordings import RecordingWorld
from flexsim.world.resources import (
    TERMINAL_CALL_STATUSES,
    Call,
    Conference,
    Participant,
    Party,
    Recording,
    Task,
)


class VoiceWorld(RecordingWorld):
    """What Programmable Voice does to calls, recordings and conferences."""

    # -- calls ------------------------------------------------------------------------------
    def create_call(
        self,
        *,
        from_: str,
        to: str,
        direction: str,
        party: Party,
        interaction_id: str | None = None,
        parent_call_sid: str | None = None,
        worker_sid: str | None = None,
        status_callback: str | None = None,
        status_callback_method: str = "POST",
        status_callback_statuses: frozenset[str] | None = None,
    ) -> Call:
        """Create a call leg in status `queued`."""
        with self.lock:
            now = self.clock.now()
            call = Call(
                sid=self.sids.new("CA"),
                from_=from_,
                to=to,
                direction=direction,
                party=party,
                interaction_id=interaction_id,
                parent_call_sid=parent_call_sid,
                worker_sid=worker_sid,
                status_callback=status_callback,
                status_callback_method=status_callback_method,
                status_callback_statuses=status_callback_statuses,
                date_created=now,
                date_updated=now,
                ordinal=len(self.calls),
            )
            self.calls[call.sid] = call
            return call

    def set_call_status(self, call: Call, status: str) -> None:
        """Move a leg to `status`; ending a leg ends its recordings and leaves its conference."""
        with self.lock:
            if call.status in TERMINAL_CALL_STATUSES or call.status == status:
                return
            now = self.clock.now()
            call.status = status
            call.date_updated = now
            if status == "in-progress":
                call.start_time = now
            if status in TERMINAL_CALL_STATUSES:
                call.end_time = now
                for rec_sid in call.recordings:
                    recording = self.recordings[rec_sid]
                    # a conference recording lasts as long as its conference, not the leg
                    if recording.status in ("in-progress", "paused") and not (
                        recording.conference_sid
                    ):
                        self.finish_recording(recording, "call-ended")
                if call.conference_sid:
                    self.leave_conference(
                        self.conferences[call.conference_sid], call, "participant_hung_up"
                    )
            self.emit("call-status", status, call=call)

    # -- conferences ------------------------------------------------------------------------
    def create_conference(
        self, task: Task, status_callback: str | None, record_channels: int = 0
    ) -> Conference:
        """Create the Flex conference of a task (FriendlyName = the task SID, as Flex names it:
        flex-project-template `common/twilio-wrappers/conference-participant.private.js`
        `fetchByTask` lists a task's conferences by `friendlyName: taskSid`)."""
        with self.lock:
            now = self.clock.now()
            conference = Conference(
                self.sids.new("CF"),
                friendly_name=task.sid,
                status_callback=status_callback,
                date_created=now,
                date_updated=now,
                record_channels=record_channels,
            )
            self.conferences[conference.sid] = conference
            return conference

    def join_conference(self, conference: Conference, call: Call, label: str | None) -> Participant:
        """Add a connected leg to a conference (starting the conference on the first join)."""
        with self.lock:
            now = self.clock.now()
            participant = Participant(call.sid, label, date_created=now, date_updated=now)
            conference.participants[call.sid] = participant
            call.conference_sid = conference.sid
            if conference.status == "init":
                conference.status = "in-progress"
                conference.date_updated = now
                self.emit("conference", "conference-start", conference=conference)
                if conference.record_channels:
                    self._start_conference_recording(conference, call)
            self.emit(
                "conference", "participant-join", conference=conference, participant=participant
            )
            return participant

    def _start_conference_recording(self, conference: Conference, first: Call) -> None:
        """Flex's "Call Recording": the conference is recorded from its start (conference
        options `conferenceRecord`, flex-project-template conditional-recording); channel 1 is
        the first participant to join (Twilio changelog 2025-09-15). Its status callbacks go to
        Flex, never to a client's URL."""
        now = self.clock.now()
        recording = Recording(
            sid=self.sids.new("RE"),
            call_sid=first.sid,
            channels=conference.record_channels,
            track="both",
            source="Conference",
            start_time=now,
            conference_sid=conference.sid,
            date_created=now,
            date_updated=now,
        )
        self.recordings[recording.sid] = recording
        first.recordings.append(recording.sid)
        conference.recording_sid = recording.sid

    def _end_conference_recording(self, conference: Conference) -> None:
        recording = self.recordings.get(conference.recording_sid or "")
        if recording is not None:
            self.finish_recording(recording, "conference-ended")

    def leave_conference(self, conference: Conference, call: Call, reason: str) -> None:
        """Remove a leg; the conference ends when nobody is left."""
        with self.lock:
            participant = conference.participants.get(call.sid)
            if participant is None or participant.status != "connected":
                return
            now = self.clock.now()
            participant.status = "completed"
            participant.date_updated = now
            self.emit(
                "conference",
                "participant-leave",
                conference=conference,
                participant=participant,
                reason=reason,
                call_status=call.status,
            )
            if not any(p.status == "connected" for p in conference.participants.values()):
                conference.status = "completed"
                conference.date_updated = now
                conference.reason_ended = "last-participant-left"
                conference.call_sid_ending = call.sid
                self._end_conference_recording(conference)
                self.emit("conference", "conference-end", conference=conference)

    def set_hold(self, conference: Conference, call_sid: str, hold: bool) -> None:
        """Hold or unhold a participant."""
        self._set_participant_flag(conference, call_sid, "hold", hold, "participant-hold",
                                   "participant-unhold")  # fmt: skip

    def set_muted(self, conference: Conference, call_sid: str, muted: bool) -> None:
        """Mute or unmute a participant."""
        self._set_participant_flag(conference, call_sid, "muted", muted, "participant-mute",
                                   "participant-unmute")  # fmt: skip

    def _set_participant_flag(
        self,
        conference: Conference,
        call_sid: str,
        flag: Literal["hold", "muted"],
        value: bool,
        on_event: str,
        off_event: str,
    ) -> None:
        with self.lock:
            participant = conference.participants[call_sid]
            if getattr(participant, flag) == value:
                return
            setattr(participant, flag, value)
            participant.date_updated = self.clock.now()
            self.emit(
                "conference",
                on_event if value else off_event,
                conference=conference,
                participant=participant,
            )

    def end_conference(self, conference: Conference) -> None:
        """End a conference over the API: everyone leaves, then every leg hangs up."""
        with self.lock:
            if conference.status == "completed":
                return
            now = self.clock.now()
            connected = [p for p in conference.participants.values() if p.status == "connected"]
            for participant in connected:
                participant.status = "completed"
                participant.date_updated = now
                self.emit(
                    "conference",
                    "participant-leave",
                    conference=conference,
                    participant=participant,
                    reason="conference_ended_via_api",
                    call_status=self.calls[participant.call_sid].status,
                )
            conference.status = "completed"
            conference.date_updated = now
            conference.reason_ended = "conference-ended-via-api"
            self._end_conference_recording(conference)
            self.emit("conference", "conference-end", conference=conference)
            for participant in connected:
                self.set_call_status(self.calls[participant.call_sid], "completed")
