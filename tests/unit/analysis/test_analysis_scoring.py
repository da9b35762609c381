"""Frame-level precision and recall."""

from __future__ import annotations

import pytest

from flexrec.analysis.scoring import frame_scores
from flexrec.analysis.segments import Segment, as_segments, to_mask


def test_half_overlap_gives_half_precision_and_recall() -> None:
    assert frame_scores([(0, 100)], [(50, 150)], 200) == (0.5, 0.5)


def test_predicting_more_than_the_truth_costs_precision_only() -> None:
    precision, recall = frame_scores([(0, 400)], [(100, 200)], 1000)
    assert precision == pytest.approx(0.25)
    assert recall == 1.0


def test_empty_prediction_and_empty_truth() -> None:
    assert frame_scores([], [(0, 100)], 200) == (1.0, 0.0)
    assert frame_scores([(0, 100)], [], 200) == (0.0, 1.0)


def test_frames_count_when_their_centre_is_inside() -> None:
    assert to_mask([(5, 15)], 3, 10).tolist() == [True, False, False]
    assert to_mask([(6, 16)], 3, 10).tolist() == [False, True, False]


def test_as_segments_sorts_and_merges() -> None:
    assert as_segments([(50, 80), (0, 10), (5, 20), (30, 30)]) == [
        Segment(0, 20),
        Segment(50, 80),
    ]
