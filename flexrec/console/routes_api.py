"""The console's API under `/api`: who am I, recordings list, one call, waveform, media links."""

import zlib
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from flexrec.accounts.principal import Principal
from flexrec.archive.errors import ArchiveError, RecordingNotArchived
from flexrec.archive.holds import MAX_REASON, HoldError, NotHeld, place_hold, release_hold
from flexrec.archive.models import ArchivedRecording, RecordingAnalysis
from flexrec.archive.pauses import recording_pause_gaps
from flexrec.archive.waveform import MEDIA_TYPE as WAVEFORM_TYPE
from flexrec.bounds import INT32_MAX, MAX_DATE, MAX_PAGE
from flexrec.console import queries
from flexrec.console.audit import record_media_access
from flexrec.console.call_timeline import call_timeline
from flexrec.console.card_marks import pauses_outside_card_data
from flexrec.console.context import ConsoleContext
from flexrec.web.responses import CONSOLE, documented


class HoldBody(BaseModel):
    """Why a recording is held, or why its hold ends."""

    reason: str = Field("", max_length=MAX_REASON)


class MediaUrlRequest(BaseModel):
    """Body of a media link request."""

    purpose: Literal["play", "download"] = "play"


# Finite and inside the columns' types: anything else is no real filter (it used to be a 500).
Measure = Annotated[float | None, Query(ge=0, allow_inf_nan=False)]
Percent = Annotated[float | None, Query(ge=0, le=100, allow_inf_nan=False)]
Count = Annotated[int | None, Query(ge=0, le=INT32_MAX)]
ONE_RECORDING = {**CONSOLE, **documented(404)}


