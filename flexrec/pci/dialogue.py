"""Answers to card-data questions: what is said after "the card number", "the expiry", "the code".

A recogniser that mishears a voice's digits ("do the up of" for "two six seven") usually still
hears the other side's question, and a PCI assessor counts the answer to "and the security code
on the back" as card data whatever words a recogniser made of it. So the answer to a
card-data question is card data too: the other channel's speech from the end of the question
until the asking side speaks again, at most `ANSWER_MAX_MS` of it (30 s for a card number, 8 s
for an expiry or a code). A question is
- a card number: "number" said with "card", "long" or "front";
- an expiry: "expiry", "expire(s)", "expiration", "expiring", "valid until";
- a security code: "cvv", "cvc", "csc", or "code" said with "security", "digit",
  "verification", "three", "four", "back" or "front";
and no two digits are said after its subject ("the card number is four five..." is a reading,
not a question; one digit is a recogniser's stray, as "please" heard as "three"). A question is
an utterance: words less than 0.7 s apart, "with" means in it. An utterance the recording's
start or a resume cut into (its first word within `CUT_TOLERANCE_MS` of it) lost its first
words, and with them the cue: there "number" or "code" alone is the question (the demo under
load: a recording that began 9.5 s late kept "... number please", and the reading after it).
A question alone silences nothing; it counts when the recording shows a payment: a card number
found by its digits within a minute after a card-number question or 90 s before an expiry or
code question, an answer to a card-number question holding four digits or more, questions
of two kinds (card number, expiry, code) within two minutes of each other, an expiry or code
question (its cue heard) within `AFTER_START_MS` of the recording's start or a resume (one that
began or resumed late holds only the end of a payment), or an answer the recording's own pause
cut off (`pci.cuts`: the agent paused while it was being said). Digits heard inside a question
("the three digit code") are not card data by nearness to a card.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from flexrec.pci.cuts import CUT_TOLERANCE_MS
from flexrec.pci.detect import CARD_NUMBER, EXPIRY, SECURITY_CODE, Detection
from flexrec.pci.digits import tokenize
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

ANSWER_MAX_MS = {CARD_NUMBER: 30_000, EXPIRY: 8_000, SECURITY_CODE: 8_000}
ANSWER_WITHIN_MS = 8_000  # the answer starts this soon after the question, or there is none
QUESTION_GAP_MS = 700  # the question goes on while its words are this close
CARD_AFTER_QUESTION_MS = 60_000
CARD_BEFORE_QUESTION_MS = 90_000
PAYMENT_QUESTIONS_WITHIN_MS = 120_000
ANSWER_CARD_DIGITS = 4
ANSWER_RULE = "answer_to_question"
# An expiry or code question this soon after the recording's start (or a resume) shows a
# payment: a recording that began late (the demo under load: up to ~12 s after the agent
# joined) holds only the end of one, the card and the other questions before its start.
AFTER_START_MS = 10_000
READING_MIN_DIGITS = 2  # digits after a question's subject that make it a reading
_EXPIRY_WORDS = {"expiry", "expire", "expires", "expiration", "expiring"}
_CODE_NAMES = {"cvv", "cvc", "csc", "cv2"}
_CODE_CUES = {"security", "digit", "digits", "verification", "three", "four"}
_CODE_PLACES = {"back", "front"}
_CARD_CUES = {"card", "long", "front"}


@dataclass(frozen=True)
class Question:
    """A card-data question: its kind, the asking channel, its words' span (ms)."""

    kind: str
    channel: int
    start_ms: int
    end_ms: int
    # Its cue was heard (not only "number" or "code" after a start or resume cut the rest).
    cued: bool = True


def _kind_of(texts: Sequence[str], i: int, utterance: set[str], cut: bool) -> str | None:
    text = texts[i]
    if text in _EXPIRY_WORDS or (text == "valid" and "until" in texts[i + 1 : i + 3]):
        return EXPIRY
    code_cues = _CODE_CUES | _CODE_PLACES
    if text in _CODE_NAMES or (text == "code" and (cut or code_cues & utterance)):
        return SECURITY_CODE
    if text == "number" and (cut or _CARD_CUES & utterance):
        return CARD_NUMBER
    return None


