"""The workspace callback gets every event type unless EventsFilter says otherwise, and a
receiver that answers later than its kind's limit sees a timeout and a retry.

Sources: TaskRouter Events reference (every event is POSTed to EventCallbackUrl; answer within
15 s), the Workspace resource's `EventsFilter`, Event Streams error 91308 (sink limit 5 s).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from flexsim import webhooks
from flexsim.webhooks import WebhookDispatcher

Sim = Any
SERVICE = "http://service.test"


def _delivered(sim: Sim, events_filter: str | None) -> list[str]:
    sim.world.event_callback_url = f"{SERVICE}/webhooks/taskrouter"
    sim.world.events_filter = events_filter
    dispatcher = WebhookDispatcher(sim.world, auth_token="tok")
    dispatcher.attach()
    sim.engine.start_traffic()  # the agents log in
    sim.run("basic", "inbound")
    return [d.name for d in dispatcher.inbox if d.kind == "taskrouter"]


def test_every_event_type_reaches_the_workspace_callback_without_a_filter(sim: Sim) -> None:
    names = set(_delivered(sim, None))
    assert {"worker.activity.update", "worker.channel.availability.update"} <= names
    assert {"task.created", "task-queue.entered", "reservation.accepted"} <= names


def test_events_filter_set_through_the_workspace_keeps_only_its_types(sim: Sim) -> None:
    names = _delivered(sim, "task.created,reservation.accepted")
    assert set(names) == {"task.created", "reservation.accepted"}


def test_a_slow_answer_is_a_timeout_and_is_retried(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(webhooks.ANSWER_LIMITS_S, "taskrouter", 0.05)
    answers: list[float] = []

    async def slow_first(request: httpx.Request) -> httpx.Response:
        if not answers:
            answers.append(0.5)
            await asyncio.sleep(0.5)  # past the limit: Twilio has given up on this attempt
        return httpx.Response(204)

    sim.world.event_callback_url = f"{SERVICE}/webhooks/taskrouter"
    sim.world.events_filter = "task.created"
    dispatcher = WebhookDispatcher(
        sim.world, auth_token="tok", retry_backoff_s=0.001, max_retries=2
    )
    dispatcher.attach()
    sim.run("basic", "inbound")

    async def send() -> None:
        client = httpx.AsyncClient(transport=httpx.MockTransport(slow_first))
        await dispatcher.start(client=client)
        await dispatcher.stop(drain_timeout_s=10)

    asyncio.run(send())
    (entry,) = [e for e in dispatcher.log if e["kind"] == "taskrouter"]
    assert (entry["outcome"], entry["attempts"]) == ("sent", 2)
    assert dispatcher.stats.timed_out == 1 and dispatcher.stats.retried == 1
