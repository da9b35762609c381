"""The operator's signal "every Twilio webhook fails its signature check", kept away from
readiness.

A wrong TWILIO_AUTH_TOKEN or FLEXREC_PUBLIC_URL makes every webhook Twilio sends fail its
signature check, and nothing gets recorded: the operator must hear of it. But anyone can post
a forged webhook, so the signal must never be something a stranger can use against the
service: it is not a readiness check (1,000 forged posts once took an instance out of its load
balancer for ten minutes, where no valid webhook could reach it to clear the state). It is:
- the gauge `flexrec_webhook_signatures_all_refused` (1 while the recent posts that claim to
  come from this account were all refused) and the counter `flexrec_webhooks_total{outcome=
  "forged"}`, for the alert rule in deploy/prometheus;
- a log line when it starts (error) and when a valid webhook ends it (info);
- a line of `/readyz`'s detail for an authenticated caller.
Only refused posts that name this account (a form's `AccountSid`, or the account SID anywhere
in an Event Streams body) count: Twilio's own posts always do, a stranger's random ones do not.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Gauge

from flexrec.logs import get_logger

log = get_logger(__name__)

SIGNATURE_WINDOW_S = 600.0
SIGNATURE_MIN_FAILURES = 5
_REMEMBERED = 1000  # posts the window holds at most
ALL_REFUSED = Gauge(
    "flexrec_webhook_signatures_all_refused",
    "1 while every recent webhook naming this account failed its signature check (a wrong "
    "TWILIO_AUTH_TOKEN or FLEXREC_PUBLIC_URL), else 0",
)
HINT = (
    "TWILIO_AUTH_TOKEN or FLEXREC_PUBLIC_URL does not match what Twilio signs with "
    "(check both, and FLEXREC_TRUSTED_PROXIES behind a proxy)"
)


@dataclass(frozen=True)
class SignatureState:
    """Whether Twilio's webhooks are being refused, and the line that says so."""

    all_refused: bool
    detail: str


class SignatureWatch:
    """Recent signature outcomes of webhooks naming this account (thread-safe)."""

    def __init__(
        self,
        account_sid: str = "",
        *,
        window_s: float = SIGNATURE_WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account_sid = account_sid
        self._window_s = window_s
        self._clock = clock
        # Only what the signal reads, kept as it comes (every webhook records here, so no walk
        # over the window per post): the refusals since the last accepted post, and its time.
        # The window holds the last 1,000 posts: an accepted post followed by 1,000 refusals
        # has left it.
        self._refusals: deque[float] = deque(maxlen=_REMEMBERED)
        self._last_ok_at: float | None = None
        self._lock = threading.Lock()
        self._alerting = False
        ALL_REFUSED.set(0)  # one watch per app: a new app starts with no refusals seen

    def names_this_account(self, account_sid: object = None, body: bytes | None = None) -> bool:
        """True when a post claims to come from this account (always, with no account set)."""
        if not self.account_sid:
            return True
        if body is not None:
            return self.account_sid.encode() in body
        return account_sid == self.account_sid

    def record(self, ok: bool) -> None:
        """Note one webhook's signature check; logs and sets the gauge when the state flips."""
        now = self._clock()
        with self._lock:
            if ok:
                self._refusals.clear()
                self._last_ok_at = now
            else:
                self._refusals.append(now)
            state = self._state(now)
            flipped = state.all_refused != self._alerting
            self._alerting = state.all_refused
        if flipped:
            ALL_REFUSED.set(1 if state.all_refused else 0)
            if state.all_refused:
                log.error("webhook_signatures_all_refused", detail=state.detail)
            else:
                log.info("webhook_signatures_accepted_again")

    def state(self) -> SignatureState:
        """The signal as of now (old refusals age out of the window)."""
        now = self._clock()
        with self._lock:
            state = self._state(now)
            if self._alerting and not state.all_refused:
                self._alerting = False
                ALL_REFUSED.set(0)
        return state

    def _state(self, now: float) -> SignatureState:
        horizon = now - self._window_s
        refusals = self._refusals
        while refusals and refusals[0] < horizon:
            refusals.popleft()  # aged out of the window
        accepted = (
            self._last_ok_at is not None
            and self._last_ok_at >= horizon
            and len(refusals) < _REMEMBERED
        )
        refused = len(refusals)
        if refused >= SIGNATURE_MIN_FAILURES and not accepted:
            return SignatureState(
                True, f"the last {refused} webhooks failed their signature check: {HINT}"
            )
        if not accepted and not refused:
            return SignatureState(False, "ok (no webhook yet)")
        return SignatureState(False, "ok")
