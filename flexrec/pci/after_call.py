"""What the agent's Flex plugin shows after a call: whether card data was spoken while the call
was recorded, when, and that it was silenced. The agent learns it minutes after the call, not
weeks later in a coaching session.

`status` says what the plugin should do next:
- `off`: this service does not check recordings for card data (nothing will come);
- `none`: the task has no recording;
- `pending`: not archived and checked yet (ask again in a few seconds);
- `failed`: archiving the recording failed (nothing was checked; an operator sees why);
- `checked`: `card_data` lists the readings, each with its span in the call and its time of
  day (an empty list: none found).

Built from the card-data stage's rows only: kinds and times, never a digit.
"""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from flexrec.archive.models import ArchivedRecording
from flexrec.pci.findings import describe, group_findings
from flexrec.pci.models import CardDetection, Transcript

COACHING = "Pause the recording before the customer reads card details."


def after_call_notice(
    session: Session, recording_sid: str | None, *, checking: bool
) -> dict[str, Any]:
    """The notice for the task's recording `recording_sid` (`checking`: the stage runs here)."""
    notice: dict[str, Any] = {"recording_sid": recording_sid, "card_data": []}
    if not checking:
        return {**notice, "status": "off"}
    if recording_sid is None:
        return {**notice, "status": "none"}
    rec = session.scalars(
        select(ArchivedRecording).where(ArchivedRecording.recording_sid == recording_sid)
    ).one_or_none()
    checked = session.scalar(select(Transcript.id).where(Transcript.recording_sid == recording_sid))
    if checked is None:
        failed = rec is not None and rec.state == "failed"
        return {**notice, "status": "failed" if failed else "pending"}
    detections = session.scalars(
        select(CardDetection)
        .where(CardDetection.recording_sid == recording_sid)
        .order_by(CardDetection.start_ms, CardDetection.id)
    ).all()
    started = rec.recording_started_at if rec is not None else None
    readings = []
    for finding in group_findings(detections):
        at = None
        if started is not None:
            moment = started.astimezone(UTC) + timedelta(milliseconds=finding.start_ms)
            at = moment.isoformat().replace("+00:00", "Z")
        readings.append(
            {
                "start_ms": finding.start_ms,
                "end_ms": finding.end_ms,
                "kinds": list(finding.kinds),
                "at": at,
                "text": describe(finding, None),
            }
        )
    return {
        **notice,
        "status": "checked",
        "card_data": readings,
        "advice": COACHING if readings else None,
    }
