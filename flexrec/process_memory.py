"""Keeping a long-running process's memory flat: glibc's allocator, held to what the work needs.

A day of calls has the service's threads (web handlers, queue workers, attribute writers)
allocating and freeing a few megabytes each at once, at different moments. glibc gives a thread
that finds the allocator busy an arena of its own (up to eight per core) and keeps whatever is
freed in each arena for later instead of returning it: the process's resident memory then
follows the highest that every arena ever held, and grows with each new thread that joins a
busy moment (issue 18 measured 432 MB after a 400-call day, not falling once traffic stopped,
while the Python objects alive stayed at a few MB). Three measures, all no-ops where the C
library is not glibc:

- arenas are limited to two (`mallopt(M_ARENA_MAX)`, before the process starts its threads;
  the `MALLOC_ARENA_MAX` environment variable, when set, wins);
- a buffer of 4 MiB or more is a mapping of its own, handed back to the system when freed
  (`mallopt(M_MMAP_THRESHOLD)`; `MALLOC_MMAP_THRESHOLD_` or a `glibc.malloc.mmap_threshold`
  tunable, when set, wins). glibc's own threshold starts at 128 KiB but rises to the size of
  each mapped block freed, up to 32 MiB: after the first recording the jobs worker's downloads
  (a five-minute call is 9.6 MB) came out of the arenas, and each one freed left a hole that
  smaller allocations split, so the worker's RSS rose all day with 33-52 MB in use and 72-99
  MB free inside its arenas (issue 18). A fixed threshold costs the page faults of each such
  buffer (a 9.6 MB read into a fresh buffer: 0.27 -> 4.0 ms of CPU), which is why the
  analysis maps an archived file and the read-back compares it in place
  (`flexrec.archive.storage.local`): what is left is one download a recording;
- free memory is handed back every minute (`malloc_trim(0)`, which releases the free pages of
  every arena, not only the top of the heap), from a daemon thread.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from functools import cache

import structlog

log = structlog.get_logger(__name__)

M_ARENA_MAX = -8  # glibc's mallopt parameter numbers
M_MMAP_THRESHOLD = -3
ARENAS = 2
MMAP_THRESHOLD_BYTES = 4 * 1024 * 1024  # two minutes of dual-channel 8 kHz audio
RELEASE_EVERY_S = 60.0


@cache
def _glibc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it (musl, macOS do not)
    except (OSError, AttributeError):
        return None
    return libc


def limit_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas (unless MALLOC_ARENA_MAX says otherwise); True if applied."""
    libc = _glibc()
    if libc is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(libc.mallopt(M_ARENA_MAX, arenas))


def map_large_buffers(threshold: int = MMAP_THRESHOLD_BYTES) -> bool:
    """Make every allocation of `threshold` bytes or more a mapping of its own, returned to the
    system when freed (unless the environment sets glibc's threshold); True if applied."""
    libc = _glibc()
    tunables = os.environ.get("GLIBC_TUNABLES", "")
    if libc is None or "MALLOC_MMAP_THRESHOLD_" in os.environ or "mmap_threshold" in tunables:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))


def release_free_memory() -> bool:
    """Give the pages the allocator holds free back to the system; True if any were."""
    libc = _glibc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def keep_memory_flat(every_s: float = RELEASE_EVERY_S) -> threading.Event | None:
    """The three measures for this process; returns the event that stops the releasing
    thread."""
    if _glibc() is None:
        return None
    limit_arenas()
    map_large_buffers()
    stop = threading.Event()

    def release() -> None:
        while not stop.wait(every_s):
            try:
                release_free_memory()
            except Exception:  # pragma: no cover - a failing trim must not kill the process
                log.exception("memory_release_failed")
                return

    threading.Thread(target=release, name="memory-release", daemon=True).start()
    return stop
