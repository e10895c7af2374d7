"""Service lifecycle helpers (I/O): logging setup and running a service until a signal.

SIGTERM and SIGINT stop the service; SIGHUP calls its reload. Signals are
handled in one place, by the asyncio loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import select
import signal
import socket
import sys
import time
from collections import deque
from typing import Awaitable, Callable, Iterable

log = logging.getLogger("dns_suite.runtime")


class KeyValueFormatter(logging.Formatter):
    """``time level logger message key=value ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname.lower()} " \
               f"{record.name} {record.getMessage()}"
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``logger``, ``message``, and the fields
    of a query-log record (``extra={"query": {...}}``) as keys of their own."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        out = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}",
               "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        fields = getattr(record, "query", None)
        if isinstance(fields, dict):
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def setup_logging(level: str = "info", fmt: str = "text") -> None:
    """Log to stderr at ``level`` (debug, info, warning, error), as ``text`` lines or ``json``
    objects (``log_format``)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


async def serve_until_stopped(start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]],
                              reload: Callable[[], Awaitable[None]]) -> None:
    """Run ``start``, then wait for SIGTERM/SIGINT (-> ``stop``) and SIGHUP (-> ``reload``)."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(reload()))
    await start()
    await stopping.wait()
    await stop()


CHECK_GRACE = 1.0  # seconds an address in use is probed again (a process being killed releases it)


def check_free(listen: Iterable[tuple[str, int]], grace: float = CHECK_GRACE) -> None:
    """Fail when another process already holds a listen address, before anything is forked.

    The services bind with SO_REUSEPORT (workers share a port), and Linux lets any process of
    the same user join such a socket group: a second instance on the same address and port
    would silently share the queries with the first. Here each address is bound once for UDP
    and once for TCP without SO_REUSEPORT (TCP with SO_REUSEADDR, so connections in TIME_WAIT
    do not count), which fails while anyone holds it; the probes are closed at once. An
    address in use is probed again for ``grace`` seconds (the workers of an instance just
    killed may still be exiting). Two instances starting at the same moment can both pass.

    Args:
        listen: ``(host, port)`` pairs.
        grace: seconds to wait for an address in use to be released.

    Raises:
        OSError: an address is in use (``errno.EADDRINUSE``, "address already in use by
            another process") or cannot be bound; the message names the protocol and address.
    """
    deadline = time.monotonic() + grace
    for host, port in listen:
        while True:
            try:
                _probe(host, port)
                break
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE or time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)


