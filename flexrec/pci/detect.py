"""Card data in a transcript: card numbers, their expiry and security code, extra patterns.

Digits are gathered into runs per channel: digit words no more than 2.5 s apart with at most
three other words between them (a recogniser's insertions, "uh", "the number is"), across the
pauses between groups. A run is a card number when
- 13-19 of its consecutive digits pass the Luhn check, or
- it holds 14 or more digits within 10 s: a misheard digit breaks Luhn, never this rule;
- it holds 12 or 13 digits within 10 s and the call shows a payment within a minute of it: a
  card-data question (`pci.dialogue.find_questions`), a pause, or a card found by the rules
  above. A phone number (10 or 11 digits) heard with digits added, or followed by a short number,
  makes 12 or 13 too, and on a call with no payment it is not card data. A card read with 3 or
  4 of its 15-16 digits lost on a call with no question, no pause and no other card heard is the
  case this gives up; a card read with fewer lost is still found by its digits alone.
Near a card number, runs a recogniser heard only in part are card data too, unless a currency
word follows them (an amount), the word "digit" does ("the three digit code"), or they are a
month name alone:
- 7 digits or more within 20 s of a card number (any channel: the agent's read-back counts)
  are a card number (part of a reading), and a reading for what follows: a customer's reading
  heard in part and then found by the agent's read-back is followed by its expiry and code as
  a reading found by its digits is; digits heard no more than the run gap before a reading on
  its channel (2 or more, chained) are its start, split off by words a recogniser made of
  some of its digits;
- shorter runs after the card's reading, on the channel that read it, within 45 s: an expiry
  (a month or MMYY) or a security code. A card has one expiry and one code, so only the first
  two such runs count (runs under 3 s apart are one): whatever the reader says later ("I am
  calling about my bill" heard as "I am calling for my bill") is not card data.
  Across a pause (the recording paused while the card was read or after it) a code needs
  three digits heard, a code's length (`near_code_digits_after_pause`): the pause was the agent
  taking the card data out of the recording, and what a recogniser makes one or two digits of
  after the resume is everyday talk ("someone" heard as "them one", "the nineteenth of
  february" as "the nineteen and then"), not a code. A code said after the resume is still
  card data when three of its digits are heard, when it runs into the resume (`pci.cuts`), or
  when it answers the code question (`pci.dialogue`); an expiry keeps its shape's rule.
A recording that began inside a reading (started late) hears only its tail: digits the start
cut into, on a call that shows a payment within a minute, are that reading (7 or more), or the
tail of a reading, read-back, expiry or code (2 or more, or one whose word the start cut),
silenced from the start to the end of the phrase they are in (`_cut_in_at_start`).
`flexrec.pci.dialogue` adds the answers to card-data questions; a card number found that way
gets its expiry and code by the same nearness (`near_found_cards`). Extra rules (`name=regex` over
a run's digits, e.g. a national ID number) are card data wherever they match.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from flexrec.pci.digits import CURRENCY, Token, tokenize
from flexrec.transcription.base import Word

CARD_NUMBER = "card_number"
EXPIRY = "expiry"
SECURITY_CODE = "security_code"
COUNTED = {"digit", "digits"}
FOUND_CARD_CHAIN_MS = 15_000  # expiry and code are asked for one after the other


def luhn_ok(number: str) -> bool:
    """The Luhn (mod 10) check every payment card number passes."""
    total = 0
    for i, char in enumerate(reversed(number)):
        d = int(char)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_BREATH_MS = 300  # a gap between words shorter than this is inside one phrase
# The run a late start cut into (`_cut_in_at_start`) is card data with this many digits heard,
# or with one when its first word begins this close to the start (the start cut that word).
START_CUT_DIGITS = 2
START_CUT_MS = 300  # as `pci.cuts.CUT_TOLERANCE_MS`


@dataclass(frozen=True)
class DetectorConfig:
    """The detector's rules (defaults as the module docstring says)."""

    max_gap_ms: int = 2500
    max_words_between: int = 3
    window_ms: int = 10_000
    window_digits: int = 12
    window_digits_alone: int = 14  # 12-13 digits need the call to show a payment
    payment_reach_ms: int = 60_000
    luhn_lengths: tuple[int, int] = (13, 19)
    near_before_ms: int = 20_000  # a partial reading (7+ digits) before or after a card
    near_after_ms: int = 45_000  # an expiry or code after the card's reading
    near_runs: int = 2  # an expiry and a code
    near_join_ms: int = 3000
    near_code_digits_after_pause: int = 3
    patterns: tuple[tuple[str, re.Pattern[str]], ...] = field(default=())

    @classmethod
    def with_patterns(cls, spec: str) -> DetectorConfig:
        """Extra rules from `name=regex;name=regex` (regexes over a run's digits)."""
        rules: list[tuple[str, re.Pattern[str]]] = []
        for part in (p.strip() for p in spec.split(";")):
            if not part:
                continue
            name, sep, pattern = part.partition("=")
            if not sep or not name.strip() or not pattern.strip():
                raise ValueError(f"extra card-data rule {part!r}: write name=regex")
            try:
                rules.append((name.strip(), re.compile(pattern.strip())))
            except re.error as exc:
                raise ValueError(f"extra card-data rule {name!r}: {exc}") from exc
        return cls(patterns=tuple(rules))


