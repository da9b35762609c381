"""When the webhook being handled arrived, so what it sets off can be timed from that moment.

The web layer marks each request's arrival (a `time.monotonic()` reading) in a context variable;
the handler thread inherits it, so work done for the webhook (a recording create) measures its
delay from the arrival on this process's own clock, whatever the sender's clock says.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token

_ARRIVED_AT: ContextVar[float | None] = ContextVar("webhook_arrived_at", default=None)


def mark_arrival(at: float) -> Token[float | None]:
    """Note that the request being handled in this context arrived at monotonic time `at`."""
    return _ARRIVED_AT.set(at)


def reset_arrival(token: Token[float | None]) -> None:
    """Forget the mark set with `token` (the request is answered)."""
    _ARRIVED_AT.reset(token)


def seconds_since_arrival() -> float | None:
    """Seconds since the webhook being handled arrived; None outside a webhook's handling."""
    arrived = _ARRIVED_AT.get()
    return None if arrived is None else time.monotonic() - arrived
