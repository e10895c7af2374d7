"""Authenticated denial of existence: NSEC and NSEC3 proofs (pure; RFC 4035 §5.4, RFC 5155 §8,
RFC 7129, RFC 9276).

How it works: the caller has already verified the signatures of the NSEC/NSEC3 records
(validate.py); here only their contents are read. Each proof returns a status of
validate.py's: SECURE (proven), INSECURE (an NSEC3 opt-out span covers the name, RFC 5155
§9.2, or the NSEC3 parameters are beyond what is checked: unknown hash, more than
:data:`MAX_ITERATIONS` iterations, RFC 9276 §3.2) or BOGUS (the records do not prove it).

=================  =========================================================================
proof              NSEC (RFC 4035 §5.4)              NSEC3 (RFC 5155 §8)
=================  =========================================================================
nxdomain           qname covered, *.ce covered       closest encloser, next closer and *.ce
                                                     covered (opt-out on next closer: insecure)
nodata             NSEC at qname without the type    NSEC3 matching qname without the type;
                   (or an ENT, or *.ce without it)   or *.ce matching without it (wildcard)
ds (nodata)        NSEC at qname: NS without DS ->   matching: as NSEC; none: opt-out covering
                   insecure delegation; no NS ->     the next closer -> insecure delegation
                   not a zone cut
wildcard answer    qname covered                     next closer of the wildcard covered
=================  =========================================================================
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

from dns_suite.resolver.validate import BOGUS, EDE_NSEC_MISSING, INSECURE, NSEC, NSEC3, SECURE
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name, decode_name

NS, SOA, CNAME, DS, DNAME = 2, 6, 5, 43, 39
MAX_ITERATIONS = 150
"""RFC 9276 §3.2: NSEC3 records with more iterations make the answer insecure."""
WHY = (EDE_NSEC_MISSING, "the denial of existence is not proven")
NOT_A_CUT, DELEGATION = "not-a-cut", "insecure-delegation"


def _types(data: bytes, pos: int) -> frozenset[int]:
    """The type bitmap (RFC 4034 §4.1.2) starting at ``pos``."""
    found = set()
    while pos + 2 <= len(data):
        window, length = data[pos], data[pos + 1]
        bits = data[pos + 2:pos + 2 + length]
        for i, byte in enumerate(bits):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    found.add(window * 256 + i * 8 + bit)
        pos += 2 + length
    return frozenset(found)


@dataclass(frozen=True, slots=True)
class _Nsec:
    owner: Name
    next: Name
    types: frozenset[int]

    def covers(self, name: Name) -> bool:
        """owner < name < next in canonical order (the last NSEC wraps to the apex)."""
        o, n, x = self.owner.canonical_key(), self.next.canonical_key(), name.canonical_key()
        if o < n:
            return o < x < n
        return o < x or x < n  # the last NSEC of the zone: next is the apex


@dataclass(frozen=True, slots=True)
class _Nsec3:
    hash: bytes
    next: bytes
    types: frozenset[int]
    optout: bool
    zone: Name
    salt: bytes
    iterations: int

    def covers(self, digest: bytes) -> bool:
        if self.hash < self.next:
            return self.hash < digest < self.next
        return self.hash < digest or digest < self.next  # the last one wraps


def _nsecs(proof: tuple[RR, ...]) -> list[_Nsec]:
    out = []
    for rr in proof:
        if rr.rrtype == NSEC:
            try:
                nxt, pos = decode_name(rr.rdata, 0, len(rr.rdata), decompress=False)
            except Exception:  # noqa: BLE001 - a malformed record proves nothing
                continue
            out.append(_Nsec(rr.owner, nxt, _types(rr.rdata, pos)))
    return out


def _nsec3s(proof: tuple[RR, ...]) -> tuple[list[_Nsec3], bool]:
    """Usable NSEC3 records, and whether some were set aside as unusable (insecure)."""
    out, skipped = [], False
    for rr in proof:
        if rr.rrtype != NSEC3 or len(rr.rdata) < 5:
            continue
        d = rr.rdata
        alg, flags, iterations, salt_len = d[0], d[1], int.from_bytes(d[2:4], "big"), d[4]
        pos = 5 + salt_len
        if pos >= len(d):
            continue
        hash_len = d[pos]
        nxt = d[pos + 1:pos + 1 + hash_len]
        try:
            owner_hash = base64.b32hexdecode(rr.owner.labels[0].upper())
        except (ValueError, IndexError):
            continue
        if alg != 1 or flags & 0xFE or iterations > MAX_ITERATIONS:
            skipped = True
            continue
        out.append(_Nsec3(owner_hash, nxt, _types(d, pos + 1 + hash_len), bool(flags & 1),
                          rr.owner.parent(), d[5:5 + salt_len], iterations))
    return out, skipped


def nsec3_hash(name: Name, salt: bytes, iterations: int) -> bytes:
    """RFC 5155 §5: SHA-1 over the canonical name and the salt, iterated."""
    digest = hashlib.sha1(name.key + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


def _closest_encloser(qname: Name, nsecs: list[_Nsec]) -> Name:
    """The longest ancestor of qname shared with an NSEC's owner or next name (RFC 4035 §5.4)."""
    best = Name(b"\0")
    for nsec in nsecs:
        for other in (nsec.owner, nsec.next):
            common = _common(qname, other)
            if common.label_count() > best.label_count():
                best = common
    return best


