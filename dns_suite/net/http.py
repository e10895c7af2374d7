"""DNS over HTTPS (RFC 8484), HTTP/1.1 through aiohttp and HTTP/2 through h2 (I/O).

How it works: one TLS listener per address; ALPN picks the protocol of each connection
(``h2``: :mod:`dns_suite.net.doh2`; otherwise aiohttp's HTTP/1.1 handler), and both call
:meth:`DohServer.exchange` with the method, target, content type and body:

========================================================  =====================================
request                                                   response
========================================================  =====================================
GET PATH?dns=BASE64URL (no padding, RFC 8484 §4.1)        200 application/dns-message
POST PATH, Content-Type application/dns-message           200 application/dns-message
another path                                              404
another method                                            405 (Allow: GET, POST)
POST with another Content-Type                            415
no ``dns``, bad base64url, empty or < 12 octets, a        400 (the service goes on serving)
message we do not answer, or a zone transfer
body over 65535 octets                                    413
========================================================  =====================================

The query goes to the same handler as TCP (and its ``defer`` for what the control process
answers), so a DoH reply is the TCP reply; Cache-Control max-age is the smallest TTL in it
(RFC 8484 §5.1). At most ``max_connections`` connections at once (more are closed at
accept); HTTP/1.1 keep-alive and idle HTTP/2 connections end after ``idle_timeout``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
from typing import Awaitable, Callable, Iterable
from urllib.parse import parse_qs, urlsplit

from aiohttp import web

from dns_suite.chain.opt import min_ttl

log = logging.getLogger("dns_suite.net.http")

MEDIA_TYPE = "application/dns-message"
MAX_MESSAGE = 65535


def decode_dns_param(text: str) -> bytes | None:
    """The octets of a ``dns`` parameter (base64url; padding tolerated), or None when invalid."""
    text = text.strip()
    if not text or any(c not in _B64URL for c in text.rstrip("=")):
        return None
    try:
        return base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class DohServer:
    """Serves DNS over HTTPS with a handler looked up per query (so reloads apply).

    Args:
        get_handler, on_error, defer: as for :class:`~dns_suite.net.tcp.TcpServer`.
        path: the URL path served (``/dns-query``).
        idle_timeout: seconds an idle connection is kept.
        max_connections: connections served at once.
    """

    def __init__(self, get_handler: Callable, on_error: Callable, *,
                 defer: Callable[[bytes, str], Awaitable["bytes | Iterable[bytes] | None"]] | None = None,
                 path: str = "/dns-query", idle_timeout: float = 10.0, max_connections: int = 256) -> None:
        self.get_handler, self.on_error, self.defer = get_handler, on_error, defer
        self.path, self.idle_timeout, self.max_connections = path, idle_timeout, max_connections
        self.servers: list[asyncio.AbstractServer] = []
        self.transports: set[asyncio.BaseTransport] = set()
        self._web: web.Server | None = None
        self.bad_requests = 0

    async def listen(self, host: str, port: int, *, ssl) -> None:
        """Listen on ``host``:``port`` with the server context ``ssl`` (ALPN h2, http/1.1).

        Raises:
            OSError: the address cannot be bound.
        """
        if self._web is None:
            self._web = web.Server(self._http1, keepalive_timeout=self.idle_timeout,
                                   client_max_size=MAX_MESSAGE + 1)
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Dispatch(self), host, port, ssl=ssl,
                                          reuse_address=True, ssl_handshake_timeout=self.idle_timeout)
        self.servers.append(server)

    async def close(self) -> None:
        """Stop listening and drop open connections."""
        for server in self.servers:
            server.close()
        for transport in list(self.transports):
            transport.abort()
        if self._web is not None:
            await self._web.shutdown(0.1)
        for server in self.servers:
            await server.wait_closed()

    def accept(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection; False (and closed) when over ``max_connections``."""
        self.transports = {t for t in self.transports if not t.is_closing()}
        if len(self.transports) >= self.max_connections:
            transport.close()
            return False
        self.transports.add(transport)
        return True

    async def exchange(self, method: str, target: str, content_type: str | None, body: bytes,
                       client: str) -> tuple[int, bytes, dict[str, str]]:
        """One DoH request -> ``(status, body, headers)`` (see the module docstring)."""
        parts = urlsplit(target)
        if parts.path != self.path:
            return 404, b"not found\n", {}
        if method == "GET":
            values = parse_qs(parts.query, keep_blank_values=True).get("dns")
            query = decode_dns_param(values[0]) if values else None
            if query is None:
                return self._bad("GET without a valid base64url dns parameter")
        elif method == "POST":
            if (content_type or "").split(";")[0].strip().lower() != MEDIA_TYPE:
                return 415, f"Content-Type must be {MEDIA_TYPE}\n".encode(), {}
            if len(body) > MAX_MESSAGE:
                return 413, b"message too long\n", {}
            query = body
        else:
            return 405, b"GET or POST\n", {"Allow": "GET, POST"}
        if len(query) < 12:
            return self._bad("a DNS message has at least 12 octets")
        reply = await self._answer(query, client)
        if not isinstance(reply, (bytes, bytearray)) or not reply:
            return self._bad("not a query answered over DoH")
        headers = {"Content-Type": MEDIA_TYPE}
        ttl = min_ttl(reply)
        if ttl is not None:
            headers["Cache-Control"] = f"max-age={ttl}"
        return 200, bytes(reply), headers

    def _bad(self, why: str) -> tuple[int, bytes, dict[str, str]]:
        self.bad_requests += 1
        return 400, (why + "\n").encode(), {}

    async def _answer(self, query: bytes, client: str):
        try:
            reply = self.get_handler()(query, client)
            if reply is not None and not reply:  # deferred (UPDATE, TSIG, transfers)
                reply = await self.defer(query, client) if self.defer else None
        except Exception as exc:  # noqa: BLE001 - a bug must not stop the listener
            reply = self.on_error(query, exc)
        return reply

    async def _http1(self, request: web.BaseRequest) -> web.StreamResponse:
        body = b""
        if request.method == "POST":
            body = await request.content.read(MAX_MESSAGE + 1)
        status, data, headers = await self.exchange(request.method, request.path_qs,
                                                    request.headers.get("Content-Type"), body,
                                                    request.remote or "")
        return web.Response(status=status, body=data, headers=headers)


class _Dispatch(asyncio.Protocol):
    """The first protocol of a connection: hands it to HTTP/2 or HTTP/1.1 by its ALPN."""

    def __init__(self, server: DohServer) -> None:
        self.server = server

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not self.server.accept(transport):
            return
        ssl_object = transport.get_extra_info("ssl_object")
        alpn = ssl_object.selected_alpn_protocol() if ssl_object is not None else None
        if alpn == "h2":
            from dns_suite.net.doh2 import Http2Connection
            protocol = Http2Connection(self.server)
        else:
            protocol = self.server._web()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        pass
