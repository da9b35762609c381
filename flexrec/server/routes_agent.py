"""Agent API for a Flex plugin or a CRM: see, follow, pause and resume a task's recording.

Authorisation is the recording service's job (the worker holding the task, or a supervisor);
this layer only proves who the caller is and maps the service's errors to HTTP statuses.

Following a recording without hammering the service: every state answer carries an `ETag`;
`GET …/recording?wait=25` with `If-None-Match: <that ETag>` is a long poll that answers as soon
as the state differs (200) or after `wait` seconds with 304 (flexrec.server.long_polls: free
while nothing changes, woken by the database's announcement of its task, capped per token).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from flexrec.logs import bound_sids, get_logger
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
from flexrec.server.long_polls import StateReads, TooManyPolls, follow
from flexrec.twilio.flex_tokens import TokenInfo
from flexrec.web.token_guard import TokenLane

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
    request: Request, task_sid: Annotated[str, Depends(checked_task_sid)]
) -> TokenInfo:
    """Dependency: the Flex token's holder, asked only once the task SID is well formed. A
    live task's own budget pays for a new token's check when the client's is spent (a flood
    of wrong tokens from the agents' shared address must not keep them from pausing)."""
    live_task = get_services(request).live_task
    lane = TokenLane(f"task:{task_sid}", functools.partial(live_task, task_sid))
    return await flex_caller(request, lane)


Caller = Annotated[TokenInfo, Depends(task_caller)]

MAX_WAIT_S = 30.0  # below the idle timeouts of common proxies and load balancers (60 s)

_ERRORS: dict[type[RecordingError], tuple[int, str]] = {
    NotFound: (404, "not_found"),
    Forbidden: (403, "forbidden"),
    InvalidState: (409, "invalid_state"),
    Unavailable: (503, "twilio_unavailable"),
}
# A 503 tells the plugin the refusal is temporary and when to try again.
_RETRY_AFTER = {"Retry-After": "5"}
# A state answer is never cached by a browser or proxy: it changes under the caller's feet.
_NO_STORE = {"Cache-Control": "no-store"}


class AgentRecordingState(BaseModel):
    """A task's recording as the agent API answers it (documentation of the JSON body)."""

    task_sid: str
    state: str = Field(
        description="pending|starting (being started), recording, paused, completed, absent "
        "(the call had no recordable leg), failed, ended (the call ended), and for a task "
        "with no recording: waiting (none yet, e.g. an outbound call still ringing) or "
        "not_recorded (excluded by the recording policy; `detail` says why)"
    )
    recording_sid: str | None = None
    call_sid: str | None = None
    leg: str | None = Field(None, description="customer or worker: the leg recorded")
    start_time_ms: int | None = None
    detail: str | None = Field(None, description="last error, or the policy's reason")
    pause_pending: bool = Field(False, description="a pause waits for the recording to start")
    paused_by: str | None = Field(None, description="Flex identity behind the pause in force")
    paused_at: str | None = Field(None, description="ISO 8601 time of that pause")
    may_act: bool = Field(False, description="whether the caller may pause/resume now")


_STATE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": AgentRecordingState, "description": "The state, with its `ETag`"},
    400: {"description": "Malformed task SID"},
    401: {"description": "Missing, invalid or expired Flex token"},
    403: {"description": "Not the task's worker nor a supervisor"},
    404: {"description": "Unknown task (or, for pause/resume, no recording to act on)"},
    429: {
        "description": "Too many token checks from this client, or long polls held by this "
        "token; see `Retry-After`"
    },
    503: {"description": "Twilio or its token validation is unavailable; see `Retry-After`"},
}
_ACTION_RESPONSES = {
    **_STATE_RESPONSES,
    409: {"description": "The recording cannot make that change now"},
}


def make_actor(info: TokenInfo) -> Actor:
    """The recording service's `Actor` for a validated Flex token."""
    return Actor(identity=info.identity, worker_sid=info.worker_sid, roles=info.roles)


def _call(
    task_sid: str, caller: TokenInfo, action: str, call: Callable[[str, Any], Any]
) -> dict[str, Any]:
    """Run one service call for the caller (task SID already checked by `Caller`); its state as
    JSON, or the mapped HTTP error."""
    with bound_sids(task_sid=task_sid, worker_sid=caller.worker_sid):
        try:
            state = call(task_sid, make_actor(caller))
        except RecordingError as exc:
            status, code = next(
                (v for k, v in _ERRORS.items() if isinstance(exc, k)), (500, "recording_error")
            )
            log.info("agent_request_refused", action=action, status=status, reason=str(exc))
            fail(status, code, str(exc) or code, _RETRY_AFTER if status == 503 else None)
        if action != "watch":  # a long poll's re-reads are not requests of their own
            log.info("agent_request_done", action=action, identity=caller.identity)
    body: dict[str, Any] = jsonable(state)
    return body


