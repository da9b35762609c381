"""`/docs` and `/redoc` in a real browser: each renders the API's title and its operations.

Their HTML and assets are checked without a browser in tests/unit/server/test_docs_and_root.py;
a vendored script that does not parse (the Redoc bundle once lost whole lines of minified code
to the asset script) still serves 200 there and shows a blank page here.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from testkit import chromium

from flexrec.app.factory import create_app
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier
from flexsim import serve_app

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# An operation every build of the service has (the agent API's pause).
OPERATION = "/api/agent/tasks/{task_sid}/recording/pause"


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    settings = Settings(
        twilio=TwilioSettings(account_sid="AC" + "0" * 32, auth_token="docs-test-token"),
        server=ServerSettings(),
    )
    # The pages need the app's routes, not its services: nothing here handles a request.
    services = Services(
        recording=None,  # type: ignore[arg-type]
        tokens=None,  # type: ignore[arg-type]
        verifier=SignatureVerifier("docs-test-token"),
        health_checks={},
    )
    app = create_app(settings, services)
    with serve_app(app) as url:
        yield url


def _open(browser: object, url: str) -> tuple[object, list[str]]:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url)
    return page, errors


def test_swagger_ui_renders_the_title_and_an_operation(base_url: str) -> None:
    with chromium() as browser:
        page, errors = _open(browser, f"{base_url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)  # type: ignore[attr-defined]
        title = page.locator(".info .title").first.inner_text()  # type: ignore[attr-defined]
        paths = page.locator(".opblock-summary-path").all_inner_texts()  # type: ignore[attr-defined]
        assert title.startswith("flexrec")
        assert any(OPERATION in path for path in paths), paths
        assert errors == []


def test_redoc_renders_the_title_and_an_operation(base_url: str) -> None:
    with chromium() as browser:
        page, errors = _open(browser, f"{base_url}/redoc")
        page.wait_for_selector("h1", timeout=30_000)  # type: ignore[attr-defined]
        assert page.locator("h1").first.inner_text().startswith("flexrec")  # type: ignore[attr-defined]
        # Redoc lists each operation's path in its right-hand panel.
        page.wait_for_function(  # type: ignore[attr-defined]
            "path => document.body.innerText.includes(path)", arg=OPERATION, timeout=30_000
        )
        assert errors == []
