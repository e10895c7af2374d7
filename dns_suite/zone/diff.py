"""Zone diffs: the change between two zone versions, its journal encoding, and
applying it to a snapshot (pure; RFC 1995 §4, RFC 1982).

A :class:`Diff` is an IXFR difference sequence: the old SOA among the removed
RRs, the new SOA among the added ones. This module encodes diffs as journal
entries and scans journal octets (the file format is described in
:mod:`dns_suite.zone.journal`, which does the file I/O), chains them by serial,
and applies them to a :class:`~dns_suite.zone.model.Zone`.
"""

from __future__ import annotations

import logging
import struct
import zlib
from dataclasses import dataclass
from typing import Iterable, NamedTuple

from dns_suite.errors import DnsSuiteError
from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name, decode_name
from dns_suite.wire.reader import Reader
from dns_suite.zone.model import SOA, Zone, ZoneBuilder

log = logging.getLogger("dns_suite.zone.journal")

MAGIC = b"DNSSUITE-JNL 1\n"
_ENTRY_HEAD = struct.Struct("!II")  # length, crc
_BODY_HEAD = struct.Struct("!IIII")  # serial_from, serial_to, removed, added
_CHANGE = struct.Struct("!HIH")  # type, ttl, rdlength
_HALF = 1 << 31


class JournalError(DnsSuiteError):
    """A journal file or a diff is wrong: unreadable, unwritable, or not chaining."""


