"""UDP serving: a plain blocking recvfrom/sendto loop (I/O).

Measured here (DESIGN "The hot path"), a blocking loop answers more queries
per core than asyncio or uvloop, so each UDP socket gets one such loop, in
a thread of the control process (``workers = 1``) or in a forked worker.
Sockets are bound with SO_REUSEPORT so N workers share one port.
"""

from __future__ import annotations

import logging
import socket
from time import perf_counter
from typing import Callable

from dns_suite.chain.metrics import QueryCounters

log = logging.getLogger("dns_suite.net.udp")

#: ``handler(query_octets, client_address) -> reply_octets | None``; an empty
#: reply means "not mine to answer here": the loop calls ``HandlerRef.defer``.
Handler = Callable[[bytes, str], "bytes | None"]


def bind_udp(host: str, port: int) -> socket.socket:
    """A UDP socket bound to ``host``:``port`` with SO_REUSEPORT.

    Raises:
        OSError: the address cannot be bound.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((host, port))
    return sock


class HandlerRef:
    """A swappable handler: a reload publishes a new one without stopping the loop.

    Attributes:
        handler: answers any query (an empty reply defers it).
        replies: exact-match replies: query octets after the ID -> reply octets
            after the ID; looked up by the loop itself before ``handler`` is
            called (the hot path of DESIGN: no call, no parsing on a hit).
        defer: answers what ``handler`` deferred (UPDATE, TSIG), blocking.
        rrl: applied to the replies from ``replies`` (an object with ``limit(reply, client)
            -> reply | None``, chain/ratelimit.py), or None; the handler applies its own.
    """

    __slots__ = ("handler", "replies", "defer", "stop", "rrl")

    def __init__(self, handler: Handler, replies: dict[bytes, bytes] | None = None,
                 defer: Handler | None = None, rrl=None) -> None:
        self.handler = handler
        self.replies = {} if replies is None else replies
        self.defer = defer or (lambda data, client: None)
        self.stop = False  # set to end the loop after its current reply
        self.rrl = rrl

    def publish(self, handler: Handler, replies: dict[bytes, bytes] | None = None) -> None:
        """Switch to a new handler and reply table (one reference each: safe across threads)."""
        self.replies = {} if replies is None else replies
        self.handler = handler


def serve_udp(sock: socket.socket, ref: HandlerRef, on_error: Callable[[bytes, BaseException], "bytes | None"],
              counters: QueryCounters | None = None) -> None:
    """Answer queries on ``sock`` until the socket is closed.

    Args:
        sock: a bound UDP socket (blocking).
        ref: holds the current handler.
        on_error: builds the reply (SERVFAIL) when the handler raises: our bug,
            logged there, the loop goes on.
        counters: counts every query with its reply and latency (this loop is their
            only writer); None: nothing counted.
    """
    recvfrom, sendto, clock = sock.recvfrom, sock.sendto, perf_counter
    while True:
        try:
            data, addr = recvfrom(65535)
        except InterruptedError:
            continue
        except OSError:
            return  # closed
        start = clock()
        tail = ref.replies.get(data[2:])
        if tail is not None:
            rrl = ref.rrl
            full = data[:2] + tail
            reply = full if rrl is None else rrl.limit(full, addr[0])
            if reply is not None:
                try:
                    sendto(reply, addr)
                except OSError:
                    pass
            if counters is not None:
                if reply is full:  # the usual case: the reply's kind is remembered with its octets
                    counters.hit(data, tail, clock() - start, addr[0])
                else:  # limited by RRL: dropped or truncated
                    counters.answered(data, reply, clock() - start, addr[0])
            continue
        try:
            reply = ref.handler(data, addr[0])
            if reply is not None and not reply:
                reply = ref.defer(data, addr[0])  # blocks this loop while the control process works
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the listener
            reply = on_error(data, exc)
        if reply:
            try:
                sendto(reply, addr)
            except OSError as exc:
                log.debug("sendto %s failed: %s", addr, exc)
        if counters is not None:
            counters.answered(data, reply or None, clock() - start, addr[0])
        if ref.stop:
            return
