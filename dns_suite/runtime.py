"""Service lifecycle helpers (I/O): logging setup and running a service until a signal.

SIGTERM and SIGINT stop the service; SIGHUP calls its reload. Signals are
handled in one place, by the asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from typing import Awaitable, Callable

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


def prefork(count: int, serve: Callable[[int], int],
            alongside: Callable[[list[int]], None] | None = None) -> int:
    """Run ``serve(index)`` in ``count`` forked processes; forward SIGHUP, SIGTERM and SIGINT
    to them; return when all have exited.

    Call before any event loop or thread exists. A worker that dies is not restarted; the
    others go on serving. ``alongside(pids)``, when given, is called in the parent once the
    workers run (it may start daemon threads: the observability listener).

    Returns:
        0 when every worker exited 0, else the first non-zero status seen.
    """
    parent, pids = os.getpid(), []
    for index in range(count):
        pid = os.fork()
        if pid == 0:
            die_with_parent(parent)
            code = 1
            try:
                code = serve(index)
            finally:
                os._exit(code)
        pids.append(pid)

    def forward(signum, _frame) -> None:
        for pid in pids:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    for signum in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    if alongside is not None:
        alongside(pids)
    status = 0
    for pid in pids:
        while True:
            try:
                _, raw = os.waitpid(pid, 0)
                break
            except InterruptedError:
                continue
        code = os.waitstatus_to_exitcode(raw)
        if code and not status:
            status = code if code > 0 else 1
    return status
