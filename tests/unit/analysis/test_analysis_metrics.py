"""Conversation metrics on hand-made segments: exact expectations."""

from __future__ import annotations

import pytest

from flexrec.analysis.metrics import SpeakerSegment, compute_metrics

CUSTOMER = [(0, 3000), (5000, 6000)]
AGENT = [(2400, 4500), (5200, 5600), (7000, 9000)]


def test_talk_cross_talk_and_silence() -> None:
    m = compute_metrics(CUSTOMER, AGENT, 10_000, paused=[(9500, 10_000)])
    assert m.duration_ms == 10_000
    assert m.paused_ms == 500
    assert m.customer_talk_ms == 4000
    assert m.agent_talk_ms == 2100 + 400 + 2000
    assert m.cross_talk_ms == 600 + 400
    assert m.total_talk_ms == 4500 + 1000 + 2000
    # Neither talking: 4500-5000, 6000-7000, 9000-9500 (9500-10000 is paused, not silence).
    assert m.silence_ms == 2000


def test_turn_taking_figures() -> None:
    m = compute_metrics(CUSTOMER, AGENT, 10_000)
    assert m.agent_interruptions == 1  # 2400 cuts into the customer for 600 ms > 500 ms grace
    assert m.customer_interruptions == 0  # 5200-5600 is the agent's backchannel, not a turn
    assert m.longest_customer_monologue_ms == 3000
    assert m.longest_agent_monologue_ms == 2100
    assert m.talk_to_listen_ratio == pytest.approx(4500 / 4000)
    assert m.agent_first_words_ms == 2400
    assert m.customer_first_words_ms == 0
    assert m.segments == (
        SpeakerSegment("customer", 0, 3000),
        SpeakerSegment("agent", 2400, 4500),
        SpeakerSegment("customer", 5000, 6000),
        SpeakerSegment("agent", 5200, 5600),
        SpeakerSegment("agent", 7000, 9000),
    )


@pytest.mark.parametrize(
    "agent_start, expected",
    [(2500, 0), (2499, 1)],  # overlap of exactly the 500 ms grace is not an interruption
)
def test_interruption_needs_more_than_the_grace_overlap(agent_start: int, expected: int) -> None:
    m = compute_metrics([(0, 3000)], [(agent_start, 5000)], 6000)
    assert m.agent_interruptions == expected


def test_short_backchannel_is_not_an_interruption_but_a_long_one_is() -> None:
    agent = [(0, 8000)]
    assert compute_metrics([(2000, 2900)], agent, 9000).customer_interruptions == 0
    assert compute_metrics([(2000, 3100)], agent, 9000).customer_interruptions == 1


def test_interruption_counts_each_segment_once() -> None:
    m = compute_metrics([(0, 2000), (2100, 4000)], [(1000, 3500)], 5000)
    assert m.agent_interruptions == 1
    assert m.customer_interruptions == 1  # 2100 starts while the agent talks, 1400 ms overlap


def test_paused_spans_are_not_talk_and_segments_are_clipped_to_the_recording() -> None:
    m = compute_metrics([(1000, 5000)], [(4000, 12_000)], 10_000, paused=[(2000, 3000)])
    assert m.customer_talk_ms == 3000
    assert m.agent_talk_ms == 6000
    assert m.total_talk_ms == 1000 + 7000  # 1000-2000 and 3000-10000
    assert m.silence_ms == 1000  # only 0-1000: 2000-3000 is paused
    assert m.segments[0] == SpeakerSegment("customer", 1000, 2000)


def test_overlapping_input_segments_are_merged() -> None:
    m = compute_metrics([(0, 1000), (500, 2000)], [], 3000)
    assert m.customer_talk_ms == 2000
    assert m.longest_customer_monologue_ms == 2000


def test_empty_conversation() -> None:
    m = compute_metrics([], [], 4000)
    assert (m.customer_talk_ms, m.agent_talk_ms, m.cross_talk_ms) == (0, 0, 0)
    assert m.silence_ms == 4000
    assert m.talk_to_listen_ratio is None
    assert m.agent_first_words_ms is None
    assert m.segments == ()


def test_speaking_up_at_the_same_moment_is_not_an_interruption() -> None:
    # Both start together: neither started while the other was talking.
    m = compute_metrics([(1000, 4000)], [(1000, 5000)], 6000)
    assert (m.customer_interruptions, m.agent_interruptions) == (0, 0)


def test_pauses_that_meet_a_segment_leave_no_empty_pieces() -> None:
    m = compute_metrics(
        [(1000, 3000), (4000, 6000)], [], 8000, paused=[(1000, 1500), (2500, 4000), (6000, 7000)]
    )
    assert [(s.start_ms, s.end_ms) for s in m.segments] == [(1500, 2500), (4000, 6000)]
    assert (m.customer_talk_ms, m.paused_ms, m.silence_ms) == (3000, 3000, 2000)
