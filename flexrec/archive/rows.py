"""What the archive row takes from the recording service: the call's context, merged in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flexrec.archive.models import ArchivedRecording


@dataclass(frozen=True)
class RecordingContext:
    """Facts about a recording's call that only the recording service knows."""

    task_sids: tuple[str, ...] = ()
    queue_name: str | None = None
    direction: str | None = None
    worker_sid: str | None = None
    agent_identity: str | None = None
    customer_number: str | None = None
    # Insights channel labels as written to the task, e.g. ("customer", "others").
    channel_labels: tuple[str, ...] | None = None
    # Paused intervals in ms from the recording's start (for analysis).
    paused_ms: tuple[tuple[int, int], ...] = field(default_factory=tuple)


ContextProvider = Callable[[str, str | None], RecordingContext | None]
"""(recording_sid, call_sid) -> context, or None when the service knows nothing of it."""


def apply_context(row: ArchivedRecording, context: RecordingContext) -> None:
    """Copy what the recording service knows onto the archive row (never erase facts)."""
    tasks = list(row.task_sids or [])
    tasks.extend(t for t in context.task_sids if t not in tasks)
    row.task_sids = tasks
    row.queue_name = context.queue_name or row.queue_name
    row.direction = context.direction or row.direction
    row.worker_sid = context.worker_sid or row.worker_sid
    row.agent_identity = context.agent_identity or row.agent_identity
    row.customer_number = context.customer_number or row.customer_number
    if context.channel_labels:
        row.channel_labels = list(context.channel_labels)
    if context.paused_ms:
        row.paused_ms = [list(p) for p in context.paused_ms]


def row_paused(row: ArchivedRecording) -> list[tuple[int, int]]:
    """Paused intervals stored on the row (ms from the recording's start)."""
    return [(int(a), int(b)) for a, b in (row.paused_ms or [])]
