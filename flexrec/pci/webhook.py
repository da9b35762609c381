"""The signed webhook: another system hears of each call whose card data was silenced.

Off unless `FLEXREC_CARD_DATA_WEBHOOK_URL` is set. The archive job only adds a row to an outbox
(`card_data_notices`, in the transaction that records the detections) and queues a delivery:
it never waits for the receiver. The delivery job posts the notice and, on anything but a 2xx
answer, tries again through the job queue with backoff (30 s doubling to an hour, 12 attempts,
about 7 hours), then gives up with a log line and a metric. A periodic sweep queues again any
notice whose attempt is overdue (a queue that lost the job, a worker killed mid-post).

What the receiver checks (README, "Verifying the card-data webhook"):

    Flexrec-Signature: t=1796000000,v1=<hex HMAC-SHA256(secret, "1796000000." + raw body)>

It recomputes the HMAC over the timestamp, a dot and the body exactly as received, compares in
constant time, refuses a timestamp more than five minutes from its own clock (a captured request
cannot be replayed later), and remembers `Flexrec-Event-Id` for that window: every attempt of
one notice sends the same body and id, freshly signed. The body holds times, kinds and names,
never a digit of card data.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from prometheus_client import Counter
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from flexrec.config import Settings
from flexrec.pci.models import CardDataNotice
from flexrec.ports import JobRegistry

log = structlog.get_logger(__name__)

SIGNATURE_HEADER = "Flexrec-Signature"
EVENT_HEADER = "Flexrec-Event-Id"
EVENT_TYPE = "card_data.silenced"
TOLERANCE_S = 300
"""How far a signature's timestamp may be from the receiver's clock."""
MAX_ATTEMPTS = 12
JOB_DELIVER = "card_data_webhook"
JOB_SWEEP = "card_data_webhook_sweep"
SWEEP_GRACE = timedelta(seconds=60)
"""An attempt this overdue was lost (its queued job never ran): the sweep queues it again."""

DELIVERIES = Counter(
    "flexrec_card_data_webhook_deliveries",
    "Card-data webhook attempts by outcome (delivered, retry, failed: attempts exhausted)",
    ["outcome"],
)

Describe = Callable[[Session, str], dict[str, Any] | None]
"""A call's card data as people read it (its marks: agent, span, kinds), None once it is gone."""


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `Flexrec-Signature` value for `body` sent at `timestamp` (Unix seconds)."""
    message = str(timestamp).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: float | None = None,
    tolerance_s: int = TOLERANCE_S,
) -> bool:
    """Whether `header` signs `body` with `secret` within `tolerance_s` of `now` (the receiver's
    check; any `v1` entry may match, so a secret can be rotated with two in flight)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        fields.setdefault(key, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = sign(secret, body, timestamp).partition(",v1=")[2]
    return any(hmac.compare_digest(expected, given) for given in fields.get("v1", []))


def backoff_s(attempts: int) -> float:
    """Delay after failed attempt number `attempts`: 30 s, 1 min, 2 min … capped at an hour."""
    return float(min(3600, 30 * 2 ** max(0, attempts - 1)))


def _now() -> datetime:
    return datetime.now(UTC)


class CardDataWebhook:
    """The outbox and its delivery (see the module docstring)."""

    def __init__(
        self,
        url: str,
        secret: str,
        sessions: sessionmaker[Session],
        describe: Describe,
        *,
        public_url: str = "",
        timeout_s: float = 10.0,
        max_attempts: int = MAX_ATTEMPTS,
        clock: Callable[[], datetime] = _now,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url
        self._secret = secret
        self._sessions = sessions
        self._describe = describe
        self._public_url = public_url.rstrip("/")
        self._timeout_s = timeout_s
        self._max_attempts = max_attempts
        self._clock = clock
        self._transport = transport
        self._queue: JobRegistry | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: sessionmaker[Session], describe: Describe
    ) -> CardDataWebhook | None:
        """The configured webhook, or None when no URL is set."""
        config = settings.card_data
        if not config.card_data_webhook_url.strip():
            return None
        return cls(
            config.card_data_webhook_url.strip(),
            config.card_data_webhook_secret.get_secret_value(),
            sessions,
            describe,
            public_url=settings.server.public_url,
        )

    def register(self, queue: JobRegistry) -> None:
        """Register the delivery job and the sweep on `queue` (retries are ours, not huey's)."""
        queue.register(JOB_DELIVER, self.deliver, retries=0)
        queue.register_periodic(JOB_SWEEP, self.sweep, every_minutes=1)
        self._queue = queue

    def record(self, session: Session, recording_sid: str) -> int | None:
        """Add the recording's notice in the caller's transaction; None when it has one (the
        archive job ran again): a receiver hears of a call once."""
        if session.scalar(
            select(CardDataNotice.id).where(CardDataNotice.recording_sid == recording_sid)
        ):
            return None
        now = self._clock()
        notice = CardDataNotice(
            event_id=f"evt_{uuid.uuid4().hex}",
            recording_sid=recording_sid,
            created_at=now,
            state="pending",
            attempts=0,
            next_attempt_at=now,
        )
        session.add(notice)
        session.flush()
        return notice.id

    def announce(self, notice_id: int, delay_s: float = 0.0) -> None:
        """Queue an attempt; never raises (the sweep finds a notice that could not be queued)."""
        try:
            if self._queue is None:
                raise RuntimeError("the webhook's jobs are not registered")
            self._queue.enqueue(JOB_DELIVER, notice_id, delay_s=delay_s)
        except Exception as exc:
            log.warning("card_data.webhook_not_queued", notice=notice_id, error=type(exc).__name__)

    def deliver(self, notice_id: int) -> str:
        """One attempt at notice `notice_id`: delivered, retry (queued with backoff), failed,
        gone (the recording left the archive first) or skipped (not due, or done)."""
        claimed = self._claim(notice_id)
        if claimed is None:
            return "skipped"
        event_id, body = claimed
        if body is None:
            return "gone"
        error = self._post(event_id, body.encode())
        now = self._clock()
        with self._sessions() as session:
            notice = session.get(CardDataNotice, notice_id)
            if notice is None:
                return "gone"
            if error is None:
                notice.state, notice.delivered_at, notice.last_error = "delivered", now, None
                session.commit()
                DELIVERIES.labels("delivered").inc()
                return "delivered"
            notice.attempts += 1
            notice.last_error = error[:200]
            if notice.attempts >= self._max_attempts:
                notice.state = "failed"
                session.commit()
                DELIVERIES.labels("failed").inc()
                log.error(
                    "card_data.webhook_failed",
                    event_id=event_id,
                    recording_sid=notice.recording_sid,
                    attempts=notice.attempts,
                    error=error,
                )
                return "failed"
            delay = backoff_s(notice.attempts)
            notice.next_attempt_at = now + timedelta(seconds=delay)
            session.commit()
        DELIVERIES.labels("retry").inc()
        log.warning("card_data.webhook_retry", event_id=event_id, error=error, delay_s=delay)
        self.announce(notice_id, delay_s=delay)
        return "retry"

    def _claim(self, notice_id: int) -> tuple[str, str | None] | None:
        """Take the due notice for one attempt (pushing its due time past the attempt: a
        second job for it then skips) and fix its body; None when it is not due."""
        now = self._clock()
        lease = timedelta(seconds=self._timeout_s * 2 + 30)
        with self._sessions() as session:
            taken = session.execute(
                update(CardDataNotice)
                .where(
                    CardDataNotice.id == notice_id,
                    CardDataNotice.state == "pending",
                    CardDataNotice.next_attempt_at <= now + timedelta(seconds=5),
                )
                .values(next_attempt_at=now + lease)
            )
            if not getattr(taken, "rowcount", 0):
                session.rollback()
                return None
            notice = session.get(CardDataNotice, notice_id)
            assert notice is not None  # noqa: S101 - just updated
            if notice.body is None:
                call = self._describe(session, notice.recording_sid)
                if call is None:
                    notice.state = "failed"
                    notice.last_error = "the recording is no longer in the archive"
                    session.commit()
                    return notice.event_id, None
                notice.body = json.dumps(self._payload(notice, call), separators=(",", ":"))
            session.commit()
            return notice.event_id, notice.body

    def _payload(self, notice: CardDataNotice, call: dict[str, Any]) -> dict[str, Any]:
        created = notice.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        payload: dict[str, Any] = {"id": notice.event_id, "type": EVENT_TYPE, "created_at": created}
        payload.update(call)
        if self._public_url:
            sid = call["recording_sid"]
            payload["console_url"] = f"{self._public_url}/console/recordings/{sid}"
        return payload

    def _post(self, event_id: str, body: bytes) -> str | None:
        """POST the signed body; None on a 2xx answer, else what went wrong (no URL in it: it
        may carry the receiver's token)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "flexrec-card-data-webhook/1",
            EVENT_HEADER: event_id,
            SIGNATURE_HEADER: sign(self._secret, body, int(self._clock().timestamp())),
        }
        try:
            with httpx.Client(
                timeout=self._timeout_s, follow_redirects=False, transport=self._transport
            ) as client:
                response = client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return type(exc).__name__
        if 200 <= response.status_code < 300:
            return None
        return f"HTTP {response.status_code}"

    def sweep(self) -> int:
        """Queue again every pending notice whose attempt is overdue; returns how many."""
        cutoff = self._clock() - SWEEP_GRACE
        with self._sessions() as session:
            overdue = list(
                session.scalars(
                    select(CardDataNotice.id)
                    .where(
                        CardDataNotice.state == "pending", CardDataNotice.next_attempt_at <= cutoff
                    )
                    .order_by(CardDataNotice.next_attempt_at)
                    .limit(100)
                )
            )
        for notice_id in overdue:
            self.announce(notice_id)
        return len(overdue)