def closest_encloser(qname: Name, proof: tuple[RR, ...]) -> Name:
    """The longest ancestor of ``qname`` shared with the owner or next name of an NSEC in
    ``proof`` (RFC 4035 §5.4; the root when there is none): where a wildcard would be."""
    return _closest_encloser(qname, _nsecs(proof))


def _common(a: Name, b: Name) -> Name:
    name = a
    while not b.is_subdomain(name):
        name = name.parent()
    return name


def _wildcard(ce: Name) -> Name:
    return Name(b"\x01*" + ce.wire, b"\x01*" + ce.key)


# --- NSEC --------------------------------------------------------------------------------------

def _nsec_nxdomain(qname: Name, nsecs: list[_Nsec]) -> bool:
    covering = [n for n in nsecs if n.covers(qname) and not _delegation_above(n, qname)]
    if not covering:
        return False
    star = _wildcard(_closest_encloser(qname, covering))
    return any(n.covers(star) for n in nsecs)


def _delegation_above(nsec: _Nsec, qname: Name) -> bool:
    """An NSEC of a delegation (NS, no SOA) or a DNAME proves nothing below its owner."""
    below = qname.key != nsec.owner.key and qname.is_subdomain(nsec.owner)
    return below and (DNAME in nsec.types or NS in nsec.types and SOA not in nsec.types)


def _nsec_nodata(qname: Name, qtype: int, nsecs: list[_Nsec]) -> bool:
    for n in nsecs:
        if n.owner.key == qname.key:
            if qtype in n.types or CNAME in n.types:
                return False
            if qtype != DS and NS in n.types and SOA not in n.types:
                return False  # the parent's NSEC at a delegation says nothing of the child
            return True
    for n in nsecs:  # an empty non-terminal: the next name is below qname
        if n.covers(qname) and n.next.is_subdomain(qname) and n.next.key != qname.key:
            return True
    covering = [n for n in nsecs if n.covers(qname)]  # wildcard NODATA (RFC 4035 §3.1.3.4)
    if covering:
        star = _wildcard(_closest_encloser(qname, covering))
        for n in nsecs:
            if n.owner.key == star.key and qtype not in n.types and CNAME not in n.types:
                return True
    return False


# --- NSEC3 -------------------------------------------------------------------------------------

class _Hashes:
    """NSEC3 lookups for one zone's parameters."""

    def __init__(self, records: list[_Nsec3]) -> None:
        self.records = records
        self.cache: dict[bytes, bytes] = {}

    def digest(self, name: Name, rec: _Nsec3) -> bytes:
        key = name.key + b"|" + rec.salt + rec.iterations.to_bytes(2, "big")
        if key not in self.cache:
            self.cache[key] = nsec3_hash(name, rec.salt, rec.iterations)
        return self.cache[key]

    def matching(self, name: Name) -> _Nsec3 | None:
        for rec in self.records:
            if name.is_subdomain(rec.zone) and rec.hash == self.digest(name, rec):
                return rec
        return None

    def covering(self, name: Name) -> _Nsec3 | None:
        for rec in self.records:
            if name.is_subdomain(rec.zone) and rec.covers(self.digest(name, rec)):
                return rec
        return None

    def closest_encloser(self, qname: Name) -> tuple[Name, Name, _Nsec3] | None:
        """(closest encloser, next closer, NSEC3 covering it) per RFC 5155 §8.3, or None."""
        name = qname
        while name.key != b"\0":
            parent = name.parent()
            match = self.matching(parent)
            if match is not None:
                if DNAME in match.types or NS in match.types and SOA not in match.types:
                    return None  # a delegation or DNAME cannot be a closest encloser
                cover = self.covering(name)
                return (parent, name, cover) if cover is not None else None
            name = parent
        return None


