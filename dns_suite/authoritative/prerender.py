"""Pre-rendered replies: the hot path of the authoritative service (DESIGN "The hot path").

How it works: a plain query (QUERY opcode, one question, no answer or
authority records, no compression in the question, and either no OPT or an
OPT of version 0 without options) is keyed by its own octets after the ID,
with the qname lowercased: that holds everything that changes the reply
(RD, CD, qname, qtype, qclass, EDNS presence, DO, payload size), and some
bits that do not (they only make more entries). The table stores each
reply without its ID and with the qname lowercased. So
:meth:`Prerendered.udp` first looks the query's octets up as they are: a
hit for every query whose qname is lowercase, with no parsing at all; the
reply is the query's ID plus the stored octets. Otherwise it reads the
question, lowercases the qname and looks again; a hit then copies the
query's qname octets in (case kept, RFC 4343). A miss, or any other query, goes to
:func:`~dns_suite.authoritative.responder.respond`; plain replies are
stored. The table holds at most ``max_entries`` replies (oldest dropped
first), so a flood of random names cannot grow it; a new zone version
comes with a new table.
"""

from __future__ import annotations

from struct import unpack_from

from dns_suite.authoritative.responder import Options, respond
from dns_suite.authoritative.zoneset import ZoneSet


class Prerendered:
    """Replies by question for one version of the served zones.

    Args:
        zones: the served zones (not changed while this table lives).
        opts: server options.
        max_entries: bound of the table (0 disables it).
    """

    __slots__ = ("zones", "opts", "max_entries", "table", "misses")

    def __init__(self, zones: ZoneSet, opts: Options, max_entries: int = 100_000) -> None:
        self.zones = zones
        self.opts = opts
        self.max_entries = max_entries
        self.table: dict[bytes, bytes] = {}
        self.misses = 0

    def udp(self, data: bytes, client: str = "") -> bytes | None:
        """The reply to a UDP query, or None when no reply is due."""
        tail = self.table.get(data[2:])
        if tail is not None:  # a plain query with a lowercase qname: its octets are the key
            return data[:2] + tail
        end = _plain_question_end(data)
        if end is None:
            return respond(self.zones, data, self.opts, tcp=False, client=client)
        key = data[2:12] + data[12:end - 4].lower() + data[end - 4:]
        tail = self.table.get(key)
        if tail is not None:  # mixed case: copy the query's qname octets in
            return data[:2] + tail[:10] + data[12:end - 4] + tail[end - 6:]
        self.misses += 1
        reply = respond(self.zones, data, self.opts, tcp=False, client=client)
        if reply and self.max_entries:  # not None (no reply) nor DEFER (b"": handled elsewhere)
            if len(self.table) >= self.max_entries:
                del self.table[next(iter(self.table))]
            self.table[key] = reply[2:12] + key[10:end - 6] + reply[end - 4:]
        return reply

    def tcp(self, data: bytes, client: str = "") -> bytes | None:
        """The reply to a TCP query (not tabled: TCP is the rarer path)."""
        return respond(self.zones, data, self.opts, tcp=True, client=client)


def _plain_question_end(data: bytes) -> int | None:
    """The offset after the question (qtype and qclass included) of a plain query, else None."""
    n = len(data)
    if n < 17:
        return None
    flags, qd, an, ns, ar = unpack_from("!HHHHH", data, 2)
    if flags & 0xF800 or qd != 1 or an or ns or ar > 1:
        return None
    i = 12
    while True:
        length = data[i]
        if length == 0:
            break
        if length > 63:
            return None
        i += length + 1
        if i >= n:
            return None
    qend = i + 5
    if ar == 0:
        return qend if qend == n else None
    if qend + 11 != n or data[qend] != 0:
        return None
    rrtype, _payload, ext, version, _flags, rdlen = unpack_from("!HHBBHH", data, qend + 1)
    if rrtype != 41 or ext or version or rdlen:
        return None
    return qend
