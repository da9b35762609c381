"""build_services from plain settings: migrated SQLite, SQLite queue, consumer with the lifespan."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from flexrec.app.factory import create_app
from flexrec.app.services import build_services, service_public_url
from flexrec.config import ServerSettings, Settings, StorageSettings, TwilioSettings


def settings(tmp_path: Path) -> Settings:
    return Settings(
        twilio=TwilioSettings(
            account_sid="AC" + "0" * 32,
            auth_token="wired-auth-token",
            workspace_sid="WS" + "0" * 32,
            base_url="http://127.0.0.1:9",  # nothing listens: no test reaches Twilio
        ),
        server=ServerSettings(public_url="https://rec.example.com"),
        storage=StorageSettings(data_dir=tmp_path / "data"),
    )


def test_build_services_migrates_and_checks_health(tmp_path: Path) -> None:
    services = build_services(settings(tmp_path), run_consumer=False)
    try:
        assert (tmp_path / "data" / "flexrec.db").exists()
        for check in services.health_checks.values():
            check()
        assert services.recording.list_recordings(limit=10, offset=0) == []
        assert set(services.queue.names) >= {"recording.start", "recording.reconcile"}
    finally:
        services.close()


def test_create_app_runs_consumer_and_serves_health(tmp_path: Path) -> None:
    app = create_app(settings(tmp_path))
    with TestClient(app) as client:
        services = app.state.services
        assert services.queue._consumer is not None
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "queue": "ok"}
        # Unsigned webhooks are still refused with the real wiring.
        assert client.post("/webhooks/taskrouter", data={"EventType": "x"}).status_code == 403
    assert services.queue._consumer is None


def test_service_public_url_falls_back_to_listen_address() -> None:
    s = Settings(server=ServerSettings(host="0.0.0.0", port=9000))  # noqa: S104
    assert service_public_url(s) == "http://0.0.0.0:9000"


def test_database_files_and_data_folder_are_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    old = data / "queue.db"
    old.touch(mode=0o644)  # left by an older version
    services = build_services(settings(tmp_path), run_consumer=False)
    try:
        for check in services.health_checks.values():
            check()
        assert data.stat().st_mode & 0o777 == 0o700
        for name in ("flexrec.db", "queue.db", "flexrec.db-wal"):
            path = data / name
            if path.exists():
                assert path.stat().st_mode & 0o077 == 0, name
        assert (data / "flexrec.db").exists()
    finally:
        services.close()


def test_the_service_refreshes_its_metrics_gauges_itself(tmp_path: Path) -> None:
    started = time.time()
    services = build_services(settings(tmp_path), run_consumer=False)
    services.close()  # each background chore runs a last time on close
    refreshed = REGISTRY.get_sample_value("flexrec_gauges_refreshed_timestamp_seconds")
    assert refreshed is not None and refreshed >= started
