"""Fixtures for engine tests: a world on a manual clock and an engine driving it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

import flexsim.scenarios  # noqa: F401 - the built-in scenarios these tests drive
from flexsim.engine import Engine, EngineConfig
from flexsim.variants import FRIENDLY
from flexsim.world import SimClock, World, WorldEvent

START = 1_800_000_000.0


@dataclass
class Sim:
    """A manual-clock simulator with every emitted event recorded."""

    world: World
    engine: Engine
    events: list[WorldEvent] = field(default_factory=list)

    def names(self, kind: str | None = None) -> list[str]:
        """Event names in order (optionally of one kind)."""
        return [e.name for e in self.events if kind is None or e.kind == kind]

    def run(self, scenario: str, direction: str | None = None) -> None:
        """Run one interaction of `scenario` to its end."""
        self.engine.start_interaction(scenario, direction)
        self.engine.run_until_idle()


def make_sim(agents: int = 4, seed: int = 5, **config: object) -> Sim:
    """A fresh manual-clock simulator."""
    world = World(SimClock(scale=0, start_epoch=START), seed=seed)
    # Flow tests see Flex's friendliest account unless they ask for variants (test_sim_variants).
    settings: dict[str, object] = {"rate_per_hour": 0, "variant_pins": dict(FRIENDLY), **config}
    engine = Engine(world, EngineConfig(agents=agents, seed=seed, **settings))  # type: ignore[arg-type]
    engine.populate()
    sim = Sim(world, engine)
    world.subscribe(sim.events.append)
    return sim


@pytest.fixture
def sim() -> Sim:
    """A manual-clock simulator with four agents."""
    return make_sim()


@pytest.fixture
def sim_factory() -> Callable[..., Sim]:
    """Build simulators with other settings."""
    return make_sim
