"""Whisper writes text ("51734846441942.", "$62.75", "card?"); the card detector reads spoken
words. What a Whisper engine hands on, and which tokens it keeps Whisper from writing."""

from __future__ import annotations

import itertools

from flexrec.pci.detect import detect_card_data
from flexrec.transcription.base import Word
from flexrec.transcription.pocketsphinx_engine import new_decoder
from flexrec.transcription.whisper_engines import numeral_tokens, spoken_words


def test_a_numeral_is_said_digit_by_digit_over_its_span() -> None:
    words = spoken_words(" 4532,0151.", 1000, 2200, 0.9)
    assert [w.text for w in words] == "four five three two zero one five one".split()
    assert words[0].start_ms == 1000 and words[-1].end_ms == 2200
    assert all(a.end_ms == b.start_ms for a, b in itertools.pairwise(words))
    assert {w.confidence for w in words} == {0.9}


def test_words_lose_case_and_punctuation_and_split_where_whisper_joined_them() -> None:
    assert [w.text for w in spoken_words(" Card?", 0, 300)] == ["card"]
    assert [w.text for w in spoken_words("twenty-six,", 0, 600)] == ["twenty", "six"]
    assert [w.text for w in spoken_words(" I'm", 0, 200)] == ["i'm"]
    assert [w.text for w in spoken_words(" $62.75", 0, 800)] == "six two seven five".split()
    assert spoken_words(" ...", 0, 100) == []


def test_a_card_whisper_wrote_as_one_numeral_is_found() -> None:
    heard = [
        Word("sure", 0, 300),
        Word("it", 300, 400),
        Word("is", 400, 500),
        *spoken_words(" 4532015112830366.", 600, 6600),
    ]
    findings = detect_card_data({1: heard})
    assert findings, "a card written as digits must not get through"
    assert min(f.start_ms for f in findings) <= 600
    assert max(f.end_ms for f in findings) >= 6600


def test_tokens_holding_a_numeral_or_a_currency_sign_are_the_ones_suppressed() -> None:
    vocabulary = [" card", " 4", "53", " $", "£", " five", "%", " 1st", " first"]
    suppressed = numeral_tokens(lambda i: vocabulary[i], len(vocabulary))
    assert [vocabulary[i] for i in suppressed] == [" 4", "53", " $", "£", "%", " 1st"]


def test_front_end_options_given_to_pocketsphinx_are_the_ones_it_uses() -> None:
    # The model's feat.params says remove_noise yes and would override the option silently.
    options = {"samprate": 16000, "loglevel": "FATAL"}
    assert new_decoder(options).config["remove_noise"] is True
    assert new_decoder({**options, "remove_noise": False}).config["remove_noise"] is False
