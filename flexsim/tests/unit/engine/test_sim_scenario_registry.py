"""Scenarios register themselves with the engine; the engine starts them by the registry alone."""

from __future__ import annotations

import ast
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
