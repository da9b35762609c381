"""Card data found in transcripts across pauses, groupings and misheard digits; distractors
and amounts left alone."""

from __future__ import annotations

import pytest

from flexrec.pci.detect import (
    CARD_NUMBER,
    EXPIRY,
    SECURITY_CODE,
    Detection,
    DetectorConfig,
    detect_card_data,
    luhn_ok,
    near_found_cards,
    silence_spans,
)
from flexrec.pci.digits import tokenize
from flexrec.transcription.base import Word


def said(text: str, start_ms: int = 0, word_ms: int = 350, gap_ms: int = 80) -> list[Word]:
    """Words one after another; "|" is a 700 ms pause between groups."""
    out: list[Word] = []
    t = start_ms
    for token in text.split():
        if token == "|":
            t += 700
            continue
        out.append(Word(token, t, t + word_ms))
        t += word_ms + gap_ms
    return out


def test_spoken_forms_become_digits() -> None:
    tokens = tokenize(said("double four forty five oh nine triple one to two i want to pay"))
    assert [t.digits for t in tokens if t.digits] == ["44", "45", "0", "9", "111", "2", "2"]
    assert not any(t.digits for t in tokens if t.word.text in ("want", "pay"))


def test_a_tens_word_and_a_unit_said_apart_are_two_numbers() -> None:
    # held-out seed 2013: the expiry "january thirty" and, 6.5 s later, the code "three four
    # four"; read as "thirty three" the two were one run, silenced with the agent's question
    expiry = [Word("january", 29010, 29710), Word("thirty", 29770, 30140)]
    code = said("three four four", 36680)
    tokens = tokenize(expiry + code)
    assert [t.digits for t in tokens] == ["01", "30", "3", "4", "4"]
    card = said("four five three nine five seven eight seven six three six two one four", 10_000)
    found = detect_card_data({1: card + expiry + code})
    assert [(d.kind, d.start_ms) for d in found if d.rule == "near_card"] == [
        (EXPIRY, 29010),
        ("security_code", 36680),
    ]
    # said in one breath, still one number
    assert [t.digits for t in tokenize([Word("thirty", 0, 400), Word("three", 450, 800)])] == ["33"]


def test_a_card_read_in_groups_across_pauses_is_found_by_luhn() -> None:
    number = "4539578763621486"
    assert luhn_ok(number)
    words = {"0": "oh", "1": "one", "2": "two", "3": "three", "4": "four", "5": "five"}
    words |= {"6": "six", "7": "seven", "8": "eight", "9": "nine"}
    groups = [" ".join(words[d] for d in number[i : i + 4]) for i in range(0, 16, 4)]
    found = detect_card_data({1: said("it is " + " | ".join(groups), 5000)})
    assert [(d.kind, d.channel, d.rule, d.digit_count) for d in found] == [
        (CARD_NUMBER, 1, "luhn", 16)
    ]
    assert found[0].start_ms >= 5000


def test_a_misheard_digit_cannot_let_a_card_through() -> None:
    # Luhn fails (one digit misheard, one lost), but 14 digits within 10 s is a card.
    text = "four five three nine | five seven eight seven | six three six two | one four"
    (card,) = detect_card_data({2: said(text)})
    assert card.rule == "12_digits_in_10s" and card.channel == 2


def test_distractors_are_left_alone() -> None:
    speech = said("my phone number is five five five | one two three | four five six seven")
    speech += said("and the order number is one two three four five six seven eight", 9000)
    speech += said("it came to forty two dollars and fifty cents", 20000)
    assert detect_card_data({1: speech}) == []


def test_expiry_and_code_near_a_card_are_card_data_amounts_are_not() -> None:
    card = said("four five three nine five seven eight seven six three six two one four eight six")
    customer = card + said("oh nine twenty seven", 20000) + said("one two three", 30000)
    agent = said("and the three digit security code", 25000)
    agent += said("that payment of forty two dollars has gone through", 35000)
    found = detect_card_data({1: customer, 2: agent})
    kinds = [(d.kind, d.channel) for d in found]
    assert kinds == [("card_number", 1), ("expiry", 1), ("security_code", 1)]


