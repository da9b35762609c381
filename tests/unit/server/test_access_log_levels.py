"""Access log lines: answered webhooks only at DEBUG, failures at INFO (metrics count both)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable

import pytest
from server_harness import Harness

CA = "CA" + "0" * 31 + "1"


def _access_lines(
    level: str, harness_factory: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> list[dict[str, object]]:
    from flexrec.logs import configure_logging

    stream = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging(level, json_output=True, stream=stream)
    h = harness_factory()
    params = {"CallSid": CA, "CallStatus": "completed"}
    assert h.post_signed("/webhooks/call-status", params).status_code == 204
    h.recording.fail_with = RuntimeError("try again")
    assert h.post_signed("/webhooks/call-status", params).status_code == 500
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["event"] == "http_request"]


def test_answered_webhooks_log_only_at_debug(
    harness_factory: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    access = _access_lines("INFO", harness_factory, monkeypatch)
    assert [line["status"] for line in access] == [500]


def test_debug_logs_every_request(
    harness_factory: Callable[..., Harness], monkeypatch: pytest.MonkeyPatch
) -> None:
    access = _access_lines("DEBUG", harness_factory, monkeypatch)
    assert [line["status"] for line in access] == [204, 500]
