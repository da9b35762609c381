"""Console sessions are revocable: sign-out, a disabled, removed or demoted account takes effect
on the very next request, even for a copy of the cookie."""

from __future__ import annotations

from collections.abc import Callable

from console_client_helpers import TestClient, csrf_of, sign_in
from sqlalchemy import delete

from flexrec.accounts.changes import reset_password
from flexrec.accounts.users import ConsoleUser, get_user
from flexrec.app.sandbox import SUPERVISOR, Sandbox

SESSION_COOKIE = "flexrec_console"


def copy_of(client: TestClient, client_for: Callable[..., TestClient]) -> TestClient:
    """Another browser holding a stolen copy of the session cookie."""
    thief = client_for()
    thief.cookies.set(SESSION_COOKIE, client.cookies[SESSION_COOKIE])
    assert thief.get("/console/api/me").status_code == 200
    return thief


def test_a_copy_of_the_cookie_is_worthless_after_sign_out(
    client_for: Callable[..., TestClient],
) -> None:
    client = client_for(*SUPERVISOR)
    thief = copy_of(client, client_for)
    done = client.post(
        "/console/logout", data={"csrf_token": csrf_of(client)}, follow_redirects=False
    )
    assert done.status_code == 303
    assert thief.get("/console/api/me").status_code == 401


def test_a_disabled_account_loses_its_session_and_cannot_sign_in(
    sandbox: Sandbox, client_for: Callable[..., TestClient]
) -> None:
    client = client_for(*SUPERVISOR)
    with sandbox.sessions() as session:
        user = get_user(session, SUPERVISOR[0])
        assert user is not None
        user.disabled = True
        session.commit()
    assert client.get("/console/api/me").status_code == 401
    assert client.get("/console/api/recordings").status_code == 401
    assert sign_in(client_for(), *SUPERVISOR).status_code == 401


def test_a_removed_account_loses_its_session(
    sandbox: Sandbox, client_for: Callable[..., TestClient]
) -> None:
    client = client_for(*SUPERVISOR)
    with sandbox.sessions() as session:
        session.execute(delete(ConsoleUser).where(ConsoleUser.username == SUPERVISOR[0]))
        session.commit()
    assert client.get("/console/api/me").status_code == 401


def test_a_demoted_account_has_its_new_role_on_the_next_request(
    sandbox: Sandbox, client_for: Callable[..., TestClient]
) -> None:
    client = client_for(*SUPERVISOR)
    everything = client.get("/console/api/recordings").json()["total"]
    assert everything > 0
    with sandbox.sessions() as session:
        user = get_user(session, SUPERVISOR[0])
        assert user is not None
        user.role, user.worker_sid = "agent", "WK" + "f" * 32
        session.commit()
    me = client.get("/console/api/me").json()["user"]
    assert me["role"] == "agent"
    assert client.get("/console/api/recordings").json()["total"] == 0


def test_a_password_reset_signs_the_old_sessions_out(
    sandbox: Sandbox, client_for: Callable[..., TestClient]
) -> None:
    client = client_for(*SUPERVISOR)
    with sandbox.sessions() as session:
        reset_password(session, SUPERVISOR[0], "a-brand-new-password", "admin")
        session.commit()
    assert client.get("/console/api/me").status_code == 401
    assert (
        client_for(SUPERVISOR[0], "a-brand-new-password").get("/console/api/me").status_code == 200
    )
