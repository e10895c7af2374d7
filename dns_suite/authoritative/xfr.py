"""Zone transfers out: AXFR (RFC 5936) and IXFR (RFC 1995) as message octets (pure).

How it works: a transfer is a stream of RRs: for AXFR the SOA, every other
RR of the zone, and the SOA again; for IXFR the current SOA, then for each
journaled difference the old SOA and the RRs removed, the new SOA and the
RRs added, and the current SOA again (RFC 1995 §4); a client already at
our serial gets the current SOA alone; a serial the journal does not reach
back to gets the AXFR stream (§4). :func:`pack` cuts a stream into messages
of at most ``limit`` octets (the question in the first only, AA set, names
compressed per message); the caller signs each (RFC 8945 §5.3.1).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from struct import pack as spack
from typing import Iterable, Iterator

from dns_suite.wire.errors import WireError
from dns_suite.wire.message import Message, encode
from dns_suite.wire.name import Compressor, Name
from dns_suite.wire.rdata import write_rdata
from dns_suite.wire.types import Flag
from dns_suite.zone.diff import Diff, serial_gt
from dns_suite.zone.model import SigRRset, Zone

SOA = 6
#: an RR as it is streamed: (owner wire, type, ttl, rdata)
Item = tuple[bytes, int, int, bytes]


def axfr_items(zone: Zone) -> Iterator[Item]:
    """SOA, every other RR (node order), SOA (RFC 5936 §2.2)."""
    soa = zone.soa
    yield soa.wire, SOA, soa.ttl, soa.rdatas[0]
    for first in zone.nodes.values():
        for rrset in first.chain():
            if rrset is soa:
                continue
            if type(rrset) is SigRRset:  # each RRSIG keeps its own TTL (RFC 4034 §3)
                for ttl, rd in zip(rrset.ttls, rrset.rdatas):
                    yield rrset.wire, rrset.rrtype, ttl, rd
                continue
            for rd in rrset.rdatas:
                yield rrset.wire, rrset.rrtype, rrset.ttl, rd
    yield soa.wire, SOA, soa.ttl, soa.rdatas[0]


def ixfr_items(zone: Zone, client_serial: int, diffs: list[Diff] | None) -> Iterator[Item]:
    """The IXFR stream for a client at ``client_serial`` (RFC 1995 §4).

    Args:
        zone: the current zone.
        client_serial: the serial in the query's authority SOA.
        diffs: journaled differences from ``client_serial`` to now, or None
            when the journal does not reach back (then the AXFR stream).
    """
    soa = zone.soa
    current: Item = (soa.wire, SOA, soa.ttl, soa.rdatas[0])
    if not serial_gt(zone.serial, client_serial):
        yield current
        return
    if not diffs:
        yield from axfr_items(zone)
        return
    yield current
    for diff in diffs:
        yield from diff.removed
        yield from diff.added
    yield current


def pack(items: Iterable[Item], query: Message, *, rrclass: int = 1, limit: int = 65535 - 512) -> Iterator[bytes]:
    """Cut ``items`` into reply messages of at most ``limit`` octets.

    Args:
        items: the RRs to send.
        query: the AXFR/IXFR query (ID, question, RD copied).
        rrclass: the zone's class.
        limit: octets per message, leaving room for a TSIG.
    """
    flags = Flag.QR | Flag.AA | (query.flags & Flag.RD)
    head = encode(Message(id=query.id, flags=flags, opcode=query.opcode, question=query.question))
    opt = _opt(query)
    limit -= len(opt)
    buf, comp, count = _start(head, query), Compressor(case_sensitive=True), 0
    _seed(comp, query)
    for owner, rrtype, ttl, rdata in items:
        mark = len(buf)
        _write(buf, comp, owner, rrtype, rrclass, ttl, rdata)
        if len(buf) > limit and count:
            del buf[mark:]
            yield _finish(buf, count, opt)
            buf, comp, count = _start(head, None), Compressor(case_sensitive=True), 0
            _write(buf, comp, owner, rrtype, rrclass, ttl, rdata)
        count += 1
    yield _finish(buf, count, opt)


def _start(head: bytes, query: Message | None) -> bytearray:
    """A message buffer: the reply header, with the question only in the first message."""
    if query is not None:
        return bytearray(head)
    return bytearray(head[:4] + b"\0\0" + head[6:12])


def _seed(comp: Compressor, query: Message) -> None:
    """Let later names point at the question name (offset 12)."""
    if query.question:
        scratch = bytearray(12)
        comp.write(scratch, query.question[0].qname)


def _write(buf: bytearray, comp: Compressor, owner: bytes, rrtype: int, rrclass: int, ttl: int,
           rdata: bytes) -> None:
    comp.write(buf, Name(owner))
    at = len(buf)
    buf += spack("!HHIH", rrtype, rrclass, ttl, 0)
    write_rdata(buf, comp, rrtype, rdata)
    buf[at + 8:at + 10] = spack("!H", len(buf) - at - 10)


def _finish(buf: bytearray, count: int, opt: bytes) -> bytes:
    buf[6:8] = spack("!H", count)
    if opt:  # OPT in every message when the query had one (RFC 6891 §7)
        buf[10:12] = b"\0\1"
        buf += opt
    return bytes(buf)


def _opt(query: Message) -> bytes:
    """Our OPT record for replies to ``query`` (empty when it had none)."""
    if query.edns is None:
        return b""
    return spack("!BHHIH", 0, 41, 1232, 0x8000 if query.edns.do else 0, 0)


@dataclass(frozen=True, slots=True)
class TransferAcl:
    """Who may transfer a zone: entries ``ADDR[/LEN]``, ``key NAME``, or ``ADDR[/LEN] key NAME``
    (both must match). No entries: nobody (REFUSED).

    Raises:
        ValueError: an entry that is neither (from :meth:`parse`).
    """

    rules: tuple[tuple[object | None, bytes | None], ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> TransferAcl:
        rules = []
        for entry in entries:
            words = entry.split()
            if not words:
                raise ValueError("empty allow_transfer entry")
            net = key = None
            if words and words[0] != "key":
                net = ipaddress.ip_network(words.pop(0), strict=False)
            if words[:1] == ["key"] and len(words) == 2:
                name = words[1] if words[1].endswith(".") else words[1] + "."
                try:
                    key = Name.from_text(name).key
                except WireError as exc:
                    raise ValueError(f"bad key name in allow_transfer entry {entry!r}: {exc.reason}") from None
            elif words:
                raise ValueError(f"bad allow_transfer entry {entry!r}: ADDR[/LEN] [key NAME]")
            rules.append((net, key))
        return cls(tuple(rules))

    def allows(self, client: str, key: Name | None) -> bool:
        """True when some entry matches the client address and the TSIG key (if it names one)."""
        try:
            addr = ipaddress.ip_address(client.split("%")[0])
        except ValueError:
            addr = None
        for net, need in self.rules:
            if net is not None and (addr is None or addr not in net):
                continue
            if need is not None and (key is None or key.key != need):
                continue
            return True
        return False
