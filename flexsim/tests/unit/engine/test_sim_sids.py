"""SIDs are unique per run; everything else about a run still follows its seed."""

from __future__ import annotations

import json
import re
from typing import Any

import flexsim.scenarios  # noqa: F401 - the built-in scenarios
from flexsim.engine import Engine, EngineConfig
from flexsim.runner import SimConfig, SimRunner
from flexsim.truth import all_truth
from flexsim.variants import FRIENDLY
from flexsim.world import SimClock, World

SID = re.compile(r"\b(CA|RE|CF|WT|WR|WK|WQ|WW|WA|EV)[0-9a-f]{32}\b")


def _day(salt: int) -> list[dict[str, Any]]:
    world = World(SimClock(scale=0, start_epoch=1_800_000_000.0), seed=21, sid_salt=salt)
    engine = Engine(world, EngineConfig(agents=4, seed=21, rate_per_hour=0, variant_pins=FRIENDLY))
    engine.populate()
    for scenario in ("basic", "hold", "cold_transfer", "no_answer"):
        engine.start_interaction(scenario)
    engine.run_until_idle()
    return all_truth(world, engine.records)


def _without_sids(truth: list[dict[str, Any]]) -> str:
    names: dict[str, str] = {}

    def rename(match: re.Match[str]) -> str:
        return names.setdefault(match.group(0), f"{match.group(1)}#{len(names)}")

    return SID.sub(rename, json.dumps(truth, sort_keys=True))


def test_a_salt_changes_every_sid_and_nothing_else() -> None:
    plain, salted = _day(0), _day(0xABCDEF)
    plain_sids = set(SID.findall(json.dumps(plain)))
    assert plain_sids
    assert not set(m.group(0) for m in SID.finditer(json.dumps(plain))) & set(
        m.group(0) for m in SID.finditer(json.dumps(salted))
    )
    assert _without_sids(plain) == _without_sids(salted)
    assert _day(0) == plain  # unsalted worlds of one seed are the same world


def test_two_runs_of_one_seed_mint_different_sids_unless_the_salt_is_pinned() -> None:
    def workers(**config: Any) -> list[str]:
        return SimRunner(SimConfig(port=0, seed=5, agents=3, **config)).agent_sids()

    assert not set(workers()) & set(workers())
    assert workers(sid_salt=7) == workers(sid_salt=7)
