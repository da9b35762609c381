"""The demo's scoring counts what the product promises, from the simulator's ground truth."""

from __future__ import annotations

from typing import Any

from flexrec.demo.scoring import by_scenario, percentile, score_truth


def _interaction(
    scenario: str = "basic",
    eligible: bool = True,
    recordings: list[dict[str, Any]] | None = None,
    media: dict[str, Any] | None = None,
    lost: list[str] | None = None,
) -> dict[str, Any]:
    return {
        "interaction_id": f"CA-{scenario}",
        "scenario": scenario,
        "direction": "inbound",
        "eligible": eligible,
        "recordings": recordings or [],
        "tasks": [
            {
                "task_sid": "WT1",
                "media": media or {"exactly_one": False, "url_is_customer_leg": False},
                "flex_writes_lost": lost or [],
            }
        ],
    }


def _rec(party: str = "customer", gap: int = 100, start: int = 0) -> dict[str, Any]:
    return {
        "party": party,
        "channels": 2,
        "start_gap_ms": gap,
        "start_time_ms": start,
        "pauses": [],
    }


LINKED = {"exactly_one": True, "url_is_customer_leg": True}


def test_a_clean_run_is_ok() -> None:
    score = score_truth(
        [
            _interaction(recordings=[_rec(gap=120)], media=LINKED),
            _interaction("abandoned", eligible=False),
        ]
    )
    assert (score.calls, score.eligible, score.recorded) == (2, 1, 1)
    assert score.duplicates == score.agent_leg_recordings == score.lost_attribute_writes == 0
    assert score.media_linked == 1
    assert score.start_gap_ms_p50 == 120
    assert score.ok


def test_duplicates_agent_legs_and_lost_writes_are_counted() -> None:
    score = score_truth(
        [
            _interaction(
                recordings=[_rec(start=5), _rec(start=1), _rec("worker")],
                media={"exactly_one": False, "url_is_customer_leg": False},
                lost=["conference.sid"],
            )
        ]
    )
    assert score.duplicates == 1
    assert score.agent_leg_recordings == 1
    # one Flex write lost plus the missing media link
    assert score.lost_attribute_writes == 2
    assert score.media_linked == 0
    assert not score.ok


def test_an_eligible_call_without_recording_is_not_ok() -> None:
    score = score_truth([_interaction()])
    assert score.recorded == 0 and score.eligible == 1
    assert not score.ok


def test_mono_or_ineligible_recordings_do_not_count_as_recorded() -> None:
    mono = {"party": "customer", "channels": 1, "start_gap_ms": 0, "pauses": []}
    score = score_truth(
        [_interaction(recordings=[mono]), _interaction("x", eligible=False, recordings=[_rec()])]
    )
    assert score.recorded == 0
    assert score.ineligible_recorded == 1


def test_percentile_and_grouping() -> None:
    assert percentile([], 50) is None
    assert percentile([1, 2, 3, 4], 50) == 2
    assert percentile(list(range(1, 101)), 99) == 99
    rows = by_scenario(score_truth([_interaction("b"), _interaction("a")]).per_call)
    assert [row.scenario for row in rows] == ["a", "b"]


def test_variants_are_counted_and_conference_recordings_are_no_leg_recordings() -> None:
    native = {**_rec(), "conference_sid": "CF1"}  # Flex's own, associated with the leg
    first = _interaction(recordings=[_rec(), native], media=LINKED)
    first["variants"] = {"native_recording": "dual", "participant_labels": "absent"}
    second = _interaction("no_answer", eligible=False, recordings=[{**native, "party": "worker"}])
    second["variants"] = {"native_recording": "dual", "outbound_attributes": "absent"}
    score = score_truth([first, second])
    assert score.variants == {
        "native_recording": {"dual": 2},
        "participant_labels": {"absent": 1},
        "outbound_attributes": {"absent": 1},
    }
    assert (score.duplicates, score.agent_leg_recordings, score.ineligible_recorded) == (0, 0, 0)
    assert score.ok and score.as_json()["variants"] == score.variants


def _window(start: int, end: int) -> dict[str, int]:
    return {"start_ms": start, "end_ms": end}


def test_talk_time_counts_gaps_as_unrecorded_and_excludes_pauses() -> None:
    first = {**_rec(start=1_000), "end_time_ms": 20_000, "recorded_spans": [[1_000, 20_000]]}
    second = {
        **_rec(start=25_000),
        "end_time_ms": 100_000,
        # paused 40-50 s: excluded from what had to be recorded
        "pauses": [{"start_ms": 40_000, "end_ms": 50_000}],
        "recorded_spans": [[25_000, 40_000], [50_000, 100_000]],
    }
    item = _interaction(recordings=[first, second], media={"linked": True})
    item["expected_window"] = _window(0, 100_000)
    item["faults"] = [
        {"kind": "recording_absent", "party": "customer", "at_ms": 20_000,
         "next_recording": {"sid": "RE2", "gap_ms": 5_000}},
    ]  # fmt: skip
    score = score_truth([item])
    # 90 s to record (100 s less the 10 s pause); 1 s before the start and 5 s of the
    # replacement's gap were not: 84 of 90.
    assert score.talk_time_recorded_pct == round(100 * 84 / 90, 2)
    assert score.duplicates == 0  # one after another is a replacement, not a duplicate
    assert (score.replacements, score.replacement_gap_s_max) == (1, 5.0)
    assert score.links_present_at_end == 100.0
    assert score.ok


