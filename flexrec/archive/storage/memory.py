"""An in-process archive store for unit tests and the demo's sandbox."""

from __future__ import annotations

import threading

from flexrec.archive.storage.base import BlobNotFound, StorageError, check_key


class MemoryStorage:
    """An in-process store for unit tests; `fail_next_puts` simulates outages."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0
        self.fail_next_puts = 0
        self._lock = threading.Lock()

    def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` (or fail if an outage is scheduled)."""
        check_key(key)
        with self._lock:
            if self.fail_next_puts > 0:
                self.fail_next_puts -= 1
                raise StorageError("simulated storage outage")
            self.objects[key] = bytes(data)
            self.puts += 1

    def get(self, key: str) -> bytes:
        """The object under `key`."""
        with self._lock:
            try:
                return self.objects[check_key(key)]
            except KeyError:
                raise BlobNotFound(key) from None

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """A slice of the object under `key`."""
        return self.get(key)[start : end + 1]

    def size(self, key: str) -> int:
        """Length of the object under `key`."""
        return len(self.get(key))

    def exists(self, key: str) -> bool:
        """True when `key` is stored."""
        with self._lock:
            return check_key(key) in self.objects

    def delete(self, key: str) -> None:
        """Forget `key`."""
        with self._lock:
            self.objects.pop(check_key(key), None)

    def list_keys(self, prefix: str = "") -> list[str]:
        """Stored keys with `prefix`."""
        with self._lock:
            return sorted(k for k in self.objects if k.startswith(prefix))

    def describe(self) -> str:
        """`memory://`."""
        return "memory://"
