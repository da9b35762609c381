"""Readiness: can the service do its job right now, and if not, why (`GET /readyz`).

`/healthz` stays a cheap liveness check. `/readyz` answers 503 naming each failing check:
- `database`: a real write (no-op UPDATE of the migration row): read-only or full disk fails;
- `queue`: the job queue's storage answers;
- `twilio`: the credentials are accepted and the workspace exists (a Workspace fetch, or an
  Account fetch without TWILIO_WORKSPACE_SID; cached 60 s). Refused credentials or an unknown
  workspace fail; Twilio unreachable is reported but does not fail readiness, since webhooks still
  arrive and their work waits, retried, in the queue;
- `webhooks`: Twilio's webhooks pass the signature check. Recent signed posts all refused (a
  wrong TWILIO_AUTH_TOKEN or FLEXREC_PUBLIC_URL refuses every webhook) fail it; forged posts
  among valid ones do not;
- `archive`: the archive store takes, returns and deletes a probe object (cached 60 s).

The queue check also sets the queue depth gauge (flexrec.server.gauges keeps the gauges on
`/metrics` fresh by itself).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import text

from flexrec.cli_errors import twilio_problem
from flexrec.server.gauges import QUEUE_DEPTH
from flexrec.twilio.gateway import TRANSLATED_ERRORS, translate_error

READY = Gauge("flexrec_ready", "1 when /readyz passes, else 0")

SIGNATURE_WINDOW_S = 600.0
SIGNATURE_MIN_FAILURES = 5
PROBE_EVERY_S = 60.0
PROBE_KEY = "flexrec-readiness/probe"  # outside recordings/, where the archive writes


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: `ok`, and a line saying what is wrong and what to do."""

    ok: bool
    detail: str = "ok"


class SignatureWatch:
    """Recent webhook signature outcomes, to tell "Twilio's posts are refused" from noise."""

    def __init__(
        self, window_s: float = SIGNATURE_WINDOW_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window_s = window_s
        self._clock = clock
        self._events: deque[tuple[float, bool]] = deque(maxlen=1000)
        self._lock = threading.Lock()

    def record(self, ok: bool) -> None:
        """Note one webhook's signature check."""
        with self._lock:
            self._events.append((self._clock(), ok))

    def check(self) -> CheckResult:
        """Failing when the recent signed posts were all refused (and there were several)."""
        horizon = self._clock() - self._window_s
        with self._lock:
            recent = [ok for at, ok in self._events if at >= horizon]
        refused = recent.count(False)
        if refused >= SIGNATURE_MIN_FAILURES and not any(recent):
            return CheckResult(
                False,
                f"the last {refused} webhooks failed their signature check: TWILIO_AUTH_TOKEN "
                "or FLEXREC_PUBLIC_URL does not match what Twilio signs with",
            )
        return CheckResult(True, "ok" if recent else "ok (no webhook yet)")


class Cached:
    """A slow check run at most once per `every_s` (a probe per scrape would cost money)."""

    def __init__(
        self,
        check: Callable[[], CheckResult],
        every_s: float = PROBE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._check = check
        self._every_s = every_s
        self._clock = clock
        self._last: tuple[float, CheckResult] | None = None
        self._lock = threading.Lock()

    def __call__(self) -> CheckResult:
        with self._lock:
            now = self._clock()
            if self._last is None or now - self._last[0] >= self._every_s:
                self._last = (now, self._check())
            return self._last[1]


def database_writable(engine: Any) -> CheckResult:
    """A write that changes nothing: a read-only, locked-out or full database fails it."""
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = version_num"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()
        first = reason[0] if reason else type(exc).__name__
        return CheckResult(False, f"the database refuses writes ({first[:200]})")
    return CheckResult(True)


def queue_reachable(queue: Any) -> CheckResult:
    """The job queue's storage answers."""
    try:
        depth = int(queue.huey.pending_count())
    except Exception as exc:
        return CheckResult(False, f"the job queue is unreachable ({type(exc).__name__})")
    QUEUE_DEPTH.set(depth)
    return CheckResult(True)


def twilio_credentials(client: Any, account_sid: str, workspace_sid: str = "") -> CheckResult:
    """Twilio accepts the credentials, and knows the workspace when one is configured.

    Refused credentials or an unknown workspace fail; Twilio unreachable is reported, passing.
    """
    try:
        if workspace_sid:
            client.taskrouter.v1.workspaces(workspace_sid).fetch()
        else:
            client.api.v2010.accounts(account_sid).fetch()
    except TRANSLATED_ERRORS as exc:
        error = translate_error(exc)
        line = twilio_problem(error.status, str(error))
        return CheckResult(error.status not in (401, 403, 404), line)
    return CheckResult(True)


def archive_store_works(store: Any) -> CheckResult:
    """The archive store takes, returns and deletes a small object."""
    payload = datetime.now(UTC).isoformat().encode()
    try:
        store.put(PROBE_KEY, payload)
        same = store.get(PROBE_KEY) == payload
        store.delete(PROBE_KEY)
    except Exception as exc:
        return CheckResult(False, f"the archive store fails ({type(exc).__name__}: {exc})"[:300])
    if not same:
        return CheckResult(False, "the archive store returned other bytes than written")
    return CheckResult(True)


class Readiness:
    """Every readiness check of one process, built from its services."""

    def __init__(self, checks: dict[str, Callable[[], CheckResult]]) -> None:
        self.checks = checks

    @classmethod
    def for_services(cls, services: Any, settings: Any, watch: SignatureWatch) -> Readiness:
        """The checks that apply to what this process has."""
        checks: dict[str, Callable[[], CheckResult]] = {}
        if services.engine is not None:
            checks["database"] = lambda: database_writable(services.engine)
        if services.queue is not None and hasattr(services.queue, "huey"):
            checks["queue"] = lambda: queue_reachable(services.queue)
        if services.client is not None and settings.twilio.account_sid:
            sid, workspace = settings.twilio.account_sid, settings.twilio.workspace_sid
            checks["twilio"] = Cached(lambda: twilio_credentials(services.client, sid, workspace))
        checks["webhooks"] = watch.check
        archive = services.archive
        if archive is not None and getattr(archive, "store", None) is not None:
            checks["archive"] = Cached(lambda: archive_store_works(archive.store))
        return cls(checks)

    def run(self) -> tuple[bool, dict[str, str]]:
        """Run every check: all passed, and each one's line."""
        results: dict[str, str] = {}
        ready = True
        for name, check in self.checks.items():
            try:
                result = check()
            except Exception as exc:  # a check that breaks is a failing check, never a 500
                result = CheckResult(False, f"check failed: {type(exc).__name__}")
            results[name] = result.detail
            ready = ready and result.ok
        READY.set(1 if ready else 0)
        return ready, results
