"""A link write in one request: merged into a revision already known, If-Match its version.

An event's `TaskVersion` is used only once this process saw it agree with the ETag Twilio
answers (the echo of our own write); a 412 falls back to GET + merge + If-Match POST, and
another writer's change made after the event survives.
"""

from __future__ import annotations

import copy
from typing import Any

from sim_twilio import SimTwilio, fake_sid

from flexrec.recording.attributes import TaskAttributesWriter, voice_recording_entry
from flexrec.recording.task_versions import TaskRevisions
from flexrec.webhooks.events import TaskRouterEvent

ACCOUNT = "AC" + "0" * 31 + "1"
CALL = "CA" + "1" * 32


def entry(n: int = 1) -> dict[str, Any]:
    return voice_recording_entry(ACCOUNT, fake_sid("RE", n), 1_790_000_000_000 + n)


def event(
    twilio: SimTwilio,
    task_sid: str,
    event_type: str = "task.created",
    at_ms: int = 1_790_000_000_000,
    version: str | None = None,
) -> TaskRouterEvent:
    """The event TaskRouter sends for the task as it is now (flexsim: version = revision)."""
    task = twilio.tasks[task_sid]
    return TaskRouterEvent(
        event_type=event_type,
        resource_sid=task_sid,
        timestamp_ms=at_ms,
        task_sid=task_sid,
        task_attributes=copy.deepcopy(task.attributes),
        task_assignment_status=task.assignment_status,
        task_queue_sid=None,
        task_queue_name=None,
        workflow_sid=None,
        reservation_sid=None,
        worker_sid=None,
        worker_name=None,
        event_sid=None,
        task_version=str(task.revision) if version is None else version,
    )


def agree(twilio: SimTwilio, revisions: TaskRevisions, writer: TaskAttributesWriter) -> None:
    """Three link writes whose echoes carry the ETag Twilio answered: versions are ETags."""
    for n in range(100, 103):
        sid = fake_sid("WT", n)
        twilio.add_task(sid, {"call_sid": CALL})
        writer.link(sid, [entry(n)])
        revisions.note_event(event(twilio, sid, "task.updated", 1_790_000_001_000))


def test_event_versions_are_not_sent_until_an_echo_agreed_with_an_etag() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    task = fake_sid("WT", 1)
    twilio.add_task(task, {"call_sid": CALL})
    revisions.note_event(event(twilio, task))
    assert revisions.usable(task) is None
    result = writer.link(task, [entry()])
    assert (result.outcome, result.attempts) == ("written", 1)
    assert twilio.count("fetch_task") == 1  # GET first: nothing known to be an ETag yet
    agree(twilio, revisions, writer)
    assert revisions.trusted and revisions.agreed == 3


def test_a_new_calls_link_is_one_request_once_versions_agree() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    agree(twilio, revisions, writer)
    task = fake_sid("WT", 1)
    twilio.add_task(task, {"call_sid": CALL, "crm": {"id": 7}})
    revisions.note_event(event(twilio, task, at_ms=1_790_000_002_000))
    fetches, updates = twilio.count("fetch_task"), twilio.count("update_task_attributes")
    result = writer.link(task, [entry()])
    assert (result.outcome, result.attempts) == ("written", 1)
    assert twilio.count("fetch_task") == fetches  # no GET
    assert twilio.count("update_task_attributes") == updates + 1
    attributes = twilio.tasks[task].attributes
    assert attributes["conversations"]["media"] == [entry()]
    assert attributes["crm"] == {"id": 7}


def test_a_change_after_the_event_gets_412_and_survives_the_write() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    agree(twilio, revisions, writer)
    task = fake_sid("WT", 1)
    twilio.add_task(task, {"call_sid": CALL})
    revisions.note_event(event(twilio, task, at_ms=1_790_000_002_000))
    # Flex (or another integration) writes after the event, before our POST.
    twilio.set_attributes(task, {"call_sid": CALL, "conference": {"sid": fake_sid("CF", 1)}})
    fetches = twilio.count("fetch_task")
    result = writer.link(task, [entry()])
    assert (result.outcome, result.attempts) == ("written", 2)
    assert twilio.count("fetch_task") == fetches + 1  # the 412, then today's GET
    attributes = twilio.tasks[task].attributes
    assert attributes["conference"] == {"sid": fake_sid("CF", 1)}
    assert attributes["conversations"]["media"] == [entry()]
    assert revisions.trusted  # an ordinary conflict says nothing against the versions


