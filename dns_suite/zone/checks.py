"""Whole-zone checks, run once every record is in (the named-checkzone set).

- SOA and NS at the apex; SOA nowhere else.
- Data below a DNAME: an error (NSD and Knot refuse it; RFC 6672 §2.3).
- Data at or below a zone cut other than the parent side (NS, DS, RRSIG,
  NSEC) and glue (A, AAAA below the cut): a warning, it is never served.
- NS targets inside the zone without A/AAAA (in-bailiwick, RFC 9471): an error.
- Empty non-terminals are collected (RFC 8020 §2: they exist).
"""

from __future__ import annotations

from dns_suite.wire.name import Name
from dns_suite.zone.model import (AAAA, CNAME, DNAME, NS, SOA, A, Problem, RRset, _AT_CUT,
                                  name_targets)


def whole_zone_checks(origin: Name, nodes: dict[bytes, RRset]):
    """Find cuts, DNAMEs and ENTs; report the whole-zone problems.

    Args:
        origin: the apex.
        nodes: owner key -> first RRset of the node.

    Returns:
        ``(cuts, dnames, ents, problems)``: frozensets of keys and a list of
        :class:`Problem` with line 0 and ``owner`` set (the loader finds the line).
    """
    okey = origin.key
    problems: list[Problem] = []

    def report(severity: str, key: bytes | None, rrtype: int | None, reason: str) -> None:
        problems.append(Problem(severity=severity, file="", line=0, reason=reason,
                                owner=None if key is None else Name(key, key), rrtype=rrtype))

    apex_types = {r.rrtype for r in _node(nodes, okey)}
    if SOA not in apex_types:  # the file's problem, on no line (no owner to find one by)
        report("error", None, SOA, f"no SOA record at the apex {origin}")
    if NS not in apex_types:
        report("error", None, NS, f"no NS records at the apex {origin}")
    cuts, dnames = set(), set()
    for key, first in nodes.items():
        for r in first.chain():
            if r.rrtype == NS and key != okey:
                cuts.add(key)
            elif r.rrtype == DNAME:
                dnames.add(key)
            elif r.rrtype == SOA and key != okey:
                report("error", key, SOA, f"SOA record at {r.owner}, not at the apex")
    ents = _walk_ancestors(okey, nodes, cuts, dnames, report)
    _check_glue(okey, nodes, cuts, report)
    return frozenset(cuts), frozenset(dnames), frozenset(ents), problems


def _walk_ancestors(okey, nodes, cuts, dnames, report) -> set[bytes]:
    """One walk up from every owner: ENTs, occluded data, data below DNAMEs."""
    olen = len(okey)
    ents: set[bytes] = set()
    for key, first in nodes.items():
        if key in cuts:
            bad = [r for r in first.chain() if r.rrtype not in _AT_CUT]
            if bad:
                report("warning", key, bad[0].rrtype,
                       f"{first.owner} at a zone cut: non-NS/DS data occluded, not served")
        k = key[key[0] + 1:]
        while len(k) > olen:
            if k in dnames:
                report("error", key, None, f"{first.owner} is below the DNAME at "
                       f"{Name(k, k)}")
            if k in cuts and any(r.rrtype not in (A, AAAA) for r in first.chain()):
                report("warning", key, None, f"{first.owner} is below the zone cut at "
                       f"{Name(k, k)}: non-glue data occluded, not served")
            if k not in nodes:
                ents.add(k)
            k = k[k[0] + 1:]
    return ents


def _node(nodes: dict[bytes, RRset], key: bytes) -> list[RRset]:
    first = nodes.get(key)
    return list(first.chain()) if first is not None else []


def _below_cut(key: bytes, okey: bytes, cuts) -> bool:
    olen = len(okey)
    k = key
    while len(k) > olen:
        if k in cuts:
            return True
        k = k[k[0] + 1:]
    return False


def _check_glue(okey, nodes, cuts, report) -> None:
    for key in [okey, *cuts]:
        for r in _node(nodes, key):
            if r.rrtype != NS:
                continue
            for target in name_targets(r):
                tkey = target.key
                if not (tkey.endswith(okey) and target.is_subdomain(Name(okey, okey))):
                    continue
                types = {x.rrtype for x in _node(nodes, tkey)}
                if A in types or AAAA in types:
                    continue
                if CNAME in types:
                    report("error", key, NS, f"NS target {target} of {r.owner} is a CNAME "
                           "(RFC 2181 §10.3)")
                    continue
                below = _below_cut(tkey, okey, cuts)
                if below and not target.is_subdomain(Name(key, key)):
                    continue  # glue of a sibling delegation: optional (RFC 9471 §2)
                what = "glue" if below else "address records"
                report("error", key, NS, f"NS target {target} of {r.owner} has no {what} "
                       "(A or AAAA)")
