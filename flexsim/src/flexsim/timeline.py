"""Who spoke when in one simulated conversation: the source of audio and of ground truth.

The engine writes a `Timeline` per interaction (one customer call and every agent leg that
joined it); the audio renderer turns it into what each leg carried; the truth endpoints
publish it. Times are simulated epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flexsim.speech.words import SpokenNumber, Word

if TYPE_CHECKING:
    from flexsim.speech.payment import PaymentPlan

CUSTOMER = "customer"
THIRD_PARTY = "third"


@dataclass(frozen=True)
class Utterance:
    """A span of speech by one speaker (`customer`, `third`, or an agent's worker SID).

    Scripted utterances carry their `words`; any other is filled with words when it is
    rendered (`flexsim.speech.script.filler`), the same ones every time for the same seed.
    """

    speaker: str
    start: float
    end: float
    words: tuple[Word, ...] = ()


@dataclass(frozen=True)
class Presence:
    """A speaker's leg being in the conversation, from join to leave."""

    speaker: str
    call_sid: str
    start: float
    end: float | None = None


@dataclass
class Timeline:
    """Everything needed to render a conversation's audio and score recordings against it."""

    interaction_id: str
    customer_call_sid: str
    direction: str  # "inbound" | "outbound"
    seed: int
    utterances: list[Utterance] = field(default_factory=list)
    presences: list[Presence] = field(default_factory=list)
    # Spans in which the customer is on hold: they hear music, the agents hear nothing of them.
    holds: list[tuple[float, float]] = field(default_factory=list)
    # Spans of IVR / queue audio heard by the customer before an agent joins (music, prompts).
    queue_audio: list[tuple[float, float]] = field(default_factory=list)
    noise_dbfs: float = -60.0
    customer_answered_at: float | None = None  # when the customer leg became in-progress
    agent_connected_at: float | None = None  # first agent and customer both in the conference
    ended_at: float | None = None
    eligible: bool = True  # decided by the engine from the scenario (e.g. abandoned: False)
    scenario: str = "basic"
    # A card payment taken in this conversation (its script, card and the agent's pause plan).
    payment: PaymentPlan | None = None
    # Speech as real words from the clip bank (False: the older wordless formant voices).
    worded: bool = True

    def scripted_numbers(self) -> list[SpokenNumber]:
        """Numbers said in scripted utterances (the payment's card data and amount)."""
        return list(self.payment.numbers) if self.payment is not None else []

    def speakers(self) -> set[str]:
        """Every speaker that has a presence or an utterance."""
        return {u.speaker for u in self.utterances} | {p.speaker for p in self.presences}