class Change(NamedTuple):
    """One RR of a diff. ``ttl`` in seconds; ``rdata`` uncompressed wire octets."""

    owner_wire: bytes
    rrtype: int
    ttl: int
    rdata: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Diff:
    """The change from one zone version to the next (RFC 1995 §4).

    Attributes:
        serial_from: SOA serial before.
        serial_to: SOA serial after.
        removed: RRs deleted, the old SOA among them.
        added: RRs added, the new SOA among them.
    """

    serial_from: int
    serial_to: int
    removed: tuple[Change, ...]
    added: tuple[Change, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Scan:
    """What reading a journal's octets gave.

    Attributes:
        diffs: the complete, CRC-valid entries in file order.
        end: offset (octets) after the last good entry; 0 when even the
            magic is missing or torn.
        size: octets read.
        reason: why reading stopped before ``size`` ("" when it did not).
    """

    diffs: tuple[Diff, ...]
    end: int
    size: int
    reason: str


def serial_gt(a: int, b: int) -> bool:
    """True when serial ``a`` is greater than ``b`` (RFC 1982 §3.2).

    Serials are 32-bit; a pair exactly 2**31 apart is undefined and gives False.
    """
    return a != b and ((a < b and b - a > _HALF) or (a > b and a - b < _HALF))
# --- encoding (pure) --------------------------------------------------------


def encode_diff(diff: Diff) -> bytes:
    """The body of an entry (see the module docstring).

    Raises:
        JournalError: a field is out of range or an owner is not an
            uncompressed wire name.
    """
    try:
        parts = [_BODY_HEAD.pack(diff.serial_from, diff.serial_to, len(diff.removed),
                                 len(diff.added))]
        for owner, rrtype, ttl, rdata in (*diff.removed, *diff.added):
            _check_owner(owner)
            parts += (owner, _CHANGE.pack(rrtype, ttl, len(rdata)), rdata)
    except struct.error as exc:
        raise JournalError(f"diff {diff.serial_from}->{diff.serial_to}: field out of range: "
                           f"{exc}") from None
    return b"".join(parts)


def _check_owner(owner: bytes) -> None:
    try:
        _name, end = decode_name(owner, 0, len(owner), decompress=False)
    except WireError as exc:
        raise JournalError(f"bad owner name {owner!r}: {exc.reason}") from None
    if end != len(owner):
        raise JournalError(f"bad owner name {owner!r}: octets after the root label")


def decode_diff(body: bytes) -> Diff:
    """Read an entry body back into a :class:`Diff`.

    Raises:
        JournalError: the body is truncated, has trailing octets or a bad name.
    """
    try:
        r = Reader(body)
        serial_from, serial_to, n_removed, n_added = (r.u32(), r.u32(), r.u32(), r.u32())
        removed = tuple(_read_change(r) for _ in range(n_removed))
        added = tuple(_read_change(r) for _ in range(n_added))
    except WireError as exc:
        raise JournalError(f"bad journal entry: {exc}") from None
    if r.remaining():
        raise JournalError(f"bad journal entry: {r.remaining()} octets after the changes")
    return Diff(serial_from=serial_from, serial_to=serial_to, removed=removed, added=added)


def _read_change(r: Reader) -> Change:
    name, r.pos = decode_name(r.data, r.pos, r.end, decompress=False)
    rrtype, ttl, rdlength = r.u16("type"), r.u32("ttl"), r.u16("rdlength")
    return Change(name.wire, rrtype, ttl, r.take(rdlength, "rdata"))


def encode_entry(diff: Diff) -> bytes:
    """One framed entry: length, CRC-32 and body."""
    body = encode_diff(diff)
    return _ENTRY_HEAD.pack(len(body), zlib.crc32(body)) + body


def scan_journal(data: bytes) -> Scan:
    """Read every complete, CRC-valid entry of a journal file's octets.

    Raises:
        JournalError: the octets do not start with (a prefix of) the magic.
    """
    if len(data) < len(MAGIC) or not data.startswith(MAGIC):
        if not MAGIC.startswith(data[:len(MAGIC)]):
            raise JournalError("not a dns-suite journal (bad magic)")
        return Scan(diffs=(), end=0, size=len(data), reason="torn header" if data else "")
    diffs, pos, reason = [], len(MAGIC), ""
    while pos < len(data):
        if len(data) - pos < _ENTRY_HEAD.size:
            reason = f"torn entry header at offset {pos}"
            break
        length, crc = _ENTRY_HEAD.unpack_from(data, pos)
        start, end = pos + _ENTRY_HEAD.size, pos + _ENTRY_HEAD.size + length
        if end > len(data):
            reason = f"torn entry at offset {pos}: {length} octets announced, {len(data) - start} there"
            break
        body = data[start:end]
        if zlib.crc32(body) != crc:
            reason = f"CRC mismatch in entry at offset {pos}"
            break
        try:
            diffs.append(decode_diff(body))
        except JournalError as exc:
            reason = f"entry at offset {pos}: {exc}"
            break
        pos = end
    return Scan(diffs=tuple(diffs), end=pos, size=len(data), reason=reason)


def since_serial(diffs: list[Diff], serial: int) -> list[Diff] | None:
    """The chain of diffs taking ``serial`` to the newest (for IXFR, RFC 1995).

    Returns:
        The diffs in order ([] when ``serial`` is the newest), or None when the
        diffs do not reach back to ``serial`` without a gap.
    """
    if diffs and diffs[-1].serial_to == serial:
        return []
    out: list[Diff] = []
    for d in reversed(diffs):
        if out and d.serial_to != out[-1].serial_from:
            return None
        out.append(d)
        if d.serial_from == serial:
            return out[::-1]
    return None
# --- applying diffs (pure) --------------------------------------------------


_RRs = dict[tuple[bytes, int], list]  # (owner key, type) -> [owner wire, ttl, [rdata...]]


def apply_diff(zone: Zone, diff: Diff) -> Zone:
    """The zone after ``diff``: a new snapshot, ``zone`` is not changed.

    Raises:
        JournalError: see :func:`apply_diffs`.
    """
    return apply_diffs(zone, [diff])


def apply_diffs(zone: Zone, diffs: Iterable[Diff]) -> Zone:
    """The zone after each of ``diffs`` in turn, rebuilt once (O(zone + diffs)).

    Removed RRs match on owner (case-insensitive), type and rdata octets; the
    TTL is ignored. An added RR gives its TTL to its whole RRset.

    Raises:
        JournalError: a diff's serial_from is not the zone's serial, its SOA
            changes do not leave serial_to, an RR to remove is absent, an RR to
            add is present already or outside the zone, or the result breaks
            the zone checks (CNAME beside data, missing glue, ...).
    """
    rrs: _RRs = {(key, r.rrtype): [r.wire, r.ttl, list(r.rdatas)]
                 for key, first in zone.nodes.items() for r in first.chain()}
    serial, changed = zone.serial, False
    for diff in diffs:
        if diff.serial_from != serial:
            raise JournalError(f"diff {diff.serial_from}->{diff.serial_to} does not apply to "
                               f"serial {serial}")
        for change in diff.removed:
            _remove(rrs, change, diff)
        for change in diff.added:
            _add(rrs, change, diff, zone.origin)
        serial, changed = _soa_serial(rrs, zone.origin, diff), True
    return _build(zone, rrs) if changed else zone


def _where(change: Change, diff: Diff) -> str:
    return f"diff {diff.serial_from}->{diff.serial_to}: {Name(change.owner_wire)} type {change.rrtype}"


def _remove(rrs: _RRs, change: Change, diff: Diff) -> None:
    k = (change.owner_wire.lower(), change.rrtype)
    entry = rrs.get(k)
    if entry is None or change.rdata not in entry[2]:
        raise JournalError(f"{_where(change, diff)}: RR to remove is not in the zone")
    entry[2].remove(change.rdata)
    if not entry[2]:
        del rrs[k]


def _add(rrs: _RRs, change: Change, diff: Diff, origin: Name) -> None:
    k = (change.owner_wire.lower(), change.rrtype)
    entry = rrs.get(k)
    if entry is None:
        if not Name(change.owner_wire).is_subdomain(origin):
            raise JournalError(f"{_where(change, diff)}: outside the zone {origin}")
        rrs[k] = [change.owner_wire, change.ttl, [change.rdata]]
    elif change.rdata in entry[2]:
        raise JournalError(f"{_where(change, diff)}: RR to add is in the zone already")
    else:
        entry[1] = change.ttl
        entry[2].append(change.rdata)


def _soa_serial(rrs: _RRs, origin: Name, diff: Diff) -> int:
    entry = rrs.get((origin.key, SOA))
    if entry is None or len(entry[2]) != 1:
        raise JournalError(f"diff {diff.serial_from}->{diff.serial_to}: leaves "
                           f"{0 if entry is None else len(entry[2])} SOA records")
    serial = int.from_bytes(entry[2][0][-20:-16], "big")
    if serial != diff.serial_to:
        raise JournalError(f"diff {diff.serial_from}->{diff.serial_to}: leaves SOA serial {serial}")
    return serial


def _build(zone: Zone, rrs: _RRs) -> Zone:
    builder = ZoneBuilder(zone.origin, zone.rrclass)
    for (key, rrtype), (wire, ttl, rdatas) in rrs.items():
        owner = Name(wire, key)
        for rdata in rdatas:
            builder.add(owner, ttl, rrtype, rdata, "<journal>", 0)
    new, problems = builder.build()
    if new is None:
        errors = "; ".join(p.reason for p in problems if p.severity == "error")
        raise JournalError(f"zone {zone.origin} after the journal: {errors}")
    return new


def replay_diffs(zone: Zone, diffs: Iterable[Diff]) -> tuple[Zone, int, list[str]]:
    """Bring ``zone`` forward through the diffs that follow its serial.

    Diffs that end at or before the zone's serial (RFC 1982) are skipped; a
    diff that neither continues the chain nor is older stops the replay.

    Returns:
        ``(zone, applied_count, warnings)``; a warning names the gap.

    Raises:
        JournalError: a chaining diff does not apply (see :func:`apply_diffs`).
    """
    serial, chain, warnings = zone.serial, [], []
    for d in diffs:
        if d.serial_from == serial:
            chain.append(d)
            serial = d.serial_to
        elif serial_gt(serial, d.serial_from) and not serial_gt(d.serial_to, serial):
            continue
        else:
            warnings.append(f"journal gap: zone at serial {serial}, next entry is "
                            f"{d.serial_from}->{d.serial_to}; later entries not applied")
            break
    return apply_diffs(zone, chain), len(chain), warnings
