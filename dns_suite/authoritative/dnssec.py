"""DNSSEC in answers: signatures and denial proofs for a query with DO set.

Pure (RFC 4035 §3.1, RFC 5155 §7.2), answering as NSD 4 does. The engine
(``engine.py``) calls these functions at each step when the query has DO;
they read the zone's :class:`~dns_suite.zone.nsec.ZoneIndex` and append RRs
to the sections of the engine's ``Result``.

- :func:`sign`: the RRSIGs at the owner that cover an RRset's type (an RRSIG
  RRset holds signatures over several types: picked by type covered, each
  with its own TTL), after that RRset (RFC 4035 §3.1.1). A wildcard answer
  carries the wildcard's RRSIGs with the qname as owner. Only in a signed zone.
- Denial, NSEC (RFC 4035 §3.1.3): NXDOMAIN: the NSEC covering the name and the
  one covering ``*.<closest encloser>``; NODATA: the NSEC of the node (of an
  empty non-terminal, the one before it); wildcard answer: the NSEC covering
  the qname; wildcard NODATA: that, and the wildcard's NSEC.
- Denial, NSEC3 (RFC 5155 §7.2.2-7.2.7): NXDOMAIN: the closest encloser proof
  (NSEC3 matching the closest encloser, covering the next closer name) and
  the NSEC3 covering ``*.<closest encloser>``; NODATA: the NSEC3 matching the
  name (under opt-out, for a name without one, the closest provable encloser
  proof); DS NODATA and referrals without DS: the NSEC3 matching the
  delegation, else the closest provable encloser proof whose next closer is
  covered by an opt-out NSEC3; wildcard answer: the NSEC3 covering the next
  closer name; wildcard NODATA: closest encloser, next closer and wildcard.
- Referrals (RFC 4035 §3.1.4): the DS RRset and its RRSIGs, or the NSEC/NSEC3
  proving there is none.

Proof RRsets already in the authority section are not added again. Where
NSD's choices go beyond the RFCs, NSD is followed: the negative SOA's RRSIGs
take the SOA's negative TTL; proofs for an empty non-terminal in an NSEC3
zone come before the SOA; a name owning only NSEC3 records does not exist
(the engine sees to that, with :func:`~dns_suite.zone.nsec.hashed_node`).
An NSEC3 hash collision (the next closer name's hash matching an NSEC3)
gives no cover, where NSD answers SERVFAIL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dns_suite.wire.message import RR
from dns_suite.wire.name import Name
from dns_suite.zone.model import RRset, SigRRset, Zone
from dns_suite.zone.nsec import NSEC, NSEC3, RRSIG, ZoneIndex, hashed_node, index

if TYPE_CHECKING:
    from dns_suite.authoritative.engine import Result

NS, DS = 2, 43
_WILD = b"\x01*"


def rrsig_rrs(rrset: RRset, owner: Name | None, rrclass: int,
              covered: int | None = None) -> list[RR]:
    """The RRs of an RRSIG RRset, each with its own TTL; only those covering ``covered`` when set.

    Args:
        rrset: an RRSIG RRset (a :class:`SigRRset` keeps per-RR TTLs).
        owner: the owner to give them (a wildcard answer's qname), or None for the RRset's own.
        rrclass: the zone's class.
        covered: a type code, or None for all of them.
    """
    name = owner if owner is not None else rrset.owner
    rdatas = rrset.rdatas
    ttls = rrset.ttls if type(rrset) is SigRRset else (rrset.ttl,) * len(rdatas)
    if covered is None:
        return [RR(owner=name, rrtype=RRSIG, rrclass=rrclass, ttl=t, rdata=rd)
                for t, rd in zip(ttls, rdatas)]
    hi, lo = covered >> 8, covered & 0xFF
    return [RR(owner=name, rrtype=RRSIG, rrclass=rrclass, ttl=t, rdata=rd)
            for t, rd in zip(ttls, rdatas) if rd[1] == lo and rd[0] == hi]


def sign(zone: Zone, key: bytes, rrtype: int, owner: Name | None, out: list[RR],
         ttl: int | None = None) -> None:
    """Append to ``out`` the RRSIGs at the node ``key`` covering ``rrtype`` (RFC 4035 §3.1.1).

    Args:
        zone: the zone the RRset was taken from; nothing is added unless it is signed.
        key: the node's key (for a wildcard answer, the wildcard's).
        rrtype: the type of the RRset just added.
        owner: the owner to give the RRSIGs (the qname of a wildcard answer), or None.
        out: the section the RRset went to.
        ttl: a TTL to give them instead of their own (the negative SOA's, as NSD does).
    """
    idx = zone.dnssec or index(zone)
    if not idx.secure:
        return
    sigs = zone.get(key, RRSIG)
    if sigs is not None:
        rrs = rrsig_rrs(sigs, owner, zone.rrclass, rrtype)
        if ttl is not None:
            rrs = [RR(owner=rr.owner, rrtype=RRSIG, rrclass=rr.rrclass, ttl=ttl, rdata=rr.rdata)
                   for rr in rrs]
        out += rrs


def _add(zone: Zone, key: bytes | None, rrtype: int, res: Result, at: int | None = None) -> None:
    """Add the RRset ``rrtype`` at ``key`` with its RRSIGs to authority, unless already there."""
    if key is None:
        return
    for rr in res.authority:
        if rr.rrtype == rrtype and rr.owner.key == key:
            return
    rrset = zone.get(key, rrtype)
    if rrset is None:
        return
    rrs = [RR(owner=rrset.owner, rrtype=rrtype, rrclass=zone.rrclass, ttl=rrset.ttl, rdata=rd)
           for rd in rrset.rdatas]
    sign(zone, key, rrtype, None, rrs)
    if at is None:
        res.authority += rrs
    else:
        res.authority[at:at] = rrs


# --- the engine's steps ---------------------------------------------------------------------

def nxdomain(zone: Zone, res: Result, name: Name, encloser: bytes) -> None:
    """Proofs that ``name`` does not exist and no wildcard could answer (before the SOA)."""
    idx = zone.dnssec or index(zone)
    if idx.nsec3 is not None:
        _cover(zone, idx, _next_closer(name.key, encloser), res)
        if _hashed_info(zone, encloser):
            _add(zone, _exact(idx, encloser), NSEC3, res)
            _add(zone, idx.nsec3_find(idx.hash(_WILD + encloser))[0], NSEC3, res)
    elif idx.secure:
        _add(zone, idx.nsec_at_or_before(name.key), NSEC, res)
        _add(zone, idx.nsec_at_or_before(_WILD + encloser), NSEC, res)


def wildcard(zone: Zone, res: Result, name: Name, encloser: bytes) -> None:
    """A wildcard matched for ``name``: the proof that ``name`` itself does not exist."""
    idx = zone.dnssec or index(zone)
    if idx.nsec3 is not None:
        _cover(zone, idx, _next_closer(name.key, encloser), res)
    elif idx.secure:
        _add(zone, idx.nsec_at_or_before(name.key), NSEC, res)


def nodata(zone: Zone, res: Result, key: bytes, qtype: int, soa_at: int) -> None:
    """NODATA at the node ``key`` (a wildcard's when synthesized): the proof that ``qtype`` is
    absent; ``soa_at`` is where the negative SOA sits in authority."""
    idx = zone.dnssec or index(zone)
    if idx.nsec3 is None:
        if idx.secure:
            _add(zone, idx.nsec_at_or_before(key), NSEC, res)
        return
    at = soa_at if key not in zone.nodes else None  # NSD: an ENT's proof before the SOA
    okey = zone.origin.key
    wild = key[:2] == _WILD
    if qtype == DS:
        if key == okey:
            _add(zone, _exact(idx, okey), NSEC3, res, at)
            return
        _ds_proof(zone, idx, key, False, res, at)
        if wild and _hashed_info(zone, key[2:]):
            _add(zone, _exact(idx, key[2:]), NSEC3, res, at)
    elif wild:
        if _hashed_info(zone, key[2:]):
            _add(zone, _exact(idx, key[2:]), NSEC3, res, at)
        _add(zone, idx.nsec3_find(idx.hash(key))[0], NSEC3, res, at)
    elif _hashed_info(zone, key):
        k = key
        while _exact(idx, k) is None:  # opt-out: up to the topmost name without an NSEC3
            p = _parent(k, okey)
            if p is None or not _hashed_info(zone, p) or _exact(idx, p) is not None:
                break
            k = p
        _add(zone, idx.nsec3_find(idx.hash(k))[0], NSEC3, res, at)  # matches k, or covers it
        p = _parent(k, okey)
        if _exact(idx, k) is None and p is not None and _hashed_info(zone, p):
            _add(zone, _exact(idx, p), NSEC3, res, at)  # the closest provable encloser


def referral(zone: Zone, res: Result, cut: bytes) -> None:
    """A referral to ``cut``: its DS RRset, or the proof that it has none (RFC 4035 §3.1.4)."""
    idx = zone.dnssec or index(zone)
    if not idx.secure:
        return
    if zone.get(cut, DS) is not None:
        _add(zone, cut, DS, res)
    elif idx.nsec3 is not None:
        _ds_proof(zone, idx, cut, True, res, None)
    else:
        _add(zone, cut, NSEC, res)


# --- NSEC3 helpers ----------------------------------------------------------------------------

def _ds_proof(zone: Zone, idx: ZoneIndex, key: bytes, delegation: bool, res: Result,
              at: int | None) -> None:
    """No DS at ``key``: its matching NSEC3, else the closest provable encloser proof
    (RFC 5155 §7.2.4, §7.2.7; NSD's nsec3_add_ds_proof)."""
    exact = _exact(idx, key)
    if exact is not None and _ds_info(zone, key):
        _add(zone, exact, NSEC3, res, at)
        return
    if exact is not None and not delegation and _hashed_info(zone, key):
        _add(zone, exact, NSEC3, res, at)
        return
    okey = zone.origin.key
    prev, par = None, _parent(key, okey)
    while par is not None and not (_hashed_info(zone, par) and _exact(idx, par) is not None):
        prev, par = par, _parent(par, okey)
    if par is None:
        return
    _add(zone, _exact(idx, par), NSEC3, res, at)
    if prev is not None and _hashed_info(zone, prev):
        _add(zone, idx.nsec3_find(idx.hash(prev))[0], NSEC3, res, at)  # the next closer name
    elif _ds_info(zone, key):
        _add(zone, idx.nsec3_find(idx.hash(key))[0], NSEC3, res, at)  # covered, opt-out


def _cover(zone: Zone, idx: ZoneIndex, key: bytes, res: Result) -> None:
    """The NSEC3 covering the name ``key`` (nothing on a hash collision)."""
    owner, exact = idx.nsec3_find(idx.hash(key))
    if not exact:
        _add(zone, owner, NSEC3, res)


def _exact(idx: ZoneIndex, key: bytes) -> bytes | None:
    owner, exact = idx.nsec3_find(idx.hash(key))
    return owner if exact else None


def _next_closer(key: bytes, encloser: bytes) -> bytes:
    """The name one label below ``encloser`` on the way to ``key`` (RFC 5155 §1.3)."""
    p = 0
    while len(key) - p > len(encloser):
        nxt = p + key[p] + 1
        if len(key) - nxt <= len(encloser):
            return key[p:]
        p = nxt
    return key[p:]


def _parent(key: bytes, okey: bytes) -> bytes | None:
    """The parent of ``key`` inside the zone, None for the apex."""
    return None if len(key) <= len(okey) else key[key[0] + 1:]


def _below_or_at_cut(zone: Zone, key: bytes) -> bool:
    okey = zone.origin.key
    k = key
    while len(k) > len(okey):
        if k in zone.cuts:
            return True
        k = k[k[0] + 1:]
    return False


def _hashed_info(zone: Zone, key: bytes) -> bool:
    """The name is one the NSEC3 chain speaks for: it exists, is not an NSEC3 owner, and is
    neither a delegation point nor below one (NSD's nsec3_condition_hash)."""
    first = zone.nodes.get(key)
    if first is None and key not in zone.ents:
        return False
    return not hashed_node(first) and not _below_or_at_cut(zone, key)


def _ds_info(zone: Zone, key: bytes) -> bool:
    """A delegation point (or a name with DS) whose NSEC3 is the parent side's
    (NSD's nsec3_condition_dshash)."""
    first = zone.nodes.get(key)
    if first is None or hashed_node(first) or key == zone.origin.key:
        return False
    if zone.get(key, DS) is None and zone.get(key, NS) is None:
        return False
    return not _below_or_at_cut(zone, key[key[0] + 1:])