def state_etag(body: dict[str, Any]) -> str:
    """A strong ETag of a state body: equal bodies, equal tags, in every process."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return '"' + hashlib.sha256(canonical.encode()).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
    return etag in tags or "*" in tags


def _answer(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body, headers={"ETag": state_etag(body), **_NO_STORE})


def _run(task_sid: str, caller: TokenInfo, action: str, call: Callable[..., Any]) -> JSONResponse:
    return _answer(_call(task_sid, caller, action, call))


def _act(request: Request, task_sid: str, caller: TokenInfo, action: str) -> JSONResponse:
    """Pause or resume, then announce the change in this process at once (the database's own
    announcement may be a tick behind), so no poll here reuses the state from before it."""
    services = get_services(request)
    try:
        return _run(task_sid, caller, action, getattr(services.recording.pauses, action))
    finally:
        services.changes.publish(task_sid)


@router.get(
    "/tasks/{task_sid}/recording",
    summary="The task's recording state (optionally a long poll for its next change)",
    responses={**_STATE_RESPONSES, 304: {"description": "No change within `wait` seconds"}},
)
async def get_recording(
    request: Request,
    task_sid: TaskSid,
    caller: Caller,
    wait: Annotated[
        float,
        Query(ge=0, le=MAX_WAIT_S, description="With If-None-Match: seconds to wait for a change"),
    ] = 0,
    if_none_match: Annotated[str | None, Header(description="The ETag last seen")] = None,
) -> Response:
    """The recording state of a task the caller may see; with `If-None-Match` and `wait`, the
    answer waits until the state differs from that ETag (200) or `wait` runs out (304)."""
    services = get_services(request)
    recording = services.recording.pauses
    actor = make_actor(caller)
    read = functools.partial(_call, task_sid, caller, "state", recording.state)
    if not if_none_match:
        return _answer(await run_in_threadpool(read))
    # Re-reads never ask TaskRouter: a missing task was caught up by the first read already.
    peek = functools.partial(recording.state, catch_up=False)
    reads = StateReads(
        viewer=(caller.identity, caller.worker_sid or "", ",".join(sorted(caller.roles))),
        fingerprint=functools.partial(recording.state_fingerprint, task_sid, actor),
        read=read,
        peek=functools.partial(_call, task_sid, caller, "watch", peek),
    )
    try:
        async with services.poll_cap.hold(getattr(request.state, "token_digest", "")):
            body, etag = await follow(
                request,
                services.changes,
                services.state_memo,
                task_sid,
                reads,
                wait_s=wait,
                etag_of=state_etag,
                matches=functools.partial(_matches, if_none_match),
            )
    except TooManyPolls:
        fail(429, "too_many_polls", "this Flex token holds as many long polls as it may",
             {"Retry-After": str(TooManyPolls.retry_after_s)})  # fmt: skip
    if body is not None:
        return _answer(body)
    return Response(status_code=304, headers={"ETag": etag, **_NO_STORE})


@router.post(
    "/tasks/{task_sid}/recording",
    summary="The task's recording state (token in body)",
    responses=_STATE_RESPONSES,
)
def post_recording(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """Same as GET, for plugins that send the Flex token as a `Token` body field."""
    return _run(task_sid, caller, "state", get_services(request).recording.pauses.state)


@router.post(
    "/tasks/{task_sid}/recording/pause",
    summary="Pause the task's recording",
    responses=_ACTION_RESPONSES,
)
def pause_recording(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """Pause the recording (idempotent: pausing a paused recording returns its state); asked
    before the recording has started, the pause is kept and applied as soon as it starts."""
    return _act(request, task_sid, caller, "pause")


@router.post(
    "/tasks/{task_sid}/recording/resume",
    summary="Resume the task's recording",
    responses=_ACTION_RESPONSES,
)
def resume_recording(request: Request, task_sid: TaskSid, caller: Caller) -> JSONResponse:
    """Resume a paused recording (idempotent)."""
    return _act(request, task_sid, caller, "resume")
