"""Sign-ins, failed sign-ins and refused views are audited; the audit page filters and exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

from console_client_helpers import SECRET, TestClient, sign_in

from flexrec.app.factory import create_app
from flexrec.app.sandbox import AGENTS, SUPERVISOR, Sandbox
from flexrec.archive.audit_log import record_event
from flexrec.config import ServerSettings, Settings, TwilioSettings
from flexrec.server.services import Services
from flexrec.webhooks.signature import SignatureVerifier


def _entries(client: TestClient, **params: str) -> list[dict[str, Any]]:
    response = client.get("/console/api/audit", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_sign_ins_failures_and_refused_views_are_recorded(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    stranger = client_for()
    assert sign_in(stranger, "alice", "wrong-password").status_code == 401
    alice = client_for("alice", AGENTS["alice"][0])
    bobs = next(c for c in sandbox.calls if c.worker_sid == AGENTS["bob"][1]).recording_sid
    assert alice.get(f"/console/api/recordings/{bobs}").status_code == 403
    assert alice.get(f"/console/recordings/{bobs}").status_code == 403
    sam = client_for(*SUPERVISOR)
    by_action = {(e["action"], e["actor"]) for e in _entries(sam)}
    assert ("sign_in_failed", "alice") in by_action
    assert ("sign_in", "alice") in by_action
    assert ("sign_in", "sam") in by_action
    refused = _entries(sam, action="view_refused")
    assert len(refused) == 2
    assert {e["recording_sid"] for e in refused} == {bobs}
    assert all(e["actor"] == "alice" for e in refused)
    failed = _entries(sam, action="sign_in_failed")[0]
    assert failed["detail"]["reason"] == "bad_password"
    assert "wrong-password" not in str(failed)


def test_filters_page_and_csv_export(client_for: Callable[..., Any], sandbox: Sandbox) -> None:
    record_event(sandbox.sessions, "play", '=HYPERLINK("x")', recording_sid="RE" + "5" * 32)
    sam = client_for(*SUPERVISOR)
    assert [e["actor"] for e in _entries(sam, user="sam")] == ["sam"]
    assert len(_entries(sam, recording="RE" + "5" * 32)) == 1
    assert _entries(sam, since="2999-01-01T00:00:00") == []
    # 400 in the service app (its validation handler), 422 in the bare sandbox app
    assert sam.get("/console/api/audit", params={"recording": "nope"}).status_code in (400, 422)
    exported = sam.get("/console/api/audit.csv")
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:3] == ["at", "actor", "action"]
    actors = [r[1] for r in rows[1:]]
    assert '\'=HYPERLINK("x")' in actors  # never a live formula in a spreadsheet
    assert _entries(sam, action="audit_exported")[0]["actor"] == "sam"


def test_agents_have_no_audit_page(client_for: Callable[..., Any]) -> None:
    alice = client_for("alice", AGENTS["alice"][0])
    assert alice.get("/console/api/audit").status_code == 403
    assert alice.get("/console/audit").status_code == 403
    assert 'href="/console/audit"' not in alice.get("/console/").text
    sam = client_for(*SUPERVISOR)
    page = sam.get("/console/audit")
    assert page.status_code == 200 and "Audit log" in page.text
    assert 'href="/console/audit"' in sam.get("/console/").text


def test_admin_api_reads_the_audit_log(sandbox: Sandbox) -> None:
    record_event(sandbox.sessions, "play", "kim", recording_sid="RE" + "6" * 32)
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
    auth = {"Authorization": "Bearer admin-token-123456"}
    with TestClient(create_app(settings, services)) as client:
        assert client.get("/api/admin/audit").status_code == 401
        body = client.get("/api/admin/audit", params={"user": "kim"}, headers=auth).json()
        assert body["total"] == 1 and body["items"][0]["recording_sid"] == "RE" + "6" * 32
        csv_text = client.get("/api/admin/audit", params={"format": "csv"}, headers=auth).text
        assert csv_text.splitlines()[0].startswith("at,actor,action")
        # The API's export is audited as the console's is: who, from where, which filters.
        exports = client.get(
            "/api/admin/audit", params={"action": "audit_exported"}, headers=auth
        ).json()["items"]
        assert [(e["actor"], e["detail"]["via"]) for e in exports] == [
            ("flexrec-admin", "admin_api")
        ]
        assert exports[0]["ip"] == "testclient"
        # A misspelt action is refused with the names that exist, not answered with nothing.
        typo = client.get("/api/admin/audit", params={"action": "legal_hold_sett"}, headers=auth)
        assert typo.status_code == 400
        assert typo.json()["error"] == "unknown_action"
        assert "legal_hold_set, legal_hold_cleared" not in typo.text  # sorted, not as written
        assert "legal_hold_cleared, legal_hold_set" in typo.json()["message"]
        as_csv = {"action": "nope", "format": "csv"}
        assert client.get("/api/admin/audit", params=as_csv, headers=auth).status_code == 400


def test_the_console_refuses_an_unknown_action_filter(
    client_for: Callable[..., Any], sandbox: Sandbox
) -> None:
    sam = client_for(*SUPERVISOR)
    for path in ("/console/api/audit", "/console/api/audit.csv"):
        refused = sam.get(path, params={"action": "legal_hold_sett"})
        assert refused.status_code == 400 and "legal_hold_set" in refused.text
    assert _entries(sam, action="audit_exported") == []  # a refused export is no export
    # An action the log holds but no list names (an older or newer writer's) still filters.
    record_event(sandbox.sessions, "custom_action", "x")
    assert [e["action"] for e in _entries(sam, action="custom_action")] == ["custom_action"]
