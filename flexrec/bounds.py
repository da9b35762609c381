"""The largest numbers and dates accepted from outside, in one place.

Anything past these is no real request: it would overflow a database column (a 32-bit integer
on PostgreSQL, 64 bits on SQLite) or a date computation, which used to answer 500.
"""

from __future__ import annotations

from datetime import date

INT32_MAX = 2**31 - 1  # integer columns (counts, durations, channels, error codes)
INT64_MAX = 2**63 - 1  # big integer columns and orderings (sequence numbers, epoch ms)
MAX_OFFSET = 1_000_000_000  # rows skipped by a listing
MAX_PAGE = 1_000_000  # page numbers (times the page size, still far inside MAX_OFFSET's type)
MAX_DATE = date(9999, 12, 30)  # an inclusive end date: the day after must still exist
