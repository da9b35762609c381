"""Twilio webhooks: a lean ASGI edge beside FastAPI that verifies, parses, hands over, answers.

A webhook is the service's hottest request (about twenty a call), and FastAPI's route machinery
(dependency solving, its request object, its form parser, its ASGI layers) cost more than the
work itself. So `serve_webhook`, an ASGI app the service app (flexrec.server.service_app) sends
the webhook paths to, inside the app's own rules (the error boundary, the request metrics and
request ids, the body cap: each still one rule in one place), serves them itself: it reads the
body once, checks the content type, the signature with the SDK's `RequestValidator` (the one
rule of authentication, flexrec.webhooks.signature), parses the event and hands it to the
recording room that takes it. The paths are documented in the app's OpenAPI schema from the
same table (`ROUTES`).

Order matters: nothing is parsed or stored before the signature checks out (403 otherwise);
unparsable input is 400 and values the database cannot store are 422 (both final for Twilio:
retrying cannot help); an unexpected failure inside the service is 500 so Twilio (or the
simulator) retries, since the service is idempotent. Reading, the signature check, parsing and
the answer run on the event loop, and so does an event the recording rooms answer from memory
(an ignored TaskRouter type, a TaskRouter event that changes nothing the database keeps, the
`in-progress` callback of a recording this process starts or stored, a call status that ends
nothing); the rest is handled on a thread (the database and the Twilio SDK are synchronous),
where it commits its durable intent before the answer goes back: the Twilio calls it sets off
run after the answer, in this process.

Answer-time limits: a TaskRouter workspace callback must be answered within 15 s (Events
reference, "Event Callbacks"), an Event Streams webhook sink within 5 s (error 91308 "Sink
endpoint did not respond in time": "acknowledge incoming payloads immediately ... offloading
long-running operations to a background queue"). An Event Streams batch carries up to 100
events, each possibly a new call: its events are queued (one job each) and the batch is
answered at once. An event type flexrec does not use is answered 204 and ignored (TaskRouter
sends every type unless the workspace's EventsFilter is set).
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import HTTPException
from sqlalchemy.exc import DataError
from starlette.datastructures import URL
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from flexrec.config import Settings
from flexrec.logs import bound_sids, get_logger
from flexrec.recording.context import JOB_TASKROUTER_EVENT
from flexrec.server.deps import fail
from flexrec.server.metrics import handler_cpu, webhooks_counted
from flexrec.server.services import Services
from flexrec.web.error_boundary import CLIENT_CLOSED_REQUEST, http_error_response
from flexrec.web.responses import WEBHOOK
from flexrec.web.thread_pools import run_webhook
from flexrec.webhooks import events, paths
from flexrec.webhooks.forms import FormParams, parse_form
from flexrec.webhooks.signature import rebuild_public_url

log = get_logger(__name__)

E = TypeVar("E")
_NO_CONTENT_START = {
    "type": "http.response.start",
    "status": 204,
    # TaskRouter wants 204 with a JSON content type; the other callbacks accept it too.
    "headers": [(b"content-type", b"application/json")],
}
_NO_CONTENT_BODY = {"type": "http.response.body", "body": b""}
_FORM_TYPES = frozenset({"", "application/x-www-form-urlencoded"})


@dataclass
class Webhook:
    """One webhook request: what the edge read of it, and the app it came to."""

    scope: Scope
    source: str  # the metrics' and logs' name of the route ("taskrouter", "call-status", ...)
    body: bytes
    content_type: str
    signature: str | None
    host: bytes | None  # the first Host header, as Starlette's URL reads it
    settings: Settings
    services: Services
    app_state: Any

    def signed_url(self) -> str:
        """The URL Twilio signed: the public URL's when set, else the request's own."""
        public_url = self.settings.server.public_url
        if public_url:
            # The path is one of ROUTES' (nothing to escape), so no URL object is needed.
            query = self.scope.get("query_string", b"").decode()
            return rebuild_public_url(public_url, self.scope["path"], query)
        scope = self.scope
        server = scope.get("server")  # a list from some servers: a tuple is a cache key
        return _own_url(
            scope.get("scheme", "http"),
            self.host,
            None if server is None else tuple(server),
            scope["path"],
            scope.get("query_string", b""),
        )

    def signature_ok(self, ok: bool, account_sid: object = None, body: bytes | None = None) -> bool:
        """`ok`, noted by the signature watch when it says something about Twilio's posts."""
        # Every post naming our account refused means a wrong auth token or public URL: the
        # operator's signal (flexrec.server.signature_watch), never readiness, since anyone can
        # post. Posts that do not even name the account say nothing about Twilio's.
        watch = getattr(self.app_state, "signature_watch", None)
        if watch is not None and (ok or watch.names_this_account(account_sid, body)):
            watch.record(ok)
        return ok

    def reject_forged(self) -> None:
        """403, counted and logged (never the signature or the body)."""
        webhooks_counted(self.source, "forged").inc()
        log.warning("webhook_signature_rejected", path=self.scope.get("path"))
        fail(403, "invalid_signature", "X-Twilio-Signature is missing or does not match")

    def signed_form(self) -> FormParams:
        """The form parameters of a Twilio form post whose signature is valid (else 4xx)."""
        params = self._form_params()
        if self.settings.server.validate_signatures and not self.signature_ok(
            self.services.verifier.verify(self.signed_url(), params, self.signature),
            account_sid=params.get("AccountSid"),
        ):
            self.reject_forged()
        return params

    def signed_json_body(self) -> bytes:
        """The raw body of a JSON post (Event Streams) whose hash and signature are valid."""
        if self.settings.server.validate_signatures and not self.signature_ok(
            self.services.verifier.verify(self.signed_url(), None, self.signature, body=self.body),
            body=self.body,
        ):
            self.reject_forged()
        return self.body

    def _form_params(self) -> FormParams:
        if self.content_type not in _FORM_TYPES:
            webhooks_counted(self.source, "malformed").inc()
            fail(415, "unsupported_media_type", "Twilio callbacks are url-encoded forms")
        try:
            return parse_form(self.body)
        except UnicodeDecodeError:
            webhooks_counted(self.source, "malformed").inc()
            fail(400, "malformed_body", "the body is not UTF-8")

    def parse(self, parser: Callable[[Any], E], raw: Any) -> E:
        """`parser(raw)`, or 400 for what it refuses (final: a redelivery carries the same)."""
        try:
            return parser(raw)
        except events.MalformedEvent as exc:
            webhooks_counted(self.source, "malformed").inc()
            log.warning("webhook_malformed", source=self.source, reason=str(exc))
            fail(400, "malformed_event", str(exc))

    async def hand_over(
        self, kind: str, handler: Callable[[E], None], event: E, **sids: str | None
    ) -> None:
        """Run the room's `handler` on a thread; the answer waits for its commit."""
        await run_webhook(_dispatch, self.source, kind, handler, event, sids)


