"""Who may hear an archived recording, and the media entry Flex Insights follows to it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select

from flexrec.archive.deps import ArchiveDeps, as_utc
from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.models import DONE_STATES


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

    def may_access(
        self, recording_sid: str, worker_sid: str | None, identity: str, roles: Sequence[str]
    ) -> bool:
        """Supervisors and admins see every recording; an agent only calls they handled.

        "Handled" includes transfers: an agent who accepted a reservation of any task the
        recording is linked to (the recording service's `reservations` table) may listen too.
        """
        if {"supervisor", "admin"} & set(roles):
            return True
        row = self.deps.get(recording_sid)
        if row is None:
            return False
        if worker_sid and row.worker_sid == worker_sid:
            return True
        if identity and row.agent_identity == identity:
            return True
        if not worker_sid or not row.task_sids:
            return False
        from flexrec.db.models import ReservationRecord

        with self.deps.sessions() as session:
            handled = session.scalars(
                select(ReservationRecord.sid)
                .where(
                    ReservationRecord.task_sid.in_(list(row.task_sids)),
                    ReservationRecord.worker_sid == worker_sid,
                    ReservationRecord.accepted_ms.is_not(None),
                )
                .limit(1)
            ).first()
        return handled is not None
