"""Spoken numbers: Luhn-valid cards of every brand, and words that say exactly their digits."""

from __future__ import annotations

import random

import pytest

from flexsim.speech import numbers


def test_cards_of_every_brand_are_luhn_valid_with_the_brand_length() -> None:
    rng = random.Random(1)
    seen: dict[str, set[int]] = {}
    for _ in range(400):
        card = numbers.make_card(rng)
        assert numbers.luhn_ok(card.number)
        assert sum(card.groups) == len(card.number)
        assert len(card.security_code) == (4 if card.brand == "amex" else 3)
        assert 1 <= card.expiry_month <= 12
        seen.setdefault(card.brand, set()).add(len(card.number))
    assert seen == {"visa": {16}, "mastercard": {16}, "discover": {16}, "amex": {15}}


def test_luhn_rejects_a_changed_digit() -> None:
    assert numbers.luhn_ok("4539578763621486")
    assert not numbers.luhn_ok("4539578763621487")
    assert not numbers.luhn_ok("4539578763621386")


@pytest.mark.parametrize("style", numbers.CARD_STYLES)
def test_every_reading_style_says_exactly_the_card_number(style: str) -> None:
    rng = random.Random(style)
    for _ in range(50):
        card = numbers.make_card(rng)
        spoken = numbers.say_card_number(card, style, rng)
        assert spoken.digit_string() == card.number
        assert len(spoken.padded_breaks()) == len(spoken.words)


def test_doubles_say_a_repeated_digit_once_after_double_or_triple() -> None:
    spoken = numbers.say_digits("44555", random.Random(0), doubles=True)
    assert spoken.words == ("double", "four", "triple", "five")
    assert spoken.digits == ("", "44", "", "555")


def test_pairs_and_leading_zeros() -> None:
    rng = random.Random(0)
    assert numbers.say_two_digit("45", rng).words == ("forty", "five")
    assert numbers.say_two_digit("13", rng).words == ("thirteen",)
    assert numbers.say_two_digit("07", rng).words == ("oh", "seven")
    assert numbers.say_two_digit("30", rng).digits == ("30",)


def test_expiry_and_distractors_carry_their_digits() -> None:
    rng = random.Random(5)
    card = numbers.make_card(rng)
    for _ in range(20):
        expiry = numbers.say_expiry(card, rng)
        assert expiry.digit_string() == f"{card.expiry_month:02d}{card.expiry_year:02d}"
        phone = numbers.say_phone(rng)
        assert len(phone.digit_string()) == 10
        assert 6 <= len(numbers.say_order_number(rng).digit_string()) <= 8
        assert "dollars" in numbers.say_amount(rng).words
