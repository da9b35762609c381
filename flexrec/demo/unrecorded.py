"""Why an eligible call of a soak ended without media: the verdict that names its figure. Pure.

- `unrecordable_while_down`: the service answered for less than the 10 s start budget of the
  call's talk (killed, and not yet back, for the rest of it).
- `lost_to_twilio`: Twilio lost the media, and flexrec could not have kept any:
  - Twilio ended a recording absent or failed when, from then to the hang-up, the service
    answered while the agent wanted the call recorded (a pause is never undone) for less than
    the 10 s a replacement may take; or
  - flexrec's own record shows the cap: it replaced the leg's recording up to the policy's cap
    (issue 17: a silent leg is not re-recorded for ever) and Twilio ended every recording it
    made without media (absent or failed), which the simulator's truth confirms recording by
    recording. flexrec reports that call itself (coverage `twilio_error` naming the cap, the
    capped counter and the eligible-unrecorded alert).
- `lost`: anything else: a call flexrec could have recorded and did not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flexrec.coverage.facts import KnownLeg
from flexrec.demo.early_ends import NO_MEDIA_ENDS, Notices

REPLACEMENT_BUDGET_MS = 10_000  # issue 17: a replacement within 10 s of learning of the end
NO_MEDIA = ("absent", "failed")
Outages = Sequence[tuple[float, float]]  # simulated epoch s: killed, answering again
Asked = Mapping[str, Sequence[tuple[str, float]]]


@dataclass(frozen=True)
class LegRecord:
    """What flexrec's tables say of a customer leg: whether it stopped replacing at its cap,
    and each recording it made or adopted there, as (SID, status)."""

    capped: bool
    recordings: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, leg: KnownLeg) -> LegRecord:
        """From the coverage report's facts (flexrec.coverage.facts.known_legs)."""
        return cls(
            capped=any(t.capped for t in leg.targets),
            recordings=tuple(
                sorted((r.sid, r.status) for r in leg.recordings.values() if r.by_flexrec)
            ),
        )


def covered_ms(window: tuple[int, int], spans: Iterable[Sequence[int]]) -> int:
    """Milliseconds of `window` the (possibly overlapping) `spans` cover."""
    start, end = window
    total, cursor = 0, start
    for a, b in sorted((max(a, start), min(b, end)) for a, b in spans):
        if b <= max(a, cursor):  # outside the window, or covered already
            continue
        total += b - max(a, cursor)
        cursor = b
    return total


def _up_ms(start_ms: int, end_ms: int, outages: Outages) -> int:
    """How long the service was answering between two simulated epoch-ms moments."""
    down = sum(
        max(0, min(end_ms, int(up * 1000)) - max(start_ms, int(gone * 1000)))
        for gone, up in outages
    )
    return end_ms - start_ms - down


def while_down(item: Mapping[str, Any], outages: Outages) -> bool:
    """True when the service answered for less than its start budget of the call's talk (a
    short call the service was never down for is not excused)."""
    window = item.get("expected_window") or {}
    start, end = window.get("start_ms"), window.get("end_ms")
    if start is None or end is None:
        return False
    up = _up_ms(int(start), int(end), outages)
    return up < int(end) - int(start) and up < REPLACEMENT_BUDGET_MS


def _tasks(item: Mapping[str, Any]) -> list[str]:
    return [str(t.get("task_sid")) for t in item.get("tasks", [])]


def lost_beyond_reach(item: Mapping[str, Any], asked: Asked, outages: Outages) -> bool:
    """For a leg left without media: True when Twilio ended a recording of it without media
    (the fault plan's absent or failed) and, from the last such end to the hang-up, the service
    answered while the agent wanted the call recorded for less than the replacement budget. A
    replacement started in that time kept nothing either (the call ended too soon after: the
    seed-11 soak's came 0.03 s before the hang-up), so it does not move the moment."""
    customer = str(item.get("customer_call_sid"))
    ends = [
        f
        for f in item.get("faults") or []
        if f.get("kind") in NO_MEDIA_ENDS
        and f.get("call_sid") == customer
        and f.get("at_ms") is not None
    ]
    ended = (item.get("expected_window") or {}).get("end_ms")
    if not ends or ended is None:
        return False
    at = int(max(ends, key=lambda f: int(f["at_ms"]))["at_ms"])
    if at >= int(ended):
        return True
    down = [(round(gone * 1000), round(up * 1000)) for gone, up in outages]
    paused = Notices(asked=asked).pause_wanted(_tasks(item), int(ended))
    unrecordable = covered_ms((at, int(ended)), [*down, *paused])
    return int(ended) - at - unrecordable <= REPLACEMENT_BUDGET_MS


def capped_by_twilio(item: Mapping[str, Any], record: LegRecord | None) -> bool:
    """True when flexrec's record shows exactly the cap: it stopped replacing at the policy's
    cap, every recording it made on the leg ended absent or failed, and the truth has the same
    recordings on the leg, each ended by Twilio without media."""
    if record is None or not record.capped or not record.recordings:
        return False
    if any(status not in NO_MEDIA for _, status in record.recordings):
        return False
    customer = item.get("customer_call_sid")
    in_truth = {
        str(r.get("sid")): str(r.get("status"))
        for r in item.get("recordings", [])
        if r.get("call_sid") == customer
        and not r.get("conference_sid")
        and r.get("origin", "api") == "api"
    }
    ours = {sid for sid, _ in record.recordings}
    return set(in_truth) == ours and all(status in NO_MEDIA for status in in_truth.values())


def unrecorded_verdict(
    item: Mapping[str, Any],
    outages: Outages,
    asked: Asked | None = None,
    record: LegRecord | None = None,
) -> str:
    """The figure an eligible call without media counts in (see the module docstring);
    `record`: flexrec's record of its customer leg (None: not read)."""
    if while_down(item, outages):
        return "unrecordable_while_down"
    if lost_beyond_reach(item, asked or {}, outages) or capped_by_twilio(item, record):
        return "lost_to_twilio"
    return "lost"
