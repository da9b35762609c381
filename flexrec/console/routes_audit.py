"""The console's audit page (supervisors and admins): filter by user, recording, action and
time, page through, export CSV. The export is itself audited."""

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from flexrec.archive.audit_actions import UnknownAuditAction
from flexrec.bounds import MAX_OFFSET, OutOfRange, utc_moment
from flexrec.console import audit_log
from flexrec.console.auth import Principal
from flexrec.console.context import ConsoleContext
from flexrec.server.responses import CONSOLE


def audit_filters(
    user: Annotated[str | None, Query(max_length=255)] = None,
    recording: Annotated[str | None, Query(pattern=r"^RE[0-9a-f]{32}$")] = None,
    action: Annotated[str | None, Query(max_length=32)] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive (UTC)")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive (UTC)")] = None,
    limit: Annotated[int, Query(ge=1, le=audit_log.MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> audit_log.AuditFilters:
    """The audit filters of a request (shared by the console and the admin API)."""
    try:  # naive times are UTC; a naive and an aware time cannot even be compared
        since = utc_moment(since) if since is not None else None
        until = utc_moment(until) if until is not None else None
    except OutOfRange as exc:
        raise HTTPException(400, str(exc)) from None
    if since is not None and until is not None and since >= until:
        raise HTTPException(400, "'since' must be before 'until'")
    return audit_log.AuditFilters(
        user=user or None,
        recording_sid=recording,
        action=action or None,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )


Filters = Annotated[audit_log.AuditFilters, Depends(audit_filters)]


def add_audit_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """`GET /audit` (page), `GET /api/audit` (JSON), `GET /api/audit.csv`."""
    Maybe = Annotated[Principal | None, Depends(ctx.optional_principal)]
    Api = Annotated[Principal, Depends(ctx.api_principal)]

    def auditor(principal: Principal) -> Principal:
        if not principal.sees_everything:
            raise HTTPException(403, "the audit log is for supervisors and admins")
        return principal

    @router.get("/audit", response_class=HTMLResponse, include_in_schema=False)
    def audit_page(request: Request, principal: Maybe) -> Response:
        if principal is None:
            return ctx.login_redirect(request)
        if not principal.sees_everything:
            return ctx.error_page(principal, 403, "The audit log is for supervisors and admins.")
        return ctx.page("audit.html", "Audit log", principal, script="audit.js")

    @router.get("/api/audit", responses=CONSOLE)
    def audit_entries(principal: Api, filters: Filters) -> dict[str, Any]:
        """Audit entries, newest first, filtered and paged."""
        auditor(principal)
        with ctx.db() as session:
            try:
                rows, total = audit_log.search(session, filters)
            except UnknownAuditAction as exc:
                raise HTTPException(400, str(exc)) from None
            return {
                "items": [audit_log.public(r) for r in rows],
                "total": total,
                "limit": filters.limit,
                "offset": filters.offset,
                "actions": audit_log.actions_in_use(session),
            }

    @router.get("/api/audit.csv", responses=CONSOLE)
    def audit_csv(request: Request, principal: Api, filters: Filters) -> Response:
        """The filtered entries as a CSV file (up to 100,000; export long periods in parts)."""
        auditor(principal)
        try:
            body = audit_log.export_csv(
                ctx.deps.sessions,
                filters,
                principal.username,
                via="console",
                ip=request.client.host if request.client else None,
                worker_sid=principal.worker_sid,
            )
        except UnknownAuditAction as exc:
            raise HTTPException(400, str(exc)) from None
        return Response(
            body,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="flexrec-audit.csv"'},
        )
