"""Turn-taking speech: who speaks when between the parties of a call."""

from __future__ import annotations

import random

from flexsim.timeline import Utterance


def plan_utterances(
    rng: random.Random, speakers: list[str], start: float, end: float
) -> list[Utterance]:
    """Turn-taking speech between `speakers` over [start, end): gaps, overlaps, back-channels."""
    out: list[Utterance] = []
    if len(speakers) < 1 or end - start < 0.5:
        return out
    t = start + rng.uniform(0.2, 1.0)
    speaker = speakers[0]
    while t < end - 0.3:
        length = min(rng.lognormvariate(1.0, 0.55), 15.0)
        stop = min(t + max(0.5, length), end)
        out.append(Utterance(speaker, t, stop))
        others = [s for s in speakers if s != speaker]
        if others and stop - t > 2.5 and rng.random() < 0.15:
            # a listener's "mm-hm" inside the turn
            at = rng.uniform(t + 0.8, stop - 0.8)
            out.append(Utterance(rng.choice(others), at, min(at + rng.uniform(0.3, 0.8), end)))
        gap = rng.gauss(0.5, 0.5)
        if rng.random() < 0.06:
            gap = rng.uniform(2.5, 7.0)  # a long silence (looking something up)
        gap = max(-0.8, gap)  # negative: the next speaker starts before this one finished
        if others:
            # mostly alternate; in a three-way call any other speaker may take the turn
            speaker = rng.choice(others)
        t = max(t + 0.3, stop + gap)
    out.sort(key=lambda u: (u.start, u.speaker))
    return out
