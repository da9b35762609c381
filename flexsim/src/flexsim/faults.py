"""Seeded fault injection for the simulator: failing REST calls and misbehaving webhooks.

A `FaultPlan` is parsed from a short string such as
`api=0.2,dup=0.1,reorder=0.1,drop=0.0,latency=50,timeout=0.01,delay=0,seed=7`:

- `api`: share of Twilio REST requests answered 429, 500 or 503 *before* any processing;
- `latency`: mean extra latency (ms) added to every REST request;
- `timeout`: share of REST requests held longer than a client waits, then answered 503
  without processing (the client sees a timeout and nothing changed);
- `dup` / `reorder` / `drop`: share of webhook deliveries sent twice, held back until after the
  next delivery, or never sent;
- `delay`: extra delay (ms) before each webhook delivery.

Every decision comes from one seeded RNG, so a run with the same seed and the same sequence of
requests makes the same decisions.
"""

from __future__ import annotations

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
    "seed": "seed",
}


class FaultPlanError(ValueError):
    """A fault plan string could not be parsed."""


@dataclass(frozen=True)
class ApiFault:
    """What to do to one REST request: wait `delay_s`, then answer `status` (None: handle it)."""

    status: int | None
    delay_s: float
    kind: Literal["error", "timeout", "latency"]


@dataclass(frozen=True)
class WebhookFault:
    """What to do to one webhook delivery."""

    drop: bool = False
    duplicate: bool = False
    reorder: bool = False
    delay_s: float = 0.0


RequestHook = Callable[[str, str], ApiFault | None]


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
    seed: int = 0
    timeout_delay_s: float = TIMEOUT_DELAY_S
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)
    # A caller's own choice per REST request (SimRunner.fault_requests); None defers to the rates.
    _request_hook: RequestHook | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("api_error_rate", "api_timeout_rate", "dup_rate", "reorder_rate", "drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise FaultPlanError(f"{name} must be between 0 and 1, got {value}")
        if self.api_latency_ms < 0 or self.delay_ms < 0:
            raise FaultPlanError("latency and delay must not be negative")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str | None, *, seed: int | None = None) -> FaultPlan:
        """Parse `key=value,...` (keys: api, latency, timeout, dup, reorder, drop, delay, seed)."""
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
        """Whether this plan injects anything at all."""
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

    def api_fault(self, method: str, path: str) -> ApiFault | None:
        """Decide the fate of one REST request (the simulator's own `/_sim` routes are exempt)."""
        if path.startswith("/_sim"):
            return None
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
