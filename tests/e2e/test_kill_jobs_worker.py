"""End to end: `kill -9` of the jobs worker `flexrec serve` runs, in the middle of an archive
copy, loses nothing.

`flexrec serve` runs the queue's jobs in a `flexrec worker` of its own. The simulator holds the
worker's download of the call's media; the test kills the worker with SIGKILL at that moment
(huey loses the job it was running). The service must start a new worker, whose start re-queues
the unfinished copy from the database, so the recording ends archived and verified, once; the
service's /metrics shows the new worker's job, and /readyz says the worker answers.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from flexrec.demo.service_process import ServiceProcess, service_env
from flexsim import ApiFault, SimConfig, SimRunner, free_port

pytestmark = pytest.mark.e2e

MEDIA = re.compile(r"/Recordings/(RE[0-9a-f]{32})\.wav$")
DONE = ("verified", "deleted_from_twilio")


def _children(pid: int) -> list[int]:
    # Per thread: a restarted worker is the child of the service's watch thread.
    return sorted(
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    )


def _wait_for(predicate: object, within_s: float, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(every_s)
    return False


def _archive_states(database: Path) -> list[tuple[str, str]]:
    engine = sa.create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT recording_sid, state FROM archived_recordings"))
            return [(str(sid), str(state)) for sid, state in rows]
    finally:
        engine.dispose()


def test_a_jobs_worker_killed_mid_archive_is_restarted_and_the_copy_finishes(
    tmp_path: Path,
) -> None:
    port = free_port()
    config = SimConfig(
        port=0,
        agents=1,
        calls=1,
        scale=1.0,
        seed=11,
        talk_time_median_s=3.0,
        rate_per_hour=36_000.0,  # the one call arrives at once
        service_url=f"http://127.0.0.1:{port}",
        start_traffic=False,
        scenario_weights={"basic": 1.0},
        inbound_share=1.0,
    )
    admin = secrets.token_urlsafe(16)
    with SimRunner(config) as sim:
        held = threading.Event()
        downloads: list[str] = []

        def hold_first_download(method: str, path: str) -> ApiFault | None:
            found = MEDIA.search(path)
            if method != "GET" or found is None:
                return None
            downloads.append(found.group(1))
            if len(downloads) > 1:
                return None
            held.set()
            return ApiFault(None, 8.0, "latency")  # the worker is killed while it waits

        sim.fault_requests(hold_first_download)
        service = ServiceProcess(
            service_env(sim, tmp_path, port, admin), port, tmp_path / "service.log"
        )
        service.start()
        try:
            assert service.process is not None
            assert _wait_for(lambda: len(_children(service.process.pid)) == 1, 30)
            (worker,) = _children(service.process.pid)
            sim.start_traffic()
            assert held.wait(90), "the worker never downloaded the recording"
            os.kill(worker, signal.SIGKILL)

            def restarted() -> bool:
                return [p for p in _children(service.process.pid) if p != worker] != []

            assert _wait_for(restarted, 30), "the service did not start its worker again"
            database = tmp_path / "service" / "flexrec.db"
            assert _wait_for(
                lambda: [s for _, s in _archive_states(database)] == ["verified"], 90, 0.5
            ), _archive_states(database)
            (recording,) = {sid for sid, _ in _archive_states(database)}
            assert downloads[:2] == [recording, recording]  # copied again, by the new worker
            assert service.process.poll() is None  # the service itself never stopped

            metrics = httpx.get(f"{service.url}/metrics", timeout=10).text
            assert "flexrec_jobs_process_up 1.0" in metrics
            archived = re.search(
                r'flexrec_job_cpu_seconds_count\{job="archive_recording",process="jobs"\} (\S+)',
                metrics,
            )
            assert archived is not None and float(archived.group(1)) >= 1.0
            ready = httpx.get(
                f"{service.url}/readyz", headers={"Authorization": f"Bearer {admin}"}, timeout=10
            )
            assert ready.status_code == 200
            assert ready.json()["reports"]["jobs"].startswith("the jobs worker answers")
        finally:
            service.stop()
