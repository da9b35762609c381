"""RFC 3161 time-stamps: the request openssl would make, a real TSA's reply checked by openssl."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from flexrec.custody.timestamp import TimestampError, request_timestamp, timestamp_query

OPENSSL = shutil.which("openssl")
TSA_CONFIG = """
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = flexrec test TSA
[ tsa_ext ]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = critical, timeStamping
[ ca_ext ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign
[ tsa ]
default_tsa = tsa_config
[ tsa_config ]
serial = {folder}/serial
crypto_device = builtin
signer_digest = sha256
default_policy = 1.2.3.4.1
digests = sha256
accuracy = secs:1
ordering = no
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
"""


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    assert OPENSSL is not None, "openssl is part of every Debian base system"
    return subprocess.run([OPENSSL, *args], cwd=cwd, capture_output=True, check=False)


@pytest.fixture
def tsa() -> Iterator[tuple[str, Path]]:
    """An RFC 3161 time-stamp authority on loopback: `openssl ts -reply` behind HTTP."""
    folder = Path(tempfile.mkdtemp(prefix="flexrec-tsa-"))
    (folder / "tsa.cnf").write_text(TSA_CONFIG.format(folder=folder))
    (folder / "serial").write_text("01\n")
    for args in (
        ("req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
         "-days", "2", "-subj", "/CN=flexrec test CA", "-extensions", "ca_ext",
         "-config", "tsa.cnf"),
        ("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
         "-config", "tsa.cnf"),
        ("x509", "-req", "-in", "tsa.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "tsa.crt", "-days", "2", "-extfile", "tsa.cnf",
         "-extensions", "tsa_ext"),
    ):  # fmt: skip
        assert _openssl(*args, cwd=folder).returncode == 0

    class Authority(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            query = self.rfile.read(int(self.headers["Content-Length"]))
            (folder / "q.tsq").write_bytes(query)
            made = _openssl("ts", "-reply", "-config", "tsa.cnf", "-queryfile", "q.tsq",
                            "-inkey", "tsa.key", "-signer", "tsa.crt", "-out", "r.tsr",
                            cwd=folder)  # fmt: skip
            body = (folder / "r.tsr").read_bytes() if made.returncode == 0 else b""
            self.send_response(200 if body else 500)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Authority)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/tsa", folder
    finally:
        server.shutdown()
        server.server_close()
        shutil.rmtree(folder, ignore_errors=True)


def test_the_query_is_the_one_openssl_makes(tmp_path: Path) -> None:
    (tmp_path / "data").write_bytes(b"hello\n")
    query, nonce = timestamp_query(b"hello\n", nonce=0x682D4DFC3CABE920)
    made = _openssl("ts", "-query", "-data", "data", "-sha256", "-cert", "-out", "q.tsq",
                    cwd=tmp_path)  # fmt: skip
    assert made.returncode == 0
    (tmp_path / "mine.tsq").write_bytes(query)

    def described(name: str) -> list[str]:
        text = _openssl("ts", "-query", "-in", name, "-text", cwd=tmp_path).stdout.decode()
        return [line for line in text.splitlines() if not line.startswith("Nonce")]

    # openssl reads ours as it reads its own; only its random nonce differs.
    assert described("mine.tsq") == described("q.tsq")
    assert "Certificate required: yes" in described("mine.tsq")
    assert nonce.to_bytes(8, "big") in query


def test_a_real_tsa_dates_the_data_and_openssl_verifies_it(tsa: tuple[str, Path]) -> None:
    url, folder = tsa
    data = b"abc  RE1/audio.wav\n"
    reply = request_timestamp(url, data)
    (folder / "SHA256SUMS").write_bytes(data)
    (folder / "SHA256SUMS.tsr").write_bytes(reply)
    checked = _openssl("ts", "-verify", "-data", "SHA256SUMS", "-in", "SHA256SUMS.tsr",
                       "-CAfile", "ca.crt", cwd=folder)  # fmt: skip
    assert b"Verification: OK" in checked.stdout, checked.stderr
    (folder / "SHA256SUMS").write_bytes(data + b"x")
    tampered = _openssl("ts", "-verify", "-data", "SHA256SUMS", "-in", "SHA256SUMS.tsr",
                        "-CAfile", "ca.crt", cwd=folder)  # fmt: skip
    assert b"Verification: OK" not in tampered.stdout


def test_an_unreachable_or_refusing_tsa_is_an_error() -> None:
    with pytest.raises(TimestampError, match="unreachable"):
        request_timestamp("http://127.0.0.1:9/tsa", b"x", timeout_s=2)


def test_an_export_carries_the_time_stamp_of_its_signed_hashes(
    tsa: tuple[str, Path], tmp_path: Path
) -> None:
    import json

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from sim_recordings import SimRecordings

    from flexrec.archive.service import ArchiveService
    from flexrec.archive.storage import MemoryStorage
    from flexrec.custody.export import build_export
    from flexrec.db.base import Base, make_engine, make_session_factory

    url, authority = tsa
    engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    Base.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    twilio = SimRecordings()
    recording = "RE" + "7" * 32
    twilio.add(recording, "CA" + "7" * 32)
    archive = ArchiveService(sessions, MemoryStorage(), twilio.sdk_client())
    archive.job.archive_recording(recording)
    with sessions() as session:
        bundle = build_export(
            session, archive.store, [recording], signing_key=Ed25519PrivateKey.generate(),
            archive_key=None, exported_by="cli:test", tsa_url=url,
        )  # fmt: skip
    engine.dispose()
    out = tmp_path / "export"
    bundle.write_to(out)
    shutil.copy(authority / "ca.crt", out / "tsa-ca.pem")
    statement = json.loads((out / "statement.json").read_text())
    assert statement["timestamp"] == {"rfc3161_reply": "SHA256SUMS.tsr", "tsa_url": url}
    checked = _openssl("ts", "-verify", "-data", "SHA256SUMS", "-in", "SHA256SUMS.tsr",
                       "-CAfile", "tsa-ca.pem", cwd=out)  # fmt: skip
    assert b"Verification: OK" in checked.stdout, checked.stderr
