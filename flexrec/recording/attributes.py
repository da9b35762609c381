"""Linking recordings into a task's attributes without losing anyone else's writes.

GET the task (with its ETag) → deep-merge our entries → POST with `If-Match` → on 412 re-read
and re-merge, up to `max_attempts`; then the caller re-queues. With a revision of the task
already known (flexrec.recording.task_versions: an event's attributes and `TaskVersion` once
they are known to be ETags here, or Twilio's answer to our last POST), the first try merges into
it and POSTs with its version, one request; its 412 goes on with the GET. The merge is
idempotent, so writing twice (fast path, then a queued retry) changes nothing the second time. One
VoiceRecording entry per recording of ours that has media, each with its own `start_time` and
channels; an entry of ours whose recording ended without media (absent, failed) is removed;
other writers' entries stay.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from flexrec.db.models import CHANNEL_LABELS
from flexrec.recording import metrics
from flexrec.recording.policy import lookup
from flexrec.recording.task_versions import KnownRevision, TaskRevisions
from flexrec.twilio.gateway import (
    GatewayError,
    PreconditionFailed,
    TaskGateway,
    TaskSnapshot,
    recording_media_url,
)

log = structlog.get_logger(__name__)


_CALL_SID = re.compile(r"^CA[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class AttributeFacts:
    """Direction, legs and conference as Flex task attributes tell them."""

    direction: str | None
    customer_call_sid: str | None
    worker_call_sid: str | None
    conference_sid: str | None
    client_call: bool


def _call_sid(value: Any) -> str | None:
    return value if isinstance(value, str) and _CALL_SID.match(value) else None


def attribute_facts(attributes: Mapping[str, Any] | None) -> AttributeFacts:
    """Direction, legs and conference read from Flex task attributes.

    `call_sid` is trusted as the customer leg only on inbound tasks: some plugins overwrite it
    with the recorded (worker) leg on outbound ones (template PR #648).
    """
    attrs = attributes or {}
    raw_direction = attrs.get("direction")
    direction = raw_direction if raw_direction in ("inbound", "outbound") else None
    client_call = attrs.get("client_call") is True
    participant_customer = _call_sid(lookup(attrs, "conference.participants.customer"))
    worker = _call_sid(lookup(attrs, "conference.participants.worker"))
    conference = lookup(attrs, "conference.sid")
    conference_sid = conference if isinstance(conference, str) and conference[:2] == "CF" else None
    if client_call:
        customer = None
    elif direction == "outbound":
        customer = participant_customer
    else:
        customer = _call_sid(attrs.get("call_sid")) or participant_customer
        if direction is None and customer is not None:
            direction = "inbound"
    return AttributeFacts(direction, customer, worker, conference_sid, client_call)


def voice_recording_entry(
    account_sid: str, recording_sid: str, start_time_ms: int, leg: str = "customer"
) -> dict[str, Any]:
    """The Flex Insights `VoiceRecording` media entry (start_time in epoch ms)."""
    channels = CHANNEL_LABELS["customer" if leg == "customer" else "worker"]
    return {
        "type": "VoiceRecording",
        "url": recording_media_url(account_sid, recording_sid),
        "start_time": int(start_time_ms),
        "channels": list(channels),
    }


def deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """Objects merge recursively; anything else in `patch` replaces; no key of `base` is lost."""
    merged = copy.deepcopy(dict(base))
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def recording_sid_of(entry: Any) -> str | None:
    """The RE… SID at the end of a media entry's URL, if it is a VoiceRecording."""
    if not isinstance(entry, Mapping) or entry.get("type") != "VoiceRecording":
        return None
    url = str(entry.get("url", "")).rstrip("/")
    last = url.rsplit("/", 1)[-1].split(".", 1)[0]
    return last if last.startswith("RE") else None


def _media(attributes: Mapping[str, Any], reservation_sid: str | None) -> list[Any]:
    if reservation_sid:
        holder = attributes.get("reservation_attributes", {})
        holder = holder.get(reservation_sid, {}) if isinstance(holder, Mapping) else {}
    else:
        holder = attributes.get("conversations", {})
    media = holder.get("media") if isinstance(holder, Mapping) else None
    return list(media) if isinstance(media, list) else []


def media_recording_sids(
    attributes: Mapping[str, Any] | None, reservation_sid: str | None = None
) -> tuple[str, ...]:
    """What each of the task's VoiceRecording entries names, in order (the reservation's media,
    if given): the recording SID, or the URL of one that is not a Twilio recording's."""
    if not isinstance(attributes, Mapping):
        return ()
    return tuple(
        recording_sid_of(e) or str(e.get("url", ""))
        for e in _media(attributes, reservation_sid)
        if isinstance(e, Mapping) and e.get("type") == "VoiceRecording"
    )


def merge_recordings(
    attributes: Mapping[str, Any],
    entries: Sequence[Mapping[str, Any]],
    unwanted: Collection[str] = (),
    reservation_sid: str | None = None,
) -> dict[str, Any]:
    """Attributes whose media list starts with one VoiceRecording per entry, in order, then
    every other entry as it was, except VoiceRecordings of the `unwanted` SIDs (ours that hold
    no media). An entry already there for one of our recordings is kept as it is (Studio's for
    a recording we adopted); other writers' entries stay. Insights plays only the first
    VoiceRecording, which is ours.
    """
    old = _media(attributes, reservation_sid)
    ours = [recording_sid_of(entry) for entry in entries]
    existing: dict[str, Any] = {}
    for item in old:
        sid = recording_sid_of(item)
        if sid is not None and sid in ours and sid not in existing:
            existing[sid] = item
    head = [
        copy.deepcopy(existing[sid]) if sid in existing else dict(entry)
        for sid, entry in zip(ours, entries, strict=True)
    ]
    drop = {*(sid for sid in ours if sid), *unwanted}
    rest = [copy.deepcopy(e) for e in old if recording_sid_of(e) not in drop]
    media = [*head, *rest]
    if reservation_sid:
        patch: dict[str, Any] = {"reservation_attributes": {reservation_sid: {"media": media}}}
    else:
        patch = {"conversations": {"media": media}}
    return deep_merge(attributes, patch)


@dataclass(frozen=True)
class WriteResult:
    """What a link attempt did: `written`, or `unchanged` when the entry was already there;
    for a write, the attributes it read (`base`) and those it wrote (`written`)."""

    outcome: str
    attempts: int
    base: Mapping[str, Any] | None = None
    written: Mapping[str, Any] | None = None


class TaskAttributesWriter:
    """Writes a VoiceRecording entry into a task with ETag/If-Match and 412 retries."""

    def __init__(
        self, tasks: TaskGateway, max_attempts: int = 5, revisions: TaskRevisions | None = None
    ) -> None:
        self._tasks = tasks
        self._max_attempts = max_attempts
        self._revisions = revisions

    def link(
        self,
        task_sid: str,
        entries: Sequence[Mapping[str, Any]],
        unwanted: Collection[str] = (),
        reservation_sid: str | None = None,
    ) -> WriteResult:
        """Merge our entries into the task (`merge_recordings`); raises `PreconditionFailed`
        after repeated conflicts."""
        revisions = self._revisions
        known = revisions.usable(task_sid) if revisions is not None else None
        tried: KnownRevision | None = None
        if known is not None:
            merged = merge_recordings(known.attributes, entries, unwanted, reservation_sid)
            # Already there as of that revision: the GET below says whether it still is.
            if merged != known.attributes:
                tried = known
                try:
                    answer = self._tasks.update_task_attributes(task_sid, merged, known.version)
                except PreconditionFailed:
                    metrics.ATTRIBUTE_WRITE_CONFLICTS.inc()
                    metrics.ATTRIBUTE_WRITES.labels(path="known_conflict").inc()
                    log.info("attribute write conflict", task_sid=task_sid, attempt=1)
                    if revisions is not None:
                        revisions.tried(known, conflicted=True)
                else:
                    metrics.ATTRIBUTE_WRITES.labels(path="known").inc()
                    if revisions is not None:
                        revisions.tried(known, conflicted=False)
                    self._answered(task_sid, answer)
                    return WriteResult("written", 1, known.attributes, merged)
        if tried is None:
            metrics.ATTRIBUTE_WRITES.labels(path="fetched").inc()
        first = 1 if tried is None else 2
        for attempt in range(first, self._max_attempts + 1):
            task = self._tasks.fetch_task(task_sid)
            if tried is not None and revisions is not None:
                revisions.conflict(tried, task.etag)
                tried = None
            if task.attributes is None:
                # Never write over attributes we did not see: the POST replaces them all.
                raise GatewayError(f"task {task_sid} was fetched without attributes")
            merged = merge_recordings(task.attributes, entries, unwanted, reservation_sid)
            if merged == task.attributes:
                return WriteResult("unchanged", attempt)
            try:
                answer = self._tasks.update_task_attributes(task_sid, merged, task.etag)
            except PreconditionFailed:
                metrics.ATTRIBUTE_WRITE_CONFLICTS.inc()
                log.info("attribute write conflict", task_sid=task_sid, attempt=attempt)
                continue
            self._answered(task_sid, answer)
            return WriteResult("written", attempt, task.attributes, merged)
        raise PreconditionFailed(
            f"task {task_sid} kept changing during {self._max_attempts} attempts", status=412
        )

    def _answered(self, task_sid: str, answer: TaskSnapshot) -> None:
        if self._revisions is not None:
            self._revisions.note_answer(task_sid, answer.etag, answer.attributes)
