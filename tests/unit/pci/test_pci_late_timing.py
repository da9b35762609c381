"""Card data where load moves the recording's start, pause and resume (leak, session 10).

Under load the demo's recordings start up to ~12 s after the agent joined and pauses land
seconds late. A rules sweep with a recogniser that hears every word (the simulator's truth)
placed the start, the pause and the resume at every second across a card payment; these are
the placements the rules left card digits audible at, and what now silences them.
"""

from __future__ import annotations

import io

import soundfile
from spoken import heard_all, region, said

from flexrec.demo.card_data import tally_numbers
from flexrec.pci.cuts import cut_detections
from flexrec.pci.detect import (
    CARD_NUMBER,
    EXPIRY,
    SECURITY_CODE,
    DetectorConfig,
    detect_card_data,
    digit_runs,
)
from flexrec.pci.dialogue import answer_detections, find_questions
from flexrec.pci.digits import tokenize
from flexrec.pci.stage import CardDataStage
from flexsim import encode_audio, make_sample_conversation, render_recording, word_truth

CUSTOMER, AGENT = 1, 2
SEED = 2000  # card reading 20.3-26.6 s, read-back 29.3-37.3, expiry 43.2-45.1, code 49.9-51.5


def _audible_after(record_from_s: float = 0.0, pause: tuple[float, float] | None = None) -> int:
    """Card digit words left audible in seed 2000's call, recorded from `record_from_s` (s from
    the customer's answer) and paused over `pause`, by a recogniser that hears every word."""
    sample = make_sample_conversation(
        SEED,
        duration_s=90.0,
        card_pause="never",
        record_from_s=record_from_s,
        pause=None if pause is None else (*pause, "silence"),
    )
    recording = sample.customer_recording
    truth = word_truth(sample.world, recording.sid)
    assert truth is not None
    wav = encode_audio(render_recording(sample.world, recording), "wav")
    pauses = []
    if pause is not None:
        pauses = [
            (round((pause[0] - record_from_s) * 1000), round((pause[1] - record_from_s) * 1000))
        ]
    result = CardDataStage(None).process(wav, heard_all(truth), pauses)
    kept, _ = soundfile.read(io.BytesIO(result.kept_wav), dtype="int16", always_2d=True)
    tally = tally_numbers(kept, truth)
    assert tally.card_digit_words > 0
    return tally.card_digits_audible


def test_a_currency_word_heard_across_a_pause_does_not_make_the_digits_before_it_an_amount() -> (
    None
):
    # The pause landed during the agent's read-back and the resume on "... dollars and seventy
    # five cents": the next word after "eight" was "dollars", 22 s later, so the read-back's
    # six digits were read as an amount and the cut rule let them through (6 of 22 audible).
    readback = said("let me read that back five one seven three four eight", 27_000)
    after = said("dollars and seventy five cents is complete", 54_500)
    (run, *_) = digit_runs(tokenize([*readback, *after]), AGENT, DetectorConfig())
    assert run.digits == "517348" and not run.currency
    assert digit_runs(tokenize(said("sixty two dollars", 0)), AGENT, DetectorConfig())[0].currency
    pause = (readback[-1].end_ms + 100, after[0].start_ms - 100)
    regions = {AGENT: [region(readback), region(after)]}
    (found,) = cut_detections({AGENT: [*readback, *after]}, regions, [pause])
    assert (found.kind, found.digit_count) == (CARD_NUMBER, 6)
    assert found.start_ms <= readback[5].start_ms and found.end_ms >= pause[0]


def test_the_read_back_a_late_pause_cut_is_silenced() -> None:
    # Paused at 32.3 s, mid read-back; resumed at 54.5 s on the amount's "dollars".
    assert _audible_after(pause=(32.3, 54.5)) == 0


def test_the_short_tail_of_a_reading_a_late_start_cut_into_is_card_data() -> None:
    # Recorded from 24.3 s: the reading's last six digits, then the read-back (Luhn). Seven
    # or more digits at the start were card data already; six were not (6 of 29 audible).
    tail_text = "four oh one nine four two"
    tail = said(tail_text, 100)
    readback = said(
        "five one seven three four eight four six four three four oh one nine four two", 5_000
    )
    channels = {CUSTOMER: tail, AGENT: readback}
    found = detect_card_data(channels)
    assert any(
        d.channel == CUSTOMER and d.rule == "cut_in_at_start" and d.start_ms == 0 for d in found
    )
    assert _audible_after(record_from_s=24.3) == 0


def test_a_late_start_into_the_expiry_silences_it_and_the_code_after_its_question() -> None:
    # Recorded from 42.3 s: "please" of the expiry question, the expiry, the code question and
    # the code. No card, one question heard: nothing was silenced (7 of 7 audible).
    assert _audible_after(record_from_s=42.3) == 0
    expiry = said("oh one twenty six", 900)
    question = said("and finally the three digit code on the back of the card", 3_300)
    code = said("four six six", question[-1].end_ms + 900)
    channels = {CUSTOMER: [*expiry, *code], AGENT: question}
    (asked,) = find_questions(question, AGENT)
    assert asked.kind == SECURITY_CODE and asked.cued
    questions = [(asked.start_ms, asked.end_ms)]
    found = detect_card_data(channels, questions_ms=questions)
    assert [(d.kind, d.rule, d.start_ms) for d in found] == [(EXPIRY, "cut_in_at_start", 0)]
    regions = {CUSTOMER: [region(expiry), region(code)], AGENT: [region(question)]}
    answered = answer_detections(channels, regions, found)
    assert any(d.kind == SECURITY_CODE and d.start_ms <= code[0].start_ms for d in answered)


def test_a_code_question_long_after_the_start_alone_still_silences_nothing() -> None:
    # The reach is the start's: a recording that started on time and holds one code question
    # 40 s in, with no card, no other question and no pause, shows no payment.
    question = said("and what is the three digit code on the back", 40_000)
    answer = said("four six six", question[-1].end_ms + 600)
    channels = {CUSTOMER: answer, AGENT: question}
    regions = {CUSTOMER: [region(answer)], AGENT: [region(question)]}
    assert answer_detections(channels, regions, []) == []
    early = said("and what is the three digit code on the back", 4_000)
    reply = said("four six six", early[-1].end_ms + 600)
    regions = {CUSTOMER: [region(reply)], AGENT: [region(early)]}
    assert answer_detections({CUSTOMER: reply, AGENT: early}, regions, [])


def test_digits_a_late_start_cut_into_on_a_call_with_no_payment_stay() -> None:
    # A phone number's tail at the start of a late recording, nothing of a payment within a
    # minute: not card data.
    tail = said("five five oh one nine nine", 200)
    later = said("thanks that is all for today", 90_000)
    assert detect_card_data({CUSTOMER: [*tail, *later]}) == []


def test_a_code_question_soon_after_a_resume_shows_a_payment() -> None:
    # Paused from 12.3 s (before the card) to 45.3 s: card, read-back and expiry were taken
    # out; after the resume, the code question and the code alone were heard (3 of 3 audible).
    assert _audible_after(pause=(12.3, 45.3)) == 0
