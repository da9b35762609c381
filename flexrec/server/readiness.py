"""Readiness: can the service do its job right now, and if not, why (`GET /readyz`).

`/healthz` stays a cheap liveness check. `/readyz` answers 503 when a check fails:
- `database`: a real write (no-op UPDATE of the migration row): read-only or full disk fails;
- `queue`: the job queue's storage answers;
- `twilio`: the credentials are accepted and the workspace exists (a Workspace fetch, or an
  Account fetch without TWILIO_WORKSPACE_SID; cached 60 s). Refused credentials or an unknown
  workspace fail; Twilio unreachable is reported but does not fail readiness, since webhooks still
  arrive and their work waits, retried, in the queue;
- `archive`: the archive store takes, returns and deletes a probe object (cached 60 s).
Nothing a stranger sends can fail one of them. Besides the checks, reports that never fail
readiness: `webhooks` (every webhook naming this account failing its signature check:
flexrec.server.signature_watch, since forged posts are anyone's to send) and `jobs` (the
queue's worker process answers: while it restarts, webhooks are still answered and recordings
still started, and its jobs wait in the queue; flexrec.server.jobs_metrics).

What a check found (a database error, an archive message) is for an authenticated caller only:
the route shows an anonymous caller each check's name and `ok` or `failing`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Gauge
from sqlalchemy import text

from flexrec.server.gauges import QUEUE_DEPTH
from flexrec.server.signature_watch import SignatureWatch
from flexrec.twilio.errors import twilio_problem
from flexrec.twilio.gateway import TRANSLATED_ERRORS, translate_error

READY = Gauge("flexrec_ready", "1 when /readyz passes, else 0")

PROBE_EVERY_S = 60.0
PROBE_KEY = "flexrec-readiness/probe"  # outside recordings/, where the archive writes


@dataclass(frozen=True)
class CheckResult:
    """One check's outcome: `ok`, and a line saying what is wrong and what to do."""

    ok: bool
    detail: str = "ok"


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
    """Every readiness check of one process, built from its services, and its reports."""

    def __init__(
        self,
        checks: dict[str, Callable[[], CheckResult]],
        reports: dict[str, Callable[[], CheckResult]] | None = None,
    ) -> None:
        self.checks = checks
        self.reports = reports or {}

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
        archive = services.archive
        if archive is not None and getattr(archive, "store", None) is not None:
            checks["archive"] = Cached(lambda: archive_store_works(archive.store))
        reports: dict[str, Callable[[], CheckResult]] = {
            "webhooks": lambda: webhook_signatures(watch)
        }
        jobs = getattr(services, "jobs_worker", None)
        if jobs is not None:
            reports["jobs"] = lambda: CheckResult(*jobs.status())
        return cls(checks, reports)

    def run(self) -> tuple[bool, dict[str, CheckResult]]:
        """Run every check and report: ready (the checks passed), and each one's result."""
        results: dict[str, CheckResult] = {}
        ready = True
        for name, check in (*self.checks.items(), *self.reports.items()):
            try:
                result = check()
            except Exception as exc:  # a check that breaks is a failing check, never a 500
                result = CheckResult(False, f"check failed: {type(exc).__name__}")
            results[name] = result
            if name in self.checks:
                ready = ready and result.ok
        READY.set(1 if ready else 0)
        return ready, results


def webhook_signatures(watch: SignatureWatch) -> CheckResult:
    """The signature signal as a report line (failing while Twilio's posts are refused)."""
    state = watch.state()
    return CheckResult(not state.all_refused, state.detail)
