"""Answers to card-data questions are card data, however the recogniser heard them, in a
recording that holds a card number; a question alone silences nothing."""

from __future__ import annotations

from spoken import region, said

from flexrec.pci.detect import CARD_NUMBER, EXPIRY, SECURITY_CODE, detect_card_data
from flexrec.pci.dialogue import answer_detections, find_questions
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

CUSTOMER, AGENT = 1, 2


def call() -> tuple[dict[int, list[Word]], dict[int, list[Region]]]:
    """Agent asks for the card, the customer reads it (heard), then the code (misheard)."""
    ask = said("can i take the card number please", 1000)
    reading = said(
        "it is four five three nine five seven eight seven six three six two one four eight six",
        4500,
    )
    code_ask = said("and the three digit security code on the back please", 16000)
    code = said("do the up of and", 20500)  # "two six seven" as a recogniser heard it
    done = said("thank you that has gone through", 23500)
    channels = {CUSTOMER: reading + code, AGENT: ask + code_ask + done}
    regions = {
        CUSTOMER: [region(reading), region(code)],
        AGENT: [region(ask), region(code_ask), region(done)],
    }
    return channels, regions


def test_questions_are_found_by_their_subject_not_their_exact_words() -> None:
    kinds = [
        q.kind
        for text in (
            "can i take the card number please",
            "read me the long number",
            "and when does it expire",
            "the cvv please",
            "and the security code",
        )
        for q in find_questions(said(text, 0), AGENT)
    ]
    assert kinds == [CARD_NUMBER, CARD_NUMBER, EXPIRY, SECURITY_CODE, SECURITY_CODE]
    assert find_questions(said("my phone number is on the account", 0), AGENT) == []
    # One stray digit ("please" heard as "three") leaves a question; two are a reading.
    assert [q.kind for q in find_questions(said("i take the card number three", 0), AGENT)] == [
        CARD_NUMBER
    ]
    assert find_questions(said("the card number is four five", 0), AGENT) == []


def test_a_misheard_security_code_after_a_card_is_silenced_as_the_answer() -> None:
    channels, regions = call()
    found = detect_card_data(channels)
    assert [d.kind for d in found] == [CARD_NUMBER]  # the digits alone miss the code
    out = answer_detections(channels, regions, found)
    code = [d for d in out if d.kind == SECURITY_CODE]
    assert len(code) == 1 and code[0].channel == CUSTOMER
    assert code[0].rule == "answer_to_question"
    words = channels[CUSTOMER][-5:]
    assert code[0].start_ms <= words[0].start_ms and code[0].end_ms >= words[-1].end_ms
    # the answer stops where the agent speaks again
    assert code[0].end_ms <= channels[AGENT][-6].start_ms


def test_the_card_reading_is_one_detection_from_the_start_of_the_answer() -> None:
    channels, regions = call()
    out = answer_detections(channels, regions, detect_card_data(channels))
    cards = [d for d in out if d.kind == CARD_NUMBER]
    assert len(cards) == 1  # merged with the digits' detection: one marker, not two
    assert cards[0].rule.endswith("+answer")
    assert cards[0].start_ms <= regions[CUSTOMER][0].start_ms + 1


def test_a_question_alone_silences_nothing() -> None:
    ask = said("and the security code on the back please", 31_000)
    answer = said("do the up of and", 35_000)
    channels = {CUSTOMER: answer, AGENT: ask}
    regions = {CUSTOMER: [region(answer)], AGENT: [region(ask)]}
    assert detect_card_data(channels) == []
    assert answer_detections(channels, regions, []) == []


def test_a_payment_dialogue_silences_its_answers_though_no_digit_was_heard() -> None:
    # A voice the recogniser cannot follow: no digit heard, but the agent asked for the card
    # number and then for the code: a payment, whose answers are card data.
    channels, regions = call()
    channels[CUSTOMER] = said("it is for been part of do that", 4500) + channels[CUSTOMER][-5:]
    assert detect_card_data(channels) == []
    out = answer_detections(channels, regions, [])
    assert [(d.kind, d.channel, d.rule) for d in out] == [
        (CARD_NUMBER, CUSTOMER, "answer_to_question"),
        (SECURITY_CODE, CUSTOMER, "answer_to_question"),
    ]


def test_a_question_the_recording_start_cut_keeps_its_subject() -> None:
    # the demo under load: the recording began 9.5 s late, on "... number please", and the
    # card read after it was heard as five digits
    ask = said("number or please", 30)
    reading = said("there it is three five nine the you want them in the of the them", 1970)
    reading += said("and seven nine the of the a", 6810)
    after = said("what is the that highly did", 13150)
    channels = {CUSTOMER: reading, AGENT: ask + after}
    regions = {CUSTOMER: [region(reading)], AGENT: [region(ask), region(after)]}
    assert [q.kind for q in find_questions(ask, AGENT, [0])] == [CARD_NUMBER]
    (card,) = answer_detections(channels, regions, detect_card_data(channels))
    assert (card.kind, card.channel) == (CARD_NUMBER, CUSTOMER)
    assert card.start_ms <= reading[0].start_ms and card.end_ms >= reading[-1].end_ms
    # said later in the call, "number please" alone is not a card-data question
    assert find_questions(said("number or please", 40_000), AGENT, [0]) == []
    # and a resume cuts a question as the start does
    assert [q.kind for q in find_questions(said("code please", 40_100), AGENT, [0, 40_000])] == [
        SECURITY_CODE
    ]
