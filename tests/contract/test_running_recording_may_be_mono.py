"""A recording already running on the customer leg may be mono.

The Recording API's default is mono (OAI `CreateCallRecording.RecordingChannels`: default
`mono`), and so is whatever a Studio flow's "Call Recording" widget was set to. Only the leg's
own dual-channel recording is adopted; otherwise flexrec makes its own dual recording and links
that one. A `VoiceRecording` entry already in `conversations.media` proves nothing by itself:
flexrec's entry goes first (Insights plays the first) and the other writer's stays after it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contract_twilio import (
    ACCOUNT,
    Contract,
    call_json,
    make_contract,
    recording_json,
    sid,
    taskrouter_form,
)

TASK = sid("WT", 0x501)
RESERVATION = sid("WR", 0x501)
CONFERENCE = sid("CF", 0x501)
CUSTOMER_LEG = sid("CA", 0x5C1)
AGENT_LEG = sid("CA", 0x5A1)
STUDIO_RECORDING = sid("RE", 0x5E1)
CALLER = "+15558675310"
FLEX_NUMBER = "+15005550006"


def studio_attributes(recording_sid: str) -> dict[str, Any]:
    """Source: Flex docs "Turn on dual-channel recording" / Studio "Call Recording" widget:
    Send To Flex attributes with `conversations.media[0]` (url from the widget's AccountSid and
    Sid, ISO 8601 `start_time`, channels `["customer","others"]`), plus the inbound call
    attributes Flex gives a voice task (`call_sid`, `direction`, `from`, `to`, ...)."""
    return {
        "call_sid": CUSTOMER_LEG,
        "direction": "inbound",
        "from": CALLER,
        "to": FLEX_NUMBER,
        "caller": CALLER,
        "called": FLEX_NUMBER,
        "type": "inbound",
        "name": CALLER,
        "conversations": {
            "media": [
                {
                    "url": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/"
                    f"{recording_sid}",
                    "type": "VoiceRecording",
                    "start_time": "2026-11-24T11:59:58.000Z",
                    "channels": ["customer", "others"],
                }
            ]
        },
    }


def _accept(c: Contract, attributes: dict[str, Any]) -> None:
    # Source: TaskRouter events reference; on accept TaskRouter writes the conference and its
    # participants into the attributes of an inbound task (research §4.6).
    accepted = {
        **attributes,
        "conference": {
            "sid": CONFERENCE,
            "participants": {"customer": CUSTOMER_LEG, "worker": AGENT_LEG},
        },
    }
    c.account.add_task(TASK, accepted, "assigned")
    c.taskrouter(taskrouter_form("task.created", TASK, attributes, "pending"))
    c.taskrouter(
        taskrouter_form(
            "reservation.accepted",
            TASK,
            accepted,
            "assigned",
            reservation_sid=RESERVATION,
            timestamp=1_795_000_010,
        )
    )


def _contract(tmp_path: Path, studio_channels: int | None) -> Contract:
    c = make_contract(tmp_path)
    c.account.add_call(call_json(CUSTOMER_LEG, FLEX_NUMBER, CALLER, "inbound"))
    c.account.add_call(call_json(AGENT_LEG, "client:alice", FLEX_NUMBER, "outbound-api"))
    if studio_channels is not None:
        c.account.add_recording(
            recording_json(
                STUDIO_RECORDING,
                CUSTOMER_LEG,
                channels=studio_channels,
                source="StartCallRecordingAPI",
            )
        )
    return c


def test_a_mono_studio_recording_is_not_adopted(tmp_path: Path) -> None:
    c = _contract(tmp_path, studio_channels=1)
    _accept(c, studio_attributes(STUDIO_RECORDING))
    (created,) = c.account.http.made("POST", f"/Calls/{CUSTOMER_LEG}/Recordings.json")
    assert created.form["RecordingChannels"] == ["dual"]
    ours = c.account.recordings[-1]["sid"]
    first, studio = [m for m in c.media(TASK) if m.get("type") == "VoiceRecording"]
    assert first["url"].endswith(ours) and ours != STUDIO_RECORDING
    assert studio["url"].endswith(STUDIO_RECORDING)  # Studio's own entry stays, after ours


def test_a_dual_studio_recording_is_adopted(tmp_path: Path) -> None:
    c = _contract(tmp_path, studio_channels=2)
    _accept(c, studio_attributes(STUDIO_RECORDING))
    assert c.account.http.made("POST", "/Recordings.json") == []
    (entry,) = [m for m in c.media(TASK) if m.get("type") == "VoiceRecording"]
    assert entry["url"].endswith(STUDIO_RECORDING)


@pytest.mark.parametrize(
    "linked",
    [
        sid("RE", 0x5F1),  # a copied entry: a recording of another call (not on this leg)
        STUDIO_RECORDING,  # a Studio entry whose recording is not running on the leg
    ],
)
def test_a_media_entry_alone_does_not_mean_the_leg_is_recorded(tmp_path: Path, linked: str) -> None:
    c = _contract(tmp_path, studio_channels=None)
    _accept(c, studio_attributes(linked))
    (created,) = c.account.http.made("POST", f"/Calls/{CUSTOMER_LEG}/Recordings.json")
    assert created.form["RecordingChannels"] == ["dual"]
    first, other = [m for m in c.media(TASK) if m.get("type") == "VoiceRecording"]
    assert first["url"].endswith(c.account.recordings[-1]["sid"])
    assert other["url"].endswith(linked)  # the other writer's entry stays, after ours
