"""`/` leads to the console; `/docs` and `/redoc` load only same-origin assets under a CSP."""

from __future__ import annotations

import re

import pytest
from server_harness import Harness


def test_root_leads_to_the_console(harness: Harness) -> None:
    response = harness.client.get("/", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/console/"


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_pages_load_nothing_from_elsewhere(harness: Harness, path: str) -> None:
    response = harness.client.get(path)
    assert response.status_code == 200
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "<script>" not in response.text  # no inline script: the CSP would block it
    sources = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert sources
    for source in sources:
        assert source.startswith("/"), source
        assert harness.client.get(source).status_code == 200, source
    start = next(s for s in sources if s.endswith("-start.js"))
    assert "/openapi.json" in harness.client.get(start).text
