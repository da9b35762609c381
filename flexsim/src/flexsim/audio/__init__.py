"""What a simulated recording holds: the audio its leg carried, rendered from the timeline.

A recording on leg L (party P) holds, from its start to its end (or now while running):
channel 1 = audio received from L (P's speech and the leg's line noise), channel 2 = audio sent
to L (everyone else present, hold music while the customer is on hold, queue audio before an
agent joins). Pauses either cut their span out (`skip`) or write digital silence (`silence`).

Synthesis is cheap because it is cached: each voice is a pre-rendered stretch of speech-like
audio (glottal pulses through per-syllable formant resonators) that utterances slice into; hold
music and line noise are pre-rendered loops. Rendering a recording is then slicing and adding.

Rooms: `plan` (what the leg carried, and where speech is heard), `sources` (the cached voices,
music and noise), `mix` (the rendering), `spans` (interval arithmetic, stable randomness).
"""

from __future__ import annotations

from flexsim.audio.mix import DEFAULT_SAMPLE_RATE_HZ, render_channels, render_recording, to_int16
from flexsim.audio.plan import LegPlan, SpeechPiece, plan_leg, truth_segments
from flexsim.audio.sources import Voice, voice_for
from flexsim.audio.spans import stable_int

__all__ = [
    "DEFAULT_SAMPLE_RATE_HZ",
    "LegPlan",
    "SpeechPiece",
    "Voice",
    "plan_leg",
    "render_channels",
    "render_recording",
    "stable_int",
    "to_int16",
    "truth_segments",
    "voice_for",
]
