"""Route-test helpers: a stub recording service, a fake token validator, signed posts."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from fastapi.testclient import TestClient

from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.recording.errors import Forbidden, NotFound
from flexrec.server.services import Services
from flexrec.twilio.flex_tokens import InvalidToken, TokenInfo, TokenServiceUnavailable
from flexrec.twilio.resources import TERMINAL_CALL_STATUSES

AUTH_TOKEN = "test-auth-token-4f1c"
ADMIN_TOKEN = "admin-token-9b2e77"
WT_OWN = "WT" + "1" * 32
WT_FOREIGN = "WT" + "2" * 32
WT_NONE = "WT" + "3" * 32
WK_ALICE = "WK" + "a" * 32
WK_BOB = "WK" + "b" * 32


def sign(url: str, params: dict[str, str] | None = None) -> str:
    """X-Twilio-Signature computed independently of the SDK."""
    text = url + "".join(k + params[k] for k in sorted(params or {}))
    mac = hmac.new(AUTH_TOKEN.encode(), text.encode(), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


@dataclass
class StubRecording:
    """Records calls; pause/resume/state follow a tiny ownership table."""

    calls: list[tuple[str, Any]] = field(default_factory=list)
    fail_with: Exception | None = None
    answer_from_memory: bool = False  # what is_known_progress and the task memo answer
    memory_fails: bool = False  # the task memo's answer raises
    questions: list[tuple[str, Any]] = field(default_factory=list)
    owners: dict[str, str] = field(default_factory=lambda: {WT_OWN: WK_ALICE, WT_FOREIGN: WK_BOB})
    watch_states: list[str] = field(default_factory=list)  # what successive re-reads find
    fingerprint_moves: bool = True  # False: the long poll's cheap check always sees no change
    fingerprints: int = 0

    def _record(self, name: str, arg: Any) -> None:
        self.calls.append((name, arg))
        if self.fail_with is not None:
            raise self.fail_with

    @property
    def task_events(self) -> Any:
        return _TaskEvents(self)

    @property
    def intake(self) -> Any:
        return self  # the stub takes the other webhooks itself

    @property
    def pauses(self) -> Any:
        return self  # and the agent API's requests

    @property
    def reconciler(self) -> Any:
        return self

    def handle_taskrouter_event(self, event: Any) -> None:
        self._record("taskrouter", event)

    @staticmethod
    def call_status_is_news(event: Any) -> bool:
        return event.call_status in TERMINAL_CALL_STATUSES

    def note_call(self, event: Any) -> None:
        self.questions.append(("note", event))

    def is_known_progress(self, event: Any) -> bool:
        self.questions.append(("known?", event))
        return self.answer_from_memory

    def handle_conference_event(self, event: Any) -> None:
        self._record("conference", event)

    def handle_call_status(self, event: Any) -> None:
        self._record("call_status", event)

    def handle_recording_status(self, event: Any) -> None:
        self._record("recording_status", event)

    def _authorise(self, task_sid: str, actor: Any) -> None:
        owner = self.owners.get(task_sid)
        if owner is None:
            raise NotFound(f"no recording for {task_sid}")
        if owner != actor.worker_sid and not {"supervisor", "admin"} & set(actor.roles):
            raise Forbidden("not your task")

    def _act(self, name: str, task_sid: str, actor: Any, status: str) -> dict[str, Any]:
        self.calls.append((name, (task_sid, actor)))
        self._authorise(task_sid, actor)
        return {"task_sid": task_sid, "status": status, "recording_sid": "RE" + "9" * 32}

    def pause(self, task_sid: str, actor: Any) -> Any:
        return self._act("pause", task_sid, actor, "paused")

    def resume(self, task_sid: str, actor: Any) -> Any:
        return self._act("resume", task_sid, actor, "recording")

    def state_fingerprint(self, task_sid: str, actor: Any) -> Any:
        self.fingerprints += 1
        return self.fingerprints if self.fingerprint_moves else 0

    def state(self, task_sid: str, actor: Any, *, catch_up: bool = True) -> Any:
        if not catch_up:  # a long poll's re-read: the next scripted state, else unchanged
            status = self.watch_states.pop(0) if self.watch_states else "recording"
            return self._act("watch", task_sid, actor, status)
        return self._act("state", task_sid, actor, "recording")

    def list_recordings(self, **filters: Any) -> list[Any]:
        self.calls.append(("list_recordings", filters))
        return [{"recording_sid": "RE" + "9" * 32, "status": "completed"}]

    def reconcile(self) -> int:
        self.calls.append(("reconcile", None))
        return 0

    def list_tasks(self, **filters: Any) -> list[Any]:
        self.calls.append(("list_tasks", filters))
        return [{"task_sid": WT_OWN}]


@dataclass
class _TaskEvents:
    stub: StubRecording

    def handle(self, event: Any) -> None:
        self.stub.handle_taskrouter_event(event)

    def answer_from_memory(self, event: Any) -> bool:
        self.stub.questions.append(("memo?", event))
        if self.stub.memory_fails:
            raise RuntimeError("the memo broke")
        return self.stub.answer_from_memory


@dataclass
class FakeTokens:
    """Maps known token strings to identities; 'iam-down' simulates an outage."""

    down: bool = False
    seen: list[str] = field(default_factory=list)
    table: dict[str, TokenInfo] = field(
        default_factory=lambda: {
            "tok-alice": TokenInfo("alice", WK_ALICE, ("agent",), None),
            "tok-sup": TokenInfo("sue", None, ("supervisor",), None),
        }
    )

    def validate(self, token: str) -> TokenInfo:
        self.seen.append(token)
        if self.down:
            raise TokenServiceUnavailable("IAM unreachable")
        info = self.table.get(token)
        if info is None:
            raise InvalidToken("the Flex token has expired")
        return info


@dataclass
class Harness:
    client: TestClient
    recording: StubRecording
    tokens: FakeTokens
    services: Services

    def post_signed(
        self, path: str, params: dict[str, str], *, signature: str | None = "auto", **kw: Any
    ) -> Any:
        url = "http://testserver" + path
        headers = dict(kw.pop("headers", {}))
        if signature == "auto":
            headers["X-Twilio-Signature"] = sign(url, params)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return self.client.post(path, content=urlencode(params), headers=headers, **kw)


def make_settings(**server: Any) -> Settings:
    return Settings(
        twilio=TwilioSettings(account_sid="AC" + "0" * 32, auth_token=AUTH_TOKEN),
        server=ServerSettings(admin_token=ADMIN_TOKEN, **server),
    )