def test_an_echo_whose_version_is_not_the_etag_turns_the_shortcut_off() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    task = fake_sid("WT", 1)
    twilio.add_task(task, {"call_sid": CALL})
    writer.link(task, [entry()])
    # TaskRouter's echo of our write, with a version that is not the ETag it answered.
    echo = event(twilio, task, "task.updated", version="v-elsewhere")
    revisions.note_event(echo)
    assert revisions.refuted
    agree(twilio, revisions, writer)  # agreeing echoes later do not turn it back on
    assert not revisions.trusted
    other = fake_sid("WT", 2)
    twilio.add_task(other, {"call_sid": CALL})
    revisions.note_event(event(twilio, other, at_ms=1_790_000_002_000))
    assert revisions.usable(other) is None


def test_an_etag_of_another_shape_after_a_412_turns_the_shortcut_off() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    agree(twilio, revisions, writer)
    task = fake_sid("WT", 1)
    twilio.add_task(task, {"call_sid": CALL})
    # An event whose version looks like no ETag this account gives (flexsim's are numbers).
    revisions.note_event(event(twilio, task, at_ms=1_790_000_002_000, version="W/abc"))
    result = writer.link(task, [entry()])
    assert (result.outcome, result.attempts) == ("written", 2)
    assert revisions.refuted
    assert twilio.tasks[task].attributes["conversations"]["media"] == [entry()]


def test_our_own_answer_is_used_for_the_next_write_whatever_events_say() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    task = fake_sid("WT", 1)
    twilio.add_task(task, {"call_sid": CALL})
    writer.link(task, [entry(1)])
    assert not revisions.trusted
    fetches = twilio.count("fetch_task")
    # A replacement recording: its link merges into what Twilio answered our first POST.
    result = writer.link(task, [entry(1), entry(2)])
    assert (result.outcome, result.attempts) == ("written", 1)
    assert twilio.count("fetch_task") == fetches
    assert twilio.tasks[task].attributes["conversations"]["media"] == [entry(1), entry(2)]


def test_a_late_event_older_than_the_one_known_is_not_kept() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    agree(twilio, revisions, writer)
    task = fake_sid("WT", 1)
    twilio.add_task(task, {"call_sid": CALL})
    old = event(twilio, task, at_ms=1_790_000_002_000)
    twilio.set_attributes(task, {"call_sid": CALL, "x": 1})
    revisions.note_event(event(twilio, task, "task.updated", at_ms=1_790_000_003_000))
    revisions.note_event(old)  # delivered late
    known = revisions.usable(task)
    assert known is not None and known.attributes["x"] == 1


def test_when_most_writes_from_events_meet_a_412_links_fetch_first_but_for_a_probe() -> None:
    twilio, revisions = SimTwilio(), TaskRevisions()
    writer = TaskAttributesWriter(twilio, revisions=revisions)
    agree(twilio, revisions, writer)

    def stale_link(n: int) -> None:
        """A link whose event Flex's own write overtook (an overloaded process hears late)."""
        task = fake_sid("WT", n)
        twilio.add_task(task, {"call_sid": CALL})
        revisions.note_event(event(twilio, task, at_ms=1_790_000_002_000 + n))
        twilio.set_attributes(task, {"call_sid": CALL, "conference": {"sid": fake_sid("CF", n)}})
        writer.link(task, [entry(n)])
        assert twilio.tasks[task].attributes["conference"] == {"sid": fake_sid("CF", n)}

    for n in range(1, 5):
        stale_link(n)
    conflicts = twilio.count("fetch_task")
    tried = 0
    for n in range(5, 21):
        before = twilio.count("update_task_attributes")
        stale_link(n)
        tried += twilio.count("update_task_attributes") - before - 1
    # 16 more links: each would have cost a wasted POST; only every 8th tried (a probe).
    assert tried == 2
    assert twilio.count("fetch_task") == conflicts + 16
