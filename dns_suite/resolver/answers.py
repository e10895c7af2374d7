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
    __slots__ = ("body", "stored", "expires", "offsets", "ttls", "second", "hits")

    def __init__(self, body: bytes, stored: float, expires: float, offsets: list[int], ttls: list[int]) -> None:
        self.body = body          # the reply after its 2-octet ID
        self.stored = stored      # when rendered, monotonic seconds
        self.expires = expires    # stored + the smallest TTL
        self.offsets = offsets    # TTL field offsets in body
        self.ttls = ttls          # their values when stored
        self.second = 0           # whole seconds elapsed that ``body`` reflects
        self.hits = 0             # served from here; -1 once flagged for prefetch


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
        """The reply to ``query`` with its ID and TTLs as of ``now``, or None."""
        entry = self.table.get(query[2:])
        if entry is None:
            return None
        if now >= entry.expires:
            self._drop(query[2:])
            return None
        entry.hits += 1
        if entry.hits >= PREFETCH_HITS and entry.expires - now < (entry.expires - entry.stored) / 10:
            entry.hits = -1_000_000  # flagged once
            self.due.append(query[2:])
        second = ceil(now - entry.stored)  # never more TTL than the cache would give
        if second != entry.second:
            body = bytearray(entry.body)
            for offset, ttl in zip(entry.offsets, entry.ttls):
                pack_into("!I", body, offset, ttl - second)
            entry.body, entry.second = bytes(body), second
        self.hits += 1
        return query[:2] + entry.body

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
        self.table[key] = _Entry(reply[2:], now, now + min(ttls), offsets, ttls)
        self.bytes += _size(key, reply)

    def _drop(self, key: bytes) -> None:
        entry = self.table.pop(key, None)
        if entry is not None:
            self.bytes -= _size(key, entry.body)

    def clear(self) -> None:
        """Forget every reply (settings changed)."""
        self.table.clear()
        self.bytes = 0
