"""Signing in to the console: passwords, Flex tokens, cookies, sign-out and CSRF."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console_client_helpers import TestClient, csrf_of, login_csrf_of, sign_in
from fastapi import FastAPI

from flexrec.app.sandbox import AGENTS, SUPERVISOR, Sandbox
from flexrec.console.auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE
from flexrec.twilio.flex_tokens import TokenServiceUnavailable


def test_pages_send_strangers_to_sign_in_and_the_api_answers_401(
    client_for: Callable[..., Any],
) -> None:
    client = client_for()
    page = client.get("/console/", follow_redirects=False)
    assert page.status_code == 303
    assert page.headers["location"].startswith("/console/login?next=")
    assert client.get("/console/api/recordings").status_code == 401
    assert client.get("/console/api/me").status_code == 401


def test_password_sign_in_sets_a_hardened_session_cookie(client_for: Callable[..., Any]) -> None:
    client = client_for()
    response = sign_in(client, *SUPERVISOR, next="/console/x")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/x"
    cookie = response.headers["set-cookie"].lower()
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    for flag in ("httponly", "samesite=lax", "max-age=", "path=/console"):
        assert flag in cookie
    me = client.get("/console/api/me").json()["user"]
    assert me == {"username": "sam", "role": "supervisor", "worker_sid": None, "via": "password"}


def test_sign_in_never_redirects_off_the_console(client_for: Callable[..., Any]) -> None:
    response = sign_in(client_for(), *SUPERVISOR, next="https://evil.example")
    assert response.headers["location"] == "/console/"


def test_wrong_password_and_unknown_user_get_401(client_for: Callable[..., Any]) -> None:
    client = client_for()
    for username, password in ((SUPERVISOR[0], "wrong-password"), ("nobody", "whatever1")):
        response = sign_in(client, username, password)
        assert response.status_code == 401
        assert "Wrong user name or password" in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.get("/console/api/me").status_code == 401


def test_sign_in_page_pairs_its_form_token_with_a_strict_cookie(
    client_for: Callable[..., Any],
) -> None:
    client = client_for()
    token = login_csrf_of(client)
    assert client.cookies[LOGIN_CSRF_COOKIE] == token
    page = client.get("/console/login")
    cookie = page.headers["set-cookie"].lower()
    assert cookie.startswith(f"{LOGIN_CSRF_COOKIE}=")
    for flag in ("httponly", "samesite=strict", "path=/console/login"):
        assert flag in cookie
    assert login_csrf_of(client) != token  # every page view gets a fresh token


def test_password_sign_in_without_the_login_csrf_token_is_refused(
    client_for: Callable[..., Any],
) -> None:
    # A cross-site form posts the attacker's credentials: no token, or a token of its own
    # that does not match the cookie our sign-in page gave this browser.
    client = client_for()
    credentials = {"username": SUPERVISOR[0], "password": SUPERVISOR[1]}
    bare = client.post("/console/login", data=credentials, follow_redirects=False)
    attacker_token = login_csrf_of(client_for())
    login_csrf_of(client)  # the victim's browser holds its own cookie
    forged = client.post(
        "/console/login",
        data={**credentials, "csrf_token": attacker_token},
        follow_redirects=False,
    )
    for response in (bare, forged):
        assert response.status_code == 403
        assert "please sign in again" in response.text
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert client.get("/console/api/me").status_code == 401
    # The refusal serves a fresh form, and signing in with it works.
    assert sign_in(client, *SUPERVISOR).status_code == 303
    assert client.get("/console/api/me").status_code == 200


def test_flex_token_sign_in_takes_role_and_worker_from_the_token(
    client_for: Callable[..., Any],
) -> None:
    client = client_for()
    response = client.post("/console/login/flex", json={"token": "flex-alice-token"})
    assert response.status_code == 200
    assert response.json()["user"] == {
        "username": "alice@flex",
        "role": "agent",
        "worker_sid": AGENTS["alice"][1],
        "via": "flex",
    }
    assert client.get("/console/api/me").json()["user"]["username"] == "alice@flex"

    browser = client_for()
    token = login_csrf_of(browser)
    form = browser.post(
        "/console/login/flex", data={"Token": "flex-supervisor-token", "csrf_token": token}
    )
    assert form.status_code == 200
    assert form.json()["user"]["role"] == "supervisor"


def test_a_form_flex_sign_in_without_the_login_csrf_token_is_refused(
    client_for: Callable[..., Any],
) -> None:
    # A cross-site page can post a form (but not JSON or a Bearer header) to sign the
    # victim's browser in as the attacker's Flex user.
    victim = client_for()
    attacker_token = login_csrf_of(client_for())
    login_csrf_of(victim)  # the victim's browser holds its own cookie
    for fields in ({}, {"csrf_token": attacker_token}):
        refused = victim.post("/console/login/flex", data={"Token": "flex-alice-token", **fields})
        assert refused.status_code == 403
        assert victim.get("/console/api/me").status_code == 401


def test_bad_flex_tokens_get_401_and_an_iam_outage_503(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    client = client_for()
    assert client.post("/console/login/flex", json={"token": "forged"}).status_code == 401
    assert client.post("/console/login/flex", json={}).status_code == 401
    assert client.get("/console/api/me").status_code == 401

    def unavailable(token: str) -> Any:
        raise TokenServiceUnavailable("IAM down")

    sandbox.tokens.validate = unavailable  # type: ignore[method-assign]
    assert client.post("/console/login/flex", json={"token": "x"}).status_code == 503


def test_tampered_or_expired_cookies_are_signed_out(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    client = client_for(*SUPERVISOR)
    value = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    client.cookies.set(SESSION_COOKIE, value[:-3] + "AAA", path="/console")
    assert client.get("/console/api/recordings").status_code == 401


def test_sign_out_needs_the_csrf_token(client_for: Callable[..., Any]) -> None:
    client = client_for(*SUPERVISOR)
    token = csrf_of(client)
    refused = client.post("/console/logout", data={"csrf_token": "nope"}, follow_redirects=False)
    assert refused.status_code == 403
    assert client.get("/console/api/me").status_code == 200
    done = client.post("/console/logout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    client.cookies.clear()  # the browser drops the cookie the answer expired
    assert client.get("/console/api/me").status_code == 401


def test_pages_carry_a_strict_content_security_policy(client_for: Callable[..., Any]) -> None:
    page = client_for(*SUPERVISOR).get("/console/")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-eval" not in policy


def test_an_expired_flex_token_from_iam_is_401(sandbox: Sandbox) -> None:
    import httpx

    from flexrec.console.router import ConsoleDeps, create_console_router
    from flexrec.twilio.flex_tokens import FlexTokenValidator

    def iam(request: httpx.Request) -> httpx.Response:
        # IAM says the token is valid, but it expired an hour ago.
        return httpx.Response(
            200,
            json={
                "valid": True,
                "identity": "alice",
                "worker_sid": AGENTS["alice"][1],
                "roles": ["agent"],
                "expiration": "2020-01-01T00:00:00Z",
            },
        )

    validator = FlexTokenValidator("AC" + "0" * 32, "auth", transport=httpx.MockTransport(iam))
    app = FastAPI()
    app.include_router(
        create_console_router(
            ConsoleDeps(
                sessions=sandbox.sessions,
                secret="another-console-secret-0123456789",
                media_links=sandbox.signer,
                token_validator=validator,
            )
        )
    )
    with TestClient(app) as client:
        response = client.post("/console/login/flex", json={"token": "expired-token"})
        assert response.status_code == 401
        assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    validator.close()
