"""Aggressive use of the DNSSEC-validated cache: NXDOMAIN and NODATA answered from cached NSEC
records without asking upstream (pure; RFC 8198 §4, §5.1, §5.4, RFC 9077 §3).

How it works: the validator hands :meth:`AggressiveNsec.learn` the NSEC records of every
denial of existence (and of every wildcard answer's proof) that validated as SECURE, with the
zone's SOA from the same negative answer. Each NSEC RRset is kept in the resolver's cache
under its own key type (``cache.AGGRESSIVE - NSEC``, keyed by owner and zone), so it expires
with its TTL (capped by its signature's original TTL and validity, RFC 4035 §5.3.3), is
evicted with the cache's LRU and counts in ``cache_bytes`` (with the octets of its index
slot). Per zone, a sorted list of the owners' canonical keys (RFC 4034 §6.1) finds the NSEC at
or before a name by bisection; slots whose record has gone are dropped when met.

Before a cache miss goes upstream, :meth:`AggressiveNsec.synthesise` looks in the deepest zone
with NSEC records at or above the name (above it for DS, which lives in the parent):

=====================================  ==================================================
cached for the zone                    answer
=====================================  ==================================================
no SOA (secure, unexpired)             nothing: the query goes upstream
an NSEC at the name                    NODATA when neither the type nor CNAME is in its
                                       bitmap (and not the parent side of a cut, but DS)
an NSEC covering the name whose next   NODATA (the name is an empty non-terminal)
name is below it
an NSEC covering the name and one      NXDOMAIN (RFC 4035 §5.4: the name and the
covering *.<closest encloser>          wildcard that could have matched do not exist)
an NSEC at *.<closest encloser>        NODATA when it lacks the type and CNAME; else
                                       nothing (wildcard answers are not synthesised)
anything else                          nothing
=====================================  ==================================================

The proofs are judged by denial.py's functions, exactly as a reply's proof would be (a
delegation's or a DNAME's NSEC proves nothing below its owner). A synthesised answer is
SECURE, carries the SOA, the NSEC records and all their RRSIGs, and lives for
min(SOA MINIMUM, SOA TTL, NSEC TTLs, ``max_negative_ttl``), counted down (RFC 8198 §5.4,
RFC 9077 §3). NSEC3 records are not used (RFC 8198 §5.2 allows it; names in NSEC3 zones go
upstream). The caller decides whether synthesis is allowed at all: never for CD, for the key
chain's own fetches, or for names not covered by a trust anchor or under a negative one.
"""

from __future__ import annotations

from bisect import bisect_right

from dns_suite.resolver import cache as C
from dns_suite.resolver.cache import Cache, Entry, Hit
from dns_suite.resolver.denial import closest_encloser, prove_nodata, prove_nxdomain
from dns_suite.resolver.security import NSEC, RRSIG, SECURE, Security
from dns_suite.resolver.validate import covered_type, signer_of
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name

SOA, DS = 6, 43
NSEC_KEY = C.AGGRESSIVE - NSEC
"""Cache key type of a kept NSEC RRset; the key's name part is the owner's key then the zone's."""
SOA_KEY = C.AGGRESSIVE - SOA
"""Cache key type of a zone's kept SOA (the key's name part is the zone's key twice)."""
INDEX_OCTETS = 160
"""Octets charged per index slot besides the owner's key (list slots, the tuple of labels)."""
MAX_PROBES = 8
"""Slots whose record has gone dropped per look-up before giving up."""
_META = range(128, 256)  # RFC 6895 §3.1: meta-types and QTYPEs (ANY ...) are never in a bitmap


class _Zone:
    """The index of one zone: its NSEC owners in canonical order."""

    __slots__ = ("name", "keys", "owners")

    def __init__(self, name: Name) -> None:
        self.name = name
        self.keys: list[tuple[bytes, ...]] = []  # canonical keys, sorted
        self.owners: list[Name] = []             # the owners, in the same order