@dataclass(frozen=True)
class DigitRun:
    """Digit tokens of one channel said together."""

    channel: int
    tokens: tuple[Token, ...]
    currency: bool = False  # an amount: a currency word follows it
    counts_digits: bool = False  # followed by "digit(s)": "the three digit code"

    @property
    def digits(self) -> str:
        """Every digit of the run, in order."""
        return "".join(t.digits for t in self.tokens)

    @property
    def start_ms(self) -> int:
        """When its first digit word began."""
        return self.tokens[0].word.start_ms

    @property
    def end_ms(self) -> int:
        """When its last digit word ended."""
        return self.tokens[-1].word.end_ms


@dataclass(frozen=True)
class Detection:
    """Card data found: what, on which channel, when (ms), by which rule, how many digits."""

    kind: str
    channel: int
    start_ms: int
    end_ms: int
    rule: str
    digit_count: int

    def public(self) -> dict[str, object]:
        """JSON-ready, without any digit."""
        return {
            "kind": self.kind,
            "channel": self.channel,
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "rule": self.rule,
            "digit_count": self.digit_count,
        }


def digit_runs(tokens: Sequence[Token], channel: int, config: DetectorConfig) -> list[DigitRun]:
    """Group a channel's digit tokens into runs (see the module docstring)."""
    runs: list[DigitRun] = []
    current: list[Token] = []
    between = 0
    for token in tokens:
        if not token.is_digit:
            between += 1
            text = token.word.text.split()[0]
            # Only a word said straight after the number makes it an amount ("... dollars"):
            # across a pause the next word heard may be 20 s on (a read-back the pause cut,
            # the resume landing on "... dollars and seventy five cents").
            said_after = token.word.start_ms - current[-1].word.end_ms if current else 0
            if (
                current
                and between <= 2
                and said_after <= config.max_gap_ms
                and (text in CURRENCY or text in COUNTED)
            ):
                runs.append(
                    DigitRun(
                        channel,
                        tuple(current),
                        currency=text in CURRENCY,
                        counts_digits=text in COUNTED,
                    )
                )
                current, between = [], 0
            continue
        if current and (
            between > config.max_words_between
            or token.word.start_ms - current[-1].word.end_ms > config.max_gap_ms
        ):
            runs.append(DigitRun(channel, tuple(current)))
            current = []
        current.append(token)
        between = 0
    if current:
        runs.append(DigitRun(channel, tuple(current)))
    return runs


def _card_rule(run: DigitRun, config: DetectorConfig) -> tuple[str, int] | None:
    """The rule that makes `run` a card number, with the most digits it holds within the
    window (0 for Luhn), or None."""
    digits = run.digits
    low, high = config.luhn_lengths
    for length in range(min(high, len(digits)), low - 1, -1):
        for start in range(len(digits) - length + 1):
            if luhn_ok(digits[start : start + length]):
                return "luhn", 0
    tokens = run.tokens
    most = 0
    for i, first in enumerate(tokens):
        count = 0
        for token in tokens[i:]:
            if token.word.end_ms - first.word.start_ms > config.window_ms:
                break
            count += len(token.digits)
        most = max(most, count)
    if most >= config.window_digits:
        return f"{config.window_digits}_digits_in_{config.window_ms // 1000}s", most
    return None


