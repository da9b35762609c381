"""A Flex back-end that calls customers back: the example project of flexsim's README.

A customer asks for a callback (`POST /callbacks`). The back-end places an outbound call with
the official Twilio SDK, recording it in dual channel, and follows it through the status
callbacks Twilio sends to the URLs it gave: when the customer answers it creates a Flex task
(TaskRouter) so an agent takes the call; when the line is busy or nobody answers it tries
again, up to three attempts; when the recording is ready it keeps its SID. Every callback's
`X-Twilio-Signature` is checked with the SDK's `RequestValidator`.

Nothing here knows about flexsim: production passes `twilio.rest.Client(sid, token)`, the
tests pass `flexsim.testing.sdk_client(simulator)`.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from twilio.request_validator import RequestValidator

MAX_ATTEMPTS = 3
RETRY_STATUSES = frozenset({"busy", "no-answer", "failed"})


@dataclass
class Settings:
    """Where the back-end runs and what it uses in the Twilio account."""

    public_url: str  # this service's public base URL: Twilio calls back here
    auth_token: str  # signs Twilio's callbacks
    caller_id: str  # the contact center's number
    workspace_sid: str
    workflow_sid: str


@dataclass
class Callback:
    """One customer's callback request and what came of it."""

    id: int
    to: str
    name: str
    attempts: list[str] = field(default_factory=list)  # call SIDs, oldest first
    outcomes: dict[str, str] = field(default_factory=dict)  # call SID -> final status
    task_sid: str | None = None
    recording_sid: str | None = None
    state: str = "calling"  # calling, connected, done, gave-up


def create_app(client: Any, settings: Settings) -> FastAPI:
    """The back-end's web app around a Twilio client (`twilio.rest.Client`)."""
    app = FastAPI(title="Callback back-end")
    validator = RequestValidator(settings.auth_token)
    lock = threading.Lock()
    callbacks: dict[int, Callback] = {}
    by_call: dict[str, Callback] = {}

    def place_call(callback: Callback) -> None:
        call = client.calls.create(
            to=callback.to,
            from_=settings.caller_id,
            twiml="<Response><Say>Connecting you to an agent.</Say><Pause length='60'/></Response>",
            status_callback=f"{settings.public_url}/twilio/call-status",
            status_callback_event=["answered", "completed"],
            timeout=25,
            record=True,
            recording_channels="dual",
            recording_status_callback=f"{settings.public_url}/twilio/recording-status",
            recording_status_callback_event=["completed"],
        )
        with lock:
            callback.attempts.append(call.sid)
            by_call[call.sid] = callback

    async def signed_form(request: Request) -> dict[str, str]:
        form = {k: str(v) for k, v in (await request.form()).items()}
        url = f"{settings.public_url}{request.url.path}"
        if not validator.validate(url, form, request.headers.get("X-Twilio-Signature", "")):
            raise HTTPException(403, "not signed by Twilio")
        return form

    @app.post("/callbacks", status_code=201)
    async def request_callback(body: dict[str, str]) -> dict[str, Any]:
        with lock:
            callback = Callback(len(callbacks) + 1, body["to"], body.get("name", ""))
            callbacks[callback.id] = callback
        place_call(callback)
        return {"id": callback.id, "call_sid": callback.attempts[-1]}

    @app.get("/callbacks/{callback_id}")
    async def show(callback_id: int) -> dict[str, Any]:
        callback = callbacks.get(callback_id)
        if callback is None:
            raise HTTPException(404, "no such callback")
        return callback.__dict__

    @app.post("/twilio/call-status", status_code=204)
    async def call_status(request: Request) -> None:
        form = await signed_form(request)
        call_sid, status = form["CallSid"], form["CallStatus"]
        callback = by_call.get(call_sid)
        if callback is None:
            return
        if status == "in-progress":
            attributes = {"type": "callback", "name": callback.name, "call_sid": call_sid,
                          "direction": "outbound", "to": callback.to}  # fmt: skip
            task = client.taskrouter.v1.workspaces(settings.workspace_sid).tasks.create(
                workflow_sid=settings.workflow_sid,
                task_channel="voice",
                attributes=json.dumps(attributes),
            )
            with lock:
                callback.task_sid, callback.state = task.sid, "connected"
            return
        with lock:
            callback.outcomes[call_sid] = status
            retry = status in RETRY_STATUSES and len(callback.attempts) < MAX_ATTEMPTS
            if status in RETRY_STATUSES and not retry:
                callback.state = "gave-up"
            elif status == "completed":
                callback.state = "done"
        if retry:
            place_call(callback)

    @app.post("/twilio/recording-status", status_code=204)
    async def recording_status(request: Request) -> None:
        form = await signed_form(request)
        callback = by_call.get(form["CallSid"])
        if callback is not None and form["RecordingStatus"] == "completed":
            with lock:
                callback.recording_sid = form["RecordingSid"]

    return app
