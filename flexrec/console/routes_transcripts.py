"""The console's transcripts: one call's words beside its player, search across calls, and the
card data silenced in recordings (for the supervisor who coaches the agent).

Transcripts are redacted before they are stored (flexrec.pci): no route here can show a card
digit. Who may read a transcript or see a call's card data is who may hear the recording
(flexrec.archive.visibility): supervisors and admins every call, an agent their own.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from flexrec.accounts.principal import Principal
from flexrec.archive.models import ArchivedRecording
from flexrec.bounds import MAX_PAGE
from flexrec.console import queries
from flexrec.console.card_marks import card_data_calls, transcript_view
from flexrec.console.context import ConsoleContext
from flexrec.pci.search import search_transcripts
from flexrec.web.responses import CONSOLE, documented

ONE_RECORDING = {**CONSOLE, **documented(404)}
SEARCH_HITS = 50
CARD_DATA_PAGE = 25


def add_transcript_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """Pages `/search`, `/card-data`; JSON `/api/recordings/{RE}/transcript`,
    `/api/transcripts/search`, `/api/card-data`."""
    Maybe = Annotated[Principal | None, Depends(ctx.optional_principal)]
    Api = Annotated[Principal, Depends(ctx.api_principal)]

    @router.get("/search", response_class=HTMLResponse, include_in_schema=False)
    def search_page(request: Request, principal: Maybe) -> Response:
        if principal is None:
            return ctx.login_redirect(request)
        return ctx.page("search.html", "What was said", principal, script="search.js")

    @router.get("/card-data", response_class=HTMLResponse, include_in_schema=False)
    def card_data_page(request: Request, principal: Maybe) -> Response:
        if principal is None:
            return ctx.login_redirect(request)
        return ctx.page("card_data.html", "Card data silenced", principal, script="card-data.js")

    @router.get("/api/recordings/{recording_sid}/transcript", responses=ONE_RECORDING)
    def transcript(recording_sid: str, principal: Api, request: Request) -> dict[str, Any]:
        """Words per channel (`[word, start_ms, end_ms]`), the card data silenced in the call
        (one mark per reading, with the agent on the call then), and the silenced spans."""
        with ctx.db() as session:
            try:
                rec, _ana = queries.get_visible_recording(
                    session, principal, ctx.check_sid(recording_sid)
                )
            except queries.RecordingNotFound:
                raise HTTPException(404, "no such recording") from None
            except queries.RecordingForbidden:
                ctx.audit_refusal(request, principal, recording_sid)
                raise HTTPException(403, "this call was taken by another agent") from None
            return transcript_view(session, rec)

    @router.get("/api/transcripts/search", responses=CONSOLE)
    def search(
        principal: Api, q: Annotated[str, Query(min_length=1, max_length=200)]
    ) -> dict[str, Any]:
        """Calls whose transcript has every word of `q`, newest first (only calls the caller
        may hear), each with an excerpt and the moment to play from."""
        with ctx.db() as session:
            hits = search_transcripts(
                session, q, SEARCH_HITS, visible=queries.visibility_clause(principal)
            )
            rows = {
                rec.recording_sid: rec
                for rec in session.scalars(
                    select(ArchivedRecording).where(
                        ArchivedRecording.recording_sid.in_({h.recording_sid for h in hits})
                    )
                )
            }
            out = []
            for hit in hits:
                rec = rows[hit.recording_sid]
                roles = queries.channel_roles(rec)
                summary = queries.summary(rec, None)
                out.append(
                    {
                        "recording_sid": hit.recording_sid,
                        "channel": hit.channel,
                        "role": roles[hit.channel - 1] if hit.channel <= len(roles) else None,
                        "excerpt": hit.excerpt,
                        "at_ms": hit.at_ms,
                        **{
                            key: summary.get(key)
                            for key in ("started_at", "agent", "queue", "direction")
                        },
                    }
                )
            return {"query": q, "hits": out, "limit": SEARCH_HITS}

    @router.get("/api/card-data", responses=CONSOLE)
    def card_data(
        principal: Api, page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1
    ) -> dict[str, Any]:
        """Calls where card data was spoken while recording and silenced, newest first, with
        their marks; supervisors and admins see every call (and the count per agent), an agent
        their own."""
        with ctx.db() as session:
            found = card_data_calls(
                session,
                queries.visibility_clause(principal),
                limit=CARD_DATA_PAGE,
                offset=(page - 1) * CARD_DATA_PAGE,
            )
        return {
            "calls": found.calls,
            "total": found.total,
            "page": page,
            "page_size": CARD_DATA_PAGE,
            "per_agent": found.per_agent if principal.sees_everything else [],
            "per_agent_of_latest": found.summary_calls,
        }
