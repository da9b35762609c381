"""flexrec runs without the simulator (an optional extra): `sim` and `demo` say how to get it."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Runs flexrec's CLI in a fresh interpreter where importing flexsim fails, as in an install
# without the `sim` extra.
PROBE = """
import sys
sys.modules["flexsim"] = None
sys.modules["flexsim.cli"] = None
from flexrec.cli import main
sys.argv = ["flexrec", *sys.argv[1:]]
main()
"""


def _flexrec(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("command", [["sim"], ["demo", "--calls", "1"]])
def test_sim_and_demo_name_the_extra_to_install(command: list[str]) -> None:
    result = _flexrec(*command)
    assert result.returncode == 2
    assert 'pip install "flexrec[sim]"' in result.stderr
    assert "Traceback" not in result.stderr


def test_the_service_commands_need_no_simulator() -> None:
    result = _flexrec("--help")
    assert result.returncode == 0
    assert "serve" in result.stdout and "sim" in result.stdout