def test_after_a_card_only_its_expiry_and_code_are_card_data_by_nearness() -> None:
    card = said("four five three nine five seven eight seven six three six two one four eight six")
    customer = card + said("oh nine twenty seven", 12000) + said("one two three", 20000)
    customer += said("i am calling for my bill", 30000)
    customer += said("and it was two weeks late", 36000)  # a third run: not card data
    readback = said(
        "so that is four five three nine five seven eight seven six three six two", 8000
    )
    readback += said("one four eight six", 8000 + 12 * 430)
    agent = readback + said("the payment of two pounds is done and your order is one two", 40000)
    agent += said("and the order number is one two three four five six seven eight", 50000)
    found = detect_card_data({1: customer, 2: agent})
    assert [(d.kind, d.channel, d.start_ms // 1000) for d in found] == [
        ("card_number", 1, 0),
        ("card_number", 2, 9),
        ("expiry", 1, 12),
        ("security_code", 1, 20),
    ]


def test_the_same_numbers_far_from_a_card_are_not_card_data() -> None:
    assert detect_card_data({1: said("the code is one two three", 0)}) == []


def test_extra_rules_find_other_patterns() -> None:
    config = DetectorConfig.with_patterns(r"national_id=^\d{9}$")
    found = detect_card_data(
        {1: said("it is one two three four five six seven eight nine")}, config
    )
    assert [(d.kind, d.rule) for d in found] == [("national_id", "pattern:national_id")]
    with pytest.raises(ValueError, match="name=regex"):
        DetectorConfig.with_patterns("nonsense")


def test_silence_spans_add_the_margin_and_merge() -> None:
    card = detect_card_data(
        {
            1: said(
                "four five three nine five seven eight seven six three six two one four eight six",
                1000,
            )
        }
    )
    spans = silence_spans(card, 250, 60_000)
    assert spans == [(card[0].start_ms - 250, card[0].end_ms + 250)]


def test_a_card_found_as_an_answer_gets_its_expiry_but_not_a_later_order_number() -> None:
    answer = said("the in the find that the a a nine five one", 16_000)
    expiry = said("you oh nine two nine", 29_000)
    order = said("four five two one one", 61_000)  # an order number half a minute on
    words = answer + expiry + order
    card = Detection(CARD_NUMBER, 1, answer[0].start_ms, answer[-1].end_ms, "answer_to_question", 3)
    found = near_found_cards({1: words}, [card], [card])
    assert [(d.kind, d.start_ms) for d in found] == [(EXPIRY, expiry[1].start_ms)]


def test_one_digit_after_the_pause_that_took_a_card_out_is_not_its_code() -> None:
    # skip cut seed 2006: the reading cut by the agent's pause, 12 digits heard; after the
    # resume "can I speak to someone about my order" heard as "... to them one of of my ..."
    card = said("twenty seven one three four two seven three four seven eight nine", 16_650)
    talk = said("and on the to them one of of my", 38_000)
    pause = (22_800, 37_000)
    found = detect_card_data({1: card + talk}, paused_ms=[pause])
    assert [(d.kind, d.rule) for d in found] == [(CARD_NUMBER, "12_digits_in_10s")]
    # demo seed 7 (second run): "the visit is on the nineteenth of february" heard as "on the
    # nineteen and then": two digits, a date, not the code
    date = said("he couldn't get on the nineteen and then my", 38_000)
    assert len(detect_card_data({1: card + date}, paused_ms=[pause])) == 1
    # three digits of a code heard after the resume are still its code
    code = said("and on the four one six", 38_000)
    found = detect_card_data({1: card + code}, paused_ms=[pause])
    assert [d.kind for d in found] == [CARD_NUMBER, SECURITY_CODE]
    # without a pause (the card asked for) a lone digit near the card stays its code: a code
    # is mostly misheard
    asked = [(13_000, 15_900)]
    found = detect_card_data({1: card + talk}, questions_ms=asked)
    assert [d.kind for d in found] == [CARD_NUMBER, SECURITY_CODE]


def test_one_digit_after_a_pause_is_not_the_code_of_a_card_found_as_an_answer() -> None:
    answer = said("the in the find that the a a nine five one", 16_000)
    card = Detection(CARD_NUMBER, 1, answer[0].start_ms, answer[-1].end_ms, "answer_to_question", 3)
    talk = said("them one of", 24_000)
    words = answer + talk
    assert near_found_cards({1: words}, [card], [card], paused_ms=[(21_000, 23_000)]) == []
    assert [d.kind for d in near_found_cards({1: words}, [card], [card])] == [SECURITY_CODE]


def test_twelve_digits_are_a_card_only_on_a_call_that_shows_a_payment() -> None:
    # the demo's phone number heard with digits added: "triple five two three five oh double
    # three eight" and "two one" 1.5 s on, 13 digits within 10 s, on a call with no payment
    phone = said("my own number triple five two three five oh double three eight", 60_000)
    phone += said("two one", phone[-1].end_ms + 1500)
    assert detect_card_data({2: phone}) == []
    # the same digits on a call with a card-data question, a pause or another card are a card
    # (a card read with 3-4 of its digits lost)
    (asked,) = detect_card_data({2: phone}, questions_ms=[(20_000, 22_000)])
    (paused,) = detect_card_data({2: phone}, paused_ms=[(110_000, 125_000)])
    assert asked.rule == paused.rule == "12_digits_in_10s"
    reading = said(
        "four five three nine five seven eight seven six three six two one four eight six"
    )
    found = detect_card_data({1: reading, 2: phone})
    assert [(d.channel, d.rule) for d in found] == [(1, "luhn"), (2, "12_digits_in_10s")]
    # a minute and more from the question, it is not
    assert detect_card_data({2: phone}, questions_ms=[(0, 1_000)]) == []


def test_the_expiry_and_code_after_a_reading_heard_only_in_part_are_card_data() -> None:
    # line noise, seed 1001 with Whisper: the customer's reading heard as seven digits (part of
    # a reading, by the agent's read-back), then its expiry and code heard right; they followed
    # no card found by its digits on their channel, so both stayed audible
    reading = said("five zero fund one one of free eight nine one free twelve", 21_900)
    readback = said(
        "six five oh one one one oh three eight nine one three oh two seven seven", 32_000
    )
    expiry = said("our just twenty eight", 46_500)
    code = said("four nine four", 54_300)
    found = detect_card_data({1: reading + expiry + code, 2: readback})
    assert [(d.kind, d.channel, d.rule) for d in found] == [
        (CARD_NUMBER, 1, "near_card"),
        (CARD_NUMBER, 2, "luhn"),
        (SECURITY_CODE, 1, "near_card"),
        (SECURITY_CODE, 1, "near_card"),
    ]
    assert found[2].start_ms >= 46_500 and found[3].start_ms == 54_300
    # the agent's own stray digit after its read-back is not a code: the read-back follows
    # the customer's reading
    stray = said("seven", 43_900)
    found = detect_card_data({1: reading + expiry + code, 2: readback + stray})
    assert not any(d.channel == 2 and d.start_ms >= 43_900 for d in found)


def test_the_start_of_a_reading_split_off_by_misheard_words_is_part_of_it() -> None:
    # human digits, seed 2000 with pocketsphinx: "five one seven three four eight four six four
    # three four oh one nine four two" heard with "or they all or" in the middle; the first
    # six digits were a run of their own before the part found by the read-back, and audible
    heard = said(
        "sure it is nine one seven three four eight or they all or three four oh one nine four two",
        19_200,
    )
    readback = said(
        "five one seven three four eight four six four three four zero one nine four two", 31_000
    )
    found = detect_card_data({1: heard, 2: readback})
    customer = [d for d in found if d.channel == 1]
    assert [(d.kind, d.digit_count) for d in customer] == [(CARD_NUMBER, 6), (CARD_NUMBER, 7)]
    assert customer[0].start_ms == heard[3].start_ms
    # digits said more than the run gap before the reading are not its start
    phone = said("it is five five five one two three four", 5_000)
    found = detect_card_data({1: phone + heard, 2: readback})
    assert not any(d.start_ms < 19_200 for d in found)


def test_a_recording_that_began_inside_a_reading_silences_its_tail_on_a_paying_call() -> None:
    # demo seed 7: the recording began 13.6 s late, inside the customer's reading; the recogniser
    # heard seven of its last ten digits, then the agent paused for the code
    tail = [Word("the", 60, 280), Word("him", 620, 920)]
    tail += said("one seven two eight seven seven nine", 960)
    misheard = [Word("the", 4100, 4240), Word("of", 4240, 4430), Word("it", 4500, 4800)]
    later = said("thank you", 9000)
    words = {1: tail + misheard + later}
    found = detect_card_data(words, paused_ms=[(12_000, 23_000)])
    assert [(d.kind, d.start_ms, d.end_ms, d.rule) for d in found] == [
        (CARD_NUMBER, 0, 4800, "cut_in_at_start")
    ]
    # the same seven digits on a call that shows no payment are a phone number cut into
    assert detect_card_data(words) == []


def test_only_a_run_the_recording_began_inside_counts_as_cut_in() -> None:
    late = said("hello there my number is") + said("one seven two eight seven seven nine", 3000)
    found = detect_card_data({1: late}, paused_ms=[(12_000, 23_000)])
    assert not [d for d in found if d.rule == "cut_in_at_start"]
    expiry_after = said("one seven two eight seven seven nine", 500) + said(
        "oh one three one", 6000
    )
    found = detect_card_data({1: expiry_after}, paused_ms=[(12_000, 23_000)])
    assert [(d.kind, d.rule) for d in found] == [
        (CARD_NUMBER, "cut_in_at_start"),
        (EXPIRY, "near_card"),
    ]
