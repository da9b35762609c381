"""Who holds a claim: each process is an owner with a heartbeat lease, so a dead one's claims
are taken back at once and a live one's never are.

A start attempt claims its target under this process's owner id (`recording_targets.
claim_owner`). Every process keeps a `service_owners` row and beats every `heartbeat_s`. An
owner is gone when its row is missing, its heartbeat is older than `lease_s`, or (seen from
the same machine and PID namespace) its PID is dead or belongs to a newer process. Reaping
deletes gone owners and puts their `starting` targets back to `pending`, due now: a kill -9
mid-start costs a restart, not the claim's visibility window (60 s, during which a short call
ended unrecorded).

A live owner's claim is never released by others. Its holder only creates a recording while
its own lease is fresh (`holds`): a process whose heartbeats stop getting through (database
unreachable, reaped after a stall) gives its claims up rather than race whoever takes them.
The visibility window stays as the backstop for a claim whose attempt got stuck; the attempt
itself never creates after half of it.

Each process also keeps its run (flexrec.recording.runs), its row written with the owner's at
registration and stop, and beating every `ALIVE_S`: the owner row goes when the process does,
the run row stays, so the coverage report can say when the service was down.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import structlog
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session, sessionmaker

from flexrec.db.models import ServiceOwner, ServiceRun
from flexrec.db.prepared import Prepared
from flexrec.recording import runs
from flexrec.recording.store import read_connection, write_connection, write_session
from flexrec.recording.transitions import ORPHANED_CLAIM, reap_orphaned_claims

log = structlog.get_logger(__name__)

HEARTBEAT_S = 3.0
# The run's own heartbeat (flexrec.recording.runs): how closely an outage's start is known
# when nothing else the service wrote tells it.
ALIVE_S = 1.0
LEASE_S = 20.0  # several missed beats: a busy machine's stall is not a death

# The chores' statements run every second or three of the process's life, traffic or none:
# prepared (flexrec.db.prepared) on a bare connection, where a session cost 0.5-1.7 ms of CPU a
# heartbeat (bench/results/issue18.md, "hot, session 9").
_BEAT = Prepared(
    update(ServiceOwner)
    .where(ServiceOwner.owner_id == bindparam("owner"))
    .values(heartbeat_at=bindparam("now"))
)
_ALIVE = Prepared(
    update(ServiceRun)
    .where(ServiceRun.run_id == bindparam("run"))
    .values(alive_at=bindparam("now"), ended_at=None)
)
_OWNERS = Prepared(
    select(
        ServiceOwner.owner_id,
        ServiceOwner.host,
        ServiceOwner.pid,
        ServiceOwner.pid_started,
        ServiceOwner.heartbeat_at,
    )
)
_UNENDED = Prepared(runs.UNENDED)
_ORPHANED = Prepared(ORPHANED_CLAIM)


def lease_seconds(request_timeout_s: float) -> float:
    """The lease for a Twilio request timeout: a create the holder began while its lease was
    fresh (half of it left) must have ended before anyone may reap it."""
    return max(LEASE_S, 2 * request_timeout_s + HEARTBEAT_S)


def host_key() -> str:
    """This machine and PID namespace: PIDs compared under the same key mean the same process."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id",):
        try:
            parts.append(Path(path).read_text().strip())
        except OSError:
            parts.append("-")
    try:
        parts.append(str(os.stat("/proc/self/ns/pid").st_ino))
    except OSError:
        parts.append("-")
    return "/".join(parts)[:255]


def process_started(pid: int) -> int | None:
    """When `pid` started (clock ticks since boot), or None if unknown or not running."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from its closing one.
    fields = stat.rsplit(")", 1)[-1].split()
    try:
        return int(fields[19])  # field 22 of the whole line
    except (IndexError, ValueError):
        return None


def pid_alive(pid: int, started: int | None) -> bool:
    """Whether `pid` still runs the process that started at `started` (None: not known)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    if started is None:
        return True
    now_started = process_started(pid)
    return now_started is None or now_started == started


