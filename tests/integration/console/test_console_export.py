"""A signed export from the console: supervisors and admins download it; agents are refused."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from console_client_helpers import SECRET, TestClient, sign_in
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI
from sim_recordings import SimRecordings
from sqlalchemy import select

from flexrec.accounts.users import create_user
from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.service import ArchiveService
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.archive.storage import LocalStorage
from flexrec.console.router import ConsoleDeps, create_console_router
from flexrec.custody.export import SigningKeyError, export_and_audit
from flexrec.db.base import Base, make_engine, make_session_factory

RE = "RE" + "4" * 32
WORKER = "WK" + "5" * 32


@pytest.fixture
def app(tmp_path: Path) -> Iterator[tuple[FastAPI, Ed25519PrivateKey, object]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'console.db'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    twilio = SimRecordings()
    archive = ArchiveService(sessions, LocalStorage(tmp_path / "archive"), twilio.sdk_client())
    twilio.add(RE, "CA" + "6" * 32)
    archive.job.archive_recording(RE)
    with sessions() as session:
        create_user(session, "sam", "sam-password-1", "supervisor")
        create_user(session, "ann", "ann-password-1", "agent", worker_sid=WORKER)
        session.commit()
    key = Ed25519PrivateKey.generate()
    keys: dict[str, Ed25519PrivateKey | None] = {"current": key}

    def exporter(recording_sid: str, actor: str, ip: str | None) -> bytes:
        signing = keys["current"]
        if signing is None:
            raise SigningKeyError("no signing key: set FLEXREC_EXPORT_SIGNING_KEY")
        return export_and_audit(
            sessions, archive.store, [recording_sid], signing_key=signing,
            archive_key=None, actor=actor, via="console", ip=ip,
        ).zip_bytes()  # fmt: skip

    deps = ConsoleDeps(
        sessions=sessions, secret=SECRET, media_links=MediaLinkSigner(SECRET), exporter=exporter
    )
    application = FastAPI()
    application.include_router(create_console_router(deps))
    yield application, key, (sessions, keys)
    engine.dispose()


def test_a_supervisor_downloads_a_signed_export_and_an_agent_cannot(
    app: tuple[FastAPI, Ed25519PrivateKey, object],
) -> None:
    application, key, (sessions, keys) = app  # type: ignore[misc]
    path = f"/console/api/recordings/{RE}/export.zip"
    with TestClient(application) as sam, TestClient(application) as ann:
        assert sign_in(sam, "sam", "sam-password-1").status_code == 303
        assert sign_in(ann, "ann", "ann-password-1").status_code == 303
        assert ann.get(path).status_code == 403
        response = sam.get(path)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/zip"
        with zipfile.ZipFile(io.BytesIO(response.content)) as bundle:
            names = set(bundle.namelist())
            sums = bundle.read("flexrec-export/SHA256SUMS")
            signature = bundle.read("flexrec-export/SHA256SUMS.sig")
            public = serialization.load_pem_public_key(
                bundle.read("flexrec-export/signing-key.pub.pem")
            )
        assert f"flexrec-export/{RE}/audio.wav" in names
        assert f"flexrec-export/{RE}/audit.jsonl" in names
        key.public_key().verify(signature, sums)  # raises when it does not hold
        assert public.public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        ) == key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        assert sam.get(f"/console/api/recordings/RE{'9' * 32}/export.zip").status_code == 404
        keys["current"] = None
        assert sam.get(path).status_code == 503
    with sessions() as session:
        exported = session.scalars(select(AuditLog).where(AuditLog.action == "exported")).all()
    assert [(e.actor, e.recording_sid, e.detail["via"]) for e in exported] == [
        ("sam", RE, "console")
    ]
