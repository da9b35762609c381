"""The real service (webhook routes, parsers, RecordingService, SQLite) behind a test client,
with Twilio's REST side faked in memory, for replaying real-shaped payloads.

Payloads in this folder are written by hand from Twilio's documentation and public Flex code,
never produced by the simulator's builders; each names its source.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sim_twilio import SimTwilio
from sqlalchemy import select

from flexrec.app.factory import create_app
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.db.models import RecordingTarget, TaskRecord
from flexrec.jobs.queue import InlineJobQueue
from flexrec.jobs.tasks import register_recording_jobs
from flexrec.recording.policy import RecordingPolicy
from flexrec.recording.service import RecordingService
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "contract-auth-token"
BASE = "http://testserver"


def twilio_signature(url: str, params: dict[str, str] | None = None) -> str:
    """X-Twilio-Signature as Twilio's webhook-security page defines it (HMAC-SHA1, base64)."""
    text = url + "".join(k + params[k] for k in sorted(params or {}))
    mac = hmac.new(AUTH_TOKEN.encode(), text.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class ServiceApp:
    """flexrec's app on a migrated SQLite file, Twilio played by flexsim in process
    (sim_twilio) and an inline job queue."""

    def __init__(self, tmp_path: Path, policy: RecordingPolicy | None = None) -> None:
        url = f"sqlite:///{tmp_path / 'flexrec.db'}"
        upgrade(url)
        self.engine = make_engine(url)
        self.sessions = make_session_factory(self.engine)
        self.twilio = SimTwilio()
        self.queue = InlineJobQueue()
        self.service = RecordingService(
            self.sessions, self.twilio, self.twilio, policy or RecordingPolicy(), BASE
        )
        register_recording_jobs(self.queue, self.service, reconcile_at_start=False)
        services = Services(
            recording=self.service,
            tokens=None,
            verifier=SignatureVerifier(AUTH_TOKEN),
            queue=self.queue,
            health_checks={"database": lambda: None},
        )
        settings = Settings(
            twilio=TwilioSettings(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN),
            server=ServerSettings(admin_token="x" * 32),
        )
        self.client = TestClient(create_app(settings, services))
        self.client.__enter__()

    def close(self) -> None:
        """Stop the app and release the database."""
        self.client.__exit__(None, None, None)
        self.engine.dispose()

    def post_form(self, path: str, params: dict[str, str]) -> int:
        """POST a signed form, as Twilio posts callbacks; the status code."""
        headers = {"X-Twilio-Signature": twilio_signature(BASE + path, params)}
        return self.client.post(path, data=params, headers=headers).status_code

    def post_json(self, path: str, payload: Any) -> int:
        """POST a signed JSON body with `bodySHA256`, as Event Streams webhook sinks do."""
        body = json.dumps(payload).encode()
        full = f"{path}?bodySHA256={hashlib.sha256(body).hexdigest()}"
        headers = {
            "X-Twilio-Signature": twilio_signature(BASE + full),
            "Content-Type": "application/json",
        }
        return self.client.post(full, content=body, headers=headers).status_code

    def run_jobs(self) -> None:
        """Run what the webhooks queued."""
        self.queue.run_all()

    def task(self, task_sid: str) -> TaskRecord | None:
        """The service's row for a task."""
        with self.sessions() as session:
            return session.get(TaskRecord, task_sid)

    def targets(self) -> list[RecordingTarget]:
        """Every recording target the service made."""
        with self.sessions() as session:
            return list(session.scalars(select(RecordingTarget)))
