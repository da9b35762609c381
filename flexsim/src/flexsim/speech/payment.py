"""A card payment in a simulated conversation: its script and whether the agent paused.

The agent asks for the card, the customer reads it (digit by digit, in groups, with "double
four", or in pairs), the agent may read it back, then asks for the expiry and the security code,
and confirms the amount. `pause` is the variant the issue asks for: `in_time` (paused before
the agent asks, resumed after the code), `late` (paused only after the number was read: the
number is recorded, expiry and code are not), `never` (everything is recorded).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from flexsim.speech import numbers, phrases
from flexsim.speech.script import _fill_line, _Layout, voice_of
from flexsim.timeline import Timeline, Utterance
from flexsim.words import SpokenNumber, Word

PAUSE_VARIANTS = ("in_time", "late", "never")
PAUSE_WEIGHTS = (0.4, 0.3, 0.3)


@dataclass(frozen=True)
class PaymentPlan:
    """The scripted payment: when, what was said, and the agent's pause plan (epoch seconds)."""

    card: numbers.Card
    style: str
    pause: str
    start: float
    end: float
    pause_at: float | None
    resume_at: float | None
    utterances: tuple[Utterance, ...]
    numbers: tuple[SpokenNumber, ...]

    def truth(self) -> dict[str, object]:
        """JSON-ready ground truth of the payment."""
        return {
            "brand": self.card.brand,
            "number": self.card.number,
            "expiry": f"{self.card.expiry_month:02d}{self.card.expiry_year:02d}",
            "security_code": self.card.security_code,
            "style": self.style,
            "pause": self.pause,
            "start_ms": round(self.start * 1000),
            "end_ms": round(self.end * 1000),
            "pause_at_ms": None if self.pause_at is None else round(self.pause_at * 1000),
            "resume_at_ms": None if self.resume_at is None else round(self.resume_at * 1000),
        }


class _Script:
    """Builds the payment's utterances turn by turn."""

    def __init__(self, seed: int, rng: random.Random, start: float) -> None:
        self.seed = seed
        self.rng = rng
        self.t = start
        self.utterances: list[Utterance] = []
        self.numbers: list[SpokenNumber] = []

    def turn(
        self,
        who: tuple[str, str],
        text: str,
        spoken: numbers.Spoken | None = None,
        kind: str = "",
        role: str = "reading",
    ) -> tuple[float, float]:
        """One utterance of `who` (speaker, voice key); returns its (start, end)."""
        speaker, voice = who
        layout = _Layout(voice_of(self.seed, voice), self.rng, self.t)
        number_id = f"{kind}:{role}:{round(self.t * 1000)}" if spoken is not None else ""
        _fill_line(layout, text, float("inf"), spoken, number_id)
        words: tuple[Word, ...] = tuple(layout.words)
        start, end = words[0].start, words[-1].end
        self.utterances.append(Utterance(speaker, start, end, words))
        if spoken is not None:
            self.numbers.append(SpokenNumber(number_id, kind, spoken.digit_string(), speaker, role))
        self.t = end + self.rng.uniform(0.3, 0.9)
        return start, end

    def wait(self, seconds: float) -> None:
        self.t += seconds


def plan_payment(
    seed: int,
    rng: random.Random,
    customer: str,
    agent: str,
    start: float,
    pause: str,
    agent_voice: str = "agent0",
) -> PaymentPlan:
    """Script a card payment starting at `start` (the agent's pause plan per `pause`).

    `agent_voice` is the agent's voice key (`flexsim.speech.script.voice_keys`).
    """
    customer_who, agent_who = (customer, "customer"), (agent, agent_voice)
    card = numbers.make_card(rng)
    style = rng.choice(numbers.CARD_STYLES)
    script = _Script(seed, rng, start)
    pause_at = resume_at = None
    if pause == "in_time":
        pause_at = start
        script.wait(rng.uniform(2.5, 4.0))  # the agent clicks pause, then asks
    first = script.turn(agent_who, rng.choice(phrases.PAYMENT_ASK))[0]
    reading = numbers.say_card_number(card, style, rng)
    intro = rng.choice(phrases.CARD_INTRO)
    script.turn(customer_who, f"{intro} {{n}}", reading, "card")
    if rng.random() < 0.6:
        readback = numbers.say_card_number(card, "groups", rng)
        script.turn(
            agent_who, f"{rng.choice(phrases.READBACK_INTRO)} {{n}}", readback, "card", "readback"
        )
        script.turn(customer_who, rng.choice(phrases.READBACK_OK))
    if pause == "late":
        pause_at = script.t
        script.wait(rng.uniform(2.5, 4.0))
    script.turn(agent_who, rng.choice(phrases.EXPIRY_ASK))
    script.turn(customer_who, "{n}", numbers.say_expiry(card, rng), "expiry")
    if card.brand == "amex":
        ask = rng.choice(phrases.CODE_FRONT_ASK)
    else:
        ask = rng.choice(phrases.CODE_ASK).replace("{k}", "three")
    script.turn(agent_who, ask)
    script.turn(customer_who, "{n}", numbers.say_digits(card.security_code, rng), "security_code")
    if pause != "never":
        resume_at = script.t
        script.wait(rng.uniform(1.5, 3.0))
    script.turn(agent_who, rng.choice(phrases.PAYMENT_DONE), numbers.say_amount(rng), "amount")
    end = script.utterances[-1].end
    return PaymentPlan(
        card=card,
        style=style,
        pause=pause,
        start=min(start, first),
        end=end,
        pause_at=pause_at,
        resume_at=resume_at,
        utterances=tuple(script.utterances),
        numbers=tuple(script.numbers),
    )


def draw_pause(rng: random.Random, pinned: str | None) -> str:
    """The pause variant of a card call: `pinned` if set, else drawn by PAUSE_WEIGHTS."""
    if pinned is not None:
        if pinned not in PAUSE_VARIANTS:
            raise ValueError(f"card pause must be one of {', '.join(PAUSE_VARIANTS)}")
        return pinned
    return rng.choices(PAUSE_VARIANTS, PAUSE_WEIGHTS)[0]


def card_payment_view(timeline: Timeline, now: float) -> dict[str, Any]:
    """The payment plan as `flexsim.Conversation` fields (times in seconds from `now`)."""
    plan = timeline.payment
    if plan is None:
        return {}
    return {
        "card_pause": plan.pause,
        "pause_in_s": None if plan.pause_at is None else max(0.0, plan.pause_at - now),
        "resume_in_s": None if plan.resume_at is None else max(0.0, plan.resume_at - now),
    }