class OwnerLease:
    """This process's owner id and heartbeat; reaps owners that are gone."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Callable[[], datetime],
        *,
        lease_s: float = LEASE_S,
        host: str | None = None,
        pid: int | None = None,
        alive: Callable[[int, int | None], bool] = pid_alive,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.clock = clock
        self.lease = timedelta(seconds=lease_s)
        self.host = host if host is not None else host_key()
        self.pid = os.getpid() if pid is None else pid
        self.pid_started = process_started(self.pid)
        self._alive = alive
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self.owner_id = uuid.uuid4().hex
        self.run_id = uuid.uuid4().hex  # the process's run: kept across a new owner id
        self._run_open = False
        self._answers = False  # only a run that takes webhooks has uptime to keep
        self._valid_until = 0.0
        self._closed = False

    def register(self) -> None:
        """Insert this process's owner row (a fresh id)."""
        now = self.clock()
        with write_session(self.sessions) as session:
            session.add(
                ServiceOwner(
                    owner_id=self.owner_id,
                    host=self.host,
                    pid=self.pid,
                    pid_started=self.pid_started,
                    started_at=now,
                    heartbeat_at=now,
                )
            )
            if not self._run_open:
                runs.open_run(session, self.run_id, self.host, self.pid, self.pid_started, now)
        self._run_open = True
        self._renewed()
        log.info("claim owner registered", owner_id=self.owner_id, pid=self.pid)

    def beat(self) -> None:
        """Renew the lease; a process found reaped (after a long stall) starts a new owner id."""
        if self._closed:
            return
        now = self.clock()
        with write_connection(self.sessions, writes_first=True) as connection:
            found = bool(_BEAT.execute(connection, {"owner": self.owner_id, "now": now}).rowcount)
        if found:
            self._renewed()
            return
        log.warning("claim owner was reaped; registering again", owner_id=self.owner_id)
        with self._lock:
            self.owner_id = uuid.uuid4().hex
            self._valid_until = 0.0
        self.register()

    def _renewed(self) -> None:
        with self._lock:
            # Half the lease: others wait the whole lease before reaping, so a claim is never
            # used after anyone could consider it free.
            self._valid_until = self._monotonic() + self.lease.total_seconds() / 2

    def holds(self, owner_id: str | None) -> bool:
        """Whether a claim taken under `owner_id` may still be used (our lease is fresh)."""
        if owner_id is None:
            return True
        with self._lock:
            return owner_id == self.owner_id and self._monotonic() < self._valid_until

    def alive(self) -> None:
        """The run's heartbeat: one UPDATE of its row, once the process takes webhooks.

        The coverage report counts a run as the service up only from its `answering_at`; a
        run that never answers (`flexrec serve`'s jobs worker, a scaled deployment's workers)
        has nothing to keep, and its write a second met the webhooks' writes at SQLite's one
        lock, held long by a niced worker a busy core seldom runs (p99 170 ms at 80% of
        saturation, bench/service_day.py).
        """
        if self._closed or not self._answers:
            return
        with write_connection(self.sessions, writes_first=True) as connection:
            _ALIVE.execute(connection, {"run": self.run_id, "now": self.clock()})

    def answering(self) -> None:
        """Note that this process now takes webhooks (its run counts as the service up)."""
        with write_session(self.sessions) as session:
            runs.answering(session, self.run_id, self.clock())
        self._answers = True

    def close(self) -> None:
        """Delete the owner row at a clean shutdown: what it still claims is free at once."""
        if self._closed:
            return
        self._closed = True
        try:
            with write_session(self.sessions) as session:
                session.execute(delete(ServiceOwner).where(ServiceOwner.owner_id == self.owner_id))
                runs.stopped(session, self.run_id, self.clock())
        except Exception:
            log.exception("claim owner could not be removed", owner_id=self.owner_id)

    def reap(self) -> list[int]:
        """Forget owners that are gone and put their claimed targets back to due `pending`.

        Returns the targets released, for the caller to start.
        """
        now = self.clock()
        with read_connection(self.sessions) as connection:
            owners = _OWNERS.execute(connection).rows
            unended = _UNENDED.execute(connection).rows
            gone = [
                row.owner_id
                for row in owners
                if row.owner_id != self.owner_id and self._gone(row, now)
            ]
            vanished = [
                row.run_id for row in unended if row.run_id != self.run_id and self._gone(row, now)
            ]
            if not gone and not vanished and _ORPHANED.execute(connection).first() is None:
                return []  # the usual tick: reads only, no write lock taken
        with write_session(self.sessions) as session:
            if gone:
                session.execute(delete(ServiceOwner).where(ServiceOwner.owner_id.in_(gone)))
                log.warning("claim owners gone", owners=gone)
            if vanished:
                runs.vanished(session, vanished, self.lease)
                log.warning("service runs ended without a word", runs=vanished)
            released = reap_orphaned_claims(session, now)
        if released:
            log.warning("claims of gone processes released", target_ids=released)
        return released

    def _gone(self, row: object, now: datetime) -> bool:
        heartbeat_at: datetime = row.heartbeat_at  # type: ignore[attr-defined]
        if heartbeat_at < now - self.lease:
            return True
        if row.host != self.host:  # type: ignore[attr-defined]
            return False
        pid: int = row.pid  # type: ignore[attr-defined]
        if pid == self.pid:
            return True  # our PID under another owner id: that process was an earlier us
        return not self._alive(pid, row.pid_started)  # type: ignore[attr-defined]
