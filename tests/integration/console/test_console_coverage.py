"""The console's coverage page and API: a supervisor reads a day's report (the one
`flexrec coverage` builds); agents cannot; Twilio trouble is a 503 saying what is wrong."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from console_client_helpers import SECRET, TestClient, sign_in
from coverage_day import LEGS, CoverageDay, build_day
from fastapi import FastAPI

from flexrec.accounts.users import create_user
from flexrec.archive.signed_urls import MediaLinkSigner
from flexrec.console.router import ConsoleDeps, create_console_router
from flexrec.coverage.service import CoverageReports
from flexrec.twilio.errors import GatewayError


@pytest.fixture
def day(tmp_path: Path) -> Iterator[CoverageDay]:
    built = build_day(f"sqlite:///{tmp_path / 'flexrec.db'}")
    with built.sessions() as session:
        create_user(session, "sam", "sam-password-1", "supervisor")
        create_user(session, "ann", "ann-password-1", "agent", worker_sid="WK" + "a" * 32)
        session.commit()
    yield built
    built.close()


def _client(day: CoverageDay, user: str, password: str, coverage: bool = True) -> TestClient:
    app = FastAPI()
    deps = ConsoleDeps(
        sessions=day.sessions,
        secret=SECRET,
        media_links=MediaLinkSigner(SECRET),
        coverage=CoverageReports(day.call_log, day.sessions) if coverage else None,
    )
    app.include_router(create_console_router(deps))
    client = TestClient(app)
    assert sign_in(client, user, password).status_code == 303
    return client


def test_a_supervisor_reads_the_days_report_and_twilio_is_asked_once_a_minute(
    day: CoverageDay,
) -> None:
    client = _client(day, "sam", "sam-password-1")
    page = client.get("/console/coverage")
    assert page.status_code == 200
    assert 'src="/console/static/coverage.js"' in page.text and "<h1>Coverage</h1>" in page.text
    assert 'href="/console/coverage"' in client.get("/console/").text  # in the supervisor's nav
    report = client.get("/console/api/coverage", params={"day": "2026-03-03"}).json()
    assert (report["summary"]["eligible_calls"], report["summary"]["recorded_calls"]) == (4, 2)
    assert report["exceptions"] == [LEGS[n] for n in ("E", "F", "G", "H")]
    asked = len(day.twilio.http_requests)
    again = client.get("/console/api/coverage", params={"day": "2026-03-03"}).json()
    assert again == report and len(day.twilio.http_requests) == asked


def test_agents_may_not_and_bad_days_are_refused(day: CoverageDay) -> None:
    agent = _client(day, "ann", "ann-password-1")
    assert agent.get("/console/api/coverage").status_code == 403
    assert agent.get("/console/coverage").status_code == 403
    supervisor = _client(day, "sam", "sam-password-1")
    # Not a date: FastAPI's validation (the service app answers it 400, as every route).
    for bad in ("2026-02-30", "yesterday"):
        assert supervisor.get("/console/api/coverage", params={"day": bad}).status_code == 422
    last = supervisor.get("/console/api/coverage", params={"day": "9999-12-31"})
    assert last.status_code == 400 and "out of range" in last.text


def test_twilio_trouble_or_no_account_is_503_saying_why(
    day: CoverageDay, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unreachable(*_args: object) -> object:
        raise GatewayError("ConnectTimeout: timed out", status=None)

    monkeypatch.setattr(day.call_log, "call_pages", unreachable)
    client = _client(day, "sam", "sam-password-1")
    answer = client.get("/console/api/coverage", params={"day": "2026-03-03"})
    assert answer.status_code == 503 and "Twilio could not be reached" in answer.json()["detail"]
    off = _client(day, "sam", "sam-password-1", coverage=False)
    assert off.get("/console/api/coverage").status_code == 503
