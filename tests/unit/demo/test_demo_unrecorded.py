"""The soak's verdict on an eligible call left without media (flexrec.demo.unrecorded): Twilio's
loss only where the truth and flexrec's own record show that no start could have kept media."""

from __future__ import annotations

from typing import Any

from flexrec.coverage.facts import KnownLeg, KnownRecording, KnownTarget
from flexrec.demo.unrecorded import LegRecord, capped_by_twilio, unrecorded_verdict

CALL = "CA815a00bb09295665dac2044c0f45e1b4"
CAP = "replacement cap reached (3 of 3): leg left unrecorded"
# Twilio ends the first recording and all three replacements without media (absent 16102,
# failed 16105); at the cap the leg is left unrecorded from 47 s to the hang-up at 62.1 s
# (simulated epoch ms), more than the 10 s a replacement may take.
ENDS = [
    ("RE1", "absent", 0, 3_400, "recording_absent"),
    ("RE2", "absent", 6_800, 10_600, "recording_absent"),
    ("RE3", "failed", 13_400, 42_000, "recording_failed"),
    ("RE4", "absent", 43_000, 47_000, "recording_absent"),
]


def _call(ends: list[tuple[str, str, int, int, str | None]] = ENDS) -> dict[str, Any]:
    recordings, faults = [], []
    for index, (sid, status, start, end, fault) in enumerate(ends):
        recordings.append(
            {"sid": sid, "call_sid": CALL, "status": status, "origin": "api", "channels": 2,
             "start_time_ms": start, "end_time_ms": end}
        )  # fmt: skip
        if fault is not None:
            following = ends[index + 1] if index + 1 < len(ends) else None
            faults.append(
                {"kind": fault, "call_sid": CALL, "party": "customer", "at_ms": end,
                 "recording_sid": sid,
                 "next_recording": following and {"sid": following[0],
                                                  "gap_ms": following[2] - end}}
            )  # fmt: skip
    return {
        "customer_call_sid": CALL,
        "eligible": True,
        "expected_window": {"start_ms": 0, "end_ms": 62_100},
        "recordings": recordings,
        "faults": faults,
        "tasks": [{"task_sid": "WT1"}],
    }


def _record(
    capped: bool = True, statuses: dict[str, str] | None = None, others: tuple[str, ...] = ()
) -> LegRecord:
    statuses = statuses if statuses is not None else {sid: st for sid, st, *_ in ENDS}
    leg = KnownLeg(
        CALL,
        role="customer",
        targets=[KnownTarget("customer", "absent", "WT1", CAP if capped else "error 16101", 3)],
        recordings={
            sid: KnownRecording(sid, status, 16102, by_flexrec=True)
            for sid, status in statuses.items()
        }
        | {sid: KnownRecording(sid, "completed", None, by_flexrec=False) for sid in others},
    )
    return LegRecord.of(leg)


# The agent paused at 16 s and resumed at 40 s (simulated epoch s, the clock's origin 0).
ASKED = {"WT1": [("pause", 16.0), ("resume", 40.0)]}


def test_the_cap_reached_with_every_recording_failed_by_twilio_is_twilios_loss() -> None:
    item = _call()
    # 15 s from the last loss to the hang-up: by the budget alone, a start was due.
    assert unrecorded_verdict(item, [], ASKED) == "lost"
    assert unrecorded_verdict(item, [], ASKED, _record()) == "lost_to_twilio"


def test_a_record_without_the_cap_is_a_loss_flexrec_could_have_prevented() -> None:
    # Replacing stopped short of the cap: flexrec gave up, not Twilio.
    assert unrecorded_verdict(_call(), [], ASKED, _record(capped=False)) == "lost"


def test_every_recording_must_be_one_flexrec_made_and_twilio_ended_without_media() -> None:
    # flexrec's record says one of its recordings completed (it lost the media itself)...
    statuses = {sid: st for sid, st, *_ in ENDS} | {"RE4": "completed"}
    assert not capped_by_twilio(_call(), _record(statuses=statuses))
    # ... or misses one Twilio has on the leg (a start it never stored) ...
    statuses = {sid: st for sid, st, *_ in ENDS[:3]}
    assert not capped_by_twilio(_call(), _record(statuses=statuses))
    # ... or the truth says Twilio never ended one of them without media.
    item = _call()
    item["recordings"][3]["status"] = "completed"
    assert not capped_by_twilio(item, _record())
    assert unrecorded_verdict(item, [], ASKED, _record()) == "lost"


def test_flexrecs_record_counts_only_the_recordings_it_made() -> None:
    record = _record(others=("RE9",))  # another client's recording on the leg
    assert record.capped and [sid for sid, _ in record.recordings] == ["RE1", "RE2", "RE3", "RE4"]
    assert capped_by_twilio(_call(), record)
    assert not capped_by_twilio(_call(), None)


def test_a_replacement_too_late_to_keep_media_leaves_the_loss_with_twilio() -> None:
    # The seed-11 soak: Twilio failed the recording while flexrec was killed; back 2.7 s
    # before the hang-up (9.4 s simulated at x8), it replaced it 0.03 s before the hang-up,
    # and Twilio ended that one absent (16101, too short). Not capped, yet no start could
    # have kept media.
    ends = [("RE1", "failed", 4_000, 50_000, "recording_failed"),
            ("RE2", "absent", 72_000, 72_100, None)]  # fmt: skip
    item = _call(ends)
    item["expected_window"] = {"start_ms": 0, "end_ms": 72_100}
    outages = [(48.0, 62.7)]  # simulated epoch s: killed, answering again
    assert unrecorded_verdict(item, outages, {}, _record(capped=False)) == "lost_to_twilio"
    # Back 20 s before the hang-up: a replacement was due within 10 s of it, and flexrec's.
    assert unrecorded_verdict(item, [(48.0, 52.1)], {}, _record(capped=False)) == "lost"
