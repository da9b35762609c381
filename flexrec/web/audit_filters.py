"""The audit log's filters as query parameters, shared by the console's audit page and the admin
API (`GET /api/admin/audit`), so both read one set of names and bounds."""

from datetime import datetime
from typing import Annotated

from fastapi import HTTPException, Query

from flexrec.archive import audit_log
from flexrec.bounds import MAX_OFFSET, OutOfRange, utc_moment


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
