"""The redaction processor and the configured pipeline never print secrets."""

from __future__ import annotations

import io
import json
import linecache
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flexrec.logs import (
    REDACTED,
    bound_sids,
    configure_logging,
    format_exc_info,
    get_logger,
    redact_secrets,
)

JWE = "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..abc123def.ghi456jkl.mno789"


def run(event: dict[str, object]) -> dict[str, object]:
    return dict(redact_secrets(None, "info", dict(event)))


@pytest.mark.parametrize(
    "key",
    ["auth_token", "Authorization", "Token", "X-Twilio-Signature", "api_secret", "password"],
)
def test_secret_keys_are_replaced(key: str) -> None:
    assert run({"event": "x", key: "s3cr3t-value"})[key] == REDACTED


def test_nested_mappings_are_scrubbed() -> None:
    out = run({"event": "req", "headers": {"authorization": "Basic abc", "accept": "json"}})
    assert out["headers"] == {"authorization": REDACTED, "accept": "json"}


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer abc.def.ghi",
        f"token={JWE}",
        f"got {JWE} from plugin",
        'body {"Token": "opaque-flex-token"}',
        "X-Twilio-Signature: L/OH5YylLD5NRKLltdqwSvS0BnU=",
    ],
)
def test_secret_looking_strings_are_scrubbed(text: str) -> None:
    out = str(run({"event": text})["event"])
    for secret in ("abc.def.ghi", JWE, "opaque-flex-token", "L/OH5YylLD5NRKLltdqwSvS0BnU="):
        assert secret not in out
    assert REDACTED in out


def test_plain_sids_survive() -> None:
    out = run({"event": "started", "task_sid": "WT" + "a" * 32, "call_sid": "CA" + "b" * 32})
    assert out["task_sid"] == "WT" + "a" * 32
    assert out["call_sid"] == "CA" + "b" * 32


def test_pipeline_redacts_registered_secret_in_stdlib_and_structlog(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging(json_output=True, secrets=["my-auth-token-123"], stream=stream)
    logging.getLogger("twilio.http_client").warning("url with my-auth-token-123 inside")
    with bound_sids(task_sid="WT1", call_sid=None):
        get_logger("t").info("hello", detail="my-auth-token-123", authorization="Bearer zzz")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    text = stream.getvalue()
    assert "my-auth-token-123" not in text
    assert "zzz" not in text
    assert lines[1]["task_sid"] == "WT1"
    assert "call_sid" not in lines[1]
    assert lines[1]["event"] == "hello"


def test_bound_sids_nest_and_put_back_what_was_bound() -> None:
    import structlog

    with bound_sids(delivery_id="d-1", task_sid="WT1"):
        with bound_sids(task_sid="WT2", call_sid="CA1"):
            inner = structlog.contextvars.get_contextvars()
        outer = structlog.contextvars.get_contextvars()
    after = structlog.contextvars.get_contextvars()
    assert inner == {"delivery_id": "d-1", "task_sid": "WT2", "call_sid": "CA1"}
    assert outer == {"delivery_id": "d-1", "task_sid": "WT1"}
    assert after == {}


# Strings the patterns are made for, and their neighbours: each scrubbed as the three
# substitutions alone would (the pre-check only skips strings none of them can match).
_ALPHABET = "aAbeJy:= \t\n\"'&,;}.~+/_-0123456789" + "BearerBasicsignaturetoken"


@given(st.text(alphabet=_ALPHABET, max_size=60) | st.text(max_size=40))
def test_a_string_is_scrubbed_as_every_pattern_would(text: str) -> None:
    from flexrec import logs

    expected = text
    for secret in logs._known_secrets:
        expected = expected.replace(secret, REDACTED)
    for pattern, replacement in logs._STRING_PATTERNS:
        expected = pattern.sub(replacement, expected)
    assert logs._scrub_string(text) == expected


@pytest.mark.parametrize(
    "text",
    ["Bearer abc.def", "basic\tdXNlcjpwYXNz", JWE, "x" + JWE, "token=abc123", "Signature: 'zz'",
     "CA" + "1" * 32, "in-progress", "+15550001111"],
)  # fmt: skip
def test_strings_without_a_secret_shape_are_left_and_those_with_one_are_not(text: str) -> None:
    from flexrec import logs

    expected = text
    for pattern, replacement in logs._STRING_PATTERNS:
        expected = pattern.sub(replacement, expected)
    assert logs._scrub_string(text) == expected


@pytest.mark.parametrize("bridge", ["structlog", "stdlib"])
def test_a_logged_traceback_shows_its_source_lines(bridge: str) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json_output=True, stream=stream)
    try:
        raise ValueError("the marker line's own exception")  # the traceback quotes this line
    except ValueError:
        if bridge == "structlog":
            get_logger("flexrec.test").exception("failed_here")
        else:
            logging.getLogger("somelib").exception("failed_here")
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert "the marker line's own exception\")  # the traceback quotes" in line["exception"]


def test_rendering_a_traceback_leaves_no_source_file_cached() -> None:
    linecache.clearcache()
    try:
        raise ValueError("cached?")
    except ValueError:
        out = format_exc_info(None, "error", {"event": "failed_here", "exc_info": True})
    assert 'raise ValueError("cached?")' in str(out["exception"])
    assert __file__ not in linecache.cache
