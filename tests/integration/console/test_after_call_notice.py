"""The agent's after-call notice (flexrec.pci.after_call) over the sandbox's calls: what the
plugin is told while the archive works, once it has checked, and never a digit."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, select

from flexrec.app.sandbox import Sandbox
from flexrec.archive.models import ArchivedRecording
from flexrec.pci.after_call import after_call_notice
from flexrec.pci.models import Transcript


def test_the_notice_says_pending_then_each_reading_with_its_time_of_day(sandbox: Sandbox) -> None:
    call = sandbox.calls[5]  # bob's: a card number and its code read at 20-26 s, silenced
    clean = next(c for c in sandbox.calls if not c.silenced_ms)
    with sandbox.sessions() as session:
        assert after_call_notice(session, call.recording_sid, checking=False)["status"] == "off"
        assert after_call_notice(session, None, checking=True)["status"] == "none"
        notice = after_call_notice(session, call.recording_sid, checking=True)
        assert notice["status"] == "checked"
        (reading,) = notice["card_data"]
        assert reading["text"] == "Card number spoken while recording, 00:20\u201300:26, silenced"
        assert reading["kinds"] == ["card_number", "security_code"]
        rec = session.scalars(
            select(ArchivedRecording).where(ArchivedRecording.recording_sid == call.recording_sid)
        ).one()
        started = rec.recording_started_at
        assert started is not None
        expected = started + timedelta(milliseconds=reading["start_ms"])
        assert reading["at"] == expected.isoformat().replace("+00:00", "Z")
        assert notice["advice"].startswith("Pause the recording")
        # Times, kinds and words only: nothing else travels to the agent's browser.
        assert set(reading) == {"start_ms", "end_ms", "kinds", "at", "text"}
        # A call with nothing found: checked, no reading, no advice.
        plain = after_call_notice(session, clean.recording_sid, checking=True)
        assert (plain["status"], plain["card_data"], plain["advice"]) == ("checked", [], None)
        # Before the stage has run: pending; if archiving failed: failed.
        session.execute(delete(Transcript).where(Transcript.recording_sid == clean.recording_sid))
        assert after_call_notice(session, clean.recording_sid, checking=True)["status"] == "pending"
        session.execute(
            ArchivedRecording.__table__.update()
            .where(ArchivedRecording.recording_sid == clean.recording_sid)
            .values(state="failed")
        )
        assert after_call_notice(session, clean.recording_sid, checking=True)["status"] == "failed"
