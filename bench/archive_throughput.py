"""Archive figures: AES-GCM speed, archive jobs per second (sealing and its manifest included),
ranged reads, `flexrec verify` speed per core, waveform.

Runs against flexsim in process (flexsim.testing.InProcessSim: the official SDK into its app,
no socket) and a local folder; prints figures only. The archive job's per-core figure counts
flexsim's CPU too (it answers in this process).
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import structlog

import flexrec.archive.models  # noqa: F401 - registers the archive tables
from flexrec.archive.crypto import ArchiveKey
from flexrec.archive.service import ArchiveService
from flexrec.archive.storage import LocalStorage
from flexrec.db.base import Base, make_engine, make_session_factory
from flexsim.testing import InProcessSim, make_wav

RECORDINGS = 40
CALL_S = 60.0


def timed(label: str, count: int, unit: str, fn: Callable[[], object]) -> None:
    # CPU time of this process beside wall time: on a shared machine the wall figure moves with
    # the neighbours' load, the per-core figure much less.
    start, cpu = time.perf_counter(), time.process_time()
    fn()
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        f"{label:<44} {count / elapsed:10.1f} {unit}/s   ({elapsed * 1000:.0f} ms total;"
        f" {count / cpu:.1f} {unit}/s per core)"
    )


def verify_speed(service: ArchiveService, kind: str) -> None:
    """`flexrec verify` over everything just archived: objects/s and MB/s per core (CPU time)."""
    try:
        from flexrec.custody.verify import verify_archive
    except ImportError:  # the same bench run on a tree from before verify existed
        return

    wall, cpu = time.perf_counter(), time.process_time()
    report = verify_archive(service.sessions, service.store, key=service.key)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    assert report.ok, [p.line() for p in report.problems]
    mb = report.bytes_read / 1e6
    print(
        f"{'verify (' + kind + ', hashes + chain)':<44} {report.objects / cpu:10.1f} objects/s"
        f" per core, {mb / cpu:.0f} MB/s per core ({report.objects} objects, {mb:.0f} MB, "
        f"{wall * 1000:.0f} ms wall, {report.audit_rows} audit rows)"
    )


def main() -> None:
    # Per-recording info logs would drown the figures.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    wav = make_wav(duration_s=CALL_S)
    mib = len(wav) / (1024 * 1024)
    key = ArchiveKey(b"b" * 32)
    sid = "RE" + "0" * 32
    sealed = key.seal(wav, sid)
    print(f"one {CALL_S:.0f} s dual-channel 8 kHz WAV = {mib:.2f} MiB")
    timed("AES-256-GCM seal", 20, "recordings", lambda: [key.seal(wav, sid) for _ in range(20)])
    timed("AES-256-GCM open", 20, "recordings", lambda: [key.open(sealed, sid) for _ in range(20)])

    for encrypted in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            root = Path(folder)
            engine = make_engine(f"sqlite:///{root / 'bench.db'}")
            Base.metadata.create_all(engine)
            twilio = InProcessSim()
            sids = [twilio.arrange.completed_recording(wav).sid for _ in range(RECORDINGS)]
            service = ArchiveService(
                make_session_factory(engine),
                LocalStorage(root / "archive"),
                twilio.client(),
                key=key if encrypted else None,
            )
            kind = "sealed" if encrypted else "plain"

            def archive_all(service: ArchiveService = service, sids: list[str] = sids) -> None:
                for recording_sid in sids:
                    service.job.archive_recording(recording_sid)

            timed(f"archive job ({kind}, fsync'd local folder)", RECORDINGS, "recordings",
                  archive_all)  # fmt: skip

            def seek_reads(service: ArchiveService = service, sids: list[str] = sids) -> None:
                for recording_sid in sids:
                    for offset in range(0, len(wav) - 65536, len(wav) // 10):
                        service.reader.read_media_range(recording_sid, offset, offset + 65535)

            timed(f"64 KiB ranged reads ({kind})", RECORDINGS * 10, "reads", seek_reads)
            verify_speed(service, kind)
            engine.dispose()

    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'bench.db'}")
        Base.metadata.create_all(engine)
        twilio = InProcessSim()
        sid = twilio.arrange.completed_recording(wav).sid
        service = ArchiveService(
            make_session_factory(engine),
            LocalStorage(Path(folder) / "archive"),
            twilio.client(),
        )
        service.job.archive_recording(sid)
        timed(
            "waveform (first, not kept yet)",
            1,
            "recordings",
            lambda: service.analyses.waveform(sid),
        )
        engine.dispose()


if __name__ == "__main__":
    main()
