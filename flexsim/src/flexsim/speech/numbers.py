"""Numbers as people say them on the phone: card numbers (Luhn-valid), expiry dates, security
codes, and the distractors a detector must leave alone (phone and order numbers, dates, amounts).

Each `say_*` function returns the spoken words and, per word, the digits it stands for, so the
truth can say exactly where every digit was spoken.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TEENS = (
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
)
TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
MONTHS = (
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
)
ORDINALS = (
    "first",
    "second",
    "third",
    "fourth",
    "fifth",
    "sixth",
    "seventh",
    "eighth",
    "ninth",
    "tenth",
    "eleventh",
    "twelfth",
    "thirteenth",
    "fourteenth",
    "fifteenth",
    "sixteenth",
    "seventeenth",
    "eighteenth",
    "nineteenth",
    "twentieth",
)
# Card brands by prefix and length (ISO/IEC 7812 issuer ranges; Amex groups its 15 as 4-6-5).
CARD_BRANDS: tuple[tuple[str, tuple[str, ...], int, tuple[int, ...]], ...] = (
    ("visa", ("4",), 16, (4, 4, 4, 4)),
    ("mastercard", ("51", "52", "53", "54", "55", "2221", "2720"), 16, (4, 4, 4, 4)),
    ("amex", ("34", "37"), 15, (4, 6, 5)),
    ("discover", ("6011", "65"), 16, (4, 4, 4, 4)),
)
CARD_STYLES = ("digits", "groups", "doubles", "pairs")


@dataclass(frozen=True)
class Spoken:
    """Words for a number and, per word, the digits that word says ("" for none)."""

    words: tuple[str, ...]
    digits: tuple[str, ...]
    breaks: tuple[bool, ...] = ()  # a longer pause after this word (between groups)

    def __add__(self, other: Spoken) -> Spoken:
        return Spoken(
            self.words + other.words,
            self.digits + other.digits,
            self.padded_breaks() + other.padded_breaks(),
        )

    def padded_breaks(self) -> tuple[bool, ...]:
        """`breaks` with one entry per word."""
        return self.breaks + (False,) * (len(self.words) - len(self.breaks))

    def digit_string(self) -> str:
        """Every digit said, in order."""
        return "".join(self.digits)


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for i, char in enumerate(reversed(number)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def luhn_complete(partial: str) -> str:
    """`partial` plus the check digit that makes it Luhn-valid."""
    for check in "0123456789":
        if luhn_ok(partial + check):
            return partial + check
    raise AssertionError("unreachable: one check digit always fits")


@dataclass(frozen=True)
class Card:
    """A payment card as a customer reads it out."""

    brand: str
    number: str
    groups: tuple[int, ...]
    expiry_month: int
    expiry_year: int  # two digits
    security_code: str  # 3 digits, 4 for Amex


def make_card(rng: random.Random) -> Card:
    """A random Luhn-valid card with a future expiry and a security code."""
    brand, prefixes, length, groups = CARD_BRANDS[rng.randrange(len(CARD_BRANDS))]
    prefix = rng.choice(prefixes)
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return Card(
        brand=brand,
        number=luhn_complete(body),
        groups=groups,
        expiry_month=rng.randint(1, 12),
        expiry_year=rng.randint(26, 33),
        security_code="".join(str(rng.randrange(10)) for _ in range(4 if brand == "amex" else 3)),
    )


def _digit_word(d: str, rng: random.Random) -> str:
    return "oh" if d == "0" and rng.random() < 0.6 else DIGIT_WORDS[int(d)]


def say_digits(digits: str, rng: random.Random, *, doubles: bool = False) -> Spoken:
    """One word per digit; with `doubles`, a repeated digit is "double four" / "triple five"."""
    words: list[str] = []
    per_word: list[str] = []
    i = 0
    while i < len(digits):
        run = 1
        while i + run < len(digits) and digits[i + run] == digits[i] and run < 3:
            run += 1
        if doubles and run >= 2:
            words.append("triple" if run == 3 else "double")
            per_word.append("")
            words.append(_digit_word(digits[i], rng))
            per_word.append(digits[i] * run)
            i += run
            continue
        words.append(_digit_word(digits[i], rng))
        per_word.append(digits[i])
        i += 1
    return Spoken(tuple(words), tuple(per_word))


def say_two_digit(pair: str, rng: random.Random) -> Spoken:
    """A pair as one number ("forty five"), "oh five" for a leading zero."""
    tens, unit = int(pair[0]), int(pair[1])
    if tens == 0:
        return Spoken(("oh", DIGIT_WORDS[unit]), ("0", pair[1]))
    if tens == 1:
        return Spoken((TEENS[unit],), (pair,))
    if unit == 0:
        return Spoken((TENS[tens],), (pair,))
    return Spoken((TENS[tens], DIGIT_WORDS[unit]), (pair[0], pair[1]))


def say_card_number(card: Card, style: str, rng: random.Random) -> Spoken:
    """The card number in one of `CARD_STYLES`, with a break after each group."""
    out = Spoken((), ())
    start = 0
    for size in card.groups:
        group = card.number[start : start + size]
        start += size
        if style == "digits":
            part = say_digits(group, rng)
        elif style == "doubles":
            part = say_digits(group, rng, doubles=True)
        elif style == "pairs" and size % 2 == 0:
            part = Spoken((), ())
            for k in range(0, size, 2):
                part = part + say_two_digit(group[k : k + 2], rng)
        else:
            part = say_digits(group, rng)
        breaks = (False,) * (len(part.words) - 1) + (style != "digits",)
        out = out + Spoken(part.words, part.digits, breaks)
    return out


def say_expiry(card: Card, rng: random.Random) -> Spoken:
    """Expiry as "oh nine twenty seven", "september twenty seven" or "oh nine two seven"."""
    month = f"{card.expiry_month:02d}"
    year = f"{card.expiry_year:02d}"
    form = rng.randrange(3)
    if form == 0:
        return say_two_digit(month, rng) + say_two_digit(year, rng)
    if form == 1:
        return Spoken((MONTHS[card.expiry_month - 1],), (month,)) + say_two_digit(year, rng)
    return say_digits(month + year, rng)


def say_phone(rng: random.Random) -> Spoken:
    """A ten-digit phone number in 3-3-4 groups (a distractor)."""
    number = "555" + "".join(str(rng.randrange(10)) for _ in range(7))
    out = Spoken((), ())
    for group in (number[:3], number[3:6], number[6:]):
        part = say_digits(group, rng, doubles=True)
        out = out + Spoken(part.words, part.digits, (False,) * (len(part.words) - 1) + (True,))
    return out


def say_order_number(rng: random.Random) -> Spoken:
    """A 6-8 digit order or reference number, digit by digit (a distractor)."""
    return say_digits("".join(str(rng.randrange(10)) for _ in range(rng.randint(6, 8))), rng)


def say_amount(rng: random.Random) -> Spoken:
    """An amount of money, e.g. "forty two dollars and fifty cents" (a distractor)."""
    dollars = rng.randint(11, 99)
    cents = rng.choice((0, 25, 50, 75, 99, 10, 45))
    out = say_two_digit(f"{dollars:02d}", rng) + Spoken(("dollars",), ("",))
    if cents:
        out = out + Spoken(("and",), ("",)) + say_two_digit(f"{cents:02d}", rng)
        out = out + Spoken(("cents",), ("",))
    return out


def say_date(rng: random.Random) -> Spoken:
    """A date such as "the twelfth of march" (a distractor: its day is a number)."""
    day = rng.randint(1, 20)
    month = rng.randrange(12)
    return Spoken(
        ("the", ORDINALS[day - 1], "of", MONTHS[month]), ("", f"{day:02d}", "", f"{month + 1:02d}")
    )
