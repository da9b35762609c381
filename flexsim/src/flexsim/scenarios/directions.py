"""How an interaction begins and reaches its agents, by direction.

Inbound:  customer leg in-progress → IVR/queue → task.created → reservation.created → accepted →
          conference + worker leg → both join → Flex writes `conference` into the attributes →
          conversation (scenario events) → hang-up → wrap-up → completed.
Outbound: agent picked → task.created → reservation accepted → conference + worker leg joins →
          Flex writes `conference.sid/participants.worker` → customer leg rings → answers and
          joins → Flex writes `participants.customer` (or no-answer / busy) → ... as inbound.
Internal: two agents, one task with `client_call: true`, two worker legs, no customer.
"""

from __future__ import annotations

from typing import Any

from flexsim.callbacks import iso8601, recording_url
from flexsim.engine import AgentRequest
from flexsim.scenarios.conversation import conversation, hang_up
from flexsim.scenarios.interaction import Interaction, Steps
from flexsim.timeline import CUSTOMER


def inbound(ix: Interaction) -> Steps:
    """A customer calls in: IVR and queue, an agent, the conversation, the hang-up."""
    world, rng = ix.world, ix.rng
    entered = ix.now()
    customer = world.create_call(
        from_=ix.customer_number,
        to=ix.cfg.flex_number,
        direction="inbound",
        party="customer",
        status_callback=ix.cfg.call_status_callback_url,
    )
    ix.customer = customer
    ix.open_record(customer)
    world.set_call_status(customer, "ringing")
    world.set_call_status(customer, "in-progress")
    ix.tl.customer_answered_at = ix.now()
    ix.present(CUSTOMER, customer)
    attributes: dict[str, Any] = {
        "call_sid": customer.sid,
        "direction": "inbound",
        "from": ix.customer_number,
        "to": ix.cfg.flex_number,
        "caller": ix.customer_number,
        "called": ix.cfg.flex_number,
        "type": "inbound",
        "name": ix.customer_number,
    }
    ivr_s = rng.uniform(4.0, 12.0)
    if ix.scenario == "studio_recorded":
        # Studio's Call Recording widget runs after the greeting, before Send To Flex
        greeting_s = rng.uniform(1.5, 3.0)
        yield greeting_s
        ivr_s -= greeting_s
        recording = world.start_recording(
            customer,
            channels=ix.variants.studio_channels,
            source="StartCallRecordingAPI",
            status_callback=ix.cfg.studio_recording_callback_url,
        )
        ix.rec.notes["studio_recording_sid"] = recording.sid
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
    task = ix.create_task(attributes)
    if ix.scenario == "abandon":
        # the caller gives up before any agent is offered the task
        yield rng.uniform(5.0, 45.0)
        worker = None
    else:
        worker = yield AgentRequest(patience_s=ix.cfg.max_queue_wait_s)
    if worker is None:
        # the caller hangs up in the queue: Flex cancels the task
        ix.rec.scenario = ix.tl.scenario = "abandon"
        ix.tl.eligible = False
        ix.tl.queue_audio = [(entered, ix.now())]
        ix.end_leg(customer)
        ix.tl.ended_at = ix.now()
        world.set_task_status(task, "canceled", reason="hangup")
        return
    yield from ix.offer(worker, rng.uniform(2.0, 6.0))
    conference = ix.open_conference()
    leg = ix.worker_leg(worker)
    world.set_call_status(leg, "ringing")
    yield rng.uniform(0.4, 1.2)
    world.set_call_status(leg, "in-progress")
    if rng.random() < 0.5:
        ix.join(leg, "worker")
        ix.present(worker.sid, leg)
        yield rng.uniform(0.1, 0.8)
        ix.join(customer, "customer")
    else:
        ix.join(customer, "customer")
        yield rng.uniform(0.1, 0.8)
        ix.join(leg, "worker")
        ix.present(worker.sid, leg)
    ix.tl.agent_connected_at = ix.now()
    ix.tl.queue_audio = [(entered, ix.now())]
    ix.flex_write(
        {
            "conference": {
                "sid": conference.sid,
                "participants": {"worker": leg.sid, "customer": customer.sid},
            }
        }
    )
    yield from conversation(ix, worker)
    yield from hang_up(ix)