def _shows_payment(
    run: DigitRun,
    cards: Sequence[Detection],
    cues_ms: Sequence[tuple[int, int]],
    config: DetectorConfig,
) -> bool:
    """Whether a card-data question, a pause or a card found alone lies within reach of `run`."""
    low, high = run.start_ms - config.payment_reach_ms, run.end_ms + config.payment_reach_ms
    return any(start <= high and end >= low for start, end in cues_ms) or any(
        card.start_ms <= high and card.end_ms >= low for card in cards
    )


def _near_kind(run: DigitRun) -> str | None:
    if run.currency or run.counts_digits:
        return None
    digits = run.digits
    if all(t.month for t in run.tokens):
        return None
    if len(digits) >= 7:
        return CARD_NUMBER
    if any(t.month for t in run.tokens) or (len(digits) == 4 and 1 <= int(digits[:2]) <= 12):
        return EXPIRY
    return SECURITY_CODE


def detect_card_data(
    channels: Mapping[int, Sequence[Word]],
    config: DetectorConfig | None = None,
    paused_ms: Sequence[tuple[int, int]] = (),
    questions_ms: Sequence[tuple[int, int]] = (),
) -> list[Detection]:
    """Every piece of card data in a recording's transcript (channels 1 and 2), by time
    (`paused_ms`: where the recording was paused; `questions_ms`: the card-data questions
    heard, `pci.dialogue.find_questions`; both on the same clock as the words)."""
    config = config or DetectorConfig()
    tokens = {channel: tokenize(words) for channel, words in sorted(channels.items())}
    runs = [run for channel, said in tokens.items() for run in digit_runs(said, channel, config)]
    ruled = [(run, _card_rule(run, config)) for run in runs]
    alone = [
        Detection(CARD_NUMBER, run.channel, run.start_ms, run.end_ms, rule[0], len(run.digits))
        for run, rule in ruled
        if rule is not None and (rule[1] == 0 or rule[1] >= config.window_digits_alone)
    ]
    cues = [*paused_ms, *questions_ms]
    found: list[Detection] = []
    cards: list[Detection] = []
    for run, rule in ruled:
        if rule is None:
            continue
        if 0 < rule[1] < config.window_digits_alone and not _shows_payment(
            run, alone, cues, config
        ):
            continue  # 12 or 13 digits on a call with no payment: a phone number misheard
        card = Detection(
            CARD_NUMBER, run.channel, run.start_ms, run.end_ms, rule[0], len(run.digits)
        )
        cards.append(card)
        found.append(card)
    rest: list[DigitRun] = []
    for run in runs:
        if any(d.start_ms == run.start_ms and d.channel == run.channel for d in cards):
            continue
        name = next((n for n, pattern in config.patterns if pattern.search(run.digits)), None)
        if name is not None:
            found.append(
                Detection(
                    name, run.channel, run.start_ms, run.end_ms, f"pattern:{name}", len(run.digits)
                )
            )
        else:
            rest.append(run)
    # Part of a reading first: a reading heard only in part is still a reading, and the
    # expiry and code its reader says next are found after it as after any card.
    near = _NearCard(cards, config, paused_ms)
    partial = [
        Detection(CARD_NUMBER, run.channel, run.start_ms, run.end_ms, "near_card", len(run.digits))
        for run in rest
        if _near_kind(run) == CARD_NUMBER and near.takes(run, CARD_NUMBER)
    ]
    at_start = [
        (run, kind, end_ms)
        for run, end_ms in _cut_in_at_start(rest, tokens, config)
        if (kind := _near_kind(run)) is not None
        and (len(run.digits) >= START_CUT_DIGITS or run.start_ms <= START_CUT_MS)
        and not any(p.channel == run.channel and p.start_ms == run.start_ms for p in partial)
        and _shows_payment(run, alone, cues, config)
    ]
    partial += [
        Detection(kind, run.channel, 0, end_ms, "cut_in_at_start", len(run.digits))
        for run, kind, end_ms in at_start
        if kind == CARD_NUMBER
    ]
    partial += _reading_starts(rest, [*cards, *partial], config)
    found += partial
    # The tail of an expiry or code the start cut into: card data, but not a reading that an
    # expiry and code would follow.
    found += [
        Detection(kind, run.channel, 0, end_ms, "cut_in_at_start", len(run.digits))
        for run, kind, end_ms in at_start
        if kind != CARD_NUMBER
    ]
    taken = [*partial, *found]
    near = _NearCard([*cards, *partial], config, paused_ms)
    for run in rest:
        if any(p.channel == run.channel and p.start_ms == run.start_ms for p in taken):
            continue
        kind = _near_kind(run)
        if kind in (EXPIRY, SECURITY_CODE) and near.takes(run, kind):
            found.append(
                Detection(kind, run.channel, run.start_ms, run.end_ms, "near_card", len(run.digits))
            )
    return sorted(found, key=lambda d: (d.start_ms, d.channel))


