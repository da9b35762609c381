"""The one writer of `recording_targets`: every change to a target is a transition named here.

A target is one call leg policy records. Each transition says which states it may leave, the
state it leads to (or none: bookkeeping that keeps the state) and the facts it needs (`table`);
the functions of this package are the only code that writes the table, and each one's SQL
condition is built from its transition (`WHERE state IN sources`), so a write the table does not
allow changes no row. `starts` holds a target's way to a recording (planned, claimed and the
claim's outcomes, reaped), `live` what follows (Twilio's reports, pauses, the controller while
the call is live). Everything else asks this package, by the names below. The state diagram in
docs/design.md is `diagram()`'s output (tests/unit/recording/test_recording_transitions.py
checks they agree, and that no module outside this package writes the table).
"""

from flexrec.recording.transitions.live import (
    apply_status,
    call_over,
    clear_wish,
    give_up,
    identify,
    leg_over,
    pause_result,
    readopt,
    replace,
    stopped_by_other,
    target_of_recording,
    touch,
    wish_pause,
    wish_replacement,
)
from flexrec.recording.transitions.starts import (
    ORPHANED_CLAIM,
    PauseWish,
    StartedRecording,
    TargetRow,
    call_over_at_start,
    claim,
    ensure_target,
    not_held_for_pause,
    reap_orphaned_claims,
    retry_due,
    start_refused,
    started,
    started_while_claimed,
    target_row,
    task_pause_wish,
)
from flexrec.recording.transitions.table import TRANSITIONS, Transition, allowed, diagram

__all__ = [
    "ORPHANED_CLAIM",
    "TRANSITIONS",
    "PauseWish",
    "StartedRecording",
    "TargetRow",
    "Transition",
    "allowed",
    "apply_status",
    "call_over",
    "call_over_at_start",
    "claim",
    "clear_wish",
    "diagram",
    "ensure_target",
    "give_up",
    "identify",
    "leg_over",
    "not_held_for_pause",
    "pause_result",
    "readopt",
    "reap_orphaned_claims",
    "replace",
    "retry_due",
    "start_refused",
    "started",
    "started_while_claimed",
    "stopped_by_other",
    "target_of_recording",
    "target_row",
    "task_pause_wish",
    "touch",
    "wish_pause",
    "wish_replacement",
]
