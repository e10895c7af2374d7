"""Service lifecycle helpers (I/O): logging setup and running a service until a signal.

SIGTERM and SIGINT stop the service; SIGHUP calls its reload. Signals are
handled in one place, by the asyncio loop.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Awaitable, Callable


class KeyValueFormatter(logging.Formatter):
    """``time level logger message key=value ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        base = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname.lower()} " \
               f"{record.name} {record.getMessage()}"
        if record.exc_info:
            base += "\n" + self.formatException(record.exc_info)
        return base


def setup_logging(level: str = "info") -> None:
    """Log to stderr at ``level`` (debug, info, warning, error)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
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
