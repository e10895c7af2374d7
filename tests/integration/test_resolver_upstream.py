"""The upstream flights' deadlines (resolver/upstream.py): one timer for all of them.

A loopback UDP server that answers some queries and ignores others; no timing assertions
(each wait is only bounded so that a bug fails instead of hanging).
"""

from __future__ import annotations

import asyncio
import socket

from dns_suite.resolver.actions import SendQuery
from dns_suite.resolver.upstream import Upstream

HOST = "127.0.0.1"
BOUND = 10.0  # seconds any wait here may last before the test fails


class _Server(asyncio.DatagramProtocol):
    """Answers queries whose ID is even (QR set, the same octets otherwise); ignores odd ones."""

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        if data[1] % 2 == 0:
            self.transport.sendto(data[:2] + bytes([data[2] | 0x80]) + data[3:], addr)


def _query(token: int, qid: int, port: int, timeout: float) -> SendQuery:
    wire = qid.to_bytes(2, "big") + b"\x00\x00" + b"\x00" * 8
    return SendQuery(token=token, address=HOST, port=port, tcp=False, wire=wire, timeout=timeout)


def _run(body) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Server, local_addr=(HOST, 0))
        port = transport.get_extra_info("sockname")[1]
        events: asyncio.Queue = asyncio.Queue()
        upstream = Upstream(loop, lambda token, data, source, tcp: events.put_nowait(("reply", token)),
                            lambda token: events.put_nowait(("failure", token)))
        try:
            await body(upstream, port, lambda: asyncio.wait_for(events.get(), BOUND))
        finally:
            upstream.close()
            transport.close()
    asyncio.run(main())


def test_a_shorter_deadline_sent_later_fires_first() -> None:
    async def body(upstream: Upstream, port: int, event) -> None:
        upstream.send(_query(1, 1, port, 3600.0))  # silent server, an hour
        upstream.send(_query(2, 3, port, 0.05))  # silent, short: re-arms the one timer earlier
        assert await event() == ("failure", 2)
        assert set(upstream.flights) == {1}
    _run(body)


def test_answered_flights_leave_no_timer_work_and_later_deadlines_still_fire() -> None:
    async def body(upstream: Upstream, port: int, event) -> None:
        for token in range(1, 51):  # answered: their deadline entries are left for the sweep
            upstream.send(_query(token, 2 * token, port, 0.05))
        replies = [await event() for _ in range(50)]
        assert sorted(replies) == sorted(("reply", t) for t in range(1, 51))
        upstream.send(_query(99, 7, port, 0.1))  # silent: fails once the sweep got past the old entries
        assert await event() == ("failure", 99)
        assert not upstream.flights
        assert not upstream._deadlines  # the old entries were dropped on the way
    _run(body)


def test_resend_of_a_token_keeps_only_the_new_deadline() -> None:
    async def body(upstream: Upstream, port: int, event) -> None:
        upstream.send(_query(5, 1, port, 0.05))
        upstream.send(_query(5, 4, port, 3600.0))  # the same token again: the first is abandoned
        assert await event() == ("reply", 5)  # answered, not failed at the first deadline
        upstream.send(_query(6, 9, port, 0.1))
        assert await event() == ("failure", 6)  # and token 5 never reported twice
    _run(body)


def test_a_socket_error_fails_the_flight_and_close_stops_everything() -> None:
    async def body(upstream: Upstream, port: int, event) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            closed = s.getsockname()[1]
        upstream.send(_query(1, 2, closed, 3600.0))  # nobody there: ICMP port unreachable
        assert await event() == ("failure", 1)
        upstream.send(_query(2, 3, port, 3600.0))
        upstream.close()
        assert not upstream.flights and upstream._timer is None
    _run(body)
