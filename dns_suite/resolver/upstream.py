"""Upstream queries of the resolver (I/O): SendQuery actions carried out over UDP and TCP.

Part of the resolver service's I/O edge (see :mod:`dns_suite.resolver.service`), kept apart to
keep modules small. How it works: each query is a *flight* keyed by its token, with a deadline
set when it is sent; the first of reply, failure or deadline ends the flight and is reported
once (``on_reply`` or ``on_failure``); later events for the token are ignored.

Per query the loop sees as little as possible (measured, bench/resolver_bench.py --profile):

- deadlines: one heap of ``(deadline, token)`` and one loop timer armed at the earliest live
  deadline, instead of a ``call_later`` and its cancel per query. A flight that ends leaves
  its entry behind; the sweep drops such entries when they reach the top, so with a steady
  stream of answered queries the timer fires about once per timeout, not once per query.
- readiness (Linux): the UDP sockets are registered in an epoll set of our own, whose fd is
  the loop's only reader for them (one ``epoll_ctl`` per query instead of asyncio's
  ``add_reader``/``remove_reader``; closing a socket drops it from the set). Elsewhere, one
  ``add_reader`` per socket.

- UDP: a fresh socket bound to port 0 (the kernel picks a random ephemeral port, RFC 5452
  §9.2) and connected to the server, so datagrams from any other address or port are never
  seen; a datagram that is not a response with the query's ID is ignored (RFC 5452 §9.1); an
  ICMP port unreachable ends the flight at once.
- TCP: a new connection per query, 2-octet framing (RFC 7766 §8); the first message with the
  query's ID is the reply; a refused or cut connection ends the flight at once. The timer
  bounds the connect and the whole exchange.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import logging
import select
import socket
from typing import Callable

from dns_suite.resolver.actions import SendQuery

log = logging.getLogger("dns_suite.resolver.upstream")


@dataclasses.dataclass(slots=True, eq=False)
class _Flight:
    """One upstream query in flight: its socket (UDP) or task (TCP), and its deadline (loop time)."""

    query: SendQuery
    deadline: float = 0.0
    sock: socket.socket | None = None
    task: asyncio.Task | None = None


class Upstream:
    """Carries out SendQuery actions and reports each outcome once.

    Args:
        loop: the running loop.
        on_reply: ``(token, reply_octets, (address, port), tcp)``, called from the loop.
        on_failure: ``(token)``: timed out, refused or cut; called from the loop, never from
            inside :meth:`send`.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop,
                 on_reply: Callable[[int, bytes, tuple[str, int], bool], None],
                 on_failure: Callable[[int], None]) -> None:
        self.loop, self.on_reply, self.on_failure = loop, on_reply, on_failure
        self.flights: dict[int, _Flight] = {}
        self._deadlines: list[tuple[float, int]] = []  # a heap; entries of ended flights stay until swept
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._epoll = select.epoll() if hasattr(select, "epoll") else None
        self._by_fd: dict[int, int] = {}  # socket fd -> token (epoll)
        if self._epoll is not None:
            loop.add_reader(self._epoll.fileno(), self._ready)

    def send(self, query: SendQuery) -> None:
        """Send ``query`` and set its deadline (a token still in flight is abandoned first)."""
        token = query.token
        self._end(token)
        log.debug("send token=%d to=%s:%d tcp=%s timeout=%.3f", token, query.address, query.port,
                  query.tcp, query.timeout)
        deadline = self.loop.time() + query.timeout
        flight = _Flight(query=query, deadline=deadline)
        self.flights[token] = flight
        heapq.heappush(self._deadlines, (deadline, token))
        if self._timer is None or deadline < self._timer_at:
            self._arm(deadline)
        if query.tcp:
            flight.task = self.loop.create_task(_tcp_exchange(query))
            flight.task.add_done_callback(lambda task, token=token: self._tcp_done(token, task))
            return
        try:
            flight.sock = sock = _udp_socket(query)
            sock.send(query.wire)
        except OSError as exc:
            log.debug("upstream %s:%d: %s", query.address, query.port, exc)
            self.loop.call_soon(self._fail, token)
            return
        if self._epoll is not None:
            fd = sock.fileno()
            self._epoll.register(fd, select.EPOLLIN)
            self._by_fd[fd] = token
        else:
            self.loop.add_reader(sock.fileno(), self._readable, token)

    def _ready(self) -> None:
        """Our epoll set is readable: read the sockets it reports."""
        by_fd = self._by_fd
        for fd, _ in self._epoll.poll(0):
            token = by_fd.get(fd)
            if token is not None:
                self._readable(token)

    def _readable(self, token: int) -> None:
        flight = self.flights.get(token)
        if flight is None or flight.sock is None:
            return
        try:
            data = flight.sock.recv(65535)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # ICMP port unreachable and the like: no point waiting
            log.debug("upstream %s:%d: %s", flight.query.address, flight.query.port, exc)
            self._fail(token)
            return
        if _is_reply_to(data, flight.query.wire):  # else a stray datagram: keep waiting
            self._end(token)
            self.on_reply(token, data, (flight.query.address, flight.query.port), False)

    def _tcp_done(self, token: int, task: asyncio.Task) -> None:
        flight = self.flights.get(token)
        if flight is None or flight.task is not task or task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.debug("upstream tcp %s:%d: %r", flight.query.address, flight.query.port, exc)
            self._fail(token)
            return
        self._end(token)
        self.on_reply(token, task.result(), (flight.query.address, flight.query.port), True)

    def _arm(self, deadline: float) -> None:
        """(Re)start the one timer to fire at ``deadline`` (loop time)."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self.loop.call_at(deadline, self._sweep), deadline

    def _sweep(self) -> None:
        """The timer: fail the flights past their deadline, drop the entries of ended ones,
        and arm the timer for the earliest live deadline left."""
        self._timer = None
        heap, flights = self._deadlines, self.flights
        while heap:
            deadline, token = heap[0]
            flight = flights.get(token)
            if flight is not None and flight.deadline == deadline:
                if deadline > self.loop.time():
                    break
                heapq.heappop(heap)
                self._fail(token)  # may send more queries (and arm the timer)
            else:
                heapq.heappop(heap)  # an ended (or re-sent) flight's entry
        if heap and (self._timer is None or heap[0][0] < self._timer_at):
            self._arm(heap[0][0])

    def _fail(self, token: int) -> None:
        if self._end(token):
            self.on_failure(token)

    def _end(self, token: int) -> bool:
        """Forget ``token``'s flight: close its socket, cancel its task (its deadline entry is
        dropped by the sweep)."""
        flight = self.flights.pop(token, None)
        if flight is None:
            return False
        sock = flight.sock
        if sock is not None:
            if self._epoll is not None:
                self._by_fd.pop(sock.fileno(), None)
            else:
                self.loop.remove_reader(sock.fileno())
            sock.close()  # also leaves our epoll set
        if flight.task is not None:
            flight.task.cancel()
        return True

    def close(self) -> None:
        """Abandon every flight (no outcome is reported)."""
        for token in list(self.flights):
            self._end(token)
        self._deadlines.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._epoll is not None:
            self.loop.remove_reader(self._epoll.fileno())
            self._epoll.close()
            self._epoll = None


def _udp_socket(query: SendQuery) -> socket.socket:
    """A non-blocking UDP socket on a random port (bind to port 0), connected to the server."""
    v6 = ":" in query.address
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind(("::" if v6 else "0.0.0.0", 0))
        sock.connect((query.address, query.port))
    except OSError:
        sock.close()
        raise
    return sock


def _is_reply_to(data: bytes, query: bytes) -> bool:
    """A response (QR) with the query's ID (RFC 5452 §9.1); the core checks the rest."""
    return len(data) >= 12 and data[:2] == query[:2] and bool(data[2] & 0x80)


async def _tcp_exchange(query: SendQuery) -> bytes:
    """Send ``query`` over a new TCP connection; the first reply with its ID (the flight's
    timer bounds the whole exchange, connect included)."""
    reader, writer = await asyncio.open_connection(query.address, query.port)
    try:
        writer.write(len(query.wire).to_bytes(2, "big") + query.wire)
        while True:
            size = int.from_bytes(await reader.readexactly(2), "big")
            data = await reader.readexactly(size)
            if _is_reply_to(data, query.wire):
                return data
    finally:
        writer.close()
