"""`flexrec serve` as the demo's child process, and the environment it runs with."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from flexrec.recording.policy import RecordingPolicy
from flexsim import SimRunner

REPLACEMENT_BACKOFF_S = RecordingPolicy().replacement_backoff_s


class ServiceProcess:
    """`flexrec serve` as a child process that can be killed -9 and started again."""

    def __init__(self, env: dict[str, str], port: int, log_path: Path, processes: int = 1) -> None:
        self.env = env
        self.port = port
        self.processes = processes
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 60.0) -> None:
        """Start the service and wait until /healthz answers 200."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed argv
            [
                *(sys.executable, "-m", "flexrec", "serve", "--port", str(self.port)),
                *(("--processes", str(self.processes)) if self.processes > 1 else ()),
            ],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the service exited at start-up; see {self.log_path}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the service did not become healthy; see {self.log_path}")

    def kill(self) -> None:
        """kill -9, as a crash would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), falling back to SIGKILL."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


def service_env(sim: SimRunner, workdir: Path, port: int, admin_token: str) -> dict[str, str]:
    """The environment `flexrec serve` runs with against this simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "FLEXREC_"))}
    env.update(
        {
            "TWILIO_ACCOUNT_SID": sim.config.account_sid,
            "TWILIO_AUTH_TOKEN": sim.config.auth_token,
            "TWILIO_WORKSPACE_SID": sim.workspace_sid,
            "FLEXREC_TWILIO_BASE_URL": sim.base_url,
            "FLEXREC_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "FLEXREC_DATA_DIR": str(workdir / "service"),
            "FLEXREC_ADMIN_TOKEN": admin_token,
            "FLEXREC_CONSOLE_SECRET": secrets.token_urlsafe(32),
            "FLEXREC_LOG_FORMAT": "json",
            # The simulated clock runs fast (a real second is `scale` seconds of call), so the
            # safety net runs often and a hung Twilio request is given up on sooner.
            "FLEXREC_RECONCILE_INTERVAL_S": "2",
            "TWILIO_TIMEOUT_S": "2",
            # An archive copy that met an injected Twilio error is tried again within seconds,
            # not after the quarter of an hour (of call time) a real-time 15 s would be.
            "FLEXREC_ARCHIVE_RETRY_BASE_S": "1",
            # A replacement's backoff is the policy's wait in seconds of the call (a silent
            # leg is not re-recorded in a tight loop), so it runs on the call's clock, as the
            # simulator runs Twilio's latency. What the service spends itself (retries and
            # their pauses, scheduling, a restart) is not scaled: it counts `scale` times over.
            "FLEXREC_REPLACEMENT_BACKOFF_S": f"{REPLACEMENT_BACKOFF_S / sim.config.scale:g}",
        }
    )
    return env
