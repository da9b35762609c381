"""The demo's card-data figures: what the kept audio still says, checked against the truth.

For every archived recording the simulator's word truth says where each card digit and each
distractor number was spoken; the kept file (as the archive holds it) is read at those spans:
a digit is audible when any sample there is not zero. Non-card speech silenced is how much of
the truth's other words (either channel) the silenced spans (detections widened by the margin)
cover: the quiet between card digits is not speech.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from sqlalchemy import select

from flexrec.archive.models import ArchivedRecording
from flexrec.db.base import make_engine, make_session_factory
from flexrec.pci.models import CardDetection
from flexsim import SimRunner

MARGIN_MS = 250


@dataclass
class CardFigures:
    """Scored against the truth; None when the run did not check card data."""

    card_numbers_spoken: int = 0  # readings (customer or read-back) heard in a kept file
    card_numbers_silenced: int = 0  # of those, no digit audible any more
    card_digits_audible: int = 0  # card, expiry and code digit words still audible
    card_digit_words: int = 0
    distractors_spoken: int = 0
    distractors_silenced_share: float = 0.0
    non_card_silenced_s_per_card_call: float = 0.0


def _audible(samples: np.ndarray, channel: int, start_ms: int, end_ms: int) -> bool:
    return bool(np.any(samples[start_ms * 8 : end_ms * 8, channel]))


def card_figures(sim: SimRunner, database_url: str, archive_dir: Path) -> CardFigures:
    """Score every archived recording of the run (plain local archive, the demo's default)."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            rows = list(session.scalars(select(ArchivedRecording)))
            detections = list(session.scalars(select(CardDetection)))
    finally:
        engine.dispose()
    figures = CardFigures()
    distractors_silenced = 0
    non_card_ms = 0
    card_calls = 0
    for row in rows:
        if row.storage_key is None or row.encrypted or row.purged_at is not None:
            continue
        path = archive_dir / row.storage_key
        truth: dict[str, Any] | None = sim.word_truth(row.recording_sid)
        if truth is None or not path.is_file():
            continue
        samples, _ = soundfile.read(io.BytesIO(path.read_bytes()), dtype="int16", always_2d=True)
        card_spans: list[tuple[int, int]] = []
        for number in truth["numbers"]:
            channel = 0 if number["channel"] == "channel1" else 1
            spans = [(d["start_ms"], d["end_ms"]) for d in number["digits"] if d["audible"]]
            if not spans:
                continue
            still = [s for s in spans if _audible(samples, channel, *s)]
            if number["card_data"]:
                card_spans += spans
                figures.card_digit_words += len(spans)
                figures.card_digits_audible += len(still)
                if number["kind"] == "card":
                    figures.card_numbers_spoken += 1
                    figures.card_numbers_silenced += not still
            else:
                figures.distractors_spoken += 1
                distractors_silenced += len(still) < len(spans)
        if card_spans:
            card_calls += 1
            silenced = _merge(
                [
                    (d.start_ms - MARGIN_MS, d.end_ms + MARGIN_MS)
                    for d in detections
                    if d.recording_sid == row.recording_sid
                ]
            )
            card_ids = {n["number_id"] for n in truth["numbers"] if n["card_data"]}
            non_card_ms += sum(
                max(0, min(e, w["end_ms"]) - max(s, w["start_ms"]))
                for words in truth["channels"].values()
                for w in words
                if w["audible"] and w["number_id"] not in card_ids
                for s, e in silenced
            )
    if figures.distractors_spoken:
        figures.distractors_silenced_share = round(
            distractors_silenced / figures.distractors_spoken, 3
        )
    if card_calls:
        figures.non_card_silenced_s_per_card_call = round(non_card_ms / 1000 / card_calls, 2)
    return figures


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out
