"""Scenarios register themselves with the engine; the engine starts them by the registry alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import flexsim.engine
from flexsim.engine import (
    AgentRequest,
    Engine,
    Flow,
    Scenario,
    default_weights,
    get_scenario,
    register_scenario,
    scenario_names,
)

Sim = Any  # the conftest's Sim


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, Scenario]:
    """The registry, restored after the test (registrations here must not leak)."""
    saved = dict(flexsim.engine._SCENARIOS)
    monkeypatch.setattr(flexsim.engine, "_SCENARIOS", saved)
    return saved


def test_the_built_in_scenarios_are_registered_with_their_direction_and_weight() -> None:
    assert "basic" in scenario_names()
    assert get_scenario("abandon").direction == "inbound"
    assert get_scenario("no_answer").direction == "outbound"
    assert get_scenario("internal").direction == "internal"
    assert get_scenario("basic").direction is None
    assert default_weights()["basic"] == 40


def test_an_unknown_scenario_is_refused_naming_the_choices(sim: Sim) -> None:
    with pytest.raises(ValueError, match="basic"):
        sim.engine.start_interaction("no-such-scenario")


def test_a_name_registers_once(registry: dict[str, Scenario]) -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_scenario(get_scenario("basic"))


def test_the_engine_runs_a_scenario_it_does_not_know_by_name(
    registry: dict[str, Scenario], sim_factory: Callable[..., Sim]
) -> None:
    played: list[tuple[str, str, int, str | None]] = []

    def flow(engine: Engine, name: str, direction: str, index: int) -> Flow:
        worker = yield AgentRequest(patience_s=5.0)
        played.append((name, direction, index, worker.sid if worker else None))
        yield 3.0
        if worker is not None:
            engine.release_worker(worker)
        engine.interaction_finished(None)

    register_scenario(Scenario("ping", "outbound", 0, flow))
    sim = sim_factory()
    sim.engine.start_interaction("ping", "inbound")
    sim.engine.run_until_idle()
    assert [(name, direction, index) for name, direction, index, _ in played] == [
        ("ping", "outbound", 0)  # the registered direction wins over the caller's
    ]
    assert played[0][3] in sim.world.workers
    assert sim.engine.idle()


def test_weighted_traffic_draws_registered_scenarios_only(
    registry: dict[str, Scenario], sim_factory: Callable[..., Sim]
) -> None:
    seen: list[str] = []

    def flow(engine: Engine, name: str, direction: str, index: int) -> Flow:
        seen.append(name)
        yield 1.0
        engine.interaction_finished(None)

    register_scenario(Scenario("quick", None, 1, flow))
    sim = sim_factory(rate_per_hour=3600, calls=5, scenario_weights={"quick": 1})
    sim.engine.start_traffic()
    sim.engine.run_until_idle()
    assert seen == ["quick"] * 5


def test_the_engine_module_names_no_scenario() -> None:
    source = Path(flexsim.engine.__file__).read_text()
    tree = ast.parse(source)
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "flexsim.scenarios" not in imported
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)}
    assert not strings & set(scenario_names())


def test_an_engine_without_its_scenarios_says_how_to_get_them() -> None:
    # A fresh interpreter: in this one an earlier import has registered them already.
    script = (
        "from flexsim.engine import Engine, EngineConfig\n"
        "from flexsim.world import SimClock, World\n"
        "engine = Engine(World(SimClock(scale=0), seed=1), EngineConfig(agents=1, calls=1))\n"
        "engine.pick_scenario()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode != 0
    assert "import flexsim.scenarios" in done.stderr


def test_a_mix_with_no_positive_weight_is_refused_by_name(sim: Sim) -> None:
    sim.engine.config.scenario_weights = {"basic": 0.0}
    with pytest.raises(ValueError, match="no scenario has a positive weight"):
        sim.engine.pick_scenario()
