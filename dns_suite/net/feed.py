"""Metrics from worker processes to their control process (I/O).

The choice (DESIGN "Process model": metrics aggregated across workers): each worker sends its
own cumulative snapshot (:mod:`dns_suite.chain.metrics`, ``marshal``-encoded) over a
SOCK_SEQPACKET socket pair to the control process every :data:`INTERVAL` seconds and once
more when it exits (SIGTERM included); the control process keeps the newest snapshot of each
worker and, when a worker's end of the pair closes, folds that worker's last counters into a
running total (:class:`~dns_suite.chain.metrics.Aggregate`). So the counters served by
``/metrics`` are exact once the workers have reported (within :data:`INTERVAL` seconds), never
go backwards when a worker set is replaced, and nothing is written to disk (a read-only root
filesystem is fine). prometheus-client's multiprocess mode was the other way: it needs a
writable directory of mmap files, a value object per label set on the hot path, and cleaning
up after dead processes.
"""

from __future__ import annotations

import asyncio
import logging
import marshal
import os
import signal
import socket
import threading
import time
from typing import Callable

from dns_suite.chain.metrics import Aggregate, Snapshot

log = logging.getLogger("dns_suite.net.feed")

INTERVAL = 1.0  # seconds between a worker's reports
MAX_MESSAGE = 1 << 20  # octets: a snapshot larger than this is not sent (and logged)


class Feed:
    """One worker's socket pair: made before the fork, then each side keeps its end."""

    def __init__(self) -> None:
        self.parent_end, self.child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.parent_end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    # ------------------------------------------------------------------ the worker's side
    def in_child(self) -> Sender:
        """In the worker after the fork: close the parent's end, return the sender."""
        self.parent_end.close()
        return Sender(self.child_end)

    # ------------------------------------------------------------------ the control process's side
    def in_parent(self) -> socket.socket:
        """In the control process after the fork: close the worker's end, return ours."""
        self.child_end.close()
        self.parent_end.setblocking(False)
        return self.parent_end


class Sender:
    """The worker's side: sends ``snapshot()`` now (:meth:`send`), periodically from a thread
    (:meth:`start_thread`) or an event loop (:meth:`start_loop`), and at SIGTERM."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.snapshot: Callable[[], Snapshot] = dict
        self._lock = threading.Lock()
        self._timer = None

    def send(self, final: bool = False) -> None:
        """Send the current snapshot (blocking at most a second when ``final``)."""
        if not self._lock.acquire(timeout=1.0):
            return
        try:
            data = marshal.dumps(self.snapshot())
            if len(data) > MAX_MESSAGE:
                log.error("metrics snapshot of %d octets not sent", len(data))
                return
            self.sock.settimeout(1.0 if final else 0.0)
            self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            pass  # the control process is behind: the next snapshot is cumulative anyway
        except OSError as exc:
            log.debug("metrics to the control process: %s", exc)
        except Exception as exc:  # noqa: BLE001 - our bug: log it, the worker goes on serving
            log.error("bug sending metrics: %r", exc, exc_info=exc)
        finally:
            self._lock.release()

    def start_thread(self, snapshot: Callable[[], Snapshot]) -> None:
        """Report from a daemon thread (a worker whose main thread blocks in recvfrom)."""
        self.snapshot = snapshot

        def report() -> None:
            while True:
                time.sleep(INTERVAL)
                self.send()

        threading.Thread(target=report, name="metrics-feed", daemon=True).start()

    def start_loop(self, snapshot: Callable[[], Snapshot]) -> None:
        """Report from the running event loop (a worker that is a whole asyncio service)."""
        self.snapshot = snapshot
        loop = asyncio.get_running_loop()

        def report() -> None:
            self.send()
            self._timer = loop.call_later(INTERVAL, report)

        self._timer = loop.call_later(INTERVAL, report)

    def stop(self) -> None:
        """Send the final snapshot and close (the control process then retires this worker)."""
        if self._timer is not None:
            self._timer.cancel()
        self.send(final=True)
        self.sock.close()

    def exit_on_sigterm(self) -> None:
        """SIGTERM: send the final snapshot and exit at once (status 0)."""
        def on_term(_signum, _frame) -> None:
            self.send(final=True)
            os._exit(0)

        signal.signal(signal.SIGTERM, on_term)


class Receiver:
    """The control process's side: the newest snapshot of every worker, added up.

    Args:
        loop: the control process's event loop (None: read only by :meth:`drain`).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self.aggregate = Aggregate()
        self.socks: dict[object, socket.socket] = {}

    def attach(self, worker: object, sock: socket.socket) -> None:
        """Read ``worker``'s reports from ``sock`` (from the event loop, when there is one)."""
        self.socks[worker] = sock
        if self.loop is not None:
            self.loop.add_reader(sock.fileno(), self._readable, worker)

    def _readable(self, worker: object) -> None:
        self._read(worker)

    def _read(self, worker: object) -> bool:
        """Take every message waiting from ``worker``; True once its end is closed."""
        sock = self.socks.get(worker)
        if sock is None:
            return True
        while True:
            try:
                data = sock.recv(MAX_MESSAGE)
            except (BlockingIOError, InterruptedError):
                return False
            except OSError:
                data = b""
            if not data:
                self._retire(worker)
                return True
            try:
                self.aggregate.update(worker, marshal.loads(data))
            except (ValueError, EOFError, TypeError) as exc:
                log.error("bad metrics message from worker %s: %s", worker, exc)

    def _retire(self, worker: object) -> None:
        sock = self.socks.pop(worker)
        if self.loop is not None:
            try:
                self.loop.remove_reader(sock.fileno())
            except (ValueError, OSError):
                pass
        sock.close()
        self.aggregate.retire(worker)

    def drain(self, worker: object) -> None:
        """``worker`` has exited (reaped): take its last messages and retire it."""
        if worker not in self.socks:
            return
        if not self._read(worker):  # a copy of its end is still open somewhere: retire anyway
            self._retire(worker)

    def fds(self) -> list[int]:
        """The descriptors of our ends (a worker forked later closes them)."""
        return [s.fileno() for s in self.socks.values()]

    def total(self) -> Snapshot:
        """Every worker's numbers added up (the newest reports)."""
        for worker in list(self.socks):  # what has arrived since the loop last looked
            self._read(worker)
        return self.aggregate.total()
