"""The console's audit page (supervisors and admins): filter by user, recording, action and
time, page through, export CSV. The export is itself audited."""

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from flexrec.accounts.principal import Principal
from flexrec.archive import audit_log
from flexrec.archive.audit_actions import UnknownAuditAction
from flexrec.console.context import ConsoleContext
from flexrec.web.audit_filters import audit_filters
from flexrec.web.responses import CONSOLE

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
