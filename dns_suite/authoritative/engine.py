"""The answer engine: a question and the served zones -> the sections of a reply.

Pure (RFC 1034 §4.3.2 over all served zones; the closest enclosing zone wins).

How it works: :func:`resolve` looks the qname up in its zone, walking down
from the apex one label at a time. On the way it may meet a zone cut (a
referral: NS in authority, AA clear, glue in additional), a DNAME above the
qname (RFC 6672: the DNAME and a synthesized CNAME, then the new name is
looked up), or a name that does not exist (NXDOMAIN, or a wildcard answer
synthesized from the ``*`` child of the closest encloser, RFC 4592). At the
qname itself it answers the RRset, follows a CNAME (each name once: a loop
ends the chain with what was found so far and NOERROR), or gives NODATA.
Negative answers carry the SOA with TTL min(SOA TTL, MINIMUM) (RFC 2308 §3).
The rcode is the one at the end of the chain (RFC 6604). Responses are
minimal: no NS in authority on positive answers.

ANY (RFC 8482 §4.1): one RRset of the node is answered, the one with the
lowest type code (a CNAME if there is one; RRSIG, NSEC and NSEC3 only when
the node has nothing else).

DNSSEC (RFC 4035 §3.1): with DO, each step also asks ``dnssec.py`` for the
RRSIGs of what it adds and for the denial proofs (NSEC/NSEC3, DS at
referrals). With or without DO, RRSIG, NSEC, DS and DNSKEY are answered like
any other type; a name owning only NSEC3 records does not exist, and qtype
NSEC3 gets NODATA, as NSD answers (NSEC3 RRs are reached only as proofs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from dns_suite.authoritative import dnssec
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.wire.message import RR
from dns_suite.wire.name import Name
from dns_suite.wire.rdata import rdata_names
from dns_suite.zone.model import RRset, Zone
from dns_suite.zone.nsec import hashed_node

A, NS, CNAME, SOA, MX, AAAA, SRV, DNAME, DS, ANY = 1, 2, 5, 6, 15, 28, 33, 39, 43, 255
RRSIG, DNSKEY, NSEC3 = 46, 48, 50
NOERROR, SERVFAIL, NXDOMAIN, YXDOMAIN, REFUSED = 0, 2, 3, 6, 5
MAX_CHAIN = 16
_ADDITIONAL_TYPES = {MX: True, SRV: True, NS: True}  # types whose targets get addresses


@dataclass(slots=True)
class Result:
    """The sections of an answer, before encoding.

    Attributes:
        rcode: NOERROR, NXDOMAIN, YXDOMAIN or REFUSED.
        aa: authoritative answer.
        answer, authority: RRs in order.
        glue: required additional RRs (in-domain glue of a referral).
        extra: optional additional RRs (target addresses, sibling glue).
        do: DNSSEC OK: add RRSIGs and denial proofs (RFC 4035 §3.1).
        sec: DO, or a qtype (RRSIG, NSEC3) that DNSSEC rules answer.

    ``do`` and ``sec`` are class attributes (true in the subclasses :func:`resolve` picks), so
    the plain path pays nothing for them.
    """

    rcode: int = NOERROR
    aa: bool = False
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    glue: list[RR] = field(default_factory=list)
    extra: list[RR] = field(default_factory=list)
    do: ClassVar[bool] = False
    sec: ClassVar[bool] = False


class _QtypeResult(Result):
    __slots__ = ()
    sec = True


class _DoResult(Result):
    __slots__ = ()
    sec = True
    do = True


def _rrs(rrset: RRset, owner: Name | None = None, rrclass: int = 1) -> list[RR]:
    name = owner if owner is not None else rrset.owner
    return [RR(owner=name, rrtype=rrset.rrtype, rrclass=rrclass, ttl=rrset.ttl, rdata=rd)
            for rd in rrset.rdatas]


def resolve(zones: ZoneSet, qname: Name, qtype: int, dnssec: bool = False) -> Result:
    """Answer ``qname``/``qtype`` (class IN) from ``zones``.

    Args:
        dnssec: the query's DO bit: add signatures and proofs from signed zones.

    Returns:
        a :class:`Result`; REFUSED when no served zone encloses ``qname``.
    """
    if dnssec:
        res: Result = _DoResult()
    else:
        res = _QtypeResult() if qtype == RRSIG or qtype == NSEC3 else Result()
    zone = zones.find(qname.key)
    if zone is None:
        res.rcode = REFUSED
        return res
    if zone.origin.key in zones.expired:  # a secondary past EXPIRE (RFC 1034 §4.3.5)
        res.rcode = SERVFAIL
        return res
    if qtype == DS and qname.key == zone.origin.key:
        zone = zones.parent_of(zone) or zone  # DS lives on the parent side
    res.aa = True
    seen = {qname.key}
    name: Name | None = qname
    for depth in range(MAX_CHAIN):
        name = _lookup(zones, zone, name, qtype, res, depth == 0)
        if name is None or name.key in seen:
            break
        seen.add(name.key)
        zone = zones.find(name.key)
        if zone is None:
            break
    _add_target_addresses(zones, res)
    return res


def _lookup(zones: ZoneSet, zone: Zone, name: Name, qtype: int, res: Result, first: bool) -> Name | None:
    """One step of the chain; returns the next name to chase, or None."""
    key, okey = name.key, zone.origin.key
    starts = []
    p = 0
    while len(key) - p > len(okey):
        starts.append(p)
        p += key[p] + 1
    encloser = okey
    for p in reversed(starts):
        k = key[p:]
        if k not in zone.nodes and k not in zone.ents:
            return _missing(zone, name, encloser, qtype, res)
        if k in zone.cuts and not (p == 0 and qtype == DS):
            _referral(zone, k, res, first)
            return None
        if p and k in zone.dnames:
            return _dname(zone, name, p, k, qtype, res)
        encloser = k
    return _at_node(zone, name, key, qtype, res, owner=None)


def _at_node(zone: Zone, name: Name, key: bytes, qtype: int, res: Result, owner: Name | None) -> Name | None:
    """Answer at an existing node (``owner`` set when synthesizing from a wildcard)."""
    first = zone.nodes.get(key)
    if first is None:  # an empty non-terminal: NODATA
        if res.do:
            return _nodata(zone, key, qtype, res)
        _negative(zone, res, NOERROR)
        return None
    cname = zone.get(key, CNAME)
    if qtype == ANY:
        if cname is None and hashed_node(first):
            return _missing(zone, name, key[key[0] + 1:], qtype, res)
        rrset = cname or min(first.chain(), key=_any_order)
        return _data(zone, name, key, qtype, rrset, owner, res)
    rrset = zone.get(key, qtype)
    if rrset is not None:
        if res.sec:
            return _data(zone, name, key, qtype, rrset, owner, res)
        res.answer += _rrs(rrset, owner, zone.rrclass)
        return None
    if cname is not None and qtype != NSEC3:  # NSD: qtype NSEC3 gets NODATA, never a CNAME
        res.answer += _rrs(cname, owner, zone.rrclass)
        if res.do:
            dnssec.sign(zone, key, CNAME, owner, res.answer)
        return Name(cname.rdatas[0])
    t = first.rrtype
    if (t == RRSIG or t == NSEC3) and hashed_node(first):  # an NSEC3 owner: no name (NSD)
        return _missing(zone, name, key[key[0] + 1:], qtype, res)
    if res.do:
        return _nodata(zone, key, qtype, res)
    _negative(zone, res, NOERROR)
    return None


def _any_order(rrset: RRset) -> int:
    """ANY picks the lowest type code, RRSIG, NSEC and NSEC3 last."""
    t = rrset.rrtype
    return t + 65536 if RRSIG <= t <= NSEC3 and t != DNSKEY else t


def _data(zone: Zone, name: Name, key: bytes, qtype: int, rrset: RRset, owner: Name | None,
          res: Result) -> None:
    """An RRset answered at a node where DNSSEC matters: with DO its RRSIGs follow; an RRSIG
    RRset keeps each RR's TTL; NSEC3 owners do not exist and NSEC3 is never answered."""
    t = rrset.rrtype
    if (t == NSEC3 or t == RRSIG) and hashed_node(zone.nodes[key]):
        return _missing(zone, name, key[key[0] + 1:], qtype, res)
    if t == NSEC3:
        return _nodata(zone, key, qtype, res)
    if t == RRSIG:
        res.answer += dnssec.rrsig_rrs(rrset, owner, zone.rrclass)
        return None
    res.answer += _rrs(rrset, owner, zone.rrclass)
    if res.do:
        dnssec.sign(zone, key, t, owner, res.answer)
    return None


