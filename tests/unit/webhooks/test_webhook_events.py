"""Parsers: TaskRouter forms, Event Streams CloudEvents, conference/call/recording callbacks."""

from __future__ import annotations

import json

import pytest

from flexrec.webhooks.events import (
    MalformedEvent,
    parse_call_status_form,
    parse_conference_form,
    parse_event_streams,
    parse_event_streams_batch,
    parse_recording_status_form,
    parse_taskrouter_form,
    parse_time_ms,
)

WT = "WT" + "a" * 32
WR = "WR" + "b" * 32
WK = "WK" + "c" * 32
WQ = "WQ" + "d" * 32
CA = "CA" + "e" * 32
CF = "CF" + "f" * 32
RE = "RE" + "1" * 32


def tr_form(**extra: str) -> dict[str, str]:
    return {
        "EventType": "reservation.accepted",
        "Timestamp": "1790000000",
        "TaskSid": WT,
        "ReservationSid": WR,
        "WorkerSid": WK,
        "WorkerName": "alice",
        "TaskQueueSid": WQ,
        "TaskQueueName": "Sales",
        "TaskAssignmentStatus": "assigned",
        "TaskAttributes": json.dumps({"call_sid": CA, "direction": "inbound"}),
        "ResourceSid": WR,
        **extra,
    }


def test_taskrouter_form() -> None:
    event = parse_taskrouter_form(tr_form())
    assert event.event_type == "reservation.accepted"
    assert event.timestamp_ms == 1_790_000_000_000
    assert (event.task_sid, event.reservation_sid, event.worker_sid) == (WT, WR, WK)
    assert event.task_attributes == {"call_sid": CA, "direction": "inbound"}
    assert (event.task_queue_name, event.task_assignment_status) == ("Sales", "assigned")


@pytest.mark.parametrize(
    "change",
    [
        {"EventType": ""},
        {"Timestamp": ""},
        {"Timestamp": "yesterday"},
        {"TaskSid": "WT123"},
        {"TaskSid": "WR" + "a" * 32},
        {"ReservationSid": ""},
        {"TaskAttributes": "{not json"},
        {"TaskAttributes": "[1,2]"},
    ],
)
def test_malformed_taskrouter_forms(change: dict[str, str]) -> None:
    with pytest.raises(MalformedEvent):
        parse_taskrouter_form(tr_form(**change))


def test_event_streams_batch_accepts_snake_and_camel_keys() -> None:
    body = json.dumps(
        [
            {
                "id": "EZ1",
                "type": "com.twilio.taskrouter.task.updated",
                "time": "2026-11-24T12:00:00.250Z",
                "data": {
                    "task_sid": WT,
                    "task_attributes": json.dumps({"direction": "outbound"}),
                    "task_queue_name": "Sales",
                    "workflowSid": "WW" + "0" * 32,
                    "timestamp": 1790000000123,
                },
            },
            {"id": "EZ2", "type": "com.twilio.voice.something", "data": {}},
            {
                "id": "EZ3",
                "type": "com.twilio.taskrouter.reservation.accepted",
                "time": "2026-11-24T12:00:01Z",
                "data": {"taskSid": WT, "reservationSid": WR, "workerSid": WK},
            },
        ]
    ).encode()
    events = parse_event_streams(body)
    assert [e.event_type for e in events] == ["task.updated", "reservation.accepted"]
    assert events[0].event_sid == "EZ1" and events[0].timestamp_ms == 1790000000123
    assert events[0].task_attributes == {"direction": "outbound"}
    assert events[0].workflow_sid == "WW" + "0" * 32
    assert events[1].reservation_sid == WR
    assert events[1].timestamp_ms == parse_time_ms("2026-11-24T12:00:01Z")


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b'{"a": 1',
        b"42",
    ],
)
def test_malformed_event_streams(body: bytes) -> None:
    with pytest.raises(MalformedEvent):
        parse_event_streams(body)


def test_conference_participant_join() -> None:
    event = parse_conference_form(
        {
            "StatusCallbackEvent": "participant-join",
            "ConferenceSid": CF,
            "FriendlyName": WT,
            "CallSid": CA,
            "ParticipantLabel": "Customer",
            "Hold": "false",
            "SequenceNumber": "3",
            "Timestamp": "Tue, 24 Nov 2026 12:00:05 +0000",
        }
    )
    assert (event.event, event.conference_sid, event.friendly_name) == ("participant-join", CF, WT)
    assert (event.call_sid, event.participant_label, event.hold) == (CA, "customer", False)
    assert event.sequence_number == 3
    assert event.timestamp == parse_time_ms("2026-11-24T12:00:05Z")


