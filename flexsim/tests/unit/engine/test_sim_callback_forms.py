"""TaskRouter callback forms carry a task's attributes as they are at each event, even though
their JSON is reused between events of the same revision."""

from __future__ import annotations

import json

from flexsim.callbacks import taskrouter_form
from flexsim.world import SimClock, World


def _attributes_in_form(world: World, data: dict[str, object]) -> object:
    form = taskrouter_form(world, "task.updated", world.clock.now(), data, "EV1")
    return json.loads(form["TaskAttributes"])


def test_task_attributes_follow_every_update() -> None:
    world = World(SimClock(scale=0))
    queue, workflow = world.add_queue("Everyone"), world.add_workflow("Anyone")
    task = world.create_task({"call_sid": "CA1"}, queue, workflow)
    assert _attributes_in_form(world, {"task": task}) == {"call_sid": "CA1"}
    world.update_task_attributes(task, {"call_sid": "CA1", "conversations": {"media": []}})
    assert _attributes_in_form(world, {"task": task}) == {
        "call_sid": "CA1",
        "conversations": {"media": []},
    }
    # a replaced dict is new content even when the revision did not move
    task.attributes = {"call_sid": "CA2"}
    assert _attributes_in_form(world, {"task": task}) == {"call_sid": "CA2"}


def test_same_sids_in_another_world_get_their_own_attributes() -> None:
    forms = []
    for attributes in ({"n": 1}, {"n": 2}):
        world = World(SimClock(scale=0), seed=3)  # same seed: same task SID, same revision
        task = world.create_task(attributes, world.add_queue("Q"), world.add_workflow("W"))
        worker = world.add_worker("agent001", {"contact_uri": f"client:{attributes['n']}"})
        form = taskrouter_form(
            world, "reservation.created", 0.0, {"task": task, "worker": worker}, "EV1"
        )
        forms.append((json.loads(form["TaskAttributes"]), json.loads(form["WorkerAttributes"])))
    assert forms == [
        ({"n": 1}, {"contact_uri": "client:1"}),
        ({"n": 2}, {"contact_uri": "client:2"}),
    ]
