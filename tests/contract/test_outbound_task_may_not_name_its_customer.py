"""An outbound dialpad task may never name its customer leg.

Whether Flex writes `conference` into an outbound task's attributes depends on the account
(flex-project-template `dual-channel-recording/helpers/dualChannelHelper.ts`: "Outbound calls
initiated from Flex (via StartOutboundCall Action) do not include call_sid and conference
metadata in task attributes"); participant labels are whatever their creator set (Voice docs,
Participant resource: `label` "if one was given"); a conference status callback exists only
if a plugin sets `conferenceStatusCallback`. What Twilio always has is the conference named
after the task (flex-project-template `conference-participant.private.js` `fetchByTask`:
`conferences.list({friendlyName: taskSid, status})`), its participants and their calls.
"""

from __future__ import annotations

from pathlib import Path

from contract_twilio import (
    call_json,
    conference_json,
    make_contract,
    participant_json,
    sid,
    taskrouter_form,
)

TASK = sid("WT", 0x201)
RESERVATION = sid("WR", 0x201)
CONFERENCE = sid("CF", 0x201)
AGENT_LEG = sid("CA", 0x2A1)
CUSTOMER_LEG = sid("CA", 0x2C1)
CUSTOMER = "+15558675310"
FLEX_NUMBER = "+15005550006"

# Source: the attributes Flex's StartOutboundCall gives an outbound task (public Flex plugins
# read exactly these: mobilebiz/plugin-outbound-recording uses `direction === 'outbound'`,
# `from`, `outbound_to`; flex-project-template TaskHelper.isOutboundCallTask), with no
# `conference` and no `call_sid`.
OUTBOUND_ATTRIBUTES = {
    "direction": "outbound",
    "outbound_to": CUSTOMER,
    "from": FLEX_NUMBER,
    "to": CUSTOMER,
    "name": CUSTOMER,
    "type": "outbound",
}


def _agent_leg() -> dict[str, object]:
    # Source: TaskRouter's conference instruction dials the worker's contact_uri; the dialpad
    # add-on's conference callback tells the agent by `call.to.includes('client')`.
    return call_json(AGENT_LEG, "client:alice", FLEX_NUMBER, "outbound-api")


def _customer_leg(status: str = "in-progress") -> dict[str, object]:
    return call_json(CUSTOMER_LEG, CUSTOMER, FLEX_NUMBER, "outbound-api", status)


def test_outbound_customer_leg_is_found_without_attributes_labels_or_callbacks(
    tmp_path: Path,
) -> None:
    c = make_contract(tmp_path)
    account = c.account
    account.add_task(TASK, OUTBOUND_ATTRIBUTES, "assigned")
    account.add_call(_agent_leg())
    account.add_conference(
        conference_json(CONFERENCE, TASK, "in-progress"),
        [participant_json(CONFERENCE, AGENT_LEG, None)],
    )
    accepted = taskrouter_form(
        "reservation.accepted", TASK, OUTBOUND_ATTRIBUTES, "assigned", reservation_sid=RESERVATION
    )
    c.taskrouter(accepted)
    # The customer is still ringing: nothing may be recorded yet, and never the agent's leg.
    assert account.http.made("POST", "/Recordings.json") == []
    assert account.http.made("GET", "/Conferences.json"), "the task's conference was not looked up"
    lookup = account.http.made("GET", "/Conferences.json")[0]
    assert lookup.query["FriendlyName"] == [TASK]
    # The customer answers and joins; no webhook says so (no callback, no attribute write).
    account.add_call(_customer_leg())
    account.participants[CONFERENCE].append(participant_json(CONFERENCE, CUSTOMER_LEG, None))
    c.queue.run_all(max_jobs=50)
    (created,) = account.http.made("POST", "/Recordings.json")
    assert f"/Calls/{CUSTOMER_LEG}/" in created.path
    assert created.form["RecordingChannels"] == ["dual"]
    (entry,) = [m for m in c.media(TASK) if m.get("type") == "VoiceRecording"]
    assert entry["url"].endswith(account.recordings[-1]["sid"])
    assert entry["channels"] == ["customer", "others"]


def test_a_task_that_ends_unanswered_stops_the_search(tmp_path: Path) -> None:
    c = make_contract(tmp_path)
    account = c.account
    account.add_task(TASK, OUTBOUND_ATTRIBUTES, "assigned")
    account.add_call(_agent_leg())
    account.add_conference(
        conference_json(CONFERENCE, TASK, "in-progress"),
        [participant_json(CONFERENCE, AGENT_LEG, None)],
    )
    c.taskrouter(
        taskrouter_form(
            "reservation.accepted",
            TASK,
            OUTBOUND_ATTRIBUTES,
            "assigned",
            reservation_sid=RESERVATION,
        )
    )
    account.tasks[TASK]["status"] = "completed"
    c.taskrouter(
        taskrouter_form(
            "task.completed", TASK, OUTBOUND_ATTRIBUTES, "completed", timestamp=1_795_000_050
        )
    )
    c.queue.run_all(max_jobs=200)
    assert c.queue.pending == []
    assert account.http.made("POST", "/Recordings.json") == []
