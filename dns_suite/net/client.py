"""An asyncio DNS stub client (I/O): send one message, get its reply; UDP, TCP on truncation.

- UDP: a fresh socket bound to port 0 (the kernel picks a random ephemeral port, RFC 5452
  §9.2) and connected to the server, so datagrams from any other address or port are never
  seen. A datagram is the reply only when it is a response (QR) with the query's ID and opcode
  and the same question (the name compared case-insensitively, RFC 5452 §9.1); anything else
  is ignored and the wait goes on. An ICMP port unreachable ends the query at once.
- TCP (``tcp=True``, or when the UDP reply has TC set, RFC 7766 §5): a new connection,
  2-octet length framing (RFC 7766 §8); the first message that passes the same check is the
  reply.

A reply with no question section is accepted only to an UPDATE or NOTIFY, or with an error
rcode (RFC 2136 §3.8 lets servers leave the zone section out; FORMERR replies often do).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from struct import unpack_from

from dns_suite.errors import DnsSuiteError

__all__ = ["QueryError", "QueryTimeout", "Unreachable", "is_reply_to", "query"]

_NO_ROUTE = (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT)


class QueryError(DnsSuiteError):
    """No usable reply from ``server`` (refused, cut, malformed framing, timeout).

    Attributes:
        server: ``(address, port)`` asked.
        reason: what happened.
    """

    def __init__(self, server: tuple[str, int], reason: str) -> None:
        super().__init__(f"{_show(server)}: {reason}")
        self.server = server
        self.reason = reason


class QueryTimeout(QueryError):
    """No reply within the timeout."""


class Unreachable(QueryError):
    """The address cannot be reached from here at all (no route, no such address family)."""


def _show(server: tuple[str, int]) -> str:
    host, port = server
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _question_end(wire: bytes) -> int:
    """Offset just past the question's name (uncompressed, as a query's first name is)."""
    pos = 12
    while pos < len(wire) and wire[pos]:
        pos += wire[pos] + 1
    return pos + 1


def is_reply_to(reply: bytes, sent: bytes) -> bool:
    """Whether ``reply`` answers ``sent``: QR, same ID, opcode and question (see module doc)."""
    if len(reply) < 12 or reply[:2] != sent[:2] or not reply[2] & 0x80:
        return False
    if (reply[2] ^ sent[2]) & 0x78:  # opcode bits
        return False
    qd_sent, qd_reply = unpack_from("!H", sent, 4)[0], unpack_from("!H", reply, 4)[0]
    if qd_reply == 0:
        opcode, rcode = (reply[2] >> 3) & 0xF, reply[3] & 0xF
        return qd_sent == 0 or opcode in (4, 5) or rcode != 0
    if qd_sent != 1 or qd_reply != 1:
        return False
    end = _question_end(sent)
    return (len(reply) >= end + 4 and reply[12:end].lower() == sent[12:end].lower()
            and reply[end:end + 4] == sent[end:end + 4])


async def query(server: tuple[str, int], message_octets: bytes, *, timeout: float,
                tcp: bool = False) -> bytes:
    """Send ``message_octets`` to ``server`` and return the reply's octets.

    Args:
        server: ``(address, port)``, IPv4 or IPv6 address (not a host name).
        message_octets: the message (for TCP without the length prefix; this adds it).
        timeout: seconds to wait on each transport (UDP, then TCP when the reply was truncated).
        tcp: use TCP from the start.

    Returns:
        the reply (a truncated UDP reply is replaced by the TCP one).

    Raises:
        QueryTimeout: no reply in time.
        Unreachable: no route to the address, or its family is not available here.
        QueryError: the port refused (ICMP unreachable, TCP RST) or the connection was cut.
    """
    if not tcp:
        reply = await _udp(server, message_octets, timeout)
        if not reply[2] & 0x02:  # TC
            return reply
    return await _tcp(server, message_octets, timeout)


def _udp_socket(server: tuple[str, int]) -> socket.socket:
    v6 = ":" in server[0]
    try:
        sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_DGRAM)
    except OSError as exc:
        raise Unreachable(server, f"no IPv{6 if v6 else 4} socket: {exc}") from None
    try:
        sock.setblocking(False)
        sock.bind(("::" if v6 else "0.0.0.0", 0))
        sock.connect(server)
    except OSError as exc:
        sock.close()
        if exc.errno in _NO_ROUTE:
            raise Unreachable(server, exc.strerror or str(exc)) from None
        raise QueryError(server, str(exc)) from None
    return sock


async def _udp(server: tuple[str, int], wire: bytes, timeout: float) -> bytes:
    loop = asyncio.get_running_loop()
    sock = _udp_socket(server)
    try:
        async with asyncio.timeout(timeout):
            try:
                await loop.sock_sendall(sock, wire)
                while True:
                    data = await loop.sock_recv(sock, 65535)
                    if is_reply_to(data, wire):
                        return data
            except ConnectionRefusedError:
                raise QueryError(server, "port unreachable (UDP)") from None
            except OSError as exc:
                if exc.errno in _NO_ROUTE:
                    raise Unreachable(server, exc.strerror or str(exc)) from None
                raise QueryError(server, f"UDP: {exc}") from None
    except TimeoutError:
        raise QueryTimeout(server, f"no reply over UDP in {timeout:.3g} s") from None
    finally:
        sock.close()


async def _tcp(server: tuple[str, int], wire: bytes, timeout: float) -> bytes:
    writer = None
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(server[0], server[1])
            writer.write(len(wire).to_bytes(2, "big") + wire)
            await writer.drain()
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                data = await reader.readexactly(size)
                if is_reply_to(data, wire):
                    return data
    except TimeoutError:
        raise QueryTimeout(server, f"no reply over TCP in {timeout:.3g} s") from None
    except asyncio.IncompleteReadError:
        raise QueryError(server, "TCP connection closed before the reply") from None
    except OSError as exc:
        if exc.errno in _NO_ROUTE:
            raise Unreachable(server, exc.strerror or str(exc)) from None
        raise QueryError(server, f"TCP: {exc.strerror or exc}") from None
    finally:
        if writer is not None:
            writer.close()
