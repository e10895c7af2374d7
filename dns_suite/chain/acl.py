"""Access control by client address: who may use a service (pure).

A resolver must not be an open resolver (RFC 5358): only the networks an operator allows get
service; everyone else gets REFUSED (RFC 1035 §4.1.1), built here from the query's own header
and question. :func:`guard` is the middleware form: it puts the check in front of a handler.

How it works: the allowed networks are parsed once; a decision per client address is
remembered in a bounded dict (at most ``MAX_REMEMBERED`` addresses, then forgotten at once),
so the per-query cost on the hot path is one dict lookup. IPv4-mapped IPv6 addresses
(``::ffff:10.0.0.1``) are judged as the IPv4 address; a zone index (``fe80::1%eth0``) is
ignored. An address that does not parse is refused.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable

from dns_suite.wire.edns import Edns
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import Message, decode, encode
from dns_suite.wire.types import Flag, Rcode

#: ``handler(query_octets, client_address) -> reply_octets | None`` (see the package docstring).
Handler = Callable[[bytes, str], "bytes | None"]

DEFAULT_ALLOW = (
    "127.0.0.0/8", "::1/128",  # loopback
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "fc00::/7",  # unique local (RFC 4193)
    "fe80::/10",  # link local (RFC 4291 §2.5.6)
)
"""Networks allowed when the config names none: loopback and private networks only."""

MAX_REMEMBERED = 65536
"""Client addresses whose decision is remembered (a flood of sources cannot grow it further)."""

REPLY_PAYLOAD = 1232
"""EDNS payload size (octets) advertised in a :func:`rcode_reply` to a query that carried EDNS."""


class Acl:
    """The networks allowed to use a service.

    Args:
        networks: networks in text form (``"10.0.0.0/8"``, ``"::1"``, ``"192.0.2.7"``); host
            bits may be set (``"10.1.2.3/8"`` is ``10.0.0.0/8``). Empty: nobody is allowed.

    Raises:
        ValueError: an entry is not an IPv4 or IPv6 network.
    """

    __slots__ = ("networks", "_seen")

    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(text, strict=False) for text in networks)
        self._seen: dict[str, bool] = {}

    def allows(self, address: str) -> bool:
        """Whether the client at ``address`` (IPv4/IPv6 text, as a socket reports it) is allowed."""
        decision = self._seen.get(address)
        if decision is None:
            decision = self._decide(address)
            if len(self._seen) >= MAX_REMEMBERED:
                self._seen.clear()
            self._seen[address] = decision
        return decision

    def _decide(self, address: str) -> bool:
        ip = client_ip(address)
        if ip is None:
            return False
        return any(ip in net for net in self.networks if net.version == ip.version)

    def open_to_everyone(self) -> bool:
        """True when the list covers every IPv4 or every IPv6 address (an open service)."""
        return any(net.prefixlen == 0 for net in self.networks)


def client_ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """A client's address as a socket reports it, parsed: an IPv4-mapped IPv6 address as the
    IPv4 address, a zone index (``%eth0``) ignored; None when it does not parse."""
    try:
        ip = ipaddress.ip_address(address.partition("%")[0])
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip


def rcode_reply(query: bytes, rcode: int) -> bytes | None:
    """A reply to ``query`` with ``rcode`` and no records: its ID, opcode, RD and CD bits and question.

    Args:
        query: the query octets as received.
        rcode: the response code (0..15: no extended rcode).

    Returns:
        The reply octets (with an OPT record when the query had one, RFC 6891 §7), or ``None``
        when ``query`` is not a well-formed query (under 12 octets, QR set, or undecodable):
        garbage gets no reply at all.
    """
    if len(query) < 12 or query[2] & 0x80:
        return None
    try:
        msg = decode(query)
    except WireError:
        return None
    reply = Message(id=msg.id, flags=Flag.QR | (msg.flags & (Flag.RD | Flag.CD)), opcode=msg.opcode,
                    rcode=rcode, question=msg.question[:1],
                    edns=Edns(payload=REPLY_PAYLOAD) if msg.edns is not None else None)
    return encode(reply)


def refused(query: bytes) -> bytes | None:
    """The REFUSED reply to ``query`` (see :func:`rcode_reply`)."""
    return rcode_reply(query, Rcode.REFUSED)


def guard(acl: Acl, inner: Handler) -> Handler:
    """Middleware: queries from clients ``acl`` allows go to ``inner``; others get :func:`refused`.

    Args:
        acl: who is allowed.
        inner: the handler for allowed clients.

    Returns:
        A handler with the same contract as ``inner``.
    """

    def handler(query: bytes, client: str) -> bytes | None:
        if acl.allows(client):
            return inner(query, client)
        return refused(query)

    return handler
