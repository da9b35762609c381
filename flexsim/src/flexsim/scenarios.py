"""How Flex moves one interaction through the world, scenario by scenario.

Inbound:  customer leg in-progress → IVR/queue → task.created → reservation.created → accepted →
          conference + worker leg → both join → Flex writes `conference` into the attributes →
          conversation (scenario events) → hang-up → wrap-up → completed.
Outbound: agent picked → task.created → reservation accepted → conference + worker leg joins →
          Flex writes `conference.sid/participants.worker` → customer leg rings → answers and
          joins → Flex writes `participants.customer` (or no-answer / busy) → ... as inbound.
Internal: two agents, one task with `client_call: true`, two worker legs, no customer.

Each `Interaction.run()` is a generator driven by the engine (see `flexsim.engine`); the
scenarios register themselves with the engine at the end of this module.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import random
from collections.abc import Generator
from typing import Any, TypeVar

from flexsim.callbacks import iso8601, recording_url
from flexsim.engine import AgentRequest, Engine, Flow, FlowStep, Scenario, register_scenario
from flexsim.speech.payment import draw_pause, plan_payment
from flexsim.timeline import CUSTOMER, THIRD_PARTY, Presence, Timeline, Utterance
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


def plan_utterances(
    rng: random.Random, speakers: list[str], start: float, end: float
) -> list[Utterance]:
    """Turn-taking speech between `speakers` over [start, end): gaps, overlaps, back-channels."""
    out: list[Utterance] = []
    if len(speakers) < 1 or end - start < 0.5:
        return out
    t = start + rng.uniform(0.2, 1.0)
    speaker = speakers[0]
    while t < end - 0.3:
        length = min(rng.lognormvariate(1.0, 0.55), 15.0)
        stop = min(t + max(0.5, length), end)
        out.append(Utterance(speaker, t, stop))
        others = [s for s in speakers if s != speaker]
        if others and stop - t > 2.5 and rng.random() < 0.15:
            # a listener's "mm-hm" inside the turn
            at = rng.uniform(t + 0.8, stop - 0.8)
            out.append(Utterance(rng.choice(others), at, min(at + rng.uniform(0.3, 0.8), end)))
        gap = rng.gauss(0.5, 0.5)
        if rng.random() < 0.06:
            gap = rng.uniform(2.5, 7.0)  # a long silence (looking something up)
        gap = max(-0.8, gap)  # negative: the next speaker starts before this one finished
        if others:
            # mostly alternate; in a three-way call any other speaker may take the turn
            speaker = rng.choice(others)
        t = max(t + 0.3, stop + gap)
    out.sort(key=lambda u: (u.start, u.speaker))
    return out


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
        self._native_written = False  # Flex wrote its conference recording's segment_link

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

    def _open_record(self, key_call: Call) -> None:
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
            self._track_call(call)

    def _track_call(self, call: Call) -> None:
        if self.record is not None:
            call.interaction_id = self.rec.interaction_id
            if call.sid not in self.rec.call_sids:
                self.rec.call_sids.append(call.sid)

    def _present(self, speaker: str, call: Call, start: float | None = None) -> None:
        self._presence[call.sid] = len(self.tl.presences)
        self.tl.presences.append(Presence(speaker, call.sid, start or self.now()))

    def _absent(self, call: Call) -> None:
        if self.timeline is None or call.sid not in self._presence:
            return
        i = self._presence.pop(call.sid)
        self.tl.presences[i] = dataclasses.replace(self.tl.presences[i], end=self.now())

    def _speak(self, speakers: list[str], seconds: float) -> Steps:
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

    def _flex_write(self, patch: dict[str, Any]) -> None:
        """Flex's own attribute update: read the current attributes, merge, write (new revision)."""
        with self.world.lock:
            attributes = deep_merge(copy.deepcopy(self.the_task.attributes), patch)
            self.world.update_task_attributes(self.the_task, attributes)
        if self.record is not None:
            self.rec.flex_writes.append(copy.deepcopy(patch))

    def _create_task(self, attributes: dict[str, Any]) -> Task:
        queue = self.engine.queues[self.index % len(self.engine.queues)]
        workflow = _required(self.engine.workflow, "workflow")
        task = self.world.create_task(attributes, queue, workflow)
        self.task = task
        if self.record is not None:
            self.rec.task_sids.append(task.sid)
        return task

    def _offer(self, worker: Worker, ring_s: float) -> Steps:
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

    def _join(self, call: Call, label: str) -> None:
        """A leg joins the task's conference (labelled only on accounts whose labels exist)."""
        conference = self.conf
        self.world.join_conference(conference, call, label if self.variants.labels else None)
        if conference.recording_sid and not self._native_written:
            # Flex's "Call Recording" links the conference recording for Insights itself
            # (flex-project-template docs, dual-channel-recording: it "automatically updates the
            # task attribute `conversations.segment_link` with the recording URL")
            self._native_written = True
            url = recording_url(self.world.account_sid, conference.recording_sid)
            self._flex_write({"conversations": {"segment_link": url}})

    def _worker_leg(self, worker: Worker) -> Call:
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
        self._track_call(leg)
        return leg

    def _connect_worker(self, worker: Worker, label: str = "worker") -> Steps:
        """Dial the agent's leg into the conference."""
        leg = self._worker_leg(worker)
        self.world.set_call_status(leg, "ringing")
        yield self.rng.uniform(0.4, 1.2)
        self.world.set_call_status(leg, "in-progress")
        self._join(leg, label)
        if self.timeline is not None:
            self._present(worker.sid, leg)

    def _open_conference(self) -> Conference:
        callback = self.cfg.conference_callback_url if self.variants.conference_callback else None
        conference = self.world.create_conference(
            self.the_task, callback, record_channels=self.variants.native_channels
        )
        self.conference = conference
        if self.record is not None:
            self.rec.conference_sids.append(conference.sid)
        return conference

    def _end_leg(self, call: Call | None) -> None:
        if call is None:
            return
        self._absent(call)
        self.world.set_call_status(call, "completed")

    def _finish_agent(self, worker: Worker) -> Steps:
        """Wrap up one agent's reservation and make the agent available again."""
        reservation = self.reservations.pop(worker.sid, None)
        self.workers.pop(worker.sid, None)
        if reservation is not None:
            self.world.set_reservation_status(reservation, "wrapup")
            yield self._wrap_time()
            self.world.set_reservation_status(reservation, "completed")
        self.engine.release_worker(worker)

    def _wrap_time(self) -> float:
        return max(2.0, self.rng.expovariate(1.0 / self.cfg.wrap_time_mean_s))

    def _talk_time(self) -> float:
        value = self.rng.lognormvariate(
            math.log(self.cfg.talk_time_median_s), self.cfg.talk_time_sigma
        )
        return min(max(value, self.cfg.min_talk_time_s), self.cfg.max_talk_time_s)

    def _spawn_wrap(self, worker: Worker) -> None:
        self.engine.spawn(self._as_flow(self._finish_agent(worker)))

    @staticmethod
    def _as_flow(steps: Steps) -> Flow:
        yield from steps

    # -- entry ------------------------------------------------------------------------------
    def run(self) -> Flow:
        """The whole interaction."""
        try:
            if self.direction == "inbound":
                yield from self._inbound()
            elif self.direction == "outbound":
                yield from self._outbound()
            else:
                yield from self._internal()
        finally:
            self.engine.interaction_finished(self.record)

    # -- inbound ----------------------------------------------------------------------------
    def _inbound(self) -> Steps:
        world, rng = self.world, self.rng
        entered = self.now()
        customer = world.create_call(
            from_=self.customer_number,
            to=self.cfg.flex_number,
            direction="inbound",
            party="customer",
            status_callback=self.cfg.call_status_callback_url,
        )
        self.customer = customer
        self._open_record(customer)
        world.set_call_status(customer, "ringing")
        world.set_call_status(customer, "in-progress")
        self.tl.customer_answered_at = self.now()
        self._present(CUSTOMER, customer)
        attributes: dict[str, Any] = {
            "call_sid": customer.sid,
            "direction": "inbound",
            "from": self.customer_number,
            "to": self.cfg.flex_number,
            "caller": self.customer_number,
            "called": self.cfg.flex_number,
            "type": "inbound",
            "name": self.customer_number,
        }
        ivr_s = rng.uniform(4.0, 12.0)
        if self.scenario == "studio_recorded":
            # Studio's Call Recording widget runs after the greeting, before Send To Flex
            greeting_s = rng.uniform(1.5, 3.0)
            yield greeting_s
            ivr_s -= greeting_s
            recording = world.start_recording(
                customer,
                channels=self.variants.studio_channels,
                source="StartCallRecordingAPI",
                status_callback=self.cfg.studio_recording_callback_url,
            )
            self.rec.notes["studio_recording_sid"] = recording.sid
            attributes["conversations"] = {
                "media": [
                    {
                        "type": "VoiceRecording",
                        "url": recording_url(world.account_sid, recording.sid),
                        "start_time": iso8601(recording.start_time),
                        "channels": ["customer", "others"],
                    }
                ]
            }
        yield ivr_s
        task = self._create_task(attributes)
        if self.scenario == "abandon":
            # the caller gives up before any agent is offered the task
            yield rng.uniform(5.0, 45.0)
            worker = None
        else:
            worker = yield AgentRequest(patience_s=self.cfg.max_queue_wait_s)
        if worker is None:
            # the caller hangs up in the queue: Flex cancels the task
            self.rec.scenario = self.tl.scenario = "abandon"
            self.tl.eligible = False
            self.tl.queue_audio = [(entered, self.now())]
            self._end_leg(customer)
            self.tl.ended_at = self.now()
            world.set_task_status(task, "canceled", reason="hangup")
            return
        yield from self._offer(worker, rng.uniform(2.0, 6.0))
        conference = self._open_conference()
        leg = self._worker_leg(worker)
        world.set_call_status(leg, "ringing")
        yield rng.uniform(0.4, 1.2)
        world.set_call_status(leg, "in-progress")
        if rng.random() < 0.5:
            self._join(leg, "worker")
            self._present(worker.sid, leg)
            yield rng.uniform(0.1, 0.8)
            self._join(customer, "customer")
        else:
            self._join(customer, "customer")
            yield rng.uniform(0.1, 0.8)
            self._join(leg, "worker")
            self._present(worker.sid, leg)
        self.tl.agent_connected_at = self.now()
        self.tl.queue_audio = [(entered, self.now())]
        self._flex_write(
            {
                "conference": {
                    "sid": conference.sid,
                    "participants": {"worker": leg.sid, "customer": customer.sid},
                }
            }
        )
        yield from self._conversation(worker)
        yield from self._hang_up()

    # -- outbound ---------------------------------------------------------------------------
    def _outbound(self) -> Steps:
        world, rng = self.world, self.rng
        worker = yield AgentRequest(patience_s=self.cfg.max_queue_wait_s)
        if worker is None:
            return  # nobody was free to dial: no call happened
        task = self._create_task(
            {
                "direction": "outbound",
                "outbound_to": self.customer_number,
                "from": self.cfg.flex_number,
                "to": self.customer_number,
                "type": "outbound",
                "name": self.customer_number,
            }
        )
        yield from self._offer(worker, rng.uniform(0.3, 1.0))
        conference = self._open_conference()
        leg = self._worker_leg(worker)
        world.set_call_status(leg, "ringing")
        yield rng.uniform(0.3, 0.8)
        world.set_call_status(leg, "in-progress")
        self._join(leg, "worker")
        worker_joined = self.now()
        flex_writes = self.variants.flex_writes_outbound
        if flex_writes:
            self._flex_write(
                {"conference": {"sid": conference.sid, "participants": {"worker": leg.sid}}}
            )
        yield rng.uniform(0.3, 1.0)
        customer = world.create_call(
            from_=self.cfg.flex_number,
            to=self.customer_number,
            direction="outbound-api",
            party="customer",
            status_callback=self.cfg.call_status_callback_url,
        )
        self.customer = customer
        self._open_record(customer)
        self.rec.task_sids.append(task.sid)
        self.rec.conference_sids.append(conference.sid)
        self.rec.worker_sids.append(worker.sid)
        if flex_writes:
            self.rec.flex_writes.append(
                {"conference": {"sid": conference.sid, "participants": {"worker": leg.sid}}}
            )
        if self._native_written:
            segment_link = recording_url(world.account_sid, conference.recording_sid or "")
            self.rec.flex_writes.append({"conversations": {"segment_link": segment_link}})
        self.engine.worker_state[worker.sid]["interaction_id"] = customer.sid
        self._present(worker.sid, leg, start=worker_joined)
        yield 0.3
        world.set_call_status(customer, "ringing")
        if self.scenario == "no_answer":
            busy = rng.random() < 0.3
            yield rng.uniform(1.0, 4.0) if busy else rng.uniform(15.0, 30.0)
            world.set_call_status(customer, "busy" if busy else "no-answer")
            self.rec.notes["outcome"] = "busy" if busy else "no-answer"
            self.tl.eligible = False
            self.tl.ended_at = self.now()
            yield rng.uniform(1.0, 3.0)
            self._end_leg(leg)
            world.set_task_status(task, "wrapping")
            yield from self._finish_agent(worker)
            world.set_task_status(task, "completed", reason="Task completed")
            return
        yield rng.uniform(3.0, 12.0)
        world.set_call_status(customer, "in-progress")
        self.tl.customer_answered_at = self.now()
        self._join(customer, "customer")
        self._present(CUSTOMER, customer)
        self.tl.agent_connected_at = self.now()
        if flex_writes:
            self._flex_write({"conference": {"participants": {"customer": customer.sid}}})
        yield from self._conversation(worker)
        yield from self._hang_up()

    # -- internal ---------------------------------------------------------------------------
    def _internal(self) -> Steps:
        world, rng = self.world, self.rng
        caller = yield AgentRequest(patience_s=self.cfg.max_queue_wait_s)
        if caller is None:
            return
        callee = yield AgentRequest(patience_s=60.0, exclude=frozenset({caller.sid}))
        if callee is None:
            self.engine.release_worker(caller)
            return
        task = self._create_task(
            {
                "type": "internal",
                "client_call": True,
                "direction": "outbound",
                "from": f"client:{caller.friendly_name}",
                "to": f"client:{callee.friendly_name}",
                "targetWorkerSid": callee.sid,
                "name": callee.friendly_name,
            }
        )
        yield from self._offer(caller, rng.uniform(0.3, 1.0))
        conference = self._open_conference()
        first = self._worker_leg(caller)
        world.set_call_status(first, "ringing")
        yield rng.uniform(0.3, 0.8)
        world.set_call_status(first, "in-progress")
        self._join(first, "worker")
        self._open_record(first)
        self.rec.task_sids.append(task.sid)
        self.rec.conference_sids.append(conference.sid)
        self.rec.worker_sids.append(caller.sid)
        self.rec.notes["policy"] = "internal agent-to-agent call: no customer, not eligible"
        if self._native_written:
            segment_link = recording_url(world.account_sid, conference.recording_sid or "")
            self.rec.flex_writes.append({"conversations": {"segment_link": segment_link}})
        self.tl.eligible = False
        self.tl.customer_answered_at = None
        self._present(caller.sid, first)
        self._flex_write(
            {"conference": {"sid": conference.sid, "participants": {"worker": first.sid}}}
        )
        yield from self._offer(callee, rng.uniform(2.0, 6.0))
        yield from self._connect_worker(callee)
        self.tl.agent_connected_at = self.now()
        yield from self._speak([caller.sid, callee.sid], self._talk_time())
        yield from self._hang_up(customer_may_end=False)

    # -- the conversation and its scenario events -------------------------------------------
    def _conversation(self, agent: Worker) -> Steps:
        rng = self.rng
        total = self._talk_time()
        before = total * rng.uniform(0.3, 0.6)
        after = total - before
        scenario = self.scenario
        # Customer and agent alone, off hold: the whole call, or the part before the event.
        alone = total if scenario in ("basic", "studio_recorded", "browser_closed") else before
        self._plan_payment(agent, alone)
        self.engine.conversation_started(self.tl, self.the_task, agent)
        if scenario in ("basic", "studio_recorded"):
            yield from self._speak([CUSTOMER, agent.sid], total)
            return
        yield from self._speak([CUSTOMER, agent.sid], before)
        if scenario == "hold":
            yield from self._hold(rng.uniform(10.0, 40.0), [])
            yield from self._speak([CUSTOMER, agent.sid], after)
        elif scenario == "browser_closed":
            # The agent's browser tab dies; the call itself (server side) goes on untouched.
            self.rec.notes["browser_closed_at_ms"] = int(self.now() * 1000)
            yield from self._speak([CUSTOMER, agent.sid], after)
        elif scenario == "third_party":
            yield from self._third_party(agent, after)
        elif scenario in ("cold_transfer", "warm_transfer"):
            yield from self._transfer(agent, after, warm=scenario == "warm_transfer")
        else:
            yield from self._speak([CUSTOMER, agent.sid], after)

    def _plan_payment(self, agent: Worker, alone_s: float) -> None:
        """Maybe take a card payment inside the first `alone_s` seconds (its own random stream)."""
        rng = random.Random(f"payment:{self.cfg.seed}:{self.index}")
        if rng.random() >= self.cfg.card_share:
            return
        pause = draw_pause(rng, self.cfg.card_pause)
        start = self.now() + rng.uniform(4.0, 15.0)
        plan = plan_payment(self.tl.seed, rng, CUSTOMER, agent.sid, start, pause)
        if plan.end + 3.0 <= self.now() + alone_s:
            self.tl.payment = plan
            self.tl.utterances.extend(plan.utterances)

    def _hold(self, seconds: float, speakers: list[str]) -> Steps:
        start = self.now()
        self.world.set_hold(self.conf, self.cust.sid, True)
        if speakers:
            yield from self._speak(speakers, seconds)
        else:
            yield seconds
        self.world.set_hold(self.conf, self.cust.sid, False)
        self.tl.holds.append((start, self.now()))

    def _third_party(self, agent: Worker, remaining: float) -> Steps:
        rng, world = self.rng, self.world
        third = world.create_call(
            from_=self.cfg.flex_number,
            to=f"+1555{rng.randrange(10**7):07d}",
            direction="outbound-api",
            party="third",
            status_callback=self.cfg.call_status_callback_url,
        )
        self._track_call(third)
        world.set_call_status(third, "ringing")
        ring = rng.uniform(3.0, 8.0)
        yield from self._speak([CUSTOMER, agent.sid], ring)
        world.set_call_status(third, "in-progress")
        self._join(third, THIRD_PARTY)
        self._present(THIRD_PARTY, third)
        self.rec.notes["third_party_call_sid"] = third.sid
        together = min(max(remaining - ring, 5.0), rng.uniform(20.0, 60.0))
        yield from self._speak([CUSTOMER, agent.sid, THIRD_PARTY], together)
        rest = max(remaining - ring - together, 5.0)
        if rng.random() < 0.6:
            self._end_leg(third)
            yield from self._speak([CUSTOMER, agent.sid], rest)
        else:
            yield from self._speak([CUSTOMER, agent.sid, THIRD_PARTY], rest)

    def _transfer(self, agent: Worker, remaining: float, *, warm: bool) -> Steps:
        rng, world = self.rng, self.world
        hold_start = self.now()
        world.set_hold(self.conf, self.cust.sid, True)
        world.emit("taskrouter", "task.transfer-initiated", task=self.the_task, worker=agent)
        if not warm:
            # cold: the first agent leaves at once and wraps up; the customer waits on hold
            self._end_leg(self.legs.pop(agent.sid))
            self._spawn_wrap(agent)
        target = yield AgentRequest(patience_s=60.0, exclude=frozenset({agent.sid}))
        if target is None:
            self.rec.notes["transfer_failed"] = True
            world.emit("taskrouter", "task.transfer-failed", task=self.the_task, worker=agent)
            world.set_hold(self.conf, self.cust.sid, False)
            self.tl.holds.append((hold_start, self.now()))
            if warm:
                yield from self._speak([CUSTOMER, agent.sid], remaining)
            else:
                # nobody took the call: the customer gives up on hold
                self.rec.notes["customer_gave_up_on_hold"] = True
                yield 1.0
            return
        yield from self._offer(target, rng.uniform(2.0, 6.0))
        yield from self._connect_worker(target)
        self.rec.notes["transferred_to"] = target.sid
        if warm:
            yield from self._speak([agent.sid, target.sid], rng.uniform(5.0, 20.0))
        world.set_hold(self.conf, self.cust.sid, False)
        self.tl.holds.append((hold_start, self.now()))
        world.emit("taskrouter", "task.transfer-completed", task=self.the_task, worker=target)
        if warm:
            yield from self._speak([CUSTOMER, agent.sid, target.sid], rng.uniform(5.0, 15.0))
            self._end_leg(self.legs.pop(agent.sid))
            self._spawn_wrap(agent)
        yield from self._speak([CUSTOMER, target.sid], max(remaining, 10.0))

    # -- the end ----------------------------------------------------------------------------
    def _hang_up(self, customer_may_end: bool = True) -> Steps:
        """One side hangs up, the rest of the conference follows; then wrap-up."""
        rng, world = self.rng, self.world
        legs = list(self.legs.values())
        customer_first = customer_may_end and self.customer is not None and rng.random() < 0.6
        if customer_first:
            self._end_leg(self.cust)
            self.tl.ended_at = self.now()
            yield rng.uniform(0.2, 1.0)
        else:
            if legs:
                self._end_leg(legs.pop(0))
            yield rng.uniform(0.1, 0.5)
            if self.customer is not None:
                self._end_leg(self.cust)
        if self.tl.ended_at is None:
            self.tl.ended_at = self.now()
        for leg in legs:
            self._end_leg(leg)
        third_sid = self.record.notes.get("third_party_call_sid") if self.record else None
        if third_sid and third_sid in world.calls:
            self._end_leg(world.calls[third_sid])
        # Flex: the reservation wraps up, then the task follows it
        agents = list(self.workers.values())
        for agent in agents:
            reservation = self.reservations.get(agent.sid)
            if reservation is not None:
                world.set_reservation_status(reservation, "wrapup")
        world.set_task_status(self.the_task, "wrapping")
        yield self._wrap_time()
        for agent in agents:
            reservation = self.reservations.pop(agent.sid, None)
            if reservation is not None:
                world.set_reservation_status(reservation, "completed")
        world.set_task_status(self.the_task, "completed", reason="Task completed")
        for agent in agents:
            self.workers.pop(agent.sid, None)
            self.engine.release_worker(agent)


def play(engine: Engine, scenario: str, direction: str, index: int) -> Flow:
    """The built-in scenarios' flow: one `Interaction` driven through the world."""
    return Interaction(engine, scenario, direction, index).run()


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
