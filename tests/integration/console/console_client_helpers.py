"""Helpers shared by the console's integration tests (a unique name: tests have no packages)."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

SECRET = "integration-console-secret-123456"

__all__ = ["SECRET", "TestClient", "csrf_of"]


def csrf_of(client: TestClient) -> str:
    """The CSRF token the console's pages hand to the signed-in browser."""
    page = client.get("/console/")
    assert page.status_code == 200
    marker = '<meta name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]
