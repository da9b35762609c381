"""The gateway's period listings for the coverage report: every call leg and recording of days.

A mixin of `SdkGateway` (flexrec/twilio/gateway.py), so the listings go through the same
transport and error translation as every other Twilio call. Both listings are paged at Twilio's
largest page (1,000; OAI `PageSize` maximum), so a day of 3,000 calls costs a handful of
requests and never one per call; each page is one request and is yielded as it arrives, so the
caller can count what it spent.

Twilio filters List Calls by `StartTime>`/`StartTime<` and List Recordings by
`DateCreated>`/`DateCreated<` at day granularity ("Specify a date as YYYY-MM-DD in UTC",
vendor/twilio-oai/twilio_api_v2010.json), and its docs disagree on whether `<` includes the
day named. The listing therefore asks for whole UTC days, from the first day up to the day
after the last one (too much at worst, never too little); the caller keeps exact moments.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from typing import Any, Protocol, TypeVar

from twilio.rest import Client

from flexrec.twilio.errors import GatewayError, twilio_call
from flexrec.twilio.resources import CallInfo, RecordingInfo

PAGE_SIZE = 1000  # Twilio's maximum page size
PAGE_ATTEMPTS = 6  # pauses of 0.5, 1, 2, 4, 8 s between them: about 15 s per page at worst
_T = TypeVar("_T")


def read_page(fetch: Callable[[], _T], sleep: Callable[[float], None] = time.sleep) -> _T:
    """`fetch()` inside `twilio_call()`, asked again while Twilio's failure is retryable."""
    for attempt in range(PAGE_ATTEMPTS):
        try:
            with twilio_call():
                return fetch()
        except GatewayError as exc:
            if not exc.retryable or attempt == PAGE_ATTEMPTS - 1:
                raise
            sleep(0.5 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover


class CallLogGateway(Protocol):
    """The account's call legs and recordings of whole UTC days, page by page."""

    account_sid: str

    def call_pages(self, first_day: date, last_day: date) -> Iterator[list[CallInfo]]:
        """Call legs that started on `first_day` .. `last_day` (each page one request)."""
        ...

    def recording_pages(self, first_day: date, last_day: date) -> Iterator[list[RecordingInfo]]:
        """Recordings created on `first_day` .. `last_day` (each page one request)."""
        ...


def epoch_ms(value: Any) -> int | None:
    """A datetime from the SDK as epoch milliseconds (None for anything else)."""
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return None


def int_or_none(value: Any) -> int | None:
    """An SDK field as an int (None when absent or not a number)."""
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def text_or_none(value: Any) -> str | None:
    """An SDK field as text (None when absent or empty)."""
    return str(value) if value not in (None, "") else None


def _count(value: Any) -> int | None:
    number = int_or_none(value)
    return number if number is not None and number >= 0 else None  # -1 while recording


def recording_info(rec: Any) -> RecordingInfo:
    """A Recording resource from the SDK as flexrec's `RecordingInfo`."""
    return RecordingInfo(
        sid=rec.sid,
        call_sid=rec.call_sid,
        status=str(rec.status),
        start_time_ms=epoch_ms(rec.start_time),
        channels=int_or_none(rec.channels),
        duration_s=_count(rec.duration),
        source=str(rec.source) if rec.source else None,
        track=str(rec.track) if getattr(rec, "track", None) else None,
        error_code=int_or_none(rec.error_code),
        account_sid=text_or_none(getattr(rec, "account_sid", None)),
        uri=text_or_none(getattr(rec, "uri", None)),
        conference_sid=text_or_none(getattr(rec, "conference_sid", None)),
    )


def call_info(call: Any) -> CallInfo:
    """A Call resource from the SDK as the gateway's `CallInfo`."""
    return CallInfo(
        sid=str(call.sid),
        status=str(call.status),
        direction=str(call.direction) if call.direction else None,
        from_=str(call._from) if getattr(call, "_from", None) else None,
        to=str(call.to) if call.to else None,
        parent_call_sid=str(call.parent_call_sid) if call.parent_call_sid else None,
        start_time_ms=epoch_ms(call.start_time),
        end_time_ms=epoch_ms(call.end_time),
        duration_s=_count(call.duration),
    )


def _days(first_day: date, last_day: date) -> dict[str, str]:
    return {"after": first_day.isoformat(), "before": (last_day + timedelta(days=1)).isoformat()}


class CallLogCalls:
    """`CallLogGateway` over the SDK client (mixed into `SdkGateway`)."""

    _client: Client
    # Items per list request; Twilio's largest by default (a test lists a small day in pages).
    page_size: int = PAGE_SIZE

    def call_pages(self, first_day: date, last_day: date) -> Iterator[list[CallInfo]]:
        """Call legs that started on those days, newest first as Twilio lists them."""
        days = _days(first_day, last_day)
        page = read_page(
            lambda: self._client.calls.page(
                start_time_after=days["after"],
                start_time_before=days["before"],
                page_size=self.page_size,
            )
        )
        while page is not None:
            yield [call_info(call) for call in page]
            page = read_page(page.next_page)

    def recording_pages(self, first_day: date, last_day: date) -> Iterator[list[RecordingInfo]]:
        """Recordings created on those days (call and conference recordings alike)."""
        days = _days(first_day, last_day)
        page = read_page(
            lambda: self._client.recordings.page(
                date_created_after=days["after"],
                date_created_before=days["before"],
                page_size=self.page_size,
            )
        )
        while page is not None:
            yield [recording_info(rec) for rec in page]
            page = read_page(page.next_page)
