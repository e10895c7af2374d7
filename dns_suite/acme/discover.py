"""Where a DNS-01 TXT record goes, found from a resolver's answers (pure).

How it works: two small machines, each a frozen state whose ``ask`` is the next question to
send to a recursive resolver (RD=1) and whose ``step(reply)`` returns the next state or the
result. The caller owns the sockets; these only read decoded replies.

:class:`ChainWalk` follows the CNAME chain at ``_acme-challenge.<name>`` one link per query
(acme-dns style delegation: the TXT goes where the chain ends). It asks type CNAME, so a
resolver answers the link itself and never chases it; DNAME-synthesised CNAMEs (RFC 6672)
count as links.

=====================================  =============================================
reply to ``current CNAME``             next
=====================================  =============================================
rcode other than NOERROR/NXDOMAIN      :class:`DiscoveryError`
CNAME owned by ``current`` in answer   ChainWalk at its target; a target already
                                       passed (loop) or more than ``MAX_LINKS``
                                       links -> :class:`DiscoveryError`
anything else (NODATA, NXDOMAIN)       :class:`ChainEnd` at ``current``
=====================================  =============================================

:class:`ZoneSearch` finds the zone holding a name by SOA queries at the name, its parent, and
so on up to the root:

=====================================  =============================================
reply to ``probe SOA``                 next
=====================================  =============================================
rcode other than NOERROR/NXDOMAIN      :class:`DiscoveryError`
CNAME owned by ``probe`` in answer     probe the parent: a CNAME owner is never a
                                       zone apex (RFC 1034 §3.6.2), and the SOA the
                                       resolver found at its target would fool us
SOA owned by ``probe`` in answer       :class:`ZoneFound` (``probe`` is an apex)
no answer, SOA in authority owning     :class:`ZoneFound` at the SOA's owner
``probe`` (NXDOMAIN or NODATA,         (RFC 2308 §3)
RFC 2308 §2)
anything else                          probe the parent; past the root ->
                                       :class:`DiscoveryError`
=====================================  =============================================

A ``_acme-challenge`` name delegated as a zone of its own answers its own SOA, so it is found
at the first probe.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dns_suite.errors import DnsSuiteError
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message
from dns_suite.wire.name import ROOT, Name, decode_name
from dns_suite.wire.types import Rcode, RRType

__all__ = ["Ask", "ChainEnd", "ChainWalk", "DiscoveryError", "MAX_LINKS", "ZoneFound", "ZoneSearch",
           "addresses", "challenge_name", "ns_names", "soa_mname"]

MAX_LINKS = 8  # CNAME links followed from _acme-challenge.<name>
_USABLE = (Rcode.NOERROR, Rcode.NXDOMAIN)


class DiscoveryError(DnsSuiteError):
    """The DNS does not say where the TXT goes (a broken chain, no zone, a failing resolver)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ask:
    """A question for the resolver: ``name`` / ``rrtype``, class IN, RD=1."""

    name: Name
    rrtype: int


def challenge_name(identifier: str) -> Name:
    """``_acme-challenge.<identifier>.`` for an ACME DNS identifier (RFC 8555 §8.4).

    A leading ``*.`` is dropped (a wildcard's TXT sits at its base name) and a final dot is
    optional.

    Raises:
        DiscoveryError: the identifier is not a valid name.
    """
    text = identifier[2:] if identifier.startswith("*.") else identifier
    text = text.rstrip(".")
    if not text:
        raise DiscoveryError(f"empty identifier {identifier!r}")
    try:
        return Name.from_text(f"_acme-challenge.{text}.")
    except WireError as exc:
        raise DiscoveryError(f"identifier {identifier!r}: {exc}") from None


def _cname_at(reply: Message, owner: Name) -> Name | None:
    """The target of the CNAME owned by ``owner`` in the answer section, or None."""
    for rr in reply.answer:
        if rr.rrtype == RRType.CNAME and rr.owner == owner:
            return decode_name(rr.rdata, 0, len(rr.rdata), decompress=False)[0]
    return None


