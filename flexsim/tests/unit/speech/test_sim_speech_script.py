"""Words from the clip bank: every scripted word exists, words fit their utterance, and the
same seed says the same words."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from flexsim.speech import bank, phrases, script
from flexsim.speech.payment import PAUSE_VARIANTS, plan_payment


def test_the_bank_has_every_word_of_the_scripts_and_stays_small() -> None:
    loaded = bank.load_bank()
    assert phrases.vocabulary() <= loaded.words()
    assert bank.BANK_PATH.stat().st_size < 4_000_000
    for voice in bank.BANK_VOICES:
        clip = loaded.clip(voice, "seven")
        assert 0.15 < len(clip) / bank.BANK_RATE_HZ < 1.0
        active = clip[np.abs(clip) > 0.01]
        assert -26 < 20 * np.log10(np.sqrt(np.mean(active**2))) < -14


def test_mulaw_round_trip_is_within_a_quantisation_step() -> None:
    x = np.linspace(-0.9, 0.9, 1001)
    back = bank.mulaw_decode(bank.mulaw_encode(x))
    assert np.all(np.abs(back - x) <= np.maximum(0.002, np.abs(x) * 0.035))


def test_filler_words_fit_their_utterance_and_repeat_for_the_seed() -> None:
    for start in (100.0, 250.5, 1000.25):
        words = script.filler(9, "customer", start, start + 6.0)
        assert words == script.filler(9, "customer", start, start + 6.0)
        assert words and words[0].start >= start and words[-1].end <= start + 6.0
        assert all(a.end <= b.start for a, b in itertools.pairwise(words))
    assert script.filler(9, "customer", 100.0, 106.0) != script.filler(10, "customer", 100.0, 106.0)


def test_a_short_utterance_is_a_back_channel() -> None:
    words = script.filler(3, "WKagent", 50.0, 50.9)
    assert " ".join(w.text for w in words) in phrases.BACKCHANNELS


@pytest.mark.parametrize("pause", PAUSE_VARIANTS)
def test_payment_pause_plan_matches_its_variant(pause: str) -> None:
    for seed in range(12):
        plan = plan_payment(seed, random.Random(seed), "customer", "WKa", 500.0, pause)
        card_words = [
            w for u in plan.utterances for w in u.words if w.number_id.startswith("card:")
        ]
        later = [
            w
            for u in plan.utterances
            for w in u.words
            if w.number_id.startswith(("expiry:", "security_code:"))
        ]
        assert "".join(w.digits for w in card_words if "reading" in w.number_id) == (
            plan.card.number
        )
        if pause == "never":
            assert plan.pause_at is None and plan.resume_at is None
            continue
        assert plan.pause_at is not None and plan.resume_at is not None
        assert plan.resume_at <= plan.utterances[-1].start  # the amount is heard again
        assert plan.pause_at + 2.0 < min(w.start for w in later)
        assert plan.resume_at > max(w.end for w in later)
        if pause == "in_time":
            assert plan.pause_at + 2.0 < min(w.start for w in card_words)
        else:
            assert plan.pause_at > max(w.end for w in card_words)
