"""The conversation once an agent is on the call, its scenario events, and its end.

The events (hold, a third party dialled in, a cold or warm transfer, the browser closed) happen
between two stretches of speech; a card payment may be planned into the first. The hang-up
ends every leg and wraps the task up as Flex does.
"""

from __future__ import annotations

import random

from flexsim.engine import AgentRequest
from flexsim.scenarios.interaction import Interaction, Steps
from flexsim.speech.payment import draw_pause, plan_payment
from flexsim.timeline import CUSTOMER, THIRD_PARTY
from flexsim.world import Worker


def conversation(ix: Interaction, agent: Worker) -> Steps:
    rng = ix.rng
    total = ix.talk_time()
    before = total * rng.uniform(0.3, 0.6)
    after = total - before
    scenario = ix.scenario
    # Customer and agent alone, off hold: the whole call, or the part before the event.
    alone = total if scenario in ("basic", "studio_recorded", "browser_closed") else before
    _plan_payment(ix, agent, alone)
    ix.engine.conversation_started(ix.tl, ix.the_task, agent)
    if scenario in ("basic", "studio_recorded"):
        yield from ix.speak([CUSTOMER, agent.sid], total)
        return
    yield from ix.speak([CUSTOMER, agent.sid], before)
    if scenario == "hold":
        yield from hold(ix, rng.uniform(10.0, 40.0), [])
        yield from ix.speak([CUSTOMER, agent.sid], after)
    elif scenario == "browser_closed":
        # The agent's browser tab dies; the call itself (server side) goes on untouched.
        ix.rec.notes["browser_closed_at_ms"] = int(ix.now() * 1000)
        yield from ix.speak([CUSTOMER, agent.sid], after)
    elif scenario == "third_party":
        yield from third_party(ix, agent, after)
    elif scenario in ("cold_transfer", "warm_transfer"):
        yield from transfer(ix, agent, after, warm=scenario == "warm_transfer")
    else:
        yield from ix.speak([CUSTOMER, agent.sid], after)


def _plan_payment(ix: Interaction, agent: Worker, alone_s: float) -> None:
    """Maybe take a card payment inside the first `alone_s` seconds (its own random stream)."""
    rng = random.Random(f"payment:{ix.cfg.seed}:{ix.index}")
    if rng.random() >= ix.cfg.card_share:
        return
    pause = draw_pause(rng, ix.cfg.card_pause)
    start = ix.now() + rng.uniform(4.0, 15.0)
    plan = plan_payment(ix.tl.seed, rng, CUSTOMER, agent.sid, start, pause)
    if plan.end + 3.0 <= ix.now() + alone_s:
        ix.tl.payment = plan
        ix.tl.utterances.extend(plan.utterances)


def hold(ix: Interaction, seconds: float, speakers: list[str]) -> Steps:
    start = ix.now()
    ix.world.set_hold(ix.conf, ix.cust.sid, True)
    if speakers:
        yield from ix.speak(speakers, seconds)
    else:
        yield seconds
    ix.world.set_hold(ix.conf, ix.cust.sid, False)
    ix.tl.holds.append((start, ix.now()))


def third_party(ix: Interaction, agent: Worker, remaining: float) -> Steps:
    rng, world = ix.rng, ix.world
    third = world.create_call(
        from_=ix.cfg.flex_number,
        to=f"+1555{rng.randrange(10**7):07d}",
        direction="outbound-api",
        party="third",
        status_callback=ix.cfg.call_status_callback_url,
    )
    ix.track_call(third)
    world.set_call_status(third, "ringing")
    ring = rng.uniform(3.0, 8.0)
    yield from ix.speak([CUSTOMER, agent.sid], ring)
    world.set_call_status(third, "in-progress")
    ix.join(third, THIRD_PARTY)
    ix.present(THIRD_PARTY, third)
    ix.rec.notes["third_party_call_sid"] = third.sid
    together = min(max(remaining - ring, 5.0), rng.uniform(20.0, 60.0))
    yield from ix.speak([CUSTOMER, agent.sid, THIRD_PARTY], together)
    rest = max(remaining - ring - together, 5.0)
    if rng.random() < 0.6:
        ix.end_leg(third)
        yield from ix.speak([CUSTOMER, agent.sid], rest)
    else:
        yield from ix.speak([CUSTOMER, agent.sid, THIRD_PARTY], rest)


