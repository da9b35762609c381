"""Helpers for the simulator REST tests: a populated world, credentials, a loopback server."""

from __future__ import annotations

import base64
from dataclasses import dataclass

from flexsim import defaults
from flexsim.world import SimClock, World

START_EPOCH = 1_795_000_000.0  # a fixed simulated start: dates in responses are predictable


def basic(user: str, password: str) -> dict[str, str]:
    """An Authorization header."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


ACCOUNT_AUTH = basic(defaults.ACCOUNT_SID, defaults.AUTH_TOKEN)
KEY_AUTH = basic(defaults.API_KEY_SID, defaults.API_KEY_SECRET)


@dataclass
class Scenario:
    """A Flex inbound call in a conference with an agent, its task and reservation."""

    world: World
    customer_sid: str
    worker_call_sid: str
    ringing_sid: str
    ended_sid: str
    conference_sid: str
    task_sid: str
    reservation_sid: str
    worker_sid: str
    other_worker_sid: str
    queue_sid: str
    workflow_sid: str


def build_scenario() -> Scenario:
    """Create the world through World methods, as the engine would."""
    world = World(clock=SimClock(scale=0, start_epoch=START_EPOCH), seed=7)
    queue = world.add_queue("Everyone")
    workflow = world.add_workflow("Assign to Anyone")
    alice = world.add_worker("alice", {"contact_uri": "client:alice", "roles": ["agent"]})
    bob = world.add_worker("bob", {"contact_uri": "client:bob"})
    customer = world.create_call(
        from_="+15005550001", to="+15005550100", direction="inbound", party="customer"
    )
    world.set_call_status(customer, "ringing")
    world.set_call_status(customer, "in-progress")
    task = world.create_task(
        {"call_sid": customer.sid, "direction": "inbound", "from": customer.from_},
        queue,
        workflow,
    )
    reservation = world.create_reservation(task, alice)
    world.set_reservation_status(reservation, "accepted")
    worker_leg = world.create_call(
        from_=customer.to,
        to="client:alice",
        direction="outbound-api",
        party="worker",
        worker_sid=alice.sid,
    )
    world.set_call_status(worker_leg, "in-progress")
    conference = world.create_conference(task, status_callback=None)
    world.join_conference(conference, customer, "customer")
    world.join_conference(conference, worker_leg, "worker")
    ringing = world.create_call(
        from_=customer.to, to="+15005550002", direction="outbound-api", party="customer"
    )
    world.set_call_status(ringing, "ringing")
    ended = world.create_call(
        from_="+15005550003", to=customer.to, direction="inbound", party="customer"
    )
    world.set_call_status(ended, "in-progress")
    world.clock.advance(5)
    world.set_call_status(ended, "completed")
    return Scenario(
        world=world,
        customer_sid=customer.sid,
        worker_call_sid=worker_leg.sid,
        ringing_sid=ringing.sid,
        ended_sid=ended.sid,
        conference_sid=conference.sid,
        task_sid=task.sid,
        reservation_sid=reservation.sid,
        worker_sid=alice.sid,
        other_worker_sid=bob.sid,
        queue_sid=queue.sid,
        workflow_sid=workflow.sid,
    )