def _nsec3_nxdomain(qname: Name, h: _Hashes) -> str:
    found = h.closest_encloser(qname)
    if found is None:
        return BOGUS
    ce, _, cover = found
    if h.covering(_wildcard(ce)) is None:
        return BOGUS
    return INSECURE if cover.optout else SECURE


def _nsec3_nodata(qname: Name, qtype: int, h: _Hashes) -> str:
    match = h.matching(qname)
    if match is not None:
        if qtype in match.types or CNAME in match.types:
            return BOGUS
        if qtype != DS and NS in match.types and SOA not in match.types:
            return BOGUS
        return SECURE
    found = h.closest_encloser(qname)
    if found is None:
        return BOGUS
    ce, _, cover = found
    star = h.matching(_wildcard(ce))
    if star is not None and qtype not in star.types and CNAME not in star.types:
        return INSECURE if cover.optout else SECURE  # wildcard NODATA (§8.7; opt-out: §9.2)
    if cover.optout:
        return INSECURE  # §8.6, §9.2: an opt-out span (an unsigned delegation may be there): no AD
    return BOGUS


# --- the proofs --------------------------------------------------------------------------------

def _setup(proof: tuple[RR, ...]) -> tuple[list[_Nsec], _Hashes | None, bool]:
    nsecs = _nsecs(proof)
    nsec3, skipped = _nsec3s(proof)
    return nsecs, (_Hashes(nsec3) if nsec3 else None), skipped


def prove_nxdomain(qname: Name, proof: tuple[RR, ...]) -> str:
    """RFC 4035 §5.4 / RFC 5155 §8.4: ``qname`` does not exist."""
    nsecs, h, skipped = _setup(proof)
    if nsecs and _nsec_nxdomain(qname, nsecs):
        return SECURE
    if h is not None:
        status = _nsec3_nxdomain(qname, h)
        if status != BOGUS:
            return status
    return INSECURE if skipped else BOGUS


def prove_nodata(qname: Name, qtype: int, proof: tuple[RR, ...]) -> str:
    """RFC 4035 §5.4 / RFC 5155 §8.5-8.7: ``qname`` exists without ``qtype``."""
    nsecs, h, skipped = _setup(proof)
    if nsecs and _nsec_nodata(qname, qtype, nsecs):
        return SECURE
    if h is not None:
        status = _nsec3_nodata(qname, qtype, h)
        if status != BOGUS:
            return status
    return INSECURE if skipped else BOGUS


def prove_no_ds(qname: Name, proof: tuple[RR, ...]) -> tuple[str, str | None]:
    """No DS at ``qname`` (RFC 4035 §5.2, RFC 5155 §8.6): (status, what).

    ``what`` is DELEGATION (a zone cut without DS: the child is insecure) or NOT_A_CUT
    (``qname`` is inside the parent's zone: keep its keys), None when not proven.
    """
    nsecs, h, skipped = _setup(proof)
    for n in nsecs:
        if n.owner.key == qname.key:
            if DS in n.types or (SOA in n.types and qname.key != b"\0"):
                return BOGUS, None
            return SECURE, (DELEGATION if NS in n.types else NOT_A_CUT)
    if nsecs and _nsec_nodata(qname, DS, nsecs):
        return SECURE, NOT_A_CUT  # an empty non-terminal
    if h is not None:
        match = h.matching(qname)
        if match is not None:
            if DS in match.types or (SOA in match.types and qname.key != b"\0"):
                return BOGUS, None
            return SECURE, (DELEGATION if NS in match.types else NOT_A_CUT)
        found = h.closest_encloser(qname)
        if found is not None and found[2].optout:
            return INSECURE, DELEGATION
    if skipped:
        return INSECURE, DELEGATION
    return BOGUS, None


def prove_wildcard(qname: Name, wildcard: Name, proof: tuple[RR, ...]) -> str:
    """RFC 4035 §5.3.4 / RFC 5155 §8.8: no closer match than ``wildcard`` exists for ``qname``."""
    nsecs, h, skipped = _setup(proof)
    if any(n.covers(qname) for n in nsecs):
        return SECURE
    if h is not None:
        ce = wildcard.parent()
        name = qname
        while name.parent().key != ce.key and name.key != b"\0":
            name = name.parent()
        cover = h.covering(name)
        if cover is not None:
            return INSECURE if cover.optout else SECURE
    return INSECURE if skipped else BOGUS
