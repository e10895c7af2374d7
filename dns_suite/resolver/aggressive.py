"""Aggressive use of the DNSSEC-validated cache: NXDOMAIN and NODATA answered from cached NSEC
records without asking upstream (pure; RFC 8198 §4, §5.1, §5.4, RFC 9077 §3).

How it works: the validator hands :meth:`AggressiveNsec.learn` the NSEC records of every
denial of existence (and of every wildcard answer's proof) that validated as SECURE, with the
zone's SOA from the same negative answer. Each NSEC RRset is kept in the resolver's cache
under its own key type (``cache.AGGRESSIVE - NSEC``, keyed by owner and zone), so it expires
with its TTL (capped by its signature's original TTL and validity, RFC 4035 §5.3.3), is
evicted with the cache's LRU and counts in ``cache_bytes`` (with the octets of its index
slot). Per zone, a sorted list of the owners' canonical keys (RFC 4034 §6.1; for NSEC3, of the
owners' hashes) finds the record at or before a name by bisection; slots whose record has gone
are dropped when met.

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

NSEC3 zones (RFC 8198 §5.2) are indexed by hash (one salt and iteration count per zone: the
last one seen; at most :data:`~dns_suite.resolver.denial.MAX_ITERATIONS` iterations). For a
name, the NSEC3 matching or covering the hash of the name and of each ancestor down to the
zone, and of ``*.`` each ancestor, are gathered, and the same table applies with RFC 5155
§8.4-8.7's proofs: closest encloser, next closer covered, wildcard covered. A next closer in
an opt-out span proves nothing secure (an insecure delegation may hide there): no NXDOMAIN.

The proofs are judged by denial.py's functions, exactly as a reply's proof would be (a
delegation's or a DNAME's NSEC proves nothing below its owner). A synthesised answer is
SECURE, carries the SOA, the NSEC/NSEC3 records and all their RRSIGs, and lives for
min(SOA MINIMUM, SOA TTL, NSEC TTLs, ``max_negative_ttl``), counted down (RFC 8198 §5.4,
RFC 9077 §3). Wildcard answers are not synthesised (RFC 8198 §5.3). The caller decides whether synthesis is allowed at all: never for CD, for the key
chain's own fetches, or for names not covered by a trust anchor or under a negative one.
"""

from __future__ import annotations

import base64
from bisect import bisect_right

from dns_suite.resolver import cache as C
from dns_suite.resolver.cache import Cache, Entry, Hit
from dns_suite.resolver.denial import MAX_ITERATIONS, closest_encloser, nsec3_hash, prove_nodata, prove_nxdomain
from dns_suite.resolver.security import NSEC, NSEC3, RRSIG, SECURE, Security
from dns_suite.resolver.validate import covered_type, signer_of
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name

SOA, DS = 6, 43
NSEC_KEY = C.AGGRESSIVE - NSEC
"""Cache key type of a kept NSEC RRset; the key's name part is the owner's key then the zone's."""
NSEC3_KEY = C.AGGRESSIVE - NSEC3
"""Cache key type of a kept NSEC3 RRset (name part: the owner's key then the zone's)."""
SOA_KEY = C.AGGRESSIVE - SOA
"""Cache key type of a zone's kept SOA (the key's name part is the zone's key twice)."""
INDEX_OCTETS = 160
"""Octets charged per index slot besides the owner's key (list slots, the tuple of labels)."""
MAX_PROBES = 8
"""Slots whose record has gone dropped per look-up before giving up."""
_META = range(128, 256)  # RFC 6895 §3.1: meta-types and QTYPEs (ANY ...) are never in a bitmap


class _Chain:
    """The owners of one zone's NSEC (or NSEC3) records, sorted by canonical key (or hash)."""

    __slots__ = ("ktype", "keys", "owners")

    def __init__(self, ktype: int) -> None:
        self.ktype = ktype                 # the cache key type of the records
        self.keys: list = []               # canonical keys (tuples of labels) or hashes, sorted
        self.owners: list[Name] = []       # the owners, in the same order


