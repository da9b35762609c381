"""Flex's own "Call Recording" records the conference.

Since 2025-09-15 it is dual-channel by default (Twilio changelog: channel 1 is the first
participant to join, channel 2 everyone else; mono for accounts with public-key encryption or
external storage), and Flex links it for Insights itself through `conversations.segment_link`
(flex-project-template docs, dual-channel-recording: enabling Call Recording "records the
conference and automatically updates the task attribute `conversations.segment_link`"). A
conference recording carries the `call_sid` it is associated with (OAI
`api.v2010.account.conference.conference_recording.call_sid`) and its `conference_sid`: listed
among a leg's recordings it is still not that leg's recording, and must never be adopted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from contract_twilio import (
    ACCOUNT,
    call_json,
    make_contract,
    recording_json,
    sid,
    taskrouter_form,
)

TASK = sid("WT", 0x601)
RESERVATION = sid("WR", 0x601)
CONFERENCE = sid("CF", 0x601)
CUSTOMER_LEG = sid("CA", 0x6C1)
AGENT_LEG = sid("CA", 0x6A1)
NATIVE = sid("RE", 0x6E1)
CALLER = "+15558675310"
FLEX_NUMBER = "+15005550006"


def _attributes(extra_media: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    url = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{NATIVE}"
    conversations: dict[str, Any] = {"segment_link": url}
    if extra_media:
        conversations["media"] = extra_media
    return {
        "call_sid": CUSTOMER_LEG,
        "direction": "inbound",
        "from": CALLER,
        "to": FLEX_NUMBER,
        "type": "inbound",
        "name": CALLER,
        "conference": {
            "sid": CONFERENCE,
            "participants": {"customer": CUSTOMER_LEG, "worker": AGENT_LEG},
        },
        "conversations": conversations,
    }


@pytest.mark.parametrize("channels", [2, 1])
@pytest.mark.parametrize("copied_entry", [False, True])
def test_flex_conference_recording_is_never_the_customer_leg_recording(
    tmp_path: Path, channels: int, copied_entry: bool
) -> None:
    c = make_contract(tmp_path)
    account = c.account
    account.add_call(call_json(CUSTOMER_LEG, FLEX_NUMBER, CALLER, "inbound"))
    account.add_call(call_json(AGENT_LEG, "client:alice", FLEX_NUMBER, "outbound-api"))
    # The customer joined first, so the conference recording is associated with their leg.
    account.add_recording(
        recording_json(
            NATIVE, CUSTOMER_LEG, channels=channels, source="Conference", conference_sid=CONFERENCE
        )
    )
    media = None
    if copied_entry:
        # Another plugin copied Flex's recording into `conversations.media` (the Insights
        # custom-media schema: type, url, start_time, channels).
        media = [
            {
                "type": "VoiceRecording",
                "url": f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Recordings/{NATIVE}",
                "start_time": 1795000000000,
                "channels": ["customer", "others"],
            }
        ]
    attributes = _attributes(media)
    account.add_task(TASK, attributes, "assigned")
    c.taskrouter(
        taskrouter_form(
            "reservation.accepted", TASK, attributes, "assigned", reservation_sid=RESERVATION
        )
    )
    (created,) = account.http.made("POST", f"/Calls/{CUSTOMER_LEG}/Recordings.json")
    assert created.form["RecordingChannels"] == ["dual"]
    ours = account.recordings[-1]["sid"]
    final = account.attributes(TASK)
    entries = [m for m in final["conversations"]["media"] if m.get("type") == "VoiceRecording"]
    assert entries[0]["url"].endswith(ours)  # what Insights plays
    # A copied entry of Flex's recording is another writer's: it stays, after ours.
    assert [e["url"].rsplit("/", 1)[-1] for e in entries[1:]] == ([NATIVE] if copied_entry else [])
    # Flex's own Insights link is left as Flex wrote it.
    assert final["conversations"]["segment_link"].endswith(NATIVE)
