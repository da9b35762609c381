"""`flexrec sim`: option parsing and the documented help."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from flexsim import defaults
from flexsim.cli import parse_weights, sim
from flexsim.engine import default_weights


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command(name="sim")(sim)
    app.command(name="noop")(lambda: None)  # two commands: "sim" stays a subcommand
    return app


def test_weights_override_only_the_named_scenarios() -> None:
    weights = parse_weights("basic=1, hold=0")
    assert weights["basic"] == 1 and weights["hold"] == 0
    assert weights["abandon"] == default_weights()["abandon"]
    assert parse_weights(None) == default_weights()


@pytest.mark.parametrize("spec", ["basic", "nope=1", "basic=x"])
def test_bad_weights_are_rejected(spec: str) -> None:
    with pytest.raises(typer.BadParameter):
        parse_weights(spec)


def test_help_documents_every_option_and_the_default_credentials() -> None:
    result = CliRunner().invoke(_app(), ["sim", "--help"], env={"COLUMNS": "240"})
    assert result.exit_code == 0
    for option in (
        "--host",
        "--port",
        "--agents",
        "--rate",
        "--inbound-share",
        "--calls",
        "--scale",
        "--seed",
        "--faults",
        "--service-url",
    ):
        assert option in result.output
    for value in (defaults.ACCOUNT_SID, defaults.AUTH_TOKEN, "TWILIO_AUTH_TOKEN"):
        assert value in result.output
    assert "flexrec" not in result.output.lower()  # flexsim is its own product
    for option in (
        "--event-callback-url",
        "--event-streams-url",
        "--call-status-callback-url",
        "--conference-callback-url",
        "--studio-recording-callback-url",
    ):
        assert option in result.output
    flat = " ".join(result.output.replace("│", " ").split())
    for key in ("api", "timeout", "latency", "dup", "reorder", "drop", "delay"):
        assert f"{key} (" in flat or f"{key} /" in flat or f"/ {key}" in flat, key
    for key in ("absent / failed / stopped (share of call recordings", "clobber (share of"):
        assert key in flat


def test_a_bad_fault_plan_is_a_usage_error() -> None:
    result = CliRunner().invoke(_app(), ["sim", "--faults", "api=7", "--port", "0"])
    assert result.exit_code == 2