def _nodata(zone: Zone, key: bytes, qtype: int, res: Result) -> None:
    """NODATA at ``key`` (a wildcard's node when synthesized): the SOA and, with DO, the proof."""
    at = len(res.authority)
    _negative(zone, res, NOERROR)
    if res.do:
        dnssec.nodata(zone, res, key, qtype, at)
    return None


def _missing(zone: Zone, name: Name, encloser: bytes, qtype: int, res: Result) -> Name | None:
    """The name does not exist: a wildcard below the closest encloser, or NXDOMAIN."""
    source = b"\x01*" + encloser
    if source in zone.nodes or source in zone.ents:
        if res.do:
            dnssec.wildcard(zone, res, name, encloser)
        return _at_node(zone, name, source, qtype, res, owner=name)
    if res.do:
        dnssec.nxdomain(zone, res, name, encloser)
    _negative(zone, res, NXDOMAIN)
    return None


def _negative(zone: Zone, res: Result, rcode: int) -> None:
    """NXDOMAIN or NODATA: the SOA in authority, TTL min(SOA TTL, MINIMUM) (RFC 2308 §3)."""
    soa = zone.soa
    rdata = soa.rdatas[0]
    ttl = min(soa.ttl, int.from_bytes(rdata[-4:], "big"))
    res.rcode = rcode
    res.authority.append(RR(owner=zone.origin, rrtype=SOA, rrclass=zone.rrclass, ttl=ttl, rdata=rdata))
    if res.do:
        dnssec.sign(zone, zone.origin.key, SOA, None, res.authority, ttl)


