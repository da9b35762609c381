"""The line the demo prints to open a kept run in the console names everything serve needs."""

from __future__ import annotations

from pathlib import Path

from flexrec.demo.runner import replay_hint
from flexsim import defaults


def test_the_hint_gives_serve_the_simulated_account_and_a_simulator_to_ask() -> None:
    # It once said only FLEXREC_DATA_DIR: serve then stopped at once, credentials not set.
    hint = replay_hint(Path("/srv/run"), sim_port=8181)
    assert "FLEXREC_DATA_DIR=/srv/run/service" in hint
    for setting in (
        f"TWILIO_ACCOUNT_SID={defaults.ACCOUNT_SID}",
        f"TWILIO_AUTH_TOKEN={defaults.AUTH_TOKEN}",
        f"TWILIO_WORKSPACE_SID={defaults.WORKSPACE_SID}",
        "FLEXREC_TWILIO_BASE_URL=http://127.0.0.1:8181",
    ):
        assert setting in hint
    assert "sim --port 8181" in hint and "users add me --role supervisor" in hint
