"""An upstream reply, scrubbed and classified (pure; RFC 5452 §6, RFC 2181 §5.4.1, RFC 1034 §5.3.3).

How it works: :func:`classify` groups each section into RRsets and keeps only what the
queried server may speak for: records at or below its zone (the bailiwick). From the
answer section it keeps the chain that starts at the qname (CNAME and DNAME links, then
the RRset of the qtype); from the authority section a SOA or NS above the chain's end;
from the additional section only addresses of the NS names it kept. Then it tells what
the reply is, as Unbound's iterator does:

==========  ===========================================================================
kind        when
==========  ===========================================================================
ANSWER      the chain ends in an RRset of the qtype (or the qtype is ANY)
CNAME       the chain ends at a name whose data this server may not give (other zone),
            or without data (a NODATA for the target is asked again, as Unbound does)
NXDOMAIN    rcode NXDOMAIN (for the chain's end)
NODATA      NOERROR, no data; a SOA, an AA reply, or an empty non-recursive reply
REFERRAL    NS for a zone below the server's zone and at or above the qname, no SOA
LAME        upward or sideways referral, NS of its own zone without AA, recursive empty
YXDOMAIN    rcode YXDOMAIN with a DNAME above the qname: the substitution is too long
THROWAWAY   any other rcode (SERVFAIL, REFUSED, NOTIMP, FORMERR, ...)
==========  ===========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message
from dns_suite.wire.name import Name, decode_name
from dns_suite.wire.types import Flag

_AA, _RA = int(Flag.AA), int(Flag.RA)  # plain ints: an IntFlag's & builds an enum member

A, NS, CNAME, SOA, AAAA, DNAME, ANY = 1, 2, 5, 6, 28, 39, 255
DS, RRSIG, NSEC, NSEC3 = 43, 46, 47, 50
NOERROR, NXDOMAIN_RCODE = 0, 3
ANSWER, CNAME_KIND, NXDOMAIN, NODATA, REFERRAL, LAME, THROWAWAY, YXDOMAIN = (
    "answer", "cname", "nxdomain", "nodata", "referral", "lame", "throwaway", "yxdomain")
YXDOMAIN_RCODE = 6
MAX_LINKS = 16

RRset = tuple[RR, ...]


@dataclass(slots=True)
class Classified:
    """A scrubbed reply.

    Attributes:
        kind: one of the module's kinds.
        chain: answer RRsets in chain order (CNAME/DNAME links, then the data).
        end: the name at the end of the chain (the qname when there are no links).
        soa: the SOA RR of a negative answer (empty when the reply had none), then the
            zone's NS RRset when the reply carried it.
        cut: the zone a referral points to.
        ns: the NS RRset of a referral, or the zone's own NS from an authoritative answer.
        addresses: A/AAAA RRsets of the NS names, in bailiwick.
        aa: the reply had AA set.
        sigs: RRSIGs in the answer and authority sections, in bailiwick, by (owner key,
            type covered) (RFC 4035 §3.1.1).
        proof: the authority section's NSEC/NSEC3 records in bailiwick, with their RRSIGs.
        ds: the DS RRset of a referral (RFC 4035 §3.1.4).
        sec: what validation said, by (owner key, type) of each RRset kept (and
            (end key, -1) for a negative answer); filled in by dnssec.py.
    """

    kind: str
    aa: bool = False
    chain: list[RRset] = field(default_factory=list)
    end: Name | None = None
    soa: RRset = ()
    cut: Name | None = None
    ns: RRset = ()
    addresses: list[RRset] = field(default_factory=list)
    sigs: dict[tuple[bytes, int], RRset] = field(default_factory=dict)
    proof: RRset = ()
    ds: RRset = ()
    sec: dict = field(default_factory=dict)


def target(rr: RR) -> Name:
    """The name in the rdata of a CNAME, DNAME or NS record.

    Raises:
        WireError: the rdata is not a name.
    """
    return decode_name(rr.rdata, 0, len(rr.rdata), decompress=False)[0]


def _group(rrs: tuple[RR, ...], zone: Name) -> dict[tuple[bytes, int], RRset]:
    groups: dict[tuple[bytes, int], list[RR]] = {}
    for rr in rrs:
        if rr.rrclass == 1 and rr.owner.is_subdomain(zone):
            groups.setdefault((rr.owner.key, rr.rrtype), []).append(rr)
    return {k: tuple(v) for k, v in groups.items()}


def dname_substitute(name: Name, dname: RR) -> Name | None:
    """RFC 6672 §2.2: ``name`` with the DNAME owner replaced by its target (None: too long)."""
    new_suffix = target(dname)
    prefix = name.wire[: len(name.wire) - len(dname.owner.wire)]
    try:
        return Name(prefix + b"\0").concatenate(new_suffix) if prefix else new_suffix
    except WireError:
        return None


def _chain(answer: dict[tuple[bytes, int], RRset], qname: Name, qtype: int
           ) -> tuple[list[RRset], Name, bool]:
    """Follow the answer from qname: (RRsets in order, end name, ends in data)."""
    chain: list[RRset] = []
    name, seen = qname, set()
    for _ in range(MAX_LINKS):
        if name.key in seen:
            break
        seen.add(name.key)
        if qtype == ANY:
            found = [s for (k, t), s in answer.items() if k == name.key and t != CNAME]
            if found:
                return chain + found, name, True
        data = answer.get((name.key, qtype))
        if data:
            return chain + [data], name, True
        dname, new = _dname_link(answer, name, chain)  # a DNAME above wins over the CNAME it synthesized
        if dname is not None:
            name = new
            continue
        link = answer.get((name.key, CNAME))
        if link is None:
            break
        chain.append(link)
        name = target(link[0])
    return chain, name, False


def _dname_link(answer: dict[tuple[bytes, int], RRset], name: Name, chain: list[RRset]
                ) -> tuple[RRset | None, Name]:
    for (key, rrtype), rrset in answer.items():
        if rrtype == DNAME and name.key != key and name.is_subdomain(rrset[0].owner):
            new = dname_substitute(name, rrset[0])
            if new is None:
                return None, name
            synth = RR(owner=name, rrtype=CNAME, rrclass=1, ttl=rrset[0].ttl, rdata=new.wire)
            chain.append(rrset + (synth,))
            return rrset, new
    return None, name


def classify(reply: Message, zone: Name, qname: Name, qtype: int) -> Classified:
    """Scrub ``reply`` from a server for ``zone`` to the question (qname, qtype), and classify it.

    Args:
        reply: the decoded reply (ID and question already checked).
        zone: the zone the server was asked as a server of (its bailiwick).
        qname, qtype: the question sent.

    Returns:
        a :class:`Classified`; records outside ``zone`` are gone.

    Raises:
        WireError: a CNAME, DNAME or NS rdata is not a name.
    """
    found = _classify(reply, zone, qname, qtype)
    found.aa = bool(reply.flags & _AA)
    if found.kind != THROWAWAY:
        _keep_dnssec(found, reply, zone)
    return found


def _keep_dnssec(found: Classified, reply: Message, zone: Name) -> None:
    """Signatures and denial records in bailiwick, kept with what they belong to (RFC 4035 §3.1)."""
    sigs: dict[tuple[bytes, int], list[RR]] = {}
    proof = []
    for rr in reply.answer + reply.authority:
        if rr.rrclass != 1 or not rr.owner.is_subdomain(zone):
            continue
        if rr.rrtype == RRSIG and len(rr.rdata) >= 2:
            sigs.setdefault((rr.owner.key, int.from_bytes(rr.rdata[:2], "big")), []).append(rr)
    for rr in reply.authority:
        if rr.rrclass == 1 and rr.rrtype in (NSEC, NSEC3) and rr.owner.is_subdomain(zone):
            proof.append(rr)
            proof.extend(s for s in sigs.pop((rr.owner.key, rr.rrtype), ()))
    found.sigs = {k: tuple(v) for k, v in sigs.items()}
    found.proof = tuple(proof)
    if found.kind == REFERRAL and found.cut is not None:
        found.ds = tuple(rr for rr in reply.authority if rr.rrtype == DS and rr.rrclass == 1
                         and rr.owner.key == found.cut.key and found.cut.key != zone.key)


def _classify(reply: Message, zone: Name, qname: Name, qtype: int) -> Classified:
    rcode = reply.rcode
    if rcode == YXDOMAIN_RCODE:
        return _yxdomain(_group(reply.answer, zone), qname)
    if rcode not in (NOERROR, NXDOMAIN_RCODE):
        return Classified(kind=THROWAWAY)
    answer = _group(reply.answer, zone)
    chain, end, has_data = _chain(answer, qname, qtype)
    authority = _group(reply.authority, zone)
    soa = _soa_above(authority, end)
    if rcode == NXDOMAIN_RCODE:
        return Classified(kind=NXDOMAIN, chain=chain, end=end, soa=soa)
    if has_data:
        found = _with_ns(Classified(kind=ANSWER, chain=chain, end=end), reply, authority, zone, end)
        if chain[-1][0].rrtype == NS:
            found.addresses = addresses_of(reply, chain[-1], zone)
        return found
    if chain:  # a NODATA after CNAME/DNAME links: the target is asked again (as Unbound does)
        return Classified(kind=CNAME_KIND, chain=chain, end=end)
    if soa:
        return Classified(kind=NODATA, chain=chain, end=end, soa=soa)
    referral = _referral(reply, authority, zone, end)
    if referral is not None:
        return referral
    if any(rr.rrtype == NS and not rr.owner.is_subdomain(zone) for rr in reply.authority):
        return Classified(kind=LAME)  # an upward referral, AA or not
    aa = bool(reply.flags & _AA)
    if not aa and (_foreign_ns(reply.authority, zone, end) or reply.flags & _RA):
        return Classified(kind=LAME)
    return _with_ns(Classified(kind=NODATA, chain=chain, end=end), reply, authority, zone, end)


def _yxdomain(answer: dict[tuple[bytes, int], RRset], qname: Name) -> Classified:
    for (key, rrtype), rrset in answer.items():
        if rrtype == DNAME and key != qname.key and qname.is_subdomain(rrset[0].owner):
            if dname_substitute(qname, rrset[0]) is None:
                return Classified(kind=YXDOMAIN, chain=[rrset], end=qname)
    return Classified(kind=THROWAWAY)


def _soa_above(authority: dict[tuple[bytes, int], RRset], end: Name) -> RRset:
    """The SOA above ``end`` and, when the server sent it, the zone's NS RRset (kept as given)."""
    for (_, rrtype), rrset in authority.items():
        if rrtype == SOA and end.is_subdomain(rrset[0].owner):
            return rrset[:1] + authority.get((rrset[0].owner.key, NS), ())
    return ()


