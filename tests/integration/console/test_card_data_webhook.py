"""The signed card-data webhook against a real receiver on loopback (the sandbox's calls): the
archive's redactor only writes the notice and queues it; the receiver gets a body it can verify
naming the agent and the span, the same event again after an error (backoff through the queue)
and never twice once delivered; a lost job is found by the sweep; attempts run out loudly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import select

from flexrec.app.sandbox import Sandbox
from flexrec.app.services import build_services
from flexrec.config import (
    CardDataSettings,
    ServerSettings,
    Settings,
    StorageSettings,
    TwilioSettings,
)
from flexrec.console.card_marks import call_card_data
from flexrec.jobs.queue import InlineJobQueue
from flexrec.pci.archive_stage import make_redactor
from flexrec.pci.models import CardDataNotice
from flexrec.pci.webhook import (
    DELIVERIES,
    EVENT_HEADER,
    JOB_DELIVER,
    JOB_SWEEP,
    SIGNATURE_HEADER,
    CardDataWebhook,
    verify,
)
from flexrec.transcription.base import Word
from flexrec.transcription.twilio_engine import TwilioTranscriber
from flexsim import serve_app
from flexsim.testing import make_wav

SECRET = "s3cret-" * 6
CARD = "four one one one one one one one one one one one one one one one".split()


class Receiver:
    """A receiving system: checks each request as README says, answers with `answers`."""

    def __init__(self) -> None:
        self.answers: list[int] = []
        self.got: list[dict[str, Any]] = []
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            body = await request.body()
            self.got.append(
                {
                    "verified": verify(SECRET, body, request.headers[SIGNATURE_HEADER]),
                    "event_id": request.headers[EVENT_HEADER],
                    "body": body,
                }
            )
            return Response(status_code=self.answers.pop(0) if self.answers else 200)


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    box = Receiver()
    with serve_app(box.app) as base_url:
        yield box, f"{base_url}/hook"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def _webhook(sandbox: Sandbox, url: str, clock: Clock, **kw: Any) -> CardDataWebhook:
    settings = Settings(
        card_data=CardDataSettings(
            card_data=True, card_data_webhook_url=url, card_data_webhook_secret=SECRET
        ),
        server=ServerSettings(public_url="https://rec.example.com/"),
    )
    webhook = CardDataWebhook.from_settings(settings, sandbox.sessions, call_card_data)
    assert webhook is not None
    webhook._clock = clock  # the test moves time on for backoff
    for key, value in kw.items():
        setattr(webhook, f"_{key}", value)
    return webhook


def _notice(sandbox: Sandbox, recording_sid: str) -> CardDataNotice:
    with sandbox.sessions() as session:
        return session.scalars(
            select(CardDataNotice).where(CardDataNotice.recording_sid == recording_sid)
        ).one()


def test_the_redactor_queues_a_notice_and_the_receiver_verifies_it_once(
    sandbox: Sandbox, receiver: tuple[Receiver, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    box, url = receiver
    call = sandbox.calls[5]  # bob's outbound call
    clock = Clock()
    webhook = _webhook(sandbox, url, clock)
    queue = InlineJobQueue()
    webhook.register(queue)
    # The customer reads a Luhn-valid number at 20 s (a transcript as an engine would give it).
    words = [Word(w, 20_000 + i * 400, 20_300 + i * 400) for i, w in enumerate(CARD)]
    monkeypatch.setattr(
        TwilioTranscriber, "transcribe_recording", lambda self, sid: {1: words, 2: []}
    )
    settings = Settings(
        card_data=CardDataSettings(
            card_data=True,
            transcription_engine="twilio",
            twilio_transcription_outside_pci_scope=True,
            twilio_intelligence_service_sid="GA" + "0" * 32,
        )
    )
    redact = make_redactor(settings, sandbox.sessions, object(), webhook)
    wav = make_wav(duration_s=40.0)
    kept, report = redact(call.recording_sid, wav)
    assert report is not None and report.spans_ms and kept != wav
    # The archive did not wait for the receiver: nothing was posted, one delivery is queued.
    assert box.got == [] and [j.name for j in queue.pending] == [JOB_DELIVER]
    # The archive job running again (a crash before sealing) adds no second notice.
    redact(call.recording_sid, wav)
    assert len(queue.pending) == 1

    box.answers = [503]
    queue.run_all(max_jobs=1)
    notice = _notice(sandbox, call.recording_sid)
    assert (notice.state, notice.attempts, notice.last_error) == ("pending", 1, "HTTP 503")
    (retry,) = queue.pending
    assert retry.name == JOB_DELIVER and retry.delay_s == 30.0
    # Not due yet: a job arriving early (the sweep's, a duplicate) posts nothing.
    assert webhook.deliver(notice.id) == "skipped"
    clock.now += timedelta(seconds=31)
    queue.run_all()
    assert _notice(sandbox, call.recording_sid).state == "delivered"
    assert len(box.got) == 2 and all(g["verified"] for g in box.got)
    first, second = box.got
    assert first["event_id"] == second["event_id"] and first["body"] == second["body"]
    body = json.loads(second["body"])
    assert body["id"] == first["event_id"] and body["type"] == "card_data.silenced"
    assert body["recording_sid"] == call.recording_sid and body["agent"] == "bob"
    assert body["console_url"] == f"https://rec.example.com/console/recordings/{call.recording_sid}"
    (mark,) = body["marks"]
    assert mark["text"] == (
        "Card number spoken while recording, agent bob, 00:20\u201300:26, silenced"
    )
    assert mark["spoken_by"] == ["customer"] and mark["kinds"] == ["card_number"]
    assert "4111" not in second["body"].decode() and "one one" not in second["body"].decode()
    # Delivered: another job for it does nothing.
    assert webhook.deliver(notice.id) == "skipped" and len(box.got) == 2


def test_a_lost_job_is_swept_up_and_attempts_run_out_loudly(
    sandbox: Sandbox, receiver: tuple[Receiver, str]
) -> None:
    box, url = receiver
    call = sandbox.calls[5]
    clock = Clock()
    webhook = _webhook(sandbox, url, clock, max_attempts=3)
    with sandbox.sessions() as session:
        notice_id = webhook.record(session, call.recording_sid)
        session.commit()
    assert notice_id is not None
    webhook.announce(notice_id)  # the queue is not there yet: logged, not raised
    queue = InlineJobQueue()
    webhook.register(queue)
    assert webhook.sweep() == 0  # not overdue yet
    clock.now += timedelta(seconds=61)
    assert webhook.sweep() == 1 and [j.name for j in queue.pending] == [JOB_DELIVER]
    failed_before = DELIVERIES.labels("failed")._value.get()
    box.answers = [500, 500, 500]
    for _ in range(3):
        queue.run_all(max_jobs=1)
        clock.now += timedelta(hours=1)
    notice = _notice(sandbox, call.recording_sid)
    assert (notice.state, notice.attempts) == ("failed", 3)
    assert queue.pending == [] and DELIVERIES.labels("failed")._value.get() == failed_before + 1
    assert webhook.sweep() == 0  # given up: the sweep leaves it alone


def test_an_unreachable_receiver_is_retried_and_a_call_without_card_data_is_not_sent(
    sandbox: Sandbox,
) -> None:
    clock = Clock()
    webhook = _webhook(sandbox, "http://127.0.0.1:9/hook", clock)  # nothing listens on 9
    queue = InlineJobQueue()
    webhook.register(queue)
    card_call = sandbox.calls[5]
    with sandbox.sessions() as session:
        notice_id = webhook.record(session, card_call.recording_sid)
        session.commit()
    assert notice_id is not None
    assert webhook.deliver(notice_id) == "retry"
    assert _notice(sandbox, card_call.recording_sid).last_error == "ConnectError"
    # A call the archive no longer holds card data for: its notice is dropped, not retried.
    plain = next(c for c in sandbox.calls if c.recording_sid != card_call.recording_sid)
    with sandbox.sessions() as session:
        assert call_card_data(session, plain.recording_sid) is None
        other = webhook.record(session, plain.recording_sid)
        session.commit()
    assert other is not None and webhook.deliver(other) == "gone"
    assert _notice(sandbox, plain.recording_sid).state == "failed"


def test_the_service_registers_the_webhook_only_when_configured(tmp_path: Path) -> None:
    base = Settings(
        twilio=TwilioSettings(
            account_sid="AC" + "0" * 32,
            auth_token="wired-auth-token",
            workspace_sid="WS" + "0" * 32,
            base_url="http://127.0.0.1:9",
        ),
        storage=StorageSettings(data_dir=tmp_path / "data"),
    )
    for url, registered in (("", False), ("https://hooks.example.com/flexrec", True)):
        settings = base.model_copy(
            update={
                "card_data": CardDataSettings(
                    card_data=True,
                    card_data_webhook_url=url,
                    card_data_webhook_secret=SECRET if url else "",
                )
            }
        )
        services = build_services(settings, run_consumer=False)
        try:
            assert services.archive is not None and services.archive.deps.redactor is not None
            assert services.queue is not None
            names = set(services.queue.names)
            assert ({JOB_DELIVER, JOB_SWEEP} <= names) is registered
            assert not (names & {JOB_DELIVER, JOB_SWEEP}) or registered
        finally:
            services.close()
