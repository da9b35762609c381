"""A refused agent request may catch up from TaskRouter, but not at two calls every time."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from recording_harness import Harness, inbound_attrs
from sim_twilio import fake_sid

from flexrec.recording.catch_up import CatchUpLimiter
from flexrec.recording.errors import Forbidden, NotFound
from flexrec.recording.service import Actor

TASK = fake_sid("WT", 1)
CUSTOMER = fake_sid("CA", 1)
OWNER = Actor("alice", fake_sid("WK", 1), ("agent",))
STRANGER = Actor("bob", fake_sid("WK", 2), ("agent",))


@pytest.fixture
def h(tmp_path: Path) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    harness.twilio.add_call(CUSTOMER)
    harness.twilio.add_task(TASK, inbound_attrs(CUSTOMER))
    attrs = inbound_attrs(CUSTOMER)
    harness.tr("task.created", TASK, attrs, status="pending")
    harness.tr("reservation.accepted", TASK, attrs, status="assigned",
               reservation=fake_sid("WR", 1), worker=OWNER.worker_sid)  # fmt: skip
    yield harness
    harness.close()


def taskrouter_reads(h: Harness) -> int:
    return h.twilio.count("fetch_task") + h.twilio.count("list_reservations")


def test_someone_elses_task_is_caught_up_once_not_on_every_request(h: Harness) -> None:
    before = taskrouter_reads(h)
    for _ in range(10):
        with pytest.raises(Forbidden):
            h.service.pauses.state(TASK, STRANGER)
    assert taskrouter_reads(h) - before <= 2


def test_unknown_tasks_cost_a_caller_only_a_small_budget(h: Harness) -> None:
    before = taskrouter_reads(h)
    for n in range(30):
        with pytest.raises(NotFound):
            h.service.pauses.state(fake_sid("WT", 100 + n), STRANGER)
    assert taskrouter_reads(h) - before <= 2 * CatchUpLimiter().caller_burst


def test_the_owner_still_gets_the_task_it_just_accepted() -> None:
    now = [0.0]
    limiter = CatchUpLimiter(clock=lambda: now[0])
    assert limiter.allow("WT1", "WKa")
    assert not limiter.allow("WT1", "WKb")  # the task was just re-read
    now[0] = 31.0
    assert limiter.allow("WT1", "WKb")
