"""The DNSSEC index of a zone snapshot: NSEC owners in canonical order, the NSEC3 chain by hash.

Pure (RFC 4034 §4 and §6.1; RFC 5155 §5 and §7.2; RFC 4035 §3.1.3).

How it works: :func:`index` returns the :class:`ZoneIndex` kept in
``zone.dnssec``, making it on first use; a zone is never changed after it is
built, so one index serves the snapshot's whole life. Making it reads only
the apex: whether the zone is signed (an RRSIG over the DNSKEY RRset at the
apex, as NSD decides) and its NSEC3 parameters (the first NSEC3PARAM of
algorithm 1 and flags 0 whose hashed apex owns an NSEC3 with the SOA bit, as
NSD chooses). The two sorted lists are made on the first proof that needs
them, so an unsigned zone never pays for them:

- NSEC owners sorted by canonical order (labels compared right to left as
  lowercased octet strings, RFC 4034 §6.1); :meth:`ZoneIndex.nsec_at_or_before`
  is a bisection: the NSEC that matches a name or covers it.
- NSEC3 owners of the chain (NSEC3 RRs with the zone's parameters) sorted by
  the hash their first label holds in base32hex; :meth:`ZoneIndex.nsec3_find`
  gives the one that matches a hash or covers it (the last one covers the
  hashes below the first, RFC 5155 §7.2).

Hashes (RFC 5155 §5: SHA-1 over the canonical wire name then the salt,
iterated) are computed with hashlib and remembered per name, up to
:data:`HASH_CACHE` names.
"""

from __future__ import annotations

import binascii
import hashlib
from base64 import b32hexdecode, b32hexencode
from bisect import bisect_right

from dns_suite.zone.model import RRset, Zone

SOA, DNSKEY, RRSIG, NSEC, NSEC3, NSEC3PARAM = 6, 48, 46, 47, 50, 51
SHA1 = 1
HASH_CACHE = 100_000  # names whose NSEC3 hash is remembered; the memo is dropped when full


def nsec3_hash(key: bytes, salt: bytes, iterations: int) -> bytes:
    """The NSEC3 hash of a name (RFC 5155 §5), SHA-1 only.

    Args:
        key: the name's lowercased wire form (its canonical form, RFC 4034 §6.2).
        salt: the salt octets.
        iterations: additional iterations (0 hashes once).

    Returns:
        the 20-octet digest.
    """
    digest = hashlib.sha1(key + salt).digest()
    for _ in range(iterations):
        digest = hashlib.sha1(digest + salt).digest()
    return digest


def b32hex(digest: bytes) -> str:
    """A digest as an NSEC3 owner label: base32hex, lowercase, no padding (RFC 4648 §7)."""
    return b32hexencode(digest).decode("ascii").rstrip("=").lower()


def label_digest(label: bytes) -> bytes | None:
    """The digest an NSEC3 owner label spells in base32hex, or None when it spells none."""
    text = label.upper()
    try:
        return b32hexdecode(text + b"=" * (-len(text) % 8))
    except (binascii.Error, ValueError):
        return None


def canonical_key(key: bytes) -> tuple[bytes, ...]:
    """Sort key of a lowercased wire name in canonical order (RFC 4034 §6.1)."""
    labels = []
    i = 0
    while key[i]:
        n = key[i]
        labels.append(key[i + 1:i + 1 + n])
        i += n + 1
    labels.reverse()
    return tuple(labels)


def hashed_node(first: RRset | None) -> bool:
    """True for a node that owns only NSEC3 and RRSIG: an NSEC3 owner, not a name of the zone's
    namespace (RFC 5155 §7.2; NSD answers as if it did not exist)."""
    seen = False
    r = first
    while r is not None:
        if r.rrtype == NSEC3:
            seen = True
        elif r.rrtype != RRSIG:
            return False
        r = r.next
    return seen


class Nsec3Params:
    """The parameters of the zone's NSEC3 chain (RFC 5155 §3.1, §4.1)."""

    __slots__ = ("algorithm", "iterations", "salt")

    def __init__(self, algorithm: int, iterations: int, salt: bytes) -> None:
        self.algorithm = algorithm
        self.iterations = iterations
        self.salt = salt

    @classmethod
    def from_rdata(cls, rdata: bytes) -> Nsec3Params | None:
        """From NSEC3PARAM or NSEC3 rdata (both start algorithm, flags, iterations, salt)."""
        if len(rdata) < 5 or len(rdata) < 5 + rdata[4]:
            return None
        return cls(rdata[0], int.from_bytes(rdata[2:4], "big"), rdata[5:5 + rdata[4]])

    def matches(self, rdata: bytes) -> bool:
        """True when an NSEC3 rdata uses these parameters (its flags aside)."""
        other = Nsec3Params.from_rdata(rdata)
        return (other is not None and other.algorithm == self.algorithm
                and other.iterations == self.iterations and other.salt == self.salt)