class _Zone:
    """The index of one zone: its NSEC chain, its NSEC3 chain and the NSEC3 parameters."""

    __slots__ = ("name", "nsec", "nsec3", "params")

    def __init__(self, name: Name) -> None:
        self.name = name
        self.nsec = _Chain(NSEC_KEY)
        self.nsec3 = _Chain(NSEC3_KEY)
        self.params: tuple[bytes, int] | None = None  # the NSEC3 chain's (salt, iterations)


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
        """Keep the NSEC/NSEC3 records of a proof that validated as SECURE, and the zone's SOA.

        Args:
            proof: NSEC/NSEC3 records and RRSIGs, every RRset verified by the caller
                (keychain.verified_proof) with the keys of the zone that signed them.
            now: monotonic seconds.
            wall: seconds since the epoch (the signatures' validity caps the TTLs).
            soa: the SOA of the same negative answer (secure), or () for a wildcard's proof.
            soa_sigs: its RRSIGs.

        Returns:
            The number of RRsets kept (records of another zone than the SOA's, NSEC3 records
            with parameters not checked (denial.py), or without an unexpired signature by
            their zone, are left out).
        """
        groups: dict[tuple[bytes, int], list[RR]] = {}
        sigs: dict[tuple[bytes, int], list[RR]] = {}
        for rr in proof:
            if rr.rrtype in (NSEC, NSEC3):
                groups.setdefault((rr.owner.key, rr.rrtype), []).append(rr)
            elif rr.rrtype == RRSIG and len(rr.rdata) > 18:
                sigs.setdefault((rr.owner.key, covered_type(rr)), []).append(rr)
        kept = 0
        for (owner_key, rrtype), rrs in groups.items():
            mine = sigs.get((owner_key, rrtype), [])
            zone = next((z for z in map(signer_of, mine) if z is not None), None)
            owner = rrs[0].owner
            if zone is None or (soa and zone.key != soa[0].owner.key) or not owner.is_subdomain(zone):
                continue
            sort_key = owner.canonical_key() if rrtype == NSEC else _nsec3_hash_of(owner, rrs[0], zone)
            if sort_key is None:
                continue
            mine = tuple(s for s in mine if signer_of(s) == zone)
            ktype = NSEC_KEY if rrtype == NSEC else NSEC3_KEY
            if self._keep(tuple(rrs), mine, (owner_key + zone.key, ktype), now, wall,
                          extra=INDEX_OCTETS + len(owner_key)):
                self._index(zone, owner, sort_key, rrs[0], now)
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

    def _index(self, zone: Name, owner: Name, sort_key, record: RR, now: float) -> None:
        z = self.zones.get(zone.key)
        if z is None:
            z = self.zones[zone.key] = _Zone(zone)
        chain = z.nsec
        if record.rrtype == NSEC3:
            chain, params = z.nsec3, _nsec3_params(record.rdata)
            if z.params != params:  # a new salt or iteration count: the old chain is of no use
                self.names -= len(chain.keys)
                chain.keys, chain.owners, z.params = [], [], params
        i = bisect_right(chain.keys, sort_key)
        if i and chain.keys[i - 1] == sort_key:
            return
        chain.keys.insert(i, sort_key)
        chain.owners.insert(i, owner)
        self.names += 1
        if self.names > self.max_names:
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Drop slots whose record has expired or been evicted; empty the index if still too big."""
        for zone_key in list(self.zones):
            z = self.zones[zone_key]
            for chain in (z.nsec, z.nsec3):
                live = [i for i, o in enumerate(chain.owners) if self._record(z, chain, o.key, now) is not None]
                chain.keys, chain.owners = [chain.keys[i] for i in live], [chain.owners[i] for i in live]
            if not z.nsec.keys and not z.nsec3.keys:
                del self.zones[zone_key]
        self.names = sum(len(z.nsec.keys) + len(z.nsec3.keys) for z in self.zones.values())
        if self.names > self.max_names:
            self.clear()

    # --- answering ----------------------------------------------------------------------------
    def synthesise(self, name: Name, qtype: int, now: float) -> Hit | None:
        """NXDOMAIN or NODATA for (name, qtype) proven by kept NSEC/NSEC3 records (module table).

        Returns:
            A SECURE :class:`~dns_suite.resolver.cache.Hit` of kind NXDOMAIN or NODATA whose
            ``soa`` is the zone's SOA and ``sec`` holds the SOA's RRSIGs and the NSEC/NSEC3
            records with theirs, TTLs as remaining (seconds); None when nothing is proven.
        """
        if not self.zones or qtype in _META:
            return None
        z = self._zone(name, qtype)
        if z is None:
            return None
        soa = self.cache.rrset(z.name.key * 2, SOA_KEY, now)
        if soa is None or soa.sec.status != SECURE:
            return None
        used = self._nsec_proof(z, name, now) if z.nsec.keys else []
        if not used and z.nsec3.keys:
            used = self._nsec3_proof(z, name, now)
        if not used:
            return None
        records = tuple(r for e in used for r in e.rrs)
        if prove_nodata(name, qtype, records) == SECURE:  # at the name, an empty non-terminal, *.ce
            return self._hit(C.NODATA, soa, used, now)
        if prove_nxdomain(name, records) == SECURE:  # opt-out (insecure) never passes
            return self._hit(C.NXDOMAIN, soa, used, now)
        return None

    def _nsec_proof(self, z: _Zone, name: Name, now: float) -> list[Entry]:
        """The NSEC at the name, or the one covering it and the one at or covering *.ce."""
        exact = self._record(z, z.nsec, name.key, now)
        if exact is not None:  # the name exists: at most NODATA
            return [exact]
        cover = self._before(z, z.nsec, name.canonical_key(), now)
        if cover is None:
            return []
        star = _wildcard(closest_encloser(name, cover.rrs))
        star_nsec = self._record(z, z.nsec, star.key, now) or self._before(z, z.nsec, star.canonical_key(), now)
        return [cover] if star_nsec is None or star_nsec is cover else [cover, star_nsec]

    def _nsec3_proof(self, z: _Zone, name: Name, now: float) -> list[Entry]:
        """The NSEC3 matching or covering the name, each ancestor down to the zone and ``*.``
        each ancestor (RFC 5155 §8.3: closest encloser, next closer, wildcard)."""
        salt, iterations = z.params
        used: list[Entry] = []
        targets, ancestor = [name], name
        while ancestor.key != z.name.key and ancestor.key != b"\0":
            ancestor = ancestor.parent()
            targets += [ancestor, _wildcard(ancestor)]
        for target in targets:
            entry = self._before(z, z.nsec3, nsec3_hash(target, salt, iterations), now, wrap=True)
            if entry is not None and all(entry is not e for e in used):
                used.append(entry)
        return used

    def _zone(self, name: Name, qtype: int) -> _Zone | None:
        """The deepest indexed zone at or above ``name`` (strictly above it for DS)."""
        key = name.key
        if qtype == DS and key != b"\0":
            key = key[key[0] + 1:]
        zones = self.zones
        while key not in zones and key != b"\0":
            key = key[key[0] + 1:]
        return zones.get(key)

    def _record(self, z: _Zone, chain: _Chain, owner_key: bytes, now: float) -> Entry | None:
        entry = self.cache.rrset(owner_key + z.name.key, chain.ktype, now)
        return entry if entry is not None and entry.sec.status == SECURE else None

    def _before(self, z: _Zone, chain: _Chain, sort_key, now: float, *, wrap: bool = False) -> Entry | None:
        """The kept record with the greatest key at or before ``sort_key``; with ``wrap``, the
        last one when none is (the NSEC3 chain's last record covers the hashes below its first)."""
        for _ in range(MAX_PROBES):
            i = bisect_right(chain.keys, sort_key) - 1
            if i < 0:
                if not wrap or not chain.keys:
                    return None
                i = len(chain.keys) - 1
            entry = self._record(z, chain, chain.owners[i].key, now)
            if entry is not None:
                return entry
            del chain.keys[i], chain.owners[i]  # expired or evicted: the slot goes
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


def _nsec3_params(rdata: bytes) -> tuple[bytes, int]:
    """(salt, iterations) of NSEC3 rdata (RFC 5155 §3.2)."""
    return rdata[5:5 + rdata[4]], int.from_bytes(rdata[2:4], "big")


def _nsec3_hash_of(owner: Name, rr: RR, zone: Name) -> bytes | None:
    """The hash an NSEC3 record's owner names, when denial.py would use the record: SHA-1,
    no flags but opt-out, at most MAX_ITERATIONS iterations, owned directly below its zone;
    else None."""
    data = rr.rdata
    if len(data) < 5 or len(data) < 6 + data[4] or data[0] != 1 or data[1] & 0xFE:
        return None
    if int.from_bytes(data[2:4], "big") > MAX_ITERATIONS or owner.parent().key != zone.key:
        return None
    try:
        return base64.b32hexdecode(owner.labels[0].upper())
    except (ValueError, IndexError):
        return None


def _wildcard(ce: Name) -> Name:
    return Name(b"\x01*" + ce.wire, b"\x01*" + ce.key)


def _with_ttl(rrs: tuple[RR, ...], ttl: int) -> tuple[RR, ...]:
    return tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=r.rrclass, ttl=ttl, rdata=r.rdata) for r in rrs)
