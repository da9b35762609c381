"""A replacement is judged from flexrec learning of the early end, the agent's pause left out
(flexrec.demo.early_ends), and the demo's score carries both that and the raw gap."""

from __future__ import annotations

from typing import Any

from flexrec.demo.early_ends import EarlyEnds, Notices, learnt_ms
from flexrec.demo.scoring import score_truth


def _failed_then_replaced(at_ms: int, gap_ms: int, end_ms: int = 120_000) -> dict[str, Any]:
    first = {
        "party": "customer", "channels": 2, "start_time_ms": 0, "end_time_ms": at_ms,
        "pauses": [], "recorded_spans": [[0, at_ms]], "start_gap_ms": 0,
    }  # fmt: skip
    return {
        "interaction_id": "CA1",
        "customer_call_sid": "CA1",
        "scenario": "basic",
        "eligible": True,
        "recordings": [first],
        "tasks": [{"task_sid": "WT1", "media": {"linked": True}}],
        "expected_window": {"start_ms": 0, "end_ms": end_ms},
        "faults": [
            {
                "kind": "recording_failed",
                "party": "customer",
                "at_ms": at_ms,
                "recording_sid": "RE1",
                "next_recording": {"sid": "RE2", "gap_ms": gap_ms},
            },
        ],
    }


def _callback(name: str, first_try_ms: int, sid: str = "RE1") -> dict[str, Any]:
    return {"kind": "recording-status", "name": name, "subject_sid": sid,
            "first_try_ms": first_try_ms}  # fmt: skip


def test_a_replacement_held_for_the_agents_pause_is_judged_from_the_resume() -> None:
    # Seed 11 at x10: Twilio failed the recording while the agent had the call paused; the
    # replacement started 0.3 s after the resume, 15.85 s after the failure.
    item = _failed_then_replaced(at_ms=54_763, gap_ms=15_850)
    notices = Notices.of_run(
        [_callback("failed", 54_770)], {"WT1": [("pause", 40.7), ("resume", 70.3)]}
    )
    score = score_truth([item], notices=notices)
    assert score.replacement_gap_s_max_raw == 15.85
    assert score.replacement_gap_s_max == 0.313  # 70.613 s less the resume at 70.3 s
    assert score.ok
    # Without what the agent asked, the same run is judged by the raw gap, and fails.
    assert not score_truth([item]).ok


def test_a_late_callback_counts_from_its_first_try_not_from_the_end() -> None:
    # Twilio held the failed callback back 5 s (a reordered delivery) and retried it once
    # (the first try was answered 503): flexrec could know from the first try.
    item = _failed_then_replaced(at_ms=20_000, gap_ms=14_000)
    deliveries = [
        _callback("in-progress", 1_000),
        _callback("failed", 25_000),
        _callback("failed", 26_000),  # the duplicate, sent later
        _callback("absent", 1_000, sid="RE9"),  # another recording
    ]
    score = score_truth([item], notices=Notices.of_run(deliveries, {}))
    assert (score.replacement_gap_s_max, score.replacement_gap_s_max_raw) == (9.0, 14.0)
    assert score.ok
    slow = score_truth(
        [_failed_then_replaced(20_000, 15_500)], notices=Notices.of_run(deliveries, {})
    )
    assert score.replacements == slow.replacements == 1
    assert slow.replacement_gap_s_max == 10.5 and not slow.ok


def test_learning_is_never_before_the_end_and_waits_for_the_service_to_be_back() -> None:
    assert learnt_ms(20_000, None, []) == 20_000  # no callback came: from the end
    assert learnt_ms(20_000, 19_000, []) == 20_000
    assert learnt_ms(20_000, 23_000, [(22_000, 30_000)]) == 30_000
    assert learnt_ms(20_000, 31_000, [(22_000, 30_000)]) == 31_000


def test_a_pause_wanted_until_the_hang_up_and_a_stop_are_scored_apart() -> None:
    never = _failed_then_replaced(at_ms=50_000, gap_ms=0, end_ms=90_000)
    never["faults"][0]["next_recording"] = None
    never["faults"].append(
        {"kind": "recording_stopped", "party": "customer", "at_ms": 10_000, "next_recording": None}
    )
    ends = EarlyEnds()
    # The agent paused at 30 s and never resumed: nothing was owed after the failure.
    ends.add_call(never, [], Notices({}, {"WT1": [("pause", 30.0)]}))
    assert (ends.replacements, ends.gaps_s, ends.raw_gaps_s) == (0, [0.0], [40.0])
    assert (ends.deliberate_stops, ends.stops_undone) == (1, 0)


def test_a_kill_between_learning_and_replacing_is_left_out() -> None:
    # The seed-11 soak: flexrec decided to replace 1.35 s real after the failure, was killed
    # 0.2 s later, and started the replacement 0.76 s after it was back (x8).
    ends = EarlyEnds()
    item = _failed_then_replaced(at_ms=20_000, gap_ms=69_900)
    ends.add_call(item, [(32_500, 83_900)], Notices())
    assert ends.raw_gaps_s == [69.9]
    assert ends.gaps_s == [18.5]  # 12.5 s before the kill, 6 s after it
