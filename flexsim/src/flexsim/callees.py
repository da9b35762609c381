"""The far end of a call a client placed through the REST API (`calls.create`).

Twilio moves an API call through `queued` → `initiated` → `ringing` → `in-progress` →
`completed`, or ends it `busy`, `no-answer` (rang past its `Timeout`, default 60 s) or
`failed` (Twilio support, "What are the Possible Call Statuses"; "Tracking the Status of an
Outbound Twilio Voice Call"). Who answers is up to the callee: a `Callee` says what the far end
does (answer after `ring_s` and hang up after `talk_s`; or busy / no-answer / failed). Tests
arrange one per number (`World.callees`, the control API's `callee`); any other number answers
after a few seconds and talks for about a minute, drawn per call from the world's seed.

The lifecycle runs on the world's scheduler (`World.scheduler`, the engine's `call_later` in a
`SimRunner`); a world without one leaves API calls `queued`, where nothing would move them.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from flexsim.world import TERMINAL_CALL_STATUSES, Call, Callee, World

# StatusCallbackEvent (OAI `CreateCall`) -> the call statuses each one reports
CALL_EVENTS: dict[str, frozenset[str]] = {
    "initiated": frozenset({"initiated"}),
    "ringing": frozenset({"ringing"}),
    "answered": frozenset({"in-progress"}),
    "completed": TERMINAL_CALL_STATUSES,
}
INITIATED_AFTER_S = 0.2  # Twilio hands the call to a carrier
RINGING_AFTER_S = 0.8  # the carrier reports the destination ringing
BUSY_AFTER_S = 2.0


@dataclass(frozen=True)
class Recording:
    """`Record=true` on calls.create: what to record once the call is answered."""

    channels: int
    track: str
    trim: str
    status_callback: str | None
    status_callback_method: str
    status_callback_events: tuple[str, ...]


def default_callee(world: World, call: Call) -> Callee:
    """A number nobody arranged: answers after 2-6 s, talks ~60 s (log-normal, 10-600 s)."""
    rng = random.Random(f"callee:{world.seed}:{call.ordinal}")
    ring = rng.uniform(2.0, 6.0)
    talk = min(600.0, max(10.0, rng.lognormvariate(math.log(60.0), 0.5)))
    return Callee("answer", ring, talk)


def place(world: World, call: Call, *, timeout_s: float, record: Recording | None = None) -> None:
    """Start an API call's lifecycle (a no-op without a scheduler)."""
    schedule = world.scheduler
    if schedule is None:
        return
    callee = world.callees.get(call.to) or default_callee(world, call)
    steps = _Lifecycle(world, call, callee, timeout_s, record, schedule)
    schedule(INITIATED_AFTER_S, steps.initiated)


class _Lifecycle:
    def __init__(
        self,
        world: World,
        call: Call,
        callee: Callee,
        timeout_s: float,
        record: Recording | None,
        schedule: Callable[[float, Callable[[], None]], object],
    ) -> None:
        self.world, self.call, self.callee = world, call, callee
        self.timeout_s, self.record, self.schedule = timeout_s, record, schedule

    def _over(self) -> bool:
        # the client may have canceled or hung up the call in between
        return self.call.status in TERMINAL_CALL_STATUSES

    def initiated(self) -> None:
        if self._over():
            return
        if self.callee.outcome == "failed":
            self.world.set_call_status(self.call, "failed")
            return
        self.world.set_call_status(self.call, "initiated")
        self.schedule(RINGING_AFTER_S, self.ringing)

    def ringing(self) -> None:
        if self._over():
            return
        self.world.set_call_status(self.call, "ringing")
        if self.callee.outcome == "busy":
            self.schedule(BUSY_AFTER_S, lambda: self._end("busy"))
        elif self.callee.outcome == "no-answer" or self.callee.ring_s >= self.timeout_s:
            self.schedule(min(self.callee.ring_s, self.timeout_s), lambda: self._end("no-answer"))
        else:
            self.schedule(self.callee.ring_s, self.answered)

    def answered(self) -> None:
        if self._over():
            return
        self.world.set_call_status(self.call, "in-progress")
        if self.record is not None:
            r = self.record
            self.world.start_recording(
                self.call,
                channels=r.channels,
                track=r.track,
                source="OutboundAPI",
                trim=r.trim,
                status_callback=r.status_callback,
                status_callback_method=r.status_callback_method,
                status_callback_events=r.status_callback_events,
                origin="api",
            )
        if self.callee.talk_s is not None:
            self.schedule(self.callee.talk_s, lambda: self._end("completed"))

    def _end(self, status: str) -> None:
        if not self._over():
            self.world.set_call_status(self.call, status)
