"""The NSEC or NSEC3 chain of a signed zone, checked complete and closed (pure).

RFC 4034 §4 and §6.1 (NSEC, canonical order), RFC 4035 §2.3 (every authoritative name and
every delegation owns an NSEC; bitmaps), RFC 5155 §7.1 and §8.3-8.7 (NSEC3: every authoritative
name and empty non-terminal has one, unless opt-out skips an insecure delegation; the chain is
ordered by hash and loops back).

How it works: the caller (:mod:`dns_suite.zone.verify`) gives the zone and its
:class:`Namespace`: which names are authoritative, which are delegations and whether they have
DS. :func:`check_nsec` sorts the names canonically and walks them: each owns one NSEC whose
next name is the following name (the last points back to the apex) and whose bitmap lists
exactly the types at the name. :func:`check_nsec3` hashes every name that needs an NSEC3 with
the NSEC3PARAM's parameters, sorts the NSEC3 owners of those parameters by hash, and checks the
loop, the bitmaps, and that each missing name is one opt-out allows (an insecure delegation, or
an empty non-terminal above insecure delegations only) inside an opt-out span. Every problem is
a :class:`~dns_suite.zone.model.Problem` with line 0 and the owner set (the loader finds the line).
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name, decode_name
from dns_suite.wire.types import RRType
from dns_suite.zone.model import Problem, Zone
from dns_suite.zone.nsec import Nsec3Params, b32hex, canonical_key, label_digest, nsec3_hash

NS, SOA, DS, RRSIG, NSEC, NSEC3, NSEC3PARAM = 2, 6, 43, 46, 47, 50, 51
AT_CUT = frozenset({NS, DS, RRSIG, NSEC})
"""Types that belong to the parent side of a zone cut (the rest there is occluded)."""
OPT_OUT = 0x01


@dataclass(frozen=True, slots=True, kw_only=True)
class Namespace:
    """The names of a zone that DNSSEC covers.

    Attributes:
        names: owner keys of the authoritative names: the apex, names with data not below a
            cut, and the delegation points; NSEC3 owners excluded.
        cuts: delegation points (a subset of ``names``).
        secure_cuts: delegations with a DS RRset.
        ents: empty non-terminals not below a cut.
        needed_ents: those of ``ents`` with a name below them that is not an insecure
            delegation (opt-out may not skip them, RFC 5155 §7.1).
    """

    names: tuple[bytes, ...]
    cuts: frozenset[bytes]
    secure_cuts: frozenset[bytes]
    ents: frozenset[bytes]
    needed_ents: frozenset[bytes]


def type_name(rrtype: int) -> str:
    """A type's mnemonic (``TYPE65534`` for unknown ones)."""
    return RRType(rrtype).to_text()


def bitmap_types(data: bytes) -> set[int] | None:
    """The types of an NSEC/NSEC3 type bitmap (RFC 4034 §4.1.2), or None when malformed."""
    types: set[int] = set()
    pos, end = 0, len(data)
    while pos < end:
        if pos + 2 > end:
            return None
        window, length = data[pos], data[pos + 1]
        if not 1 <= length <= 32 or pos + 2 + length > end:
            return None
        for i, octet in enumerate(data[pos + 2:pos + 2 + length]):
            for bit in range(8):
                if octet & (0x80 >> bit):
                    types.add(window * 256 + i * 8 + bit)
        pos += 2 + length
    return types


def types_at(zone: Zone, key: bytes, cut: bool) -> set[int]:
    """The types a bitmap must list for the name ``key`` (NSEC/NSEC3 not counted)."""
    types = {r.rrtype for r in zone.node(key)} - {NSEC, NSEC3}
    return types & AT_CUT if cut else types


