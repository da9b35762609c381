"""The console's coverage API inside the service's own app (create_app and its wiring): the
service's gateway lists the day from the simulator's Twilio, its database adds what it knows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from twilio.rest import Client

from flexrec.accounts.users import create_user
from flexrec.app.factory import create_app
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.db.base import make_engine, make_session_factory
from flexrec.db.migrate import upgrade
from flexrec.server.services import Services
from flexrec.twilio.client import PooledHttpClient
from flexrec.twilio.gateway import SdkGateway
from flexrec.webhooks.signature import SignatureVerifier
from flexsim import SimClock, World, create_sim_app, defaults, serve_app

SECRET = "coverage-in-app-secret-0123456789"
NINE = datetime(2026, 3, 3, 9, tzinfo=UTC).timestamp()


class _Unused:
    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the coverage page called {name}")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    world = World(clock=SimClock(scale=0, start_epoch=NINE))
    for _ in range(3):
        call = world.create_call(
            from_="+15551230001", to="+15559870000", direction="inbound", party="customer"
        )
        world.set_call_status(call, "in-progress")
        world.clock.advance(60)
        world.set_call_status(call, "completed")
    url = f"sqlite:///{tmp_path / 'flexrec.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with sessions() as session:
        create_user(session, "sam", "sam-password-1", "supervisor")
        session.commit()
    settings = Settings(
        twilio=TwilioSettings(account_sid=defaults.ACCOUNT_SID, auth_token=defaults.AUTH_TOKEN),
        server=ServerSettings(console_secret=SECRET),
    )
    with serve_app(create_sim_app(world)) as base_url:
        http = PooledHttpClient(base_url, timeout=10)  # the service's own transport
        sdk = Client(defaults.ACCOUNT_SID, defaults.AUTH_TOKEN, http_client=http)
        services = Services(
            recording=_Unused(),  # type: ignore[arg-type]
            tokens=_Unused(),  # type: ignore[arg-type]
            verifier=SignatureVerifier(defaults.AUTH_TOKEN),
            sessions=sessions,
            gateway=SdkGateway(sdk, defaults.ACCOUNT_SID, world.workspace_sid),
        )
        with TestClient(create_app(settings, services)) as test_client:
            yield test_client
        http.close()
    engine.dispose()


def test_a_supervisor_reads_the_days_coverage_through_the_services_gateway(
    client: TestClient,
) -> None:
    login = client.get("/console/login")
    token = login.cookies["flexrec_login_csrf"]
    signed_in = client.post(
        "/console/login",
        data={"username": "sam", "password": "sam-password-1", "csrf_token": token},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303
    report = client.get("/console/api/coverage", params={"day": "2026-03-03"}).json()
    assert report["account_sid"] == defaults.ACCOUNT_SID
    assert report["summary"]["legs"] == 3 and report["summary"]["not_seen_legs"] == 3
    # The service app answers a bad day 400, as every route does.
    assert client.get("/console/api/coverage", params={"day": "2026-02-30"}).status_code == 400
