"""Transcripts, transcript search and card-data marks through the console API (the sandbox's
sample calls: bob's call 5 and the alice -> carol transfer have a card number and its code read
by the customer, silenced): who may read what, the marks' words, no digit anywhere, and the
silenced stretch not drawn as a pause."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from flexrec.app.sandbox import AGENTS, SUPERVISOR, Sandbox
from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.models import ArchivedRecording
from flexrec.pci.stage import StageResult
from flexrec.pci.store import save_result
from flexrec.transcription.base import Word

ALICE = ("alice", AGENTS["alice"][0])
BOB = ("bob", AGENTS["bob"][0])
DIGIT_WORD = re.compile(r"\d")


def _card_call(sandbox: Sandbox) -> Any:
    return sandbox.calls[5]


def _transfer(sandbox: Sandbox) -> Any:
    return next(c for c in sandbox.calls if len(c.agents_ms) > 1)


def test_the_transcript_has_both_sides_markers_and_the_mark_names_the_agent(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    call = _card_call(sandbox)
    body = client_for(*SUPERVISOR).get(f"/console/api/recordings/{call.recording_sid}/transcript")
    assert body.status_code == 200
    view = body.json()
    assert view["checked"] is True
    assert [(c["channel"], c["role"]) for c in view["channels"]] == [(1, "customer"), (2, "agent")]
    customer = view["channels"][0]["words"]
    markers = [w for w in customer if w[0].startswith("[")]
    assert [m[0] for m in markers] == ["[card number]", "[security code]"]
    assert all(20_000 <= m[1] < m[2] <= 27_000 for m in markers)
    # Words are [word, start_ms, end_ms] in time order, and none is inside the silenced span
    # but the markers.
    for channel in view["channels"]:
        starts = [w[1] for w in channel["words"]]
        assert starts == sorted(starts)
        inside = [w for w in channel["words"] if w[1] < 27_000 and w[2] > 20_000]
        assert all(w[0].startswith("[") for w in inside)
    (mark,) = view["card_data"]
    assert (
        mark["text"] == "Card number spoken while recording, agent bob, 00:20\u201300:26, silenced"
    )
    assert mark["kinds"] == ["card_number", "security_code"]
    assert mark["spoken_by"] == ["customer"]
    assert mark["worker_sid"] == AGENTS["bob"][1]
    assert view["silenced"] == [[20_000, 27_000]]
    # No digit of anything reaches the browser in words (times are numbers, words are words).
    assert not [w for c in view["channels"] for w in c["words"] if DIGIT_WORD.search(w[0])]


def test_after_a_transfer_the_mark_names_the_agent_on_the_call_then(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    call = _transfer(sandbox)
    view = client_for(*ALICE).get(f"/console/api/recordings/{call.recording_sid}/transcript")
    assert view.status_code == 200  # alice took the call, so she may read it
    (mark,) = view.json()["card_data"]
    assert mark["agent"] == "carol" and mark["start_ms"] >= 41_000
    assert mark["text"].startswith("Card number spoken while recording, agent carol, 00:55")


def test_a_silenced_card_number_is_not_drawn_as_a_pause(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    supervisor = client_for(*SUPERVISOR)
    for call in (_card_call(sandbox), _transfer(sandbox)):
        # The analysis found the silenced stretch as digital silence, like a pause...
        assert call.silenced_ms and not call.pauses_ms
        detail = supervisor.get(f"/console/api/recordings/{call.recording_sid}").json()
        # ...the player shows no pause there: it is on the card-data lane instead.
        assert detail["pauses"] == []
    paused = sandbox.calls[0]  # alice's real pause stays a pause
    detail = supervisor.get(f"/console/api/recordings/{paused.recording_sid}").json()
    assert detail["pauses"] == [{"start_ms": 9000, "end_ms": 13000, "paused_ms": 4000}]


def test_an_agent_reads_only_own_transcripts_and_card_data(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    bobs = _card_call(sandbox)
    alice = client_for(*ALICE)
    refused = alice.get(f"/console/api/recordings/{bobs.recording_sid}/transcript")
    assert refused.status_code == 403
    with sandbox.sessions() as session:
        assert session.scalars(
            select(AuditLog).where(
                AuditLog.recording_sid == bobs.recording_sid,
                AuditLog.action == "view_refused",
                AuditLog.actor == "alice",
            )
        ).all()
    mine = alice.get("/console/api/card-data").json()
    assert [c["recording_sid"] for c in mine["calls"]] == [_transfer(sandbox).recording_sid]
    assert mine["per_agent"] == []  # the count per agent is for supervisors
    theirs = client_for(*BOB).get("/console/api/card-data").json()
    assert [c["recording_sid"] for c in theirs["calls"]] == [bobs.recording_sid]
    everything = client_for(*SUPERVISOR).get("/console/api/card-data").json()
    assert everything["total"] == 2
    assert {c["recording_sid"] for c in everything["calls"]} == {
        bobs.recording_sid,
        _transfer(sandbox).recording_sid,
    }
    # Counted per agent on the call when the card was read: carol, not alice who took it.
    assert [(a["agent"], a["readings"], a["calls"]) for a in everything["per_agent"]] == [
        ("bob", 1, 1),
        ("carol", 1, 1),
    ]
    assert "1234" not in json.dumps(everything)


def test_search_finds_what_was_said_only_in_calls_the_caller_may_hear(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    supervisor = client_for(*SUPERVISOR).get(
        "/console/api/transcripts/search", params={"q": "Parcel, ARRIVED!"}
    )
    hits = supervisor.json()["hits"]
    everyone = {h["recording_sid"] for h in hits}
    assert len(everyone) >= 4
    first = hits[0]
    assert first["role"] == "customer" and first["channel"] == 1
    assert "parcel" in first["excerpt"] and isinstance(first["at_ms"], int)
    assert {"started_at", "agent", "queue", "direction"} <= set(first)
    alices = {c.recording_sid for c in sandbox.calls if c.worker_sid == AGENTS["alice"][1]}
    found = client_for(*ALICE).get("/console/api/transcripts/search", params={"q": "parcel"})
    assert {h["recording_sid"] for h in found.json()["hits"]} == everyone & alices
    # What was silenced cannot be found: neither the marker's words nor any digit.
    for query in ("security code", "4111"):
        assert (
            client_for(*SUPERVISOR)
            .get("/console/api/transcripts/search", params={"q": query})
            .json()["hits"]
            == []
        )


def test_an_agent_finds_own_calls_behind_many_newer_calls_of_others(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    """Visibility is in the search's SQL: an agent's calls are not lost behind a page of
    other agents' newer matches (the first version filtered 200 hits after the query)."""
    now = datetime.now(UTC)
    with sandbox.sessions() as session:
        for n in range(210):
            sid = f"RE{0xB0B00000 + n:032x}"
            session.add(
                ArchivedRecording(
                    recording_sid=sid,
                    call_sid=f"CA{0xB0B00000 + n:032x}",
                    storage_key=f"recordings/x/{sid}.wav",
                    state="verified",
                    worker_sid=AGENTS["bob"][1],
                    agent_identity="bob",
                    channels=2,
                    recording_started_at=now + timedelta(minutes=n),
                    created_at=now,
                    updated_at=now,
                )
            )
            save_result(
                session,
                sid,
                StageResult(
                    kept_wav=b"",
                    source_sha256="0" * 64,
                    spans_ms=(),
                    detections=(),
                    transcript={1: [Word("parcel", 0, 300)], 2: []},
                    engine="test",
                    mode="silence",
                    margin_ms=250,
                    audio_s=1.0,
                ),
            )
        session.commit()
    alices = {c.recording_sid for c in sandbox.calls if c.worker_sid == AGENTS["alice"][1]}
    found = client_for(*ALICE).get("/console/api/transcripts/search", params={"q": "parcel"})
    hits = {h["recording_sid"] for h in found.json()["hits"]}
    assert hits and hits <= alices


def test_the_pages_are_there_for_agents_and_supervisors(
    client_for: Callable[..., Any],
) -> None:
    for who in (ALICE, SUPERVISOR):
        client = client_for(*who)
        for path, title in (("/console/search", "What was said"), ("/console/card-data", "Card")):
            page = client.get(path)
            assert page.status_code == 200 and title in page.text
            assert (
                'href="/console/search"' in page.text and 'href="/console/card-data"' in page.text
            )
    assert client_for().get("/console/search", follow_redirects=False).status_code in (
        302,
        303,
        307,
    )
