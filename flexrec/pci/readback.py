"""A card number read back: the other side repeating the number it was just told.

Agents confirm a card number by reading it back ("just to confirm, that is six oh one one...").
A recogniser that mishears the agent's voice hears a few digits of it at most ("... like a nine
one eight nine"), under every rule by digits, and the whole number stays audible. So once a
card number is found on one channel (by any rule), the other channel's next turn is card data
when it
- starts within `WITHIN_MS` of the card's end (it follows the reading, it is not later talk),
- holds `MIN_DIGITS` digits or more heard in it, not an amount nor "the three digit code";
from the turn's start to the end of its last such digit run within `READBACK_MAX_MS`, so
"and the expiry date please" after the number is kept. Not across a pause: what follows a card
the agent paused on or after is not its read-back (at a `skip` point the file jumps to later
talk, an amount or an order number).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flexrec.pci.detect import CARD_NUMBER, Detection, DetectorConfig, digit_runs
from flexrec.pci.digits import tokenize
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

WITHIN_MS = 3_000
# A turn may begin a little before the last digit the recogniser placed in the reading (it
# places the last digits late, or hears a digit that was not said): it still follows it.
CUT_BACK_MS = 1_000
READBACK_MAX_MS = 20_000  # a 16-digit number read back, with "just to confirm" before it
MIN_DIGITS = 2
RULE = "read_back"


def readback_detections(
    channels: Mapping[int, Sequence[Word]],
    regions: Mapping[int, Sequence[Region]],
    found: Sequence[Detection],
    config: DetectorConfig | None = None,
    paused_ms: Sequence[tuple[int, int]] = (),
) -> list[Detection]:
    """The other side's read-back of each card number found (see the module docstring;
    `paused_ms`: the recording's pauses, spans or `skip` points)."""
    config = config or DetectorConfig()
    out: list[Detection] = []
    for card in (d for d in found if d.kind == CARD_NUMBER):
        if any(card.start_ms <= start <= card.end_ms + WITHIN_MS for start, _ in paused_ms):
            continue
        for channel, words in sorted(channels.items()):
            if channel == card.channel:
                continue
            turn = next(
                (
                    r
                    for r in regions.get(channel, ())
                    if card.end_ms - CUT_BACK_MS <= r.start_ms <= card.end_ms + WITHIN_MS
                ),
                None,
            )
            if turn is None:
                continue
            until = min(turn.end_ms, turn.start_ms + READBACK_MAX_MS)
            runs = [
                run
                for run in digit_runs(tokenize(words), channel, config)
                if turn.start_ms <= run.start_ms < until
                and not run.currency
                and not run.counts_digits
            ]
            digits = sum(len(run.digits) for run in runs)
            if digits < MIN_DIGITS:
                continue
            end = max(run.end_ms for run in runs)
            if any(
                d.channel == channel and d.start_ms < end and d.end_ms > turn.start_ms
                for d in [*found, *out]
            ):
                continue  # already card data by another rule
            out.append(Detection(CARD_NUMBER, channel, turn.start_ms, end, RULE, digits))
    return out
