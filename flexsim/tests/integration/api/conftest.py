"""Fixtures for the simulator's REST surface: a populated world and clients for its app."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sim_api_support import ACCOUNT_AUTH, Scenario, build_scenario

from flexsim import defaults, serve_app
from flexsim.api import create_sim_app
from flexsim.world import World


@pytest.fixture
def scenario() -> Scenario:
    """A fresh populated world."""
    return build_scenario()


@pytest.fixture
def served(scenario: Scenario) -> Iterator[str]:
    """The scenario's app served over real HTTP; yields its base URL."""
    with serve_app(create_sim_app(scenario.world)) as base_url:
        yield base_url


@pytest.fixture
def api(served: str) -> Iterator[httpx.Client]:
    """An HTTP client for the served app, authenticated with the account's auth token."""
    with httpx.Client(base_url=served, headers=ACCOUNT_AUTH, timeout=30) as client:
        yield client


@pytest.fixture
def fake_media(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, int | None]]:
    """Replace `flexsim.media.render_media` and record what it was asked to render."""
    calls: list[tuple[str, str, int | None]] = []

    def render_media(world: World, recording: Any, fmt: str, requested: int | None) -> bytes:
        calls.append((recording.sid, fmt, requested))
        return f"{fmt}:{recording.sid}:{requested}".encode()

    try:
        module = importlib.import_module("flexsim.media")
    except ImportError:
        module = types.ModuleType("flexsim.media")
        monkeypatch.setitem(sys.modules, "flexsim.media", module)
    monkeypatch.setattr(module, "render_media", render_media, raising=False)
    return calls


@pytest.fixture
def account_path() -> Callable[[str], str]:
    """Build a Voice API path under the simulated account."""
    return lambda rest: f"/2010-04-01/Accounts/{defaults.ACCOUNT_SID}{rest}"
