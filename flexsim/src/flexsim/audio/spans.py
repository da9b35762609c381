"""Deterministic randomness and interval arithmetic on spans of epoch seconds."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float32]
Span = tuple[float, float]


# -- deterministic randomness -------------------------------------------------------------------
def stable_int(*parts: object) -> int:
    """A 64-bit integer fixed by its parts (Python's own hash() changes between runs)."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def db_to_gain(dbfs: float) -> float:
    return float(10.0 ** (dbfs / 20.0))


# -- interval arithmetic (epoch seconds) -----------------------------------------------------------
def merge_spans(spans: Iterable[Span]) -> list[Span]:
    out: list[Span] = []
    for start, end in sorted(s for s in spans if s[1] > s[0]):
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def intersect_spans(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    out: list[Span] = []
    for s1, e1 in a:
        for s2, e2 in b:
            start, end = max(s1, s2), min(e1, e2)
            if end > start:
                out.append((start, end))
    return merge_spans(out)


def subtract_spans(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    out = list(a)
    for s2, e2 in merge_spans(b):
        nxt: list[Span] = []
        for s1, e1 in out:
            if e2 <= s1 or s2 >= e1:
                nxt.append((s1, e1))
                continue
            if s1 < s2:
                nxt.append((s1, s2))
            if e2 < e1:
                nxt.append((e2, e1))
        out = nxt
    return out
