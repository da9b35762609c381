"""`flexrec serve` and `worker` load only what serving needs: a restart's start-up is every
live call's outage (at the demo's x10 clock, each real second is ten seconds of call)."""

from __future__ import annotations

import gc
import subprocess
import sys

import pytest

from flexrec.cli import root as cli

# The CLI in a fresh interpreter, asked for a command's help: which modules did it load?
PROBE = """
import sys
from flexrec.cli import main
sys.argv = ["flexrec", *sys.argv[1:], "--help"]
try:
    main()
except SystemExit:
    pass
print("flexsim" in sys.modules)
"""


def _loads_the_simulator(*command: str) -> bool:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("command", [["serve"], ["--debug", "worker"]])
def test_the_service_commands_do_not_load_the_simulator(command: list[str]) -> None:
    assert not _loads_the_simulator(*command)


def test_other_commands_still_offer_the_simulator() -> None:
    assert _loads_the_simulator("sim")


@pytest.mark.parametrize(
    ("argv", "command"),
    [(["serve", "--port", "1"], "serve"), (["--debug", "worker"], "worker"), ([], None)],
)
def test_the_command_is_the_first_word_that_is_no_option(
    argv: list[str], command: str | None
) -> None:
    assert cli.command_of(argv) == command


def test_a_service_start_that_fails_leaves_the_collector_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Start-up runs with the collector off; a start refused early (no credentials here) must
    # not leave it off in the calling process.
    monkeypatch.setattr(sys, "argv", ["flexrec", "serve"])
    with pytest.raises(SystemExit):
        cli.main()
    assert gc.isenabled()