class AggressiveNsec:
    """Validated NSEC records per zone, and the answers they prove (RFC 8198).

    Args:
        cache: the resolver's cache; the records live there (TTL, LRU, ``cache_bytes``).
        max_names: the bound on index slots over all zones; past it, slots whose record has
            gone are swept, and if that is not enough the index is emptied.

    Attributes:
        synthesised: answers given from the index so far.
    """

    def __init__(self, cache: Cache, *, max_names: int = 200_000) -> None:
        self.cache = cache
        self.max_names = max_names
        self.zones: dict[bytes, _Zone] = {}
        self.names = 0
        self.synthesised = 0

    def clear(self) -> None:
        """Forget every zone (the trust anchors changed); the records age out of the cache."""
        self.zones.clear()
        self.names = 0

    # --- learning -----------------------------------------------------------------------------
    def learn(self, proof: tuple[RR, ...], now: float, wall: int, soa: tuple[RR, ...] = (),
              soa_sigs: tuple[RR, ...] = ()) -> int:
        """Keep the NSEC records of a proof that validated as SECURE, and the zone's SOA.

        Args:
            proof: NSEC/NSEC3 records and RRSIGs, every NSEC RRset verified by the caller
                (keychain.verified_proof) with the keys of the zone that signed them.
            now: monotonic seconds.
            wall: seconds since the epoch (the signatures' validity caps the TTLs).
            soa: the SOA of the same negative answer (secure), or () for a wildcard's proof.
            soa_sigs: its RRSIGs.

        Returns:
            The number of NSEC RRsets kept (records of another zone than the SOA's, or
            without an unexpired signature by their zone, are left out).
        """
        groups: dict[bytes, list[RR]] = {}
        sigs: dict[bytes, list[RR]] = {}
        for rr in proof:
            if rr.rrtype == NSEC:
                groups.setdefault(rr.owner.key, []).append(rr)
            elif rr.rrtype == RRSIG and len(rr.rdata) > 18 and covered_type(rr) == NSEC:
                sigs.setdefault(rr.owner.key, []).append(rr)
        kept = 0
        for owner_key, rrs in groups.items():
            mine = sigs.get(owner_key, [])
            zone = next((z for z in map(signer_of, mine) if z is not None), None)
            if zone is None or (soa and zone.key != soa[0].owner.key) or not rrs[0].owner.is_subdomain(zone):
                continue
            mine = tuple(s for s in mine if signer_of(s) == zone)
            if self._keep(tuple(rrs), mine, (owner_key + zone.key, NSEC_KEY), now, wall,
                          extra=INDEX_OCTETS + len(owner_key)):
                self._index(zone, rrs[0].owner, now)
                kept += 1
        if soa and kept:
            self._keep(soa[:1], soa_sigs, (soa[0].owner.key * 2, SOA_KEY), now, wall)
        return kept

    def _keep(self, rrs: tuple[RR, ...], sigs: tuple[RR, ...], key: tuple[bytes, int], now: float, wall: int,
              extra: int = 0) -> bool:
        """Store one secure RRset under ``key``, its lifetime capped by its signatures."""
        cap = _signature_cap(sigs, wall)
        if cap is None or cap <= 0:
            return False
        rrs = tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=r.rrclass, ttl=min(r.ttl, cap), rdata=r.rdata)
                    for r in rrs)
        if not self.cache.put(rrs, C.AUTHORITY_AA, now, key=key, sec=Security(SECURE, None, sigs), extra=extra):
            return False
        entry = self.cache.entries[key]
        if entry.ttl > cap:  # a min_ttl floor must not outlive the signature
            entry.ttl, entry.expires = cap, now + cap
        return True

    def _index(self, zone: Name, owner: Name, now: float) -> None:
        z = self.zones.get(zone.key)
        if z is None:
            z = self.zones[zone.key] = _Zone(zone)
        canonical = owner.canonical_key()
        i = bisect_right(z.keys, canonical)
        if i and z.keys[i - 1] == canonical:
            return
        z.keys.insert(i, canonical)
        z.owners.insert(i, owner)
        self.names += 1
        if self.names > self.max_names:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Drop slots whose record has expired or been evicted; empty the index if still too big."""
        for zone_key in list(self.zones):
            z = self.zones[zone_key]
            live = [i for i, owner in enumerate(z.owners) if self._nsec(z, owner.key, now) is not None]
            z.keys, z.owners = [z.keys[i] for i in live], [z.owners[i] for i in live]
            if not z.keys:
                del self.zones[zone_key]
        self.names = sum(len(z.keys) for z in self.zones.values())
        if self.names > self.max_names:
            self.clear()

    # --- answering ----------------------------------------------------------------------------
    def synthesise(self, name: Name, qtype: int, now: float) -> Hit | None:
        """NXDOMAIN or NODATA for (name, qtype) proven by kept NSEC records (module table).

        Returns:
            A SECURE :class:`~dns_suite.resolver.cache.Hit` of kind NXDOMAIN or NODATA whose
            ``soa`` is the zone's SOA and ``sec`` holds the SOA's RRSIGs and the NSEC records
            with theirs, TTLs as remaining (seconds); None when nothing is proven.
        """
        if not self.zones or qtype in _META:
            return None
        z = self._zone(name, qtype)
        if z is None:
            return None
        soa = self.cache.rrset(z.name.key * 2, SOA_KEY, now)
        if soa is None or soa.sec.status != SECURE:
            return None
        exact = self._nsec(z, name.key, now)
        if exact is not None:  # the name exists: at most NODATA
            if prove_nodata(name, qtype, _records([exact])) != SECURE:
                return None
            return self._hit(C.NODATA, soa, [exact], now)
        cover = self._at_or_before(z, name, now)
        if cover is None:
            return None
        star = _wildcard(closest_encloser(name, cover.rrs))
        star_nsec = self._nsec(z, star.key, now) or self._at_or_before(z, star, now)
        used = [cover] if star_nsec is None or star_nsec is cover else [cover, star_nsec]
        records = _records(used)
        if prove_nodata(name, qtype, records) == SECURE:  # an empty non-terminal, or *.ce without the type
            return self._hit(C.NODATA, soa, used, now)
        if prove_nxdomain(name, records) == SECURE:
            return self._hit(C.NXDOMAIN, soa, used, now)
        return None

    def _zone(self, name: Name, qtype: int) -> _Zone | None:
        """The deepest indexed zone at or above ``name`` (strictly above it for DS)."""
        key = name.key
        if qtype == DS and key != b"\0":
            key = key[key[0] + 1:]
        zones = self.zones
        while key not in zones and key != b"\0":
            key = key[key[0] + 1:]
        return zones.get(key)

    def _nsec(self, z: _Zone, owner_key: bytes, now: float) -> Entry | None:
        entry = self.cache.rrset(owner_key + z.name.key, NSEC_KEY, now)
        return entry if entry is not None and entry.sec.status == SECURE else None

    def _at_or_before(self, z: _Zone, name: Name, now: float) -> Entry | None:
        """The kept NSEC with the greatest owner at or before ``name`` in canonical order."""
        canonical = name.canonical_key()
        for _ in range(MAX_PROBES):
            i = bisect_right(z.keys, canonical) - 1
            if i < 0:
                return None
            entry = self._nsec(z, z.owners[i].key, now)
            if entry is not None:
                return entry
            del z.keys[i], z.owners[i]  # expired or evicted: the slot goes
            self.names -= 1
        return None

    def _hit(self, kind: str, soa: Entry, used: list[Entry], now: float) -> Hit:
        """The answer: TTL min(SOA MINIMUM, SOA TTL, NSEC TTLs, max_negative_ttl) as remaining."""
        rdata = soa.rrs[0].rdata
        minimum = int.from_bytes(rdata[-4:], "big") if len(rdata) >= 20 else 0
        ttl = max(0, min([int(e.expires - now) for e in (soa, *used)] + [minimum, self.cache.max_negative_ttl]))
        proof = tuple(r for e in used for r in e.rrs + e.sec.sigs)
        self.synthesised += 1
        sec = Security(SECURE, None, soa.sec.sigs, proof).with_ttl(ttl)
        return Hit(kind=kind, soa=_with_ttl(soa.rrs, ttl), left=ttl, ttl=ttl, sec=sec)


def _signature_cap(sigs: tuple[RR, ...], wall: int) -> int | None:
    """The longest an RRset may be kept, seconds: the smallest original TTL and remaining
    validity of its signatures still in their window (RFC 4035 §5.3.3); None when none is."""
    caps = []
    for sig in sigs:
        data = sig.rdata
        if len(data) < 16:
            continue
        original = int.from_bytes(data[4:8], "big")
        left = (int.from_bytes(data[8:12], "big") - wall) % (1 << 32)
        if left < 1 << 31:  # RFC 1982: not yet expired
            caps.append(min(original, left))
    return min(caps) if caps else None


def _records(entries: list[Entry]) -> tuple[RR, ...]:
    return tuple(r for e in entries for r in e.rrs)


def _wildcard(ce: Name) -> Name:
    return Name(b"\x01*" + ce.wire, b"\x01*" + ce.key)


def _with_ttl(rrs: tuple[RR, ...], ttl: int) -> tuple[RR, ...]:
    return tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=r.rrclass, ttl=ttl, rdata=r.rdata) for r in rrs)
