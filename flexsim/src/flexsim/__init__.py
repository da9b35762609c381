"""A simulated Twilio Flex contact center that the official Twilio SDK can talk to.

The names below are flexsim's public API (documented in flexsim/README.md); everything else is
internal and may change, except `flexsim.testing` (a pytest plugin and SDK clients bound to a
simulator). Three parts:

- run a whole simulator: `SimRunner(SimConfig(...))`, its snapshots (`Conversation`,
  `RecordingInfo`, `SimStats`), `defaults` (the simulated account's credentials) and
  `twilio_signature` (sign a webhook as Twilio does);
- add scenarios: `register_scenario(Scenario(...))` with a flow yielding seconds or an
  `AgentRequest`;
- in-process pieces for tests: `create_sim_app(World(...))` (the REST surface as an ASGI app),
  `issue_token`, `serve_app` (any ASGI app on loopback from a thread), `free_port`, and
  realistic call audio (`make_sample_conversation`, `render_recording`,
  `truth_segments`, `word_truth` (every word and card digit a recording holds), `render_media`,
  `encode_audio`).

Importing the package loads nothing but the credentials: each name is imported on first use
(PEP 562), so `from flexsim import twilio_signature` costs the standard library only, and the
web server, audio synthesis and progress display load when something asks for them. The
built-in scenarios register with the engine as soon as a name that runs or lists scenarios is
used (the engine itself knows none).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flexsim import defaults

if TYPE_CHECKING:  # the type checker sees every name as if imported here
    from flexsim.api import SimCredentials, create_sim_app
    from flexsim.audio import render_recording, truth_segments
    from flexsim.audio.word_truth import word_truth
    from flexsim.config import SimConfig
    from flexsim.engine import (
        AgentRequest,
        Engine,
        Flow,
        Scenario,
        default_weights,
        register_scenario,
        scenario_names,
    )
    from flexsim.faults import ApiFault, FaultPlan
    from flexsim.loopback import free_port, serve_app
    from flexsim.media import (
        SampleConversation,
        encode_audio,
        make_sample_conversation,
        render_media,
    )
    from flexsim.runner import SimRunner
    from flexsim.signature import twilio_signature
    from flexsim.speech.espeak import espeak_voices
    from flexsim.tokens import issue_token
    from flexsim.views import Conversation, RecordingInfo, ReservationInfo, SimStats
    from flexsim.world import SimClock, World

# public name -> the module that defines it
_HOMES: dict[str, str] = {
    "SimCredentials": "flexsim.api",
    "create_sim_app": "flexsim.api",
    "render_recording": "flexsim.audio",
    "truth_segments": "flexsim.audio",
    "AgentRequest": "flexsim.engine",
    "Engine": "flexsim.engine",
    "Flow": "flexsim.engine",
    "Scenario": "flexsim.engine",
    "default_weights": "flexsim.engine",
    "register_scenario": "flexsim.engine",
    "scenario_names": "flexsim.engine",
    "ApiFault": "flexsim.faults",
    "FaultPlan": "flexsim.faults",
    "free_port": "flexsim.loopback",
    "serve_app": "flexsim.loopback",
    "SampleConversation": "flexsim.media",
    "encode_audio": "flexsim.media",
    "make_sample_conversation": "flexsim.media",
    "render_media": "flexsim.media",
    "SimConfig": "flexsim.config",
    "SimRunner": "flexsim.runner",
    "twilio_signature": "flexsim.signature",
    "word_truth": "flexsim.audio.word_truth",
    "espeak_voices": "flexsim.speech.espeak",
    "issue_token": "flexsim.tokens",
    "Conversation": "flexsim.views",
    "RecordingInfo": "flexsim.views",
    "ReservationInfo": "flexsim.views",
    "SimStats": "flexsim.views",
    "SimClock": "flexsim.world",
    "World": "flexsim.world",
}
# Names whose users expect the built-in scenarios to be registered already.
_NEEDS_SCENARIOS = frozenset({"flexsim.engine", "flexsim.runner", "flexsim.config"})

__all__ = [
    "AgentRequest",
    "ApiFault",
    "Conversation",
    "Engine",
    "FaultPlan",
    "Flow",
    "RecordingInfo",
    "ReservationInfo",
    "SampleConversation",
    "Scenario",
    "SimClock",
    "SimConfig",
    "SimCredentials",
    "SimRunner",
    "SimStats",
    "World",
    "create_sim_app",
    "default_weights",
    "defaults",
    "encode_audio",
    "espeak_voices",
    "free_port",
    "issue_token",
    "make_sample_conversation",
    "register_scenario",
    "render_media",
    "render_recording",
    "scenario_names",
    "serve_app",
    "truth_segments",
    "twilio_signature",
    "word_truth",
]


def __getattr__(name: str) -> Any:
    """Import a public name on first use (module `__getattr__`, PEP 562) and keep it."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'flexsim' has no attribute {name!r}")
    if home in _NEEDS_SCENARIOS:
        importlib.import_module("flexsim.scenarios")  # registers the built-in scenarios
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