def find_questions(
    words: Sequence[Word], channel: int, cut_at_ms: Sequence[int] = ()
) -> list[Question]:
    """The card-data questions in one channel's words (see the module docstring; `cut_at_ms`:
    where the recording started or resumed, on the words' clock)."""
    texts = [w.text.lower().strip(".,?!") for w in words]
    out: list[Question] = []
    first = 0
    for i in range(len(words)):
        if i and words[i].start_ms - words[i - 1].end_ms > QUESTION_GAP_MS:
            first = i
        end = i
        while (
            end + 1 < len(words) and words[end + 1].start_ms - words[end].end_ms <= QUESTION_GAP_MS
        ):
            end += 1
        cut = any(0 <= words[first].start_ms - at <= CUT_TOLERANCE_MS for at in cut_at_ms)
        kind = _kind_of(texts, i, set(texts[first : end + 1]), cut)
        if kind is None:
            continue
        if sum(t.is_digit for t in tokenize(words[i : end + 1])) >= READING_MIN_DIGITS:
            continue  # "the card number is four five...": a reading, not a question
        cued = not cut or _kind_of(texts, i, set(texts[first : end + 1]), False) is not None
        question = Question(kind, channel, words[first].start_ms, words[end].end_ms, cued)
        if out and out[-1].channel == channel and out[-1].end_ms >= question.start_ms:
            continue  # one question names its subject twice ("the card number on the card")
        out.append(question)
    return out


def _answer(
    question: Question, words: Sequence[Word], regions: Sequence[Region]
) -> tuple[int, int] | None:
    """The answering channel's speech after `question`, until the asker speaks again."""
    after = [r for r in regions if r.end_ms > question.end_ms]
    if not after or after[0].start_ms > question.end_ms + ANSWER_WITHIN_MS:
        return None
    start = max(after[0].start_ms, question.end_ms)
    stop = start + ANSWER_MAX_MS[question.kind]
    for word in words:
        if word.start_ms > start + 300:  # the asker's next words end the answer
            stop = min(stop, word.start_ms)
            break
    end = start
    for region in after:
        if region.start_ms >= stop:
            break
        end = max(end, min(region.end_ms, stop))
    return (start, end) if end > start else None


def _has_card(question: Question, cards: Sequence[Detection]) -> bool:
    if question.kind == CARD_NUMBER:
        return any(
            question.start_ms <= c.end_ms and c.start_ms <= question.end_ms + CARD_AFTER_QUESTION_MS
            for c in cards
        )
    return any(
        question.start_ms - CARD_BEFORE_QUESTION_MS <= c.end_ms <= question.end_ms + 1000
        for c in cards
    )


def answer_detections(
    channels: Mapping[int, Sequence[Word]],
    regions: Mapping[int, Sequence[Region]],
    found: Sequence[Detection],
    paused_ms: Sequence[tuple[int, int]] = (),
    joins_ms: Mapping[int, int] | None = None,
) -> list[Detection]:
    """`found` plus the answers to card-data questions, merged where they overlap
    (`paused_ms`: where the recording was paused, ms; `joins_ms`: the starts of those a `skip`
    point left out, each with how late it may be placed, `pci.call_clock`)."""
    answers: list[tuple[Question, int, tuple[int, int]]] = []
    questions: list[Question] = []
    for channel, words in channels.items():
        others = [c for c in regions if c != channel]
        asked = find_questions(words, channel, recording_starts(paused_ms))
        questions += asked
        if not others:
            continue
        for question in asked:
            later = [w for w in words if w.start_ms > question.end_ms]
            span = _answer(question, later, regions[others[0]])
            if span is not None:
                answers.append((question, others[0], span))
    # A digit heard in a question ("the three digit code") is not card data near a card.
    out = [d for d in found if d.rule != "near_card" or not _in_question(d, questions)]
    cards = [d for d in out if d.kind == CARD_NUMBER]
    starts = recording_starts(paused_ms)
    for question, channel, span in answers:
        cut = _cut(span, paused_ms, joins_ms or {})
        if cut or _payment(question, channel, span, answers, cards, channels, starts):
            out = _merge(out, question.kind, channel, span, channels.get(channel, ()))
    return sorted(out, key=lambda d: (d.start_ms, d.channel))


