"""The immutable zone snapshot and the builder that makes it.

How it works: :class:`ZoneBuilder` takes records one at a time (as the reader
yields them), merging them into RRsets: duplicates collapse, differing TTLs
in one RRset take the lowest, out-of-zone records are set aside. Each such
event is reported as a :class:`Problem` tied to the record's line.
:meth:`ZoneBuilder.build` then finds zone cuts, DNAMEs, wildcards and empty
non-terminals and runs the checks named-checkzone does (SOA and NS at the
apex, CNAME beside other data, data below a DNAME, occluded data below a
cut, missing glue), returning the :class:`Zone` or the problems that refuse it.

Names are keyed by their lowercased wire form (``Name.key``); a node is a
chain of RRsets linked by ``RRset.next`` (a 1-type node costs no container). The snapshot is not changed after :meth:`build`.

RRSIG RRs at one owner form one :class:`SigRRset` whose RRs keep their own
TTLs: each signature has the TTL of the RRset it covers (RFC 4034 §3), and
the RRsets of a node differ (an NSEC's is the SOA minimum, RFC 4035 §2.3).
"""

from __future__ import annotations

from dataclasses import dataclass

from dns_suite.wire.name import Name
from dns_suite.wire.rdata import rdata_names

SOA, NS, CNAME, DNAME, A, AAAA, DS = 6, 2, 5, 39, 1, 28, 43
RRSIG, NSEC, NSEC3 = 46, 47, 50
_DNSSEC = frozenset({RRSIG, NSEC})  # may sit beside a CNAME (RFC 4035 §2.5)
_AT_CUT = frozenset({NS, DS, RRSIG, NSEC})  # the parent side of a cut


class RRset:
    """An RRset: owner, type, TTL (seconds) and rdata (uncompressed wire octets).

    Attributes:
        wire: the owner's wire form, original case (one object with the node's
            key when the owner is lowercase: a zone holds millions of these).
        rrtype: type code.
        ttl: seconds.
        rdatas: the rdata, in file order, duplicates removed.
        next: the next RRset of the same node, or None (a node is this chain).
    """

    # ``_rd`` is the one rdata's bytes, or a tuple when there are several: a
    # 1-tuple per RRset would add 48 octets to each of millions of records.
    __slots__ = ("wire", "rrtype", "ttl", "_rd", "next")

    def __init__(self, wire: bytes, rrtype: int, ttl: int, rdatas: tuple[bytes, ...],
                 next: RRset | None = None) -> None:
        self.wire = wire
        self.rrtype = rrtype
        self.ttl = ttl
        self._rd = rdatas[0] if len(rdatas) == 1 else tuple(rdatas)
        self.next = next

    @property
    def rdatas(self) -> tuple[bytes, ...]:
        """The rdata, in file order."""
        rd = self._rd
        return (rd,) if type(rd) is bytes else rd

    def add_rdata(self, rdata: bytes) -> None:
        """Append one rdata (used while building only)."""
        rd = self._rd
        self._rd = (rd, rdata) if type(rd) is bytes else rd + (rdata,)

    @property
    def owner(self) -> Name:
        """The owner name."""
        return Name(self.wire)

    def chain(self):
        """This RRset and the ones after it in its node."""
        r = self
        while r is not None:
            yield r
            r = r.next

    def __repr__(self) -> str:
        return f"RRset({self.owner}, {self.rrtype}, {self.ttl}, {len(self.rdatas)} rdata)"


class SigRRset(RRset):
    """The RRSIG RRs of a node, each with its own TTL (``ttls``, parallel to ``rdatas``);
    ``ttl`` is the lowest of them."""

    __slots__ = ("ttls",)

    def __init__(self, wire: bytes, rrtype: int, ttl: int, rdatas: tuple[bytes, ...],
                 next: RRset | None = None, ttls: tuple[int, ...] | None = None) -> None:
        super().__init__(wire, rrtype, ttl if ttls is None else min(ttls), rdatas, next)
        self.ttls = (ttl,) * len(rdatas) if ttls is None else ttls

    def add_signature(self, rdata: bytes, ttl: int) -> None:
        """Append one RRSIG with its TTL (used while building only)."""
        self.add_rdata(rdata)
        self.ttls += (ttl,)
        self.ttl = min(self.ttl, ttl)


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """A verdict on zone data. ``severity`` is ``"error"`` or ``"warning"``; ``line`` 0 when
    the problem is the file's, not a line's (printed as ``FILE: severity: reason``)."""

    severity: str
    file: str
    line: int
    reason: str
    owner: Name | None = None
    rrtype: int | None = None  # the RRset the problem is about, when it is about one

    def __str__(self) -> str:  # no line (0): the problem is the file's, not a line's
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.severity}: {self.reason}"


