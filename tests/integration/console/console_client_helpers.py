"""Helpers shared by the console's integration tests (a unique name: tests have no packages)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from httpx import Response

SECRET = "integration-console-secret-123456"

__all__ = ["SECRET", "TestClient", "csrf_of", "login_csrf_of", "sign_in"]


def csrf_of(client: TestClient) -> str:
    """The CSRF token the console's pages hand to the signed-in browser."""
    page = client.get("/console/")
    assert page.status_code == 200
    marker = '<meta name="csrf-token" content="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


def login_csrf_of(client: TestClient) -> str:
    """The login CSRF token the sign-in page puts in its form (and, paired, in a cookie)."""
    page = client.get("/console/login")
    assert page.status_code == 200
    marker = '<input type="hidden" name="csrf_token" value="'
    start = page.text.index(marker) + len(marker)
    return page.text[start : page.text.index('"', start)]


def sign_in(client: TestClient, username: str, password: str, **fields: str) -> Response:
    """Post the password form as a browser would: the sign-in page first, then its form."""
    data = {"username": username, "password": password, "csrf_token": login_csrf_of(client)}
    return client.post("/console/login", data={**data, **fields}, follow_redirects=False)
