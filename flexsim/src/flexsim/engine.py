"""The simulator's discrete-event engine: one timer heap on the world's SimClock.

Every interaction (a customer call and everything around it) is a generator that yields what
it waits for:

- a number: sleep that many simulated seconds;
- an `AgentRequest`: wait for an available agent (resumed with the `Worker`, or None when the
  caller's patience ran out).

The engine resumes generators from one heap of `(time, seq, callback)` timers, processed by one
loop, so a busy contact center costs a heap push per step rather than a task per call. With a
manual clock (`SimClock(scale=0)`) tests drive it with `advance(seconds)`; otherwise `run()`
follows the clock in real time.

Which interactions exist is not the engine's business: scenario modules (the built-in ones are
`flexsim.scenarios`) register a `Scenario` (name, fixed direction, default weight, flow factory)
with `register_scenario`, and the engine draws and starts them by the registry alone.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import random
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from flexsim.timeline import Timeline
from flexsim.truth import InteractionRecord
from flexsim.world import Queue, Task, Worker, Workflow, World

log = logging.getLogger(__name__)

# Timers run per loop turn before yielding to the other tasks on the loop.
_BATCH = 256

ConversationHook = Callable[[Timeline, Task, Worker], None]
InteractionHook = Callable[[InteractionRecord], None]


@dataclass
class EngineConfig:
    """What the simulated contact center looks like and how busy it is (reproducible by seed)."""

    agents: int = 10
    queues: tuple[str, ...] = ("Everyone",)
    rate_per_hour: float = 120.0
    inbound_share: float = 0.8
    scenario_weights: dict[str, float] = field(default_factory=lambda: default_weights())
    calls: int | None = None  # interactions to generate; None = forever
    seed: int = 0
    talk_time_median_s: float = 120.0
    talk_time_sigma: float = 0.6  # log-normal spread
    min_talk_time_s: float = 20.0
    max_talk_time_s: float = 1800.0
    wrap_time_mean_s: float = 15.0
    max_queue_wait_s: float = 600.0  # callers give up after this long (recorded as abandoned)
    flex_number: str = "+15005550006"
    conference_callback_url: str | None = None
    call_status_callback_url: str | None = None
    studio_recording_callback_url: str | None = None
    # Pinned account variants (axis -> value, see flexsim.variants); unpinned axes are drawn
    # per call.
    variant_pins: dict[str, str] = field(default_factory=dict)
    # Share of conversations in which the customer pays by card over the phone (a scripted
    # payment, flexsim.speech.payment), and a pinned pause variant (None: the mix).
    card_share: float = 0.3
    card_pause: str | None = None


@dataclass
class AgentRequest:
    """Wait for an available agent (not one of `exclude`) for up to `patience_s` (None: forever)."""

    patience_s: float | None = None
    exclude: frozenset[str] = frozenset()
    queue_sid: str | None = None


FlowStep = float | AgentRequest
Flow = Generator[FlowStep, Worker | None, None]
# Makes the flow of one interaction: (engine, scenario name, direction, index of the interaction)
FlowFactory = Callable[["Engine", str, str, int], Flow]


@dataclass(frozen=True)
class Scenario:
    """A kind of interaction the engine can generate; scenario modules register their own."""

    name: str
    direction: str | None  # fixed direction, or None: drawn with `inbound_share`
    weight: float  # default share of generated traffic (0: only started by name)
    flow: FlowFactory


# name -> Scenario, in registration order. The engine knows no scenario by name: the built-in
# ones register when `flexsim` is imported (flexsim/__init__.py imports flexsim.scenarios).
_SCENARIOS: dict[str, Scenario] = {}


def register_scenario(scenario: Scenario) -> Scenario:
    """Make a scenario available by name (a second one with the same name is an error)."""
    if scenario.name in _SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} is already registered")
    _SCENARIOS[scenario.name] = scenario
    return scenario


def scenario_names() -> tuple[str, ...]:
    """The registered scenarios' names, in registration order."""
    return tuple(_SCENARIOS)