def _own_url(scheme: str, host: bytes | None, server: Any, path: str, query_string: bytes) -> str:
    """The request's own URL, as Starlette's `URL` builds it from these parts of its scope."""
    if query_string:  # an Event Streams post: its body's hash makes each URL its own
        return _url_of(scheme, host, server, path, query_string)
    return _cached_url_of(scheme, host, server, path, query_string)


def _url_of(scheme: str, host: bytes | None, server: Any, path: str, query_string: bytes) -> str:
    headers = [] if host is None else [(b"host", host)]
    scope = {"scheme": scheme, "server": server, "path": path, "query_string": query_string,
             "headers": headers}  # fmt: skip
    return str(URL(scope=scope))


# A form webhook's URL is one of a handful (five paths, one host): built once each, where
# Starlette's URL parses the Host header and joins the parts on every request.
_cached_url_of = functools.lru_cache(maxsize=64)(_url_of)


def _dispatch(
    source: str, kind: str, handler: Callable[[E], None], event: E, sids: dict[str, str | None]
) -> None:
    started = time.thread_time()
    with bound_sids(**sids):
        try:
            handler(event)
        except (DataError, RecursionError):
            # Values the database refuses (or nesting no code can walk) fail the same way on
            # every redelivery: a 500 would have Twilio retry forever. Final, and logged.
            webhooks_counted(source, "malformed").inc()
            log.exception("webhook_unstorable", source=source)
            fail(422, "unprocessable_event", "the event holds values that cannot be stored")
        except Exception:
            # Answer 500 so Twilio retries: the event must not be lost.
            webhooks_counted(source, "error").inc()
            log.exception("webhook_handler_failed", source=source)
            fail(500, "internal_error", "the event could not be processed; retry later")
    # This thread's CPU only: what a core pays per event kind, whatever the GIL made it wait.
    handler_cpu(source, kind[:40]).observe(time.thread_time() - started)
    webhooks_counted(source, "accepted").inc()