def _cut_in_at_start(
    runs: Sequence[DigitRun], tokens: Mapping[int, Sequence[Token]], config: DetectorConfig
) -> list[tuple[DigitRun, int]]:
    """The first run of each channel when the recording began inside it (its first digit within
    the run gap of the start, at most `max_words_between` words before it), with where the
    reader's phrase ends. A recording that starts late, in the middle of a card reading, hears
    only the reading's tail: seven digits or more there, on a call that shows a payment, are
    that reading (a demo seed 7 call began 13.6 s late and kept 12 of a card's 14 digit words
    audible). It is silenced from the recording's start (the words before its first digit
    heard are its digits misheard: "the him one seven two"), and the words said straight on
    after its last digit heard, up to the run gap, are too ("nine the of the it"): the
    reading ends where they do."""
    out: list[tuple[DigitRun, int]] = []
    for channel in sorted({run.channel for run in runs}):
        first = min((r for r in runs if r.channel == channel), key=lambda r: r.start_ms)
        before = [t for t in tokens.get(channel, ()) if t.word.start_ms < first.start_ms]
        if any(t.is_digit for t in before):
            continue  # an earlier run of this channel (not among `runs`) began the recording
        if first.start_ms <= config.max_gap_ms and len(before) <= config.max_words_between:
            out.append((first, _phrase_end(first, tokens.get(channel, ()), config)))
    return out


def _phrase_end(run: DigitRun, tokens: Sequence[Token], config: DetectorConfig) -> int:
    """The end of the words said on without a breath (gaps under 300 ms) after `run`, no
    further than the run gap past its last digit."""
    end = run.end_ms
    for token in tokens:
        if token.word.start_ms < run.end_ms:
            continue
        if token.is_digit or token.word.start_ms - end > _BREATH_MS:
            break
        if token.word.end_ms - run.end_ms > config.max_gap_ms:
            break
        end = token.word.end_ms
    return end


def _reading_starts(
    runs: Sequence[DigitRun], readings: Sequence[Detection], config: DetectorConfig
) -> list[Detection]:
    """The digits heard just before a reading on its channel, no more than the run gap before
    it (chained): the reading's start, split off by a recogniser's words in the middle of it
    ("nine one seven three four eight or they all or three four oh one nine four two")."""
    starts = {(r.channel, r.start_ms) for r in readings}
    out: list[Detection] = []
    for run in sorted(runs, key=lambda r: r.start_ms, reverse=True):
        if run.currency or run.counts_digits or len(run.digits) < 2:
            continue
        if any(
            channel == run.channel and 0 <= start - run.end_ms <= config.max_gap_ms
            for channel, start in starts
        ):
            starts.add((run.channel, run.start_ms))
            out.append(
                Detection(
                    CARD_NUMBER, run.channel, run.start_ms, run.end_ms, "near_card", len(run.digits)
                )
            )
    return out


