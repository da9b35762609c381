"""Admin API for compliance: legal holds and each recording's retention date.

`PUT /api/admin/recordings/{RE}/legal-hold` (body `{"reason": ...}`) holds a recording,
`DELETE` releases it, `GET /api/admin/legal-holds` lists the holds in force and
`GET /api/admin/recordings/{RE}/retention` says until when it is kept; `GET /api/admin/audit`
reads the audit log (`format=csv` for a file). Same callers as the rest
of the admin API (admin token, or a supervisor/admin Flex token); every change is audited.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from flexrec.archive import audit_log
from flexrec.archive.audit_actions import UnknownAuditAction
from flexrec.archive.audit_log import AuditFilters
from flexrec.archive.errors import RecordingNotArchived
from flexrec.archive.holds import (
    MAX_REASON,
    HoldError,
    NotHeld,
    list_holds,
    place_hold,
    release_hold,
    retention_facts,
)
from flexrec.server.auth import admin_caller
from flexrec.server.deps import fail, get_services
from flexrec.twilio.flex_tokens import TokenInfo
from flexrec.web.audit_filters import audit_filters
from flexrec.web.responses import ADMIN, documented

router = APIRouter(prefix="/api/admin", tags=["admin"])
Admin = Annotated[TokenInfo, Depends(admin_caller)]
RecordingSid = Annotated[str, Path(pattern=r"^RE[0-9a-f]{32}$")]


class HoldRequest(BaseModel):
    """Why the recording is held (a case or matter reference)."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class ReleaseRequest(BaseModel):
    """Why the hold is released (required, as for a hold)."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)


def _sessions(request: Request) -> Any:
    archive = get_services(request).archive
    if archive is None:
        fail(503, "archive_unavailable", "the archive is not configured in this process")
    return archive.sessions


def _ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def _not_archived(recording_sid: str) -> None:
    fail(
        404,
        "not_archived",
        f"{recording_sid} is not in the archive (a recording can be held once it completed)",
    )


@router.put(
    "/recordings/{recording_sid}/legal-hold",
    summary="Put a recording on legal hold",
    responses={**ADMIN, **documented(404)},
)
def put_legal_hold(
    request: Request, admin: Admin, recording_sid: RecordingSid, body: HoldRequest
) -> dict[str, Any]:
    """Hold the recording: neither retention nor the Twilio clean-up deletes it."""
    try:
        facts = place_hold(
            _sessions(request), recording_sid, admin.identity, body.reason, ip=_ip(request)
        )
    except RecordingNotArchived:
        _not_archived(recording_sid)
    except HoldError as exc:
        fail(400, "bad_hold", str(exc))
    return facts.public()


@router.delete(
    "/recordings/{recording_sid}/legal-hold",
    summary="Release a legal hold",
    responses={**ADMIN, **documented(404, 409)},
)
def delete_legal_hold(
    request: Request,
    admin: Admin,
    recording_sid: RecordingSid,
    body: Annotated[ReleaseRequest | None, Body()] = None,
    reason: Annotated[
        str | None,
        Query(max_length=MAX_REASON, description="Why (for clients that send no DELETE body)"),
    ] = None,
) -> dict[str, Any]:
    """Release the hold, saying why (`{"reason": …}`, or `?reason=`); retention applies again
    from its next sweep. 409 `not_held` when the recording is not on hold (nothing changed)."""
    why = body.reason if body is not None else reason or ""
    try:
        facts = release_hold(
            _sessions(request), recording_sid, admin.identity, why, ip=_ip(request)
        )
    except RecordingNotArchived:
        _not_archived(recording_sid)
    except NotHeld as exc:
        fail(409, "not_held", str(exc))
    except HoldError as exc:
        fail(400, "bad_hold", str(exc))
    return facts.public()


@router.get("/legal-holds", summary="Recordings on legal hold", responses=ADMIN)
def get_legal_holds(request: Request, _admin: Admin) -> dict[str, Any]:
    """Every hold in force, with who set it, when and why."""
    return {"items": [f.public() for f in list_holds(_sessions(request))]}


@router.get("/audit", summary="The audit log, newest first", responses=ADMIN)
def get_audit(
    request: Request,
    admin: Admin,
    filters: Annotated[AuditFilters, Depends(audit_filters)],
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> Any:
    """Who did what to which recording: filter by user, recording, action and time (400 with
    the valid names for an unknown `action`). A CSV export is itself audited."""
    sessions = _sessions(request)
    try:
        if format == "csv":
            body = audit_log.export_csv(
                sessions, filters, admin.identity, via="admin_api", ip=_ip(request)
            )
            return Response(
                body,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="flexrec-audit.csv"'},
            )
        with sessions() as session:
            rows, total = audit_log.search(session, filters)
            items = [audit_log.public(r) for r in rows]
    except UnknownAuditAction as exc:
        fail(400, "unknown_action", str(exc))
    return {"items": items, "total": total, "limit": filters.limit, "offset": filters.offset}


@router.get(
    "/recordings/{recording_sid}/retention",
    summary="A recording's retention date",
    responses={**ADMIN, **documented(404)},
)
def get_retention(request: Request, _admin: Admin, recording_sid: RecordingSid) -> dict[str, Any]:
    """Until when the archived media is kept, and whether a legal hold keeps it longer."""
    facts = retention_facts(_sessions(request), [recording_sid]).get(recording_sid)
    if facts is None:
        _not_archived(recording_sid)
    assert facts is not None  # noqa: S101 - _not_archived raised
    return facts.public()
