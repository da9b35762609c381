"""Per-call account variants: where Twilio varies by account setting or is undocumented.

A real contact center is one account with one set of settings, but which settings a client meets
is unknown in advance, so the simulated account draws them per call from a mix that covers every
variant (each axis uniformly), and a pin fixes one axis for a whole run. The draw uses its own
random stream, so pinning every axis reproduces the calls of the same seed without variants.

Axes (values; the calls they apply to; the source of the rule):

- `outbound_attributes` (`written`, `absent`; outbound calls): whether Flex writes `conference`
  and `conference.participants` into an outbound task's attributes depends on the account.
  flex-project-template `dual-channel-recording/helpers/dualChannelHelper.ts`: outbound calls
  started from Flex "do not include call_sid and conference metadata in task attributes".
- `participant_labels` (`present`, `absent`; calls with a conference): OAI
  `api.v2010.account.conference.participant.label` is "The user-specified label of this
  participant, if one was given"; Flex documents no labels of its own.
- `conference_callbacks` (`on`, `off`; calls with a conference): a conference status callback
  exists only if whoever accepts the reservation sets `conferenceStatusCallback`
  (twilio-taskrouter.js `ConferenceOptions`); Flex sets none by default.
- `studio_recording` (`dual`, `mono`; Studio-recorded calls): the Studio "Call Recording"
  widget's Recording Channels; the Recording API defaults to mono (OAI
  `CreateCallRecording.RecordingChannels`).
- `native_recording` (`off`, `dual`, `mono`; calls with a conference): Flex's "Call Recording"
  (OAI `flex.v1.configuration.call_recording_enabled`) records the conference; Twilio changelog
  2025-09-15: dual-channel by default (channel 1 the first participant to join, channel 2
  everyone else), mono for accounts with public-key encryption or external storage.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

# Every axis and its values; the first value is the friendliest (the simulator's old behaviour).
AXES: dict[str, tuple[str, ...]] = {
    "outbound_attributes": ("written", "absent"),
    "participant_labels": ("present", "absent"),
    "conference_callbacks": ("on", "off"),
    "studio_recording": ("dual", "mono"),
    "native_recording": ("off", "dual", "mono"),
}
# Pins that give the simulator's behaviour before variants existed.
FRIENDLY: dict[str, str] = {axis: values[0] for axis, values in AXES.items()}

# Scenarios that never reach a conference (the caller hangs up in the queue).
_NO_CONFERENCE = frozenset({"abandon"})


class VariantError(ValueError):
    """An unknown axis or value."""


def check_pins(pins: Mapping[str, str | None]) -> dict[str, str]:
    """The pinned axes (None or "mix" means drawn per call); raises VariantError on a bad one."""
    out: dict[str, str] = {}
    for axis, value in pins.items():
        if axis not in AXES:
            raise VariantError(f"unknown variant axis {axis!r}; choose from {tuple(AXES)}")
        if value is None or value == "mix":
            continue
        if value not in AXES[axis]:
            raise VariantError(f"{axis} must be one of {(*AXES[axis], 'mix')}, not {value!r}")
        out[axis] = value
    return out


def applicable_axes(scenario: str, direction: str) -> tuple[str, ...]:
    """The axes that change anything in a call of this scenario and direction."""
    axes: list[str] = []
    if direction == "outbound":
        axes.append("outbound_attributes")
    if scenario not in _NO_CONFERENCE:
        axes += ["participant_labels", "conference_callbacks", "native_recording"]
    if scenario == "studio_recorded":
        axes.append("studio_recording")
    return tuple(axes)


@dataclass(frozen=True)
class CallVariants:
    """The variants one call runs with (every axis set; `applied` says which mattered)."""

    outbound_attributes: str = "written"
    participant_labels: str = "present"
    conference_callbacks: str = "on"
    studio_recording: str = "dual"
    native_recording: str = "off"
    applied: tuple[str, ...] = ()

    @property
    def flex_writes_outbound(self) -> bool:
        """Flex writes `conference` into an outbound task's attributes."""
        return self.outbound_attributes == "written"

    @property
    def labels(self) -> bool:
        """Conference participants carry `customer` / `worker` labels."""
        return self.participant_labels == "present"

    @property
    def conference_callback(self) -> bool:
        """A conference status callback is configured on the task's conference."""
        return self.conference_callbacks == "on"

    @property
    def studio_channels(self) -> int:
        """Channels of the Studio flow's recording."""
        return 2 if self.studio_recording == "dual" else 1

    @property
    def native_channels(self) -> int:
        """Channels of Flex's own conference recording (0: Call Recording is off)."""
        return {"off": 0, "dual": 2, "mono": 1}[self.native_recording]

    def truth(self) -> dict[str, str]:
        """The axes that applied to this call and their values (ground truth)."""
        return {axis: str(getattr(self, axis)) for axis in self.applied}


def draw_variants(
    pins: Mapping[str, str], rng: random.Random, scenario: str, direction: str
) -> CallVariants:
    """One call's variants: pinned axes as pinned, the others drawn uniformly."""
    chosen: dict[str, str] = {}
    for axis, values in AXES.items():
        drawn = rng.choice(values)  # always drawn, so a pin never shifts the other axes
        chosen[axis] = pins.get(axis, drawn)
    return CallVariants(**chosen, applied=applicable_axes(scenario, direction))
