"""What the HTTP layer calls, as the composition root (flexrec.app) built it: `Services`.

Routes read it from `request.app.state.services` (flexrec.server.deps); `start()` and `close()`
run the in-process queue consumer and release everything in reverse order of creation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from flexrec.logs import get_logger
from flexrec.server.change_feed import ChangeFeed
from flexrec.server.long_polls import PollCap, StateMemo
from flexrec.server.ports import RecordingControl
from flexrec.twilio.flex_tokens import TokenValidator
from flexrec.web.token_guard import TokenGuard
from flexrec.webhooks.signature import SignatureVerifier

if TYPE_CHECKING:  # imported for the types only: `import flexrec.server` stays cheap
    from twilio.rest import Client

    from flexrec.archive.service import ArchiveService
    from flexrec.jobs.queue import JobQueue
    from flexrec.server.jobs_metrics import JobsWorkerMetrics
    from flexrec.twilio.gateway import SdkGateway

log = get_logger(__name__)

HealthCheck = Callable[[], None]  # raises when the dependency is unreachable


@dataclass
class Services:
    """Everything the HTTP layer calls; `close()` releases it in reverse order of creation."""

    recording: RecordingControl
    tokens: TokenValidator
    verifier: SignatureVerifier
    engine: Engine | None = None
    sessions: sessionmaker[Session] | None = None
    client: Client | None = None  # the Twilio SDK client
    gateway: SdkGateway | None = None
    queue: JobQueue | None = None
    archive: ArchiveService | None = None
    run_consumer: bool = False
    consumer_workers: int = 4
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    # Refused tokens and per-client budgets of IAM checks, shared by every token-taking route.
    token_guard: TokenGuard = field(default_factory=TokenGuard)
    # Whether a task SID names a task this service knows as not yet over (the token guard's
    # lane for agents behind a flooded address); without a database, none is.
    live_task: Callable[[str], bool] = field(default=lambda _task_sid: False)
    # Where held long polls wait for their task's change (the database's announcements), and
    # how many each token may hold.
    changes: ChangeFeed = field(default_factory=ChangeFeed)
    poll_cap: PollCap = field(default_factory=PollCap)
    state_memo: StateMemo = field(default_factory=StateMemo)
    closers: list[Callable[[], None]] = field(default_factory=list)
    # Notes, in the process's run history, that it now takes webhooks: the coverage report
    # counts the service up from then (flexrec.recording.runs).
    answering: Callable[[], None] = field(default=lambda: None)
    # The queue's jobs run in a worker process beside this one (`flexrec serve`'s default):
    # its metrics, merged into /metrics, and whether it answers (a /readyz report).
    jobs_worker: JobsWorkerMetrics | None = None

    def start(self) -> None:
        """Start the in-process queue consumer when this process runs one."""
        if self.run_consumer and self.queue is not None:
            self.queue.start_consumer(workers=self.consumer_workers)

    def close(self) -> None:
        """Stop the consumer and release connections; safe to call twice."""
        if self.run_consumer and self.queue is not None:
            try:
                self.queue.stop()
            except Exception:
                log.exception("queue_stop_failed")
        while self.closers:
            closer = self.closers.pop()
            try:
                closer()
            except Exception:
                log.exception("close_failed")
