"""Who spoke when in one simulated conversation: the source of audio and of ground truth.

The engine writes a `Timeline` per interaction (one customer call and every agent leg that
joined it); the audio renderer turns it into what each leg carried; the truth endpoints
publish it. Times are simulated epoch seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from flexsim.words import SpokenNumber, Word

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


class ScriptedPayment(Protocol):
    """What the timeline keeps of a scripted card payment (`flexsim.speech.payment` plans one
    on top of the timeline, so the timeline names only what it reads of it)."""

    @property
    def start(self) -> float:
        """When the payment's first utterance starts."""

    @property
    def end(self) -> float:
        """When its last utterance ends."""

    @property
    def pause(self) -> str:
        """How the agent pauses: in_time, late or never."""

    @property
    def pause_at(self) -> float | None:
        """When the agent pauses the recording (None: never)."""

    @property
    def resume_at(self) -> float | None:
        """When the agent resumes it."""

    @property
    def utterances(self) -> tuple[Utterance, ...]:
        """The scripted speech."""

    @property
    def numbers(self) -> tuple[SpokenNumber, ...]:
        """The card data and other numbers said in it."""

    def truth(self) -> dict[str, object]:
        """JSON-ready ground truth of the payment."""


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
    # A card payment taken in this conversation (its script, card and the agent's pause plan:
    # flexsim.speech.payment.PaymentPlan).
    payment: ScriptedPayment | None = None
    # Speech as real words from the clip bank (False: the older wordless formant voices).
    worded: bool = True

    def scripted_numbers(self) -> list[SpokenNumber]:
        """Numbers said in scripted utterances (the payment's card data and amount)."""
        return list(self.payment.numbers) if self.payment is not None else []

    def speakers(self) -> set[str]:
        """Every speaker that has a presence or an utterance."""
        return {u.speaker for u in self.utterances} | {p.speaker for p in self.presences}
