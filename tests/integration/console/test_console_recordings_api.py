"""The recordings list and one call through the console API: visibility, filters, media, audit."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from console_client_helpers import csrf_of
from sqlalchemy import func, select

from flexrec.app.sandbox import AGENTS, SUPERVISOR, Sandbox
from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.models import ArchivedRecording
from flexrec.archive.waveform import MEDIA_TYPE as WAVEFORM_TYPE
from flexrec.archive.waveform import decode_waveform
from flexrec.db.models import PauseEvent, RecordingTarget, ReservationRecord

ALICE = ("alice", AGENTS["alice"][0])
BOB = ("bob", AGENTS["bob"][0])


def _sids(client: Any, **params: Any) -> list[str]:
    response = client.get("/console/api/recordings", params={"page_size": 100, **params})
    assert response.status_code == 200, response.text
    return [item["recording_sid"] for item in response.json()["items"]]


def _calls_of(sandbox: Sandbox, worker: str) -> set[str]:
    return {c.recording_sid for c in sandbox.calls if c.worker_sid == worker}


def test_supervisor_sees_every_recording_newest_first(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    body = client_for(*SUPERVISOR).get("/console/api/recordings").json()
    assert body["total"] == len(sandbox.calls)
    started = [item["started_at"] for item in body["items"]]
    assert started == sorted(started, reverse=True)


def test_agents_see_only_their_own_calls(client_for: Callable[..., Any], sandbox: Sandbox) -> None:
    alice = client_for(*ALICE)
    mine = _calls_of(sandbox, AGENTS["alice"][1])
    assert set(_sids(alice)) == mine
    others = [c.recording_sid for c in sandbox.calls if c.recording_sid not in mine]
    for sid in others:
        assert alice.get(f"/console/api/recordings/{sid}").status_code == 403
        assert alice.get(f"/console/api/recordings/{sid}/waveform").status_code == 403
        assert alice.get(f"/console/recordings/{sid}").status_code == 403
        response = alice.post(
            f"/console/api/recordings/{sid}/media-url",
            json={"purpose": "play"},
            headers={"X-CSRF-Token": csrf_of(alice)},
        )
        assert response.status_code == 403
    own = next(iter(mine))
    assert alice.get(f"/console/api/recordings/{own}").status_code == 200
    assert alice.get(f"/console/recordings/{own}").status_code == 200


def test_a_reservation_on_the_task_makes_a_transferred_call_visible(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    bobs_call = next(c for c in sandbox.calls if c.worker_sid == AGENTS["bob"][1])
    now = datetime.now(UTC)
    with sandbox.sessions() as session:
        session.add_all(
            [
                RecordingTarget(
                    leg_key=f"customer:{bobs_call.call_sid}",
                    call_sid=bobs_call.call_sid,
                    leg="customer",
                    task_sid=bobs_call.task_sid,
                    state="completed",
                    recording_sid=bobs_call.recording_sid,
                    created_at=now,
                    updated_at=now,
                ),
                # Alice took the transferred call on the same task.
                ReservationRecord(
                    sid="WR" + "7" * 32,
                    task_sid=bobs_call.task_sid,
                    worker_sid=AGENTS["alice"][1],
                    status="completed",
                    updated_at=now,
                ),
                # A reservation she rejected must not count.
                ReservationRecord(
                    sid="WR" + "8" * 32,
                    task_sid="WT" + "9" * 32,
                    worker_sid=AGENTS["alice"][1],
                    status="rejected",
                    updated_at=now,
                ),
            ]
        )
        session.commit()
    alice = client_for(*ALICE)
    assert bobs_call.recording_sid in _sids(alice)
    assert alice.get(f"/console/api/recordings/{bobs_call.recording_sid}").status_code == 200


def test_unknown_and_malformed_sids_are_404(client_for: Callable[..., Any]) -> None:
    client = client_for(*SUPERVISOR)
    assert client.get("/console/api/recordings/RE" + "f" * 32).status_code == 404
    assert client.get("/console/api/recordings/not-a-sid").status_code == 404
    assert client.get("/console/recordings/RE" + "f" * 32).status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "ca11"}, lambda c: c.call_sid.endswith("ca11")),
        ({"q": "+15550100003"}, lambda c: c.customer_number == "+15550100003"),
        ({"agent": "bob"}, lambda c: c.agent == "bob"),
        ({"queue": "billing"}, lambda c: c.queue == "Billing"),
        ({"direction": "outbound"}, lambda c: c.direction == "outbound"),
        ({"date_from": "2026-11-21", "date_to": "2026-11-21"}, lambda c: c.started_at.day == 21),
        ({"min_duration_s": 40}, lambda c: c.duration_ms >= 40_000),
        ({"max_duration_s": 31}, lambda c: c.duration_ms <= 31_000),
    ],
)
def test_metadata_filters(
    client_for: Callable[..., Any],
    sandbox: Sandbox,
    params: dict[str, Any],
    expected: Callable[[Any], bool],
) -> None:
    wanted = {c.recording_sid for c in sandbox.calls if expected(c)}
    assert wanted, "the sample data must exercise the filter"
    assert wanted != {c.recording_sid for c in sandbox.calls}, "the filter must exclude some"
    assert set(_sids(client_for(*SUPERVISOR), **params)) == wanted


@pytest.mark.parametrize(
    ("low", "high", "field"),
    [
        ("min_talk_ratio", "max_talk_ratio", "talk_ratio"),
        ("min_silence_pct", "max_silence_pct", "silence_pct"),
        ("min_cross_talk_pct", "max_cross_talk_pct", "cross_talk_pct"),
        ("min_interruptions", "max_interruptions", "interruptions"),
    ],
)
def test_metric_filters_and_sorting(
    client_for: Callable[..., Any], low: str, high: str, field: str
) -> None:
    client = client_for(*SUPERVISOR)
    everything = client.get("/console/api/recordings", params={"page_size": 100}).json()["items"]
    values = sorted(item[field] for item in everything)
    # A threshold between two distinct values, clear of the API's display rounding.
    k = next(i for i in range(len(values) // 2, len(values)) if values[i] > values[i - 1])
    threshold = (values[k - 1] + values[k]) / 2
    if field == "interruptions":
        threshold = values[k]
    above = {i["recording_sid"] for i in everything if i[field] >= threshold}
    below = {i["recording_sid"] for i in everything if i[field] <= threshold}
    assert 0 < len(above) < len(everything)
    assert set(_sids(client, **{low: threshold})) == above
    assert set(_sids(client, **{high: threshold})) == below
    sort_key = {"talk_ratio": "talk_ratio", "silence_pct": "silence"}.get(field, field)
    sort_key = {"cross_talk_pct": "cross_talk"}.get(field, sort_key)
    items = client.get(
        "/console/api/recordings", params={"sort": sort_key, "page_size": 100}
    ).json()["items"]
    assert [i[field] for i in items] == values


def test_paging(client_for: Callable[..., Any], sandbox: Sandbox) -> None:
    client = client_for(*SUPERVISOR)
    first = client.get("/console/api/recordings", params={"page_size": 4}).json()
    second = client.get("/console/api/recordings", params={"page_size": 4, "page": 2}).json()
    assert first["total"] == second["total"] == len(sandbox.calls)
    sids = [i["recording_sid"] for i in first["items"] + second["items"]]
    assert len(sids) == len(set(sids)) == len(sandbox.calls)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"sort": "password"}, 400),
        ({"direction": "sideways"}, 422),
        ({"min_silence_pct": 101}, 422),
        ({"page": 0}, 422),
        ({"date_from": "yesterday"}, 422),
    ],
)
def test_bad_list_parameters_are_4xx(
    client_for: Callable[..., Any], params: dict[str, Any], status: int
) -> None:
    assert client_for(*SUPERVISOR).get("/console/api/recordings", params=params).status_code == (
        status
    )


def test_detail_has_channels_metrics_segments_and_pauses(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    call = sandbox.calls[0]
    detail = client_for(*SUPERVISOR).get(f"/console/api/recordings/{call.recording_sid}").json()
    assert detail["channels"] == ["customer", "agent"]
    assert detail["pauses"] == [{"start_ms": 9000, "end_ms": 13000, "paused_ms": 4000}]
    assert {s["channel"] for s in detail["segments"]} == {"agent", "customer"}
    assert detail["metrics"]["agent_talk_ms"] == sum(
        t.end_ms - t.start_ms for t in call.turns if t.speaker == "agent"
    )


def test_pauses_come_from_pause_events_when_the_archive_has_none(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    call = sandbox.calls[1]
    with sandbox.sessions() as session:
        for action, result, second in (("pause", "paused", 3), ("resume", "recording", 5)):
            session.add(
                PauseEvent(
                    task_sid=call.task_sid,
                    recording_sid=call.recording_sid,
                    actor="bob",
                    action=action,
                    result=result,
                    created_at=call.started_at.replace(second=second),
                )
            )
        session.commit()
    detail = client_for(*SUPERVISOR).get(f"/console/api/recordings/{call.recording_sid}").json()
    assert detail["pauses"] == [{"start_ms": 3000, "end_ms": 5000, "paused_ms": 2000}]


def test_the_waveform_is_binary_covers_both_channels_and_is_sent_as_stored(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    call = sandbox.calls[2]
    url = f"/console/api/recordings/{call.recording_sid}/waveform"
    supervisor = client_for(*SUPERVISOR)
    response = supervisor.get(url, headers={"Accept-Encoding": "deflate"})
    assert response.status_code == 200
    assert response.headers["content-type"] == WAVEFORM_TYPE
    assert response.headers["content-encoding"] == "deflate"  # the stored bytes, not re-encoded
    waveform = decode_waveform(zlib.compress(response.content))  # the client inflated it
    assert waveform.channels == 2
    assert waveform.duration_ms == pytest.approx(call.duration_ms, abs=1)
    assert waveform.buckets == pytest.approx(50 * call.duration_ms / 1000, abs=1)
    # a client that does not take deflate gets the same bytes inflated by the server
    plain = supervisor.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == response.content


def test_media_links_need_csrf_and_every_play_and_download_is_audited(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    alice = client_for(*ALICE)
    # The sandbox is shared by the session: another test may have audited this call already,
    # so only the rows written from here on are this test's.
    sid = min(_calls_of(sandbox, AGENTS["alice"][1]))
    with sandbox.sessions() as session:
        before = session.scalar(select(func.max(AuditLog.id))) or 0
    url = f"/console/api/recordings/{sid}/media-url"
    assert alice.post(url, json={"purpose": "play"}).status_code == 403
    assert alice.post(url, json={"purpose": "play"}, headers={"X-CSRF-Token": "x"}).status_code == (
        403
    )
    token = csrf_of(alice)
    assert alice.post(
        url, json={"purpose": "steal"}, headers={"X-CSRF-Token": token}
    ).status_code == (422)
    play = alice.post(url, json={"purpose": "play"}, headers={"X-CSRF-Token": token})
    download = alice.post(url, json={"purpose": "download"}, headers={"X-CSRF-Token": token})
    assert play.status_code == download.status_code == 200

    with sandbox.sessions() as session:
        rows = session.scalars(
            select(AuditLog)
            .where(AuditLog.recording_sid == sid, AuditLog.id > before)
            .order_by(AuditLog.id)
        ).all()
    console_rows = [(r.actor, r.actor_worker_sid, r.action, r.detail["purpose"]) for r in rows]
    assert console_rows == [
        ("alice", AGENTS["alice"][1], "url_issued", "play"),
        ("alice", AGENTS["alice"][1], "url_issued", "download"),
    ]

    # The signed link streams the archived WAV, with ranges for seeking; the playback itself is
    # logged once, when the media route serves its start.
    media = alice.get(play.json()["url"], headers={"Range": "bytes=0-43"})
    assert media.status_code == 206
    assert media.content[:4] == b"RIFF"
    assert alice.get(play.json()["url"], headers={"Range": "bytes=44-99"}).status_code == 206
    with sandbox.sessions() as session:
        played = session.scalars(
            select(AuditLog).where(
                AuditLog.recording_sid == sid, AuditLog.action == "play", AuditLog.id > before
            )
        ).all()
    assert [r.actor for r in played] == ["alice"]
    tampered = play.json()["url"].replace("p=play", "p=download")
    assert alice.get(tampered).status_code == 403


def test_media_links_refused_while_the_recording_is_not_archived(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    sid = sandbox.calls[3].recording_sid
    with sandbox.sessions() as session:
        row = session.scalars(
            select(ArchivedRecording).where(ArchivedRecording.recording_sid == sid)
        ).one()
        row.state = "downloading"
        session.commit()
    client = client_for(*SUPERVISOR)
    response = client.post(
        f"/console/api/recordings/{sid}/media-url",
        json={"purpose": "play"},
        headers={"X-CSRF-Token": csrf_of(client)},
    )
    assert response.status_code == 409
    with sandbox.sessions() as session:
        assert not session.scalars(select(AuditLog).where(AuditLog.recording_sid == sid)).all()


def test_static_assets_are_served_and_cannot_escape_their_folder(
    client_for: Callable[..., Any],
) -> None:
    client = client_for()
    js = client.get("/console/static/vendor/wavesurfer/wavesurfer.esm.js")
    assert js.status_code == 200
    assert js.headers["content-type"].startswith("text/javascript")
    assert client.get("/console/static/vendor/wavesurfer/LICENSE").status_code == 200
    assert client.get("/console/static/../router.py").status_code == 404
    assert client.get("/console/static/%2e%2e/router.py").status_code == 404


def test_pauses_come_from_the_analysis_spans_when_the_archive_row_has_none(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    from flexrec.archive.models import RecordingAnalysis

    call = sandbox.calls[2]
    with sandbox.sessions() as session:
        analysis = session.scalars(
            select(RecordingAnalysis).where(RecordingAnalysis.recording_sid == call.recording_sid)
        ).one()
        analysis.metrics = {**analysis.metrics, "paused_spans": [[1000, 2500], [7000, 7000]]}
        session.commit()
    detail = client_for(*SUPERVISOR).get(f"/console/api/recordings/{call.recording_sid}").json()
    assert detail["pauses"] == [
        {"start_ms": 1000, "end_ms": 2500, "paused_ms": 1500},
        {"start_ms": 7000, "end_ms": 7000, "paused_ms": 0},
    ]
