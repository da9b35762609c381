"""An unexpected error is answered 500 without raising to the server (which would close the
keep-alive connection), and a client that went away is not a server error."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from fastapi import Request
from server_harness import Harness
from starlette.requests import ClientDisconnect


def test_an_unhandled_error_is_a_json_500_and_the_server_never_sees_it_raise(
    harness_factory: Callable[..., Harness],
) -> None:
    harness = harness_factory()

    @harness.client.app.get("/boom")  # type: ignore[attr-defined]
    def boom() -> None:
        raise RuntimeError("a bug")

    # The test client re-raises whatever reaches the server, as uvicorn would see it.
    answer = harness.client.get("/boom")
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal_error"
    assert harness.client.get("/healthz").status_code == 200


def test_a_client_disconnecting_mid_body_is_not_logged_as_an_error(
    harness_factory: Callable[..., Harness], caplog: pytest.LogCaptureFixture
) -> None:
    harness = harness_factory()

    @harness.client.app.post("/upload")  # type: ignore[attr-defined]
    async def upload(request: Request) -> None:
        raise ClientDisconnect

    with caplog.at_level(logging.INFO):
        answer = harness.client.post("/upload", content=b"partial")
    assert answer.status_code == 499  # nobody reads it; it only keeps metrics and logs honest
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
