"""Seeded fault injection for the simulator: failing REST calls, misbehaving webhooks, and a
world that changes after a client thought it settled.

A `FaultPlan` is parsed from a short string such as
`api=0.2,dup=0.1,reorder=0.1,drop=0.0,latency=50,timeout=0.01,delay=0,seed=7`:

- `api`: share of Twilio REST requests answered 429, 500 or 503 *before* any processing;
- `latency`: mean extra latency (ms) added to every REST request;
- `timeout`: share of REST requests held longer than a client waits, then answered 503
  without processing (the client sees a timeout and nothing changed);
- `dup` / `reorder` / `drop`: share of webhook deliveries sent twice, held back until after the
  next delivery, or never sent;
- `delay`: extra delay (ms) before each webhook delivery.

Interference (what `flexsim.interference` does to the world; all off by default):

- `absent` / `failed` / `stopped`: share of call recordings created through the REST API that
  end early while their call is still in progress: `absent` (silent, nothing stored, error
  16102), `failed` (not stored, error 16105), or stopped by another API client (`completed`
  with the media up to the stop, as older payment integrations stop instead of pausing);
- `clobber`: share of attribute writes adding a `VoiceRecording` to `conversations.media`
  that another integration overwrites a moment later from a copy it read before that write,
  without If-Match: the new media entries are gone, the integration's own key is added.

Scripted faults (`fault_next`): the next N requests matching a method and a path pattern
(`GET */Recordings/*.wav`: media downloads) answer a given status with Twilio's error body, or
wait first; they come before the rates and the request hook, for tests that need one exact
failure (a download that 503s twice, a delete that 500s).

Transport decisions (`api_fault`, `webhook_fault`) come from one seeded RNG, so a run with the
same seed and the same sequence of requests makes the same decisions. Interference decisions
are keyed instead (`recording_fate(key)`, `blind_write_delay(key)`: the same seed and key
always decide the same), so they do not depend on the order requests happen to arrive in and
never move the transport RNG.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

# Longer than any sane client timeout (the service uses a few seconds), short enough that a test
# run with timeouts still finishes.
TIMEOUT_DELAY_S = 20.0

_KEYS = {
    "api": "api_error_rate",
    "latency": "api_latency_ms",
    "timeout": "api_timeout_rate",
    "dup": "dup_rate",
    "reorder": "reorder_rate",
    "drop": "drop_rate",
    "delay": "delay_ms",
    "absent": "rec_absent_rate",
    "failed": "rec_failed_rate",
    "stopped": "rec_stopped_rate",
    "clobber": "clobber_rate",
    "seed": "seed",
}
_RATES = (
    "api_error_rate",
    "api_timeout_rate",
    "dup_rate",
    "reorder_rate",
    "drop_rate",
    "rec_absent_rate",
    "rec_failed_rate",
    "rec_stopped_rate",
    "clobber_rate",
)
# When an early end happens, in simulated seconds after the recording started: an `absent`
# recording is one whose media never flowed (found out within seconds); a failed or stopped one
# ran a while first. Every draw stays inside a typical call; a call that ends first ends the
# recording normally and the fault never happens.
EARLY_END_AFTER_S: dict[str, tuple[float, float]] = {
    "absent": (1.0, 6.0),
    "failed": (5.0, 60.0),
    "stopped": (10.0, 60.0),
}
# How long after the link write the other integration's stale write lands (simulated seconds).
BLIND_WRITE_AFTER_S = (0.5, 5.0)


class FaultPlanError(ValueError):
    """A fault plan string could not be parsed."""


@dataclass(frozen=True)
class ApiFault:
    """What to do to one REST request: wait `delay_s`, then answer `status` (None: handle it)
    with Twilio's error `code` (None: the generic code for the status, 20000 + status)."""

    status: int | None
    delay_s: float
    kind: Literal["error", "timeout", "latency"]
    code: int | None = None


@dataclass(frozen=True)
class WebhookFault:
    """What to do to one webhook delivery."""

    drop: bool = False
    duplicate: bool = False
    reorder: bool = False
    delay_s: float = 0.0


RequestHook = Callable[[str, str], ApiFault | None]


