"""`flexrec sim --help` names every control endpoint the simulator serves."""

from __future__ import annotations

import re
import sys

import pytest

from flexrec import cli
from flexsim.control import create_control_router
from flexsim.engine import Engine, EngineConfig
from flexsim.world import World


def test_every_control_endpoint_is_in_the_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per paragraph: paths are not wrapped
    monkeypatch.setattr(sys, "argv", ["flexrec", "sim", "--help"])
    with pytest.raises(SystemExit):
        cli.main()
    text = capsys.readouterr().out
    world = World()
    router = create_control_router(world, Engine(world, EngineConfig()), None, None)
    paths = {re.sub(r"\{[^}]+\}", "{}", getattr(route, "path", "")) for route in router.routes}
    assert paths, "the simulator serves control endpoints"
    shown = re.sub(r"\{[^}]+\}", "{}", text)
    for path in paths:
        assert path in shown, path