# -- the routes -----------------------------------------------------------------------------------
async def taskrouter(hook: Webhook) -> None:
    """Workspace `EventCallbackUrl` events (form); answered 204 as TaskRouter expects."""
    params = hook.signed_form()
    event_type = hook.parse(events.taskrouter_event_type, params)
    if not events.is_used_taskrouter_event(event_type):
        webhooks_counted(hook.source, "ignored").inc()
        return
    event = hook.parse(events.parse_taskrouter_form, params)
    task_events = hook.services.recording.task_events
    # Most of a call's events repeat what its task already is: the memo takes them here, on
    # the event loop, with no handoff to a thread (nothing to write, nothing to wait for).
    if _from_memory(task_events, event):
        webhooks_counted(hook.source, "repeat").inc()
        return
    await hook.hand_over(event.event_type, task_events.handle, event,
                         task_sid=event.task_sid)  # fmt: skip


def _from_memory(task_events: Any, event: events.TaskRouterEvent) -> bool:
    try:
        return bool(task_events.answer_from_memory(event))
    except Exception:
        # Whatever broke is the handler's to meet on its thread, logged and answered there.
        log.exception("webhook_memory_answer_failed", task_sid=event.task_sid)
        return False


async def event_streams(hook: Webhook) -> None:
    """A JSON array of CloudEvents from an Event Streams sink: each used TaskRouter event is
    queued, or handled here when the queue's jobs run in the worker (`_take_batch`)."""
    body = hook.signed_json_body()
    # A batch is up to 8 MB of JSON: parsed off the event loop, with its queueing.
    await run_webhook(_take_batch, hook, body)


# How long an Event Streams batch is handled before its answer (Twilio error 91308: a sink
# answers within 5 s); the rest of a bigger batch goes to the queue.
INLINE_BUDGET_S = 1.0


def _take_batch(hook: Webhook, body: bytes) -> None:
    source = hook.source
    batch = hook.parse(events.parse_event_streams_batch, body)
    if batch.ignored:
        webhooks_counted(source, "ignored").inc(batch.ignored)
    for reason in batch.malformed:
        # Final: a redelivery would carry the same item; the batch's other events go on.
        webhooks_counted(source, "malformed").inc()
        log.warning("webhook_malformed", source=source, reason=reason)
    services = hook.services
    queue = services.queue
    handle = services.recording.task_events.handle
    # An event is recording control: with the queue's jobs in the niced worker (serve's
    # default) a queued one waits for it, and an outbound call known only from its task's
    # events was started up to 45 s of talk late, or not at all. So this process handles the
    # batch as it does a form callback, answering after the commits; past INLINE_BUDGET_S the
    # rest is queued, durable, so a huge batch is still answered within the sink's 5 s.
    inline_until = time.monotonic() + INLINE_BUDGET_S if services.jobs_worker else 0.0
    for event in batch.events:
        if queue is None or time.monotonic() < inline_until:
            _dispatch(source, event.event_type, handle, event, {"task_sid": event.task_sid})
        else:
            _enqueue(source, queue, event)


def _enqueue(source: str, queue: Any, event: events.TaskRouterEvent) -> None:
    try:
        queue.enqueue(JOB_TASKROUTER_EVENT, dataclasses.asdict(event))
    except Exception:
        # Not queued: answer 500 so the sink redelivers the batch (handling is idempotent).
        webhooks_counted(source, "error").inc()
        log.exception("webhook_enqueue_failed", source=source, task_sid=event.task_sid)
        fail(500, "internal_error", "the event could not be queued; retry later")
    webhooks_counted(source, "queued").inc()


async def conference(hook: Webhook) -> None:
    """Conference participant join/leave/hold and end events (form)."""
    event = hook.parse(events.parse_conference_form, hook.signed_form())
    await hook.hand_over(event.event, hook.services.recording.intake.handle_conference_event,
                         event, conference_sid=event.conference_sid,
                         call_sid=event.call_sid)  # fmt: skip


