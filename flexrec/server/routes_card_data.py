"""Agent API: the after-call card-data notice for a task (flexrec.pci.after_call).

Who may ask is who may see the task's recording state (the recording service's rule: the
worker who held the task, or a supervisor) and, once the recording is archived, who may hear it
(flexrec.archive.visibility). The answer holds spans and kinds, never a digit.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from flexrec.archive.models import ArchivedRecording
from flexrec.archive.visibility import may_hear
from flexrec.pci.after_call import after_call_notice
from flexrec.recording.errors import Forbidden, NotFound, RecordingError
from flexrec.server.deps import fail, get_services
from flexrec.server.routes_agent import Caller, TaskSid, make_actor
from flexrec.twilio.flex_tokens import TokenInfo

router = APIRouter(prefix="/api/agent", tags=["agent"])


def _notice(request: Request, task_sid: str, caller: TokenInfo) -> dict[str, Any]:
    services = get_services(request)
    try:
        state = services.recording.pauses.state(task_sid, make_actor(caller), catch_up=False)
    except Forbidden as exc:
        fail(403, "forbidden", str(exc) or "not your task")
    except NotFound as exc:
        fail(404, "not_found", str(exc) or "unknown task")
    except RecordingError as exc:
        fail(503, "unavailable", str(exc) or "try again", {"Retry-After": "5"})
    archive, sessions = services.archive, services.sessions
    if sessions is None:
        fail(503, "unavailable", "this service keeps no archive", {"Retry-After": "5"})
    recording_sid = state.recording_sid
    with sessions() as session:
        archived = recording_sid is not None and session.scalar(
            select(ArchivedRecording.id).where(ArchivedRecording.recording_sid == recording_sid)
        )
        # Once archived, the archive's one access rule applies as to any other way of hearing it.
        if archived and not may_hear(session, str(recording_sid), caller.worker_sid, caller.roles):
            fail(403, "forbidden", "not a recording you may hear")
        checking = archive is not None and archive.deps.redactor is not None
        body = after_call_notice(session, recording_sid, checking=checking)
    return {"task_sid": task_sid, **body}


@router.get(
    "/tasks/{task_sid}/card-data",
    summary="After the call: card data spoken while recording, and silenced",
    responses={
        400: {"description": "Malformed task SID"},
        401: {"description": "Missing, invalid or expired Flex token"},
        403: {"description": "Not the task's worker nor a supervisor"},
        404: {"description": "Unknown task"},
    },
)
async def get_card_data(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """`status` (off, none, pending: ask again, failed, checked) and, once checked, each reading
    of card data with its span in the call (`start_ms`, `end_ms`), kinds, time of day and the
    sentence the plugin shows; never a digit."""
    body = await run_in_threadpool(_notice, request, task_sid, caller)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})
