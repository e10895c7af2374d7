"""DNS over TCP (RFC 7766, RFC 1035 §4.2.2), asyncio (I/O).

Two-octet length framing; pipelined queries are answered in order; a
connection idle longer than ``idle_timeout`` seconds is closed; at most
``max_connections`` at once (more are closed at accept); a slow reader is
bounded by the same timeout on every write, so it never stalls others.
"""

from __future__ import annotations

import asyncio
import logging
from time import perf_counter
from typing import Awaitable, Callable, Iterable

log = logging.getLogger("dns_suite.net.tcp")

#: ``handler(query_octets, client_address) -> reply_octets | None``
Handler = Callable[[bytes, str], "bytes | None"]


class TcpServer:
    """Serves DNS over TCP with a handler looked up per query (so reloads apply).

    Args:
        get_handler: returns the current handler (an empty reply defers to ``defer``).
        on_error: builds the reply when the handler raises (our bug).
        idle_timeout: seconds a connection may stay idle or blocked.
        max_connections: connections served at once.
        defer: answers deferred messages (UPDATE, TSIG, zone transfers) asynchronously:
            one reply, or several messages in order (AXFR/IXFR).
        counters: a :class:`~dns_suite.chain.metrics.QueryCounters` counting every query
            (a zone transfer by its first message), or None.
    """

    def __init__(self, get_handler: Callable[[], Handler],
                 on_error: Callable[[bytes, BaseException], "bytes | None"], *,
                 idle_timeout: float = 10.0, max_connections: int = 256,
                 defer: Callable[[bytes, str], Awaitable["bytes | Iterable[bytes] | None"]] | None = None,
                 counters=None) -> None:
        self.get_handler = get_handler
        self.counters = counters
        self.defer = defer
        self.on_error = on_error
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self.active = 0
        self.servers: list[asyncio.AbstractServer] = []
        self.writers: set[asyncio.StreamWriter] = set()

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
        """Stop accepting and drop the open connections."""
        for server in self.servers:
            server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        for server in self.servers:
            await server.wait_closed()

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.active >= self.max_connections:
            writer.close()
            return
        self.active += 1
        self.writers.add(writer)
        peer = writer.get_extra_info("peername")
        client = peer[0] if peer else ""
        try:
            await self._serve(reader, writer, client)
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            self.active -= 1
            self.writers.discard(writer)
            writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, client: str) -> None:
        timeout = self.idle_timeout
        while True:
            head = await asyncio.wait_for(reader.readexactly(2), timeout)
            data = await asyncio.wait_for(reader.readexactly(int.from_bytes(head, "big")), timeout)
            start = perf_counter()
            try:
                reply = self.get_handler()(data, client)
                if reply is not None and not reply:  # deferred (UPDATE, TSIG)
                    reply = await self.defer(data, client) if self.defer else None
            except Exception as exc:  # noqa: BLE001 - a bug must not stop the listener
                reply = self.on_error(data, exc)
            if reply is None:
                if self.counters is not None:
                    self.counters.answered(data, None, perf_counter() - start, client)
                return  # not a query we answer: close (RFC 7766 §6.2.2 leaves it to us)
            first = True
            for message in ([reply] if isinstance(reply, bytes) else reply):  # a zone transfer: many
                writer.write(len(message).to_bytes(2, "big") + message)
                await asyncio.wait_for(writer.drain(), timeout)
                if first and self.counters is not None:
                    self.counters.answered(data, message, perf_counter() - start, client)
                first = False
