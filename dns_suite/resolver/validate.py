"""DNSSEC signature checks on RRsets (pure; RFC 4033, RFC 4034, RFC 4035 §5, RFC 6840).

How it works: the records stay in this package's wire form (:class:`~dns_suite.wire.message.RR`);
each check converts what it needs to dnspython objects and lets ``dns.dnssec`` do the
signature mathematics. A check returns a :class:`Verdict`:

=========  ====================================================================
status     meaning
=========  ====================================================================
SECURE     a signature by a key of the zone verifies, within its validity window
INSECURE   nothing to check with: unsupported algorithms or digests only (RFC 4035
           §5.2, RFC 6840 §5.2), or the zone is provably unsigned
BOGUS      signed data that does not verify; ``why`` is the EDE (RFC 8914)
UNCHECKED  not validated (CD, no anchor yet looked at); only in the cache
=========  ====================================================================

:func:`check_rrset` verifies an RRset with a zone's DNSKEY RRset (RFC 4035 §5.3), reports
the TTL cap (the signature's original TTL and its remaining validity, §5.3.3) and whether
the RRset was synthesised from a wildcard (§5.3.4: the caller must then see the proof that
the name itself does not exist). :func:`trusted_keys` checks a DNSKEY RRset against DS
records or trusted DNSKEYs (§5.2). Time is the wall clock, passed in (seconds since the
epoch).
"""

from __future__ import annotations

from dataclasses import dataclass

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataset
import dns.rrset

from dns_suite.resolver import dsa
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name

from dns_suite.resolver.security import BOGUS, DNSKEY, DS, INSECURE, NSEC, NSEC3, RRSIG, SECURE, UNCHECKED

__all__ = ["BOGUS", "DS", "INSECURE", "NSEC", "NSEC3", "SECURE", "UNCHECKED", "Verdict", "check_rrset", "trusted_keys"]

# RFC 8914 info codes
EDE_UNSUPPORTED_ALGORITHM, EDE_UNSUPPORTED_DIGEST = 1, 2
EDE_BOGUS, EDE_EXPIRED, EDE_NOT_YET_VALID, EDE_DNSKEY_MISSING, EDE_RRSIGS_MISSING = 6, 7, 8, 9, 10
EDE_NO_ZONE_KEY, EDE_NSEC_MISSING = 11, 12

ALGORITHMS = frozenset({3, 5, 6, 7, 8, 10, 13, 14, 15, 16})
"""DNSKEY algorithms validated: DSA (3, 6; as dnspython does), RSA/SHA-1 (5, 7), RSA/SHA-256 (8),
RSA/SHA-512 (10), ECDSA P-256/P-384 (13, 14), Ed25519 (15), Ed448 (16); others make a zone insecure."""
DIGESTS = frozenset({1, 2, 4})
"""DS digest types used: SHA-1, SHA-256, SHA-384 (RFC 4509, RFC 6605)."""

_POLICY = dns.dnssec.SimpleDeny(set(), set(), set(), {0, 3})


@dataclass(frozen=True, slots=True)
class Verdict:
    """The result of a check.

    Attributes:
        status: SECURE, INSECURE or BOGUS.
        why: (EDE info code, text) when BOGUS (and sometimes when INSECURE).
        ttl: the largest TTL the data may be cached with (seconds), None: no cap.
        wildcard: the wildcard owner the RRset was expanded from (RFC 4035 §5.3.4), or None.
        signer: the zone whose key signed it.
    """

    status: str
    why: tuple[int, str] | None = None
    ttl: int | None = None
    wildcard: Name | None = None
    signer: Name | None = None


def bogus(code: int, text: str) -> Verdict:
    """A BOGUS verdict with its EDE."""
    return Verdict(BOGUS, (code, text))


def to_dns_name(name: Name) -> dns.name.Name:
    """Our :class:`Name` as a dnspython name."""
    return dns.name.from_wire(name.wire, 0)[0]


def rdata_of(rr: RR):
    """The dnspython rdata of ``rr``."""
    return dns.rdata.from_wire(rr.rrclass, rr.rrtype, rr.rdata, 0, len(rr.rdata))


def to_rrset(rrs: tuple[RR, ...] | list[RR]) -> dns.rrset.RRset:
    """Records sharing owner and type as a dnspython RRset (smallest TTL)."""
    first = rrs[0]
    rrset = dns.rrset.RRset(to_dns_name(first.owner), first.rrclass, first.rrtype)
    for rr in rrs:
        rrset.add(rdata_of(rr), min(r.ttl for r in rrs))
    return rrset


def covered_type(sig: RR) -> int:
    """The type an RRSIG covers."""
    return int.from_bytes(sig.rdata[:2], "big")


def signer_of(sig: RR) -> Name | None:
    """The signer name field of an RRSIG, or None when the rdata is malformed."""
    try:
        return Name(dns.name.from_wire(sig.rdata, 18)[0].to_wire())
    except (dns.exception.DNSException, IndexError, ValueError):
        return None


