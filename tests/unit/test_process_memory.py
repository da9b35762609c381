"""The process keeps its allocator to two arenas and hands free memory back every minute."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from flexrec import process_memory


def test_arenas_are_limited_unless_the_environment_says_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if process_memory._glibc() is None:
        pytest.skip("not glibc: nothing to tune")  # musl, macOS
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert process_memory.limit_arenas() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert process_memory.limit_arenas() is False


def test_free_memory_is_released_periodically_until_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if process_memory._glibc() is None:
        pytest.skip("not glibc: nothing to tune")
    released = threading.Semaphore(0)
    monkeypatch.setattr(process_memory, "release_free_memory", lambda: bool(released.release()))
    stop = process_memory.keep_memory_flat(every_s=0.01)
    assert stop is not None
    try:
        assert released.acquire(timeout=5) and released.acquire(timeout=5)  # twice, at least
    finally:
        stop.set()


_PROBE = """
import ctypes, sys
from flexrec import process_memory

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info
applied = process_memory.map_large_buffers() if sys.argv[1] == "apply" else False
# A 9 MB buffer freed raises glibc's own threshold past 8 MB: the next 8 MB buffer then comes
# out of the heap, unless the threshold is fixed.
del_me = bytearray(9_000_000)
del del_me
before = libc.mallinfo2().hblkhd
kept = bytearray(8_000_000)
print(applied, libc.mallinfo2().hblkhd - before >= 8_000_000)
"""


@pytest.mark.parametrize(("mode", "mapped"), [("apply", True), ("leave", False)])
def test_a_recording_sized_buffer_is_a_mapping_of_its_own_once_applied(
    mode: str, mapped: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a process of its own: the setting is process-wide and cannot be undone."""
    if process_memory._glibc() is None:
        pytest.skip("not glibc: nothing to tune")
    for name in ("MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES"):
        monkeypatch.delenv(name, raising=False)
    found = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    ).stdout.split()
    assert found == [str(mapped), str(mapped)]


def test_the_environment_wins_over_the_buffer_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    if process_memory._glibc() is None:
        pytest.skip("not glibc: nothing to tune")
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
    assert process_memory.map_large_buffers() is False
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_")
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=1048576")
    assert process_memory.map_large_buffers() is False
