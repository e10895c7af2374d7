"""The resolver's cache: ranked RRsets and negative entries, bounded in octets (pure).

How it works: one ordered dict (least recently used first) maps a key to an entry:

=========================  =====================================================
key                        entry
=========================  =====================================================
``(owner.key, rrtype)``    an RRset (:class:`Entry`), TTLs capped at store time
``(name.key, qtype)``      NODATA (:class:`Negative`, rcode NOERROR, RFC 2308 §5)
``(name.key, NXD)``        NXDOMAIN for the name (RFC 2308 §5; RFC 8020 below it)
``(name.key, FAIL-qtype)`` a recent SERVFAIL for (name, qtype), briefly
``(name.key, PARENT-t)``   glue of type t as the parent's referral gave it
``(o.key+z.key, AGGR-t)``  a validated NSEC (t 47) at owner o of zone z, or z's SOA
                           (t 6, o = z), kept for RFC 8198 (resolver/aggressive.py)
=========================  =====================================================

Entries hold absolute expiry times (``now`` + TTL, monotonic seconds); answers count the
TTL down from there. A store respects rank (RFC 2181 §5.4.1): an unexpired RRset is
replaced only by data of the same or a higher rank. Past ``cache_bytes`` the least
recently used entries are evicted. Expired entries stay until evicted or until
``stale_max`` seconds past expiry, so serve-stale (RFC 8767) can still find them.

A CNAME entry synthesized from a DNAME (RFC 6672) holds the DNAME RR first and the CNAME
last, so an answer from the cache carries both.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from dns_suite.resolver.security import NONE, SECURE, Security
from dns_suite.wire.message import RR

NXD = -1    # key type of an NXDOMAIN entry
FAIL = -2   # key type of a cached SERVFAIL (FAIL - qtype)
PARENT = -100000  # key type of glue kept as the parent side saw it (PARENT - rrtype)
AGGRESSIVE = -300000  # key type of validated denial records kept for RFC 8198 (AGGRESSIVE - rrtype)
CNAME, SOA = 5, 6

# ranks, RFC 2181 §5.4.1 (higher is more trustworthy)
ADDITIONAL = 1      # glue and other additional-section data
AUTHORITY = 2       # NS of a referral (the parent's side)
AUTHORITY_AA = 3    # authority section of an authoritative answer (the child's NS)
ANSWER = 4          # answer section without AA
ANSWER_AA = 5       # answer section of an authoritative answer

_OVERHEAD = 300     # octets charged per entry for the dict slot, key and objects (measured: an
_RR_OVERHEAD = 120  # A RRset costs ~570 octets of RSS); per record besides owner and rdata

POSITIVE, NODATA, NXDOMAIN, SERVFAIL = "positive", "nodata", "nxdomain", "servfail"
YXDOMAIN = "yxdomain"  # a DNAME whose substitution is too long (RFC 6672 §2.2); only in a Hit


@dataclass(slots=True)
class Entry:
    """A cached RRset.

    Attributes:
        rrs: the records as received (owner case kept); TTL fields unused.
        ttl: the capped TTL, seconds.
        expires: absolute expiry, monotonic seconds.
        rank: trust rank (module constants).
        size: octets charged against the bound.
        hits: lookups that found it (prefetch picks popular entries).
        sec: its DNSSEC status and records (RRSIGs, wildcard proof).
    """

    rrs: tuple[RR, ...]
    ttl: int
    expires: float
    rank: int
    size: int
    hits: int = 0
    sec: Security = NONE


@dataclass(slots=True)
class Negative:
    """A cached negative answer or failure.

    Attributes:
        kind: NODATA, NXDOMAIN or SERVFAIL.
        soa: the SOA RR(s) for the authority section (empty for SERVFAIL).
        ttl: seconds the entry lives.
        expires: absolute expiry, monotonic seconds.
        size: octets charged.
        sec: its DNSSEC status and records (the SOA's RRSIGs, the NSEC/NSEC3 proof).
    """

    kind: str
    soa: tuple[RR, ...]
    ttl: int
    expires: float
    size: int
    sec: Security = NONE


@dataclass(frozen=True, slots=True)
class Hit:
    """What a lookup found; ``rrs`` and ``soa`` carry the remaining TTLs.

    Attributes:
        kind: POSITIVE (``rrs`` is the RRset, or a CNAME/DNAME link when ``link``),
            NODATA, NXDOMAIN or SERVFAIL.
        rrs: answer records.
        soa: authority records of a negative answer.
        link: True when ``rrs`` is a CNAME (maybe preceded by its DNAME) to follow.
        stale: True when served past expiry (RFC 8767).
        left: the smallest remaining TTL, seconds (0 for stale data).
        ttl: the TTL the entry was stored with, seconds.
        sec: DNSSEC status and records, TTLs as remaining.
    """

    kind: str
    rrs: tuple[RR, ...] = ()
    soa: tuple[RR, ...] = ()
    link: bool = False
    stale: bool = False
    left: int = 0
    ttl: int = 0
    sec: Security = NONE


def _with_ttl(rrs: tuple[RR, ...], ttl: int) -> tuple[RR, ...]:
    return tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=r.rrclass, ttl=ttl, rdata=r.rdata) for r in rrs)


def _ttl_of(rr: RR) -> int:
    """RFC 2181 §8: a TTL with the most significant bit set counts as zero."""
    return 0 if rr.ttl & 0x80000000 else rr.ttl


def _size(rrs: tuple[RR, ...], sec: Security = NONE) -> int:
    size = _OVERHEAD + sum(len(r.owner.wire) + len(r.rdata) + _RR_OVERHEAD for r in rrs)
    if sec.sigs or sec.proof:
        size += sum(len(r.owner.wire) + len(r.rdata) + _RR_OVERHEAD for r in sec.sigs + sec.proof)
    return size


def _better(sec: Security, rank: int, old: Entry) -> bool:
    """Whether new data replaces an unexpired entry: a higher or equal rank (RFC 2181 §5.4.1),
    except that SECURE data replaces any other, and is replaced only by SECURE data or a
    higher rank (RFC 4035 §4.3)."""
    if old.sec.status == SECURE and sec.status != SECURE:
        return rank > old.rank
    if sec.status == SECURE:
        return True
    return rank >= old.rank


class Cache:
    """RRsets and negative entries with absolute expiry, LRU-bounded in octets.

    Args:
        max_bytes: the bound, octets (an estimate of the memory held).
        min_ttl, max_ttl: TTL floor and ceiling applied to RRsets, seconds.
        max_negative_ttl: ceiling for negative entries, seconds (RFC 2308 §5).
        stale_max: seconds past expiry an entry is kept for serve-stale (RFC 8767).
    """

    def __init__(self, *, max_bytes: int = 64 << 20, min_ttl: int = 0, max_ttl: int = 86400,
                 max_negative_ttl: int = 3600, stale_max: int = 0) -> None:
        self.max_bytes = max_bytes
        self.min_ttl, self.max_ttl = min_ttl, max_ttl
        self.max_negative_ttl = max_negative_ttl
        self.stale_max = stale_max
        self.entries: OrderedDict[tuple[bytes, int], Entry | Negative] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.evictions = 0
        self.dnames = 0  # DNAME RRsets held: ancestors are searched only when > 0

    # --- storing -----------------------------------------------------------
    def put(self, rrs: tuple[RR, ...], rank: int, now: float, *, key: tuple[bytes, int] | None = None,
            sec: Security = NONE, extra: int = 0) -> bool:
        """Store one RRset (all ``rrs`` share owner and type); TTL = their smallest, capped.

        ``key`` overrides (owner, type): a DNAME and its synthesized CNAME are stored
        under the CNAME's owner. ``sec``: its validation status and DNSSEC records; an
        unexpired SECURE RRset is replaced only by SECURE data or data of a higher rank.
        ``extra``: octets charged besides the records (an index kept elsewhere for it).

        Returns:
            True when stored; False when an unexpired RRset of a higher rank is kept.
        """
        if key is None:
            key = (rrs[0].owner.key, rrs[0].rrtype)
        old = self.entries.get(key)
        if isinstance(old, Entry) and old.expires >= now and not _better(sec, rank, old):
            return False
        ttl = min(max(min(_ttl_of(r) for r in rrs), self.min_ttl), self.max_ttl)
        if key[1] == 39 and old is None:
            self.dnames += 1
        self._set(key, Entry(rrs=rrs, ttl=ttl, expires=now + ttl, rank=rank, size=_size(rrs, sec) + extra,
                             sec=sec))
        return True

    def put_negative(self, name_key: bytes, qtype: int, kind: str, soa: tuple[RR, ...], now: float, *,
                     sec: Security = NONE) -> int:
        """Store NXDOMAIN (any ``qtype``) or NODATA for ``qtype``: TTL = min(SOA TTL, MINIMUM).

        Without a SOA nothing is cached (RFC 2308 §5). Returns the TTL used, seconds.
        """
        if not soa:
            return 0
        soa_rr = soa[0]
        minimum = int.from_bytes(soa_rr.rdata[-4:], "big") if len(soa_rr.rdata) >= 20 else 0
        ttl = min(soa_rr.ttl, minimum, self.max_negative_ttl)
        key = (name_key, NXD if kind == NXDOMAIN else qtype)
        self._set(key, Negative(kind=kind, soa=soa, ttl=ttl, expires=now + ttl, size=_size(soa, sec), sec=sec))
        return ttl

    def put_servfail(self, name_key: bytes, qtype: int, ttl: int, now: float) -> None:
        """Remember a failed resolution of (name, qtype) for ``ttl`` seconds."""
        if ttl > 0:
            self._set((name_key, FAIL - qtype), Negative(kind=SERVFAIL, soa=(), ttl=ttl, expires=now + ttl,
                                                          size=_OVERHEAD))

    def _set(self, key: tuple[bytes, int], entry: Entry | Negative) -> None:
        old = self.entries.pop(key, None)
        if old is not None:
            self.bytes -= old.size
        self.entries[key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes and self.entries:
            _, dropped = self.entries.popitem(last=False)
            self.bytes -= dropped.size
            self.evictions += 1

    # --- finding -----------------------------------------------------------
    def rrset(self, name_key: bytes, rrtype: int, now: float, *, stale: bool = False) -> Entry | None:
        """The RRset itself (expiry checked; ``stale`` accepts it up to ``stale_max`` past)."""
        entry = self.entries.get((name_key, rrtype))
        if not isinstance(entry, Entry):
            return None
        if entry.expires < now - (self.stale_max if stale else 0):
            return None
        return entry

    def lookup(self, name_key: bytes, qtype: int, now: float, *, stale: bool = False,
               min_rank: int = AUTHORITY_AA) -> Hit | None:
        """What the cache knows about (name, qtype), or None.

        Order: the RRset, a CNAME at the name, NODATA, NXDOMAIN at the name or an ancestor
        (RFC 8020), a recent SERVFAIL. Hits count and move to the recently used end.
        RRsets below ``min_rank`` (glue, a referral's NS) are never answers (RFC 2181 §5.4.1).
        """
        found = self._find(name_key, qtype, now, stale, min_rank)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def _find(self, name_key: bytes, qtype: int, now: float, stale: bool, min_rank: int) -> Hit | None:
        limit = now - (self.stale_max if stale else 0)
        entries = self.entries
        for rrtype in ((qtype, CNAME) if qtype != CNAME else (qtype,)):
            entry = entries.get((name_key, rrtype))
            if isinstance(entry, Entry) and entry.expires >= limit and entry.rank >= min_rank:
                return self._positive(name_key, rrtype, entry, now, link=rrtype != qtype)
        negative = entries.get((name_key, qtype))
        if isinstance(negative, Negative) and negative.expires >= limit:
            return self._negative((name_key, qtype), negative, now)
        nxdomain = self._nxdomain_at_or_above(name_key, limit)
        if nxdomain is not None:
            return self._negative(nxdomain, entries[nxdomain], now)
        failed = entries.get((name_key, FAIL - qtype))
        if failed is not None and failed.expires >= now:
            return Hit(kind=SERVFAIL, left=int(failed.expires - now))
        return None

    def _positive(self, name_key: bytes, rrtype: int, entry: Entry, now: float, *, link: bool) -> Hit:
        entry.hits += 1
        self.entries.move_to_end((name_key, rrtype))
        left = max(0, int(entry.expires - now))
        stale = entry.expires < now
        return Hit(kind=POSITIVE, rrs=_with_ttl(entry.rrs, left), link=link, stale=stale, left=left,
                   ttl=entry.ttl, sec=entry.sec.with_ttl(left))

    def _negative(self, key: tuple[bytes, int], entry: Negative, now: float) -> Hit:
        self.entries.move_to_end(key)
        left = max(0, int(entry.expires - now))
        return Hit(kind=entry.kind, soa=_with_ttl(entry.soa, left), stale=entry.expires < now, left=left,
                   ttl=entry.ttl, sec=entry.sec.with_ttl(left))

    def _nxdomain_at_or_above(self, name_key: bytes, limit: float) -> tuple[bytes, int] | None:
        """RFC 8020: an NXDOMAIN at the name or any ancestor covers the name."""
        entries = self.entries
        key = name_key
        while True:
            entry = entries.get((key, NXD))
            if entry is not None and entry.expires >= limit:
                return (key, NXD)
            if key == b"\0":
                return None
            key = key[key[0] + 1:]

    def dname_above(self, name_key: bytes, now: float) -> Entry | None:
        """The closest unexpired DNAME RRset owned by a proper ancestor of the name."""
        if not self.dnames:
            return None
        key = name_key
        while key != b"\0":
            key = key[key[0] + 1:]
            entry = self.entries.get((key, 39))
            if isinstance(entry, Entry) and entry.expires >= now:
                return entry
        return None

    def expired(self, now: float) -> None:
        """Drop entries more than ``stale_max`` seconds past expiry (call now and then)."""
        limit = now - self.stale_max
        for key in [k for k, e in self.entries.items() if e.expires < limit]:
            self.bytes -= self.entries.pop(key).size

    def clear(self) -> None:
        """Drop every entry (a change of trust anchors: statuses were judged under the old ones)."""
        self.entries.clear()
        self.bytes = 0
        self.dnames = 0

    def stats(self) -> dict[str, int]:
        """Counters: hits, misses, evictions, bytes, entries."""
        return {"hits": self.hits, "misses": self.misses, "evictions": self.evictions,
                "bytes": self.bytes, "entries": len(self.entries)}
