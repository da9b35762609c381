"""The console's transcripts: one call's words beside its player, search across calls, and the
card data silenced in recordings (for the supervisor who coaches the agent).

Transcripts are redacted before they are stored (flexrec.pci): no route here can show a card
digit. Who may read a transcript is who may hear the recording (flexrec.archive.visibility).
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query
from sqlalchemy import select

from flexrec.accounts.principal import Principal
from flexrec.archive.models import ArchivedRecording
from flexrec.console import queries
from flexrec.console.context import ConsoleContext
from flexrec.pci.models import CardDetection, Transcript
from flexrec.pci.search import search_transcripts
from flexrec.web.responses import CONSOLE, documented

ONE_RECORDING = {**CONSOLE, **documented(404)}


def add_transcript_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """`GET /api/recordings/{RE}/transcript`, `/api/transcripts/search`, `/api/card-data`."""
    Api = Annotated[Principal, Depends(ctx.api_principal)]

    @router.get("/api/recordings/{recording_sid}/transcript", responses=ONE_RECORDING)
    def transcript(recording_sid: str, principal: Api) -> dict[str, Any]:
        """Words per channel (ms) and the card data silenced, for the player's side panel."""
        with ctx.db() as session:
            try:
                queries.get_visible_recording(session, principal, ctx.check_sid(recording_sid))
            except queries.RecordingNotFound:
                raise HTTPException(404, "no such recording") from None
            except queries.RecordingForbidden:
                raise HTTPException(403, "this call was taken by another agent") from None
            row = session.scalars(
                select(Transcript).where(Transcript.recording_sid == recording_sid)
            ).one_or_none()
            found = session.scalars(
                select(CardDetection).where(CardDetection.recording_sid == recording_sid)
            ).all()
            return {
                "recording_sid": recording_sid,
                "engine": row.engine if row else None,
                "channels": {
                    channel: [{"word": w, "start_ms": a, "end_ms": b} for w, a, b in words]
                    for channel, words in (row.words if row else {}).items()
                },
                "card_data": [_detection(d) for d in found],
            }

    @router.get("/api/transcripts/search", responses=CONSOLE)
    def search(
        principal: Api, q: Annotated[str, Query(min_length=1, max_length=200)]
    ) -> dict[str, Any]:
        """Calls whose transcript has every word of `q` (the caller may hear each one)."""
        with ctx.db() as session:
            hits = []
            for hit in search_transcripts(session, q, limit=200):
                if not principal.sees_everything:
                    try:
                        queries.get_visible_recording(session, principal, hit.recording_sid)
                    except (queries.RecordingNotFound, queries.RecordingForbidden):
                        continue
                hits.append(
                    {
                        "recording_sid": hit.recording_sid,
                        "channel": hit.channel,
                        "excerpt": hit.excerpt,
                    }
                )
            return {"query": q, "hits": hits[:50]}

    @router.get("/api/card-data", responses={**CONSOLE, **documented(403)})
    def card_data(principal: Api) -> dict[str, Any]:
        """Card data spoken while recording and silenced, newest first (supervisors, admins)."""
        if not principal.sees_everything:
            raise HTTPException(403, "supervisors and admins only")
        with ctx.db() as session:
            rows = session.execute(
                select(CardDetection, ArchivedRecording)
                .join(
                    ArchivedRecording,
                    ArchivedRecording.recording_sid == CardDetection.recording_sid,
                    isouter=True,
                )
                .order_by(CardDetection.silenced_at.desc(), CardDetection.start_ms)
                .limit(500)
            ).all()
            return {
                "detections": [
                    {
                        **_detection(found),
                        "recording_sid": found.recording_sid,
                        "agent": rec.agent_identity if rec else None,
                        "worker_sid": rec.worker_sid if rec else None,
                        "silenced_at": found.silenced_at.isoformat(),
                    }
                    for found, rec in rows
                ]
            }


def _detection(found: CardDetection) -> dict[str, Any]:
    return {
        "kind": found.kind,
        "channel": found.channel,
        "start_ms": found.start_ms,
        "end_ms": found.end_ms,
        "rule": found.rule,
        "silenced": True,
    }
