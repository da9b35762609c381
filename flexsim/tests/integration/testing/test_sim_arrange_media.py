"""The control API for recordings with a test's own media and for faults per operation: a
completed recording holding given WAV or MP3 bytes, the next requests of one operation failing
or slowed, a recording deleted behind the client's back, and the request log that shows what
was asked. Through the official SDK and over plain HTTP, on a running simulator."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
import soundfile
from twilio.base.exceptions import TwilioRestException

from flexsim import SimRunner, defaults, encode_audio
from flexsim.arrange import ArrangeError
from flexsim.testing import make_wav

CA = "CA" + "c" * 32
RE = "RE" + "e" * 32
MEDIA = "*/Recordings/RE*.wav"


def media_url(sid: str, fmt: str = "wav") -> str:
    return (
        f"https://api.twilio.com/2010-04-01/Accounts/{defaults.ACCOUNT_SID}/Recordings/{sid}.{fmt}"
    )


def download(client: Any, sid: str, fmt: str = "wav", channels: int = 2) -> tuple[int, bytes]:
    auth = (client.username, client.password)
    status, body = client.http_client.download(
        media_url(sid, fmt), {"RequestedChannels": str(channels)}, auth
    )
    return int(status), bytes(body)


def test_a_completed_recording_serves_the_media_it_was_given(
    flexsim: SimRunner, flexsim_client: Any
) -> None:
    wav = make_wav(duration_s=3.0)
    arrange = flexsim.arrange
    arrange.next_sids(CA, RE)
    call = arrange.call(from_="+15550001111", to="+15005550006", status="completed")
    made = arrange.completed_recording(wav, call_sid=call.sid, start_time="2026-03-04T10:00:00Z")

    assert (call.sid, made.sid, made.status, made.channels) == (CA, RE, "completed", 2)
    fetched = flexsim_client.recordings(RE).fetch()
    assert (fetched.status, fetched.duration, fetched.channels, fetched.call_sid) == (
        "completed",
        "3",
        2,
        CA,
    )
    assert fetched.start_time.isoformat() == "2026-03-04T10:00:00+00:00"
    assert [r.sid for r in flexsim_client.calls(CA).recordings.list()] == [RE]
    assert download(flexsim_client, RE) == (200, wav)  # the very bytes
    # Asked as MP3, or as one mixed channel, it is converted as Twilio would serve it.
    status, mp3 = download(flexsim_client, RE, "mp3")
    assert status == 200 and soundfile.info(io.BytesIO(mp3)).format == "MP3"
    status, mono = download(flexsim_client, RE, channels=1)
    info = soundfile.info(io.BytesIO(mono))
    assert (status, info.channels, round(info.duration)) == (200, 1, 3)


def test_mp3_media_mono_and_a_conference_recording(flexsim: SimRunner, flexsim_client: Any) -> None:
    arrange = flexsim.arrange
    customer = arrange.call(from_="+15550001111", to="+15005550006")
    agent = arrange.worker("ada")
    leg = arrange.call(from_="+15005550006", to="client:ada", worker_sid=agent)
    task = arrange.task({"call_sid": customer.sid}, status="assigned", worker_sid=agent)
    conference = arrange.conference(task.sid, {customer.sid: "customer", leg.sid: "worker"})
    samples, _ = soundfile.read(io.BytesIO(make_wav(duration_s=4.0, channels=1)), dtype="int16",
                                always_2d=True)  # fmt: skip
    mp3 = encode_audio(samples, "mp3")

    made = arrange.completed_recording(mp3, conference_sid=conference.sid, source="Conference")

    assert (made.call_sid, made.conference_sid, made.channels) == (
        customer.sid,
        conference.sid,
        1,
    )
    (listed,) = flexsim_client.conferences(conference.sid).recordings.list()
    assert (listed.sid, listed.status, listed.duration) == (made.sid, "completed", "4")
    assert download(flexsim_client, made.sid, "mp3", channels=1) == (200, mp3)
    status, wav = download(flexsim_client, made.sid, "wav", channels=1)
    assert status == 200 and soundfile.info(io.BytesIO(wav)).channels == 1
    # A mono recording has no dual-channel presentation (Twilio's 16113).
    assert download(flexsim_client, made.sid, channels=2)[0] == 400


def test_media_is_newest_first_and_arrangements_refuse_what_twilio_would_not_hold(
    flexsim: SimRunner, flexsim_client: Any
) -> None:
    arrange = flexsim.arrange
    older = arrange.completed_recording(make_wav(), start_time=1_700_000_000)
    newer = arrange.completed_recording(make_wav(), start_time=1_700_000_600)
    oldest = arrange.completed_recording(make_wav(), start_time=1_600_000_000)
    assert [r.sid for r in flexsim_client.recordings.list()] == [newer.sid, older.sid, oldest.sid]
    # Bytes that are no sound file are served as they are when the resource facts are given.
    junk = arrange.completed_recording(b"<html>oops</html>", channels=2, duration_s=5)
    assert download(flexsim_client, junk.sid) == (200, b"<html>oops</html>")
    assert flexsim_client.recordings(junk.sid).fetch().duration == "5"
    with pytest.raises(ArrangeError, match="not a WAV or MP3"):
        arrange.completed_recording(b"<html>oops</html>")
    with pytest.raises(ArrangeError, match="no call"):
        arrange.completed_recording(make_wav(), call_sid=CA)
    with pytest.raises(ArrangeError, match="already in use"):
        arrange.next_sids(older.sid)
    with pytest.raises(ArrangeError, match="not a SID"):
        arrange.next_sids("RE123")


def test_faults_per_operation_and_a_recording_that_vanishes(
    flexsim: SimRunner, flexsim_client: Any
) -> None:
    arrange = flexsim.arrange
    wav = make_wav()
    sid = arrange.completed_recording(wav).sid
    arrange.fault_next("GET", MEDIA, status=503, times=2)
    arrange.fault_next("DELETE", "*/Recordings/RE*.json", status=500, code=20500)
    arrange.fault_next("GET", "*/Recordings/RE*.json", delay_s=0.05)  # latency only

    assert [download(flexsim_client, sid)[0] for _ in range(3)] == [503, 503, 200]
    assert flexsim_client.recordings(sid).fetch().sid == sid  # slowed, then served
    with pytest.raises(TwilioRestException) as failed:
        flexsim_client.recordings(sid).delete()
    assert (failed.value.status, failed.value.code) == (500, 20500)
    arrange.delete_recording(sid)  # someone else deletes it meanwhile
    with pytest.raises(TwilioRestException) as gone:
        flexsim_client.recordings(sid).delete()
    assert gone.value.status == 404
    assert download(flexsim_client, sid)[0] == 404

    log = flexsim.request_log
    assert [e.status for e in log.entries("GET", MEDIA)] == [503, 503, 200, 404]
    assert [e.status for e in log.entries("DELETE")] == [500, 404]
    assert log.count("GET", "*/Recordings/RE*.json") == 1
    with pytest.raises(ArrangeError, match="status, a delay"):
        arrange.fault_next("GET", MEDIA)


def test_the_same_over_http(flexsim: SimRunner) -> None:
    wav = make_wav(duration_s=2.0)
    auth = (defaults.ACCOUNT_SID, defaults.AUTH_TOKEN)
    with httpx.Client(base_url=flexsim.base_url, timeout=10, auth=auth) as http:
        assert http.post("/_sim/arrange/sids", json={"sids": [RE]}).json() == {"sids": [RE]}
        made = http.post(
            "/_sim/arrange/recordings/completed",
            json={"media": base64.b64encode(wav).decode(), "start_time": 1_700_000_000},
        )
        assert made.status_code == 200, made.text
        assert (made.json()["sid"], made.json()["status"]) == (RE, "completed")
        path = f"/2010-04-01/Accounts/{defaults.ACCOUNT_SID}/Recordings/{RE}"
        fault = {"method": "GET", "path": MEDIA, "status": 429, "code": 20429, "times": 1}
        scripted = http.post("/_sim/arrange/faults", json=fault).json()["scripted"]
        assert scripted == [{**fault, "delay_s": 0.0}]
        assert http.get("/_sim/faults").json()["scripted"] == scripted
        limited = http.get(f"{path}.wav")
        assert (limited.status_code, limited.json()["code"]) == (429, 20429)
        assert http.get(f"{path}.wav").content == wav
        assert http.post(f"/_sim/arrange/recordings/{RE}/delete").json()["sid"] == RE
        assert http.get(f"{path}.json").status_code == 404
        # A recording Twilio has ended but not processed yet: no media so far.
        call = http.post("/_sim/arrange/calls", json={"from": "+15550001", "to": "+15550002"})
        running = http.post("/_sim/arrange/recordings", json={"call_sid": call.json()["sid"]})
        ended = http.post(
            f"/_sim/arrange/recordings/{running.json()['sid']}/end", json={"status": "processing"}
        )
        assert ended.json()["status"] == "processing"
        waiting = f"/2010-04-01/Accounts/{defaults.ACCOUNT_SID}/Recordings/{ended.json()['sid']}"
        assert http.get(f"{waiting}.json").json()["status"] == "processing"
        assert http.get(f"{waiting}.wav").status_code == 404
        logged = http.get("/_sim/requests", params={"method": "GET", "path": MEDIA}).json()
        assert [r["status"] for r in logged["requests"]] == [429, 200, 404]
        # Bad requests are 400 with the reason, and change nothing.
        bad = [
            ("/_sim/arrange/recordings/completed", {"media": "not base64!"}),
            ("/_sim/arrange/recordings/completed", {"media": base64.b64encode(b"x").decode()}),
            ("/_sim/arrange/sids", {"sids": "RE1"}),
            ("/_sim/arrange/faults", {"method": "GET", "path": MEDIA}),
            ("/_sim/arrange/faults", {"method": "GET", "path": MEDIA, "status": 200}),
        ]
        for route, body in bad:
            assert http.post(route, json=body).status_code == 400, (route, body)
        assert http.get("/_sim/faults").json()["scripted"] == []