@dataclass
class ScriptedFault:
    """`fault` for the next `times` requests of `method` whose path matches `path` (a glob:
    `*` matches any run of characters, `/` included)."""

    method: str
    path: str
    fault: ApiFault
    times: int

    def matches(self, method: str, path: str) -> bool:
        """Whether a request is one this script is for."""
        return method == self.method and fnmatch.fnmatchcase(path, self.path)


EarlyEndKind = Literal["absent", "failed", "stopped"]


@dataclass(frozen=True)
class EarlyEnd:
    """A recording's planned early end: how (`kind`) and when (seconds after its start)."""

    kind: EarlyEndKind
    after_s: float


@dataclass
class FaultPlan:
    """Rates and delays of injected faults, with the seeded RNG that decides each one."""

    api_error_rate: float = 0.0
    api_latency_ms: float = 0.0
    api_timeout_rate: float = 0.0
    dup_rate: float = 0.0
    reorder_rate: float = 0.0
    drop_rate: float = 0.0
    delay_ms: float = 0.0
    rec_absent_rate: float = 0.0
    rec_failed_rate: float = 0.0
    rec_stopped_rate: float = 0.0
    clobber_rate: float = 0.0
    seed: int = 0
    timeout_delay_s: float = TIMEOUT_DELAY_S
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    # A caller's own choice per REST request (SimRunner.fault_requests); None defers to the rates.
    _request_hook: RequestHook | None = field(default=None, init=False, repr=False, compare=False)
    # Exact faults for the next matching requests (fault_next), consumed in order.
    _scripted: list[ScriptedFault] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultPlanError(f"{name} must be between 0 and 1, got {value}")
        early = self.rec_absent_rate + self.rec_failed_rate + self.rec_stopped_rate
        if early > 1.0 + 1e-9:
            raise FaultPlanError(f"absent + failed + stopped must not exceed 1, got {early:g}")
        if self.api_latency_ms < 0 or self.delay_ms < 0:
            raise FaultPlanError("latency and delay must not be negative")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str | None, *, seed: int | None = None) -> FaultPlan:
        """Parse `key=value,...` (keys: api, latency, timeout, dup, reorder, drop, delay, absent,
        failed, stopped, clobber, seed)."""
        values: dict[str, float | int] = {}
        for part in (spec or "").split(","):
            part = part.strip()
            if not part:
                continue
            key, sep, raw = part.partition("=")
            key = key.strip().lower()
            if not sep or key not in _KEYS:
                raise FaultPlanError(f"unknown fault setting {part!r}; use one of {sorted(_KEYS)}")
            try:
                number = float(raw)
            except ValueError as exc:
                raise FaultPlanError(f"{key} needs a number, got {raw!r}") from exc
            values[_KEYS[key]] = int(number) if key == "seed" else number
        if seed is not None and "seed" not in values:
            values["seed"] = seed
        return cls(**values)  # type: ignore[arg-type]

    @property
    def active(self) -> bool:
        """Whether this plan injects transport faults (REST answers, webhook deliveries)."""
        return any(
            (
                self.api_error_rate,
                self.api_latency_ms,
                self.api_timeout_rate,
                self.dup_rate,
                self.reorder_rate,
                self.drop_rate,
                self.delay_ms,
            )
        )

    @property
    def interferes(self) -> bool:
        """Whether this plan changes the world behind clients' backs (early ends, clobbers)."""
        return any(
            (self.rec_absent_rate, self.rec_failed_rate, self.rec_stopped_rate, self.clobber_rate)
        )

    def recording_fate(self, key: str) -> EarlyEnd | None:
        """Whether (and how, and when) the recording named by `key` ends early; the same seed
        and key always give the same answer."""
        rates = (
            ("absent", self.rec_absent_rate),
            ("failed", self.rec_failed_rate),
            ("stopped", self.rec_stopped_rate),
        )
        if not any(rate for _, rate in rates):
            return None
        rng = random.Random(f"early-end:{self.seed}:{key}")
        roll = rng.random()
        for kind, rate in rates:
            if roll < rate:
                low, high = EARLY_END_AFTER_S[kind]
                return EarlyEnd(kind, rng.uniform(low, high))  # type: ignore[arg-type]
            roll -= rate
        return None

    def blind_write_delay(self, key: str) -> float | None:
        """Seconds until another integration's stale write follows the link write named by
        `key` (None: it does not); the same seed and key always give the same answer."""
        if not self.clobber_rate:
            return None
        rng = random.Random(f"clobber:{self.seed}:{key}")
        if rng.random() >= self.clobber_rate:
            return None
        return rng.uniform(*BLIND_WRITE_AFTER_S)

    def describe(self) -> dict[str, float | int]:
        """The plan's settings as plain JSON-able numbers."""
        return {attr: getattr(self, attr) for attr in _KEYS.values()}

    def replace_with(self, other: FaultPlan) -> None:
        """Take over another plan's settings in place (holders of this object see the change)."""
        with self._lock:
            for attr in (*_KEYS.values(), "timeout_delay_s"):
                setattr(self, attr, getattr(other, attr))
            self._rng = random.Random(other.seed)

    def set_request_hook(self, hook: RequestHook | None) -> None:
        """Let `hook(method, path)` choose a fault per REST request first (None: no hook)."""
        self._request_hook = hook

    def fault_next(
        self,
        method: str,
        path: str,
        *,
        status: int | None = None,
        code: int | None = None,
        delay_s: float = 0.0,
        times: int = 1,
    ) -> None:
        """Answer the next `times` requests of `method` matching the glob `path` with `status`
        (Twilio's error body, `code` or 20000 + status), after `delay_s` seconds; no status
        with a delay is latency alone (the request is then served)."""
        method = method.upper()
        if status is None and delay_s <= 0:
            raise FaultPlanError("a scripted fault needs a status, a delay, or both")
        if status is not None and not 400 <= status <= 599:
            raise FaultPlanError(f"status must be a 4xx or 5xx, got {status}")
        if delay_s < 0 or times < 1:
            raise FaultPlanError("delay_s must not be negative and times at least 1")
        kind: Literal["error", "latency"] = "error" if status is not None else "latency"
        fault = ApiFault(status, float(delay_s), kind, code)
        with self._lock:
            self._scripted.append(ScriptedFault(method, path, fault, times))

    def scripted(self) -> list[dict[str, object]]:
        """The scripted faults not yet used up."""
        with self._lock:
            return [
                {
                    "method": s.method,
                    "path": s.path,
                    "status": s.fault.status,
                    "code": s.fault.code,
                    "delay_s": s.fault.delay_s,
                    "times": s.times,
                }
                for s in self._scripted
            ]

    def _take_scripted(self, method: str, path: str) -> ApiFault | None:
        with self._lock:
            for script in self._scripted:
                if script.matches(method, path):
                    script.times -= 1
                    if script.times == 0:
                        self._scripted.remove(script)
                    return script.fault
        return None

    def api_fault(self, method: str, path: str) -> ApiFault | None:
        """Decide the fate of one REST request (the simulator's own `/_sim` routes are exempt)."""
        if path.startswith("/_sim"):
            return None
        if self._scripted:
            scripted = self._take_scripted(method, path)
            if scripted is not None:
                return scripted
        hook = self._request_hook
        if hook is not None:
            chosen = hook(method, path)
            if chosen is not None:
                return chosen
        if not self.active:
            return None
        with self._lock:
            roll = self._rng.random()
            latency_s = 0.0
            if self.api_latency_ms:
                latency_s = self._rng.uniform(0.5, 1.5) * self.api_latency_ms / 1000.0
            if roll < self.api_timeout_rate:
                return ApiFault(503, self.timeout_delay_s, "timeout")
            if roll < self.api_timeout_rate + self.api_error_rate:
                status = self._rng.choice((429, 500, 503))
                return ApiFault(status, latency_s, "error")
        if latency_s:
            return ApiFault(None, latency_s, "latency")
        return None

    def webhook_fault(self) -> WebhookFault:
        """Decide the fate of one webhook delivery."""
        if not self.active:
            return WebhookFault()
        with self._lock:
            drop = self._rng.random() < self.drop_rate
            duplicate = self._rng.random() < self.dup_rate
            reorder = self._rng.random() < self.reorder_rate
        return WebhookFault(
            drop=drop, duplicate=duplicate, reorder=reorder, delay_s=self.delay_ms / 1000.0
        )
