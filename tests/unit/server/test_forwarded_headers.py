"""Without FLEXREC_PUBLIC_URL, forwarded headers from an untrusted peer do not decide which URL
a webhook's signature is checked against; trusted proxies are configurable; start-up says what
signatures are checked against."""

from __future__ import annotations

import asyncio
from urllib.parse import urlencode

import httpx
import uvicorn
from server_harness import AUTH_TOKEN, FakeTokens, StubRecording, make_settings, sign

from flexrec.app.factory import create_app
from flexrec.cli.serve import _listening, signature_url_rule
from flexrec.config import ServerSettings, Settings
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier

CALL = {"CallSid": "CA" + "5" * 32, "CallStatus": "completed", "Direction": "inbound"}


def post_through_uvicorn(settings: Settings, peer: str, signed_url: str, **headers: str) -> int:
    """A signed call-status webhook through the app as `flexrec serve` configures uvicorn."""
    services = Services(
        recording=StubRecording(), tokens=FakeTokens(), verifier=SignatureVerifier(AUTH_TOKEN)
    )
    config = uvicorn.Config(create_app(settings, services), **_listening(settings))
    config.load()

    async def post() -> int:
        transport = httpx.ASGITransport(app=config.loaded_app, client=(peer, 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://rec.test") as client:
            response = await client.post(
                "/webhooks/call-status",
                content=urlencode(CALL),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": sign(signed_url, CALL),
                    **headers,
                },
            )
            return response.status_code

    return asyncio.run(post())


def test_an_untrusted_peer_cannot_choose_the_scheme_signatures_are_checked_against() -> None:
    settings = make_settings()
    forged = {"X-Forwarded-Proto": "https"}
    https_url = "https://rec.test/webhooks/call-status"
    assert post_through_uvicorn(settings, "127.0.0.1", https_url, **forged) == 403
    assert post_through_uvicorn(settings, "127.0.0.1", https_url.replace("https", "http")) == 204


def test_a_configured_proxy_is_believed() -> None:
    settings = make_settings(trusted_proxies="10.0.0.0/8")
    forwarded = {"X-Forwarded-Proto": "https"}
    https_url = "https://rec.test/webhooks/call-status"
    assert post_through_uvicorn(settings, "10.1.2.3", https_url, **forwarded) == 204
    assert post_through_uvicorn(settings, "192.0.2.7", https_url, **forwarded) == 403


def test_start_up_says_what_signatures_are_checked_against() -> None:
    public = Settings(server=ServerSettings(public_url="https://rec.example.com/"))
    assert "https://rec.example.com/webhooks/..." in signature_url_rule(public)
    own = signature_url_rule(Settings())
    assert "Host header" in own and "no trusted proxies" in own and "FLEXREC_PUBLIC_URL" in own