def _probe(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for kind, proto in ((socket.SOCK_DGRAM, "UDP"), (socket.SOCK_STREAM, "TCP")):
        with socket.socket(family, kind) as probe:
            if family == socket.AF_INET6:
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if kind == socket.SOCK_STREAM:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as exc:
                where = f"{proto} [{host}]:{port}" if family == socket.AF_INET6 else f"{proto} {host}:{port}"
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(exc.errno, f"{where}: address already in use by another process") from None
                raise OSError(exc.errno, f"{where}: {exc.strerror}") from None


def die_with_parent(parent: int) -> None:
    """Ask Linux to SIGKILL this worker when its parent dies (prctl PR_SET_PDEATHSIG), so no
    orphan keeps answering on a shared port. Exits at once if the parent is already gone."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        log.warning("cannot tie the worker's life to its parent")
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


EX_SOFTWARE = 70  # a worker's exit status when ``serve`` raised (our bug)
RESTART_BURST = 3  # worker restarts allowed per RESTART_WINDOW ...
RESTART_WINDOW = 1.0  # ... seconds; past that the next restart waits (a worker dying in a loop)


class RestartBudget:
    """At most ``burst`` restarts in any ``window`` seconds (time passed in: monotonic seconds)."""

    def __init__(self, burst: int = RESTART_BURST, window: float = RESTART_WINDOW) -> None:
        self.burst, self.window = burst, window
        self.times: deque[float] = deque()

    def delay(self, now: float) -> float:
        """Seconds to wait before the next restart may happen (0.0: now)."""
        while self.times and self.times[0] <= now - self.window:
            self.times.popleft()
        return 0.0 if len(self.times) < self.burst else self.times[0] + self.window - now

    def spend(self, now: float) -> None:
        """Count a restart made at ``now``."""
        self.times.append(now)


def died(code: int) -> bool:
    """A worker's exit code (``os.waitstatus_to_exitcode``) says it died rather than stopped:
    killed by a signal (SIGKILL, SIGSEGV, the OOM killer), or ``serve`` raised. A worker that
    exits with a status of its own (0 after SIGTERM, 1 when it cannot start) is not restarted."""
    return code < 0 or code == EX_SOFTWARE


def prefork(count: int, serve: Callable[[int], int],
            alongside: Callable[[list[int]], None] | None = None) -> int:
    """Run ``serve(index)`` in ``count`` forked processes; forward SIGHUP, SIGTERM and SIGINT
    to them; return when all have exited.

    Call before any event loop or thread exists. A worker that dies (:func:`died`) is logged
    and forked again with the same index, at most :data:`RESTART_BURST` times per
    :data:`RESTART_WINDOW` seconds (more wait); after SIGTERM/SIGINT none is restarted.
    ``alongside(pids)``, when given, is called in the parent once the workers run (it may
    start daemon threads: the observability listener); ``pids`` is kept up to date in place.
    When ``alongside`` also has ``before_fork(index)`` and ``forked(index, pid)``, they are
    called around each restart (resolver/observe.py: a fresh metrics feed for the new worker).

    Returns:
        0 when every worker exited 0 at the end, else the first non-zero status seen (a dead
        worker that was restarted does not count).
    """
    parent, pids = os.getpid(), [0] * count
    wake_r, wake_w = os.pipe()  # the signal handler wakes a restart's wait
    os.set_blocking(wake_w, False)
    signals = (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
    inherit = {signum: signal.getsignal(signum) for signum in signals}  # what a worker starts with
    for index in range(count):
        pids[index] = _fork_worker(parent, index, serve, (wake_r, wake_w), inherit)
    stopping = False

    def forward(signum, _frame) -> None:
        nonlocal stopping
        if signum != signal.SIGHUP:
            stopping = True
            with contextlib.suppress(OSError):
                os.write(wake_w, b"x")
        for pid in pids:
            if pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signum)

    for signum in signals:
        signal.signal(signum, forward)
    if alongside is not None:
        alongside(pids)
    status, budget = 0, RestartBudget()
    while any(pids):
        pid, raw = os.wait()  # retried by Python after a signal handler (PEP 475)
        if pid not in pids:
            continue
        index, code = pids.index(pid), os.waitstatus_to_exitcode(raw)
        pids[index] = 0
        if stopping or not died(code):
            if code and not status:
                status = code if code > 0 else 1
            continue
        log.error("worker %d pid=%d died (%s): starting a new one", index, pid, _how(code))
        delay = budget.delay(time.monotonic())
        if delay > 0:
            log.warning("workers die in a loop: the next restart in %.1f s", delay)
            select.select([wake_r], [], [], delay)
        if stopping:
            continue
        budget.spend(time.monotonic())
        if hasattr(alongside, "before_fork"):
            alongside.before_fork(index)
        pids[index] = _fork_worker(parent, index, serve, (wake_r, wake_w), inherit)
        if hasattr(alongside, "forked"):
            alongside.forked(index, pids[index])
        log.info("worker %d restarted pid=%d", index, pids[index])
    os.close(wake_r)
    os.close(wake_w)
    return status


def _fork_worker(parent: int, index: int, serve: Callable[[int], int], close: tuple[int, ...],
                 handlers: dict) -> int:
    """Fork worker ``index`` running ``serve(index)`` with the signal ``handlers`` the parent
    had before prefork; returns its pid (in the parent only)."""
    pid = os.fork()
    if pid:
        return pid
    code = EX_SOFTWARE
    try:
        for fd in close:
            os.close(fd)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        die_with_parent(parent)
        code = serve(index)
    except BaseException as exc:  # noqa: BLE001 - our bug: reported, the parent restarts us
        log.critical("worker %d failed: %r", index, exc, exc_info=exc)
    finally:
        os._exit(code)


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit status {code}"
