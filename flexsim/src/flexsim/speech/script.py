"""What each utterance says, word by word, with the time of every word.

A planned utterance (`flexsim.timeline.Utterance`) is a span of one speaker's speech. Scripted
ones (the card payment) carry their words; every other one is filled here, deterministically from
the timeline's seed, with the speaker's lines, back-channels and now and then a distractor
number. Word times are exact: a word lasts as long as its clip at the speaker's rate.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from functools import lru_cache

from flexsim.speech import numbers, phrases
from flexsim.speech.bank import BANK_RATE_HZ, Speaker, speaker_for
from flexsim.timeline import CUSTOMER, THIRD_PARTY
from flexsim.words import SpokenNumber, Word

NUMBER_SLOT = "{n}"  # where a line says its number
DISTRACTOR_SHARE = 0.12  # of filler utterances long enough to say a number


def stable_key(*parts: object) -> int:
    """A 64-bit integer fixed by its parts (Python's hash() changes between runs)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def voice_keys(speakers_in_order: list[str]) -> dict[str, str]:
    """Stable voice keys: "customer", "third", and "agent0", "agent1"... by order of joining.

    Worker SIDs change with the simulator's SID salt; what a call says must not.
    """
    keys: dict[str, str] = {}
    for speaker in speakers_in_order:
        if speaker in keys:
            continue
        if speaker in (CUSTOMER, THIRD_PARTY):
            keys[speaker] = speaker
        else:
            keys[speaker] = f"agent{sum(1 for k in keys.values() if k.startswith('agent'))}"
    return keys


def voice_of(seed: int, speaker: str) -> Speaker:
    """The bank voice and rate a speaker of a conversation talks with."""
    return speaker_for(stable_key("speaker", seed, speaker))


def _duration(speaker: Speaker, word: str) -> float:
    return len(speaker.word(word)) / BANK_RATE_HZ


class _Layout:
    """Lays words one after another from `t`, with gaps in proportion to the speaker's pace."""

    def __init__(self, speaker: Speaker, rng: random.Random, t: float) -> None:
        self.speaker = speaker
        self.rng = rng
        self.t = t
        self.words: list[Word] = []

    def fits(self, text: str, end: float) -> bool:
        return self.t + _duration(self.speaker, text) <= end

    def say(self, text: str, digits: str = "", number_id: str = "", gap: float = 0.0) -> None:
        length = _duration(self.speaker, text)
        self.words.append(Word(text, self.t, self.t + length, digits, number_id))
        self.t += length + (gap or self.rng.uniform(0.03, 0.11)) / self.speaker.rate

    def pause(self, low: float, high: float) -> None:
        self.t += self.rng.uniform(low, high)


def _fill_line(
    layout: _Layout, text: str, end: float, number: numbers.Spoken | None, number_id: str
) -> bool:
    """Say `text` ({n} = the number); False once a word no longer fits before `end`."""
    for piece in text.split():
        if piece == NUMBER_SLOT and number is not None:
            for word, digits, brk in zip(
                number.words, number.digits, number.padded_breaks(), strict=True
            ):
                if not layout.fits(word, end):
                    return False
                layout.say(word, digits, number_id, gap=layout.rng.uniform(0.35, 0.6) if brk else 0)
            continue
        if not layout.fits(piece, end):
            return False
        layout.say(piece)
    return True


def _distractor(rng: random.Random) -> tuple[str, numbers.Spoken]:
    kind = rng.choice(sorted(phrases.DISTRACTORS))
    spoken = {
        "phone": numbers.say_phone,
        "order": numbers.say_order_number,
        "amount": numbers.say_amount,
        "date": numbers.say_date,
    }[kind](rng)
    return kind, spoken


@lru_cache(maxsize=8192)
def filler(seed: int, speaker: str, start: float, end: float) -> tuple[Word, ...]:
    """The words of an unscripted utterance (lines, back-channels, sometimes a distractor)."""
    rng = random.Random(stable_key("words", seed, speaker, round(start * 1000)))
    voice = voice_of(seed, speaker)
    layout = _Layout(voice, rng, start)
    lines = phrases.CUSTOMER_LINES if speaker in (CUSTOMER, THIRD_PARTY) else phrases.AGENT_LINES
    if end - start < 1.2:
        _fill_line(layout, rng.choice(phrases.BACKCHANNELS), end, None, "")
        return tuple(layout.words)
    count = 0
    while layout.t < end - 0.3:
        number_id, spoken, text = "", None, rng.choice(lines)
        if end - layout.t > 3.5 and rng.random() < DISTRACTOR_SHARE:
            kind, spoken = _distractor(rng)
            text = rng.choice(phrases.DISTRACTORS[kind])
            number_id = f"{kind}:{speaker}:{round(layout.t * 1000)}"
        if not _fill_line(layout, text, end, spoken, number_id):
            break
        count += 1
        layout.pause(0.15, 0.4)
    return tuple(layout.words)


def numbers_in(words: Sequence[Word], speaker: str) -> list[SpokenNumber]:
    """The distractor numbers said in a filler's words (card data is only ever scripted)."""
    found: dict[str, str] = {}
    for word in words:
        if word.number_id:
            found[word.number_id] = found.get(word.number_id, "") + word.digits
    return [
        SpokenNumber(number_id, number_id.split(":", 1)[0], digits, speaker, "reading")
        for number_id, digits in found.items()
    ]
