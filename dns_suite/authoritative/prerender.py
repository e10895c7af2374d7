"""Pre-rendered replies: the hot path of the authoritative service (DESIGN "The hot path").

How it works: :meth:`Prerendered.udp` reads the header and question of a
UDP query without building objects. A plain query (QUERY opcode, one
question, no answer/authority records, no compression in the question, and
either no OPT or an OPT of version 0 without options) is looked up by a key
holding everything that changes the reply: RD and CD, the lowercased qname
wire, qtype and qclass, whether EDNS is present, DO, and the UDP size
limit. A hit copies the query's ID and qname octets (case kept, RFC 4343)
into the stored reply. A miss, or any other query, goes to
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

    __slots__ = ("zones", "opts", "max_entries", "table", "hits", "misses")

    def __init__(self, zones: ZoneSet, opts: Options, max_entries: int = 100_000) -> None:
        self.zones = zones
        self.opts = opts
        self.max_entries = max_entries
        self.table: dict[bytes, bytes] = {}
        self.hits = 0
        self.misses = 0

    def udp(self, data: bytes, client: str = "") -> bytes | None:
        """The reply to a UDP query, or None when no reply is due."""
        key_end = _plain_question_end(data, self.opts.payload_size)
        if key_end is None:
            return respond(self.zones, data, self.opts, tcp=False, client=client)
        qend, tail = key_end
        key = bytes((data[2] & 0x01, data[3] & 0x10)) + data[12:qend - 4].lower() + data[qend - 4:qend] + tail
        reply = self.table.get(key)
        if reply is not None:
            self.hits += 1
            return data[:2] + reply[2:12] + data[12:qend] + reply[qend:]
        self.misses += 1
        reply = respond(self.zones, data, self.opts, tcp=False, client=client)
        if reply is not None and self.max_entries:
            if len(self.table) >= self.max_entries:
                del self.table[next(iter(self.table))]
            self.table[key] = reply
        return reply

    def tcp(self, data: bytes, client: str = "") -> bytes | None:
        """The reply to a TCP query (not tabled: TCP is the rarer path)."""
        return respond(self.zones, data, self.opts, tcp=True, client=client)


def _plain_question_end(data: bytes, ours: int) -> tuple[int, bytes] | None:
    """``(end of question, EDNS part of the key)`` for a plain query, else None."""
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
        return (qend, b"\0") if qend == n else None
    if qend + 11 != n or data[qend] != 0:
        return None
    rrtype, payload, ext, version, dflags, rdlen = unpack_from("!HHBBHH", data, qend + 1)
    if rrtype != 41 or ext or version or rdlen:
        return None
    size = max(512, min(payload, ours))
    return qend, bytes((1, dflags >> 15, size >> 8, size & 0xFF))