def _referral(reply: Message, authority: dict[tuple[bytes, int], RRset], zone: Name, qname: Name
              ) -> Classified | None:
    best: RRset | None = None
    for (key, rrtype), rrset in authority.items():
        owner = rrset[0].owner
        if rrtype == NS and key != zone.key and qname.is_subdomain(owner):
            if best is None or len(owner.key) > len(best[0].owner.key):
                best = rrset
    if best is None:
        return None
    return Classified(kind=REFERRAL, cut=best[0].owner, ns=best, end=qname,
                      addresses=addresses_of(reply, best, zone))


def _with_ns(found: Classified, reply: Message, authority: dict[tuple[bytes, int], RRset], zone: Name,
             end: Name) -> Classified:
    """An authoritative answer's own NS (the child's side, RFC 2181 §5.4.1) and their addresses."""
    if not reply.flags & _AA:
        return found
    for (key, rrtype), rrset in authority.items():
        if rrtype == NS and end.is_subdomain(rrset[0].owner):
            found.ns = rrset
            found.addresses = addresses_of(reply, rrset, zone)
            break
    return found


def addresses_of(reply: Message, ns: RRset, zone: Name) -> list[RRset]:
    """The A/AAAA RRsets in ``reply``'s additional section for the names in ``ns``, in ``zone``."""
    names = set()
    for rr in ns:
        try:
            names.add(target(rr).key)
        except WireError:
            continue
    groups = _group(reply.additional, zone)
    return [s for (key, rrtype), s in groups.items() if rrtype in (A, AAAA) and key in names]


def _foreign_ns(authority: tuple[RR, ...], zone: Name, qname: Name) -> bool:
    """NS records of the zone itself, above it, or beside the qname: a lame server's referral."""
    return any(rr.rrtype == NS and (not rr.owner.is_subdomain(zone) or rr.owner.key == zone.key
                                    or not qname.is_subdomain(rr.owner)) for rr in authority)
