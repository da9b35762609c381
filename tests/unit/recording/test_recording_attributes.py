"""Deep merge, one VoiceRecording per recording of ours, 412 retries with a concurrent writer."""

from __future__ import annotations

from typing import Any

import pytest
from sim_twilio import SimTwilio, fake_sid

from flexrec.recording.attributes import (
    TaskAttributesWriter,
    deep_merge,
    media_recording_sids,
    merge_recordings,
    voice_recording_entry,
)
from flexrec.twilio.gateway import PreconditionFailed

TASK = fake_sid("WT", 1)
REC = fake_sid("RE", 1)
OTHER_REC = fake_sid("RE", 2)
RES = fake_sid("WR", 1)
ACCOUNT = "AC" + "0" * 31 + "1"


def entry(sid: str = REC, leg: str = "customer") -> dict[str, Any]:
    return voice_recording_entry(ACCOUNT, sid, 1_790_000_000_123, leg)


def test_entry_shape_for_both_legs() -> None:
    assert entry() == {
        "type": "VoiceRecording",
        "url": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{REC}",
        "start_time": 1_790_000_000_123,
        "channels": ["customer", "others"],
    }
    assert entry(leg="worker")["channels"] == ["others", "customer"]


def test_deep_merge_keeps_every_key() -> None:
    base = {"a": {"b": 1, "c": {"d": 2}}, "list": [1, 2], "x": 1}
    merged = deep_merge(base, {"a": {"c": {"e": 3}}, "list": [9]})
    assert merged == {"a": {"b": 1, "c": {"d": 2, "e": 3}}, "list": [9], "x": 1}
    assert base["a"]["c"] == {"d": 2}  # inputs are not mutated


def test_merge_puts_ours_first_and_keeps_other_writers_entries() -> None:
    foreign = {"type": "VoiceRecording", "url": f"https://api/Recordings/{OTHER_REC}"}
    crm = {"type": "Referenced", "url": "https://crm/1", "title": "CRM"}
    attrs = {
        "conversations": {"segment_link": "https://x", "media": [foreign, crm]},
        "call_sid": "CA" + "1" * 32,
    }
    merged = merge_recordings(attrs, [entry()])
    # Insights plays the first VoiceRecording: ours; Studio's (or a plugin's) stays after it.
    assert merged["conversations"]["media"] == [entry(), foreign, crm]
    assert merged["conversations"]["segment_link"] == "https://x"
    assert merged["call_sid"] == attrs["call_sid"]


def test_one_entry_per_recording_each_with_its_start_and_no_entry_without_media() -> None:
    first, replacement = entry(REC), voice_recording_entry(ACCOUNT, OTHER_REC, 1_790_000_060_000)
    once = merge_recordings({}, [first])
    both = merge_recordings(once, [first, replacement])
    assert both["conversations"]["media"] == [first, replacement]
    # The first recording ended absent (no media): its entry goes, the replacement's stays.
    only = merge_recordings(both, [replacement], unwanted={REC})
    assert only["conversations"]["media"] == [replacement]
    assert media_recording_sids(only) == (OTHER_REC,)


def test_merge_is_idempotent_and_keeps_an_existing_entry_of_the_same_recording() -> None:
    once = merge_recordings({}, [entry()])
    assert merge_recordings(once, [entry()]) == once
    studio = {"type": "VoiceRecording", "url": f"https://x/Recordings/{REC}", "start_time": "iso"}
    attrs = {"conversations": {"media": [studio]}}
    assert merge_recordings(attrs, [entry()]) == attrs


def test_worker_leg_entry_goes_to_reservation_attributes() -> None:
    merged = merge_recordings(
        {"reservation_attributes": {"WRother": {"x": 1}}}, [entry(leg="worker")], (), RES
    )
    assert merged["reservation_attributes"][RES]["media"] == [entry(leg="worker")]
    assert merged["reservation_attributes"]["WRother"] == {"x": 1}
    assert "conversations" not in merged


def test_412_from_a_concurrent_writer_is_retried_and_nothing_is_lost() -> None:
    twilio = SimTwilio()
    twilio.add_task(TASK, {"call_sid": "CA" + "1" * 32})
    writes = iter([{"crm_id": 7}, {"crm_id": 7, "disposition": "sale"}])

    def concurrent_writer(task_sid: str) -> None:
        step = next(writes, None)
        if step is not None:  # someone else writes between our GET and POST, twice
            current = twilio.tasks[task_sid].attributes
            twilio.set_attributes(task_sid, {**current, **step})

    twilio.before_task_update = concurrent_writer
    result = TaskAttributesWriter(twilio).link(TASK, [entry()])
    assert (result.outcome, result.attempts) == ("written", 3)
    attrs = twilio.tasks[TASK].attributes
    assert attrs["crm_id"] == 7 and attrs["disposition"] == "sale"
    assert attrs["call_sid"] == "CA" + "1" * 32
    assert attrs["conversations"]["media"] == [entry()]
    assert twilio.count("update_task_attributes") == 3


def test_endless_conflicts_give_up_for_the_queue() -> None:
    twilio = SimTwilio()
    twilio.add_task(TASK, {})

    def always(task_sid: str) -> None:
        twilio.set_attributes(task_sid, dict(twilio.tasks[task_sid].attributes))

    twilio.before_task_update = always
    with pytest.raises(PreconditionFailed):
        TaskAttributesWriter(twilio, max_attempts=3).link(TASK, [entry()])
    assert "conversations" not in twilio.tasks[TASK].attributes


def test_unchanged_attributes_are_not_written_again() -> None:
    twilio = SimTwilio()
    twilio.add_task(TASK, merge_recordings({}, [entry()]))
    result = TaskAttributesWriter(twilio).link(TASK, [entry()])
    assert result.outcome == "unchanged"
    assert twilio.count("update_task_attributes") == 0
