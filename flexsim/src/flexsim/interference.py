"""Other actors changing the world after a client thought it settled (the fault plan's
`absent`, `failed`, `stopped` and `clobber` rates; flexsim.faults).

A client of Twilio (a recording service, say) decides from events and REST answers; the
world keeps moving afterwards. Two such changes are simulated, each keyed so that the same
seed makes the same decisions however requests interleave:

- **Recordings that end early while their call is live.** A call recording a client created
  over REST (`Recording.origin == "api"`) may end on its own a little after it started, while
  its leg stays `in-progress`:
  - `absent`: nothing was stored, the recording was silent (error 16102);
  - `failed`: nothing was stored (error 16105, "Recording was not stored");
  - `stopped`: another API client stopped it on purpose (older payment integrations stop and
    restart instead of pausing): `completed`, with media up to the stop.
  Twilio reports each through the recording's status callback when its creator subscribed to
  that event (`RecordingStatusCallbackEvent` in-progress / completed / absent per the OAI
  `CreateCallRecording`, and `failed` per Twilio support's "Getting Started with Recording
  Status Callbacks", which lists the four statuses one subscribes to and the error codes
  16101/16102 of an absent recording). A call that ends first ends the recording normally and
  the fault never happens.
- **Blind attribute writes by another integration.** When a task's attributes gain a
  `VoiceRecording` entry in `conversations.media` (a client linking a recording for Flex
  Insights), another integration (a CRM sync, a plugin, a Studio flow) may overwrite them a
  moment later from a copy it read before that write, without If-Match: the new media
  entries are gone and the integration's own key (`crm`) is added. Only `conversations.media`
  comes from the stale copy; every other key is written back as it stands, so what the fault
  takes is exactly what a recording service owns (Flex's own keys are not a recording
  service's to restore). Nothing is written once the task is completed or canceled.

Ground truth: a recording ended early carries `end_reason` (`early-absent`, `early-failed`,
`stopped-by-other-client`); a task carries `blind_writes` (when, the revision written, the
entries dropped, the keys added). `flexsim.truth` turns both into each interaction's `faults`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from flexsim.callbacks import iso8601
from flexsim.faults import EarlyEnd, FaultPlan
from flexsim.world import Recording, Task, World, WorldEvent

Schedule = Callable[[float, Callable[[], None]], object]

# What each early end does to the recording: (end reason, outcome without media or None).
EARLY_OUTCOMES: dict[str, tuple[str, tuple[str, int] | None]] = {
    "absent": ("early-absent", ("absent", 16102)),  # "Silent: Error 16102"
    "failed": ("early-failed", ("failed", 16105)),  # "Recording was not stored"
    "stopped": ("stopped-by-other-client", None),  # completed, media up to the stop
}
INTEGRATION = "another-integration"
INTEGRATION_KEY = "crm"


def voice_entries(attributes: Any) -> list[dict[str, Any]]:
    """The `VoiceRecording` entries of a task's `conversations.media`, in order."""
    conversations = attributes.get("conversations") if isinstance(attributes, dict) else None
    media = conversations.get("media") if isinstance(conversations, dict) else None
    if not isinstance(media, list):
        return []
    return [m for m in media if isinstance(m, dict) and m.get("type") == "VoiceRecording"]


def _urls(entries: list[dict[str, Any]]) -> set[str]:
    return {str(e.get("url")) for e in entries}


class Interference:
    """Applies a fault plan's interference rates to a world; `schedule(delay_s, fn)` runs `fn`
    after simulated seconds on the thread that owns the world (the engine's `call_later`)."""

    def __init__(self, world: World, plan: FaultPlan, schedule: Schedule) -> None:
        self.world = world
        self.plan = plan
        self.schedule = schedule
        self._links: dict[str, int] = {}  # task SID -> attribute writes that added media
        self._recording_index: dict[str, int] = {}  # call SID -> API recordings started

    def attach(self) -> None:
        """Watch the world's events (only those the plan's rates concern are acted on)."""
        self.world.subscribe(self.on_event)

    def on_event(self, event: WorldEvent) -> None:
        """Plan interference for one world event (called with the world lock held)."""
        if not self.plan.interferes:
            return
        if event.kind == "recording-status" and event.name == "in-progress":
            self._plan_early_end(event.data["recording"])
        elif event.kind == "taskrouter" and "previous_attributes" in event.data:
            self._plan_blind_write(event.data["task"], event.data["previous_attributes"])

    # -- recordings that end early ----------------------------------------------------------
    def _plan_early_end(self, recording: Recording) -> None:
        if recording.origin != "api" or recording.conference_sid is not None:
            return
        call = self.world.calls.get(recording.call_sid)
        if call is None:
            return
        index = self._recording_index.get(call.sid, 0)
        self._recording_index[call.sid] = index + 1
        fate = self.plan.recording_fate(f"{call.ordinal}:{index}")
        if fate is not None:
            self.schedule(fate.after_s, lambda: self._end_early(recording, fate))

    def _end_early(self, recording: Recording, fate: EarlyEnd) -> None:
        world = self.world
        with world.lock:
            call = world.calls.get(recording.call_sid)
            live = call is not None and call.status == "in-progress"
            if not live or recording.status not in ("in-progress", "paused"):
                return  # the call (or a client) ended it first: nothing happened early
            reason, no_media = EARLY_OUTCOMES[fate.kind]
            world.finish_recording(recording, reason, no_media=no_media)  # type: ignore[arg-type]

    # -- blind attribute writes -------------------------------------------------------------
    def _plan_blind_write(self, task: Task, previous: dict[str, Any]) -> None:
        before = voice_entries(previous)
        added = _urls(voice_entries(task.attributes)) - _urls(before)
        if not added:
            return
        count = self._links.get(task.sid, 0)
        self._links[task.sid] = count + 1
        delay = self.plan.blind_write_delay(f"{task.ordinal}:{count}")
        if delay is None:
            return
        stale = copy.deepcopy(previous)
        self.schedule(delay, lambda: self._blind_write(task, stale))

    def _blind_write(self, task: Task, stale: dict[str, Any]) -> None:
        world = self.world
        with world.lock:
            if task.assignment_status in ("completed", "canceled"):
                return
            current = task.attributes
            attributes = copy.deepcopy(current)
            stale_conversations = stale.get("conversations")
            stale_media = (
                stale_conversations.get("media") if isinstance(stale_conversations, dict) else None
            )
            conversations = attributes.get("conversations")
            if isinstance(conversations, dict):
                if stale_media is None:
                    conversations.pop("media", None)
                else:
                    conversations["media"] = copy.deepcopy(stale_media)
                if not conversations:
                    attributes.pop("conversations")
            kept = _urls(voice_entries(attributes))
            dropped = [e for e in voice_entries(current) if str(e.get("url")) not in kept]
            now = world.clock.now()
            own = {"synced_at": iso8601(now), "integration": INTEGRATION}
            attributes[INTEGRATION_KEY] = own
            world.update_task_attributes(task, attributes)
            task.blind_writes.append(
                {
                    "at": now,
                    "by": INTEGRATION,
                    "revision": task.revision,
                    "dropped": copy.deepcopy(dropped),
                    "added": {INTEGRATION_KEY: dict(own)},
                }
            )
