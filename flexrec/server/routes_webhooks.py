"""Twilio webhooks: verify the signature, parse, hand to the recording service, answer.

Order matters: nothing is parsed or stored before the signature checks out (403 otherwise);
unparsable input is 400 and values the database cannot store are 422 (both final for Twilio:
retrying cannot help); an unexpected failure inside the service is 500 so Twilio (or the
simulator) retries, since the service is idempotent. The routes run on the event loop: reading,
the signature check, parsing and the answer cost no thread hop (an ignored event type costs
none at all); handlers are sync (the database and the Twilio SDK are) and only they run in the
threadpool. The `in-progress` callback of a recording this process is starting or stored is
answered on the event loop from memory.

Answer-time limits: a TaskRouter workspace callback must be answered within 15 s (Events
reference, "Event Callbacks"), an Event Streams webhook sink within 5 s (error 91308 "Sink
endpoint did not respond in time": "acknowledge incoming payloads immediately ... offloading
long-running operations to a background queue"). A workspace callback carries one event, whose
fast path makes a few REST calls (~100-300 ms each), so it stays inline. An Event Streams batch
carries up to 100 events, each possibly a new call: its events are queued (one job each) and
the batch is answered at once. An event type flexrec does not use is answered 204 and ignored
(TaskRouter sends every type unless the workspace's EventsFilter is set).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.exc import DataError
from starlette.concurrency import run_in_threadpool

from flexrec.logs import bound_sids, get_logger
from flexrec.recording.context import JOB_TASKROUTER_EVENT
from flexrec.server.deps import fail, get_services, get_settings
from flexrec.server.metrics import HANDLER_CPU, WEBHOOKS
from flexrec.web.body_limit import MAX_WEBHOOK_FORM_BYTES, MAX_WEBHOOK_JSON_BYTES
from flexrec.web.responses import WEBHOOK
from flexrec.webhooks import events, paths
from flexrec.webhooks.signature import SIGNATURE_HEADER, rebuild_public_url

log = get_logger(__name__)
router = APIRouter(prefix=paths.PREFIX, tags=["webhooks"])

E = TypeVar("E")
FormParams = dict[str, str | list[str]]
# Anything bigger is refused before it is read in full, since its signature is not checked yet
# (the app's BodyLimitMiddleware holds the same limits for every route).
MAX_FORM_BYTES = MAX_WEBHOOK_FORM_BYTES
MAX_JSON_BYTES = MAX_WEBHOOK_JSON_BYTES


def _signed_url(request: Request) -> str:
    public_url = get_settings(request).server.public_url
    if public_url:
        return rebuild_public_url(public_url, request.url.path, request.url.query)
    return str(request.url)


def _source(request: Request) -> str:
    return request.url.path.rsplit("/", 1)[-1]


def _signature_ok(
    request: Request, ok: bool, account_sid: object = None, body: bytes | None = None
) -> bool:
    # Every post naming our account refused means a wrong auth token or public URL: the
    # operator's signal (flexrec.server.signature_watch), never readiness, since anyone can
    # post. Posts that do not even name the account say nothing about Twilio's.
    watch = getattr(request.app.state, "signature_watch", None)
    if watch is not None and (ok or watch.names_this_account(account_sid, body)):
        watch.record(ok)
    return ok


def _reject_forged(request: Request) -> None:
    WEBHOOKS.labels(_source(request), "forged").inc()
    log.warning("webhook_signature_rejected", path=request.url.path)
    fail(403, "invalid_signature", "X-Twilio-Signature is missing or does not match")


async def _read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing (413) more than `limit` bytes before anything is verified."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        fail(413, "body_too_large", f"webhook bodies are limited to {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            fail(413, "body_too_large", f"webhook bodies are limited to {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _form_params(request: Request, body: bytes) -> FormParams:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("", "application/x-www-form-urlencoded"):
        WEBHOOKS.labels(_source(request), "malformed").inc()
        fail(415, "unsupported_media_type", "Twilio callbacks are url-encoded forms")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        WEBHOOKS.labels(_source(request), "malformed").inc()
        fail(400, "malformed_body", "the body is not UTF-8")
    params: FormParams = {}
    for key, value in pairs:
        existing = params.get(key)
        if existing is None:
            params[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            params[key] = [existing, value]
    return params


async def signed_form(request: Request) -> FormParams:
    """The form parameters of a Twilio form post whose signature is valid (else 403/400)."""
    params = _form_params(request, await _read_limited(request, MAX_FORM_BYTES))
    services = get_services(request)
    if get_settings(request).server.validate_signatures and not _signature_ok(
        request,
        services.verifier.verify(
            _signed_url(request), params, request.headers.get(SIGNATURE_HEADER)
        ),
        account_sid=params.get("AccountSid"),
    ):
        _reject_forged(request)
    return params


async def signed_json_body(request: Request) -> bytes:
    """The raw body of a JSON post (Event Streams) whose hash and signature are valid."""
    body = await _read_limited(request, MAX_JSON_BYTES)
    services = get_services(request)
    if get_settings(request).server.validate_signatures and not _signature_ok(
        request,
        services.verifier.verify(
            _signed_url(request), None, request.headers.get(SIGNATURE_HEADER), body=body
        ),
        body=body,
    ):
        _reject_forged(request)
    return body


def _parse(source: str, parser: Callable[[Any], E], raw: Any) -> E:
    try:
        return parser(raw)
    except events.MalformedEvent as exc:
        WEBHOOKS.labels(source, "malformed").inc()
        log.warning("webhook_malformed", source=source, reason=str(exc))
        fail(400, "malformed_event", str(exc))


def _dispatch(
    source: str, kind: str, handler: Callable[[E], None], event: E, **sids: str | None
) -> None:
    started = time.thread_time()
    with bound_sids(**sids):
        try:
            handler(event)
        except (DataError, RecursionError):
            # Values the database refuses (or nesting no code can walk) fail the same way on
            # every redelivery: a 500 would have Twilio retry forever. Final, and logged.
            WEBHOOKS.labels(source, "malformed").inc()
            log.exception("webhook_unstorable", source=source)
            fail(422, "unprocessable_event", "the event holds values that cannot be stored")
        except Exception:
            # Answer 500 so Twilio retries: the event must not be lost.
            WEBHOOKS.labels(source, "error").inc()
            log.exception("webhook_handler_failed", source=source)
            fail(500, "internal_error", "the event could not be processed; retry later")
    # This thread's CPU only: what a core pays per event kind, whatever the GIL made it wait.
    HANDLER_CPU.labels(source, kind[:40]).observe(time.thread_time() - started)
    WEBHOOKS.labels(source, "accepted").inc()


async def _answer(
    source: str,
    kind: str,
    from_memory: bool,
    handler: Callable[[E], None],
    event: E,
    **sids: str | None,
) -> Response:
    """204 for an event memory already answered (on the event loop, no thread hop, no
    database); else the handler runs in the threadpool first."""
    if from_memory:
        WEBHOOKS.labels(source, "repeat").inc()
    else:
        dispatch = functools.partial(_dispatch, source, kind, handler, event, **sids)
        await run_in_threadpool(dispatch)
    return _no_content()


def _no_content() -> Response:
    # TaskRouter wants 204 with a JSON content type; the other callbacks accept it too.
    return Response(status_code=204, headers={"Content-Type": "application/json"})


SignedForm = Annotated[FormParams, Depends(signed_form)]
SignedJson = Annotated[bytes, Depends(signed_json_body)]


@router.post(
    paths.route(paths.TASKROUTER),
    status_code=204,
    summary="TaskRouter workspace event callback",
    responses=WEBHOOK,
)
async def taskrouter(request: Request, params: SignedForm) -> Response:
    """Workspace `EventCallbackUrl` events (form); answered 204 as TaskRouter expects."""
    event_type = _parse("taskrouter", events.taskrouter_event_type, params)
    if not events.is_used_taskrouter_event(event_type):
        WEBHOOKS.labels("taskrouter", "ignored").inc()
        return _no_content()
    event = _parse("taskrouter", events.parse_taskrouter_form, params)
    handler = get_services(request).recording.handle_taskrouter_event
    return await _answer("taskrouter", event.event_type, False, handler, event,
                         task_sid=event.task_sid)  # fmt: skip


@router.post(
    paths.route(paths.EVENT_STREAMS),
    status_code=204,
    summary="Event Streams webhook sink",
    responses=WEBHOOK,
)
def event_streams(request: Request, body: SignedJson) -> Response:
    """A JSON array of CloudEvents from an Event Streams sink: each used TaskRouter event is
    queued (or, without a queue, handled here) and the batch is acknowledged at once."""
    source = "event-streams"
    batch = _parse(source, events.parse_event_streams_batch, body)
    if batch.ignored:
        WEBHOOKS.labels(source, "ignored").inc(batch.ignored)
    for reason in batch.malformed:
        # Final: a redelivery would carry the same item; the batch's other events go on.
        WEBHOOKS.labels(source, "malformed").inc()
        log.warning("webhook_malformed", source=source, reason=reason)
    services = get_services(request)
    recording = services.recording
    queue = services.queue
    for event in batch.events:
        if queue is None:
            _dispatch(source, event.event_type, recording.handle_taskrouter_event, event,
                      task_sid=event.task_sid)  # fmt: skip
        else:
            _enqueue(source, queue, event)
    return _no_content()


def _enqueue(source: str, queue: Any, event: events.TaskRouterEvent) -> None:
    try:
        queue.enqueue(JOB_TASKROUTER_EVENT, dataclasses.asdict(event))
    except Exception:
        # Not queued: answer 500 so the sink redelivers the batch (handling is idempotent).
        WEBHOOKS.labels(source, "error").inc()
        log.exception("webhook_enqueue_failed", source=source, task_sid=event.task_sid)
        fail(500, "internal_error", "the event could not be queued; retry later")
    WEBHOOKS.labels(source, "queued").inc()


@router.post(
    paths.route(paths.CONFERENCE),
    status_code=204,
    summary="Conference status callback",
    responses=WEBHOOK,
)
async def conference(request: Request, params: SignedForm) -> Response:
    """Conference participant join/leave/hold and end events (form)."""
    event = _parse("conference", events.parse_conference_form, params)
    handler = get_services(request).recording.handle_conference_event
    return await _answer("conference", event.event, False, handler, event,
                         conference_sid=event.conference_sid, call_sid=event.call_sid)  # fmt: skip


@router.post(
    paths.route(paths.CALL_STATUS),
    status_code=204,
    summary="Call status callback",
    responses=WEBHOOK,
)
async def call_status(request: Request, params: SignedForm) -> Response:
    """A call leg's status changes (form)."""
    event = _parse("call-status", events.parse_call_status_form, params)
    handler = get_services(request).recording.handle_call_status
    return await _answer("call-status", event.call_status, False, handler, event,
                         call_sid=event.call_sid)  # fmt: skip


@router.post(
    paths.route(paths.RECORDING_STATUS),
    status_code=204,
    summary="Recording status callback",
    responses=WEBHOOK,
)
async def recording_status(request: Request, params: SignedForm) -> Response:
    """A recording's status changes: in-progress, completed, absent, failed (form)."""
    event = _parse("recording-status", events.parse_recording_status_form, params)
    recording = get_services(request).recording
    # The in-progress callback of a recording this process starts or stored: nothing to do.
    known = recording.is_known_progress(event)
    return await _answer("recording-status", event.status, known,
                         recording.handle_recording_status, event,
                         call_sid=event.call_sid, recording_sid=event.recording_sid)  # fmt: skip