def _check_rcode(reply: Message, ask: Ask) -> None:
    if reply.rcode not in _USABLE:
        raise DiscoveryError(f"resolver answered {Rcode(reply.rcode).to_text()} to "
                             f"{ask.name} {RRType(ask.rrtype).to_text()}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainEnd:
    """The end of the chain: the TXT goes at ``target``.

    Attributes:
        start: ``_acme-challenge.<name>``.
        target: the last name of the chain (``start`` when there is no CNAME).
        links: the names passed through, ``start`` first, ``target`` excluded.
    """

    start: Name
    target: Name
    links: tuple[Name, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainWalk:
    """Following the CNAME chain from ``start``; ``current`` is the name asked next."""

    start: Name
    current: Name
    links: tuple[Name, ...] = ()

    @classmethod
    def begin(cls, start: Name) -> ChainWalk:
        """The walk from ``start`` (usually :func:`challenge_name`)."""
        return cls(start=start, current=start)

    @property
    def ask(self) -> Ask:
        """The question to send next."""
        return Ask(name=self.current, rrtype=RRType.CNAME)

    def step(self, reply: Message) -> ChainWalk | ChainEnd:
        """Feed the resolver's reply to :attr:`ask`.

        Raises:
            DiscoveryError: a failing rcode, a loop, or a chain over ``MAX_LINKS`` links.
        """
        _check_rcode(reply, self.ask)
        target = _cname_at(reply, self.current)
        if target is None:
            return ChainEnd(start=self.start, target=self.current, links=self.links)
        links = self.links + (self.current,)
        if target == self.current or target in links:
            path = " -> ".join(str(n) for n in links + (target,))
            raise DiscoveryError(f"CNAME loop: {path}")
        if len(links) > MAX_LINKS:
            raise DiscoveryError(f"CNAME chain from {self.start} longer than {MAX_LINKS} links")
        return ChainWalk(start=self.start, current=target, links=links)


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneFound:
    """The zone holding ``name``.

    Attributes:
        name: the name whose zone was sought.
        zone: the zone's apex.
        mname: the SOA MNAME (the primary, RFC 1035 §3.3.13, RFC 2136 §4).
        soa: the SOA RR it was read from.
    """

    name: Name
    zone: Name
    mname: Name
    soa: RR


def soa_mname(rr: RR) -> Name:
    """The MNAME of a SOA RR (its first rdata name).

    Raises:
        DiscoveryError: malformed SOA rdata.
    """
    try:
        return decode_name(rr.rdata, 0, len(rr.rdata), decompress=False)[0]
    except WireError as exc:
        raise DiscoveryError(f"SOA of {rr.owner}: {exc}") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoneSearch:
    """Looking for the zone of ``name``; ``probe`` is the name asked next (type SOA)."""

    name: Name
    probe: Name

    @classmethod
    def begin(cls, name: Name) -> ZoneSearch:
        """The search for the zone holding ``name`` (e.g. a :class:`ChainEnd` target)."""
        return cls(name=name, probe=name)

    @property
    def ask(self) -> Ask:
        """The question to send next."""
        return Ask(name=self.probe, rrtype=RRType.SOA)

    def step(self, reply: Message) -> ZoneSearch | ZoneFound:
        """Feed the resolver's reply to :attr:`ask`.

        Raises:
            DiscoveryError: a failing rcode, or no zone found up to the root.
        """
        _check_rcode(reply, self.ask)
        if _cname_at(reply, self.probe) is None:
            for rr in reply.answer:
                if rr.rrtype == RRType.SOA and rr.owner == self.probe:
                    return self._found(self.probe, rr)
            if not reply.answer:
                for rr in reply.authority:
                    if rr.rrtype == RRType.SOA and self.probe.is_subdomain(rr.owner):
                        return self._found(rr.owner, rr)
        if self.probe == ROOT:
            raise DiscoveryError(f"no zone found for {self.name}")
        return ZoneSearch(name=self.name, probe=self.probe.parent())

    def _found(self, zone: Name, rr: RR) -> ZoneFound:
        return ZoneFound(name=self.name, zone=zone, mname=soa_mname(rr), soa=rr)


def ns_names(reply: Message, zone: Name) -> tuple[Name, ...]:
    """The NS set of ``zone`` from the resolver's reply to ``zone NS``, in answer order.

    Raises:
        DiscoveryError: a failing rcode or no NS RRs owned by ``zone``.
    """
    _check_rcode(reply, Ask(name=zone, rrtype=RRType.NS))
    names: list[Name] = []
    for rr in reply.answer:
        if rr.rrtype == RRType.NS and rr.owner == zone:
            target = decode_name(rr.rdata, 0, len(rr.rdata), decompress=False)[0]
            if target not in names:
                names.append(target)
    if not names:
        raise DiscoveryError(f"no NS records for zone {zone} "
                             f"(rcode {Rcode(reply.rcode).to_text()})")
    return tuple(names)


def addresses(reply: Message, name: Name, rrtype: int) -> tuple[str, ...]:
    """The addresses (A or AAAA ``rrtype``) of ``name`` in the resolver's reply, following the
    CNAMEs the answer holds (at most ``MAX_LINKS``); NXDOMAIN and NODATA give ``()``.

    Returns:
        addresses in presentation form (``"192.0.2.1"``, ``"2001:db8::1"``), answer order.

    Raises:
        DiscoveryError: a failing rcode, or a CNAME loop in the answer.
    """
    _check_rcode(reply, Ask(name=name, rrtype=rrtype))
    owner, seen = name, {name}
    for _ in range(MAX_LINKS):
        target = _cname_at(reply, owner)
        if target is None:
            break
        if target in seen:
            raise DiscoveryError(f"CNAME loop at {target} resolving {name}")
        seen.add(target)
        owner = target
    size = 4 if rrtype == RRType.A else 16
    out = [str(ipaddress.ip_address(rr.rdata)) for rr in reply.answer
           if rr.rrtype == rrtype and rr.owner == owner and len(rr.rdata) == size]
    return tuple(dict.fromkeys(out))