def _dname(zone: Zone, name: Name, p: int, k: bytes, qtype: int, res: Result) -> Name | None:
    """DNAME substitution (RFC 6672 §2.2-2.3); returns the new name unless qtype is CNAME."""
    dname = zone.get(k, DNAME)
    res.answer += _rrs(dname, None, zone.rrclass)
    if res.do:
        dnssec.sign(zone, k, DNAME, None, res.answer)  # the synthesized CNAME is not signed
    # the copied labels lowercased, as NSD and Knot do: the reply then depends only on
    # what the pre-rendered table's key holds (the lowercased qname)
    target_wire = name.key[:p] + dname.rdatas[0]
    if len(target_wire) > 255:
        res.rcode = YXDOMAIN
        return None
    res.answer.append(RR(owner=name, rrtype=CNAME, rrclass=zone.rrclass, ttl=dname.ttl,
                         rdata=target_wire))
    return None if qtype == CNAME else Name(target_wire)


def _referral(zone: Zone, cut: bytes, res: Result, first: bool) -> None:
    """A referral to the child at ``cut``: NS in authority, glue in additional (RFC 9471)."""
    ns = zone.get(cut, NS)
    if first:
        res.aa = False
    res.authority += _rrs(ns, None, zone.rrclass)
    for rd in ns.rdatas:
        target = Name(rd)
        tkey = target.key
        in_domain = tkey.endswith(cut) and target.is_subdomain(Name(cut, cut))
        addresses = [r for t in (A, AAAA) if (r := zone.get(tkey, t)) is not None]
        for rrset in addresses:
            (res.glue if in_domain else res.extra).extend(_rrs(rrset, None, zone.rrclass))
            if res.do and not in_domain:
                dnssec.sign(zone, tkey, rrset.rrtype, None, res.extra)
    if res.do:
        dnssec.referral(zone, res, cut)


def _add_target_addresses(zones: ZoneSet, res: Result) -> None:
    """Addresses of MX, SRV and NS targets in the answer, from served data (optional)."""
    have = {(rr.owner.key, rr.rrtype) for rr in res.glue + res.extra}
    for rr in res.answer:
        if rr.rrtype not in _ADDITIONAL_TYPES:
            continue
        for _, target in rdata_names(rr.rrtype, rr.rdata):
            zone = zones.find(target.key)
            if zone is None or _occluded(zone, target.key):
                continue
            for t in (A, AAAA):
                rrset = zone.get(target.key, t)
                if rrset is not None and (target.key, t) not in have:
                    have.add((target.key, t))
                    res.extra += _rrs(rrset, None, zone.rrclass)
                    if res.do:
                        dnssec.sign(zone, target.key, t, None, res.extra)


def _occluded(zone: Zone, key: bytes) -> bool:
    """True when ``key`` is at or below a zone cut or below a DNAME (not authoritative)."""
    okey = zone.origin.key
    k = key
    while len(k) > len(okey):
        if k in zone.cuts or (k != key and k in zone.dnames):
            return True
        k = k[k[0] + 1:]
    return False
