"""Run a whole simulator in-process: world, engine, webhook dispatcher and the HTTP app.

The simulator gets its own thread and event loop (uvicorn serves the app there; the engine and
the dispatcher run on the same loop), so a test, the demo or the CLI can use it from anywhere:

    with SimRunner(SimConfig(service_url="http://127.0.0.1:8000", calls=20, scale=60)) as sim:
        sim.wait_idle_blocking(timeout_s=120)
        truth = sim.truth()

or `async with SimRunner(cfg) as sim: await sim.wait_idle()`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI

import flexsim.scenarios  # noqa: F401 - registers the built-in scenarios a run draws from
from flexsim import defaults
from flexsim.arrange import Arrange
from flexsim.config import SimConfig as SimConfig  # re-exported: its old home
from flexsim.control import create_control_router
from flexsim.engine import Engine
from flexsim.faults import FaultPlan, RequestHook
from flexsim.interference import Interference
from flexsim.latency import LatencyModel
from flexsim.read_side import SimReadSide
from flexsim.request_log import RequestLog
from flexsim.speech.payment import card_payment_view
from flexsim.timeline import Timeline
from flexsim.views import Conversation
from flexsim.webhooks import WebhookDispatcher
from flexsim.world import TERMINAL_CALL_STATUSES, SimClock, Task, Worker, World

log = logging.getLogger(__name__)


class _OnLoop:
    """Calls an object's methods on the simulator's loop thread (what `SimRunner.arrange`
    hands out: the world is only touched there)."""

    def __init__(self, runner: SimRunner, target: object) -> None:
        self._runner, self._target = runner, target

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)
        if not callable(method):
            return method

        def on_loop(*args: Any, **kwargs: Any) -> Any:
            return self._runner._run_on_loop(lambda: method(*args, **kwargs))

        return on_loop


_T = TypeVar("_T")

ALL_CALL_STATUSES = frozenset({"ringing", "in-progress", *TERMINAL_CALL_STATUSES})

# Every TaskRouter event type the simulator emits, for the Event Streams subscription.
EMITTED_TASKROUTER_TYPES = (
    "task.created",
    "task.updated",
    "task.canceled",
    "task.wrapup",
    "task.completed",
    "task.transfer-initiated",
    "task.transfer-completed",
    "task.transfer-failed",
    "task-queue.entered",
    "reservation.created",
    "reservation.accepted",
    "reservation.wrapup",
    "reservation.completed",
    "worker.activity.update",
    "worker.attributes.update",
    "worker.channel.availability.update",
)


def build_app(
    world: World,
    engine: Engine,
    dispatcher: WebhookDispatcher | None,
    faults: FaultPlan | None,
    auth_token: str = defaults.AUTH_TOKEN,
    latency: LatencyModel | None = None,
    request_log: RequestLog | None = None,
) -> FastAPI:
    """The simulator's HTTP app: Twilio's REST surface plus the `/_sim` control routes."""
    control = create_control_router(world, engine, dispatcher, faults, request_log)
    try:
        from flexsim.api.app import SimCredentials, create_sim_app
    except ImportError:  # the REST surface is optional for engine-only runs
        log.warning("flexsim.api is not available: serving only /_sim")
        app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
        app.include_router(control)
        return app
    sim_app: FastAPI = create_sim_app(
        world,
        faults=faults,
        extra_routers=(control,),
        credentials=SimCredentials(auth_token=auth_token),
        latency=latency,
        request_log=request_log,
    )
    return sim_app


class SimRunner(SimReadSide):
    """A running simulator (start/stop, or use as a context manager, sync or async); what it
    shows is `SimReadSide`'s."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = cfg = config or SimConfig()
        if cfg.scale <= 0:
            # a manual clock never advances on its own: drive an Engine directly instead
            raise ValueError("SimRunner needs a running clock (scale > 0)")
        salt = secrets.randbits(128) if cfg.sid_salt is None else cfg.sid_salt
        self.world = World(
            SimClock(scale=cfg.scale),
            seed=cfg.seed,
            account_sid=cfg.account_sid,
            sid_salt=salt,
        )
        if cfg.native_recording in ("dual", "mono"):
            # Flex's Call Recording toggle, as a client reads it (Flex Configuration)
            self.world.flex_configuration["call_recording_enabled"] = True
        self.faults = FaultPlan.parse(cfg.faults, seed=cfg.seed)
        self.engine = Engine(self.world, cfg.engine_config())
        self.engine.populate()
        self.world.scheduler = self.engine.call_later  # REST-made calls ring, answer, end
        self.dispatcher = WebhookDispatcher(
            self.world,
            auth_token=cfg.auth_token,
            faults=self.faults,
            timeout_s=cfg.webhook_timeout_s,
            max_retries=cfg.webhook_max_retries,
            retry_backoff_s=cfg.webhook_retry_backoff_s,
            seed=cfg.seed,
            call_status_events=ALL_CALL_STATUSES
            if cfg.call_progress_events
            else TERMINAL_CALL_STATUSES,
        )
        self.dispatcher.attach()
        # Early-ending recordings and blind attribute writes (off unless the plan has rates)
        self.interference = Interference(self.world, self.faults, self.engine.call_later)
        self.interference.attach()
        self._configure_callbacks()
        latency_scale = 1.0 if cfg.rest_latency_real_time else cfg.scale
        self.latency = LatencyModel.parse(cfg.rest_latency, seed=cfg.seed, scale=latency_scale)
        # Every REST request answered, in order (`sim.request_log.count("DELETE", "*/RE*")`).
        self.request_log = RequestLog()
        self.app = build_app(
            self.world,
            self.engine,
            self.dispatcher,
            self.faults,
            auth_token=cfg.auth_token,
            latency=self.latency,
            request_log=self.request_log,
        )
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self.base_url = ""

    def _configure_callbacks(self) -> None:
        urls = self.config.callback_urls()
        chosen = [n.strip() for n in (self.config.events_filter or "").split(",") if n.strip()]
        with self.world.lock:
            self.world.event_callback_url = urls.taskrouter
            self.world.events_filter = ",".join(chosen) or None
            if urls.event_streams:
                # Whole resources, as POST /v1/Sinks and /v1/Subscriptions make them: a client
                # lists and reads them over REST (`flexrec setup` does).
                sink_sid = self.world.sids.new("DG")
                now = self.world.clock.now()
                self.world.event_stream_sinks.append(
                    {
                        "sid": sink_sid,
                        "destination": urls.event_streams,
                        "sink_type": "webhook",
                        "description": "flexsim default sink",
                        "sink_configuration": {"destination": urls.event_streams, "method": "POST"},
                        "status": "active",
                        "date_created": now,
                        "date_updated": now,
                    }
                )
                self.world.event_subscriptions.append(
                    {
                        "sid": self.world.sids.new("DF"),
                        "sink_sid": sink_sid,
                        "description": "flexsim default subscription",
                        "date_created": now,
                        "date_updated": now,
                        "types": [
                            {"type": f"com.twilio.taskrouter.{name}", "schema_version": 1}
                            for name in chosen or EMITTED_TASKROUTER_TYPES
                        ],
                    }
                )

    # -- lifecycle --------------------------------------------------------------------------
    def start(self, timeout_s: float = 15.0) -> SimRunner:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, name="flexsim", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise RuntimeError("simulator did not start in time")
        if self._failure is not None:
            raise RuntimeError("simulator failed to start") from self._failure
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop serving, flush pending webhooks (briefly) and join the thread."""
        if self._thread is None:
            return
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout_s)
        self._thread = None

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surface start-up failures to start()
            self._failure = exc
            self._started.set()
            log.exception("simulator thread failed")

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        cfg = self.config
        await self.dispatcher.start()
        engine_task = asyncio.create_task(self.engine.run())
        if cfg.start_traffic:
            self.engine.start_traffic()
        server_config = uvicorn.Config(
            self.app,
            host=cfg.host,
            port=cfg.port,
            log_level="warning",
            access_log=False,
            lifespan="on",
            # h11 writes header names as given: Twilio's `ETag` casing reaches the SDK, which
            # hands clients a case-sensitive dict (httptools would lower-case it)
            http="h11",
        )
        server = uvicorn.Server(server_config)
        self._server = server
        serve_task = asyncio.create_task(server.serve())
        # uvicorn offers no start-up event to await, only the `started` flag
        while not server.started and not serve_task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        if serve_task.done():
            await serve_task  # raises the bind error
            raise RuntimeError("simulator server exited before it started")
        port = server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://{cfg.host}:{port}"
        self._started.set()
        try:
            await serve_task
        finally:
            engine_task.cancel()
            await asyncio.gather(engine_task, return_exceptions=True)
            await self.dispatcher.stop(drain_timeout_s=2.0)
            self._loop = None

    def __enter__(self) -> SimRunner:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> SimRunner:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    # -- observing and steering -------------------------------------------------------------
    def done(self) -> bool:
        """True when every configured interaction finished and every webhook was delivered."""
        return self.engine.idle() and self.dispatcher.pending == 0

    def wait_idle_blocking(self, timeout_s: float = 300.0, poll_s: float = 0.05) -> bool:
        """Block until `done()` (or the timeout); returns whether it is done."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.done():
                return True
            time.sleep(poll_s)
        return self.done()

    async def wait_idle(self, timeout_s: float = 300.0, poll_s: float = 0.05) -> bool:
        """Await `done()` (or the timeout) without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.done():
                return True
            await asyncio.sleep(poll_s)
        return self.done()

    def call_soon(self, fn: Callable[[], _T]) -> None:
        """Run `fn` on the simulator's loop thread (engine state is only touched there)."""
        loop = self._loop
        if loop is None:
            fn()
        else:
            loop.call_soon_threadsafe(fn)

    def start_traffic(self) -> None:
        """Start generating arrivals now (for runs configured with `start_traffic=False`)."""
        self.call_soon(self.engine.start_traffic)

    def on_conversation(self, hook: Callable[[Conversation], None]) -> None:
        """Call `hook(conversation)` when an agent and the customer are connected (on the
        simulator's thread: keep it quick), e.g. to drive pause/resume through the service."""

        def started(timeline: Timeline, task: Task, worker: Worker) -> None:
            hook(
                Conversation(
                    interaction_id=timeline.interaction_id,
                    scenario=timeline.scenario,
                    direction=timeline.direction,
                    task_sid=task.sid,
                    worker_sid=worker.sid,
                    **card_payment_view(timeline, self.engine.now()),
                )
            )

        self.engine.on_conversation_started(started)

    def call_later(self, sim_seconds: float, fn: Callable[[], None]) -> None:
        """Run `fn` on the simulator's thread after `sim_seconds` of simulated time."""
        if self._thread is not None and threading.current_thread() is self._thread:
            self.engine.call_later(sim_seconds, fn)  # from a hook: no loop hop, exact timing
        else:
            self.call_soon(lambda: self.engine.call_later(sim_seconds, fn))

    def fault_requests(self, hook: RequestHook | None) -> None:
        """Let `hook(method, path)` answer REST requests with an `ApiFault` of its choosing (e.g.
        hold one create and never process it); returning None leaves a request to the
        configured fault rates. `/_sim` routes are never faulted. None removes the hook."""
        self.faults.set_request_hook(hook)

    def start_interaction(self, scenario: str, direction: str | None = None) -> None:
        """Start one interaction of `scenario` now (thread-safe). Returns once the engine counts
        it, so `done()` right after is not true before it ran; ValueError for an unknown name."""
        self._run_on_loop(lambda: self.engine.start_interaction(scenario, direction))

    def _run_on_loop(self, fn: Callable[[], _T], timeout_s: float = 10.0) -> _T:
        """Run `fn` on the simulator's loop thread and return its result (or raise its error)."""
        loop = self._loop
        if loop is None or threading.current_thread() is self._thread:
            return fn()
        result: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                result.set_result(fn())
            except BaseException as exc:  # handed to the caller's thread
                result.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return result.result(timeout_s)

    @property
    def arrange(self) -> Arrange:
        """The control API for arranging this world (flexsim.arrange): each method runs on the
        simulator's thread and returns once done, so it is safe from any thread."""
        return _OnLoop(self, Arrange(self.world, self.faults))  # type: ignore[return-value]

    def advance(self, sim_seconds: float) -> None:
        """Jump simulated time ahead, running every timer due on the way at its own time (a
        call's ring, a callee hanging up, an interaction's next step); webhooks they cause are
        sent as usual, so wait for them (`wait_idle_blocking`, your receiver) afterwards."""
        self._run_on_loop(lambda: self.engine.advance(sim_seconds), timeout_s=60.0)
