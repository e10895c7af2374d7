"""DNS over TCP (RFC 7766, RFC 1035 §4.2.2), asyncio (I/O).

Two-octet length framing; a connection idle longer than ``idle_timeout`` seconds is closed; at
most ``max_connections`` at once (more are closed at accept); a slow reader is bounded by the
same timeout on every write, so it never stalls others.

Pipelining (RFC 7766 §6.2.1.1): a query the handler answers at once is answered at once; a
deferred one (the resolver's misses, UPDATE, TSIG, zone transfers) runs in a task of its own
while the connection goes on reading, and its reply is written when it is ready, so answers
may leave out of order (the client matches them by ID). At most ``max_inflight`` deferred
queries per connection are in flight; beyond that the connection stops reading until one
finishes. A connection is idle only with nothing in flight. At the client's EOF, or when a
query gets no reply (garbage; RFC 7766 §6.2.2 leaves it to us), reading stops, the queries
in flight are answered, then the connection is closed. :meth:`TcpServer.close` drops every
connection and cancels what is in flight, and waits for the connections' tasks to end, so
stopping the loop leaves no pending task behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from time import perf_counter
from typing import Awaitable, Callable, Iterable

log = logging.getLogger("dns_suite.net.tcp")

#: ``handler(query_octets, client_address) -> reply_octets | None``
Handler = Callable[[bytes, str], "bytes | None"]

MAX_INFLIGHT = 64  # deferred queries in flight per connection
CLOSE_WAIT = 2.0  # seconds close() waits for the connections' tasks to end


class TcpServer:
    """Serves DNS over TCP with a handler looked up per query (so reloads apply).

    Args:
        get_handler: returns the current handler (an empty reply defers to ``defer``).
        on_error: builds the reply when the handler raises (our bug).
        idle_timeout: seconds a connection may stay idle or blocked.
        max_connections: connections served at once.
        defer: answers deferred messages (UPDATE, TSIG, zone transfers, the resolver's
            misses) asynchronously: one reply, or several messages in order (AXFR/IXFR).
        counters: a :class:`~dns_suite.chain.metrics.QueryCounters` counting every query
            (a zone transfer by its first message), or None.
        max_inflight: deferred queries in flight per connection before it stops reading.
    """

    def __init__(self, get_handler: Callable[[], Handler],
                 on_error: Callable[[bytes, BaseException], "bytes | None"], *,
                 idle_timeout: float = 10.0, max_connections: int = 256,
                 defer: Callable[[bytes, str], Awaitable["bytes | Iterable[bytes] | None"]] | None = None,
                 counters=None, max_inflight: int = MAX_INFLIGHT) -> None:
        self.get_handler = get_handler
        self.counters = counters
        self.defer = defer
        self.on_error = on_error
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.max_inflight = max_inflight
        self.active = 0
        self.closing = False
        self.servers: list[asyncio.AbstractServer] = []
        self.connections: dict[asyncio.Task, _Connection] = {}

    async def listen(self, host: str, port: int, *, reuse_port: bool = False, ssl=None) -> None:
        """Start listening on ``host``:``port`` (``reuse_port``: shared by worker processes;
        ``ssl``: a server SSLContext, for DNS over TLS, net/tls.py).

        Raises:
            OSError: the address cannot be bound.
        """
        tls = {"ssl": ssl, "ssl_handshake_timeout": self.idle_timeout} if ssl is not None else {}
        server = await asyncio.start_server(self._connection, host, port, reuse_address=True,
                                            reuse_port=reuse_port or None, limit=65535 + 2, **tls)
        self.servers.append(server)

    async def close(self) -> None:
        """Stop accepting, drop the open connections, cancel their queries in flight, and wait
        (at most :data:`CLOSE_WAIT` seconds) until every connection's task has ended."""
        self.closing = True
        for server in self.servers:
            server.close()
        for conn in list(self.connections.values()):
            conn.drop()
        if self.connections:
            await asyncio.wait(list(self.connections), timeout=CLOSE_WAIT)
        for server in self.servers:
            await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.closing or self.active >= self.max_connections:
            writer.close()
            return
        self.active += 1
        task = asyncio.current_task()
        peer = writer.get_extra_info("peername")
        conn = self.connections[task] = _Connection(self, reader, writer, peer[0] if peer else "")
        try:
            await conn.serve()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # The loop is shutting down. Ending quietly: asyncio (3.11) logs a cancelled
            # connection task as an error with its traceback, and nothing awaits this task.
            pass
        finally:
            self.active -= 1
            self.connections.pop(task, None)
            conn.cancel()
            writer.close()  # what was written still goes out


