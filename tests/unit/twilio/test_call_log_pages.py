"""A page of a period listing Twilio failed to serve is asked again in place (idempotent read);
a refusal that is not retryable ends the listing at once."""

from __future__ import annotations

import pytest

from flexrec.twilio.call_log import PAGE_ATTEMPTS, read_page
from flexrec.twilio.errors import GatewayError


def test_a_retryable_failure_is_asked_again_with_growing_pauses() -> None:
    answers: list[object] = [
        GatewayError("Twilio 503", status=503),
        GatewayError("Twilio 429", status=429, code=20429),
        "page",
    ]
    slept: list[float] = []

    def fetch() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert read_page(fetch, sleep=slept.append) == "page"
    assert slept == [0.5, 1.0]


def test_a_refusal_is_raised_at_once_and_an_outage_after_the_last_attempt() -> None:
    slept: list[float] = []

    def refused() -> object:
        raise GatewayError("Twilio 401", status=401)

    with pytest.raises(GatewayError, match="401"):
        read_page(refused, sleep=slept.append)
    assert slept == []

    def down() -> object:
        raise GatewayError("timed out", status=None)

    with pytest.raises(GatewayError, match="timed out"):
        read_page(down, sleep=slept.append)
    assert len(slept) == PAGE_ATTEMPTS - 1
