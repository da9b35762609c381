"""Cutting a demo's unrecorded gaps into what filled them (flexrec.demo.gaps)."""

from __future__ import annotations

import math

from flexrec.demo.gaps import (
    AGENT_RESUMED,
    Clock,
    Gap,
    Moment,
    RunLogs,
    cut_gap,
    leg_moments,
    totals,
)


def test_a_start_gap_is_charged_to_the_event_the_failed_tries_the_backoff_and_the_create() -> None:
    gap = Gap("start", "CA1", "basic", start_ms=0, end_ms=20_000)
    moments = [
        Moment(3_000, "event", "webhook reservation.accepted"),
        Moment(5_000, "failed_try", "recording start blip"),
        Moment(7_000, "failed_try", "recording start retry", after_s=0.5),
        Moment(15_000, "failed_try", "recording start blip"),
    ]
    cut = cut_gap(gap, moments, downtime_ms=[], scale=10.0)
    # 0.5 real seconds of backoff at x10 are 5 s of the call; the stretch after it is charged
    # to what ended it (a failed try), the last one to the create that worked.
    assert cut.parts == {"event": 3.0, "failed_try": 7.0, "backoff": 5.0, "round_trip": 5.0}
    assert math.isclose(sum(cut.parts.values()), cut.seconds)


def test_time_the_service_was_down_is_its_own_cause() -> None:
    gap = Gap("start", "CA1", "basic", start_ms=0, end_ms=10_000)
    cut = cut_gap(gap, [Moment(8_000, "event", "webhook")], downtime_ms=[(1_000, 6_000)], scale=10)
    assert cut.parts == {"down": 5.0, "event": 3.0, "round_trip": 2.0}


def test_a_replacement_held_for_a_pause_waits_for_the_resume() -> None:
    gap = Gap("replacement", "CA1", "basic", start_ms=0, end_ms=30_000)
    moments = [
        Moment(500, "event", "webhook failed"),
        Moment(1_000, "settle", "replacing it", after_s=math.inf, after_cause="held_for_pause"),
        Moment(28_000, "held_for_pause", "recording resumed"),
    ]
    cut = cut_gap(gap, moments, downtime_ms=[], scale=10)
    assert cut.parts == {"event": 0.5, "settle": 0.5, "held_for_pause": 27.0, "round_trip": 2.0}
    assert totals([cut, cut])["held_for_pause"] == 54.0


def test_a_held_replacement_stays_held_through_other_work_until_the_agent_resumes() -> None:
    # Seed 11 at x10: the ended recording's link entry was removed while the replacement
    # waited for the agent's resume, and the wait was charged to the create (12 s of it).
    gap = Gap("replacement", "CA1", "third_party", start_ms=0, end_ms=13_300)
    moments = [
        Moment(10, "event", "webhook failed (1 tries)"),
        Moment(360, "settle", "replacing it", after_s=math.inf, after_cause="held_for_pause"),
        Moment(1_190, "other", "recording linked"),
        Moment(12_990, "held_for_pause", AGENT_RESUMED),
    ]
    cut = cut_gap(gap, moments, downtime_ms=[], scale=10)
    assert cut.parts == {
        "event": 0.01, "settle": 0.35, "held_for_pause": 12.63, "round_trip": 0.31
    }  # fmt: skip
    assert "recording linked" in cut.moments[2]


def test_the_clock_maps_a_real_moment_to_simulated_time() -> None:
    clock = Clock(wall_s=1000.0, sim_ms=5_000_000, scale=10.0)
    assert clock.to_sim_ms(1001.5) == 5_015_000


def test_the_agents_resume_of_the_task_is_a_moment_of_its_customer_leg() -> None:
    logs = RunLogs(
        truth=[],
        lines=[
            {
                "event": "agent_request_done",
                "action": "pause",
                "task_sid": "WT1",
                "timestamp": "2026-12-07T09:56:05.762Z",
            },
            {
                "event": "agent_request_done",
                "action": "resume",
                "task_sid": "WT1",
                "timestamp": "2026-12-07T09:56:08.809Z",
            },
            {
                "event": "agent_request_done",
                "action": "resume",
                "task_sid": "WT2",
                "timestamp": "2026-12-07T09:56:08.900Z",
            },
        ],
        deliveries=[],
        clock=Clock(wall_s=0.0, sim_ms=0, scale=1.0),
        downtime_ms=[],
    )
    (moment,) = leg_moments(logs, "CA1", ["WT1"])
    assert (moment.cause, moment.what) == ("held_for_pause", AGENT_RESUMED)