class _Connection:
    """One client connection: reads queries, answers each when ready (see the module doc)."""

    def __init__(self, server: TcpServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 client: str) -> None:
        self.server, self.reader, self.writer, self.client = server, reader, writer, client
        self.inflight: set[asyncio.Task] = set()
        self.write_lock = asyncio.Lock()  # a zone transfer's messages go out together
        self.ending = asyncio.get_running_loop().create_future()  # set: read no more

    async def serve(self) -> None:
        """Read and answer until EOF, an error, or a query without a reply; then answer what
        is in flight and return (the caller closes)."""
        try:
            while not self.ending.done():
                if len(self.inflight) >= self.server.max_inflight:
                    await asyncio.wait(self.inflight, return_when=asyncio.FIRST_COMPLETED)
                    continue
                data = await self._next()
                if data is None:
                    break
                await self._take(data)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass  # EOF or a broken connection: what is in flight may still be answered
        if self.inflight:
            await asyncio.wait(self.inflight)

    async def _next(self) -> bytes | None:
        """The next query; None once ``ending`` is set while waiting for it.

        Raises:
            asyncio.IncompleteReadError: EOF. asyncio.TimeoutError: idle too long.
        """
        while True:
            try:
                head = await self._read(2)
                break
            except asyncio.TimeoutError:
                if not self.inflight:
                    raise  # idle: nothing in flight, nothing read
        if head is None:
            return None
        return await self._read(int.from_bytes(head, "big"))

    async def _read(self, size: int) -> bytes | None:
        """``size`` octets within the idle timeout; None when ``ending`` is set meanwhile."""
        read = self.reader.readexactly(size)
        if not self.inflight:  # nothing can set ``ending`` while we wait
            return await asyncio.wait_for(read, self.server.idle_timeout)
        reading = asyncio.ensure_future(asyncio.wait_for(read, self.server.idle_timeout))
        await asyncio.wait((reading, self.ending), return_when=asyncio.FIRST_COMPLETED)
        if not reading.done():
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError, asyncio.IncompleteReadError,
                                     asyncio.TimeoutError, ConnectionError):
                await reading
            return None
        return reading.result()

    async def _take(self, data: bytes) -> None:
        """Answer ``data`` now (the handler's reply), or start its deferred answer."""
        server, start = self.server, perf_counter()
        try:
            reply = server.get_handler()(data, self.client)
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the listener
            reply = server.on_error(data, exc)
        if reply is not None and not reply:  # deferred (resolver misses, UPDATE, TSIG, XFR)
            task = asyncio.ensure_future(self._deferred(data, start))
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
            return
        await self._send(data, reply, start)

    async def _deferred(self, data: bytes, start: float) -> None:
        try:
            try:
                reply = await self.server.defer(data, self.client) if self.server.defer else None
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the listener
                reply = self.server.on_error(data, exc)
            await self._send(data, reply, start)
        except (asyncio.TimeoutError, ConnectionError):
            self.end()  # the client does not read: give up on this connection
        except asyncio.CancelledError:
            pass  # dropped (the server closes); this task is ours and nothing awaits its result

    async def _send(self, data: bytes, reply: "bytes | Iterable[bytes] | None", start: float) -> None:
        """Write ``reply`` (one message, or a zone transfer's messages together); None: count
        the query and end the connection once what is in flight is answered."""
        counters = self.server.counters
        if reply is None:
            if counters is not None:
                counters.answered(data, None, perf_counter() - start, self.client)
            self.end()
            return
        async with self.write_lock:
            first = True
            for message in ([reply] if isinstance(reply, bytes) else reply):  # a zone transfer: many
                self.writer.write(len(message).to_bytes(2, "big") + message)
                await asyncio.wait_for(self.writer.drain(), self.server.idle_timeout)
                if first and counters is not None:
                    counters.answered(data, message, perf_counter() - start, self.client)
                first = False

    def end(self) -> None:
        """Read no more queries; the ones in flight are still answered."""
        if not self.ending.done():
            self.ending.set_result(None)

    def cancel(self) -> None:
        """Read no more and cancel what is in flight."""
        self.end()
        for task in list(self.inflight):
            task.cancel()

    def drop(self) -> None:
        """Cancel what is in flight and drop the connection now (the server closes)."""
        self.cancel()
        self.writer.transport.abort()