def _serial_le(a: int, b: int) -> bool:
    """a <= b in RFC 1982 serial arithmetic (RRSIG times, RFC 4034 §3.1.5)."""
    return (b - a) % (1 << 32) < (1 << 31)


def zone_keys(dnskeys: tuple[RR, ...] | list[RR]) -> list:
    """The DNSKEY rdata usable to verify RRSIGs: protocol 3, Zone Key flag (RFC 4034 §2.1)."""
    keys = []
    for rr in dnskeys:
        if rr.rrtype != DNSKEY:
            continue
        try:
            key = rdata_of(rr)
        except dns.exception.DNSException:
            continue
        if key.protocol == 3 and key.flags & 0x0100:
            keys.append(key)
    return keys


def supported_keys(keys: list) -> list:
    """The keys whose algorithm this validator implements."""
    return [k for k in keys if k.algorithm in ALGORITHMS]


def check_rrset(rrs: tuple[RR, ...], sigs: tuple[RR, ...], keys: list, zone: Name, now: int) -> Verdict:
    """Verify ``rrs`` with the RRSIGs in ``sigs`` made by ``zone``'s ``keys`` (RFC 4035 §5.3).

    Args:
        rrs: one RRset (owner, type, class shared).
        sigs: RRSIG records at the owner (those covering other types are ignored).
        keys: the zone's trusted DNSKEY rdata (see :func:`zone_keys`).
        zone: the signer every usable RRSIG must name.
        now: wall clock, seconds since the epoch.

    Returns:
        SECURE (with the TTL cap and the wildcard, if any), BOGUS with the reason, or INSECURE
        when no RRSIG uses an algorithm of the zone's keys that this validator implements.
    """
    owner, rrtype = rrs[0].owner, rrs[0].rrtype
    mine = [s for s in sigs if s.rrtype == RRSIG and len(s.rdata) > 18 and covered_type(s) == rrtype]
    if not mine:
        return bogus(EDE_RRSIGS_MISSING, f"no signature over {owner} type {rrtype}")
    usable_algorithms = {k.algorithm for k in supported_keys(keys)}
    if not usable_algorithms and keys:
        return Verdict(INSECURE, (EDE_UNSUPPORTED_ALGORITHM, f"no supported key algorithm in {zone}"))
    rrset = None
    reasons = []
    for sig in mine:
        try:
            rdata = rdata_of(sig)
        except dns.exception.DNSException:
            reasons.append((EDE_BOGUS, "malformed RRSIG"))
            continue
        if Name(rdata.signer.to_wire()).key != zone.key:
            reasons.append((EDE_BOGUS, f"RRSIG by {rdata.signer}, not {zone}"))
            continue
        if rdata.algorithm not in usable_algorithms:
            reasons.append((EDE_DNSKEY_MISSING, f"no {zone} key of algorithm {rdata.algorithm}"))
            continue
        labels = owner.label_count() - (1 if owner.labels[:1] == (b"*",) else 0)
        if rdata.labels > labels:
            reasons.append((EDE_BOGUS, "RRSIG labels field above the owner's"))
            continue
        if not _serial_le(rdata.inception, now % (1 << 32)):
            reasons.append((EDE_NOT_YET_VALID, f"signature over {owner} not yet valid"))
            continue
        if not _serial_le(now % (1 << 32), rdata.expiration):
            reasons.append((EDE_EXPIRED, f"signature over {owner} expired"))
            continue
        candidates = [k for k in keys if k.algorithm == rdata.algorithm
                      and dns.dnssec.key_id(k) == rdata.key_tag]
        if not candidates:
            reasons.append((EDE_DNSKEY_MISSING, f"no {zone} key with tag {rdata.key_tag}"))
            continue
        if rrset is None:
            rrset = to_rrset(rrs)
        if _verifies(rrset, rdata, candidates, now):
            return _secure(rrs, rdata, owner, labels, zone, now)
        reasons.append((EDE_BOGUS, f"signature over {owner} type {rrtype} does not verify"))
    return Verdict(BOGUS, _worst(reasons))


def _verifies(rrset: dns.rrset.RRset, rrsig, candidates: list, now: int) -> bool:
    keyset = dns.rdataset.Rdataset(rrsig.rdclass, DNSKEY)
    for key in candidates:
        keyset.add(key)
    signer = rrsig.signer
    when = rrsig.inception if rrsig.inception <= rrsig.expiration else now  # window checked already
    try:
        dns.dnssec.validate_rrsig(rrset, rrsig, {signer: keyset}, now=when, policy=_POLICY)
    except (dns.dnssec.ValidationFailure, dns.dnssec.UnsupportedAlgorithm, dns.exception.DNSException,
            ValueError, TypeError):
        return rrsig.algorithm in _DSA and _dsa_verifies(rrset, rrsig, candidates)
    return True


_DSA = (3, 6)


def _dsa_verifies(rrset: dns.rrset.RRset, rrsig, candidates: list) -> bool:
    """DSA keys ``cryptography`` refuses (512 bits) or DER signatures: see dsa.py."""
    make_data = getattr(dns.dnssec, "_make_rrsig_signature_data", None)
    if make_data is None:
        return False
    data = make_data(rrset, rrsig, None)
    return any(dsa.verify(data, rrsig.signature, key.key) for key in candidates)


