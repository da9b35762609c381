"""Frame-level agreement between detected speech and ground truth."""

from __future__ import annotations

from collections.abc import Iterable

from flexrec.analysis.segments import to_mask


def frame_scores(
    predicted: Iterable[tuple[int, int]],
    truth: Iterable[tuple[int, int]],
    duration_ms: int,
    frame_ms: int = 10,
) -> tuple[float, float]:
    """(precision, recall) of predicted speech frames against true ones.

    With nothing predicted precision is 1.0; with no true speech recall is 1.0 (nothing missed).
    """
    if frame_ms <= 0:
        raise ValueError("frame_ms must be positive")
    count = max(0, duration_ms) // frame_ms
    pred = to_mask(predicted, count, frame_ms)
    true = to_mask(truth, count, frame_ms)
    hits = int((pred & true).sum())
    predicted_count = int(pred.sum())
    true_count = int(true.sum())
    precision = hits / predicted_count if predicted_count else 1.0
    recall = hits / true_count if true_count else 1.0
    return precision, recall
