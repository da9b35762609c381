"""End to end with the worker-leg policy: one recording per accepted reservation, on the agent's
own leg, linked at reservation level; the customer's leg is never recorded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from flexrec.demo.runner import DemoOptions, execute

pytestmark = pytest.mark.e2e


def _reservation_media(attributes: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    per_reservation = attributes.get("reservation_attributes") or {}
    return {
        sid: [m for m in (value.get("media") or []) if m.get("type") == "VoiceRecording"]
        for sid, value in per_reservation.items()
        if isinstance(value, dict)
    }


def test_worker_leg_policy_records_each_agent_leg_once(tmp_path: Path) -> None:
    score = execute(
        DemoOptions(calls=16, seed=3, service_env={"FLEXREC_LEG": "worker"}),
        tmp_path,
        Console(quiet=True),
    )
    eligible = [item for item in score.truth if item["eligible"]]
    assert eligible
    for item in eligible:
        studio = item["scenario"] == "studio_recorded"
        # A Studio flow's own recording of the customer leg is not the service's doing.
        recordings = [r for r in item["recordings"] if not (studio and r["party"] == "customer")]
        assert all(r["party"] == "worker" for r in recordings), item["scenario"]
        assert all(r["channels"] == 2 for r in recordings)
        per_leg: dict[str, int] = {}
        for recording in recordings:
            per_leg[recording["call_sid"]] = per_leg.get(recording["call_sid"], 0) + 1
        assert all(count == 1 for count in per_leg.values()), (item["scenario"], per_leg)
        connected_worker_legs = [
            leg
            for leg in item["legs"]
            if leg["party"] == "worker" and leg["start_time_ms"] is not None
        ]
        assert len(per_leg) == len(connected_worker_legs), item["scenario"]
        for task in item["tasks"]:
            media = _reservation_media(task["attributes"])
            recorded_sids = {r["sid"] for r in recordings}
            linked = [entries for entries in media.values() if entries]
            assert all(len(entries) == 1 for entries in linked), media
            assert {e[0]["url"].rsplit("/", 1)[-1] for e in linked} <= recorded_sids
            assert len(linked) == len(per_leg), (item["scenario"], media)
            # Task-level media stays empty: a reservation's media overrides it in Insights.
            conversations = task["attributes"].get("conversations") or {}
            assert (
                not [m for m in conversations.get("media", []) if m.get("type") == "VoiceRecording"]
                or item["scenario"] == "studio_recorded"
            )
