"""`/` leads to the console; `/docs` and `/redoc` load only same-origin assets under a CSP."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from server_harness import Harness
from testkit import unavailable

from flexrec.server.docs_pages import STATIC_DIR


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


@pytest.mark.parametrize("script", ["swagger-ui-bundle.js", "redoc.standalone.js"])
def test_vendored_viewers_parse(script: str) -> None:
    # The asset script once deleted every line naming sourceMappingURL, minified code included:
    # Redoc still served 200 and drew a blank page. node --check parses without running.
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed (make system-deps)")
    path = STATIC_DIR / script
    result = subprocess.run(
        [node, "--check", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-500:]
