"""Console accounts through the admin API: admins only, every change audited."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from console_client_helpers import SECRET, TestClient

from flexrec.accounts.users import authenticate_user
from flexrec.app.factory import create_app
from flexrec.app.sandbox import Sandbox
from flexrec.archive.audit_log import AuditFilters, search
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier

ADMIN = {"Authorization": "Bearer admin-token-123456"}


@pytest.fixture
def client(sandbox: Sandbox) -> Iterator[TestClient]:
    settings = Settings(
        twilio=TwilioSettings(account_sid="AC" + "0" * 32, auth_token="token"),
        server=ServerSettings(console_secret=SECRET, admin_token="admin-token-123456"),
    )
    services = Services(
        recording=object(),  # type: ignore[arg-type] # never called by these routes
        tokens=sandbox.tokens,
        verifier=SignatureVerifier("token"),
        sessions=sandbox.sessions,
        archive=sandbox.archive,
    )
    with TestClient(create_app(settings, services)) as c:
        yield c


def test_create_change_reset_and_remove(client: TestClient, sandbox: Sandbox) -> None:
    wk = "WK" + "c" * 32
    made = client.post(
        "/api/admin/users",
        json={"username": "dee", "role": "agent", "password": "dee-pass-1", "worker_sid": wk},
        headers=ADMIN,
    )
    assert made.status_code == 201, made.text
    assert "password" not in made.text and "hash" not in made.text
    assert (
        client.post(
            "/api/admin/users", json={"username": "dee", "password": "x" * 8}, headers=ADMIN
        ).status_code
        == 400
    )  # already exists
    names = [u["username"] for u in client.get("/api/admin/users", headers=ADMIN).json()["items"]]
    assert "dee" in names and "sam" in names
    off = client.patch("/api/admin/users/dee", json={"disabled": True}, headers=ADMIN)
    assert off.json()["disabled"] is True
    with sandbox.sessions() as session:
        assert authenticate_user(session, "dee", "dee-pass-1") is None
    promoted = client.patch(
        "/api/admin/users/dee", json={"role": "supervisor", "disabled": False}, headers=ADMIN
    )
    assert (promoted.json()["role"], promoted.json()["disabled"]) == ("supervisor", False)
    reset = client.put(
        "/api/admin/users/dee/password", json={"password": "new-pass-2"}, headers=ADMIN
    )
    assert reset.status_code == 200
    with sandbox.sessions() as session:
        assert authenticate_user(session, "dee", "new-pass-2") is not None
    assert client.delete("/api/admin/users/dee", headers=ADMIN).status_code == 204
    assert client.delete("/api/admin/users/dee", headers=ADMIN).status_code == 404
    with sandbox.sessions() as session:
        rows, _ = search(session, AuditFilters(limit=50))
        actions = [r.action for r in rows if r.action.startswith("user_")]
    assert sorted(actions) == sorted([
        "user_created", "user_disabled", "user_role_changed", "user_enabled",
        "user_password_reset", "user_removed",
    ])  # fmt: skip
    assert all(r.actor == "flexrec-admin" for r in rows if r.action.startswith("user_"))


def test_supervisors_cannot_manage_accounts(client: TestClient) -> None:
    assert client.get("/api/admin/users").status_code == 401
    supervisor = {"Authorization": "Bearer flex-supervisor-token"}
    assert client.get("/api/admin/users", headers=supervisor).status_code == 403