def _secure(rrs: tuple[RR, ...], rrsig, owner: Name, labels: int, zone: Name, now: int) -> Verdict:
    left = (rrsig.expiration - now % (1 << 32)) % (1 << 32)
    ttl = min(rrsig.original_ttl, left)
    wildcard = None
    if rrsig.labels < labels:  # RFC 4035 §5.3.4: expanded from *.<the rightmost `labels` labels>
        wire = owner.wire
        for _ in range(owner.label_count() - rrsig.labels):
            wire = wire[wire[0] + 1:]
        wildcard = Name(b"\x01*" + wire)
    return Verdict(SECURE, ttl=ttl, wildcard=wildcard, signer=zone)


_PRIORITY = (EDE_EXPIRED, EDE_NOT_YET_VALID, EDE_BOGUS, EDE_DNSKEY_MISSING)


def _worst(reasons: list[tuple[int, str]]) -> tuple[int, str]:
    """The reason to report when every signature failed: a time problem first."""
    for code in _PRIORITY:
        for reason in reasons:
            if reason[0] == code:
                return reason
    return reasons[0] if reasons else (EDE_RRSIGS_MISSING, "no usable signature")


def ds_usable(ds: list) -> list:
    """The DS rdata with a digest type and algorithm this validator implements; SHA-1 ones are
    ignored when stronger digests are present (RFC 4509 §3)."""
    usable = [d for d in ds if d.digest_type in DIGESTS and d.algorithm in ALGORITHMS]
    if any(d.digest_type != 1 for d in usable):
        usable = [d for d in usable if d.digest_type != 1]
    return usable


def unusable_anchors(anchors) -> list[str]:
    """Names (text) of the :class:`~dns_suite.resolver.trust.TrustAnchors` whose DS records all
    have a digest type or algorithm not implemented here and whose DNSKEYs none an algorithm
    implemented: such a zone is insecure, not bogus (RFC 4035 §5.2), which from a typo in an
    anchor would silently turn validation off below it."""
    return [anchor.name.to_text() for anchor in anchors.anchors.values()
            if not ds_usable(list(anchor.ds)) and not supported_keys(list(anchor.dnskey))]


def _matches_ds(key, owner: dns.name.Name, ds) -> bool:
    if key.algorithm != ds.algorithm or dns.dnssec.key_id(key) != ds.key_tag:
        return False
    try:
        made = dns.dnssec.make_ds(owner, key, ds.digest_type, policy=_POLICY, validating=True)
    except (dns.dnssec.UnsupportedAlgorithm, dns.dnssec.DeniedByPolicy, dns.exception.DNSException):
        return False
    return made.digest == ds.digest


def trusted_keys(zone: Name, dnskeys: tuple[RR, ...], sigs: tuple[RR, ...], ds: list, anchors: list,
                 now: int) -> tuple[Verdict, list]:
    """Check a zone's DNSKEY RRset against its DS records or trusted keys (RFC 4035 §5.2).

    Args:
        zone: the zone (the DNSKEY owner).
        dnskeys: its DNSKEY RRset as received (may be empty: DNSKEY missing).
        sigs: the RRSIGs at the apex.
        ds: DS rdata (dnspython) for the zone: from the parent, validated, or an anchor.
        anchors: DNSKEY rdata trusted as they are (trust anchors).
        now: wall clock, seconds since the epoch.

    Returns:
        (verdict, keys): SECURE and the zone's usable keys when a key matching a DS (or an
        anchor) signs the DNSKEY RRset; INSECURE when no DS/anchor has a supported algorithm
        and digest (RFC 4035 §5.2); else BOGUS with the reason.
    """
    usable_ds = ds_usable(ds)
    usable_anchors = [k for k in anchors if k.algorithm in ALGORITHMS]
    if not usable_ds and not usable_anchors:
        code = EDE_UNSUPPORTED_DIGEST if any(d.digest_type not in DIGESTS for d in ds) else EDE_UNSUPPORTED_ALGORITHM
        return Verdict(INSECURE, (code, f"no supported DS or key for {zone}")), []
    if not dnskeys:
        return bogus(EDE_DNSKEY_MISSING, f"no DNSKEY for {zone}"), []
    owner = to_dns_name(zone)
    keys = zone_keys(dnskeys)
    entry = [k for k in keys if any(_matches_ds(k, owner, d) for d in usable_ds)
             or any(k.to_digestable() == a.to_digestable() for a in usable_anchors)]
    if not entry:
        return bogus(EDE_DNSKEY_MISSING, f"no DNSKEY of {zone} matches its DS"), []
    reasons = []
    for key in entry:
        verdict = check_rrset(dnskeys, sigs, [key], zone, now)
        if verdict.status == SECURE:
            return verdict, keys
        reasons.append(verdict.why)
    return Verdict(BOGUS, _worst([r for r in reasons if r])), []
