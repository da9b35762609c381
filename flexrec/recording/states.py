"""The states of a recording target, and the Twilio statuses the service reads: one place each.

A target (one recorded call leg, `recording_targets`) moves only forward; which moves exist,
from which states, is flexrec.recording.transitions (the table's one writer; its `diagram()`
is drawn in docs/design.md). A target in a FINAL state never changes state again: no start,
pause, refresh or late status callback moves it (`ended` included: the call is over, nothing
more will come of the leg).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

TargetState = Literal[
    "pending", "starting", "recording", "paused", "completed", "absent", "failed", "ended"
]
TARGET_STATES: Final = frozenset(get_args(TargetState))

UNFINISHED_STATES: Final[tuple[TargetState, ...]] = ("pending", "starting")  # no recording yet
LIVE_STATES: Final[tuple[TargetState, ...]] = ("recording", "paused")  # a recording runs
FINAL_STATES: Final[tuple[TargetState, ...]] = ("completed", "absent", "failed", "ended")

# A recording status callback's final statuses, and the target state each one settles.
RECORDING_OUTCOMES: Final[dict[str, TargetState]] = {
    "completed": "completed",
    "absent": "absent",
    "failed": "failed",
}


def is_final(state: str) -> bool:
    """True for a state the target never leaves."""
    return state in FINAL_STATES


# TaskRouter task assignment statuses (taskrouter.v1.yaml, task `assignment_status`).
TERMINAL_TASK_STATUSES: Final = frozenset({"completed", "canceled", "deleted"})
ANSWERED_TASK_STATUSES: Final = frozenset({"assigned", "wrapping", "completed"})
LIVE_TASK_STATUSES: Final = ("reserved", "assigned", "wrapping")
WORK_OVER_TASK_STATUSES: Final = ("wrapping", *sorted(TERMINAL_TASK_STATUSES))

# Reservation status each TaskRouter reservation event sets.
RESERVATION_STATUS: Final = {
    "reservation.created": "pending",
    "reservation.accepted": "accepted",
    "reservation.wrapup": "wrapping",
    "reservation.completed": "completed",
    "reservation.rejected": "rejected",
    "reservation.timeout": "timeout",
    "reservation.canceled": "canceled",
    "reservation.rescinded": "rescinded",
    "reservation.failed": "failed",
}
OPEN_RESERVATION_STATUSES: Final = ("accepted", "wrapping")  # a worker leg may be recorded
ACTIVE_RESERVATION_STATUSES: Final = ("accepted", "wrapping", "completed")  # it was answered
_RESERVATION_RANK: Final = {"pending": 0, "accepted": 1, "wrapping": 2}  # any other: final (3)


def reservation_moves_to(current: str, new: str) -> bool:
    """True when a reservation in `current` may take status `new`: forward only, so a late
    `accepted` never reopens a completed one."""
    rank = _RESERVATION_RANK.get(current, 3)
    return rank < 3 and _RESERVATION_RANK.get(new, 3) >= rank