def add_api_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """`GET /api/me`, `GET /api/recordings[/{RE}[/waveform]]`, `POST .../{RE}/media-url`."""
    Api = Annotated[Principal, Depends(ctx.api_principal)]
    Csrf = Annotated[Principal, Depends(ctx.csrf_principal)]

    def visible(
        session: Session, principal: Principal, recording_sid: str, request: Request | None = None
    ) -> tuple[ArchivedRecording, RecordingAnalysis | None]:
        try:
            return queries.get_visible_recording(session, principal, ctx.check_sid(recording_sid))
        except queries.RecordingNotFound:
            raise HTTPException(404, "no such recording") from None
        except queries.RecordingForbidden:
            ctx.audit_refusal(request, principal, recording_sid)
            raise HTTPException(403, "this call was taken by another agent") from None

    @router.get("/api/me", responses=CONSOLE)
    def me(principal: Api) -> dict[str, Any]:
        """Who is signed in."""
        return {"user": principal.public()}

    @router.get("/api/recordings", responses=CONSOLE)
    def list_recordings(
        principal: Api,
        q: Annotated[str | None, Query(max_length=200)] = None,
        date_from: Annotated[date | None, Query(le=MAX_DATE)] = None,
        date_to: Annotated[date | None, Query(le=MAX_DATE)] = None,
        agent: Annotated[str | None, Query(max_length=200)] = None,
        queue: Annotated[str | None, Query(max_length=200)] = None,
        direction: Annotated[str | None, Query(pattern="^(inbound|outbound)$")] = None,
        min_duration_s: Measure = None,
        max_duration_s: Measure = None,
        min_talk_ratio: Measure = None,
        max_talk_ratio: Measure = None,
        min_silence_pct: Percent = None,
        max_silence_pct: Percent = None,
        min_cross_talk_pct: Percent = None,
        max_cross_talk_pct: Percent = None,
        min_interruptions: Count = None,
        max_interruptions: Count = None,
        sort: Annotated[str, Query(max_length=40)] = "-started_at",
        page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
        page_size: Annotated[int, Query(ge=1, le=queries.MAX_PAGE_SIZE)] = 25,
    ) -> dict[str, Any]:
        """Recordings the user may see, filtered, sorted and paged in SQL."""
        filters = queries.RecordingFilters(
            q=q or None,
            date_from=date_from,
            date_to=date_to,
            agent=agent or None,
            queue=queue or None,
            direction=direction,
            min_duration_s=min_duration_s,
            max_duration_s=max_duration_s,
            min_talk_ratio=min_talk_ratio,
            max_talk_ratio=max_talk_ratio,
            min_silence_pct=min_silence_pct,
            max_silence_pct=max_silence_pct,
            min_cross_talk_pct=min_cross_talk_pct,
            max_cross_talk_pct=max_cross_talk_pct,
            min_interruptions=min_interruptions,
            max_interruptions=max_interruptions,
            sort=sort,
            page=page,
            page_size=page_size,
        )
        with ctx.db() as session:
            try:
                result = queries.list_recordings(session, principal, filters)
            except ValueError as exc:
                raise HTTPException(400, str(exc)) from None
        return {
            "items": result.items,
            "total": result.total,
            "page": result.page,
            "page_size": result.page_size,
            "sort_keys": list(queries.SORT_KEYS),
        }

    @router.get("/api/recordings/{recording_sid}", responses=ONE_RECORDING)
    def recording_detail(recording_sid: str, principal: Api, request: Request) -> dict[str, Any]:
        """One call: metadata, channel roles, metrics, speech segments and pause gaps."""
        with ctx.db() as session:
            rec, ana = visible(session, principal, recording_sid, request)
            gaps = recording_pause_gaps(session, rec, ctx.deps.pause_behavior, ana)
            gaps = pauses_outside_card_data(session, rec, gaps)  # silenced is not paused
            return {
                **queries.summary(rec, ana),
                "channels": queries.channel_roles(rec),
                **call_timeline(session, rec),
                "channel_labels": rec.channel_labels,
                "metrics": queries.analysis_metrics(ana),
                "segments": queries.speech_segments(ana),
                "pauses": [
                    {"start_ms": g.start_ms, "end_ms": g.end_ms, "paused_ms": g.paused_ms}
                    for g in gaps
                ],
                "pause_behavior": ctx.deps.pause_behavior,
                "may_hold": principal.sees_everything,
                **(queries.hold_details(rec) if principal.sees_everything else {}),
            }

    @router.get(
        "/api/recordings/{recording_sid}/waveform",
        response_class=Response,
        responses={
            200: {
                "description": "The stored waveform (flexrec.archive.waveform): a header, then "
                "per channel one uint8 peak per 20 ms bucket (version 2) or an int8 max/min "
                "pair (version 1, older analyses); deflate-encoded when the client accepts it.",
                "content": {WAVEFORM_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            },
            **ONE_RECORDING,
        },
    )
    def recording_waveform(recording_sid: str, principal: Api, request: Request) -> Response:
        """The waveform as the archive stores it, for the player to draw (binary, ~10 KB)."""
        with ctx.db() as session:
            rec, ana = visible(session, principal, recording_sid, request)
            blob = ana.waveform if ana is not None else None
        source = ctx.deps.waveform_source
        if not blob and source is not None:
            # The archive computes it on first use and keeps it with the analysis.
            try:
                blob = source.waveform(rec.recording_sid)
            except ArchiveError:
                raise HTTPException(404, "the recording is not in the archive") from None
        if not blob:
            raise HTTPException(404, "no waveform for this recording yet")
        headers = {"Cache-Control": "private, max-age=3600", "Vary": "Accept-Encoding"}
        if accepts_deflate(request.headers.get("accept-encoding", "")):
            # Stored zlib-compressed, which is HTTP's `deflate`: sent as it is, inflated by
            # the browser.
            return Response(blob, media_type=WAVEFORM_TYPE, headers={
                **headers, "Content-Encoding": "deflate"})  # fmt: skip
        return Response(zlib.decompress(blob), media_type=WAVEFORM_TYPE, headers=headers)

    @router.put("/api/recordings/{recording_sid}/legal-hold", responses=ONE_RECORDING)
    def hold(
        recording_sid: str, body: HoldBody, request: Request, principal: Csrf
    ) -> dict[str, Any]:
        """Put the recording on legal hold (supervisors and admins); audited."""
        return change_hold(recording_sid, body, request, principal, release=False)

    @router.delete(
        "/api/recordings/{recording_sid}/legal-hold", responses={**ONE_RECORDING, **documented(409)}
    )
    def release(
        recording_sid: str, request: Request, principal: Csrf, body: HoldBody | None = None
    ) -> dict[str, Any]:
        """Release the recording's legal hold (supervisors and admins); audited."""
        return change_hold(recording_sid, body or HoldBody(), request, principal, release=True)

    def change_hold(
        recording_sid: str, body: HoldBody, request: Request, principal: Principal, release: bool
    ) -> dict[str, Any]:
        if not principal.sees_everything:
            raise HTTPException(403, "only supervisors and admins can change legal holds")
        ctx.check_sid(recording_sid)
        change = release_hold if release else place_hold
        try:
            facts = change(
                ctx.deps.sessions,
                recording_sid,
                principal.username,
                body.reason,
                ip=request.client.host if request.client else None,
            )
        except RecordingNotArchived:
            raise HTTPException(404, "no such recording") from None
        except NotHeld as exc:
            raise HTTPException(409, str(exc)) from None
        except HoldError as exc:
            raise HTTPException(400, str(exc)) from None
        return facts.public()

    @router.post(
        "/api/recordings/{recording_sid}/media-url", responses={**ONE_RECORDING, **documented(409)}
    )
    def media_url(
        recording_sid: str, body: MediaUrlRequest, request: Request, principal: Csrf
    ) -> dict[str, Any]:
        """A short-lived signed media URL for `purpose` play|download; audited."""
        purpose = body.purpose
        with ctx.db() as session:
            rec, _ana = visible(session, principal, recording_sid, request)
            if not queries.is_playable(rec):
                raise HTTPException(409, "the media is not in the archive (yet or any more)")
            url = ctx.deps.media_links.url(
                ctx.deps.media_base_url, rec.recording_sid, purpose, principal.username
            )
            record_media_access(
                session,
                principal,
                rec.recording_sid,
                purpose,
                ip=request.client.host if request.client else None,
                detail={"user_agent": request.headers.get("user-agent", "")[:200]},
            )
        return {"url": url, "purpose": purpose}


def accepts_deflate(accept_encoding: str) -> bool:
    """Whether an `Accept-Encoding` header allows `deflate` (named, or `*`, with q > 0)."""
    allowed: dict[str, bool] = {}
    for item in accept_encoding.lower().split(","):
        name, _, params = item.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        allowed[name.strip()] = q > 0
    return allowed.get("deflate", allowed.get("*", False))
