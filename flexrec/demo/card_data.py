"""The demo's card-data figures: what the kept audio still says, checked against the truth.

For every archived recording the simulator's word truth says where each card digit and each
distractor number was spoken; the kept file (as the archive holds it) is read at those spans:
a digit is audible when any sample there is not zero. Non-card speech silenced is how much of
the truth's other words (either channel) the silenced spans (detections widened by the margin)
cover: the quiet between card digits is not speech.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from sqlalchemy import select

from flexrec.archive.models import ArchivedRecording
from flexrec.db.base import make_engine, make_session_factory
from flexrec.demo.card_leaks import keep_leak, leak_stage
from flexrec.pci.models import CardDetection
from flexrec.pci.stage import CardDataStage
from flexsim import SimRunner

MARGIN_MS = 250
SAMPLE_RATE_HZ = 8000  # the archive keeps Twilio's 8 kHz


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
    # Where each recording that kept a card digit audible was kept for a replay
    # (`flexrec.demo.card_leaks`), or why it could not be.
    leak_bundles: list[str] = field(default_factory=list)


@dataclass
class NumberTally:
    """Card and distractor numbers of kept recordings, scored on their samples against the
    truth's spans (one recording's, or a run's once added up)."""

    card_digit_words: int = 0
    card_digits_audible: int = 0
    readings: int = 0  # card-number readings (customer or read-back)
    readings_silenced: int = 0  # of those, no digit audible any more
    distractors: int = 0
    distractors_silenced: int = 0  # any of its digits silenced
    card_spans: list[tuple[int, int]] = field(default_factory=list)  # one recording's
    misses: list[str] = field(default_factory=list)  # card data left audible, one line each

    def add(self, other: NumberTally) -> None:
        """Count `other`'s numbers in (not its spans)."""
        self.card_digit_words += other.card_digit_words
        self.card_digits_audible += other.card_digits_audible
        self.readings += other.readings
        self.readings_silenced += other.readings_silenced
        self.distractors += other.distractors
        self.distractors_silenced += other.distractors_silenced


def _audible(samples: np.ndarray, channel: int, start_ms: int, end_ms: int) -> bool:
    rate_per_ms = SAMPLE_RATE_HZ // 1000
    return bool(np.any(samples[start_ms * rate_per_ms : end_ms * rate_per_ms, channel]))


def tally_numbers(kept: np.ndarray, truth: dict[str, Any]) -> NumberTally:
    """Which spoken digits the kept samples (int16, one column per channel, 8 kHz) still hold."""
    tally = NumberTally()
    for number in truth["numbers"]:
        # A mono file (a Studio flow's recording) holds both parties in its one channel.
        channel = min(0 if number["channel"] == "channel1" else 1, kept.shape[1] - 1)
        spans = [(d["start_ms"], d["end_ms"]) for d in number["digits"] if d["audible"]]
        if not spans:
            continue
        still = [span for span in spans if _audible(kept, channel, *span)]
        if number["card_data"]:
            tally.card_spans += spans
            tally.card_digit_words += len(spans)
            tally.card_digits_audible += len(still)
            if still:
                tally.misses.append(
                    f"{number['kind']} on {number['channel']} at {spans[0][0] / 1000:.1f}-"
                    f"{spans[-1][1] / 1000:.1f} s: {len(still)}/{len(spans)} digit words audible"
                )
            if number["kind"] == "card":
                tally.readings += 1
                tally.readings_silenced += not still
        else:
            tally.distractors += 1
            tally.distractors_silenced += len(still) < len(spans)
    return tally


