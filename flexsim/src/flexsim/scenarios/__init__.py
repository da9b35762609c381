"""The built-in scenarios: how Flex moves one interaction through the world.

Rooms: `interaction` (one call's state and the single moves Flex makes), `directions` (how an
inbound, outbound or internal call reaches its agents), `conversation` (the talk, its scenario
events and the hang-up), `turns` (who speaks when). Each interaction's flow is a generator
driven by the engine (see `flexsim.engine`); the scenarios register themselves with the engine
when this package is imported.
"""

from __future__ import annotations

from flexsim.engine import Engine, Flow, Scenario, register_scenario
from flexsim.scenarios.directions import inbound, internal, outbound
from flexsim.scenarios.interaction import Interaction, deep_merge
from flexsim.scenarios.turns import plan_utterances

__all__ = ["BUILT_IN", "Interaction", "deep_merge", "plan_utterances", "play"]


def play(engine: Engine, scenario: str, direction: str, index: int) -> Flow:
    """The built-in scenarios' flow: one `Interaction` driven through the world."""
    return _run(Interaction(engine, scenario, direction, index))


def _run(interaction: Interaction) -> Flow:
    flows = {"inbound": inbound, "outbound": outbound}
    try:
        yield from flows.get(interaction.direction, internal)(interaction)
    finally:
        interaction.engine.interaction_finished(interaction.record)


# The built-in scenarios: (name, fixed direction or None for `inbound_share`, default weight).
# Registration order is the order of `scenario_names()`; draws sort by name, so it does not
# change which scenario a seed picks.
BUILT_IN: tuple[tuple[str, str | None, float], ...] = (
    ("basic", None, 40),
    ("hold", None, 10),
    ("cold_transfer", None, 6),
    ("warm_transfer", None, 6),
    ("third_party", None, 5),
    ("abandon", "inbound", 8),
    ("no_answer", "outbound", 6),
    ("browser_closed", None, 4),
    ("internal", "internal", 3),
    ("studio_recorded", "inbound", 6),
)
for _name, _direction, _weight in BUILT_IN:
    register_scenario(Scenario(_name, _direction, _weight, play))
