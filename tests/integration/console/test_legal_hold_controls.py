"""Legal holds from the console (supervisors only) and the admin API; the console shows them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from console_client_helpers import SECRET, TestClient, csrf_of

from flexrec.app.factory import create_app
from flexrec.app.sandbox import AGENTS, SUPERVISOR, Sandbox
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier

ADMIN = "admin-token-123456"


def test_supervisor_holds_and_releases_from_the_console(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    sam = client_for(*SUPERVISOR)
    sid = sandbox.calls[0].recording_sid
    headers = {"X-CSRF-Token": csrf_of(sam)}
    path = f"/console/api/recordings/{sid}/legal-hold"
    assert sam.put(path, json={"reason": ""}, headers=headers).status_code == 400
    held = sam.put(path, json={"reason": "matter 17"}, headers=headers)
    assert held.status_code == 200, held.text
    detail = sam.get(f"/console/api/recordings/{sid}").json()
    assert (detail["legal_hold"], detail["held_by"], detail["hold_reason"]) == (
        True,
        "sam",
        "matter 17",
    )
    assert detail["may_hold"] is True
    listed = {i["recording_sid"]: i for i in sam.get("/console/api/recordings").json()["items"]}
    assert listed[sid]["legal_hold"] is True
    assert "retain_until" in listed[sid]
    assert sam.request("DELETE", path, json={"reason": ""}, headers=headers).status_code == 400
    released = sam.request("DELETE", path, json={"reason": "closed"}, headers=headers)
    assert released.json()["legal_hold"] is False
    again = sam.request("DELETE", path, json={"reason": "closed"}, headers=headers)
    assert again.status_code == 409 and "not on legal hold" in again.text


def test_agents_cannot_change_holds_nor_read_their_reasons(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    alice = client_for("alice", AGENTS["alice"][0])
    own = next(c for c in sandbox.calls if c.worker_sid == AGENTS["alice"][1]).recording_sid
    headers = {"X-CSRF-Token": csrf_of(alice)}
    refused = alice.put(
        f"/console/api/recordings/{own}/legal-hold", json={"reason": "x"}, headers=headers
    )
    assert refused.status_code == 403
    detail = alice.get(f"/console/api/recordings/{own}").json()
    assert detail["may_hold"] is False
    assert "hold_reason" not in detail


def test_admin_api_sets_lists_shows_and_releases_holds(sandbox: Sandbox) -> None:
    settings = Settings(
        twilio=TwilioSettings(account_sid="AC" + "0" * 32, auth_token="token"),
        server=ServerSettings(console_secret=SECRET, admin_token=ADMIN),
    )
    services = Services(
        recording=object(),  # type: ignore[arg-type] # these routes never call it
        tokens=sandbox.tokens,
        verifier=SignatureVerifier("token"),
        sessions=sandbox.sessions,
        archive=sandbox.archive,
    )
    sid = sandbox.calls[1].recording_sid
    auth = {"Authorization": f"Bearer {ADMIN}"}
    with TestClient(create_app(settings, services)) as client:
        path = f"/api/admin/recordings/{sid}/legal-hold"
        assert client.put(path, json={"reason": "x"}).status_code == 401
        assert client.put(path, json={}, headers=auth).status_code == 400
        unknown = client.put(
            f"/api/admin/recordings/RE{'9' * 32}/legal-hold", json={"reason": "x"}, headers=auth
        )
        assert unknown.status_code == 404
        held = client.put(path, json={"reason": "subpoena 4"}, headers=auth)
        assert held.status_code == 200
        assert held.json()["held_by"] == "flexrec-admin"
        holds = client.get("/api/admin/legal-holds", headers=auth).json()["items"]
        assert [h["recording_sid"] for h in holds] == [sid]
        retention = client.get(f"/api/admin/recordings/{sid}/retention", headers=auth).json()
        assert retention["legal_hold"] is True
        assert "retain_until" in retention  # the sandbox seeds rows without a policy date
        # Releasing says why, as the CLI and the console do (it was an audit row with "").
        no_reason = client.delete(path, headers=auth)
        assert no_reason.status_code == 400, no_reason.text
        assert client.get("/api/admin/legal-holds", headers=auth).json()["items"] != []
        released = client.request("DELETE", path, json={"reason": "matter closed"}, headers=auth)
        assert released.status_code == 200
        assert released.json()["legal_hold"] is False
        assert client.get("/api/admin/legal-holds", headers=auth).json()["items"] == []
        # Releasing what is not held is a conflict, not a success, and writes nothing.
        again = client.delete(path, params={"reason": "closed twice"}, headers=auth)
        assert (again.status_code, again.json()["error"]) == (409, "not_held")
        cleared = client.get(
            "/api/admin/audit", params={"action": "legal_hold_cleared"}, headers=auth
        ).json()["items"]
        assert [(e["recording_sid"], e["detail"]["reason"]) for e in cleared] == [
            (sid, "matter closed")
        ]
