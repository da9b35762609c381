"""The console's coverage page (supervisors and admins): every call leg Twilio has on a day,
recorded or why not, as `flexrec coverage` reports it."""

from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, Response

from flexrec.accounts.principal import Principal
from flexrec.bounds import MAX_DATE
from flexrec.console.context import ConsoleContext
from flexrec.coverage.period import Period
from flexrec.twilio.errors import GatewayError, twilio_problem
from flexrec.web.responses import documented

COVERAGE = documented(401, 403, 503)


def add_coverage_routes(router: APIRouter, ctx: ConsoleContext) -> None:
    """`GET /coverage` (page) and `GET /api/coverage?day=YYYY-MM-DD` (the day's report)."""
    Maybe = Annotated[Principal | None, Depends(ctx.optional_principal)]
    Api = Annotated[Principal, Depends(ctx.api_principal)]

    @router.get("/coverage", response_class=HTMLResponse, include_in_schema=False)
    def coverage_page(request: Request, principal: Maybe) -> Response:
        if principal is None:
            return ctx.login_redirect(request)
        if not principal.sees_everything:
            return ctx.error_page(principal, 403, "Coverage is for supervisors and admins.")
        return ctx.page("coverage.html", "Coverage", principal, script="coverage.js")

    @router.get("/api/coverage", responses=COVERAGE)
    def coverage_report(
        principal: Api,
        day: Annotated[date | None, Query(description="UTC day (default: today)")] = None,
    ) -> dict[str, Any]:
        """Every call leg Twilio has on the day with its outcome, and the summary."""
        if not principal.sees_everything:
            raise HTTPException(403, "coverage is for supervisors and admins")
        source = ctx.deps.coverage
        if source is None:
            raise HTTPException(503, "coverage needs the service's Twilio account")
        day = day or datetime.now(UTC).date()
        if day > MAX_DATE:
            raise HTTPException(400, "day is out of range")
        try:
            return source.report(Period.day(day)).as_json()
        except GatewayError as exc:
            raise HTTPException(503, twilio_problem(exc.status, str(exc))) from None