def near_found_cards(
    channels: Mapping[int, Sequence[Word]],
    cards: Sequence[Detection],
    found: Sequence[Detection],
    config: DetectorConfig | None = None,
    paused_ms: Sequence[tuple[int, int]] = (),
) -> list[Detection]:
    """The expiry and code near card numbers another rule found (`pci.dialogue`'s answer to
    the card-number question, whose digits were misheard): the near-card rule above, for those
    cards, over runs no detection in `found` holds yet, each within `FOUND_CARD_CHAIN_MS` of
    the card or of the half taken before it. The card's own digits were not heard, so nearness
    is held closer: an order number read half a minute later is not its code."""
    config = config or DetectorConfig()
    near = _NearCard(cards, config, paused_ms)
    out: list[Detection] = []
    for channel, words in sorted(channels.items()):
        last_end = {i: c.end_ms for i, c in enumerate(cards) if c.channel == channel}
        for run in digit_runs(tokenize(words), channel, config):
            if any(
                d.channel == run.channel and d.start_ms < run.end_ms and d.end_ms > run.start_ms
                for d in found
            ):
                continue
            kind = _near_kind(run)
            before = [i for i, end in last_end.items() if cards[i].end_ms <= run.start_ms]
            if kind not in (EXPIRY, SECURITY_CODE) or not before:
                continue
            card = max(before, key=lambda i: cards[i].end_ms)
            if run.start_ms - last_end[card] > FOUND_CARD_CHAIN_MS or not near.takes(run, kind):
                continue
            last_end[card] = run.end_ms
            out.append(
                Detection(kind, run.channel, run.start_ms, run.end_ms, "near_card", len(run.digits))
            )
    return out


class _NearCard:
    """Which runs near a card number are card data (see the module docstring)."""

    def __init__(
        self,
        cards: Sequence[Detection],
        config: DetectorConfig,
        paused_ms: Sequence[tuple[int, int]] = (),
    ) -> None:
        self.cards = sorted(cards, key=lambda c: c.start_ms)
        self.config = config
        self.pause_starts = sorted(start for start, _ in paused_ms)
        self.taken: dict[int, list[int]] = {}  # reading index -> end_ms of each run counted

    def _reading(self, run: DigitRun) -> int | None:
        """The card reading `run` may follow: the latest card that ended before it on its
        channel, when no card on another channel began earlier within a minute (a read-back)."""
        for index in range(len(self.cards) - 1, -1, -1):
            card = self.cards[index]
            if card.channel != run.channel or card.end_ms > run.start_ms:
                continue
            if run.start_ms - card.end_ms > self.config.near_after_ms:
                return None
            if any(
                other.channel != card.channel and 0 < card.start_ms - other.start_ms <= 60_000
                for other in self.cards
            ):
                return None
            return index
        return None

    def takes(self, run: DigitRun, kind: str) -> bool:
        """Whether `run` is card data by nearness (and count it if so)."""
        if kind == CARD_NUMBER:
            reach = self.config.near_before_ms
            return any(c.start_ms - reach <= run.start_ms <= c.end_ms + reach for c in self.cards)
        index = self._reading(run)
        if index is None:
            return False
        short = kind == SECURITY_CODE and len(run.digits) < self.config.near_code_digits_after_pause
        if short and any(
            self.cards[index].start_ms < start <= run.start_ms for start in self.pause_starts
        ):
            return False  # a digit or two heard after the pause that took the card out
        ends = self.taken.setdefault(index, [])
        if ends and run.start_ms - ends[-1] < self.config.near_join_ms:
            ends[-1] = run.end_ms
            return True
        if len(ends) >= self.config.near_runs:
            return False
        ends.append(run.end_ms)
        return True


def silence_spans(
    detections: Iterable[Detection], margin_ms: int, duration_ms: int
) -> list[tuple[int, int]]:
    """The spans to silence on both channels: each detection widened by `margin_ms`, merged."""
    spans = sorted(
        (max(0, d.start_ms - margin_ms), min(duration_ms, d.end_ms + margin_ms)) for d in detections
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged
