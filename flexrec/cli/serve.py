"""Process entry points: the service (`flexrec serve`) and queue-only workers (`flexrec worker`).

A restart's outage is every live call's loss, so `flexrec serve` listens first: the port is
open (connections wait in the kernel's backlog, answered once the app is built, never before
it can take them durably) before the app's modules load, and what start-up needs is loaded
here on first use, not when the CLI imports this module.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import Histogram

from flexrec import package_version
from flexrec.cli.errors import listen_on, port_free
from flexrec.cli.jobs_process import METRICS_FD_ENV, METRICS_URL_ENV, serve_metrics
from flexrec.cli.start_checks import (
    ask_twilio_early,
    card_data_engine,
    check_dependencies,
    check_twilio,
    require_credentials,
)
from flexrec.config import Settings
from flexrec.db.urls import check_database_url
from flexrec.logs import configure_logging, get_logger
from flexrec.webhooks import paths

if TYPE_CHECKING:  # the app's modules load once the port is open (run_service)
    from fastapi import FastAPI

    from flexrec.cli.jobs_process import JobsProcess
    from flexrec.server.jobs_metrics import JobsWorkerMetrics
    from flexrec.server.services import Services

log = get_logger(__name__)

_SUPERVISOR_ENV = "FLEXREC_SUPERVISOR_PID"  # set for web processes: who to outlive
STARTUP_FAILURE = 3  # uvicorn's exit code when the app could not start


# Libraries whose INFO lines are chatter to an operator (each migration plugin loaded, every
# queue job started and finished); their warnings and errors still show.
_QUIET_LOGGERS = (
    "twilio.http_client",  # every request and its headers
    "alembic",
    "huey",
)


def _logging(settings: Settings) -> None:
    # Everything the service writes (database, queue, archive, secrets) is its user's only.
    os.umask(0o077)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
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
    from flexrec.app.factory import create_app
    from flexrec.app.services import build_services

    services = build_services(
        settings, run_consumer=consumer_workers > 0, consumer_workers=max(1, consumer_workers)
    )
    return create_app(settings, services), services


def _recover(services: Services, *, recording: bool = True, archive: bool = True) -> None:
    from flexrec.app.archive import requeue_unfinished

    # After a crash the queue may have lost jobs in flight: the database is the truth.
    try:
        requeued = services.recording.reconciler.reconcile() if recording else None
        archives = requeue_unfinished(services) if archive else None
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
    queue = services.queue
    if queue is None:
        return stop  # nothing to enqueue on

    def tick() -> None:
        while not stop.wait(interval_s):
            try:
                queue.enqueue(JOB_RECONCILE)
            except Exception:
                log.exception("reconcile_enqueue_failed")

    threading.Thread(target=tick, name="flexrec-reconcile", daemon=True).start()
    return stop


# A full collection stops the process while it scans every object the collector tracks: with
# 2,000 long polls held (~240 objects each) it took ~1 s of a busy core every few seconds, and
# every webhook waited for it. What start-up built lives as long as the process, so it is frozen
# out of the collector's sight; held polls' objects die by reference counting (a full
# collection found ~200 cyclic ones), so full collections are made rare: after 1,000 young
# collections (about 7 million allocations) instead of 10.
GC_THRESHOLDS = (700, 10, 1000)


GC_PAUSE_SECONDS = Histogram(
    "flexrec_gc_pause_seconds",
    "Time each garbage collection held the process (every thread waits), by generation.",
    ["generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)


def quiet_collector() -> None:
    """Tune the garbage collector for a long-running server process (call once started), and
    time its collections: a webhook's slow answer can then be told from a collection.

    It also turns the collector back on: `flexrec serve` and `worker` start with it off
    (flexrec.cli.root.main), since start-up's collections find next to nothing."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    gc.enable()
    if _time_collection not in gc.callbacks:
        gc.callbacks.append(_time_collection)


_GC_BY_GENERATION = [GC_PAUSE_SECONDS.labels(str(g)) for g in range(3)]
_gc_started = [0.0]  # one collection at a time: the collecting thread holds the GIL


def _time_collection(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _gc_started[0] = time.perf_counter()
    else:
        _GC_BY_GENERATION[info["generation"]].observe(time.perf_counter() - _gc_started[0])


def run_service(
    host: str | None = None,
    port: int | None = None,
    consumer_workers: int = 4,
    processes: int = 1,
    jobs_nice: int | None = None,
) -> None:
    """Serve webhooks, APIs and console, and run the queue's jobs unless told not to.

    With `jobs_nice` (the CLI's default) the queue workers run in a `flexrec worker` of their
    own, that much lower in priority (flexrec.cli.jobs_process); this process still recovers
    the recordings at start, at its own priority. Without it they are threads of this process.
    With `processes` > 1 the listening socket is shared by that many web processes (uvicorn's
    supervisor restarts one that dies) and this process keeps the recovery (and the queue
    workers, when they are not in a process of their own).
    """
    jobs_workers = 0
    if jobs_nice is not None and consumer_workers > 0:
        jobs_workers, consumer_workers = consumer_workers, 0
    settings = Settings.from_env()
    if host:
        settings.server.host = host
    if port:
        settings.server.port = port
    require_credentials(settings)
    if processes > 1:
        # Checked before anything starts: a taken port must not leave queue workers running.
        port_free(settings.server.host, settings.server.port)
        _prepare_process(settings)
        _serve_processes(settings, processes, consumer_workers, _jobs(jobs_workers, jobs_nice))
        return
    # Listening before anything else starts (a taken port fails here, before queue workers
    # run): a webhook Twilio sends while the app is being built waits to be answered instead of
    # being refused, which Twilio retries only a few times within seconds, or never.
    listening = listen_on(settings.server.host, settings.server.port)
    try:
        settings.server.port = listening.getsockname()[1]  # the one chosen for port 0
        _prepare_process(settings)
        check_database_url(settings.storage.resolved_database_url())  # before asking Twilio
        answer = ask_twilio_early(settings)  # a round trip to Twilio, while the app is built
        app, services = build_service(settings, consumer_workers=consumer_workers)
        check_dependencies(services)
        check_twilio(settings, services, answer())
        announce(settings)
    except BaseException:
        listening.close()
        raise
    jobs = _jobs(jobs_workers, jobs_nice)
    if consumer_workers > 0 or jobs is not None:
        _start_recovery(settings, services, ticker=jobs is None)
    if jobs is not None:
        jobs.start()  # after the app's build: the database is migrated once, here
        services.jobs_worker = _jobs_metrics(jobs.metrics_url)
    try:
        _serve_on(app, settings, listening)
    finally:
        if jobs is not None:
            jobs.stop()
        services.close()
        listening.close()


def _jobs(workers: int, nice: int | None) -> JobsProcess | None:
    """The queue's jobs in a worker process of their own (`--jobs-process`), not started."""
    from flexrec.cli.jobs_process import JobsProcess, worker_argv

    return JobsProcess(worker_argv(workers, nice or 0)) if workers > 0 else None


def _jobs_metrics(url: str | None) -> JobsWorkerMetrics | None:
    from flexrec.server.jobs_metrics import JobsWorkerMetrics

    return JobsWorkerMetrics(url) if url else None


def _prepare_process(settings: Settings) -> None:
    from flexrec.process_memory import keep_memory_flat

    _logging(settings)
    keep_memory_flat()


def _serve_on(app: FastAPI, settings: Settings, listening: socket.socket) -> None:
    """Serve `app` on the socket `listen_on` opened (uvicorn.run, given the socket)."""
    import uvicorn

    server = _quiet_server_class()(uvicorn.Config(app, **_listening(settings)))
    threading.Thread(
        target=_quiet_once_serving, args=(server,), name="flexrec-collector", daemon=True
    ).start()
    server.run(sockets=[listening])
    if not server.started:  # the app's start-up failed: uvicorn.run's exit code
        sys.exit(STARTUP_FAILURE)


@functools.cache
def _quiet_server_class() -> type[Any]:
    """uvicorn's Server, ticking once a second instead of ten times.

    Its main loop wakes every 0.1 s to refresh the Date header (once a second) and look for a
    stop; on an idle service that was 1.5-1.9 ms of CPU a second, most of what the event loop
    spends with no request (bench/results/issue18.md, "hot, session 9"). A stop still ends
    the wait at once: the signal handler wakes it.
    """
    import asyncio

    import uvicorn

    class QuietServer(uvicorn.Server):
        _woken: asyncio.Event | None = None
        _loop: asyncio.AbstractEventLoop | None = None

        async def main_loop(self) -> None:
            self._loop, self._woken = asyncio.get_running_loop(), asyncio.Event()
            counter = 0
            should_exit = await self.on_tick(counter)
            while not should_exit:
                counter = (counter + 10) % 864000  # on_tick refreshes the date at multiples of 10
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._woken.wait(), 1.0)
                should_exit = await self.on_tick(counter)

        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            loop, woken = self._loop, self._woken
            if loop is not None and woken is not None and not loop.is_closed():
                loop.call_soon_threadsafe(woken.set)

    return QuietServer


def _quiet_once_serving(server: Any, every_s: float = 0.01) -> None:
    # The collector's pass over what start-up built (a tenth of a second) waits until the
    # webhooks that queued up during the start are being answered; so do the SDK's imports
    # the first recording start would otherwise pay (frozen with the rest by the collector).
    while not server.started and not server.should_exit:
        time.sleep(every_s)
    from flexrec.twilio.client import warm_sdk

    warm_sdk()
    quiet_collector()


def announce(settings: Settings) -> None:
    """Print where the service listens and where its console and API docs are."""
    host = settings.server.host
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 - a comparison
    local = f"http://{shown}:{settings.server.port}"
    print(f"flexrec {package_version()} listening on {local}", flush=True)
    print(f"  console:  {local}/console/   (accounts: flexrec users add NAME)", flush=True)
    print(f"  API docs: {local}/docs", flush=True)
    rule = signature_url_rule(settings)
    print(f"  {rule}", flush=True)
    engine = card_data_engine(settings)
    if engine is not None:
        print(f"  {engine}", flush=True)
    log.info("webhook_signature_url", rule=rule)


def signature_url_rule(settings: Settings) -> str:
    """One line saying which URL webhook signatures are checked against."""
    server = settings.server
    if server.public_url:
        base = server.public_url.rstrip("/")
        return (
            f"webhook signatures are checked against {base}{paths.PREFIX}/... (FLEXREC_PUBLIC_URL)"
        )
    scheme_from = (
        f"X-Forwarded-Proto from {server.trusted_proxies} (FLEXREC_TRUSTED_PROXIES)"
        if server.trusted_proxies.strip()
        else "the connection itself (no trusted proxies)"
    )
    return (
        "webhook signatures are checked against each request's own URL: host from its Host"
        f" header, scheme from {scheme_from}; set FLEXREC_PUBLIC_URL to the URL Twilio posts to"
    )


def _listening(settings: Settings) -> dict[str, Any]:
    trusted = ",".join(p.strip() for p in settings.server.trusted_proxies.split(",") if p.strip())
    # Requests are logged by our middleware (route templates, never secrets), not uvicorn's.
    return {
        "host": settings.server.host,
        "port": settings.server.port,
        "log_level": "warning",
        "access_log": False,
        "ws": "none",  # no WebSocket route: its library need not load at every start
        # Forwarded headers decide the client address (rate limits, audit) and the scheme a
        # webhook's signature is checked against: believed only from configured proxies.
        "proxy_headers": bool(trusted),
        "forwarded_allow_ips": trusted or None,
    }


def _start_recovery(settings: Settings, services: Services, *, ticker: bool = True) -> None:
    # At once, beside the server starting: after a crash, the calls that began while the
    # service was down are found by this first reconcile, and every second it waits is a
    # second of each of them unrecorded (it waited a second; the webhook path is on the
    # server's own threads, and recovery mostly waits on Twilio). A daemon: a stop must not
    # wait for it (against a Twilio that hangs, its lists take 3 tries of the full timeout
    # each), and what it had not done yet the next start does, from the database. With the
    # jobs in a worker process, this process still looks for the calls (the starts it finds
    # run on its threads, at its priority); the worker re-queues the archive and ticks.
    threading.Thread(
        target=_recover,
        args=(services,),
        kwargs={"archive": ticker},
        name="flexrec-recovery",
        daemon=True,
    ).start()
    if ticker and settings.server.reconcile_interval_s < 60:
        start_reconcile_ticker(services, settings.server.reconcile_interval_s)


def _serve_processes(
    settings: Settings, processes: int, consumer_workers: int, jobs: JobsProcess | None
) -> None:
    import uvicorn

    from flexrec.app.services import build_services

    # Built here first so the migrations run once, before any web process opens the database.
    services = build_services(
        settings, run_consumer=consumer_workers > 0, consumer_workers=max(1, consumer_workers)
    )
    check_dependencies(services)
    check_twilio(settings, services)
    announce(settings)
    services.start()
    if consumer_workers > 0 or jobs is not None:
        _start_recovery(settings, services, ticker=jobs is None)
    quiet_collector()
    # The web processes are spawned: they read the same settings from the environment.
    os.environ["FLEXREC_HOST"] = settings.server.host
    os.environ["FLEXREC_PORT"] = str(settings.server.port)
    os.environ[_SUPERVISOR_ENV] = str(os.getpid())
    log.info("web_processes_starting", processes=processes, queue_workers=consumer_workers)
    if jobs is not None:
        jobs.start()
        os.environ[METRICS_URL_ENV] = jobs.metrics_url or ""
    try:
        uvicorn.run(
            "flexrec.cli.serve:web_process_app",
            factory=True,
            workers=processes,
            **_listening(settings),
        )
    finally:
        if jobs is not None:
            jobs.stop()
        services.close()


def web_process_app() -> FastAPI:
    """The app of one web process of `flexrec serve --processes N` (uvicorn's app factory).

    It answers webhooks and APIs only: the supervisor runs the queue workers and recovery.
    """
    from flexrec.app.factory import create_app
    from flexrec.app.services import build_services

    settings = Settings.from_env()
    _prepare_process(settings)
    supervisor = int(os.environ.get(_SUPERVISOR_ENV, "0"))
    if supervisor:
        _exit_with(supervisor)
    services = build_services(settings, run_consumer=False)
    services.jobs_worker = _jobs_metrics(os.environ.get(METRICS_URL_ENV))
    app = create_app(settings, services, owns_services=True)
    quiet_collector()
    return app


def _exit_with(supervisor: int, every_s: float = 1.0) -> threading.Thread:
    # A supervisor killed -9 cannot stop its web processes: each leaves on its own (SIGTERM,
    # so the answers in flight finish) instead of holding the port with no queue workers.
    def stop_self() -> None:
        log.warning("supervisor_gone", supervisor=supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    return watch_parent(supervisor, stop_self, every_s)


def watch_parent(
    parent: int,
    on_gone: Callable[[], None],
    every_s: float = 1.0,
    getppid: Callable[[], int] = os.getppid,
) -> threading.Thread:
    """Call `on_gone` once this process's parent is no longer `parent` (it died)."""

    def watch() -> None:
        while getppid() == parent:
            time.sleep(every_s)
        on_gone()

    thread = threading.Thread(target=watch, name="flexrec-parent-watch", daemon=True)
    thread.start()
    return thread


def run_worker(workers: int = 4) -> None:
    """Run only the queue workers (scaled deployment), until SIGTERM or SIGINT."""
    from flexrec.app.services import build_services

    settings = Settings.from_env()
    require_credentials(settings)
    _prepare_process(settings)
    services = build_services(settings, run_consumer=True, consumer_workers=workers)
    check_dependencies(services)
    check_twilio(settings, services)
    supervisor = int(os.environ.get(_SUPERVISOR_ENV, "0"))
    if supervisor:  # `serve`'s jobs process: a service killed -9 takes its worker with it
        _exit_with(supervisor)
    else:  # `serve` says it already for its own jobs process
        engine = card_data_engine(settings)
        if engine is not None:
            print(f"flexrec worker: {engine}", flush=True)
    metrics_fd = os.environ.get(METRICS_FD_ENV)
    if metrics_fd:  # its service merges them into its own /metrics
        serve_metrics(int(metrics_fd))
    # A service's jobs process re-queues the archive (the jobs a kill of it lost); the service
    # looks for the calls itself, at its own priority.
    _recover(services, recording=not supervisor)
    if settings.server.reconcile_interval_s < 60:
        start_reconcile_ticker(services, settings.server.reconcile_interval_s)
    stop = threading.Event()

    def _stop(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    services.start()
    quiet_collector()
    log.info("worker_started", workers=workers)
    stop.wait()
    services.close()