class Zone:
    """An immutable zone snapshot.

    Attributes:
        origin: the apex name.
        rrclass: the zone's class.
        nodes: owner key -> the node's first RRset (chained by ``next``).
        cuts: keys of delegation points (NS below the apex).
        dnames: keys of names owning a DNAME.
        ents: keys of empty non-terminals (RFC 8020 §2: they exist).
        soa: the apex SOA RRset.
        serial: the SOA serial.
        dnssec: derived DNSSEC data (the NSEC/NSEC3 index of
            ``dns_suite.zone.nsec``), built on first use, or None.
    """

    __slots__ = ("origin", "rrclass", "nodes", "cuts", "dnames", "ents", "soa", "serial", "dnssec")

    def __init__(self, *, origin: Name, rrclass: int, nodes: dict[bytes, RRset],
                 cuts: frozenset[bytes], dnames: frozenset[bytes], ents: frozenset[bytes],
                 soa: RRset) -> None:
        self.origin = origin
        self.rrclass = rrclass
        self.nodes = nodes
        self.cuts = cuts
        self.dnames = dnames
        self.ents = ents
        self.soa = soa
        self.serial = int.from_bytes(soa.rdatas[0][-20:-16], "big")
        self.dnssec = None

    def get(self, key: bytes, rrtype: int) -> RRset | None:
        """The RRset of ``rrtype`` at the owner with ``key``, or None."""
        r = self.nodes.get(key)
        while r is not None:
            if r.rrtype == rrtype:
                return r
            r = r.next
        return None

    def node(self, key: bytes) -> list[RRset]:
        """The RRsets at the owner with ``key`` (empty for ENTs and absent names)."""
        first = self.nodes.get(key)
        return list(first.chain()) if first is not None else []

    def exists(self, key: bytes) -> bool:
        """True when the name owns data or is an empty non-terminal."""
        return key in self.nodes or key in self.ents

    def rrsets(self) -> list[RRset]:
        """Every RRset in canonical order (RFC 4034 §6.1), SOA first."""
        out = [self.soa]
        for key in sorted(self.nodes, key=lambda k: Name(k, k).canonical_key()):
            out.extend(r for r in sorted(self.node(key), key=lambda r: r.rrtype) if r is not self.soa)
        return out

    def record_count(self) -> int:
        """Number of RRs."""
        return sum(len(r.rdatas) for first in self.nodes.values() for r in first.chain())


class ZoneBuilder:
    """Collects records into RRsets; :meth:`build` checks them into a :class:`Zone`.

    Args:
        origin: the apex.
        rrclass: the zone's class.
    """

    def __init__(self, origin: Name, rrclass: int = 1) -> None:
        self.origin = origin
        self.rrclass = rrclass
        self.nodes: dict[bytes, RRset] = {}
        self.problems: list[Problem] = []
        self._okey = origin.key
        self._inside: set[bytes] = {origin.key}

    def add(self, owner: Name, ttl: int, rrtype: int, rdata: bytes, file: str, line: int) -> None:
        """Add one record (as :meth:`ZoneReader.records` yields it)."""
        key = owner.key
        first = self.nodes.get(key)
        if first is None:
            if key[key[0] + 1:] not in self._inside and key != self._okey:
                if not owner.is_subdomain(self.origin):
                    self._problem("warning", file, line, f"out-of-zone data {owner} ignored", owner)
                    return
                self._inside.add(key[key[0] + 1:])
            cls = SigRRset if rrtype == RRSIG else RRset
            self.nodes[key] = cls(owner.wire, rrtype, ttl, (rdata,))
            return
        r = first
        while r is not None:
            if r.rrtype == rrtype:
                self._merge(r, ttl, rdata, file, line)
                return
            r = r.next
        cls = SigRRset if rrtype == RRSIG else RRset
        self.nodes[key] = cls(owner.wire, rrtype, ttl, (rdata,), first)
        others = [r.rrtype for r in first.chain()]
        if (rrtype == CNAME and any(t not in _DNSSEC for t in others)) or (
                rrtype not in _DNSSEC and CNAME in others):
            self._problem("error", file, line, f"CNAME and other data at {owner}", owner)

    def _merge(self, rrset: RRset, ttl: int, rdata: bytes, file: str, line: int) -> None:
        if rdata in rrset.rdatas:
            self._problem("warning", file, line, f"duplicate record at {rrset.owner} collapsed",
                          rrset.owner)
            return
        if rrset.rrtype == CNAME or rrset.rrtype == SOA:
            kind = "CNAME" if rrset.rrtype == CNAME else "SOA"
            self._problem("error", file, line, f"more than one {kind} record at {rrset.owner}",
                          rrset.owner)
        if type(rrset) is SigRRset:
            rrset.add_signature(rdata, ttl)
            return
        if ttl != rrset.ttl:
            self._problem("warning", file, line, f"TTL {ttl} differs from {rrset.ttl} in one RRset "
                          f"at {rrset.owner}; using the lowest", rrset.owner)
            rrset.ttl = min(ttl, rrset.ttl)
        rrset.add_rdata(rdata)

    def _problem(self, severity: str, file: str, line: int, reason: str, owner: Name | None) -> None:
        self.problems.append(Problem(severity=severity, file=file, line=line, reason=reason,
                                     owner=owner))

    def build(self) -> tuple[Zone | None, list[Problem]]:
        """Run the whole-zone checks and freeze.

        Returns:
            ``(zone, problems)``; ``zone`` is None when any problem is an error.
            Problems without a line (post-pass) carry the owner name and line 0;
            the loader fills lines in.
        """
        from dns_suite.zone.checks import whole_zone_checks

        frozen, self.nodes = self.nodes, {}
        cuts, dnames, ents, post = whole_zone_checks(self.origin, frozen)
        self.problems.extend(post)
        soa = None
        if self._okey in frozen:
            soa = next((r for r in frozen[self._okey].chain() if r.rrtype == SOA), None)
        if soa is None or any(p.severity == "error" for p in self.problems):
            return None, self.problems
        zone = Zone(origin=self.origin, rrclass=self.rrclass, nodes=frozen, cuts=cuts,
                    dnames=dnames, ents=ents, soa=soa)
        return zone, self.problems


def name_targets(rrset: RRset) -> list[Name]:
    """Names in an RRset's rdata (NS, MX, SRV targets ...)."""
    return [n for rd in rrset.rdatas for _, n in rdata_names(rrset.rrtype, rd)]
