"""The newest revision of each task's attributes this process saw, so a link is written in one
request (docs/design.md, "Attribute writes").

A link write is GET (attributes and ETag) → merge → POST with `If-Match`. The TaskRouter event
that sets it off already carries the attributes and `TaskVersion`; when that version is the
task's ETag (flexsim: both are the task's revision), the GET is not needed: merge into the
event's attributes and POST with `If-Match: <TaskVersion>`. A 412 (the task moved on since the
event) falls back to the GET.

Twilio documents the ETag and the 412 but does not write that the ETag equals the callback's
`TaskVersion`. If they were two counters that count different changes, a version could equal
the current ETag by chance while the attributes differ, and the POST would write over another
writer's change. So a version taken from an event is used only once this process has seen them
agree: after each POST of ours, the ETag Twilio answered is compared with the `TaskVersion` of
TaskRouter's echo of that write (the first `task.updated` carrying exactly the attributes
written). `AGREEMENTS` echoes that agree enable it; one that does not disables it for the
process (a warning, `flexrec_task_version_agreement`), as does an ETag of another shape than
the versions (a quoted or hashed one). Until then, and after, link writes GET first, as
before. The ETag of flexrec's own POST, with the attributes Twilio answered, is Twilio's own
pair and is used whatever the events say (a second link write of the task, a replacement's).
A 412 costs a request more than the GET-first path; while more than half of the last writes
from events' revisions met one (a process so loaded that it hears of Flex's writes late), links
GET first but for an occasional probe.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NamedTuple

import structlog

from flexrec.recording import metrics
from flexrec.webhooks.events import TaskRouterEvent

log = structlog.get_logger(__name__)

# Echoes that must agree before an event's version is sent as If-Match.
AGREEMENTS: Final = 3
MAX_TASKS: Final = 2_048  # tasks with a link in flight are few; the rest only cost memory
_OUTCOMES: Final = 32  # the last writes from events' revisions, whether each held
_PROBE: Final = 8  # while they do not pay, one link in this many still tries


class KnownRevision(NamedTuple):
    """A task's attributes as of one revision, and where the pair comes from."""

    version: str
    attributes: Mapping[str, Any]
    # The event's TaskRouter time; -1 for an answer: any event noted after it replaces it (its
    # time is on another clock; an event older than it costs a 412, never a lost write).
    at_ms: int
    answered: bool  # Twilio's answer to our own request (its ETag), not an event


@dataclass(frozen=True)
class _Echo:
    etag: str
    attributes: Mapping[str, Any]


class TaskRevisions:
    """The newest known revision per task, and whether event versions are ETags here."""

    def __init__(self, max_tasks: int = MAX_TASKS, agreements: int = AGREEMENTS) -> None:
        self._max = max_tasks
        self._needed = agreements
        self._known: OrderedDict[str, KnownRevision] = OrderedDict()
        self._echoes: dict[str, _Echo] = {}
        self._lock = threading.Lock()
        self.agreed = 0
        self.refuted = False
        self._outcomes: deque[bool] = deque(maxlen=_OUTCOMES)  # True: one request sufficed
        self._skipped = 0

    @property
    def trusted(self) -> bool:
        """Whether event versions are sent as If-Match (agreement seen, never refuted)."""
        return not self.refuted and self.agreed >= self._needed

    def note_event(self, event: TaskRouterEvent) -> None:
        """A TaskRouter event of a task: its attributes and version, if newer than what is
        known; and, for an echo of our write, whether its version is the ETag we were given.
        (Called for every event, most answered from memory: kept to a few dictionary reads.)"""
        version, task_sid = event.task_version, event.task_sid
        if version is None or task_sid is None:
            return
        known = self._known.get(task_sid)
        if known is not None and known.version == version and not known.answered:
            return  # the revision already known (Flex repeating the task)
        attributes = event.task_attributes
        if attributes is None:
            return
        if self._echoes and event.event_type == "task.updated":
            echo = self._echoes.get(task_sid)
            if echo is not None:
                self._judge_echo(task_sid, echo, version, attributes)
        at_ms = event.timestamp_ms
        with self._lock:
            old = self._known.get(task_sid)
            if old is not None and not old.answered and old.at_ms > at_ms:
                return  # older than what is known (a late delivery)
            self._keep(task_sid, KnownRevision(version, attributes, at_ms, False))

    def note_answer(
        self, task_sid: str, etag: str | None, attributes: Mapping[str, Any] | None
    ) -> None:
        """Twilio answered our POST of the task's attributes with this ETag and attributes."""
        if not etag or attributes is None:
            return
        if not self.trusted and not self.refuted:
            with self._lock:
                self._echoes[task_sid] = _Echo(etag, attributes)
                while len(self._echoes) > self._max:
                    self._echoes.pop(next(iter(self._echoes)))
        with self._lock:
            self._keep(task_sid, KnownRevision(etag, attributes, -1, True))

    def usable(self, task_sid: str) -> KnownRevision | None:
        """The revision to merge into and send as If-Match, if one may be (else GET first)."""
        known = self._known.get(task_sid)
        if known is None or known.answered:
            return known
        return known if self.trusted and self._paying() else None

    def tried(self, known: KnownRevision, *, conflicted: bool) -> None:
        """How a write with an event's revision went: one request, or a 412 and a GET."""
        if not known.answered:
            self._outcomes.append(not conflicted)

    def _paying(self) -> bool:
        """Whether writing from events' revisions saves requests here now: one saved when it
        holds, one wasted on a 412 (an overloaded process learns of Flex's writes late). Below
        half, every `_PROBE`-th link still tries, so the figure can recover."""
        outcomes = self._outcomes
        if 2 * outcomes.count(False) <= len(outcomes):
            return True
        self._skipped += 1
        return self._skipped % _PROBE == 0

    def conflict(self, tried: KnownRevision, fetched_etag: str | None) -> None:
        """A write with `tried` got 412 and the GET after it answered `fetched_etag`: an ETag
        of another shape than the event versions means they are not the same thing."""
        if tried.answered or fetched_etag is None:
            return
        if fetched_etag.isdigit() != tried.version.isdigit():
            self._refute(f"the ETag {fetched_etag!r} is not shaped like a TaskVersion")

    def _judge_echo(
        self, task_sid: str, echo: _Echo, version: str, attributes: Mapping[str, Any]
    ) -> None:
        if attributes != echo.attributes:
            return  # another change of the task, not the echo of our write
        with self._lock:
            if self._echoes.pop(task_sid, None) is None:
                return  # judged already, by another thread
        if version == echo.etag:
            self.agreed += 1
            if self.agreed == self._needed and not self.refuted:
                metrics.TASK_VERSION_AGREEMENT.set(1)
                log.info("TaskRouter event versions are the tasks' ETags: links in one request")
        else:
            self._refute(f"the echo's TaskVersion {version!r} is not the ETag {echo.etag!r}")

    def _refute(self, why: str) -> None:
        if self.refuted:
            return
        self.refuted = True
        metrics.TASK_VERSION_AGREEMENT.set(-1)
        with self._lock:
            self._echoes.clear()
        log.warning(
            "TaskRouter event versions are not the tasks' ETags: links fetch first", why=why
        )

    def _keep(self, task_sid: str, known: KnownRevision) -> None:
        # Under self._lock.
        self._known[task_sid] = known
        self._known.move_to_end(task_sid)
        if len(self._known) > self._max:
            self._known.popitem(last=False)