async def call_status(hook: Webhook) -> None:
    """A call leg's status changes (form)."""
    event = hook.parse(events.parse_call_status_form, hook.signed_form())
    intake = hook.services.recording.intake
    if not intake.call_status_is_news(event):
        intake.note_call(event)  # its numbers spare a leg search a fetch
        webhooks_counted(hook.source, "repeat").inc()  # nothing ends: answered from memory
        return
    await hook.hand_over(event.call_status, intake.handle_call_status, event,
                         call_sid=event.call_sid)  # fmt: skip


async def recording_status(hook: Webhook) -> None:
    """A recording's status changes: in-progress, completed, absent, failed (form)."""
    event = hook.parse(events.parse_recording_status_form, hook.signed_form())
    intake = hook.services.recording.intake
    # The in-progress callback of a recording this process starts or stored: nothing to do.
    if intake.is_known_progress(event):
        webhooks_counted(hook.source, "repeat").inc()
        return
    await hook.hand_over(event.status, intake.handle_recording_status, event,
                         call_sid=event.call_sid, recording_sid=event.recording_sid)  # fmt: skip


@dataclass(frozen=True)
class WebhookRoute:
    """A webhook path, what serves it, and what its documentation says."""

    path: str  # also the route template the request metrics label answers with
    serve: Callable[[Webhook], Awaitable[None]]
    summary: str

    @property
    def source(self) -> str:
        """The route's name in metrics and logs: the path's last part."""
        return self.path.rsplit("/", 1)[-1]


ROUTES: dict[str, WebhookRoute] = {
    route.path: route
    for route in (
        WebhookRoute(paths.TASKROUTER, taskrouter, "TaskRouter workspace event callback"),
        WebhookRoute(paths.EVENT_STREAMS, event_streams, "Event Streams webhook sink"),
        WebhookRoute(paths.CONFERENCE, conference, "Conference status callback"),
        WebhookRoute(paths.CALL_STATUS, call_status, "Call status callback"),
        WebhookRoute(paths.RECORDING_STATUS, recording_status, "Recording status callback"),
    )
}


async def serve_webhook(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve a request to one of `ROUTES`' paths (the app sends only those here)."""
    route = ROUTES[scope["path"]]
    scope["route"] = route  # the request metrics label answers with its template
    try:
        hook = await _read(scope, receive, route)
        await route.serve(hook)
    except HTTPException as exc:
        await http_error_response(exc)(scope, receive, send)
        return
    except ClientDisconnect:
        # The client hung up mid-request: nobody reads this answer, and it is no error.
        await send({"type": "http.response.start", "status": CLIENT_CLOSED_REQUEST,
                    "headers": []})  # fmt: skip
        await send(_NO_CONTENT_BODY)
        return
    await send(_NO_CONTENT_START)
    await send(_NO_CONTENT_BODY)


async def _read(scope: Scope, receive: Receive, route: WebhookRoute) -> Webhook:
    """The request's body (once) and the headers the edge reads; 405 for another method."""
    if scope["method"] != "POST":
        fail(405, "method_not_allowed", "webhooks are POSTed", headers={"Allow": "POST"})
    content_type = ""
    signature = None
    host = None
    for name, value in scope["headers"]:
        if name == b"content-type":
            content_type = value.decode("latin-1").split(";", 1)[0].strip().lower()
        elif name == b"x-twilio-signature":
            signature = value.decode("latin-1")
        elif name == b"host" and host is None:
            host = value
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    state = scope["app"].state
    return Webhook(
        scope=scope,
        source=route.source,
        body=chunks[0] if len(chunks) == 1 else b"".join(chunks),
        content_type=content_type,
        signature=signature,
        host=host,
        settings=state.settings,
        services=state.services,
        app_state=state,
    )


def document(schema: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI schema with the webhook paths (served here, not by FastAPI) in it."""
    answers = {str(code): entry for code, entry in WEBHOOK.items()}
    answers["204"] = {"description": "Taken (or ignored: an event type flexrec does not use)"}
    found = schema.setdefault("paths", {})
    for route in ROUTES.values():
        doc = (route.serve.__doc__ or "").strip()
        found[route.path] = {
            "post": {
                "tags": ["webhooks"],
                "summary": route.summary,
                "description": doc,
                "operationId": f"webhook_{route.source.replace('-', '_')}",
                "responses": dict(answers),
            }
        }
    return schema
