"""The word-level facts of simulated speech, shared by the timeline, the script and the truth."""

from __future__ import annotations

from dataclasses import dataclass

CARD_KINDS = frozenset({"card", "expiry", "security_code"})


@dataclass(frozen=True)
class Word:
    """One spoken word: absolute times (epoch seconds), the digits it says, its number's id."""

    text: str
    start: float
    end: float
    digits: str = ""
    number_id: str = ""  # the SpokenNumber this word belongs to ("" for none)


@dataclass(frozen=True)
class SpokenNumber:
    """A number said in the call: a card (or its expiry, security code) or a distractor."""

    number_id: str
    kind: str  # card, expiry, security_code, phone, order, amount, date
    digits: str
    speaker: str
    role: str  # "reading" (the card holder) or "readback" (the agent repeating it)

    @property
    def is_card_data(self) -> bool:
        """Card data PCI DSS forbids keeping: the number, its expiry, its security code."""
        return self.kind in CARD_KINDS
