"""The process keeps its allocator to two arenas and hands free memory back every minute."""

from __future__ import annotations

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
