"""A conversation analysis becomes the same row values by the direct path as by the generic one."""

from __future__ import annotations

import dataclasses

from flexrec.analysis import analyse_recording
from flexrec.archive.analysis_rows import analysis_values
from flexsim import make_sample_conversation, render_recording

RATE = 8000


def test_row_values_of_a_conversation_equal_the_generic_conversion() -> None:
    conversation = make_sample_conversation(7, duration_s=90.0, hold_s=10.0)
    samples = render_recording(conversation.world, conversation.customer_recording)
    result = analyse_recording(samples, RATE, paused=[(20_000, 24_000)])
    assert len(result.segments) > 4 and result.metrics.paused_ms == 4_000

    values = analysis_values(result)
    # A plain mapping of the same analysis takes the generic, field-by-field path.
    assert values == analysis_values(dataclasses.asdict(result))
    assert values["customer_talk_ms"] == result.metrics.customer_talk_ms
    assert values["segments"][0] == {
        "speaker": result.segments[0].speaker,
        "start_ms": result.segments[0].start_ms,
        "end_ms": result.segments[0].end_ms,
    }
    assert "customer_segments" not in values["metrics"]
    assert "segments" not in values["metrics"]
