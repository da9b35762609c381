"""How Twilio writes dates, URLs and list pages, for the simulator's responses."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

API_VERSION = "2010-04-01"
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

T = TypeVar("T")


def rfc2822(epoch: float | None) -> str | None:
    """Voice API dates: `Tue, 24 Nov 2026 23:32:00 +0000` (names fixed, never the locale's)."""
    if epoch is None:
        return None
    t = time.gmtime(epoch)
    return (
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year:04d} "
        f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} +0000"
    )


def iso8601(epoch: float | None) -> str | None:
    """TaskRouter / Flex / Events dates: `2026-11-24T23:32:00Z`."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


@dataclass(frozen=True)
class Hosts:
    """The origins written into absolute URLs (Twilio's own hosts unless a public base is set)."""

    api: str = "https://api.twilio.com"
    taskrouter: str = "https://taskrouter.twilio.com"
    flex: str = "https://flex-api.twilio.com"
    events: str = "https://events.twilio.com"

    @classmethod
    def single(cls, base_url: str) -> Hosts:
        """Every product on one origin (the simulator's own address)."""
        base = base_url.rstrip("/")
        return cls(api=base, taskrouter=base, flex=base, events=base)


@dataclass(frozen=True)
class PageRequest:
    """A requested page: `PageSize` (1-1000, default 50) and zero-based `Page`."""

    page: int = 0
    page_size: int = 50

    def slice(self, items: Sequence[T]) -> tuple[list[T], bool]:
        """This page's items and whether another page follows."""
        start = self.page * self.page_size
        chunk = list(items[start : start + self.page_size])
        return chunk, start + self.page_size < len(items)


def _query(filters: Sequence[tuple[str, str]], page_size: int, page: int, token: bool) -> str:
    pairs = [*filters, ("PageSize", str(page_size)), ("Page", str(page))]
    if token:
        # Twilio's PageToken is opaque; ours only marks where the page starts.
        pairs.append(("PageToken", f"PA{page * page_size}"))
    return urlencode(pairs)


def v2010_page(
    key: str,
    items: Sequence[dict[str, Any]],
    path: str,
    filters: Sequence[tuple[str, str]],
    request: PageRequest,
    has_more: bool,
) -> dict[str, Any]:
    """The Voice API list envelope (relative `*_uri` links, `start`/`end` indexes)."""
    size, page = request.page_size, request.page
    start = page * size
    return {
        key: list(items),
        "first_page_uri": f"{path}?{_query(filters, size, 0, False)}",
        "next_page_uri": f"{path}?{_query(filters, size, page + 1, True)}" if has_more else None,
        "previous_page_uri": (
            f"{path}?{_query(filters, size, page - 1, True)}" if page > 0 else None
        ),
        "page": page,
        "page_size": size,
        "start": start,
        "end": start + max(len(items), 1) - 1,
        "uri": f"{path}?{_query(filters, size, page, page > 0)}",
    }


def meta_page(
    key: str,
    items: Sequence[dict[str, Any]],
    url: str,
    filters: Sequence[tuple[str, str]],
    request: PageRequest,
    has_more: bool,
) -> dict[str, Any]:
    """The `meta` list envelope of TaskRouter, Flex and Events (absolute `*_url` links)."""
    size, page = request.page_size, request.page
    return {
        key: list(items),
        "meta": {
            "first_page_url": f"{url}?{_query(filters, size, 0, False)}",
            "key": key,
            "next_page_url": f"{url}?{_query(filters, size, page + 1, True)}" if has_more else None,
            "page": page,
            "page_size": size,
            "previous_page_url": (
                f"{url}?{_query(filters, size, page - 1, True)}" if page > 0 else None
            ),
            "url": f"{url}?{_query(filters, size, page, page > 0)}",
        },
    }
