"""Who may hear an archived recording, and the media entry Flex Insights follows to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flexrec.archive.deps import ArchiveDeps, as_utc
from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.models import DONE_STATES
from flexrec.archive.visibility import may_hear


class Access:
    """Answers "may this person hear it?" and builds the Insights link to the archive."""

    def __init__(self, deps: ArchiveDeps) -> None:
        self.deps = deps

    def attribute_entry(self, recording_sid: str, public_url: str) -> dict[str, Any]:
        """The task's `conversations.media` VoiceRecording entry pointing at the archive.

        `url_provider` makes Insights ask flexrec for a short-lived signed link (Flex token
        checked); `url` names the same media for tools that only read `url`.
        """
        row = self.deps.get(recording_sid)
        if row is None or row.state not in DONE_STATES:
            raise RecordingNotArchived(recording_sid)
        base = public_url.rstrip("/")
        started = as_utc(row.recording_started_at) or as_utc(row.created_at)
        assert started is not None  # noqa: S101 - created_at is always set
        entry: dict[str, Any] = {
            "type": "VoiceRecording",
            "url": f"{base}/media/recordings/{recording_sid}.wav",
            "url_provider": f"{base}/insights/recordings/{recording_sid}/url",
            "start_time": int(started.timestamp() * 1000),
            "channels": list(row.channel_labels or ("customer", "others")),
        }
        return entry

    def may_access(self, recording_sid: str, worker_sid: str | None, roles: Sequence[str]) -> bool:
        """Whether this caller may hear the recording: the one rule in
        flexrec.archive.visibility, shared with the console."""
        with self.deps.sessions() as session:
            return may_hear(session, recording_sid, worker_sid, roles)