def get_scenario(name: str) -> Scenario:
    """The registered scenario called `name` (ValueError naming the choices if there is none)."""
    try:
        return _SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; choose from {scenario_names()}") from None


def default_weights() -> dict[str, float]:
    """Each registered scenario's default share of traffic."""
    return {name: s.weight for name, s in _SCENARIOS.items()}


@dataclass(order=True)
class _Timer:
    at: float
    seq: int
    callback: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)


@dataclass(eq=False)
class _Waiter:
    flow: Flow
    request: AgentRequest
    timer: _Timer | None = None
    served: bool = False


def _wake_up(wake: asyncio.Future[None]) -> None:
    if not wake.done():
        wake.set_result(None)


class Engine:
    """Schedules simulated events and drives interactions through the world."""

    def __init__(self, world: World, config: EngineConfig | None = None) -> None:
        self.world = world
        self.config = config or EngineConfig()
        self.rng = random.Random(self.config.seed)
        # (time, seq, timer) entries: tuples compare in C, which matters at this heap's rate
        self._heap: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._waiters: list[_Waiter] = []
        self._wake: asyncio.Future[None] | None = None  # set while run() sleeps
        self._running = False
        self.generated = 0
        self.active = 0
        self.interactions: dict[str, InteractionRecord] = {}
        self.records: list[InteractionRecord] = []
        self.worker_state: dict[str, dict[str, str]] = {}
        self.conversation_hooks: list[ConversationHook] = []
        self.finished_hooks: list[InteractionHook] = []
        self.errors: list[str] = []
        # Available agents, longest idle first (dicts keep insertion order).
        self._available: dict[str, None] = {}
        self.queues: list[Queue] = []
        self.workflow: Workflow | None = None

    # -- topology ---------------------------------------------------------------------------
    def populate(self) -> None:
        """Create the queues, the workflow and the agents of the configured contact center."""
        with self.world.lock:
            if not self.world.queues:
                self.queues = [self.world.add_queue(name) for name in self.config.queues]
            else:
                self.queues = list(self.world.queues.values())
            if not self.world.workflows:
                self.workflow = self.world.add_workflow("Assign to Anyone")
            else:
                self.workflow = next(iter(self.world.workflows.values()))
            for n in range(len(self.world.workers), self.config.agents):
                name = f"agent{n + 1:03d}"
                self.world.add_worker(
                    name,
                    {
                        "contact_uri": f"client:{name}",
                        "full_name": f"Agent {n + 1}",
                        "email": f"{name}@example.com",
                        "image_url": "",
                        "roles": ["agent"],
                        "routing": {"skills": [], "levels": {}},
                    },
                )
            self._available = {sid: None for sid, w in self.world.workers.items() if w.available}

    # -- hooks ------------------------------------------------------------------------------
    def on_conversation_started(self, hook: ConversationHook) -> None:
        """Call `hook(timeline, task, worker)` when an agent and the customer are connected."""
        self.conversation_hooks.append(hook)

    def on_interaction_finished(self, hook: InteractionHook) -> None:
        """Call `hook(record)` once an interaction has ended and its wrap-up is done."""
        self.finished_hooks.append(hook)

    def conversation_started(self, timeline: Timeline, task: Task, worker: Worker) -> None:
        """Tell the hooks a conversation started (a failing hook never stops the simulation)."""
        for hook in self.conversation_hooks:
            try:
                hook(timeline, task, worker)
            except Exception as exc:  # a driver bug must not kill the engine
                log.exception("conversation hook failed")
                self.errors.append(f"hook: {exc!r}")

    # -- timers -----------------------------------------------------------------------------
    def now(self) -> float:
        """Current simulated time."""
        return self.world.clock.now()

    def call_later(self, delay_s: float, callback: Callable[[], None]) -> _Timer:
        """Run `callback` after `delay_s` simulated seconds."""
        timer = _Timer(self.now() + max(0.0, delay_s), next(self._seq), callback)
        heapq.heappush(self._heap, (timer.at, timer.seq, timer))
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)
        return timer

    def _run_timer(self, timer: _Timer) -> None:
        try:
            timer.callback()
        except Exception as exc:  # one broken interaction must not stop the others
            log.exception("simulation step failed")
            self.errors.append(repr(exc))

    def run_due(self, limit: int | None = None) -> int:
        """Run the timers that are due now (at most `limit`); returns how many ran."""
        ran = 0
        now = self.now()
        heap = self._heap
        while heap and heap[0][0] <= now and (limit is None or ran < limit):
            timer = heapq.heappop(heap)[2]
            if not timer.cancelled:
                self._run_timer(timer)
                ran += 1
            now = self.now()
        return ran

    def advance(self, seconds: float) -> None:
        """Move a manual clock forward by `seconds`, running timers at their own times."""
        clock = self.world.clock
        target = clock.now() + seconds
        while self._heap and self._heap[0][0] <= target:
            timer = heapq.heappop(self._heap)[2]
            if timer.cancelled:
                continue
            if timer.at > clock.now():
                clock.advance(timer.at - clock.now())
            self._run_timer(timer)
        if target > clock.now():
            clock.advance(target - clock.now())

    def run_until_idle(self, max_sim_s: float = 7 * 24 * 3600.0) -> None:
        """Manual clock: run until no interaction is left (or `max_sim_s` passed)."""
        deadline = self.now() + max_sim_s
        while not self.idle() and self._heap and self._heap[0][0] <= deadline:
            self.advance(max(0.0, self._heap[0][0] - self.now()))

    async def run(self) -> None:
        """Follow the (scaled, real-time) clock and run timers as they fall due, until cancelled."""
        loop = asyncio.get_running_loop()
        self._running = True
        clock = self.world.clock
        try:
            while True:
                if self.run_due(limit=_BATCH) >= _BATCH:
                    # a burst: let the HTTP server and the webhook senders run in between
                    await asyncio.sleep(0)
                    continue
                if self._heap:
                    wait_s = clock.real_seconds(self._heap[0][0] - self.now())
                    timeout = min(max(wait_s, 0.0), 0.5)
                else:
                    timeout = 0.5
                if timeout > 0:
                    # sleep until the next timer is due or call_later() adds an earlier one
                    # (a bare future and timer handle: cheaper than wait_for on an Event)
                    wake = self._wake = loop.create_future()
                    alarm = loop.call_later(timeout, _wake_up, wake)
                    try:
                        await wake
                    finally:
                        alarm.cancel()
                        self._wake = None
                else:
                    await asyncio.sleep(0)
        finally:
            self._running = False
            self._wake = None

    # -- flows ------------------------------------------------------------------------------
    def spawn(self, flow: Flow) -> None:
        """Start driving a flow generator (its first step runs now, from the timer loop)."""
        self.call_later(0.0, lambda: self._step(flow, None))

    def _step(self, flow: Flow, value: Worker | None) -> None:
        try:
            step = flow.send(value)
        except StopIteration:
            return
        if isinstance(step, AgentRequest):
            waiter = _Waiter(flow, step)
            self._waiters.append(waiter)
            if step.patience_s is not None:
                waiter.timer = self.call_later(step.patience_s, lambda: self._give_up(waiter))
            self._assign()
        else:
            self.call_later(float(step), lambda: self._step(flow, None))

    def _give_up(self, waiter: _Waiter) -> None:
        if waiter.served:
            return
        waiter.served = True
        self._waiters.remove(waiter)
        self._step(waiter.flow, None)

    def _assign(self) -> None:
        """Match waiting requests (oldest first) with available agents (longest idle first)."""
        i = 0
        while i < len(self._waiters) and self._available:
            waiter = self._waiters[i]
            exclude = waiter.request.exclude
            chosen = next((sid for sid in self._available if sid not in exclude), None)
            if chosen is None:
                i += 1
                continue
            del self._available[chosen]
            self._waiters.pop(i)
            waiter.served = True
            if waiter.timer is not None:
                waiter.timer.cancelled = True
            worker = self.world.workers[chosen]
            worker.available = False
            flow = waiter.flow
            self.call_later(0.0, lambda flow=flow, worker=worker: self._step(flow, worker))  # type: ignore[misc]

    def release_worker(self, worker: Worker) -> None:
        """Make an agent available again and serve whoever waits for one."""
        worker.available = True
        self._available[worker.sid] = None
        self.worker_state.pop(worker.sid, None)
        self._assign()

    @property
    def waiting(self) -> int:
        """Interactions waiting for an agent."""
        return len(self._waiters)

    # -- traffic ----------------------------------------------------------------------------
    def start_traffic(self) -> None:
        """Generate arrivals (Poisson, `rate_per_hour`) until `calls` have been generated."""
        if not self.queues:
            self.populate()
        # The day starts with the agents logging in: each one's activity changes, and
        # TaskRouter tells the workspace callback (`worker.activity.update`).
        for worker in list(self.world.workers.values()):
            self.world.set_worker_activity(worker, "Offline")
            self.world.set_worker_activity(worker, "Available")
        if self.config.rate_per_hour > 0 and (self.config.calls is None or self.config.calls > 0):
            self.call_later(self._interarrival(), self._arrive)

    def _interarrival(self) -> float:
        return self.rng.expovariate(self.config.rate_per_hour / 3600.0)

    def _arrive(self) -> None:
        scenario = self.pick_scenario()
        direction = get_scenario(scenario).direction
        if direction is None:
            direction = "inbound" if self.rng.random() < self.config.inbound_share else "outbound"
        self.start_interaction(scenario, direction)
        if self.config.calls is None or self.generated < self.config.calls:
            self.call_later(self._interarrival(), self._arrive)

    def pick_scenario(self) -> str:
        """Draw a scenario from the configured weights."""
        weights = {k: v for k, v in self.config.scenario_weights.items() if v > 0}
        names = sorted(weights)
        if not names:
            # An engine built from flexsim.engine alone: the built-in scenarios register when
            # flexsim.scenarios is imported, which the engine must not do (it knows none).
            raise ValueError(
                "no scenario has a positive weight (registered: "
                f"{', '.join(scenario_names()) or 'none; import flexsim.scenarios'})"
            )
        return self.rng.choices(names, weights=[weights[n] for n in names])[0]

    def start_interaction(self, scenario: str, direction: str | None = None) -> None:
        """Start one interaction of the given scenario now."""
        spec = get_scenario(scenario)
        if not self.queues:
            self.populate()
        direction = spec.direction or direction or "inbound"
        index = self.generated
        self.generated += 1
        self.active += 1
        self.spawn(spec.flow(self, scenario, direction, index))

    def register(self, record: InteractionRecord) -> None:
        """Make an interaction's record visible (once its key, the customer leg, exists)."""
        self.interactions[record.interaction_id] = record
        self.records.append(record)

    def interaction_finished(self, record: InteractionRecord | None) -> None:
        """Count an interaction out and tell the hooks."""
        self.active -= 1
        if record is None:
            return
        record.finished = True
        for hook in self.finished_hooks:
            try:
                hook(record)
            except Exception as exc:
                log.exception("finished hook failed")
                self.errors.append(f"hook: {exc!r}")

    def idle(self) -> bool:
        """True when every configured interaction has been generated and has finished."""
        done_generating = self.config.calls is not None and self.generated >= self.config.calls
        return self.active == 0 and (done_generating or self.config.rate_per_hour <= 0)

    def snapshot(self) -> dict[str, Any]:
        """Counters for `/_sim/stats`."""
        by_scenario: dict[str, int] = {}
        for record in self.records:
            by_scenario[record.scenario] = by_scenario.get(record.scenario, 0) + 1
        return {
            "generated": self.generated,
            "active": self.active,
            "finished": sum(1 for r in self.records if r.finished),
            "waiting_for_agent": self.waiting,
            "agents_busy": sum(1 for w in self.world.workers.values() if not w.available),
            "agents": len(self.world.workers),
            "by_scenario": by_scenario,
            "engine_errors": len(self.errors),
        }
