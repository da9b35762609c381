"""Agent API for a Flex plugin or an embedding CRM: see, pause and resume a task's recording.

Authorisation is the recording service's job (the worker holding the task, or a supervisor);
this layer only proves who the caller is and maps the service's errors to HTTP statuses.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse

from flexrec.recording.errors import (
    Forbidden,
    InvalidState,
    NotFound,
    RecordingError,
    Unavailable,
)
from flexrec.recording.service import Actor
from flexrec.server.auth import flex_caller
from flexrec.server.deps import fail, get_services, jsonable
from flexrec.server.logging_setup import bound_sids, get_logger
from flexrec.twilio.flex_tokens import TokenInfo

log = get_logger(__name__)
router = APIRouter(prefix="/api/agent", tags=["agent"])

_TASK_SID = re.compile(r"^WT[0-9a-f]{32}$")
TaskSid = Annotated[str, Path(description="TaskRouter task SID (WT…)")]


def checked_task_sid(task_sid: TaskSid) -> str:
    """The path's task SID, or 400: checked before the token, which may cost a Twilio call."""
    if not _TASK_SID.match(task_sid):
        fail(400, "bad_task_sid", "the task SID must be 'WT' followed by 32 hex digits")
    return task_sid


async def task_caller(
    request: Request, _task_sid: Annotated[str, Depends(checked_task_sid)]
) -> TokenInfo:
    """Dependency: the Flex token's holder, asked only once the task SID is well formed."""
    return await flex_caller(request)


Caller = Annotated[TokenInfo, Depends(task_caller)]

_ERRORS: dict[type[RecordingError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Forbidden: (403, "forbidden"),
    InvalidState: (409, "invalid_state"),
    Unavailable: (503, "twilio_unavailable"),
}
# A 503 tells the plugin the refusal is temporary and when to try again.
_RETRY_AFTER = {"Retry-After": "5"}


def make_actor(info: TokenInfo) -> Actor:
    """The recording service's `Actor` for a validated Flex token."""
    return Actor(identity=info.identity, worker_sid=info.worker_sid, roles=info.roles)


def _run(
    request: Request, task_sid: str, caller: TokenInfo, action: str,
    call: Callable[[str, Any], Any],
) -> JSONResponse:  # fmt: skip
    with bound_sids(task_sid=task_sid, worker_sid=caller.worker_sid):
        try:
            state = call(task_sid, make_actor(caller))
        except RecordingError as exc:
            status, code = next(
                (v for k, v in _ERRORS.items() if isinstance(exc, k)), (500, "recording_error")
            )
            log.info("agent_request_refused", action=action, status=status, reason=str(exc))
            fail(status, code, str(exc) or code, _RETRY_AFTER if status == 503 else None)
        log.info("agent_request_done", action=action, identity=caller.identity)
    return JSONResponse(jsonable(state))


@router.get("/tasks/{task_sid}/recording", summary="The task's recording state")
def get_recording(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """The recording state of a task the caller may see."""
    return _run(request, task_sid, caller, "state", get_services(request).recording.state)


@router.post("/tasks/{task_sid}/recording", summary="The task's recording state (token in body)")
def post_recording(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """Same as GET, for plugins that send the Flex token as a `Token` body field."""
    return _run(request, task_sid, caller, "state", get_services(request).recording.state)


@router.post("/tasks/{task_sid}/recording/pause", summary="Pause the task's recording")
def pause_recording(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """Pause the recording (idempotent: pausing a paused recording returns its state)."""
    return _run(request, task_sid, caller, "pause", get_services(request).recording.pause)


@router.post("/tasks/{task_sid}/recording/resume", summary="Resume the task's recording")
def resume_recording(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """Resume a paused recording (idempotent)."""
    return _run(request, task_sid, caller, "resume", get_services(request).recording.resume)
