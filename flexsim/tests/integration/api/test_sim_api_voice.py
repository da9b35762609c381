"""Voice API behaviour of the simulator: recordings, pause semantics, 21220, hang-ups, media."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import httpx
import pytest

from flexsim.world import WorldEvent

if TYPE_CHECKING:
    from sim_api_support import Scenario

Path = Callable[[str], str]


def _start(api: httpx.Client, account_path: Path, call_sid: str, **form: str) -> dict[str, object]:
    response = api.post(account_path(f"/Calls/{call_sid}/Recordings.json"), data=form)
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


def test_recording_create_maps_channels_track_and_callback_events(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    response = api.post(
        account_path(f"/Calls/{scenario.customer_sid}/Recordings.json"),
        data={
            "RecordingChannels": "dual",
            "RecordingTrack": "both",
            "RecordingStatusCallback": "https://service.example/webhooks/recording-status",
            "RecordingStatusCallbackEvent": ["in-progress completed", "absent failed"],
            "Trim": "do-not-trim",
        },
    )
    assert response.status_code == 201
    body = response.json()
    recording = scenario.world.recordings[body["sid"]]
    assert (body["channels"], body["status"], body["duration"]) == (2, "in-progress", "-1")
    assert recording.status_callback == "https://service.example/webhooks/recording-status"
    assert recording.status_callback_events == ("in-progress", "completed", "absent", "failed")
    assert recording.origin == "api"  # a client's recording: interference may end it early
    assert body["start_time"] == "Wed, 18 Nov 2026 11:06:45 +0000"  # START_EPOCH + 5 s
    assert body["uri"].endswith(f"/Calls/{scenario.customer_sid}/Recordings/{body['sid']}.json")


def test_recording_defaults_to_mono_and_a_second_start_makes_a_second_recording(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    first = _start(api, account_path, scenario.customer_sid)
    second = _start(api, account_path, scenario.customer_sid, RecordingChannels="dual")
    assert first["channels"] == 1
    assert second["channels"] == 2
    assert second["sid"] != first["sid"]
    assert len(scenario.world.recordings) == 2


def test_a_second_start_can_reuse_the_running_recording(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    scenario.world.second_recording = "reuse"
    first = _start(api, account_path, scenario.customer_sid)
    second = _start(api, account_path, scenario.customer_sid, RecordingChannels="dual")
    assert second["sid"] == first["sid"]
    assert len(scenario.world.recordings) == 1


@pytest.mark.parametrize("which", ["ringing_sid", "ended_sid"])
def test_recording_a_call_not_in_progress_is_21220_and_records_nothing(
    api: httpx.Client, scenario: Scenario, account_path: Path, which: str
) -> None:
    call_sid = getattr(scenario, which)
    response = api.post(account_path(f"/Calls/{call_sid}/Recordings.json"))
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 21220
    assert body["message"] == "Invalid call state"
    assert body["more_info"] == "https://www.twilio.com/docs/errors/21220"
    assert scenario.world.recordings == {}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RecordingChannels", "stereo"),
        ("RecordingTrack", "sideways"),
        ("RecordingStatusCallbackEvent", "started"),
        ("RecordingStatusCallbackMethod", "PUT"),
        ("RecordingStatusCallback", "not a url"),
        ("Trim", "yes"),
    ],
)
def test_malformed_recording_parameters_are_400_and_record_nothing(
    api: httpx.Client, scenario: Scenario, account_path: Path, name: str, value: str
) -> None:
    response = api.post(
        account_path(f"/Calls/{scenario.customer_sid}/Recordings.json"), data={name: value}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 20001
    assert name in response.json()["message"]
    assert scenario.world.recordings == {}


def test_pause_with_twilio_current_records_skip_and_silence_spans(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    world = scenario.world
    started = _start(api, account_path, scenario.customer_sid, RecordingChannels="dual")
    current = account_path(f"/Calls/{scenario.customer_sid}/Recordings/Twilio.CURRENT.json")
    world.clock.advance(10)
    paused = api.post(current, data={"Status": "paused"})  # default PauseBehavior: silence
    world.clock.advance(4)
    api.post(current, data={"Status": "in-progress"})
    world.clock.advance(10)
    api.post(current, data={"Status": "paused", "PauseBehavior": "skip"})
    world.clock.advance(6)
    api.post(current, data={"Status": "in-progress"})
    world.clock.advance(10)
    stopped = api.post(current, data={"Status": "stopped"})

    assert paused.json()["status"] == "paused"
    assert paused.json()["sid"] == started["sid"]
    recording = world.recordings[str(started["sid"])]
    assert [(p.behavior, p.end - p.start if p.end else None) for p in recording.pauses] == [
        ("silence", 4),
        ("skip", 6),
    ]
    # 40 s elapsed; only the skipped 6 s are missing from the media.
    assert stopped.json()["status"] == "completed"
    assert stopped.json()["duration"] == "34"


def test_twilio_current_without_a_running_recording_is_404_then_21220_once_ended(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    live = account_path(f"/Calls/{scenario.customer_sid}/Recordings/Twilio.CURRENT.json")
    ended = account_path(f"/Calls/{scenario.ended_sid}/Recordings/Twilio.CURRENT.json")
    assert api.post(live, data={"Status": "paused"}).json()["code"] == 20404
    assert api.post(ended, data={"Status": "paused"}).json()["code"] == 21220


def test_update_without_status_is_400(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    sid = _start(api, account_path, scenario.customer_sid)["sid"]
    url = account_path(f"/Calls/{scenario.customer_sid}/Recordings/{sid}.json")
    response = api.post(url, data={"PauseBehavior": "skip"})
    assert response.status_code == 400
    assert scenario.world.recordings[str(sid)].status == "in-progress"


def test_hanging_up_completes_the_call_its_recording_and_leaves_the_conference(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    world = scenario.world
    sid = _start(api, account_path, scenario.customer_sid)["sid"]
    world.clock.advance(12)
    response = api.post(
        account_path(f"/Calls/{scenario.customer_sid}.json"), data={"Status": "completed"}
    )
    assert response.status_code == 200
    assert response.json()["status"] == "completed"
    assert response.json()["duration"] == "17"  # answered 5 s before the scenario ended
    assert world.recordings[str(sid)].status == "completed"
    participant = world.conferences[scenario.conference_sid].participants[scenario.customer_sid]
    assert participant.status == "completed"


def test_hanging_up_a_ringing_call_cancels_it_and_redirecting_an_ended_call_is_21220(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    response = api.post(
        account_path(f"/Calls/{scenario.ringing_sid}.json"), data={"Status": "completed"}
    )
    assert response.json()["status"] == "canceled"
    redirect = api.post(
        account_path(f"/Calls/{scenario.ended_sid}.json"), data={"Twiml": "<Response/>"}
    )
    assert redirect.json()["code"] == 21220


def test_calls_list_filters_and_pages_newest_first(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    seen: list[str] = []
    url: str | None = account_path("/Calls.json?PageSize=2")
    while url:
        page = api.get(url).json()
        assert page["page_size"] == 2
        seen += [c["sid"] for c in page["calls"]]
        url = page["next_page_uri"]
    assert seen == list(reversed(scenario.world.calls))
    in_progress = api.get(account_path("/Calls.json"), params={"Status": "in-progress"}).json()
    assert {c["sid"] for c in in_progress["calls"]} == {
        scenario.customer_sid,
        scenario.worker_call_sid,
    }
    to_alice = api.get(account_path("/Calls.json"), params={"To": "client:alice"}).json()
    assert [c["sid"] for c in to_alice["calls"]] == [scenario.worker_call_sid]


def test_deleted_recording_is_404_and_listed_as_deleted_only_on_request(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    sid = _start(api, account_path, scenario.customer_sid)["sid"]
    assert api.delete(account_path(f"/Recordings/{sid}.json")).status_code == 204
    assert api.get(account_path(f"/Recordings/{sid}.json")).json()["code"] == 20404
    assert api.get(account_path("/Recordings.json")).json()["recordings"] == []
    soft = api.get(account_path("/Recordings.json"), params={"IncludeSoftDeleted": "true"})
    assert [(r["sid"], r["status"]) for r in soft.json()["recordings"]] == [(sid, "deleted")]


def test_account_recordings_filter_by_call_and_day(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    first = _start(api, account_path, scenario.customer_sid)["sid"]
    second = _start(api, account_path, scenario.worker_call_sid)["sid"]
    by_call = api.get(account_path("/Recordings.json"), params={"CallSid": scenario.customer_sid})
    assert [r["sid"] for r in by_call.json()["recordings"]] == [first]
    today = api.get(account_path("/Recordings.json"), params={"DateCreated": "2026-11-18"})
    assert [r["sid"] for r in today.json()["recordings"]] == [second, first]
    before = api.get(account_path("/Recordings.json"), params={"DateCreated<": "2026-11-17"})
    assert before.json()["recordings"] == []
    bad = api.get(account_path("/Recordings.json"), params={"DateCreated": "yesterday"})
    assert bad.status_code == 400


def test_media_is_rendered_per_format_and_requested_channels(
    api: httpx.Client,
    scenario: Scenario,
    account_path: Path,
    fake_media: list[tuple[str, str, int | None]],
) -> None:
    sid = str(_start(api, account_path, scenario.customer_sid, RecordingChannels="dual")["sid"])
    assert api.get(account_path(f"/Recordings/{sid}.wav")).json()["code"] == 20404  # running
    scenario.world.clock.advance(30)
    scenario.world.finish_recording(scenario.world.recordings[sid])

    wav = api.get(account_path(f"/Recordings/{sid}.wav"), params={"RequestedChannels": "2"})
    mp3 = api.get(account_path(f"/Recordings/{sid}.mp3"))
    bare = api.get(account_path(f"/Recordings/{sid}"))
    meta = api.get(account_path(f"/Recordings/{sid}.json"))

    assert (wav.headers["content-type"], wav.content) == ("audio/x-wav", f"wav:{sid}:2".encode())
    assert (mp3.headers["content-type"], mp3.content) == ("audio/mpeg", f"mp3:{sid}:None".encode())
    assert bare.headers["content-type"] == "audio/x-wav"
    assert meta.json()["media_url"].endswith(f"/Recordings/{sid}")
    assert fake_media == [(sid, "wav", 2), (sid, "mp3", None), (sid, "wav", None)]
    assert api.get(account_path(f"/Recordings/{sid}.wav?RequestedChannels=3")).status_code == 400


def test_conference_end_hangs_up_everyone(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    events: list[WorldEvent] = []
    scenario.world.subscribe(events.append)
    response = api.post(
        account_path(f"/Conferences/{scenario.conference_sid}.json"), data={"Status": "completed"}
    )
    assert response.json()["status"] == "completed"
    assert response.json()["reason_conference_ended"] == "conference-ended-via-api"
    calls = scenario.world.calls
    assert calls[scenario.customer_sid].status == calls[scenario.worker_call_sid].status
    assert calls[scenario.customer_sid].status == "completed"
    names = [e.name for e in events if e.kind == "conference"]
    assert names == ["participant-leave", "participant-leave", "conference-end"]
    listed = api.get(account_path(f"/Conferences/{scenario.conference_sid}/Participants.json"))
    assert listed.json()["participants"] == []


def test_participant_hold_and_mute_go_through_the_world(
    api: httpx.Client, scenario: Scenario, account_path: Path
) -> None:
    events: list[WorldEvent] = []
    scenario.world.subscribe(events.append)
    url = account_path(
        f"/Conferences/{scenario.conference_sid}/Participants/{scenario.customer_sid}.json"
    )
    body = api.post(url, data={"Hold": "true", "Muted": "true"}).json()
    assert (body["hold"], body["muted"], body["label"]) == (True, True, "customer")
    assert [e.name for e in events] == ["participant-hold", "participant-mute"]
    by_label = account_path(f"/Conferences/{scenario.conference_sid}/Participants/worker.json")
    assert api.get(by_label).json()["call_sid"] == scenario.worker_call_sid
    assert api.post(url, data={"Hold": "maybe"}).status_code == 400
