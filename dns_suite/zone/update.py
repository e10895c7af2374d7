"""RFC 2136 dynamic UPDATE applied to a zone snapshot: all or nothing (pure).

How it works: :func:`apply_update` checks the zone section (§3.1),
the prerequisites (§3.2), the caller's permission per update RR (§3.3),
then prescans the update section (§3.4.1). Only when all pass are the
updates applied (§3.4.2) to a working copy of the touched names: adds
(a duplicate RR replaces the existing one and sets the RRset's TTL; SOA
only at the apex and only with a higher serial, RFC 1982; a CNAME beside
other data, or other data beside a CNAME, is ignored), RRset deletions,
deletions of all RRsets at a name, and deletions of one RR (class NONE);
the apex SOA and NS are protected (§3.4.2.3-4). When anything changed the
SOA serial rises (increment, or unixtime; RFC 1982 arithmetic) unless the
update raised it itself, the whole-zone checks run, and a new :class:`Zone`
comes back with the difference (an IXFR-style diff for the journal).
Nothing is changed on any failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message
from dns_suite.wire.name import Name
from dns_suite.wire.rdata import NAME_TYPES, rdata_names
from dns_suite.zone.checks import whole_zone_checks
from dns_suite.zone.diff import serial_gt
from dns_suite.zone.model import RRset, Zone

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE = 6, 7, 8, 9, 10
SOA, NS, CNAME = 6, 2, 5
CLASS_NONE, CLASS_ANY, TYPE_ANY = 254, 255, 255
_META = frozenset({41, 249, 250, 251, 252, 253, 254, 255})  # OPT TKEY TSIG IXFR AXFR MAILB MAILA ANY
_DNSSEC = frozenset({46, 47})  # RRSIG, NSEC may sit beside a CNAME


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateResult:
    """Outcome of an UPDATE.

    Attributes:
        rcode: the reply's rcode (RFC 2136 §2.2).
        zone: the new snapshot, or None when nothing changed or on failure.
        removed, added: the difference as ``(owner_wire, rrtype, ttl, rdata)``,
            the old and new SOA included (RFC 1995 §4 order: removed then added).
        reason: why it failed, for the log.
    """

    rcode: int
    zone: Zone | None = None
    removed: tuple[tuple[bytes, int, int, bytes], ...] = ()
    added: tuple[tuple[bytes, int, int, bytes], ...] = ()
    reason: str = ""


def next_serial(current: int, policy: str, now: int) -> int:
    """The next SOA serial: ``increment`` (+1) or ``unixtime`` (now, or +1 when not higher)."""
    if policy == "unixtime" and serial_gt(now & 0xFFFFFFFF, current):
        return now & 0xFFFFFFFF
    return (current + 1) & 0xFFFFFFFF


def canonical_rdata(rrtype: int, rdata: bytes) -> bytes:
    """Rdata with embedded names lowercased, for comparing RRs (RFC 4034 §6.2)."""
    if rrtype not in NAME_TYPES or not rdata:
        return rdata
    try:
        names = rdata_names(rrtype, rdata)
    except WireError:
        return rdata  # not this type's layout (an empty class NONE delete): compared as octets
    out, pos = [], 0
    for at, name in names:
        out += [rdata[pos:at], name.key]
        pos = at + len(name.wire)
    out.append(rdata[pos:])
    return b"".join(out)


def apply_update(zone: Zone, msg: Message, *, permitted: Callable[[RR], bool],
                 serial_policy: str = "increment", now: int = 0) -> UpdateResult:
    """Apply the UPDATE ``msg`` to ``zone`` (RFC 2136 §3).

    Args:
        zone: the current snapshot of the zone named in the zone section.
        msg: the decoded UPDATE (zone section in ``question``, prerequisites
            in ``answer``, updates in ``authority``).
        permitted: the policy: may this update RR be applied (§3.3)?
        serial_policy: ``increment`` or ``unixtime``.
        now: wall time in seconds since the epoch (for ``unixtime``).
    """
    if len(msg.question) != 1 or msg.question[0].qtype != SOA:
        return UpdateResult(rcode=FORMERR, reason="zone section must hold one SOA question")
    if msg.question[0].qclass != zone.rrclass:  # §3.1.1: not a zone of ours
        return UpdateResult(rcode=NOTAUTH, reason=f"zone section of class {msg.question[0].qclass}")
    work = _Work(zone)
    for check in (_prerequisites, _permissions, _prescan):
        rcode, reason = check(work, msg, permitted)
        if rcode:
            return UpdateResult(rcode=rcode, reason=reason)
    for rr in msg.authority:
        work.apply(rr)
    return work.finish(serial_policy, now)


def _prerequisites(work: _Work, msg: Message, _permitted) -> tuple[int, str]:
    wanted: dict[tuple[bytes, int], set[bytes]] = {}
    for rr in msg.answer:
        if rr.ttl != 0:
            return FORMERR, f"prerequisite {rr.owner} with TTL {rr.ttl}"
        if not work.inside(rr.owner):
            return NOTZONE, f"prerequisite {rr.owner} outside the zone"
        if rr.rrclass in (CLASS_ANY, CLASS_NONE):
            rcode = _class_prerequisite(work, rr)
            if rcode:
                return rcode, f"prerequisite {rr.owner} type {rr.rrtype} class {rr.rrclass} not met"
        elif rr.rrclass == work.zone.rrclass:
            wanted.setdefault((rr.owner.key, rr.rrtype), set()).add(canonical_rdata(rr.rrtype, rr.rdata))
        else:
            return FORMERR, f"prerequisite {rr.owner} of class {rr.rrclass}"
    for (key, rrtype), rdatas in wanted.items():
        if set(work.rdatas(key, rrtype)) != rdatas:
            return NXRRSET, "value-dependent prerequisite not met"
    return NOERROR, ""


def _class_prerequisite(work: _Work, rr: RR) -> int:
    if rr.rdata:
        return FORMERR
    exists = work.in_use(rr.owner.key) if rr.rrtype == TYPE_ANY else bool(work.rdatas(rr.owner.key, rr.rrtype))
    if rr.rrclass == CLASS_ANY and not exists:
        return NXDOMAIN if rr.rrtype == TYPE_ANY else NXRRSET
    if rr.rrclass == CLASS_NONE and exists:
        return YXDOMAIN if rr.rrtype == TYPE_ANY else YXRRSET
    return NOERROR


def _permissions(work: _Work, msg: Message, permitted) -> tuple[int, str]:
    for rr in msg.authority:
        if not permitted(rr):
            return REFUSED, f"update of {rr.owner} type {rr.rrtype} not permitted by policy"
    return NOERROR, ""


def _prescan(work: _Work, msg: Message, _permitted) -> tuple[int, str]:
    for rr in msg.authority:
        if not work.inside(rr.owner):
            return NOTZONE, f"update {rr.owner} outside the zone"
        if rr.rrclass == work.zone.rrclass:
            bad = rr.rrtype in _META
        elif rr.rrclass == CLASS_ANY:
            bad = rr.ttl != 0 or bool(rr.rdata) or (rr.rrtype in _META and rr.rrtype != TYPE_ANY)
        elif rr.rrclass == CLASS_NONE:
            bad = rr.ttl != 0 or rr.rrtype in _META
        else:
            bad = True
        if bad:
            return FORMERR, f"update {rr.owner} type {rr.rrtype} class {rr.rrclass} malformed (§3.4.1)"
    return NOERROR, ""


class _Work:
    """A working copy of the names an update touches: key -> {rrtype: (ttl, [rdata])}."""

    def __init__(self, zone: Zone) -> None:
        self.zone = zone
        self.okey = zone.origin.key
        self.names: dict[bytes, dict[int, tuple[int, list[bytes]]]] = {}
        self.owners: dict[bytes, bytes] = {}

    def inside(self, name: Name) -> bool:
        return name.is_subdomain(self.zone.origin)

    def node(self, key: bytes, owner_wire: bytes | None = None) -> dict[int, tuple[int, list[bytes]]]:
        node = self.names.get(key)
        if node is None:
            first = self.zone.nodes.get(key)
            node = {r.rrtype: (r.ttl, list(r.rdatas)) for r in first.chain()} if first else {}
            self.names[key] = node
            if first is not None:
                self.owners[key] = first.wire
        if key not in self.owners and owner_wire is not None:
            self.owners[key] = owner_wire  # a new name: the spelling of its first add (RFC 4343 §4.1)
        return node

    def rdatas(self, key: bytes, rrtype: int) -> list[bytes]:
        entry = self.node(key).get(rrtype)
        return [canonical_rdata(rrtype, rd) for rd in entry[1]] if entry else []

    def in_use(self, key: bytes) -> bool:
        return bool(self.node(key))

    def apply(self, rr: RR) -> None:
        """One update RR (RFC 2136 §3.4.2)."""
        node = self.node(rr.owner.key, rr.owner.wire)
        apex = rr.owner.key == self.okey
        if rr.rrclass == CLASS_ANY:
            for rrtype in list(node) if rr.rrtype == TYPE_ANY else [rr.rrtype]:
                if rrtype in node and not (apex and rrtype in (SOA, NS)):
                    del node[rrtype]
        elif rr.rrclass == CLASS_NONE:
            self._delete_one(node, rr, apex)
        else:
            self._add(node, rr, apex)

    def _delete_one(self, node, rr: RR, apex: bool) -> None:
        entry = node.get(rr.rrtype)
        if entry is None or rr.rrtype == SOA:
            return
        target = canonical_rdata(rr.rrtype, rr.rdata)
        kept = [rd for rd in entry[1] if canonical_rdata(rr.rrtype, rd) != target]
        if apex and rr.rrtype == NS and not kept:
            return  # the last apex NS stays
        if kept:
            node[rr.rrtype] = (entry[0], kept)
        else:
            del node[rr.rrtype]

    def _add(self, node, rr: RR, apex: bool) -> None:
        if rr.rrtype == SOA:
            current = node.get(SOA)
            if apex and current and not serial_gt(_serial(current[1][0]), _serial(rr.rdata)):
                node[SOA] = (rr.ttl, [rr.rdata])  # §3.4.2.2: unless the zone's serial is higher
            return
        others = [t for t in node if t not in _DNSSEC and t != rr.rrtype]
        if (rr.rrtype == CNAME and others) or (rr.rrtype not in _DNSSEC and CNAME in node
                                                and rr.rrtype != CNAME):
            return  # CNAME conflicts are ignored (§3.4.2.2)
        ttl, rdatas = node.get(rr.rrtype, (rr.ttl, []))
        target = canonical_rdata(rr.rrtype, rr.rdata)
        kept = [rd for rd in rdatas if canonical_rdata(rr.rrtype, rd) != target]
        if rr.rrtype == CNAME:
            kept = []  # a CNAME RRset holds one RR: the new one replaces it
        node[rr.rrtype] = (rr.ttl, kept + [rr.rdata])

    def finish(self, serial_policy: str, now: int) -> UpdateResult:
        """Build the new snapshot and the difference; NOERROR without change when nothing changed."""
        removed, added = self._difference()
        if not removed and not added:
            return UpdateResult(rcode=NOERROR)
        ttl, (soa,) = self.node(self.okey)[SOA]
        if not serial_gt(_serial(soa), self.zone.serial):  # the update did not raise it: we do
            serial = next_serial(self.zone.serial, serial_policy, now)
            self.names[self.okey][SOA] = (ttl, [soa[:-20] + serial.to_bytes(4, "big") + soa[-16:]])
            removed, added = self._difference()
        return self._build(removed, added)

    def _difference(self):
        removed, added = [], []
        for key, node in self.names.items():
            first = self.zone.nodes.get(key)
            before = {(r.rrtype, r.ttl, rd) for r in first.chain() for rd in r.rdatas} if first else set()
            after = {(t, ttl, rd) for t, (ttl, rds) in node.items() for rd in rds}
            owner = self.owners.get(key, key)
            removed += [(owner, t, ttl, rd) for t, ttl, rd in sorted(before - after)]
            added += [(owner, t, ttl, rd) for t, ttl, rd in sorted(after - before)]
        soa_first = sorted(removed, key=lambda c: c[1] != SOA), sorted(added, key=lambda c: c[1] != SOA)
        return tuple(soa_first[0]), tuple(soa_first[1])

    def _build(self, removed, added) -> UpdateResult:
        nodes = dict(self.zone.nodes)
        for key, node in self.names.items():
            first = None
            for rrtype in sorted(node, reverse=True):
                ttl, rdatas = node[rrtype]
                first = RRset(self.owners.get(key, key), rrtype, ttl, tuple(rdatas), first)
            if first is None:
                nodes.pop(key, None)
            else:
                nodes[key] = first
        cuts, dnames, ents, problems = whole_zone_checks(self.zone.origin, nodes)
        errors = [p.reason for p in problems if p.severity == "error"]
        if errors:
            return UpdateResult(rcode=REFUSED, reason="the zone would be broken: " + "; ".join(errors[:3]))
        soa = next(r for r in nodes[self.okey].chain() if r.rrtype == SOA)
        zone = Zone(origin=self.zone.origin, rrclass=self.zone.rrclass, nodes=nodes, cuts=cuts,
                    dnames=dnames, ents=ents, soa=soa)
        return UpdateResult(rcode=NOERROR, zone=zone, removed=removed, added=added)


def _serial(soa_rdata: bytes) -> int:
    return int.from_bytes(soa_rdata[-20:-16], "big")
