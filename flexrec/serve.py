"""Process entry points: the service (`flexrec serve`) and queue-only workers (`flexrec worker`)."""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import uvicorn
from fastapi import FastAPI

from flexrec.config import Settings
from flexrec.server.app import create_app
from flexrec.server.archive_wiring import (
    attach_archive,
    mount_archive_and_console,
    requeue_unfinished,
)
from flexrec.server.logging_setup import configure_logging, get_logger
from flexrec.server.wiring import Services, build_services

log = get_logger(__name__)


def _logging(settings: Settings) -> None:
    # The SDK logs every request and its headers at INFO: too much, and not ours to keep.
    logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
    configure_logging(
        os.environ.get("FLEXREC_LOG_LEVEL", "INFO"),
        secrets=[
            settings.twilio.auth_token.get_secret_value(),
            settings.twilio.api_secret.get_secret_value(),
            settings.server.admin_token.get_secret_value(),
            settings.server.console_secret.get_secret_value(),
            settings.storage.archive_key.get_secret_value(),
        ],
    )


def build_service(settings: Settings, *, consumer_workers: int = 4) -> tuple[FastAPI, Services]:
    """Everything `flexrec serve` runs: services, archive, the app with every route mounted."""
    services = build_services(
        settings, run_consumer=consumer_workers > 0, consumer_workers=max(1, consumer_workers)
    )
    attach_archive(settings, services)
    app = create_app(settings, services)
    mount_archive_and_console(app, settings, services)
    return app, services


def _recover(services: Services) -> None:
    # After a crash the queue may have lost jobs in flight: the database is the truth.
    try:
        requeued = services.recording.reconcile()
        archives = requeue_unfinished(services)
        log.info("startup_recovery", recording_targets=requeued, archive_jobs=archives)
    except Exception:
        log.exception("startup_recovery_failed")


def start_reconcile_ticker(services: Services, interval_s: float) -> threading.Event:
    """Enqueue the reconciliation every `interval_s` seconds; set the returned event to stop.

    The queue's own periodic schedule has one-minute granularity; a webhook lost while the
    service was down (Twilio gives up on a callback after a few retries) should be caught
    sooner than that on a busy line.
    """
    from flexrec.recording.context import JOB_RECONCILE

    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(interval_s):
            try:
                services.queue.enqueue(JOB_RECONCILE)
            except Exception:
                log.exception("reconcile_enqueue_failed")

    threading.Thread(target=tick, name="flexrec-reconcile", daemon=True).start()
    return stop


def run_service(
    host: str | None = None, port: int | None = None, consumer_workers: int = 4
) -> None:
    """Serve webhooks, APIs and console, with queue workers in this process unless told not to."""
    settings = Settings.from_env()
    if host:
        settings.server.host = host
    if port:
        settings.server.port = port
    _logging(settings)
    app, services = build_service(settings, consumer_workers=consumer_workers)
    if consumer_workers > 0:
        # Runs once the server is up, so recovery never delays the first webhook's answer.
        threading.Timer(1.0, _recover, args=(services,)).start()
        if settings.server.reconcile_interval_s < 60:
            start_reconcile_ticker(services, settings.server.reconcile_interval_s)
    try:
        uvicorn.run(
            app,
            host=settings.server.host,
            port=settings.server.port,
            log_level="warning",
            access_log=False,
            proxy_headers=True,
        )
    finally:
        services.close()


def run_worker(workers: int = 4) -> None:
    """Run only the queue workers (scaled deployment), until SIGTERM or SIGINT."""
    settings = Settings.from_env()
    _logging(settings)
    services = build_services(settings, run_consumer=True, consumer_workers=workers)
    attach_archive(settings, services)
    _recover(services)
    if settings.server.reconcile_interval_s < 60:
        start_reconcile_ticker(services, settings.server.reconcile_interval_s)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    services.start()
    log.info("worker_started", workers=workers)
    stop.wait()
    services.close()
