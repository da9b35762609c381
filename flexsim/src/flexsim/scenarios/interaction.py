"""One interaction's state and the moves Flex makes with it in the world.

An `Interaction` owns what one call creates (its task, conference, legs, reservations, timeline
and ground-truth record) and the single steps every scenario is made of: open a task, offer it
to an agent, dial a leg, join the conference, speak, end a leg, wrap up. The scenarios' flows
(`directions`, `conversation`) put these steps in order.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
from collections.abc import Generator
from typing import Any, TypeVar

from flexsim.callbacks import recording_url
from flexsim.engine import Engine, Flow, FlowStep
from flexsim.scenarios.turns import plan_utterances
from flexsim.timeline import Presence, Timeline
from flexsim.truth import InteractionRecord
from flexsim.variants import CallVariants, draw_variants
from flexsim.world import Call, Conference, Reservation, Task, Worker

_T = TypeVar("_T")
Steps = Generator[FlowStep, Worker | None, Any]


def deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """Merge `patch` into `target` in place (nested dicts merge, everything else replaces)."""
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _required(value: _T | None, what: str) -> _T:
    if value is None:
        raise RuntimeError(f"interaction has no {what} yet")
    return value


class Interaction:
    """One simulated interaction and the resources it owns."""

    def __init__(self, engine: Engine, scenario: str, direction: str, index: int) -> None:
        self.engine = engine
        self.world = engine.world
        self.cfg = engine.config
        self.scenario = scenario
        self.direction = direction
        self.index = index
        self.rng = random.Random(self.cfg.seed * 1_000_003 + index)
        self.customer_number = f"+1555{self.rng.randrange(10**7):07d}"
        # The account variants of this call, from their own stream: the call's other draws
        # stay what they were for the same seed.
        self.variants: CallVariants = draw_variants(
            self.cfg.variant_pins,
            random.Random(f"variants:{self.cfg.seed}:{index}"),
            scenario,
            direction,
        )
        self.record: InteractionRecord | None = None
        self.timeline: Timeline | None = None
        self.task: Task | None = None
        self.conference: Conference | None = None
        self.customer: Call | None = None
        self.legs: dict[str, Call] = {}  # worker SID -> current leg
        self.reservations: dict[str, Reservation] = {}  # worker SID -> current reservation
        self.workers: dict[str, Worker] = {}  # agents currently on the interaction
        self._presence: dict[str, int] = {}  # call SID -> index in timeline.presences
        self.native_written = False  # Flex wrote its conference recording's segment_link

    # -- required state (each exists once the flow reached the step that creates it) -------
    @property
    def tl(self) -> Timeline:
        """The interaction's timeline."""
        return _required(self.timeline, "timeline")

    @property
    def rec(self) -> InteractionRecord:
        """The interaction's ground-truth record."""
        return _required(self.record, "record")

    @property
    def the_task(self) -> Task:
        """The interaction's task."""
        return _required(self.task, "task")

    @property
    def conf(self) -> Conference:
        """The interaction's conference."""
        return _required(self.conference, "conference")

    @property
    def cust(self) -> Call:
        """The customer's leg."""
        return _required(self.customer, "customer leg")

    # -- helpers ----------------------------------------------------------------------------
    def now(self) -> float:
        """Current simulated time."""
        return self.world.clock.now()

    def open_record(self, key_call: Call) -> None:
        timeline = Timeline(
            interaction_id=key_call.sid,
            customer_call_sid=key_call.sid,
            direction="outbound" if self.direction == "internal" else self.direction,
            seed=self.cfg.seed * 1_000_003 + self.index,
            scenario=self.scenario,
            noise_dbfs=self.rng.uniform(-66.0, -52.0),  # line noise differs call to call
        )
        with self.world.lock:
            self.world.timelines[key_call.sid] = timeline
        self.timeline = timeline
        self.record = InteractionRecord(
            interaction_id=key_call.sid,
            index=self.index,
            scenario=self.scenario,
            direction=self.direction,
            started_at=self.now(),
            customer_call_sid=key_call.sid if key_call.party == "customer" else None,
            variants=self.variants.truth(),
        )
        self.engine.register(self.rec)
        for call in [key_call, *self.legs.values()]:
            self.track_call(call)

    def track_call(self, call: Call) -> None:
        if self.record is not None:
            call.interaction_id = self.rec.interaction_id
            if call.sid not in self.rec.call_sids:
                self.rec.call_sids.append(call.sid)

    def present(self, speaker: str, call: Call, start: float | None = None) -> None:
        self._presence[call.sid] = len(self.tl.presences)
        self.tl.presences.append(Presence(speaker, call.sid, start or self.now()))

    def absent(self, call: Call) -> None:
        if self.timeline is None or call.sid not in self._presence:
            return
        i = self._presence.pop(call.sid)
        self.tl.presences[i] = dataclasses.replace(self.tl.presences[i], end=self.now())

    def speak(self, speakers: list[str], seconds: float) -> Steps:
        """Let `speakers` talk for `seconds` (a scripted payment keeps its own span)."""
        start = self.now()
        planned = plan_utterances(self.rng, speakers, start, start + seconds)
        payment = self.tl.payment
        if payment is not None:
            # Drawn all the same, so the call's other draws stay what they were for the seed.
            planned = [
                u for u in planned if u.end <= payment.start - 0.4 or u.start >= payment.end + 0.4
            ]
        self.tl.utterances.extend(planned)
        yield seconds

    def flex_write(self, patch: dict[str, Any]) -> None:
        """Flex's own attribute update: read the current attributes, merge, write (new revision)."""
        with self.world.lock:
            attributes = deep_merge(copy.deepcopy(self.the_task.attributes), patch)
            self.world.update_task_attributes(self.the_task, attributes)
        if self.record is not None:
            self.rec.flex_writes.append(copy.deepcopy(patch))

    def create_task(self, attributes: dict[str, Any]) -> Task:
        queue = self.engine.queues[self.index % len(self.engine.queues)]
        workflow = _required(self.engine.workflow, "workflow")
        task = self.world.create_task(attributes, queue, workflow)
        self.task = task
        if self.record is not None:
            self.rec.task_sids.append(task.sid)
        return task

    def offer(self, worker: Worker, ring_s: float) -> Steps:
        """Reserve the task for `worker`, let it ring, accept it."""
        reservation = self.world.create_reservation(self.the_task, worker)
        self.reservations[worker.sid] = reservation
        self.workers[worker.sid] = worker
        self.engine.worker_state[worker.sid] = {
            "task_sid": self.the_task.sid,
            "reservation_sid": reservation.sid,
            "interaction_id": self.record.interaction_id if self.record else "",
        }
        if self.record is not None and worker.sid not in self.rec.worker_sids:
            self.rec.worker_sids.append(worker.sid)
        yield ring_s
        self.world.set_reservation_status(reservation, "accepted")

    def join(self, call: Call, label: str) -> None:
        """A leg joins the task's conference (labelled only on accounts whose labels exist)."""
        conference = self.conf
        self.world.join_conference(conference, call, label if self.variants.labels else None)
        if conference.recording_sid and not self.native_written:
            # Flex's "Call Recording" links the conference recording for Insights itself
            # (flex-project-template docs, dual-channel-recording: it "automatically updates the
            # task attribute `conversations.segment_link` with the recording URL")
            self.native_written = True
            url = recording_url(self.world.account_sid, conference.recording_sid)
            self.flex_write({"conversations": {"segment_link": url}})

    def worker_leg(self, worker: Worker) -> Call:
        # Flex's worker leg is a Twilio Client leg; the simulator reports it as "inbound"
        leg = self.world.create_call(
            from_=self.cfg.flex_number,
            to=str(worker.attributes.get("contact_uri", f"client:{worker.friendly_name}")),
            direction="inbound",
            party="worker",
            worker_sid=worker.sid,
            status_callback=self.cfg.call_status_callback_url,
        )
        self.legs[worker.sid] = leg
        self.track_call(leg)
        return leg

    def connect_worker(self, worker: Worker, label: str = "worker") -> Steps:
        """Dial the agent's leg into the conference."""
        leg = self.worker_leg(worker)
        self.world.set_call_status(leg, "ringing")
        yield self.rng.uniform(0.4, 1.2)
        self.world.set_call_status(leg, "in-progress")
        self.join(leg, label)
        if self.timeline is not None:
            self.present(worker.sid, leg)

    def open_conference(self) -> Conference:
        callback = self.cfg.conference_callback_url if self.variants.conference_callback else None
        conference = self.world.create_conference(
            self.the_task, callback, record_channels=self.variants.native_channels
        )
        self.conference = conference
        if self.record is not None:
            self.rec.conference_sids.append(conference.sid)
        return conference

    def end_leg(self, call: Call | None) -> None:
        if call is None:
            return
        self.absent(call)
        self.world.set_call_status(call, "completed")

    def finish_agent(self, worker: Worker) -> Steps:
        """Wrap up one agent's reservation and make the agent available again."""
        reservation = self.reservations.pop(worker.sid, None)
        self.workers.pop(worker.sid, None)
        if reservation is not None:
            self.world.set_reservation_status(reservation, "wrapup")
            yield self.wrap_time()
            self.world.set_reservation_status(reservation, "completed")
        self.engine.release_worker(worker)

    def wrap_time(self) -> float:
        return max(2.0, self.rng.expovariate(1.0 / self.cfg.wrap_time_mean_s))

    def talk_time(self) -> float:
        value = self.rng.lognormvariate(
            math.log(self.cfg.talk_time_median_s), self.cfg.talk_time_sigma
        )
        return min(max(value, self.cfg.min_talk_time_s), self.cfg.max_talk_time_s)

    def spawn_wrap(self, worker: Worker) -> None:
        self.engine.spawn(self.as_flow(self.finish_agent(worker)))

    @staticmethod
    def as_flow(steps: Steps) -> Flow:
        yield from steps

    def note_native_link(self) -> None:
        """Put Flex's own segment_link write, made before the record existed, into the truth."""
        if self.native_written:
            url = recording_url(self.world.account_sid, self.conf.recording_sid or "")
            self.rec.flex_writes.append({"conversations": {"segment_link": url}})
