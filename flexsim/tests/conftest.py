"""Fixtures for every flexsim test."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _scrub_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's Twilio settings out of every test (SimConfig reads TWILIO_*)."""
    for name in list(os.environ):
        if name.startswith("TWILIO_"):
            monkeypatch.delenv(name, raising=False)
