"""TcpServer (net/tcp.py) on loopback: pipelined queries answered as they are ready (RFC 7766
§6.2.1.1), the in-flight bound per connection, EOF and no-reply endings, and close() with
open connections and a query in flight leaving nothing for asyncio to complain about.

The handler answers a query whose first question label is ``fast`` at once and defers every
other one; :class:`Deferred` holds each deferred query until the test releases it. No test
waits on the clock: the order of events is forced by the releases.
"""

from __future__ import annotations

import asyncio
import logging
import struct

import dns.message
import pytest

from dns_suite.net.tcp import TcpServer

HOST = "127.0.0.1"
BOUND = 30.0  # seconds: a hung test fails instead of hanging the run (not a timing assertion)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, BOUND))


def query(name: str, qid: int) -> bytes:
    msg = dns.message.make_query(name, "A")
    msg.id = qid
    return msg.to_wire()


def reply_to(data: bytes) -> bytes:
    return dns.message.make_response(dns.message.from_wire(data)).to_wire()


def handler(data: bytes, client: str) -> bytes | None:
    if data[12:].startswith(b"\x04junk"):
        return None  # not a query we answer: the connection ends
    if data[12:].startswith(b"\x04fast"):
        return reply_to(data)
    return b""  # deferred


class Deferred:
    """The ``defer`` callable: each query waits for ``release(id)``; records what ran."""

    def __init__(self) -> None:
        self.gates: dict[int, asyncio.Event] = {}
        self.started: list[int] = []
        self.cancelled: list[int] = []
        self.running = 0
        self.most = 0  # the most queries in flight at once
        self.changed = asyncio.Event()

    def gate(self, qid: int) -> asyncio.Event:
        return self.gates.setdefault(qid, asyncio.Event())

    def release(self, qid: int) -> None:
        self.gate(qid).set()

    async def wait_started(self, count: int) -> None:
        while len(self.started) < count:
            self.changed.clear()
            await self.changed.wait()

    async def __call__(self, data: bytes, client: str) -> bytes:
        qid = struct.unpack("!H", data[:2])[0]
        self.started.append(qid)
        self.running += 1
        self.most = max(self.most, self.running)
        self.changed.set()
        try:
            await self.gate(qid).wait()
        except asyncio.CancelledError:
            self.cancelled.append(qid)
            raise
        finally:
            self.running -= 1
        return reply_to(data)


def servfail(data: bytes, exc: BaseException) -> bytes:
    raise AssertionError(f"handler bug: {exc!r}")


async def start(defer: Deferred, **kw) -> tuple[TcpServer, int]:
    server = TcpServer(lambda: handler, servfail, defer=defer, idle_timeout=30.0, **kw)
    await server.listen(HOST, 0)
    return server, server.servers[0].sockets[0].getsockname()[1]


async def send(writer: asyncio.StreamWriter, *messages: bytes) -> None:
    for message in messages:
        writer.write(struct.pack("!H", len(message)) + message)
    await writer.drain()


async def receive_id(reader: asyncio.StreamReader) -> int:
    size = struct.unpack("!H", await reader.readexactly(2))[0]
    return struct.unpack("!H", (await reader.readexactly(size))[:2])[0]


async def settle(turns: int = 20) -> None:
    """Let the loop run a few turns (loopback data sent is already readable by the server)."""
    for _ in range(turns):
        await asyncio.sleep(0)


def test_a_slow_query_does_not_hold_the_ones_after_it() -> None:
    async def main() -> list[int]:
        defer = Deferred()
        server, port = await start(defer)
        reader, writer = await asyncio.open_connection(HOST, port)
        await send(writer, query("slow.example.", 1), query("fast.example.", 2), query("other.example.", 3))
        order = [await receive_id(reader)]  # 2, answered at once, while 1 and 3 wait
        await defer.wait_started(2)
        defer.release(3)
        order.append(await receive_id(reader))
        defer.release(1)
        order.append(await receive_id(reader))
        writer.close()
        await server.close()
        return order

    assert run(main()) == [2, 3, 1]


def test_in_flight_queries_per_connection_are_bounded() -> None:
    async def main() -> tuple[list[int], list[int], int]:
        defer = Deferred()
        server, port = await start(defer, max_inflight=2)
        reader, writer = await asyncio.open_connection(HOST, port)
        await send(writer, query("a.example.", 1), query("b.example.", 2), query("c.example.", 3),
                   query("fast.example.", 4))
        await defer.wait_started(2)
        await settle()  # unbounded, the server would now have started 3 and answered 4
        started_while_full = list(defer.started)
        defer.release(1)  # room for one more: 3 starts, and the connection is full again
        order = [await receive_id(reader)]
        await defer.wait_started(3)
        defer.release(2)  # room again: 4 is read and answered at once
        order += [await receive_id(reader), await receive_id(reader)]
        defer.release(3)
        order.append(await receive_id(reader))
        writer.close()
        await server.close()
        return started_while_full, order, defer.most

    started_while_full, order, most = run(main())
    assert started_while_full == [1, 2]
    assert order == [1, 2, 4, 3]  # unbounded, 4 would be answered first
    assert most == 2


@pytest.mark.parametrize("ending", ["eof", "no-reply"])
def test_queries_in_flight_are_answered_before_the_connection_ends(ending: str) -> None:
    async def main() -> tuple[list[int], bytes]:
        defer = Deferred()
        server, port = await start(defer)
        reader, writer = await asyncio.open_connection(HOST, port)
        await send(writer, query("slow.example.", 1), query("slow2.example.", 2))
        if ending == "eof":
            writer.write_eof()
        else:
            await send(writer, query("junk.example.", 3), query("fast.example.", 4))  # 4 is not read
        await defer.wait_started(2)
        defer.release(2)
        defer.release(1)
        ids = [await receive_id(reader), await receive_id(reader)]
        rest = await reader.read()  # then the server closes
        writer.close()
        await server.close()
        return ids, rest

    ids, rest = run(main())
    assert ids == [2, 1] and rest == b""


def test_close_with_open_connections_and_a_query_in_flight(caplog) -> None:
    """SIGTERM's path: close() ends idle connections and one with a pending query; no task is
    left pending and asyncio logs no error when the loop ends."""
    async def main() -> tuple[Deferred, bytes, int]:
        defer = Deferred()
        server, port = await start(defer)
        idle = [await asyncio.open_connection(HOST, port) for _ in range(3)]
        reader, writer = await asyncio.open_connection(HOST, port)
        await send(writer, query("slow.example.", 7))
        await defer.wait_started(1)
        await server.close()
        rest = await reader.read()
        for _, w in idle + [(reader, writer)]:
            w.close()
        left = [t for t in asyncio.all_tasks()  # all but this one and the wait_for of run()
                if t is not asyncio.current_task() and t.get_coro().__qualname__ != "wait_for"]
        return defer, rest, len(left)

    caplog.set_level(logging.DEBUG)
    defer, rest, left = run(main())
    assert defer.cancelled == [7] and rest == b"" and left == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert "Traceback" not in caplog.text and "destroyed" not in caplog.text
