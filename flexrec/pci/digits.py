"""Spoken words to digits: "four five", "double four", "forty five", "oh nine" and what a
recogniser hears instead ("for", "to", "won", "ate").

Each word becomes a `Token` with the digits it says ("" for none). Words a recogniser often puts
in place of a digit ("to", "for") count as digits only next to a real digit word, so "I want to
pay for it" stays words while "one one to two" is "1122". "Forty five" and "double four" are one
number only when said in one breath (`COMPOUND_GAP_MS`): an expiry's "thirty" and a code's
"three" said seven seconds later are two numbers, not "33".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flexrec.transcription.base import Word

UNITS = {
    "zero": "0",
    "oh": "0",
    "o": "0",
    "nought": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
SOUNDALIKES = {"to": "2", "too": "2", "for": "4", "fore": "4", "won": "1", "ate": "8"}
TEENS = {
    "ten": "10",
    "eleven": "11",
    "twelve": "12",
    "thirteen": "13",
    "fourteen": "14",
    "fifteen": "15",
    "sixteen": "16",
    "seventeen": "17",
    "eighteen": "18",
    "nineteen": "19",
}
TENS = {
    "twenty": "2",
    "thirty": "3",
    "forty": "4",
    "fifty": "5",
    "sixty": "6",
    "seventy": "7",
    "eighty": "8",
    "ninety": "9",
}
MONTHS = {
    name: f"{i:02d}"
    for i, name in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
}
REPEATS = {"double": 2, "triple": 3}
COMPOUND_GAP_MS = 600  # "forty" ... "five" further apart than this are two numbers
CURRENCY = {"dollars", "dollar", "cents", "cent", "pounds", "pound", "pence", "euros", "euro"}


@dataclass(frozen=True)
class Token:
    """A word of the transcript and the digits it says."""

    word: Word
    digits: str = ""
    month: bool = False  # a month name said as part of a date ("september twenty seven")

    @property
    def is_digit(self) -> bool:
        """Says at least one digit."""
        return bool(self.digits)


def _strong(text: str) -> bool:
    return text in UNITS or text in TEENS or text in TENS or text in REPEATS


def tokenize(words: Sequence[Word]) -> list[Token]:
    """The words of one channel as tokens with their digits (see the module docstring)."""
    texts = [w.text.lower().strip(".,?!") for w in words]
    out: list[Token] = []
    i = 0
    while i < len(words):
        text = texts[i]
        word = words[i]
        joined = i + 1 < len(words) and words[i + 1].start_ms - word.end_ms <= COMPOUND_GAP_MS
        if text in REPEATS and joined and texts[i + 1] in UNITS:
            # "double four": one token over both words, saying 44
            follow = words[i + 1]
            span = Word(f"{text} {texts[i + 1]}", word.start_ms, follow.end_ms, word.confidence)
            out.append(Token(span, UNITS[texts[i + 1]] * REPEATS[text]))
            i += 2
            continue
        if text in TENS:
            if joined and texts[i + 1] in UNITS and UNITS[texts[i + 1]] != "0":
                follow = words[i + 1]
                span = Word(f"{text} {texts[i + 1]}", word.start_ms, follow.end_ms)
                out.append(Token(span, TENS[text] + UNITS[texts[i + 1]]))
                i += 2
                continue
            out.append(Token(word, TENS[text] + "0"))
        elif text in TEENS:
            out.append(Token(word, TEENS[text]))
        elif text in UNITS:
            out.append(Token(word, UNITS[text]))
        elif text == "hundred":
            out.append(Token(word, "00"))
        elif text in MONTHS:
            out.append(Token(word, MONTHS[text], month=True))
        elif text in SOUNDALIKES:
            before = i > 0 and _strong(texts[i - 1])
            after = i + 1 < len(texts) and _strong(texts[i + 1])
            out.append(Token(word, SOUNDALIKES[text] if before or after else ""))
        else:
            out.append(Token(word))
        i += 1
    return out
