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
