"""Builds the service's long-lived objects from settings (`Services`, flexrec.server.services).

Nothing here runs at import time: `build_services(settings)` opens the database (running
migrations), creates the SDK client, the gateway, the job queue, the recording service, the
Flex token validator and the archive (flexrec.app.archive joins it to the recording
service). `create_app` calls it when it is not handed a ready `Services`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

from flexrec.app.archive import attach_archive
from flexrec.config import Settings
from flexrec.server.change_feed import ChangeFeed
from flexrec.server.services import HealthCheck, Services
from flexrec.web.token_guard import TokenGuard
from flexrec.webhooks.signature import SignatureVerifier

if TYPE_CHECKING:  # imported for the types only
    from flexrec.recording.owners import OwnerLease
    from flexrec.recording.service import RecordingService

PRUNE_EVERY_S = 60.0  # old task-change announcements are deleted this often


def database_check(engine: Engine) -> HealthCheck:
    """A health check running `SELECT 1` on the engine."""

    def check() -> None:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    return check


def queue_check(queue: object) -> HealthCheck:
    """A health check asking the job queue's storage something cheap."""

    def check() -> None:
        ping = getattr(queue, "ping", None)
        if callable(ping):
            ping()
            return
        huey = getattr(queue, "huey", None)
        if huey is not None:
            huey.pending_count()

    return check


def owner_tick(lease: OwnerLease, recording: RecordingService) -> Callable[[], None]:
    """One heartbeat of this process's claim owner, then take back what gone processes held
    (a web process killed -9 under `--processes N`, a worker on another machine)."""

    def tick() -> None:
        lease.beat()
        recording.reconciler.recover_claims()

    return tick


def service_public_url(settings: Settings) -> str:
    """Where Twilio reaches this service: FLEXREC_PUBLIC_URL, else the listen address."""
    return settings.server.public_url or f"http://{settings.server.host}:{settings.server.port}"


def build_services(
    settings: Settings, *, run_consumer: bool = True, consumer_workers: int = 4
) -> Services:
    """Create the service's objects from settings: migrated DB, SDK client, queue, service.

    The archive is built last and attached (`attach_archive`): its completion callback on
    `services.recording`, its jobs on `services.queue`, `services.archive` set.
    """
    # Imported here so `import flexrec.server` stays cheap and side-effect free.
    from flexrec.coverage.sweep import register_coverage_sweep
    from flexrec.db.base import make_engine, make_session_factory
    from flexrec.db.files import private_folder, private_sqlite_file
    from flexrec.db.migrate import is_current, upgrade, upgrade_engine
    from flexrec.jobs.tasks import build_queue, register_recording_jobs
    from flexrec.recording.background import Background
    from flexrec.recording.changes import prune_changes, source_for
    from flexrec.recording.context import utc_now
    from flexrec.recording.owners import ALIVE_S, HEARTBEAT_S, OwnerLease, lease_seconds
    from flexrec.recording.policy import load_policy
    from flexrec.recording.service import RecordingService
    from flexrec.recording.watch import task_is_live
    from flexrec.server.gauges import REFRESH_S as GAUGE_REFRESH_S
    from flexrec.server.gauges import refresh_gauges
    from flexrec.twilio.client import make_client
    from flexrec.twilio.flex_tokens import FlexTokenValidator
    from flexrec.twilio.gateway import SdkGateway

    closers: list[Callable[[], None]] = []
    url = settings.storage.resolved_database_url()
    if not settings.storage.database_url:
        private_folder(settings.storage.data_dir)
    # Password hashes and phone numbers: never world-readable.
    private_sqlite_file(url)
    private_sqlite_file(settings.storage.resolved_queue_url())
    engine = make_engine(url)
    closers.append(engine.dispose)
    try:
        if ":memory:" in url:
            upgrade_engine(engine)  # an in-memory database lives and dies with its engine
        elif not is_current(engine):  # a restart has nothing to migrate: no Alembic to load
            upgrade(url)
        sessions = make_session_factory(engine)
        client = make_client(settings.twilio)
        gateway = SdkGateway(client, settings.twilio.account_sid, settings.twilio.workspace_sid)
        policy = load_policy(settings.policy)
        recording = RecordingService(
            sessions,
            recordings=gateway,
            tasks=gateway,
            policy=policy,
            public_url=service_public_url(settings),
            base_backoff_s=settings.server.retry_base_s,
            max_backoff_s=settings.server.retry_max_s,
        )
        lease = OwnerLease(sessions, utc_now, lease_s=lease_seconds(settings.twilio.timeout_s))
        lease.register()
        closers.append(lease.close)
        recording.set_lease(lease)
        queue = build_queue(settings)
        register_recording_jobs(queue, recording)
        register_coverage_sweep(
            queue, gateway, sessions, policy_leg=policy.leg,
            every_minutes=settings.server.coverage_sweep_minutes,
        )  # fmt: skip
        background = Background()
        closers.append(background.close)
        recording.set_background(background)
        background.every(HEARTBEAT_S, owner_tick(lease, recording))
        background.every(ALIVE_S, lease.alive)
        tokens = FlexTokenValidator(
            settings.twilio.account_sid,
            settings.twilio.auth_token.get_secret_value(),
            base_url=settings.twilio.base_url,
            timeout_s=min(settings.twilio.timeout_s, 10.0),
        )
        closers.append(tokens.close)
        changes = ChangeFeed(source_for(url, sessions))
        closers.append(changes.close)
        background.every(PRUNE_EVERY_S, lambda: prune_changes(sessions, time.time()))
    except BaseException:
        for closer in reversed(closers):
            closer()
        raise
    services = Services(
        recording=recording,
        tokens=tokens,
        verifier=SignatureVerifier(settings.twilio.auth_token.get_secret_value()),
        engine=engine,
        sessions=sessions,
        client=client,
        gateway=gateway,
        queue=queue,
        run_consumer=run_consumer,
        consumer_workers=consumer_workers,
        health_checks={"database": database_check(engine), "queue": queue_check(queue)},
        closers=closers,
        token_guard=TokenGuard(account_sid=settings.twilio.account_sid),
        live_task=functools.partial(task_is_live, sessions),
        changes=changes,
        answering=lease.answering,
    )
    try:
        attach_archive(settings, services)
    except BaseException:
        services.close()
        raise
    # /metrics answers from memory: this process keeps its gauges fresh itself.
    background.submit(lambda: refresh_gauges(services))
    background.every(GAUGE_REFRESH_S, lambda: refresh_gauges(services))
    return services
