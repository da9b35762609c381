"""The other side's read-back of a card number is card data, however little of it the
recogniser heard; later talk and amounts after a card are not."""

from __future__ import annotations

from spoken import region, said

from flexrec.pci.detect import CARD_NUMBER, detect_card_data
from flexrec.pci.readback import readback_detections
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

CUSTOMER, AGENT = 1, 2
READING = "six zero one one one three two seven two three four eight one one six nine"


def _call(
    agent_text: str, agent_at_ms: int
) -> tuple[dict[int, list[Word]], dict[int, list[Region]]]:
    reading = said(READING, 1000)
    agent = said(agent_text, agent_at_ms)
    return {CUSTOMER: reading, AGENT: agent}, {
        CUSTOMER: [region(reading)],
        AGENT: [region(agent)],
    }


def test_a_misheard_read_back_after_a_card_is_a_card_number() -> None:
    # "just to confirm that is six oh one one ..." as pocketsphinx heard the agent's voice
    misheard = "that front and back into i'll find find want the him and like a nine one eight nine"
    channels, regions = _call(misheard, 8500)
    found = detect_card_data(channels)
    assert [(d.kind, d.channel) for d in found] == [(CARD_NUMBER, CUSTOMER)]
    assert not any(d.channel == AGENT for d in found)  # four digits: no rule by digits fires
    (back,) = readback_detections(channels, regions, found)
    agent = channels[AGENT]
    assert (back.kind, back.channel, back.rule) == (CARD_NUMBER, AGENT, "read_back")
    assert back.start_ms <= agent[0].start_ms and back.end_ms == agent[-1].end_ms
    # a skip point after the card: the file jumps to later talk, not a read-back
    point = (channels[CUSTOMER][-1].end_ms + 100,) * 2
    assert readback_detections(channels, regions, found, paused_ms=[point]) == []


def test_the_read_back_stops_at_its_last_digit() -> None:
    channels, regions = _call("so that is nine one eight nine and the expiry date please", 8500)
    (back,) = readback_detections(channels, regions, detect_card_data(channels))
    nine = [w for w in channels[AGENT] if w.text == "nine"][-1]
    assert back.end_ms == nine.end_ms  # "and the expiry date please" is kept


def test_later_talk_and_amounts_after_a_card_are_not_a_read_back() -> None:
    later, regions = _call("thanks your order ships on the nine one eight nine", 15_000)
    assert readback_detections(later, regions, detect_card_data(later)) == []
    amount, regions = _call("that is twenty nine ninety nine dollars today", 8500)
    assert readback_detections(amount, regions, detect_card_data(amount)) == []
    one, regions = _call("thank you one moment", 8500)
    assert readback_detections(one, regions, detect_card_data(one)) == []
