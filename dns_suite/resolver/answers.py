"""Rendered replies to recent questions, TTLs patched as they count down (pure; the hot path).

How it works: a reply the core rendered for a UDP client is kept under the query's octets
after the ID (flags, question with its case, EDNS: everything that shapes the reply), with
the offsets of every TTL field in it. A later identical query is answered by copying its
ID in front of the stored reply; when whole seconds have passed since the reply was
stored, the TTLs are rewritten once for that second (original TTL minus elapsed seconds,
rounded up),
so answers count down exactly as the cache does (DESIGN "The hot path"). An entry lives
until its smallest TTL runs out; the table is bounded (oldest entries dropped first).
An entry served a few times and within the last tenth of its life is listed in ``due``
once, for the core to refresh (prefetch) before it expires.
"""

from __future__ import annotations

from math import ceil
from struct import pack_into, unpack_from

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import decode_name

OPT = 41
PREFETCH_HITS = 3  # answers from an entry before it is worth refreshing early


class _Entry:
    __slots__ = ("body", "stored", "expires", "offsets", "ttls", "until", "refresh", "hits", "kind")

    def __init__(self, body: bytes, stored: float, expires: float, offsets: list[int], ttls: list[int],
                 kind: int) -> None:
        self.body = body          # the reply after its 2-octet ID
        self.stored = stored      # when rendered, monotonic seconds
        self.expires = expires    # stored + the smallest TTL
        self.offsets = offsets    # TTL field offsets in body
        self.ttls = ttls          # their values when stored
        self.until = stored       # ``body``'s TTLs hold until then (whole seconds after ``stored``)
        self.refresh = expires - (expires - stored) / 10  # in its last tenth from then: prefetch
        self.hits = 0             # served from here; negative once flagged for prefetch
        self.kind = kind          # qtype << 8 | rcode, the query counters' key (chain/metrics.py)


def ttl_offsets(reply: bytes) -> tuple[list[int], list[int]]:
    """Offsets (counted from octet 2, after the ID) and values of the TTL fields of every
    RR except OPT.

    Raises:
        WireError: the reply cannot be walked.
    """
    try:
        qd, an, ns, ar = unpack_from("!4H", reply, 4)
        pos = 12
        for _ in range(qd):
            pos = decode_name(reply, pos, len(reply))[1] + 4
        offsets, ttls = [], []
        for _ in range(an + ns + ar):
            pos = decode_name(reply, pos, len(reply))[1]
            rrtype, _, ttl, rdlength = unpack_from("!HHIH", reply, pos)
            if rrtype != OPT:
                offsets.append(pos + 4 - 2)
                ttls.append(ttl)
            pos += 10 + rdlength
    except Exception as exc:  # struct.error or an index past the end
        if isinstance(exc, WireError):
            raise
        raise WireError(f"reply cannot be walked: {exc}") from None
    return offsets, ttls


def _qtype(query: bytes) -> int:
    """The qtype of the query's first question (0 when it has none or cannot be read)."""
    try:
        return unpack_from("!H", query, decode_name(query, 12, len(query))[1])[0] if query[5] else 0
    except Exception:  # noqa: BLE001 - WireError, struct.error or IndexError: counted as 0
        return 0


def _size(key: bytes, body: bytes) -> int:
    """Octets charged for an entry: key, body, and the objects around them (measured ~330)."""
    return len(key) + len(body) + 330


class AnswerTable:
    """Replies by query octets (after the ID).

    A reply is kept the second time its question is seen (most names are asked once).

    Args:
        max_entries: the bound in entries; past it the oldest entries go.
        max_bytes: the bound in octets (estimated); past it the oldest entries go.
    """

    def __init__(self, max_entries: int = 100_000, max_bytes: int = 16 << 20) -> None:
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self.table: dict[bytes, _Entry] = {}
        self.bytes = 0
        self.seen: set[int] = set()  # hashes of questions asked once: a reply is kept on the second
        self.hits = 0
        self.due: list[bytes] = []  # keys of popular entries in their last 10 %: refresh them

    def get(self, query: bytes, now: float) -> bytes | None:
        """The reply to ``query`` with its ID and TTLs as of ``now``, or None (an expired entry
        is dropped; the event loop's thread only)."""
        entry = self.peek(query, now)
        if entry is None:
            self._drop(query[2:])  # expired, or absent (a no-op)
            return None
        self.hits += 1
        return query[:2] + entry.body

    def peek(self, query: bytes, now: float) -> _Entry | None:
        """The live entry for ``query`` with its TTLs as of ``now`` (the reply is ``query[:2] +
        entry.body``; ``entry.kind`` is its ``qtype << 8 | rcode`` for the query counters), or
        None. Safe from another thread while the loop's thread uses the table (the UDP listener
        threads, resolver/service.py): it never adds or drops an entry and counts nothing here;
        a TTL rewrite is one store of a new ``bytes`` (two threads at worst compute the same
        one, or a thread with an older ``now`` a body one second lower); ``due`` is only
        appended to."""
        entry = self.table.get(query[2:])
        if entry is None or now >= entry.expires:
            return None
        if now > entry.until:  # a new second: rewrite the TTLs once
            second = ceil(now - entry.stored)  # never more TTL than the cache would give
            body = bytearray(entry.body)
            for offset, ttl in zip(entry.offsets, entry.ttls):
                pack_into("!I", body, offset, ttl - second)
            entry.body, entry.until = bytes(body), entry.stored + second
        entry.hits += 1
        if now > entry.refresh and entry.hits >= PREFETCH_HITS:  # popular, in its last tenth
            entry.hits = -1_000_000  # flagged once
            self.due.append(query[2:])
        return entry

    def put(self, query: bytes, reply: bytes, now: float) -> None:
        """Keep ``reply`` (for ``query``) until its smallest TTL runs out; TTL 0 is not kept."""
        try:
            offsets, ttls = ttl_offsets(reply)
        except WireError:
            return
        if not ttls or min(ttls) <= 0:
            return
        key = query[2:]
        digest = hash(key)
        if digest not in self.seen:  # most names are asked once: keep memory for the repeated ones
            if len(self.seen) >= self.max_entries:
                self.seen.clear()
            self.seen.add(digest)
            return
        self._drop(key)
        while self.table and (len(self.table) >= self.max_entries or self.bytes > self.max_bytes):
            self._drop(next(iter(self.table)))
        self.table[key] = _Entry(reply[2:], now, now + min(ttls), offsets, ttls, _qtype(query) << 8 | reply[3] & 15)
        self.bytes += _size(key, reply[2:])  # as _drop counts it

    def _drop(self, key: bytes) -> None:
        entry = self.table.pop(key, None)
        if entry is not None:
            self.bytes -= _size(key, entry.body)

    def clear(self) -> None:
        """Forget every reply (settings changed)."""
        self.table.clear()
        self.bytes = 0
