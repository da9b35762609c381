"""`flexrec coverage` against the simulator's Twilio: the CLI lists every leg of the day from
Twilio's call list, pages at 1,000 (no request per call), and prints the summary or JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flexrec.cli import root as cli
from flexrec.cli.admin import open_database
from flexsim import SimClock, World, create_sim_app, defaults, serve_app

DAY_START = datetime(2026, 3, 3, 8, tzinfo=UTC).timestamp()


@pytest.fixture
def world() -> World:
    """2,500 answered and ended customer legs on 3 March, one recorded, plus one on the 4th."""
    world = World(clock=SimClock(scale=0, start_epoch=DAY_START))
    for i in range(2_500):
        call = world.create_call(
            from_=f"+1555{i:07d}", to="+15559870000", direction="inbound", party="customer"
        )
        world.set_call_status(call, "in-progress")
        if i == 0:
            world.start_recording(call, channels=2)
        world.clock.advance(5)
        world.set_call_status(call, "completed")
    world.clock.advance(86_400)
    late = world.create_call(from_="+1", to="+2", direction="inbound", party="customer")
    world.set_call_status(late, "in-progress")
    return world


@pytest.fixture
def service_env(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    with serve_app(create_sim_app(world)) as base_url:
        monkeypatch.setenv("TWILIO_ACCOUNT_SID", defaults.ACCOUNT_SID)
        monkeypatch.setenv("TWILIO_AUTH_TOKEN", defaults.AUTH_TOKEN)
        monkeypatch.setenv("TWILIO_WORKSPACE_SID", world.workspace_sid)
        monkeypatch.setenv("FLEXREC_TWILIO_BASE_URL", base_url)
        monkeypatch.setenv("FLEXREC_DATA_DIR", str(tmp_path))
        with open_database(create=True):  # the database a service that saw nothing keeps
            pass
        yield


def run_cli(monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["flexrec", *argv])
    with pytest.raises(SystemExit) as ended:
        cli.main()
    code = ended.value.code
    return code if isinstance(code, int) else 0


@pytest.mark.usefixtures("service_env")
def test_json_lists_every_leg_of_the_day_in_few_requests(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Exit 1: none of these legs reached flexrec (no webhooks), so each is an exception.
    assert run_cli(monkeypatch, "coverage", "--since", "2026-03-03", "--json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["legs"] == 2_500
    assert report["summary"]["not_seen_legs"] == 2_500
    # Twilio is asked day by day (the 3rd and, in case `<` excludes its day, the 4th): three
    # pages of calls (1,000 a page, the 4th's call among them) and one of recordings.
    assert report["twilio_requests"] == 4
    recorded = [leg for leg in report["legs"] if leg["recordings"]]
    assert len(recorded) == 1 and recorded[0]["recordings"][0]["status"] == "completed"


@pytest.mark.usefixtures("service_env")
def test_the_table_ends_with_the_summary_and_the_exceptions(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ("coverage", "--since", "2026-03-03T08:00Z", "--until", "2026-03-03T08:01Z")
    assert run_cli(monkeypatch, *argv) == 1
    out = " ".join(capsys.readouterr().out.split())  # as read, whatever the terminal's width
    assert "2026-03-03 08:00:00 to 2026-03-03 08:01:00 UTC: 12 call legs;" in out
    assert "0 of 0 eligible calls recorded" in out and "12 legs flexrec never saw" in out
    assert "except these 12:" in out
    assert out.count("not seen: no webhook, search or reconciliation ever named this leg") == 12
