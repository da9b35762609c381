"""Card data found on one call, as people talk about it: one finding per reading.

The detector reports each kind apart (the number, then the expiry and the security code read
near it, on either channel: the customer reading, the agent reading back). A supervisor
coaching the agent, the agent's after-call notice and the webhook all speak of the reading as
one event: "card number spoken while recording, 02:31-02:44, silenced". Detections less than
`JOIN_MS` apart are one finding; its span runs from the first start to the last end.

Pure: detections in, findings out. No digit exists here (detections carry none).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

JOIN_MS = 30_000
"""Detections closer than this (end to start) belong to one reading."""

KIND_ORDER = ("card_number", "expiry", "security_code")
KIND_NAMES = {
    "card_number": "card number",
    "expiry": "expiry date",
    "security_code": "security code",
}


class DetectionLike(Protocol):
    """A detection as stored (`CardDetection`) or as found (`Detection`)."""

    @property
    def kind(self) -> str: ...
    @property
    def channel(self) -> int: ...
    @property
    def start_ms(self) -> int: ...
    @property
    def end_ms(self) -> int: ...
    @property
    def rule(self) -> str: ...


@dataclass(frozen=True)
class Finding:
    """One reading of card data on a call: its span, what was said, on which channels."""

    start_ms: int
    end_ms: int
    kinds: tuple[str, ...]  # in KIND_ORDER, then extra rules by name
    channels: tuple[int, ...]  # WAV channels it was heard on (1 = the first)
    detections: tuple[DetectionLike, ...]

    @property
    def headline(self) -> str:
        """ "card number" (or the first kind found), as the mark's first words say it."""
        return kind_name(self.kinds[0])

    def public(self, roles: Sequence[str] = ()) -> dict[str, Any]:
        """JSON-ready, without any digit; `roles[i]` names WAV channel i + 1."""

        def role(channel: int) -> str:
            return roles[channel - 1] if 0 < channel <= len(roles) else f"channel {channel}"

        return {
            "start_ms": self.start_ms,
            "end_ms": self.end_ms,
            "kinds": list(self.kinds),
            "headline": self.headline,
            "spoken_by": sorted({role(c) for c in self.channels}),
            "detections": [
                {
                    "kind": d.kind,
                    "channel": d.channel,
                    "role": role(d.channel),
                    "start_ms": d.start_ms,
                    "end_ms": d.end_ms,
                    "rule": d.rule,
                }
                for d in self.detections
            ],
        }


def mmss(ms: int) -> str:
    """A time on the call as "02:31" (minutes may pass 99: "125:04")."""
    seconds = max(0, ms) // 1000
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def describe(finding: Finding, agent: str | None) -> str:
    """The mark's sentence: "Card number spoken while recording, agent alice, 02:31-02:44,
    silenced" (no agent named when the call had none at that moment)."""
    who = f", agent {agent}" if agent else ""
    span = f"{mmss(finding.start_ms)}\u2013{mmss(finding.end_ms)}"
    return f"{finding.headline.capitalize()} spoken while recording{who}, {span}, silenced"


def kind_name(kind: str) -> str:
    """A detection kind in words ("card_number" -> "card number")."""
    return KIND_NAMES.get(kind, kind.replace("_", " "))


def _kind_rank(kind: str) -> tuple[int, str]:
    return (KIND_ORDER.index(kind), "") if kind in KIND_ORDER else (len(KIND_ORDER), kind)


def group_findings(detections: Iterable[DetectionLike], join_ms: int = JOIN_MS) -> list[Finding]:
    """The call's findings in time order (detections `join_ms` apart or closer are one)."""
    ordered = sorted(detections, key=lambda d: (d.start_ms, d.end_ms))
    groups: list[list[DetectionLike]] = []
    end = 0
    for detection in ordered:
        if groups and detection.start_ms - end <= join_ms:
            groups[-1].append(detection)
            end = max(end, detection.end_ms)
        else:
            groups.append([detection])
            end = detection.end_ms
    return [
        Finding(
            start_ms=min(d.start_ms for d in group),
            end_ms=max(d.end_ms for d in group),
            kinds=tuple(sorted({d.kind for d in group}, key=_kind_rank)),
            channels=tuple(sorted({d.channel for d in group})),
            detections=tuple(group),
        )
        for group in groups
    ]