def test_a_deliberate_stop_undone_or_a_slow_replacement_is_not_ok() -> None:
    rec = {**_rec(start=0), "end_time_ms": 10_000, "recorded_spans": [[0, 10_000]]}
    stopped = _interaction(recordings=[rec], media={"linked": True})
    stopped["expected_window"] = _window(0, 60_000)
    stopped["faults"] = [
        {"kind": "recording_stopped", "party": "customer", "at_ms": 10_000,
         "next_recording": {"sid": "RE2", "gap_ms": 3_000}},
    ]  # fmt: skip
    score = score_truth([stopped])
    assert (score.deliberate_stops, score.stops_undone) == (1, 1)
    assert not score.ok
    never = _interaction(recordings=[rec], media={"linked": True})
    never["expected_window"] = _window(0, 60_000)
    never["faults"] = [
        {"kind": "recording_failed", "party": "customer", "at_ms": 10_000, "next_recording": None},
    ]
    score = score_truth([never])
    assert score.replacement_gap_s_max == 50.0  # never replaced: the rest of the call
    assert not score.ok


def test_two_recordings_running_at_once_are_a_duplicate() -> None:
    a = {**_rec(start=0), "end_time_ms": 50_000, "recorded_spans": [[0, 50_000]]}
    b = {**_rec(start=30_000), "end_time_ms": 60_000, "recorded_spans": [[30_000, 60_000]]}
    score = score_truth([_interaction(recordings=[a, b], media={"linked": True})])
    assert score.duplicates == 1 and not score.ok


def test_links_present_at_end_uses_the_truths_one_entry_per_recording_rule() -> None:
    missing = {"linked": False, "exactly_one": True, "url_is_customer_leg": True}
    score = score_truth([
        _interaction(recordings=[_rec()], media={"linked": True}),
        _interaction(recordings=[_rec()], media=missing),
    ])  # fmt: skip
    assert score.links_present_at_end == 50.0 and not score.ok


def test_a_replacement_gap_counts_from_when_the_service_was_back() -> None:
    rec = {**_rec(start=0), "end_time_ms": 10_000, "recorded_spans": [[0, 10_000]]}
    item = _interaction(recordings=[rec], media={"linked": True})
    item["expected_window"] = _window(0, 120_000)
    item["faults"] = [
        {"kind": "recording_absent", "party": "customer", "at_ms": 10_000,
         "next_recording": {"sid": "RE2", "gap_ms": 40_000}},
    ]  # fmt: skip
    # The service was killed from 5 s to 47 s: it learnt of the early end at 47 s.
    score = score_truth([item], downtime=[(5_000, 47_000)])
    assert score.replacement_gap_s_max == 3.0
    assert score.replacement_gap_s_max_raw == 40.0
    # Talk time: 10 of 120 s recorded; while the service was up, 5 of the 78 s outside 5-47 s.
    assert score.talk_time_recorded_pct == round(100 * 10 / 120, 2)
    assert score.talk_time_recorded_pct_while_up == round(100 * 5 / 78, 2)


def test_a_call_talking_only_while_the_service_was_killed_is_named_not_lost() -> None:
    # Killed from 10 s to 60 s: a call talking 20-55 s could not be recorded by anything, one
    # talking 20-69 s had 9 s of a service answering (less than the 10 s start budget), one
    # talking 20-75 s had 15 s and is lost, and one outside the kill is lost whatever happened.
    inside, budget, lost, elsewhere = (_interaction(f"call{n}", media=LINKED) for n in range(4))
    inside["expected_window"] = _window(20_000, 55_000)
    budget["expected_window"] = _window(20_000, 69_000)
    lost["expected_window"] = _window(20_000, 75_000)
    elsewhere["expected_window"] = _window(70_000, 80_000)
    score = score_truth([inside, budget], downtime=[(10_000, 60_000)])
    assert (score.eligible, score.recorded, score.unrecordable_while_down) == (2, 0, 2)
    assert score.ok
    assert [row.while_down for row in by_scenario(score.per_call)] == [1, 1]
    for other in (lost, elsewhere):
        score = score_truth([inside, other], downtime=[(10_000, 60_000)])
        assert score.unrecordable_while_down == 1 and not score.ok
    assert not score_truth([inside]).ok  # no kill: nothing excuses it


def test_a_call_whose_every_recording_twilio_ended_without_media_is_not_recorded() -> None:
    # Seed 11 at x10: a kept pause took Twilio's 21220 for "call over" after the recording
    # ended absent; the call was scored recorded though nothing of it was kept.
    absent = {**_rec(), "status": "absent"}
    kept = {**_rec(start=5_000), "status": "completed"}
    score = score_truth([
        _interaction(recordings=[absent], media={"linked": True}),
        _interaction(recordings=[absent, kept], media={"linked": True}),
    ])  # fmt: skip
    assert (score.eligible, score.recorded) == (2, 1)
    assert [c.recorded for c in score.per_call] == [False, True]
    assert not score.ok
