"""`flexrec sim --help` names every control endpoint the simulator serves."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from flexrec.cli import root as cli
from flexsim import SimConfig, SimRunner


def _paths(routes: list[Any], prefix: str = "") -> list[str]:
    # Included routers may be wrapped (their prefix in `include_context`): look inside.
    found: list[str] = []
    for route in routes:
        if hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            inner_prefix = prefix + (getattr(context, "prefix", "") or "")
            found += _paths(route.original_router.routes, inner_prefix)
        elif hasattr(route, "path"):
            found.append(prefix + route.path)
    return found


def test_every_control_endpoint_is_in_the_help(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # one line per paragraph: paths are not wrapped
    monkeypatch.setattr(sys, "argv", ["flexrec", "sim", "--help"])
    with pytest.raises(SystemExit):
        cli.main()
    text = capsys.readouterr().out
    app = SimRunner(SimConfig(port=0)).app  # built, not started: nothing listens
    paths = {
        re.sub(r"\{[^}]+\}", "{}", path) for path in _paths(app.routes) if path.startswith("/_sim/")
    }
    assert paths, "the simulator serves control endpoints"
    shown = re.sub(r"\{[^}]+\}", "{}", text)
    for path in paths:
        assert path in shown, path
