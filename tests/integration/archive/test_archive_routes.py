"""The archive's HTTP routes through a real ASGI app and SQLite file: url_provider, media, Range."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sim_recordings import SimRecordings
from sqlalchemy import select

import flexrec.archive.models  # noqa: F401 - registers the archive tables
from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.service import ArchiveService, RecordingContext
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.archive.storage import LocalStorage
from flexrec.db.base import Base, make_engine, make_session_factory
from flexrec.server.routes_archive import make_archive_router, parse_range
from flexrec.twilio.flex_tokens import InvalidToken, TokenInfo, TokenServiceUnavailable
from flexsim.testing import make_wav

RE = "RE" + "1" * 32
OTHER_RE = "RE" + "7" * 32
UNKNOWN_RE = "RE" + "9" * 32
WK_ALICE = "WK" + "a" * 32
WK_BOB = "WK" + "b" * 32
SECRET = "integration-console-secret-0123456789"
PUBLIC = "https://rec.example.com"


class Tokens:
    """A validator with fixed answers; 'down' stands for an unreachable IAM."""

    people: ClassVar[dict[str, TokenInfo]] = {
        "alice-token": TokenInfo("alice", WK_ALICE, ("agent",), None),
        "bob-token": TokenInfo("bob", WK_BOB, ("agent",), None),
        "sue-token": TokenInfo("sue", None, ("supervisor",), None),
        # Another worker who chose alice's friendly name.
        "alias-token": TokenInfo("alice", "WK" + "c" * 32, ("agent",), None),
    }

    def validate(self, token: str) -> TokenInfo:
        if token == "down":
            raise TokenServiceUnavailable("IAM unreachable")
        try:
            return self.people[token]
        except KeyError:
            raise InvalidToken("rejected") from None


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    client: TestClient
    archive: ArchiveService
    clock: Clock
    wav: bytes


@pytest.fixture(params=["sealed", "plain"])
def env(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Env]:
    engine = make_engine(f"sqlite:///{tmp_path / 'flexrec.db'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    twilio = SimRecordings()
    wav = make_wav(duration_s=1.0)
    twilio.add(RE, "CA" + "1" * 32, wav)
    twilio.add(OTHER_RE, "CA" + "2" * 32)
    contexts = {
        RE: RecordingContext(worker_sid=WK_ALICE, agent_identity="alice"),
        OTHER_RE: RecordingContext(worker_sid=WK_BOB, agent_identity="bob"),
    }
    archive = ArchiveService(
        sessions,
        LocalStorage(tmp_path / "archive"),
        twilio.sdk_client(),
        key=ArchiveKey(b"s" * 32) if request.param == "sealed" else None,
        context_provider=lambda sid, _call: contexts.get(sid),
    )
    archive.job.archive_recording(RE)
    archive.job.archive_recording(OTHER_RE)
    clock = Clock()
    app = FastAPI()
    app.include_router(
        make_archive_router(archive, Tokens(), MediaLinkSigner(SECRET, 300, clock), PUBLIC)
    )
    with TestClient(app) as client:
        yield Env(client, archive, clock, wav)
    engine.dispose()


def link_for(env: Env, caller: str = "alice-token", sid: str = RE) -> str:
    response = env.client.get(
        f"/insights/recordings/{sid}/url", headers={"Authorization": f"Bearer {caller}"}
    )
    assert response.status_code == 200, response.text
    url = response.json()["url"]
    assert url.startswith(f"{PUBLIC}/media/recordings/{sid}.wav?")
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def audit_rows(env: Env) -> list[tuple[str, str, str | None]]:
    with env.archive.sessions() as session:
        rows = session.scalars(select(AuditLog).order_by(AuditLog.id)).all()
        return [(r.action, r.actor, r.recording_sid) for r in rows]


def test_url_provider_returns_a_signed_link_to_decrypted_media(env: Env) -> None:
    response = env.client.get(
        f"/insights/recordings/{RE}/url", headers={"Authorization": "Bearer alice-token"}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert set(response.json()) == {"url"}
    query = parse_qs(urlsplit(response.json()["url"]).query)
    assert query["sub"] == ["alice"] and query["p"] == ["play"]

    media = env.client.get(link_for(env))
    assert media.status_code == 200
    assert media.content == env.wav  # decrypted on the way out when sealed
    assert media.headers["content-type"] == "audio/wav"
    assert media.headers["accept-ranges"] == "bytes"
    assert media.headers["content-length"] == str(len(env.wav))
    assert media.headers["content-disposition"].startswith("inline")
    assert ("play", "alice", RE) in audit_rows(env)
    assert ("url_issued", "alice", RE) in audit_rows(env)


@pytest.mark.parametrize(
    ("how", "status"),
    [
        ({}, 401),
        ({"headers": {"Authorization": "Bearer nope"}}, 401),
        ({"headers": {"Authorization": "Bearer down"}}, 503),
        ({"headers": {"Authorization": "Bearer bob-token"}}, 403),
        ({"params": {"Token": "alice-token"}}, 200),
        ({"headers": {"X-Flex-JWE": "sue-token"}}, 200),
    ],
)
def test_url_provider_checks_the_flex_token_and_ownership(
    env: Env, how: dict[str, dict[str, str]], status: int
) -> None:
    response = env.client.get(f"/insights/recordings/{RE}/url", **how)
    assert response.status_code == status, response.text
    if status >= 400:
        assert "error" in response.json()["detail"]


def test_a_matching_name_is_not_enough_to_hear_a_recording(env: Env) -> None:
    # The console's rule: only the worker SID or a taken reservation grants access.
    alias = {"Authorization": "Bearer alias-token"}
    assert env.client.get(f"/insights/recordings/{RE}/url", headers=alias).status_code == 403
    # ...and the refusal is in the audit log, as the console's are.
    with env.archive.sessions() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "view_refused")).all()
        assert [(r.recording_sid, r.detail["via"]) for r in rows] == [(RE, "insights_url_provider")]


def test_url_provider_accepts_a_form_token_and_refuses_unknown_recordings(env: Env) -> None:
    ok = env.client.post(f"/insights/recordings/{RE}/url", data={"Token": "alice-token"})
    assert ok.status_code == 200
    sue = {"Authorization": "Bearer sue-token"}
    unknown = env.client.get(f"/insights/recordings/{UNKNOWN_RE}/url", headers=sue)
    assert unknown.status_code == 404
    malformed = env.client.get("/insights/recordings/not-a-sid/url", headers=sue)
    assert malformed.status_code == 404
    supervisor = env.client.get(f"/insights/recordings/{OTHER_RE}/url", headers=sue)
    assert supervisor.status_code == 200


def test_url_provider_reads_body_tokens_like_the_agent_api(env: Env) -> None:
    url = f"/insights/recordings/{RE}/url"
    assert env.client.post(url, json={"Token": "alice-token"}).status_code == 200
    malformed = env.client.post(url, content=b"{", headers={"Content-Type": "application/json"})
    assert malformed.status_code == 400
    assert malformed.json()["detail"]["error"] == "malformed_body"
    oversized = env.client.post(url, data={"Token": "alice-token", "pad": "x" * 70_000})
    assert oversized.status_code == 413
    assert oversized.json()["detail"]["error"] == "body_too_large"


def test_single_range_requests(env: Env) -> None:
    path, total = link_for(env), len(env.wav)
    first = env.client.get(path, headers={"Range": "bytes=0-99"})
    assert first.status_code == 206
    assert first.headers["content-range"] == f"bytes 0-99/{total}"
    assert first.content == env.wav[:100]
    middle = env.client.get(path, headers={"Range": "bytes=1000-"})
    assert middle.status_code == 206
    assert middle.headers["content-range"] == f"bytes 1000-{total - 1}/{total}"
    assert middle.content == env.wav[1000:]
    past_end = env.client.get(path, headers={"Range": f"bytes=10-{total + 500}"})
    assert past_end.headers["content-range"] == f"bytes 10-{total - 1}/{total}"


def test_suffix_ranges(env: Env) -> None:
    path, total = link_for(env), len(env.wav)
    tail = env.client.get(path, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes {total - 100}-{total - 1}/{total}"
    assert tail.content == env.wav[-100:]
    everything = env.client.get(path, headers={"Range": f"bytes=-{total * 2}"})
    assert everything.status_code == 206
    assert everything.content == env.wav


def test_unsatisfiable_and_ignored_ranges(env: Env) -> None:
    path, total = link_for(env), len(env.wav)
    beyond = env.client.get(path, headers={"Range": f"bytes={total}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{total}"
    for ignored in ("bytes=0-1,5-9", "items=0-5", "bytes=9-3"):
        whole = env.client.get(path, headers={"Range": ignored})
        assert whole.status_code == 200 and whole.content == env.wav


def test_long_media_streams_in_chunks_intact(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import flexrec.server.routes_archive as router_module

    monkeypatch.setattr(router_module, "STREAM_CHUNK_BYTES", 1000)
    path = link_for(env)
    whole = env.client.get(path)
    assert whole.content == env.wav
    assert whole.headers["content-length"] == str(len(env.wav))
    part = env.client.get(path, headers={"Range": "bytes=1500-4499"})
    assert part.status_code == 206 and part.content == env.wav[1500:4500]


def test_head_answers_the_size_without_a_body(env: Env) -> None:
    path = link_for(env)
    head = env.client.head(path)
    assert head.status_code == 200
    assert head.headers["content-length"] == str(len(env.wav))
    assert head.content == b""
    ranged = env.client.head(path, headers={"Range": "bytes=-10"})
    assert ranged.status_code == 206
    assert ranged.headers["content-length"] == "10"


def test_seeks_are_not_audited_as_new_plays(env: Env) -> None:
    path = link_for(env)
    env.client.get(path, headers={"Range": "bytes=0-"})
    env.client.get(path, headers={"Range": "bytes=5000-"})
    env.client.head(path)
    plays = [row for row in audit_rows(env) if row[0] == "play"]
    assert plays == [("play", "alice", RE)]


def test_a_playback_that_never_asks_for_byte_zero_is_audited(env: Env) -> None:
    path = link_for(env)
    served = env.client.get(path, headers={"Range": "bytes=1-"})
    assert served.status_code == 206 and served.content == env.wav[1:]
    plays = [row for row in audit_rows(env) if row[0] == "play"]
    assert plays == [("play", "alice", RE)]
    # A new link (a new playback) is a new row, whatever range it starts with.
    env.clock.now += 1  # links are deterministic: the same second gives the same link
    env.client.get(link_for(env), headers={"Range": "bytes=100-199"})
    assert len([row for row in audit_rows(env) if row[0] == "play"]) == 2


def test_expired_and_forged_links_are_403(env: Env) -> None:
    path = link_for(env)
    forged = path.replace("sub=alice", "sub=bob")
    assert env.client.get(forged).status_code == 403
    other = path.replace(RE, OTHER_RE)
    assert env.client.get(other).status_code == 403
    assert env.client.get(f"/media/recordings/{RE}.wav").status_code == 403
    env.clock.now += 301
    expired = env.client.get(path)
    assert expired.status_code == 403
    assert expired.json()["detail"]["error"] == "link_expired"
    assert not [row for row in audit_rows(env) if row[0] == "play"]


def test_download_links_are_attachments_and_audited(env: Env) -> None:
    signer = MediaLinkSigner(SECRET, 300, env.clock)
    url = signer.url("", RE, "download", "sue")
    response = env.client.get(url)
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="{RE}.wav"'
    assert ("download", "sue", RE) in audit_rows(env)
    assert env.client.get(signer.url("", UNKNOWN_RE, "play", "sue")).status_code == 404
    assert env.client.get(f"/media/recordings/{RE}.mp3").status_code == 404


def test_peaks_route_needs_a_signed_link(env: Env) -> None:
    signer = MediaLinkSigner(SECRET, 300, env.clock)
    query = "&".join(f"{k}={v}" for k, v in signer.sign(RE, "play", "sue").items())
    response = env.client.get(f"/media/recordings/{RE}/peaks?{query}")
    assert response.status_code == 200
    body = response.json()  # as wavesurfer.js takes them: max, min per bucket
    assert len(body["channels"]) == 2 and body["buckets_per_s"] == 50
    assert len(body["channels"][0]) == 2 * 50 * body["duration_s"]
    assert all(-1 <= v <= 1 for v in body["channels"][0])
    assert env.client.get(f"/media/recordings/{RE}/peaks").status_code == 403


def test_parse_range_rules() -> None:
    assert parse_range(None, 10) is None
    assert parse_range("bytes=2-4", 10) is not None
    assert parse_range("bytes=-3", 10).start == 7  # type: ignore[union-attr]
    assert parse_range("bytes=abc-", 10) is None


def test_ranges_with_odd_digits_or_huge_numbers_are_answered_not_500(env: Env) -> None:
    path, total = link_for(env), len(env.wav)
    huge = "9" * 4301  # past int()'s 4,300-digit limit
    for odd in ("bytes=\u00b9-", "bytes=0-\u00b2", "bytes=-\u00b3"):  # superscript digits
        whole = env.client.get(path, headers=[(b"Range", odd.encode("latin-1"))])
        assert whole.status_code == 200 and whole.content == env.wav
    assert env.client.get(path, headers={"Range": f"bytes={huge}-"}).status_code == 416
    to_end = env.client.get(path, headers={"Range": f"bytes=10-{huge}"})
    assert to_end.status_code == 206
    assert to_end.headers["content-range"] == f"bytes 10-{total - 1}/{total}"
    everything = env.client.get(path, headers={"Range": f"bytes=-{huge}"})
    assert everything.status_code == 206 and everything.content == env.wav