def test_conference_end_needs_no_call_sid_but_join_does() -> None:
    end = parse_conference_form({"StatusCallbackEvent": "conference-end", "ConferenceSid": CF})
    assert end.call_sid is None
    with pytest.raises(MalformedEvent):
        parse_conference_form({"StatusCallbackEvent": "participant-join", "ConferenceSid": CF})
    with pytest.raises(MalformedEvent):
        parse_conference_form(
            {"StatusCallbackEvent": "participant-join", "ConferenceSid": "CF1", "CallSid": CA}
        )


def test_call_status() -> None:
    event = parse_call_status_form(
        {"CallSid": CA, "CallStatus": "completed", "Direction": "inbound"}
    )
    assert (event.call_sid, event.call_status, event.direction) == (CA, "completed", "inbound")
    with pytest.raises(MalformedEvent):
        parse_call_status_form({"CallSid": CA, "CallStatus": "exploded"})


def test_recording_status() -> None:
    event = parse_recording_status_form(
        {
            "RecordingSid": RE,
            "CallSid": CA,
            "RecordingStatus": "completed",
            "RecordingUrl": "https://api.twilio.com/x/Recordings/" + RE,
            "RecordingChannels": "2",
            "RecordingStartTime": "Tue, 24 Nov 2026 12:00:03 +0000",
            "RecordingDuration": "42",
            "RecordingTrack": "both",
            "RecordingSource": "StartCallRecordingAPI",
            "ErrorCode": "0",
        }
    )
    assert (event.recording_sid, event.call_sid, event.status) == (RE, CA, "completed")
    assert (event.channels, event.duration_s, event.error_code) == (2, 42, None)
    assert event.start_time_ms == parse_time_ms("2026-11-24T12:00:03+00:00")
    absent = parse_recording_status_form(
        {"RecordingSid": RE, "RecordingStatus": "absent", "ErrorCode": "16101"}
    )
    assert absent.error_code == 16101


@pytest.mark.parametrize(
    "form",
    [
        {"RecordingStatus": "completed"},
        {"RecordingSid": RE, "RecordingStatus": "weird"},
        {"RecordingSid": RE, "RecordingStatus": "completed", "RecordingDuration": "long"},
        {"RecordingSid": RE, "RecordingStatus": "completed", "RecordingStartTime": "not a date"},
    ],
)
def test_malformed_recording_status(form: dict[str, str]) -> None:
    with pytest.raises(MalformedEvent):
        parse_recording_status_form(form)


def test_time_formats() -> None:
    ms = 1_790_000_000_000
    assert parse_time_ms("1790000000") == ms
    assert parse_time_ms(str(ms)) == ms
    assert parse_time_ms(1790000000) == ms
    assert parse_time_ms("") is None
    with pytest.raises(MalformedEvent):
        parse_time_ms("2026-11-24T12:00:00")  # no zone: ambiguous


def test_event_streams_payload_nested_under_data_payload() -> None:
    body = json.dumps(
        [
            {
                "id": "EZ9",
                "type": "com.twilio.taskrouter.reservation.accepted",
                "time": "2026-11-24T12:00:01Z",
                "data": {"payload": {"task_sid": WT, "reservation_sid": WR, "worker_sid": WK}},
            }
        ]
    ).encode()
    (event,) = parse_event_streams(body)
    assert (event.task_sid, event.reservation_sid, event.worker_sid) == (WT, WR, WK)


def test_a_bad_item_is_skipped_without_costing_the_batch() -> None:
    body = json.dumps(
        [
            {"type": "com.twilio.taskrouter.task.created", "data": 3},
            {"type": "com.twilio.taskrouter.worker.activity.update", "data": {}},
            {
                "type": "com.twilio.taskrouter.reservation.accepted",
                "id": "EV" + "1" * 32,
                "time": "2026-11-20T10:00:00.000Z",
                "data": {"task_sid": "WT" + "a" * 32, "reservation_sid": "WR" + "b" * 32},
            },
        ]
    ).encode()
    batch = parse_event_streams_batch(body)
    assert [e.event_type for e in batch.events] == ["reservation.accepted"]
    assert batch.ignored == 1 and len(batch.malformed) == 1
