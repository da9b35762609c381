"""The states of a recording target, and the Twilio statuses the service reads: one place each.

A target (one call leg policy records, `recording_targets`) has at most one current recording.
Which moves exist, from which states, is flexrec.recording.transitions (the table's one
writer; its `diagram()` is drawn in docs/design.md). Nothing is final while the call is live:

- UNFINISHED: no recording yet, one is wanted (`pending` due to start, `starting` claimed);
- LIVE: the current recording runs (`recording`, or `paused` by anyone);
- ENDED: no recording runs and no callback or start moves the target: `completed`, `absent`,
  `failed` (how the current recording ended), `stopped` (it was completed by another API
  client while the call went on: respected like a pause), `ended` (the call ended before any
  recording). While the call is live the controller settles an ended target once: an
  `absent`/`failed` recording is replaced (back to `pending`), a `completed` one becomes
  `stopped`, a `stopped` leg may adopt a recording someone started again. Once the call is
  over (`call_ended_at`), an ended target is final.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

TargetState = Literal[
    "pending",
    "starting",
    "recording",
    "paused",
    "stopped",
    "completed",
    "absent",
    "failed",
    "ended",
]
TARGET_STATES: Final = frozenset(get_args(TargetState))

UNFINISHED_STATES: Final[tuple[TargetState, ...]] = ("pending", "starting")  # no recording yet
LIVE_STATES: Final[tuple[TargetState, ...]] = ("recording", "paused")  # a recording runs
ENDED_STATES: Final[tuple[TargetState, ...]] = ("stopped", "completed", "absent", "failed", "ended")
# Ended without media: replaced while the call is live (up to the policy's cap).
NO_MEDIA_STATES: Final[tuple[TargetState, ...]] = ("absent", "failed")

# A recording status callback's final statuses, and the target state each one settles.
RECORDING_OUTCOMES: Final[dict[str, TargetState]] = {
    "completed": "completed",
    "absent": "absent",
    "failed": "failed",
}
# Recording statuses that hold (or will hold) media: an entry in the task's media is wanted.
MEDIA_STATUSES: Final = frozenset({"in-progress", "paused", "stopped", "processing", "completed"})


def is_ended(state: str) -> bool:
    """True for a state no event moves on (only the controller, and only while the call is
    live)."""
    return state in ENDED_STATES


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
# The agent's work on the call is over (their span on it ends at the first of these).
WORK_ENDED_RESERVATION_STATUSES: Final = ("wrapping", "completed", "canceled")
_RESERVATION_RANK: Final = {"pending": 0, "accepted": 1, "wrapping": 2}  # any other: final (3)


def reservation_moves_to(current: str, new: str) -> bool:
    """True when a reservation in `current` may take status `new`: forward only, so a late
    `accepted` never reopens a completed one."""
    rank = _RESERVATION_RANK.get(current, 3)
    return rank < 3 and _RESERVATION_RANK.get(new, 3) >= rank