def pause_cutting(
    truth: dict[str, Any], *, cut_after: int | None = None, resume_after: int | None = None
) -> tuple[float, float, str]:
    """A pause late or early by the truth of a never-paused call (seconds from the customer's
    answer, as `flexsim.make_sample_conversation(pause=...)` takes it): `cut_after` N pauses
    between the customer's N-th and next card digit word and resumes after the security code;
    `resume_after` N pauses before the reading and resumes after the code's N-th digit word."""
    card = next(n for n in truth["numbers"] if n["kind"] == "card" and n["role"] == "reading")
    code = next(n for n in truth["numbers"] if n["kind"] == "security_code")
    digits, code_digits = card["digits"], code["digits"]
    if cut_after is not None:
        start = (digits[cut_after - 1]["end_ms"] + digits[cut_after]["start_ms"]) / 2
        end = code_digits[-1]["end_ms"] + 500
    elif resume_after is not None:
        start = digits[0]["start_ms"] - 3000
        end = (code_digits[resume_after - 1]["end_ms"] + code_digits[resume_after]["start_ms"]) / 2
    else:
        raise ValueError("cut_after or resume_after")
    return start / 1000, end / 1000, "silence"


def non_card_silenced_ms(truth: dict[str, Any], silenced: Sequence[tuple[int, int]]) -> int:
    """How much of the truth's audible words that are not card data (either channel) the
    silenced spans cover: the quiet between card digits is not speech."""
    card_ids = {n["number_id"] for n in truth["numbers"] if n["card_data"]}
    return sum(
        max(0, min(end, word["end_ms"]) - max(start, word["start_ms"]))
        for words in truth["channels"].values()
        for word in words
        if word["audible"] and word["number_id"] not in card_ids
        for start, end in silenced
    )


def card_figures(
    sim: SimRunner,
    database_url: str,
    archive_dir: Path,
    leaks_dir: Path | None = None,
    service_env: dict[str, str] | None = None,
) -> CardFigures:
    """Score every archived recording of the run (plain local archive, the demo's default);
    with `leaks_dir`, a recording that kept a card digit audible is kept there for a replay
    (`flexrec.demo.card_leaks`: no audio, the stage's inputs), transcribed again with the
    engine `service_env` names."""
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    total = NumberTally()
    non_card_ms = 0
    card_calls = 0
    bundles: list[str] = []
    stage: CardDataStage | None = None
    try:
        with sessions() as session:
            rows = list(session.scalars(select(ArchivedRecording)))
            detections = list(session.scalars(select(CardDetection)))
            for row in rows:
                if row.storage_key is None or row.encrypted or row.purged_at is not None:
                    continue
                path = archive_dir / row.storage_key
                truth: dict[str, Any] | None = sim.word_truth(row.recording_sid)
                if truth is None or not path.is_file():
                    continue
                samples, _ = soundfile.read(
                    io.BytesIO(path.read_bytes()), dtype="int16", always_2d=True
                )
                tally = tally_numbers(samples, truth)
                total.add(tally)
                if tally.card_digits_audible and leaks_dir is not None:
                    try:
                        stage = stage or leak_stage(service_env or {})
                        kept = keep_leak(leaks_dir, sim, session, row, truth, tally.misses, stage)
                        bundles.append(str(kept))
                    except Exception as exc:  # the figures stand without the bundle
                        bundles.append(f"{row.recording_sid}: not kept: {exc!r}")
                if tally.card_spans:
                    card_calls += 1
                    silenced = _merge(
                        [
                            (d.start_ms - MARGIN_MS, d.end_ms + MARGIN_MS)
                            for d in detections
                            if d.recording_sid == row.recording_sid
                        ]
                    )
                    non_card_ms += non_card_silenced_ms(truth, silenced)
    finally:
        engine.dispose()
    figures = CardFigures(
        card_numbers_spoken=total.readings,
        card_numbers_silenced=total.readings_silenced,
        card_digits_audible=total.card_digits_audible,
        card_digit_words=total.card_digit_words,
        distractors_spoken=total.distractors,
        leak_bundles=bundles,
    )
    if total.distractors:
        figures.distractors_silenced_share = round(
            total.distractors_silenced / total.distractors, 3
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
