"""The other half of an expiry and security code pair: the reader's next short answer.

After reading a card number the customer is asked for its expiry and its security code, each in
a short answer of its own. When the near-card rule (`pci.detect`) found only one of the two
after a card number found by its digits or as the answer to the card-number question
(`pci.dialogue`), the other was said but misheard ("four six six" heard as "for but it", "six
seven one" as "that haven't won"), so the reader's answer next to the half that was found is
card data too: the
turn after it (agents ask for the expiry first), or else the turn before it, after the card,
when
- it is within `NEXT_TURN_MS` of the half that was found,
- the other side spoke in between (it answers a prompt, it does not go on talking), and
- it is short (at most `ANSWER_MAX_MS`): a code or a date, not a sentence.
One turn per card at most, and none where both halves were heard, so a call costs at most one
short answer of other speech.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flexrec.pci.detect import CARD_NUMBER, EXPIRY, SECURITY_CODE, Detection
from flexrec.transcription.feed import Region

NEXT_TURN_MS = 15_000
ANSWER_MAX_MS = 3_500
AFTER_CARD_MS = 45_000  # as the near-card rule's reach
# The rules that find a card from its digits alone, and the answer to the card-number question
# (a card found by the dialogue's rule alone, or by digits and the dialogue's together).
_READINGS = ("luhn", "12_digits_in", "answer_to_question")
_HALVES = (EXPIRY, SECURITY_CODE)


def _halves_after(card: Detection, found: Sequence[Detection]) -> list[Detection]:
    return [
        d
        for d in found
        if d.channel == card.channel
        and d.kind in _HALVES
        and d.rule.startswith("near_card")
        and card.end_ms <= d.start_ms <= card.end_ms + AFTER_CARD_MS
    ]


def missing_half_detections(
    regions: Mapping[int, Sequence[Region]], found: Sequence[Detection]
) -> list[Detection]:
    """The reader's next short answer after a lone expiry or code (see the module docstring)."""
    out: list[Detection] = []
    cards = [d for d in found if d.kind == CARD_NUMBER and d.rule.startswith(_READINGS)]
    for card in cards:
        halves = _halves_after(card, found)
        if len(halves) != 1:
            continue
        half = halves[0]
        reader = regions.get(card.channel, ())
        after = [r for r in reader if r.start_ms >= half.end_ms][:1]
        before = [r for r in reader if card.end_ms <= r.start_ms and r.end_ms <= half.start_ms]
        for kind, turn, gap in (
            *((SECURITY_CODE, r, (half.end_ms, r.start_ms)) for r in after),
            *((EXPIRY, r, (r.end_ms, half.start_ms)) for r in before[-1:]),
        ):
            if _answer(turn, gap, card.channel, regions) and not any(
                d.channel == card.channel and d.start_ms < turn.end_ms and d.end_ms > turn.start_ms
                for d in [*found, *out]
            ):
                out.append(
                    Detection(kind, card.channel, turn.start_ms, turn.end_ms, "pair_after_card", 0)
                )
                break
    return out


def _answer(
    turn: Region, gap: tuple[int, int], channel: int, regions: Mapping[int, Sequence[Region]]
) -> bool:
    """A short turn of the reader within reach of the half found, with the other side between."""
    if gap[1] - gap[0] > NEXT_TURN_MS or turn.end_ms - turn.start_ms > ANSWER_MAX_MS:
        return False
    return any(
        r.start_ms < gap[1] and r.end_ms > gap[0]
        for other, others in regions.items()
        if other != channel
        for r in others
    )
