"""`flexrec export`: a signed bundle a third party checks with openssl and sha256sum alone."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sim_recordings import SimRecordings
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from flexrec.archive.audit_chain import AuditLog
from flexrec.archive.audit_log import record_event
from flexrec.archive.crypto import ArchiveKey, generate_key_b64
from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import LocalStorage
from flexrec.cli import root as cli
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexsim.testing import make_wav

RE1, RE2 = "RE" + "1" * 32, "RE" + "2" * 32


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flexrec", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    code = ended.value.code
    return code if isinstance(code, int) else 0


@pytest.fixture
def archive(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[sessionmaker[Session]]:
    key_b64 = generate_key_b64()
    signing = tmp_path / "export-signing.pem"
    signing.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("FLEXREC_ARCHIVE_KEY", key_b64)
    monkeypatch.setenv("FLEXREC_EXPORT_SIGNING_KEY", str(signing))
    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'data' / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    twilio = SimRecordings()
    service = ArchiveService(
        sessions,
        LocalStorage(tmp_path / "data" / "archive"),
        twilio.sdk_client(),
        key=ArchiveKey(__import__("base64").b64decode(key_b64)),
    )
    for n, sid in enumerate((RE1, RE2)):
        twilio.add(sid, "CA" + str(n + 3) * 32, make_wav(duration_s=1.0 + n))
        service.job.archive_recording(sid)
        service.analyses.analyse(sid)
        record_event(sessions, "play", "supervisor-1", recording_sid=sid)
    yield sessions
    engine.dispose()


def test_an_export_checks_out_with_openssl_and_sha256sum(
    archive: sessionmaker[Session], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    openssl = shutil.which("openssl")
    assert openssl is not None, "openssl is part of every Debian base system"
    out = tmp_path / "case-17"
    assert run_cli(monkeypatch, "export", "--recording", RE1, "--out", str(out), "--by", "bob") == 0
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        f"{RE1}/analysis.json",
        f"{RE1}/audio.wav",
        f"{RE1}/audit.jsonl",
        f"{RE1}/manifest.json",
        "SHA256SUMS",
        "SHA256SUMS.sig",
        "VERIFY.txt",
        "signing-key.pub.pem",
        "statement.json",
    ]
    manifest = json.loads((out / RE1 / "manifest.json").read_text())
    audio = (out / RE1 / "audio.wav").read_bytes()
    assert manifest["objects"][0]["plain_sha256"] == hashlib.sha256(audio).hexdigest()
    history = [json.loads(line) for line in (out / RE1 / "audit.jsonl").read_text().splitlines()]
    assert [h["action"] for h in history] == ["sealed", "sealed", "play"]  # audio, analysis
    # The documented commands, run as a third party would: no flexrec involved.
    verified = subprocess.run(
        [openssl, "pkeyutl", "-verify", "-pubin", "-inkey", "signing-key.pub.pem", "-rawin",
         "-in", "SHA256SUMS", "-sigfile", "SHA256SUMS.sig"],
        cwd=out, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    assert "Signature Verified Successfully" in verified.stdout
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert sums.returncode == 0 and sums.stdout.count(": OK") == 7
    der = subprocess.run(
        [openssl, "pkey", "-pubin", "-in", "signing-key.pub.pem", "-outform", "DER"],
        cwd=out, capture_output=True, check=True,
    ).stdout  # fmt: skip
    statement = json.loads((out / "statement.json").read_text())
    assert statement["signature"]["signing_key_sha256"] == hashlib.sha256(der).hexdigest()
    assert statement["exported_by"] == "cli:bob" and statement["recordings"] == [RE1]
    # Any changed byte is caught by the same commands.
    (out / RE1 / "audio.wav").write_bytes(audio[:-1] + bytes([audio[-1] ^ 1]))
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=out, capture_output=True, text=True
    )
    assert sums.returncode == 1 and f"{RE1}/audio.wav: FAILED" in sums.stdout
    with archive() as session:
        exported = session.scalars(select(AuditLog).where(AuditLog.action == "exported")).one()
    assert (exported.actor, exported.recording_sid) == ("cli:bob", RE1)


def test_an_export_needs_a_signing_key_and_never_overwrites(
    archive: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("evidence")
    assert run_cli(monkeypatch, "export", "--recording", RE2, "--out", str(out)) == 2
    assert "not empty" in capsys.readouterr().err
    monkeypatch.setenv("FLEXREC_EXPORT_SIGNING_KEY", "")
    assert run_cli(monkeypatch, "export", "--recording", RE2, "--out", str(tmp_path / "n")) == 2
    assert "openssl genpkey -algorithm ed25519" in capsys.readouterr().err
    unknown = "RE" + "9" * 32
    monkeypatch.setenv("FLEXREC_EXPORT_SIGNING_KEY", str(tmp_path / "export-signing.pem"))
    assert run_cli(monkeypatch, "export", "--recording", unknown, "--out", str(tmp_path / "u")) == 2
    assert "not in the archive" in capsys.readouterr().err