def outbound(ix: Interaction) -> Steps:
    """An agent dials a customer, who answers (or not); then as inbound."""
    world, rng = ix.world, ix.rng
    worker = yield AgentRequest(patience_s=ix.cfg.max_queue_wait_s)
    if worker is None:
        return  # nobody was free to dial: no call happened
    task = ix.create_task(
        {
            "direction": "outbound",
            "outbound_to": ix.customer_number,
            "from": ix.cfg.flex_number,
            "to": ix.customer_number,
            "type": "outbound",
            "name": ix.customer_number,
        }
    )
    yield from ix.offer(worker, rng.uniform(0.3, 1.0))
    conference = ix.open_conference()
    leg = ix.worker_leg(worker)
    world.set_call_status(leg, "ringing")
    yield rng.uniform(0.3, 0.8)
    world.set_call_status(leg, "in-progress")
    ix.join(leg, "worker")
    worker_joined = ix.now()
    flex_writes = ix.variants.flex_writes_outbound
    if flex_writes:
        ix.flex_write({"conference": {"sid": conference.sid, "participants": {"worker": leg.sid}}})
    yield rng.uniform(0.3, 1.0)
    customer = world.create_call(
        from_=ix.cfg.flex_number,
        to=ix.customer_number,
        direction="outbound-api",
        party="customer",
        status_callback=ix.cfg.call_status_callback_url,
    )
    ix.customer = customer
    ix.open_record(customer)
    ix.rec.task_sids.append(task.sid)
    ix.rec.conference_sids.append(conference.sid)
    ix.rec.worker_sids.append(worker.sid)
    if flex_writes:
        ix.rec.flex_writes.append(
            {"conference": {"sid": conference.sid, "participants": {"worker": leg.sid}}}
        )
    ix.note_native_link()
    ix.engine.worker_state[worker.sid]["interaction_id"] = customer.sid
    ix.present(worker.sid, leg, start=worker_joined)
    yield 0.3
    world.set_call_status(customer, "ringing")
    if ix.scenario == "no_answer":
        busy = rng.random() < 0.3
        yield rng.uniform(1.0, 4.0) if busy else rng.uniform(15.0, 30.0)
        world.set_call_status(customer, "busy" if busy else "no-answer")
        ix.rec.notes["outcome"] = "busy" if busy else "no-answer"
        ix.tl.eligible = False
        ix.tl.ended_at = ix.now()
        yield rng.uniform(1.0, 3.0)
        ix.end_leg(leg)
        world.set_task_status(task, "wrapping")
        yield from ix.finish_agent(worker)
        world.set_task_status(task, "completed", reason="Task completed")
        return
    yield rng.uniform(3.0, 12.0)
    world.set_call_status(customer, "in-progress")
    ix.tl.customer_answered_at = ix.now()
    ix.join(customer, "customer")
    ix.present(CUSTOMER, customer)
    ix.tl.agent_connected_at = ix.now()
    if flex_writes:
        ix.flex_write({"conference": {"participants": {"customer": customer.sid}}})
    yield from conversation(ix, worker)
    yield from hang_up(ix)


def internal(ix: Interaction) -> Steps:
    """One agent calls another: two worker legs, no customer, not eligible."""
    world, rng = ix.world, ix.rng
    caller = yield AgentRequest(patience_s=ix.cfg.max_queue_wait_s)
    if caller is None:
        return
    callee = yield AgentRequest(patience_s=60.0, exclude=frozenset({caller.sid}))
    if callee is None:
        ix.engine.release_worker(caller)
        return
    task = ix.create_task(
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
    yield from ix.offer(caller, rng.uniform(0.3, 1.0))
    conference = ix.open_conference()
    first = ix.worker_leg(caller)
    world.set_call_status(first, "ringing")
    yield rng.uniform(0.3, 0.8)
    world.set_call_status(first, "in-progress")
    ix.join(first, "worker")
    ix.open_record(first)
    ix.rec.task_sids.append(task.sid)
    ix.rec.conference_sids.append(conference.sid)
    ix.rec.worker_sids.append(caller.sid)
    ix.rec.notes["policy"] = "internal agent-to-agent call: no customer, not eligible"
    ix.note_native_link()
    ix.tl.eligible = False
    ix.tl.customer_answered_at = None
    ix.present(caller.sid, first)
    ix.flex_write({"conference": {"sid": conference.sid, "participants": {"worker": first.sid}}})
    yield from ix.offer(callee, rng.uniform(2.0, 6.0))
    yield from ix.connect_worker(callee)
    ix.tl.agent_connected_at = ix.now()
    yield from ix.speak([caller.sid, callee.sid], ix.talk_time())
    yield from hang_up(ix, customer_may_end=False)
