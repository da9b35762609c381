"""A simulated Twilio Flex contact center that the official Twilio SDK can talk to.

The names below are flexsim's public API (documented in flexsim/README.md); everything else is
internal and may change. Three parts:

- run a whole simulator: `SimRunner(SimConfig(...))`, its snapshots (`Conversation`,
  `RecordingInfo`, `SimStats`), `defaults` (the simulated account's credentials) and
  `twilio_signature` (sign a webhook as Twilio does);
- add scenarios: `register_scenario(Scenario(...))` with a flow yielding seconds or an
  `AgentRequest`;
- in-process pieces for tests: `create_sim_app(World(...))` (the REST surface as an ASGI app),
  `issue_token`, `serve_app` (any ASGI app on loopback from a thread), `free_port`, and
  realistic call audio (`make_sample_conversation`, `render_recording`,
  `truth_segments`, `render_media`, `encode_audio`).
"""

# Importing flexsim.scenarios registers the built-in scenarios with the engine (which knows
# none by name), so importing any part of flexsim makes them available.
import flexsim.scenarios  # noqa: F401
from flexsim import defaults
from flexsim.api import SimCredentials, create_sim_app
from flexsim.audio import render_recording, truth_segments
from flexsim.engine import (
    AgentRequest,
    Engine,
    Flow,
    Scenario,
    default_weights,
    register_scenario,
    scenario_names,
)
from flexsim.faults import ApiFault
from flexsim.loopback import free_port, serve_app
from flexsim.media import SampleConversation, encode_audio, make_sample_conversation, render_media
from flexsim.runner import SimConfig, SimRunner
from flexsim.tokens import issue_token
from flexsim.views import Conversation, RecordingInfo, ReservationInfo, SimStats
from flexsim.webhooks import twilio_signature
from flexsim.world import SimClock, World

__all__ = [
    "AgentRequest",
    "ApiFault",
    "Conversation",
    "Engine",
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
]