def recording_starts(paused_ms: Sequence[tuple[int, int]]) -> list[int]:
    """Where the recording started or resumed: the file's start and each pause's end."""
    return [0, *(end for start, end in paused_ms if end > start)]


def _in_question(detection: Detection, questions: Sequence[Question]) -> bool:
    return any(
        q.channel == detection.channel
        and q.start_ms - 500 <= detection.start_ms
        and detection.end_ms <= q.end_ms + 500
        for q in questions
    )


def _digits_in(words: Sequence[Word], span: tuple[int, int]) -> int:
    said = [w for w in words if span[0] <= w.start_ms < span[1]]
    return sum(len(t.digits) for t in tokenize(said))


def _payment(
    question: Question,
    channel: int,
    span: tuple[int, int],
    answers: Sequence[tuple[Question, int, tuple[int, int]]],
    cards: Sequence[Detection],
    channels: Mapping[int, Sequence[Word]],
    starts: Sequence[int] = (0,),
) -> bool:
    """Whether the recording shows a payment around `question` (see the module docstring;
    `starts`: where the recording started or resumed)."""
    if _has_card(question, cards):
        return True
    if question.kind != CARD_NUMBER and question.cued:
        # A recording that began (or resumed) late: the payment's start lies before it.
        if any(0 <= question.start_ms - at <= AFTER_START_MS for at in starts):
            return True
    for other, other_channel, other_span in answers:
        if other.kind == CARD_NUMBER and (
            _digits_in(channels.get(other_channel, ()), other_span) >= ANSWER_CARD_DIGITS
        ):
            if other is question or _has_card(question, [_as_card(other_channel, other_span)]):
                return True
        if (
            other.kind != question.kind
            and abs(other.start_ms - question.start_ms) <= PAYMENT_QUESTIONS_WITHIN_MS
        ):
            return True
    return False


def _cut(
    span: tuple[int, int], paused_ms: Sequence[tuple[int, int]], joins_ms: Mapping[int, int]
) -> bool:
    """Whether a pause began while the answer was being said."""
    return any(
        span[0] < start <= span[1] + CUT_TOLERANCE_MS + joins_ms.get(start, 0)
        for start, _ in paused_ms
        if start
    )


def _as_card(channel: int, span: tuple[int, int]) -> Detection:
    return Detection(CARD_NUMBER, channel, span[0], span[1], ANSWER_RULE, 0)


def _merge(
    found: list[Detection], kind: str, channel: int, span: tuple[int, int], words: Sequence[Word]
) -> list[Detection]:
    start, end = span
    overlapping = [
        d for d in found if d.channel == channel and d.start_ms < end and d.end_ms > start
    ]
    if overlapping:
        first = min(overlapping, key=lambda d: d.start_ms)
        merged = replace(
            first,
            start_ms=min(start, *(d.start_ms for d in overlapping)),
            end_ms=max(end, *(d.end_ms for d in overlapping)),
            rule=first.rule if first.rule.endswith("+answer") else f"{first.rule}+answer",
            digit_count=max(d.digit_count for d in overlapping),
        )
        return [d for d in found if d not in overlapping] + [merged]
    digits = sum(len(t.digits) for t in tokenize([w for w in words if start <= w.start_ms < end]))
    return [*found, Detection(kind, channel, start, end, ANSWER_RULE, digits)]