def _bitmap_problem(listed: set[int], present: set[int]) -> str | None:
    extra, missing = sorted(listed - present), sorted(present - listed)
    if not extra and not missing:
        return None
    parts = []
    if extra:
        parts.append("lists " + " ".join(map(type_name, extra)) + " not present")
    if missing:
        parts.append("omits " + " ".join(map(type_name, missing)))
    return "type bitmap " + " and ".join(parts)


def _report(out: list[Problem], key: bytes, rrtype: int, reason: str,
            severity: str = "error") -> None:
    out.append(Problem(severity=severity, file="", line=0, owner=Name(key, key), rrtype=rrtype,
                       reason=f"{Name(key, key)}/{type_name(rrtype)}: {reason}"))


# --- NSEC ------------------------------------------------------------------------------------

def check_nsec(zone: Zone, space: Namespace) -> list[Problem]:
    """Check the NSEC chain (RFC 4035 §2.3, RFC 4034 §4.1).

    Args:
        zone: the signed zone.
        space: its :class:`Namespace`.

    Returns:
        The problems: a name without NSEC (the chain is broken there), a next name other than
        the following name in canonical order, a bitmap that differs from the types present,
        an NSEC at a name that is not authoritative (glue, occluded).
    """
    out: list[Problem] = []
    ordered = sorted(space.names, key=canonical_key)
    wanted = set(ordered)
    for key, first in zone.nodes.items():
        if key not in wanted and zone.get(key, NSEC) is not None:
            _report(out, key, NSEC, "NSEC at a name that is not authoritative (glue or occluded)")
    for i, key in enumerate(ordered):
        nxt = ordered[i + 1] if i + 1 < len(ordered) else zone.origin.key
        rrset = zone.get(key, NSEC)
        if rrset is None:
            prev = Name(ordered[i - 1], ordered[i - 1]) if i else None
            where = f" (the NSEC at {prev} points here)" if prev is not None else ""
            _report(out, key, NSEC, f"no NSEC record: the NSEC chain is broken{where}")
            continue
        if len(rrset.rdatas) > 1:
            _report(out, key, NSEC, f"{len(rrset.rdatas)} NSEC records at one name")
        _check_one_nsec(out, zone, key, rrset.rdatas[0], nxt, key in space.cuts)
    return out


def _check_one_nsec(out: list[Problem], zone: Zone, key: bytes, rdata: bytes, nxt: bytes,
                    cut: bool) -> None:
    try:
        next_name, pos = decode_name(rdata, 0, len(rdata), decompress=False)
    except WireError:
        _report(out, key, NSEC, "malformed NSEC rdata")
        return
    if next_name.key != nxt:
        _report(out, key, NSEC, f"next name is {next_name}, expected {Name(nxt, nxt)} "
                "(the NSEC chain is broken)")
    listed = bitmap_types(rdata[pos:])
    if listed is None:
        _report(out, key, NSEC, "malformed type bitmap")
        return
    problem = _bitmap_problem(listed - {NSEC}, types_at(zone, key, cut))
    if problem is None and NSEC not in listed:
        problem = "type bitmap omits NSEC"
    if problem:
        _report(out, key, NSEC, problem)


# --- NSEC3 -----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _Link:
    """One NSEC3 of the chain: its owner key, flags, next hashed owner and bitmap types."""

    owner: bytes
    flags: int
    next_hash: bytes
    types: set[int] | None


def nsec3_params(zone: Zone) -> Nsec3Params | None:
    """The parameters of the apex's first NSEC3PARAM (RFC 5155 §4), or None without one."""
    rrset = zone.get(zone.origin.key, NSEC3PARAM)
    for rd in rrset.rdatas if rrset is not None else ():
        params = Nsec3Params.from_rdata(rd)
        if params is not None:
            return params
    return None


