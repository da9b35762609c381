"""Fixtures for the server's route tests (helpers live in server_harness.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from server_harness import (
    AUTH_TOKEN,
    FakeTokens,
    Harness,
    StubRecording,
    TestClient,
    make_settings,
)

from flexrec.app.factory import create_app
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier


@pytest.fixture
def harness_factory() -> Iterator[Callable[..., Harness]]:
    clients: list[TestClient] = []

    def build(**server: Any) -> Harness:
        recording = StubRecording()
        tokens = FakeTokens()
        checks: dict[str, Callable[[], None]] = {"database": lambda: None, "queue": lambda: None}
        services = Services(
            recording=recording,
            tokens=tokens,
            verifier=SignatureVerifier(AUTH_TOKEN),
            health_checks=checks,
        )
        client = TestClient(create_app(make_settings(**server), services))
        client.__enter__()
        clients.append(client)
        return Harness(client, recording, tokens, services)

    yield build
    for client in clients:
        client.__exit__(None, None, None)


@pytest.fixture
def harness(harness_factory: Callable[..., Harness]) -> Harness:
    return harness_factory()
