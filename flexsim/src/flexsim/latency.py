"""How long the simulated Twilio takes to answer a REST request.

Real Twilio answers a control-plane call in roughly 100-300 ms from most regions (issue 9's
figure; Twilio publishes no SLO for it), with a tail beyond. The model is a log-normal whose
5th and 95th percentiles are the configured `low` and `high` (so about one answer in twenty is
slower than `high`), capped at ten times `high`. `0` turns it off (tests that do not measure
latency pin it so). Timeouts and 5xx stay in the fault plan (flexsim.faults).

Like every duration in the simulator, the latency is simulated time: at `--scale 1` (the
default of `flexsim`, and what the benches use) it is real time; a day run 20x faster gets
answers 20x faster too, so a REST call keeps its real weight against the call it serves (a
200 ms answer is not stretched into four simulated seconds of a compressed call).
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field

DEFAULT_LATENCY = "100-300"
_Z95 = 1.6449  # the standard normal's 95th percentile


class LatencyError(ValueError):
    """A latency setting that cannot be parsed."""


@dataclass
class LatencyModel:
    """REST answer delays between `low_ms` (5th percentile) and `high_ms` (95th)."""

    low_ms: float = 100.0
    high_ms: float = 300.0
    seed: int = 0
    scale: float = 1.0  # simulated seconds per real second
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.low_ms < 0 or self.high_ms < self.low_ms:
            raise LatencyError(f"latency needs 0 <= low <= high, got {self.low_ms}-{self.high_ms}")
        self._rng = random.Random(self.seed ^ 0x1A7)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, spec: str | None, seed: int = 0, scale: float = 1.0) -> LatencyModel | None:
        """`"100-300"` (ms, 5th-95th percentile), `"150"` (about 150 ms), `"0"`/empty: none."""
        text = (spec or "").strip()
        if not text or text == "0":
            return None
        low, sep, high = text.partition("-")
        try:
            low_ms = float(low)
            high_ms = float(high) if sep else low_ms
        except ValueError as exc:
            raise LatencyError(f"latency is LOW-HIGH in ms (e.g. 100-300), got {text!r}") from exc
        if high_ms <= 0:
            return None
        return cls(low_ms, high_ms, seed, scale)

    def describe(self) -> str:
        """The setting as given on the command line."""
        return f"{self.low_ms:g}-{self.high_ms:g}"

    def sample_s(self) -> float:
        """One answer's delay in real seconds (simulated time divided by the clock's scale)."""
        if self.high_ms <= 0:
            return 0.0
        low = max(self.low_ms, 1.0)
        mu = (math.log(low) + math.log(self.high_ms)) / 2
        sigma = max((math.log(self.high_ms) - math.log(low)) / (2 * _Z95), 1e-6)
        with self._lock:
            ms = self._rng.lognormvariate(mu, sigma)
        return min(ms, self.high_ms * 10) / 1000.0 / max(self.scale, 1e-9)
