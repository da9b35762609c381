"""Admin read API: recordings and tasks with filters, for dashboards and scripts.

Protected by the admin bearer token (`FLEXREC_ADMIN_TOKEN`) or a supervisor/admin Flex token.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from flexrec.bounds import MAX_OFFSET, OutOfRange, utc_moment
from flexrec.server.auth import admin_caller
from flexrec.server.deps import fail, get_services, jsonable
from flexrec.twilio.flex_tokens import TokenInfo
from flexrec.web.responses import ADMIN

router = APIRouter(prefix="/api/admin", tags=["admin"])
Admin = Annotated[TokenInfo, Depends(admin_caller)]


def _filters(
    status: Annotated[str | None, Query(description="recording/task status")] = None,
    direction: Annotated[Literal["inbound", "outbound"] | None, Query()] = None,
    queue: Annotated[str | None, Query(description="task queue name or SID")] = None,
    since: Annotated[datetime | None, Query(description="ISO 8601, inclusive")] = None,
    until: Annotated[datetime | None, Query(description="ISO 8601, exclusive")] = None,
    task_sid: Annotated[str | None, Query(pattern=r"^WT[0-9a-f]{32}$")] = None,
    call_sid: Annotated[str | None, Query(pattern=r"^CA[0-9a-f]{32}$")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    given: dict[str, Any] = {
        "status": status, "direction": direction, "queue": queue, "since": since,
        "until": until, "task_sid": task_sid, "call_sid": call_sid,
    }  # fmt: skip
    for key in ("since", "until"):
        moment = given[key]
        if isinstance(moment, datetime):
            try:
                given[key] = utc_moment(moment)  # naive times are read as UTC
            except OutOfRange:
                fail(400, "bad_time", f"{key!r} is out of range")
    if given["since"] and given["until"] and given["since"] >= given["until"]:
        fail(400, "bad_range", "'since' must be before 'until'")
    filters: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
    filters.update(limit=limit, offset=offset)
    return filters


Filters = Annotated[dict[str, Any], Depends(_filters)]


def _page(items: list[Any], filters: dict[str, Any]) -> JSONResponse:
    return JSONResponse(
        {"items": jsonable(items), "limit": filters["limit"], "offset": filters["offset"]}
    )


@router.get("/recordings", summary="Recordings, newest first", responses=ADMIN)
def list_recordings(request: Request, _admin: Admin, filters: Filters) -> JSONResponse:
    """Recordings known to flexrec, filtered and paged, with their retention date and hold."""
    services = get_services(request)
    items = jsonable(services.recording.list_recordings(**filters))
    archive = services.archive
    if archive is not None and items:
        from flexrec.archive.holds import retention_facts

        known = retention_facts(archive.sessions, [i["sid"] for i in items if "sid" in i])
        for item in items:
            facts = known.get(item.get("sid", ""))
            public = facts.public() if facts else {}
            item["retain_until"] = public.get("retain_until")
            item["legal_hold"] = public.get("legal_hold", False)
    return _page(items, filters)


@router.get("/tasks", summary="Voice tasks, newest first", responses=ADMIN)
def list_tasks(request: Request, _admin: Admin, filters: Filters) -> JSONResponse:
    """Voice tasks seen by flexrec with their recording link, filtered and paged."""
    return _page(get_services(request).recording.list_tasks(**filters), filters)
