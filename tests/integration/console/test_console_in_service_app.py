"""The console mounted on the service's own app by the one app factory, beside the archive."""

from __future__ import annotations

from typing import Any

from console_client_helpers import SECRET, TestClient, csrf_of

from flexrec.app.factory import create_app
from flexrec.app.sandbox import AGENTS, Sandbox
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier


class _NoRecording:
    """The console never calls the recording service; anything it did would fail loudly."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"console called recording.{name}")


def test_console_works_inside_create_app(sandbox: Sandbox) -> None:
    settings = Settings(
        twilio=TwilioSettings(account_sid="AC" + "0" * 32, auth_token="token"),
        server=ServerSettings(
            console_secret=SECRET,
            admin_token="admin-token-123",
            public_url="https://rec.example.com",
        ),
    )
    services = Services(
        recording=_NoRecording(),
        tokens=sandbox.tokens,
        verifier=SignatureVerifier("token"),
        sessions=sandbox.sessions,
        archive=sandbox.archive,
    )
    # The one app factory mounts the console and the archive's routes with everything else.
    app = create_app(settings, services)
    with TestClient(app) as client:
        denied = client.get("/console/api/recordings")
        assert denied.status_code == 401
        assert "sign in" in denied.json()["message"]
        login_page = client.get("/console/login")
        # The form's cookie is Secure too: hand it back as a browser behind TLS would.
        client.cookies.set(
            "flexrec_login_csrf",
            login_page.cookies["flexrec_login_csrf"],
            domain="testserver.local",
        )
        signed_in = client.post(
            "/console/login",
            data={
                "username": "alice",
                "password": AGENTS["alice"][0],
                "csrf_token": login_page.cookies["flexrec_login_csrf"],
            },
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        # Served over http here, but the public URL is https: the cookie must be Secure.
        assert "secure" in signed_in.headers["set-cookie"].lower()
        # The test client talks plain http, so hand the cookie over as a browser behind TLS would.
        client.cookies.set(
            "flexrec_console", signed_in.cookies["flexrec_console"], domain="testserver.local"
        )
        items = client.get("/console/api/recordings").json()["items"]
        assert items and {i["worker_sid"] for i in items} == {AGENTS["alice"][1]}
        link = client.post(
            f"/console/api/recordings/{items[0]['recording_sid']}/media-url",
            json={"purpose": "play"},
            headers={"X-CSRF-Token": csrf_of(client)},
        )
        assert link.status_code == 200
        # The console's default signer (from FLEXREC_CONSOLE_SECRET) matches the archive's.
        assert client.get(link.json()["url"]).status_code == 200