class ZoneIndex:
    """What DNSSEC answers need of one zone snapshot (see the module docstring).

    Attributes:
        secure: the apex has an RRSIG over its DNSKEY RRset (NSD's ``zone_is_secure``).
        nsec3: the NSEC3 parameters in use, or None for an NSEC (or unsigned) zone.
    """

    __slots__ = ("zone", "secure", "nsec3", "_nsec", "_chain", "_memo")

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        okey = zone.origin.key
        sigs = zone.get(okey, RRSIG)
        self.secure = sigs is not None and any(rd[:2] == b"\x00\x30" for rd in sigs.rdatas)
        self.nsec3 = self._find_params()
        # each list pair is published as one attribute: the UDP thread and the TCP loop may
        # both make it, and must never see one list without the other
        self._nsec: tuple[list[tuple[bytes, ...]], list[bytes]] | None = None
        self._chain: tuple[list[bytes], list[bytes]] | None = None
        self._memo: dict[bytes, bytes] = {}

    def _find_params(self) -> Nsec3Params | None:
        zone = self.zone
        okey = zone.origin.key
        params = zone.get(okey, NSEC3PARAM)
        for rd in params.rdatas if params is not None else ():
            p = Nsec3Params.from_rdata(rd)
            if p is None or p.algorithm != SHA1 or rd[1] != 0:
                continue
            digest = nsec3_hash(okey, p.salt, p.iterations)
            owner = bytes((32,)) + b32hex(digest).encode() + okey
            chain = zone.get(owner, NSEC3)
            if chain is not None and any(p.matches(r) and _soa_bit(r) for r in chain.rdatas):
                return p
        return None

    # --- NSEC ------------------------------------------------------------------------------
    def nsec_at_or_before(self, key: bytes) -> bytes | None:
        """The owner key of the NSEC that matches ``key`` or covers it (the last NSEC owner at
        or before it in canonical order), or None when no NSEC owner is at or before it."""
        nsec = self._nsec
        if nsec is None:
            pairs = sorted((canonical_key(k), k) for k, first in self.zone.nodes.items()
                           if _has(first, NSEC))
            nsec = self._nsec = ([c for c, _ in pairs], [k for _, k in pairs])
        i = bisect_right(nsec[0], canonical_key(key))
        return nsec[1][i - 1] if i else None

    # --- NSEC3 -----------------------------------------------------------------------------
    def hash(self, key: bytes) -> bytes:
        """The NSEC3 hash of the name with ``key`` under the zone's parameters."""
        digest = self._memo.get(key)
        if digest is None:
            p = self.nsec3
            digest = nsec3_hash(key, p.salt, p.iterations)
            if len(self._memo) >= HASH_CACHE:
                self._memo.clear()
            self._memo[key] = digest
        return digest

    def nsec3_find(self, digest: bytes) -> tuple[bytes | None, bool]:
        """``(owner key, exact)``: the chain's NSEC3 that matches ``digest`` (exact) or covers it
        (the last one below it, wrapping to the last of the chain); (None, False) when the chain
        is empty."""
        chain = self._chain
        if chain is None:
            chain = self._chain = self._build_chain()
        hashes, owners = chain
        if not hashes:
            return None, False
        i = bisect_right(hashes, digest)
        return owners[i - 1], i > 0 and hashes[i - 1] == digest

    def _build_chain(self) -> tuple[list[bytes], list[bytes]]:
        p, okey = self.nsec3, self.zone.origin.key
        pairs = []
        for key, first in self.zone.nodes.items():
            if key[0] == 0 or key[key[0] + 1:] != okey:
                continue  # NSEC3 owners are one label below the apex (RFC 5155 §3)
            r = _find(first, NSEC3)
            if r is None or not any(p.matches(rd) for rd in r.rdatas):
                continue
            digest = label_digest(key[1:key[0] + 1])
            if digest is not None:
                pairs.append((digest, key))
        pairs.sort()
        return [d for d, _ in pairs], [k for _, k in pairs]


def index(zone: Zone) -> ZoneIndex:
    """The zone's :class:`ZoneIndex`, made on first use and kept in ``zone.dnssec``."""
    idx = zone.dnssec
    if idx is None:
        idx = zone.dnssec = ZoneIndex(zone)
    return idx


def _find(first: RRset | None, rrtype: int) -> RRset | None:
    r = first
    while r is not None and r.rrtype != rrtype:
        r = r.next
    return r


def _has(first: RRset | None, rrtype: int) -> bool:
    return _find(first, rrtype) is not None


def _soa_bit(rdata: bytes) -> bool:
    """True when an NSEC3 rdata's type bitmap has SOA (window 0, bit 6; RFC 5155 §3.2)."""
    salt_end = 5 + rdata[4]
    if len(rdata) <= salt_end:
        return False
    bitmap = salt_end + 1 + rdata[salt_end]
    return len(rdata) >= bitmap + 3 and rdata[bitmap] == 0 and bool(rdata[bitmap + 2] & 0x02)
