"""`flexrec serve` at start-up against Twilio (the simulator over HTTP): what an operator sees.

Refused credentials, an unknown workspace or none at all never heal by themselves: one line,
exit code 2, nothing left running. Twilio unreachable may be over in a minute: the service
starts, says so, and answers webhooks (their Twilio calls wait in the queue, retried).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flexsim import World, create_sim_app, defaults, free_port, serve_app


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    with serve_app(create_sim_app(World())) as url:
        yield url


def _serve(tmp_path: Path, base_url: str, **env: str) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("TWILIO_", "FLEXREC_"))}
    environment |= {
        "TWILIO_ACCOUNT_SID": defaults.ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": defaults.AUTH_TOKEN,
        "TWILIO_WORKSPACE_SID": defaults.WORKSPACE_SID,
        "TWILIO_TIMEOUT_S": "3",
        "FLEXREC_TWILIO_BASE_URL": base_url,
        "FLEXREC_DATA_DIR": str(tmp_path / "data"),
        **env,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "flexrec", "serve", "--port", str(port)],
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    return process, port


def _stop(process: subprocess.Popen[str]) -> str:
    """SIGTERM the service and return its stderr; a service still running 30 s later is killed
    (its pipes closed) and fails the test with what it said."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.communicate(timeout=30)[1]
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, err = process.communicate()
        pytest.fail(f"flexrec serve did not stop within 30 s of SIGTERM:\n{err[-4000:]}")


def _refused(tmp_path: Path, base_url: str, **env: str) -> str:
    process, _ = _serve(tmp_path, base_url, **env)
    try:
        _, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if not line.startswith("{")]  # JSON log lines
    assert len(lines) == 1, err
    return lines[0]


def test_refused_credentials_end_serve_with_one_line_and_exit_2(
    tmp_path: Path, sim_url: str
) -> None:
    line = _refused(tmp_path, sim_url, TWILIO_AUTH_TOKEN="not-the-auth-token")
    assert line.startswith("flexrec: error: Twilio refused the credentials (HTTP 401)")
    assert "did not start" in line


def test_an_unknown_workspace_ends_serve_with_one_line_and_exit_2(
    tmp_path: Path, sim_url: str
) -> None:
    line = _refused(tmp_path, sim_url, TWILIO_WORKSPACE_SID="WS" + "0" * 32)
    assert "TWILIO_WORKSPACE_SID" in line and "did not start" in line


def test_a_missing_workspace_ends_serve_naming_the_flex_workspace(
    tmp_path: Path, sim_url: str
) -> None:
    # Without it every task write would fail while the service looked healthy.
    line = _refused(tmp_path, sim_url, TWILIO_WORKSPACE_SID="")
    assert line.startswith("flexrec: error: TWILIO_WORKSPACE_SID is not set")
    assert defaults.WORKSPACE_SID in line and "did not start" in line


def test_unreachable_twilio_starts_the_service_and_says_so(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on: connections are refused
        closed.bind(("127.0.0.1", 0))
        dead = closed.getsockname()[1]
    process, port = _serve(tmp_path, f"http://127.0.0.1:{dead}")
    try:
        deadline = time.monotonic() + 60
        healthy = False
        while time.monotonic() < deadline and process.poll() is None and not healthy:
            try:
                healthy = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).is_success
            except httpx.HTTPError:
                time.sleep(0.2)
        assert healthy, "the service did not start"
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10)
        assert ready.status_code == 200  # an outage is reported, not a reason to leave rotation
    finally:
        err = _stop(process)
    warning = next(line for line in err.splitlines() if line.startswith("flexrec: warning:"))
    assert "Twilio could not be reached" in warning and "Starting anyway" in warning


def test_a_request_sent_while_the_service_starts_waits_for_its_answer(tmp_path: Path) -> None:
    # A kill -9 and restart: Twilio keeps posting webhooks meanwhile. The port is taken first,
    # so a post that arrives while the app is being built waits and is answered once it can be
    # taken (it was refused before, and Twilio retries a refused webhook only a few times).
    with socket.socket() as twilio:  # takes the credentials check and never answers it
        twilio.bind(("127.0.0.1", 0))
        twilio.listen()
        twilio.settimeout(60)
        process, port = _serve(tmp_path, f"http://127.0.0.1:{twilio.getsockname()[1]}")
        try:
            asked, _ = twilio.accept()  # the service is checking its credentials: not started
            with asked, httpx.Client(timeout=30) as client:
                # TWILIO_TIMEOUT_S=3: the check gives up, the service starts and answers
                answer = client.get(f"http://127.0.0.1:{port}/healthz")
            assert answer.status_code == 200
        finally:
            _stop(process)  # Twilio still hangs: a stop must not wait for the safety net's lists