def transfer(ix: Interaction, agent: Worker, remaining: float, *, warm: bool) -> Steps:
    rng, world = ix.rng, ix.world
    hold_start = ix.now()
    world.set_hold(ix.conf, ix.cust.sid, True)
    world.emit("taskrouter", "task.transfer-initiated", task=ix.the_task, worker=agent)
    if not warm:
        # cold: the first agent leaves at once and wraps up; the customer waits on hold
        ix.end_leg(ix.legs.pop(agent.sid))
        ix.spawn_wrap(agent)
    target = yield AgentRequest(patience_s=60.0, exclude=frozenset({agent.sid}))
    if target is None:
        ix.rec.notes["transfer_failed"] = True
        world.emit("taskrouter", "task.transfer-failed", task=ix.the_task, worker=agent)
        world.set_hold(ix.conf, ix.cust.sid, False)
        ix.tl.holds.append((hold_start, ix.now()))
        if warm:
            yield from ix.speak([CUSTOMER, agent.sid], remaining)
        else:
            # nobody took the call: the customer gives up on hold
            ix.rec.notes["customer_gave_up_on_hold"] = True
            yield 1.0
        return
    yield from ix.offer(target, rng.uniform(2.0, 6.0))
    yield from ix.connect_worker(target)
    ix.rec.notes["transferred_to"] = target.sid
    if warm:
        yield from ix.speak([agent.sid, target.sid], rng.uniform(5.0, 20.0))
    world.set_hold(ix.conf, ix.cust.sid, False)
    ix.tl.holds.append((hold_start, ix.now()))
    world.emit("taskrouter", "task.transfer-completed", task=ix.the_task, worker=target)
    if warm:
        yield from ix.speak([CUSTOMER, agent.sid, target.sid], rng.uniform(5.0, 15.0))
        ix.end_leg(ix.legs.pop(agent.sid))
        ix.spawn_wrap(agent)
    yield from ix.speak([CUSTOMER, target.sid], max(remaining, 10.0))


def hang_up(ix: Interaction, customer_may_end: bool = True) -> Steps:
    """One side hangs up, the rest of the conference follows; then wrap-up."""
    rng, world = ix.rng, ix.world
    legs = list(ix.legs.values())
    customer_first = customer_may_end and ix.customer is not None and rng.random() < 0.6
    if customer_first:
        ix.end_leg(ix.cust)
        ix.tl.ended_at = ix.now()
        yield rng.uniform(0.2, 1.0)
    else:
        if legs:
            ix.end_leg(legs.pop(0))
        yield rng.uniform(0.1, 0.5)
        if ix.customer is not None:
            ix.end_leg(ix.cust)
    if ix.tl.ended_at is None:
        ix.tl.ended_at = ix.now()
    for leg in legs:
        ix.end_leg(leg)
    third_sid = ix.record.notes.get("third_party_call_sid") if ix.record else None
    if third_sid and third_sid in world.calls:
        ix.end_leg(world.calls[third_sid])
    # Flex: the reservation wraps up, then the task follows it
    agents = list(ix.workers.values())
    for agent in agents:
        reservation = ix.reservations.get(agent.sid)
        if reservation is not None:
            world.set_reservation_status(reservation, "wrapup")
    world.set_task_status(ix.the_task, "wrapping")
    yield ix.wrap_time()
    for agent in agents:
        reservation = ix.reservations.pop(agent.sid, None)
        if reservation is not None:
            world.set_reservation_status(reservation, "completed")
    world.set_task_status(ix.the_task, "completed", reason="Task completed")
    for agent in agents:
        ix.workers.pop(agent.sid, None)
        ix.engine.release_worker(agent)
