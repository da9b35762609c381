"""Digits the recording's own pause cut off: a card reading the agent paused in the middle of.

An agent who pauses late (or whose pause lands late) cuts the customer off mid-reading: the file
keeps the first digits of the card number, fewer than the 12 that make a card by digits alone,
yet PCI lets nobody keep more than its first six. A resume pressed too early keeps the end of a
reading or the security code, which may never be kept. A pause is the agent saying "card data
now", so digits whose speech the pause cuts are card data, however few the recogniser heard:
- a pause cuts a channel when its speech runs up to the pause (a resume: speech from its end),
  within `CUT_TOLERANCE_MS`: the words were stopped by the pause, not finished before it;
- before a pause: a run of 2 digits or more (`pci.detect`) ending within the run gap
  (`max_gap_ms`) of the cut, with any run chained to it by that gap, is card data from the start
  of the cut speech (at most `READING_REACH_MS` back: a recogniser hears few of a reading's
  digits, and the ones before the first it heard are card data too) to the cut; with no such
  run, the cut speech when short (`FRAGMENT_MAX_MS`, no currency word): an expiry or code the
  recogniser heard no digit of, the pause pressed as it was said;
- after a resume: the cut speech when it is short (`FRAGMENT_MAX_MS`: the rest of a code or a
  date, whatever the recogniser made of it), else a run of 2 digits or more starting within
  the run gap, with its chained runs; but not a short number the other side says (a card
  was found, read on another channel) in a sentence that goes on after it, two words or
  more with no digit ("and seventy five cents is complete", heard "seventy five two months
  his complete", the demo's resume landing 5.6 s late on the agent's amount): a code's rest
  is the end of what the reader was saying;
- at a `skip` point that may lie at the file's very start (its bounds reach back to it: a
  recording that began paused), what the file holds before it may be the rest of a code the
  resume let in: a short turn there is card data even with one digit heard ("or four");
- amounts (a currency word and a number) and "the three digit code" are not card data; a
  currency word heard alone is a misheard digit as often ("seven oh" heard as "and an pound").
Where the pause is comes from the audio itself: Twilio writes digital silence on both channels
while a recording is paused with `PauseBehavior=silence` (the policy's default); line audio is
never exactly zero on both for long. A `skip` pause leaves nothing in the file: flexrec's own
pause events place it, as a zero-length span (`pci.stage.known_pauses` decides which pauses
the rule reads, and that silence from the very start is a pause only when the events say so),
and the stage reads it opened up by its paused time (`pci.call_clock`), given here as a join
with how much earlier it may be: the round trips of the requests that bound it, else
`POINT_LATE_MS`. The events place a join that late at most, never early, so at a join speech
ending that much before it ran into the pause, and a short fragment after it is silenced from
that much before it: the resume may have come that much earlier in the file, and the file
joins the two moments with no silence between (a code's rest said at the resume runs across
the point where the events place it).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from flexrec.analysis.frames import digital_silence, frame_stats
from flexrec.pci.detect import (
    CARD_NUMBER,
    SECURITY_CODE,
    Detection,
    DetectorConfig,
    DigitRun,
    digit_runs,
)
from flexrec.pci.digits import CURRENCY, tokenize
from flexrec.transcription.base import Word
from flexrec.transcription.feed import Region

PAUSE_MIN_MS = 1000  # as the archive's reading of digital silence (archive/media.py)
CUT_TOLERANCE_MS = 300  # speech ending this close to the pause ran into it
MIN_DIGITS = 2  # a lone "one" the recogniser put in cut speech is not a reading
READING_REACH_MS = 10_000  # as the 12-digits rule's window: a reading's length
FRAGMENT_MAX_MS = 2_000
RULE = "cut_by_pause"
GOES_ON_WORDS = 2  # words after a number that make it part of a sentence


def paused_spans(samples: npt.NDArray[np.int16], sample_rate_hz: int) -> list[tuple[int, int]]:
    """Where the recording was paused: runs of digital silence on every channel, in ms."""
    stats = frame_stats(samples, sample_rate_hz)
    return digital_silence(samples, stats, PAUSE_MIN_MS)


def _short_turn(
    channel: int, words: Sequence[Word], turn: Region, at_ms: int, cut: bool, late_ms: int
) -> Detection | None:
    """A short turn, no amount, ending where a pause began at `at_ms` (`cut`: known to have
    been cut by it) as card data, or None."""
    said = [w for w in words if w.end_ms > turn.start_ms and w.start_ms < at_ms]
    ends_there = turn.end_ms <= at_ms + CUT_TOLERANCE_MS
    short = at_ms - turn.start_ms <= FRAGMENT_MAX_MS + late_ms
    if cut and ends_there and short and not _amount(said):
        return Detection(SECURITY_CODE, channel, turn.start_ms, at_ms, RULE, 0)
    return None


def _amount(said: Sequence[Word]) -> bool:
    """Whether a short turn says an amount: a currency word and a number (a currency word
    alone is a misheard digit as often: "oh" heard as "pound")."""
    tokens = tokenize(said)
    return bool(CURRENCY.intersection(w.text for w in said)) and any(t.digits for t in tokens)


def _usable(run: DigitRun) -> bool:
    return not run.currency and not run.counts_digits


def _chain_back(runs: Sequence[DigitRun], last: int, gap_ms: int) -> int:
    first = last
    while first > 0 and runs[first].start_ms - runs[first - 1].end_ms <= gap_ms:
        if not _usable(runs[first - 1]):
            break
        first -= 1
    return first


def _chain_on(runs: Sequence[DigitRun], first: int, gap_ms: int) -> int:
    last = first
    while last + 1 < len(runs) and runs[last + 1].start_ms - runs[last].end_ms <= gap_ms:
        if not _usable(runs[last + 1]):
            break
        last += 1
    return last


def _cut_before(
    channel: int,
    runs: Sequence[DigitRun],
    words: Sequence[Word],
    regions: Sequence[Region],
    at_ms: int,
    config: DetectorConfig,
    shown: bool = True,
    late_ms: int = 0,
) -> Detection | None:
    """Card data cut off by a pause that began at `at_ms` (`shown`: a span of silence in the
    file, not a `skip` point; `late_ms`: how late the pause may be placed), or None."""
    tolerance = CUT_TOLERANCE_MS + late_ms
    # A `skip` point that may lie at the file's very start (a recording that began paused):
    # all the file holds before it may be what the resume let in, the rest of a code.
    may_start_paused = 0 < late_ms and at_ms <= late_ms
    cut = [r for r in regions if r.start_ms < at_ms and r.end_ms >= at_ms - tolerance]
    if not cut:
        return None
    fragment = cut[-1]
    before = [i for i, run in enumerate(runs) if run.start_ms < at_ms]
    last = before[-1] if before else -1
    run = runs[last] if before else None
    if run is None or not _usable(run) or at_ms - run.end_ms > config.max_gap_ms + late_ms:
        # No digit heard running into the pause: a short cut turn is still card data (an
        # expiry heard as "there line the line"), as the short turn a resume cuts is.
        # Only where the file shows the pause (silence after the turn): at a `skip` point the
        # file runs on into other talk, and only digits show that a turn was cut.
        return _short_turn(channel, words, fragment, at_ms, shown, late_ms)
    first = _chain_back(runs, last, config.max_gap_ms)
    digits = sum(len(r.digits) for r in runs[first : last + 1])
    if digits < MIN_DIGITS:
        # One digit heard ("or four" for "four four") in what may be the resume's rest.
        return _short_turn(channel, words, fragment, at_ms, may_start_paused, late_ms)
    start = min(runs[first].start_ms, max(cut[0].start_ms, at_ms - READING_REACH_MS))
    return Detection(CARD_NUMBER, run.channel, start, max(run.end_ms, at_ms), RULE, digits)


def _cut_after(
    channel: int,
    runs: Sequence[DigitRun],
    words: Sequence[Word],
    regions: Sequence[Region],
    at_ms: int,
    config: DetectorConfig,
    from_ms: int | None = None,
    reader: bool = True,
) -> Detection | None:
    """Card data a resume at `at_ms` let in mid-speech (a reading's end, a code), or None
    (`from_ms`: where a short fragment is silenced from, when not the resume; `reader`: False
    when the call's card was read on another channel; see the module docstring)."""
    cut = [r for r in regions if r.start_ms <= at_ms + CUT_TOLERANCE_MS and r.end_ms > at_ms]
    if not cut:
        return None
    fragment = cut[0]
    said = [w for w in words if w.start_ms < fragment.end_ms and w.end_ms > at_ms]
    short = fragment.end_ms - at_ms <= FRAGMENT_MAX_MS
    if short and not _amount(said):
        heard = sum(len(r.digits) for r in runs if at_ms <= r.start_ms < fragment.end_ms)
        start = at_ms if from_ms is None else from_ms
        return Detection(SECURITY_CODE, channel, start, fragment.end_ms, RULE, heard)
    after = [i for i, run in enumerate(runs) if run.end_ms > at_ms]
    if not after:
        return None
    first = after[0]
    run = runs[first]
    if not _usable(run) or run.start_ms - at_ms > config.max_gap_ms:
        return None
    last = _chain_on(runs, first, config.max_gap_ms)
    digits = sum(len(r.digits) for r in runs[first : last + 1])
    if digits < MIN_DIGITS:
        return None
    if not reader and digits < 7 and _goes_on(words, runs[last].end_ms, fragment.end_ms):
        return None  # the other side's sentence with a number in it (an amount), not a code
    kind = CARD_NUMBER if digits >= 7 else SECURITY_CODE
    return Detection(kind, run.channel, min(run.start_ms, at_ms), runs[last].end_ms, RULE, digits)


def _goes_on(words: Sequence[Word], after_ms: int, until_ms: int) -> bool:
    """Whether the speech goes on for `GOES_ON_WORDS` words, no digit among them, after a
    number (`after_ms`) before its speech ends (`until_ms`)."""
    tokens = tokenize([w for w in words if after_ms <= w.start_ms < until_ms])
    return len(tokens) >= GOES_ON_WORDS and not any(t.digits for t in tokens)


def cut_detections(
    channels: Mapping[int, Sequence[Word]],
    regions: Mapping[int, Sequence[Region]],
    paused_ms: Sequence[tuple[int, int]],
    config: DetectorConfig | None = None,
    joins_ms: Mapping[int, int] | None = None,
    readers: Collection[int] | None = None,
) -> list[Detection]:
    """Digits each pause cut off, per channel (see the module docstring; `joins_ms`: the
    starts of the pauses a `skip` point left out, each with how much earlier it may be;
    `readers`: the channels the call's card numbers were found on, None when none was)."""
    joins_ms = joins_ms or {}
    config = config or DetectorConfig()
    found: list[Detection] = []
    for channel, words in sorted(channels.items()):
        runs = digit_runs(tokenize(words), channel, config)
        speech = regions.get(channel, ())
        for start_ms, end_ms in paused_ms:
            join = start_ms in joins_ms
            late = joins_ms.get(start_ms, 0)
            for detection in (
                _cut_before(
                    channel, runs, words, speech, start_ms, config, end_ms > start_ms, late
                ),
                _cut_after(
                    channel,
                    runs,
                    words,
                    speech,
                    end_ms,
                    config,
                    start_ms - late if join else None,
                    reader=not readers or channel in readers,
                ),
            ):
                if detection is not None:
                    found.append(detection)
    return sorted(found, key=lambda d: (d.start_ms, d.channel))