def _links(zone: Zone, params: Nsec3Params, out: list[Problem]) -> dict[bytes, _Link]:
    """The NSEC3 RRs with ``params``, one label below the apex, keyed by their hash."""
    okey = zone.origin.key
    links: dict[bytes, _Link] = {}
    for key, first in zone.nodes.items():
        if key[0] == 0 or key[key[0] + 1:] != okey:
            continue
        rrset = zone.get(key, NSEC3)
        mine = [rd for rd in rrset.rdatas if params.matches(rd)] if rrset is not None else []
        if not mine:
            continue
        digest = label_digest(key[1:key[0] + 1])
        if digest is None:
            _report(out, key, NSEC3, "owner label is not a base32hex hash")
            continue
        if len(mine) > 1:
            _report(out, key, NSEC3, f"{len(mine)} NSEC3 records with the same parameters")
        rd = mine[0]
        salt_end = 5 + rd[4]
        hash_end = salt_end + 1 + rd[salt_end] if len(rd) > salt_end else len(rd) + 1
        if hash_end > len(rd):
            _report(out, key, NSEC3, "malformed NSEC3 rdata")
            continue
        links[digest] = _Link(key, rd[1], rd[salt_end + 1:hash_end], bitmap_types(rd[hash_end:]))
    return links


def check_nsec3(zone: Zone, space: Namespace, params: Nsec3Params) -> list[Problem]:
    """Check the NSEC3 chain made with ``params`` (RFC 5155 §7.1, §8.3).

    Args:
        zone: the signed zone.
        space: its :class:`Namespace`.
        params: the NSEC3PARAM's parameters (hash algorithm 1, SHA-1).

    Returns:
        The problems: a name or needed empty non-terminal without NSEC3, an insecure
        delegation skipped outside an opt-out span, an NSEC3 that matches no name, a next
        hashed owner other than the following hash (the chain is broken or not closed), a
        bitmap that differs from the types present.
    """
    out: list[Problem] = []
    links = _links(zone, params, out)
    hashes = sorted(links)
    hashed: dict[bytes, bytes] = {}  # digest -> name key
    for key in (*space.names, *space.ents):
        hashed[nsec3_hash(key, params.salt, params.iterations)] = key
    for i, digest in enumerate(hashes):
        link = links[digest]
        expected = hashes[(i + 1) % len(hashes)]
        if link.next_hash != expected:
            _report(out, link.owner, NSEC3, f"next hashed owner is {b32hex(link.next_hash)}, "
                    f"expected {b32hex(expected)} (the NSEC3 chain is broken)")
        key = hashed.get(digest)
        if key is None:
            _report(out, link.owner, NSEC3, "matches no name of the zone")
        elif link.types is None:
            _report(out, link.owner, NSEC3, "malformed type bitmap")
        else:
            present = set() if key in space.ents else types_at(zone, key, key in space.cuts)
            problem = _bitmap_problem(link.types, present)
            if problem:
                _report(out, link.owner, NSEC3, f"(for {Name(key, key)}) {problem}")
    for digest, key in hashed.items():
        if digest not in links:
            _missing(out, key, digest, space, links, hashes)
    return out


def _missing(out: list[Problem], key: bytes, digest: bytes, space: Namespace,
             links: dict[bytes, _Link], hashes: list[bytes]) -> None:
    """Report a name without NSEC3 unless opt-out allows it (RFC 5155 §7.1, §8.7)."""
    optional = ((key in space.cuts and key not in space.secure_cuts)
                or (key in space.ents and key not in space.needed_ents))
    if optional and hashes:
        cover = links[hashes[bisect_right(hashes, digest) - 1]]
        if cover.flags & OPT_OUT:
            return
        what = "insecure delegation" if key in space.cuts else "empty non-terminal"
        _report(out, key, NSEC3, f"{what} without NSEC3 (hash {b32hex(digest)}) and the NSEC3 "
                f"covering it, {Name(cover.owner, cover.owner)}, has no opt-out flag")
        return
    what = " (empty non-terminal)" if key in space.ents else ""
    _report(out, key, NSEC3, f"no NSEC3 record{what} for hash {b32hex(digest)}: the NSEC3 "
            "chain is incomplete")
