"""A doorbell for the SQLite queue: an enqueue wakes an idle consumer instead of its next poll.

huey's SQLite storage cannot block on a read, so each consumer thread polls: after a job it
looks again in 0.1 s, then 1.15x longer each time it finds nothing, up to 10 s. On a day of
calls that polling was most of a `flexrec worker`'s CPU outside its jobs, and a job enqueued
while the workers had backed off waited for the next look: up to 10 s (the jobs process's
seconds-long waits in bench/results/issue18.md, "wire, session 7").

The bell: every process that consumes the queue binds a Unix datagram socket in a folder
beside the queue's file (`queue.db.bells/`, one socket per consumer); an enqueue, from any
process, sends one byte to each socket there once its row is written, and wakes this process's
own idle threads directly. A waiting consumer thread wakes on the byte (one thread per ring).
Polling stays, slower, as the safety net: a ring lost (a consumer starting, a full socket
buffer, which means a wake is pending anyway) only delays a job until the next poll, as
before. A socket whose process died refuses the byte and is removed by the next ring.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import weakref
from pathlib import Path

from flexrec.logs import get_logger

log = get_logger(__name__)

_RING = b"!"


class Doorbell:
    """Wakes the queue's idle consumer threads, in this process and in the others."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._ready = threading.Condition()
        self._rings = 0  # rings not yet taken by a waiting thread
        self.waiting = 0  # threads waiting now
        self._stopped = False
        self._listener: socket.socket | None = None
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sender.setblocking(False)
        weakref.finalize(self, self._sender.close)
        self._own: Path | None = None
        self._lock = threading.Lock()

    # -- the consumer's side ------------------------------------------------------------------
    def listen(self) -> None:
        """Bind this process's socket in the folder and wake waiters on every byte it gets."""
        with self._ready:
            self._stopped = False  # a consumer started again after a stop
        with self._lock:
            if self._listener is not None:
                return
            self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            own = self.folder / f"{os.getpid()}-{id(self):x}"
            with contextlib.suppress(FileNotFoundError):
                own.unlink()  # a process id reused since a kill -9
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            listener.bind(str(own))
            self._listener, self._own = listener, own
        hear = threading.Thread(target=self._hear, args=(listener,), name="queue-bell", daemon=True)
        hear.start()

    def _hear(self, listener: socket.socket) -> None:
        while True:
            try:
                listener.recv(64)
            except OSError:
                return  # closed: the consumer stopped
            self.wake()

    def wait(self, timeout_s: float) -> bool:
        """Block until rung (True: take the ring) or `timeout_s` passes or the bell stops."""
        with self._ready:
            if not self._rings and not self._stopped:
                self.waiting += 1
                try:
                    self._ready.wait(timeout_s)
                finally:
                    self.waiting -= 1
            if self._rings:
                self._rings -= 1
                return True
            return False

    def wake(self) -> None:
        """Wake one waiting thread of this process (or the next to wait)."""
        with self._ready:
            # A ring is for one job; more than the waiting threads is no more use.
            self._rings = min(self._rings + 1, 64)
            self._ready.notify()

    def stop(self) -> None:
        """Wake every waiter for good and remove this process's socket."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()
        with self._lock:
            listener, own, self._listener, self._own = self._listener, self._own, None, None
        if listener is not None:
            listener.close()
        if own is not None:
            with contextlib.suppress(FileNotFoundError):
                own.unlink()

    # -- the producer's side ------------------------------------------------------------------
    def ring(self) -> None:
        """A job was just written: wake an idle consumer here and in every other process."""
        self.wake()
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return  # no consumer has listened yet: they poll when they start
        own = self._own.name if self._own is not None else None
        sender = self._sender
        for name in names:
            if name == own:
                continue
            path = self.folder / name
            try:
                sender.sendto(_RING, str(path))
            except (ConnectionRefusedError, FileNotFoundError):
                with contextlib.suppress(OSError):
                    path.unlink()  # its process is gone
            except OSError:
                pass  # a full buffer: that consumer has a ring waiting already
