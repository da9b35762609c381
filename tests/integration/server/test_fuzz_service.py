"""Fuzzing the whole service: schemathesis against `/openapi.json`, and signed mutated forms and
Event Streams batches on every webhook route.

The service is the one `flexrec serve` builds (SQLite, the simulator as its Twilio), called
with the admin token and a signed-in supervisor's console session. Every answer must be
below 500 and one of the codes the operation documents. `FUZZ_EXAMPLES` (default 15 per
operation) sets the budget; `bench/fuzz_service.py` runs it bigger and prints the figures.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from flexrec.accounts.users import create_user
from flexrec.cli.serve import build_service
from flexrec.config import Settings
from flexsim import SimConfig, SimRunner

AUTH = "fuzz-auth-token"
ADMIN = "fuzz-admin-token-123456"
PUBLIC = "http://testserver"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
# Probes whose 503 is their documented answer ("not ready": the fuzzer's forged webhooks fail
# their signature check, which readiness reports), not a server error.
PROBES = {"GET /readyz", "GET /healthz"}


@dataclass
class Tally:
    """Every answer of a fuzz run, and the ones that broke a promise."""

    answers: Counter[int] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    undocumented: dict[str, set[int]] = field(default_factory=dict)

    def record(self, label: str, status: int, documented: set[str]) -> None:
        self.answers[status] += 1
        if status >= 500 and not (label in PROBES and status == 503):
            self.server_errors.append(f"{label} -> {status}")
        if not _documented(status, documented):
            self.undocumented.setdefault(label, set()).add(status)

    def summary(self, what: str) -> str:
        return (
            f"{what}: {sum(self.answers.values())} requests, {len(self.server_errors)} 5xx, "
            f"{len(self.undocumented)} operations with undocumented codes "
            f"{ {k: sorted(v) for k, v in self.undocumented.items()} }"
        )


def _documented(status: int, documented: set[str]) -> bool:
    return bool({str(status), f"{status // 100}XX", "default"} & documented)


@pytest.fixture(scope="module")
def twilio() -> Iterator[SimRunner]:
    """The simulator as Twilio: token checks and Recording API calls get real answers."""
    config = SimConfig(port=0, agents=1, calls=0, start_traffic=False, auth_token=AUTH)
    with SimRunner(config) as sim:
        yield sim


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, twilio: SimRunner
) -> Iterator[tuple[TestClient, Any]]:
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    env = {
        "TWILIO_ACCOUNT_SID": twilio.config.account_sid,
        "TWILIO_AUTH_TOKEN": AUTH,
        "TWILIO_WORKSPACE_SID": twilio.world.workspace_sid,
        "FLEXREC_TWILIO_BASE_URL": twilio.base_url,
        "TWILIO_TIMEOUT_S": "2",
        "FLEXREC_PUBLIC_URL": PUBLIC,
        "FLEXREC_DATA_DIR": str(workdir / "data"),
        "FLEXREC_ADMIN_TOKEN": ADMIN,
        "FLEXREC_CONSOLE_SECRET": "f" * 40,
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        app, services = build_service(Settings.from_env(), consumer_workers=0)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    with services.sessions() as session:
        create_user(session, "sue", "a-long-enough-password", "supervisor")
        session.commit()
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            page = client.get("/console/login").text
            marker = '<input type="hidden" name="csrf_token" value="'
            start = page.index(marker) + len(marker)
            form = {"username": "sue", "password": "a-long-enough-password",
                    "csrf_token": page[start : page.index('"', start)]}  # fmt: skip
            signed_in = client.post("/console/login", data=form, follow_redirects=False)
            assert signed_in.status_code == 303
            yield client, services
    finally:
        services.close()


_FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.generate],
)


def _fuzz_operation(
    operation: Any, documented: set[str], tally: Tally, headers: dict[str, str], cookies: Any
) -> None:
    @_FUZZ_SETTINGS
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        response = case.call(headers=headers, cookies=cookies)
        tally.record(operation.label, response.status_code, documented)

    run()


def test_schemathesis_finds_no_5xx_and_only_documented_codes(
    service: tuple[TestClient, Any],
) -> None:
    client, _services = service
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    tally = Tally()
    headers = {"Authorization": f"Bearer {ADMIN}"}
    cookies = dict(client.cookies.items())
    for result in schema.get_all_operations():
        operation = result.ok()
        documented = {str(code) for code in operation.definition.raw.get("responses", {})}
        _fuzz_operation(operation, documented, tally, headers, cookies)
    print("\n" + tally.summary("schemathesis"))
    assert tally.server_errors == []
    assert tally.undocumented == {}


# -- signed mutated webhooks ---------------------------------------------------------------------

_SIDS = {"Task": "WT", "Reservation": "WR", "Worker": "WK", "Call": "CA", "Conference": "CF",
         "Recording": "RE", "TaskQueue": "WQ", "Workflow": "WW", "Account": "AC",
         "Workspace": "WS"}  # fmt: skip
_FIELDS = {
    "/webhooks/taskrouter": ["EventType", "Timestamp", "TaskSid", "TaskAttributes",
                             "TaskAssignmentStatus", "TaskQueueSid", "TaskQueueName",
                             "WorkflowSid", "ReservationSid", "WorkerSid", "WorkerName",
                             "ResourceSid", "TaskChannelUniqueName", "Sid", "TaskAge"],
    "/webhooks/conference": ["StatusCallbackEvent", "ConferenceSid", "FriendlyName", "CallSid",
                             "ParticipantLabel", "Hold", "SequenceNumber", "Timestamp",
                             "ParticipantCallStatus"],
    "/webhooks/call-status": ["CallSid", "CallStatus", "Timestamp", "Direction",
                              "SequenceNumber", "CallDuration"],
    "/webhooks/recording-status": ["RecordingSid", "CallSid", "RecordingStatus", "RecordingUrl",
                                   "RecordingChannels", "RecordingStartTime",
                                   "RecordingDuration", "ErrorCode", "RecordingTrack",
                                   "RecordingSource", "ConferenceSid"],
}  # fmt: skip
_EVENTS = ["task.created", "task.updated", "task.canceled", "task.completed", "task.wrapup",
           "reservation.created", "reservation.accepted", "reservation.wrapup",
           "reservation.completed", "participant-join", "participant-leave", "participant-hold",
           "conference-end", "in-progress", "completed", "absent", "failed", "ringing"]  # fmt: skip
_NUMBERS = ["0", "-1", "1790000000", "1790000000000", "inf", "-inf", "nan", "1e400", "1e-400",
            str(2**31), str(2**63), str(-(2**63) - 1), "9" * 40, "9" * 4301, "\u00b2", "1_000",
            " 7 ", "0x10"]  # fmt: skip
_TIMES = ["Tue, 24 Nov 2026 12:00:05 +0000", "2026-11-24T12:00:05Z", "0001-01-01T00:00:00+01:00",
          "9999-12-31T23:59:59Z", "2026-11-24T12:00:05"]  # fmt: skip


def _sid_for(name: str) -> st.SearchStrategy[str]:
    prefix = next((p for key, p in _SIDS.items() if name.startswith(key)), "CA")
    return st.one_of(
        st.just(prefix + "1" * 32),
        st.text(alphabet="0123456789abcdef", min_size=32, max_size=32).map(lambda h: prefix + h),
        st.text(max_size=40),
    )


def _attributes() -> st.SearchStrategy[str]:
    leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20))
    tree = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    )
    facts = st.fixed_dictionaries(
        {"call_sid": _sid_for("Call"), "direction": st.sampled_from(["inbound", "outbound", "x"])},
        optional={"conference": tree, "extra": tree},
    )
    deep = st.integers(50, 3000).map(lambda n: '{"a":' * n + "1" + "}" * n)
    return st.one_of(facts.map(lambda d: json.dumps(d, allow_nan=True)), deep, st.text())


def _value(name: str) -> st.SearchStrategy[str]:
    if name.endswith("Sid"):
        return _sid_for(name)
    if name == "TaskAttributes":
        return _attributes()
    if name in ("EventType", "StatusCallbackEvent", "CallStatus", "RecordingStatus"):
        return st.sampled_from(_EVENTS) | st.text(max_size=30)
    if name in ("Timestamp", "RecordingStartTime"):
        return st.sampled_from(_TIMES + _NUMBERS) | st.text(max_size=30)
    return st.sampled_from(_NUMBERS) | st.text(max_size=60)


def _form(path: str) -> st.SearchStrategy[dict[str, str]]:
    names = _FIELDS[path]
    known = st.fixed_dictionaries({}, optional={name: _value(name) for name in names})
    extra = st.dictionaries(st.text(min_size=1, max_size=12), st.text(max_size=40), max_size=3)
    return st.tuples(known, extra).map(lambda pair: {**pair[1], **pair[0]})


def _signature(url: str, params: dict[str, str] | None = None) -> str:
    data = url + "".join(k + v for k, v in sorted((params or {}).items()))
    return base64.b64encode(hmac.new(AUTH.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _event_streams_body() -> st.SearchStrategy[bytes]:
    payload = st.fixed_dictionaries(
        {},
        optional={
            "task_sid": _sid_for("Task"),
            "reservation_sid": _sid_for("Reservation"),
            "worker_sid": _sid_for("Worker"),
            "task_attributes": _attributes(),
            "timestamp": st.sampled_from(_NUMBERS + _TIMES),
            "task_assignment_status": st.text(max_size=12),
        },
    )
    cloud = st.fixed_dictionaries(
        {"type": st.sampled_from(["com.twilio.taskrouter." + e for e in _EVENTS[:9]])
         | st.text(max_size=30),
         "data": st.one_of(payload.map(lambda p: {"payload": p}), payload, st.text())},
        optional={"id": st.text(max_size=20), "time": st.sampled_from(_TIMES + _NUMBERS)},
    )  # fmt: skip
    batch = st.lists(cloud, max_size=3).map(lambda b: json.dumps(b, allow_nan=True).encode())
    deep = st.integers(50, 3000).map(lambda n: ("[" * n + "]" * n).encode())
    return st.one_of(batch, deep, st.binary(max_size=200))


def _fuzz_webhook(client: TestClient, path: str, documented: set[str], tally: Tally) -> None:
    @settings(_FUZZ_SETTINGS, max_examples=EXAMPLES * 4)
    @given(form=_form(path))
    def run(form: dict[str, str]) -> None:
        response = client.post(
            path,
            content=urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": _signature(PUBLIC + path, form)},
        )  # fmt: skip
        assert response.status_code != 403, "a correctly signed form was refused"
        tally.record(path, response.status_code, documented)

    run()


def test_signed_mutated_webhooks_find_no_5xx_and_only_documented_codes(
    service: tuple[TestClient, Any],
) -> None:
    client, _services = service
    spec = client.get("/openapi.json").json()
    tally = Tally()

    def documented(path: str) -> set[str]:
        return set(spec["paths"][path]["post"]["responses"])

    for path in _FIELDS:
        _fuzz_webhook(client, path, documented(path), tally)

    @settings(_FUZZ_SETTINGS, max_examples=EXAMPLES * 4)
    @given(body=_event_streams_body())
    def run_streams(body: bytes) -> None:
        path = "/webhooks/event-streams?bodySHA256=" + hashlib.sha256(body).hexdigest()
        response = client.post(
            path,
            content=body,
            headers={"Content-Type": "application/json",
                     "X-Twilio-Signature": _signature(PUBLIC + path)},
        )  # fmt: skip
        assert response.status_code != 403, "a correctly signed body was refused"
        tally.record("/webhooks/event-streams", response.status_code,
                     documented("/webhooks/event-streams"))  # fmt: skip

    run_streams()
    print("\n" + tally.summary("signed webhook fuzz"))
    assert tally.server_errors == []
    assert tally.undocumented == {}
