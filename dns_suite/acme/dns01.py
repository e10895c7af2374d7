"""The DNS side of DNS-01 (I/O): publish challenge TXT values by RFC 2136 UPDATE, prove that every
authoritative server serves them, and remove exactly them afterwards.

:func:`publish` works in four steps, each logged on one info line with its figures:

1. **Discovery** through a recursive resolver (RD=1): the CNAME chain at
   ``_acme-challenge.<identifier>`` (:class:`~dns_suite.acme.discover.ChainWalk`), the zone
   holding its end (:class:`~dns_suite.acme.discover.ZoneSearch`), the zone's NS set and every
   address (A and AAAA) of every NS name, and the primary's address (the configured server,
   by address or host name, else the SOA MNAME).
2. **UPDATE**: one TSIG-signed UPDATE per zone with every value of the batch (class IN adds),
   over UDP, retried over TCP on a timeout (adds are idempotent, RFC 2136 §3.4.2.2).
3. **Proof of propagation**: every address of every NS (port ``discovery_port``, RD=0, UDP then
   TCP on TC), or the ``check_servers``, is asked for the TXT until it returns every value
   added, with pauses from 10 ms doubling up to ``poll`` seconds, until the deadline. An
   address with no route from here (IPv6 on an IPv4-only host) is left out with a warning; one
   that does not answer lags.
4. On any failure after an UPDATE went out: a delete UPDATE removes what was added, then the
   error is raised (:class:`PublishError` or :class:`PropagationError`).

:func:`unpublish` deletes exactly the values added (class NONE, RFC 2136 §2.5.4), never the
RRset, so other orders' values and unrelated TXT records survive.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import secrets
import time
from dataclasses import dataclass, field

from dns_suite.acme.discover import (MAX_LINKS, Ask, ChainWalk, DiscoveryError, ZoneFound, ZoneSearch,
                                     addresses, challenge_name, ns_names)
from dns_suite.acme.propagation import Lag, Server, hostport, prove
from dns_suite.acme.publish import build_update, check_reply
from dns_suite.errors import DnsSuiteError
from dns_suite.net.client import QueryError, QueryTimeout, query
from dns_suite.wire.edns import Edns
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import Message, decode, encode, make_query
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import TsigKey
from dns_suite.wire.types import RRType

__all__ = ["Lag", "PropagationError", "PublishError", "Published", "Server", "UpdateRefused", "UpdateTarget",
           "publish", "unpublish"]

log = logging.getLogger("dns_suite.acme.dns01")

QUERY_TIMEOUT = 2.0  # seconds for one resolver query (tried twice)
UPDATE_TIMEOUT = 5.0  # seconds for one UPDATE over UDP, then as much over TCP
RESOLV_CONF = "/etc/resolv.conf"


@dataclass(frozen=True, slots=True, kw_only=True)
class UpdateTarget:
    """Where and how to UPDATE, and how to discover.

    Attributes:
        server: host name or IP address of the zone's primary; None = the SOA MNAME of the
            zone found. A host name is resolved through ``resolver``.
        port: the primary's port.
        key: the TSIG key (RFC 8945), or None for unsigned updates.
        check_servers: ``(address, port)`` pairs to prove propagation on instead of the NS set.
        resolver: ``(address, port)`` of the recursive resolver used for discovery; None = the
            first ``nameserver`` of /etc/resolv.conf, port 53.
        discovery_port: port of the authoritative servers found from the NS set.
    """

    server: str | None
    port: int = 53
    key: TsigKey | None
    check_servers: tuple[tuple[str, int], ...] = ()
    resolver: tuple[str, int] | None = None
    discovery_port: int = 53


@dataclass(frozen=True, slots=True, kw_only=True)
class Published:
    """What :func:`publish` added, to remove exactly that later.

    Attributes:
        records: ``(zone, owner name, TXT value, (update server address, port))``, names
            absolute in presentation form.
        key: the TSIG key the deletes are signed with.
        servers: ``(NS name or "", address, port)`` of every server that proved it serves them.
        seconds: publish's wall time, discovery to proof, seconds.
        propagation: seconds from the last UPDATE's reply to the last server showing every value.
    """

    records: tuple[tuple[str, str, str, tuple[str, int]], ...]
    key: TsigKey | None = None
    servers: tuple[tuple[str, str, int], ...] = ()
    seconds: float = 0.0
    propagation: float = 0.0


class Dns01Error(DnsSuiteError):
    """DNS-01 publication failed."""


class PublishError(Dns01Error):
    """Discovery failed or the UPDATE was not applied; the message names the key and server."""


class UpdateRefused(PublishError):
    """The primary answered the UPDATE with an error (or a bad signature): nothing was applied."""


class PropagationError(Dns01Error):
    """Some authoritative servers did not serve every value by the deadline.

    Attributes:
        lagging: one :class:`Lag` per server behind.
    """

    def __init__(self, message: str, lagging: tuple[Lag, ...]) -> None:
        super().__init__(message)
        self.lagging = lagging


@dataclass(slots=True, kw_only=True)
class _Zone:
    """One zone's share of the batch."""

    zone: Name
    mname: Name | None = None
    values: list[tuple[Name, str]] = field(default_factory=list)
    primary: tuple[str, ...] = ()
    servers: tuple[Server, ...] = ()
    sent_to: tuple[str, int] | None = None


class _Resolver:
    """Discovery queries to the recursive resolver (RD=1); answers are kept for the batch."""

    def __init__(self, addr: tuple[str, int], end: float) -> None:
        self.addr, self.end = addr, end
        self.cache: dict[tuple[bytes, int], Message] = {}

    async def ask(self, ask: Ask) -> Message:
        """The resolver's reply to ``ask`` (tried twice, each within ``QUERY_TIMEOUT``).

        Raises:
            DiscoveryError: no reply, or an unusable one.
        """
        key = (ask.name.key, ask.rrtype)
        for _ in range(2):
            timeout = min(QUERY_TIMEOUT, self.end - time.monotonic())
            if key in self.cache or timeout <= 0:
                break
            wire = encode(make_query(ask.name, ask.rrtype, ident=secrets.randbelow(65536), rd=True,
                                     edns=Edns(payload=1232)))
            try:
                self.cache[key] = decode(await query(self.addr, wire, timeout=timeout))
            except QueryTimeout:
                continue
            except (QueryError, WireError) as exc:
                raise DiscoveryError(f"{ask.name} {RRType(ask.rrtype).to_text()}: {exc}") from None
        if key not in self.cache:
            raise DiscoveryError(f"no answer to {ask.name} {RRType(ask.rrtype).to_text()}")
        return self.cache[key]

    async def addresses(self, name: Name) -> tuple[str, ...]:
        """Every IPv4 and IPv6 address of ``name`` (a failing AAAA is not fatal)."""
        found = list(addresses(await self.ask(Ask(name=name, rrtype=RRType.A)), name, RRType.A))
        try:
            found += addresses(await self.ask(Ask(name=name, rrtype=RRType.AAAA)), name, RRType.AAAA)
        except DiscoveryError as exc:
            log.warning("dns01: AAAA of %s: %s", name, exc)
        return tuple(found)


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def system_resolver(path: str = RESOLV_CONF) -> tuple[str, int]:
    """The first ``nameserver`` of ``path`` on port 53 (127.0.0.1 when there is none, as the
    C library does)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0] == "nameserver" and _is_address(parts[1].split("%")[0]):
                    return (parts[1], 53)
    except OSError:
        pass
    return ("127.0.0.1", 53)


async def _discover(challenges: list[tuple[str, str]], target: UpdateTarget,
                    res: _Resolver) -> list[_Zone]:
    """Step 1: the zones, their primaries and servers, with the values grouped per zone."""
    idents = list(dict.fromkeys(i for i, _ in challenges))
    owners = dict(zip(idents, await asyncio.gather(*(_chain_end(i, res) for i in idents))))
    targets = list(dict.fromkeys(owners.values()))
    found = dict(zip(targets, await asyncio.gather(*(_zone_of(t, res) for t in targets))))
    for owner, where in found.items():
        if where.zone.label_count() == 0:  # a name in no zone we serve: never UPDATE the root
            raise DiscoveryError(f"{owner} is in no zone below the root")
    zones: dict[Name, _Zone] = {}
    for ident, value in challenges:
        owner = owners[ident]
        entry = zones.setdefault(found[owner].zone, _Zone(zone=found[owner].zone, mname=found[owner].mname))
        if (owner, value) not in entry.values:
            entry.values.append((owner, value))
    await asyncio.gather(*(_servers(z, target, res) for z in zones.values()))
    return list(zones.values())


async def _chain_end(identifier: str, res: _Resolver) -> Name:
    """Where the CNAME chain at ``_acme-challenge.<identifier>`` ends."""
    end = await _run(ChainWalk.begin(challenge_name(identifier)), res, MAX_LINKS + 2)
    if end.links:
        log.info("dns01: %s is a CNAME chain of %d link(s) to %s", end.start, len(end.links), end.target)
    return end.target


async def _zone_of(name: Name, res: _Resolver) -> ZoneFound:
    """The zone holding ``name`` (SOA probes from ``name`` up to the root)."""
    return await _run(ZoneSearch.begin(name), res, name.label_count() + 2)


async def _run(state: ChainWalk | ZoneSearch, res: _Resolver, steps: int):
    """Drive a discovery machine with the resolver's replies (it stops itself within ``steps``)."""
    for _ in range(steps):
        if not isinstance(state, (ChainWalk, ZoneSearch)):
            return state
        state = state.step(await res.ask(state.ask))
    raise DiscoveryError(f"discovery did not end in {steps} steps")  # pragma: no cover - bounded above


async def _servers(z: _Zone, target: UpdateTarget, res: _Resolver) -> None:
    """Fill in ``z``'s primary addresses and the servers to prove propagation on."""
    server = target.server or str(z.mname)
    if _is_address(server):
        z.primary = (server,)
    else:
        try:
            host = Name.from_text(server if server.endswith(".") else server + ".")
        except WireError as exc:
            raise DiscoveryError(f"update server {server!r}: {exc}") from None
        z.primary = await res.addresses(host)
        if not z.primary:
            raise DiscoveryError(f"update server {server} has no address")
    if target.check_servers:
        z.servers = tuple(Server(name="", address=a, port=p) for a, p in target.check_servers)
    else:
        names = ns_names(await res.ask(Ask(name=z.zone, rrtype=RRType.NS)), z.zone)
        found = await asyncio.gather(*(res.addresses(n) for n in names))
        z.servers = tuple(Server(name=n.to_text(), address=a, port=target.discovery_port)
                          for n, addrs in zip(names, found) for a in addrs)
        for n, addrs in zip(names, found):
            if not addrs:
                log.warning("dns01: NS %s of %s has no address", n, z.zone)
        if not z.servers:
            raise DiscoveryError(f"no NS of zone {z.zone} has an address")
    log.info("dns01: zone %s: %d value(s) at %s; primary %s (%s) port %d; %d server(s) to check",
             z.zone, len(z.values), ", ".join(sorted({str(o) for o, _ in z.values})), server,
             ", ".join(z.primary), target.port, len(z.servers))


async def _update(z: _Zone, key: TsigKey | None, port: int, *, add: bool, end: float | None = None) -> None:
    """Send ``z``'s add (``add``) or delete UPDATE to the first primary address that answers,
    each try bounded by ``UPDATE_TIMEOUT`` and by ``end`` (monotonic seconds) when given.

    Raises:
        UpdateRefused: the primary answered with an error.
        PublishError: no address answered.
    """
    what = "add" if add else "delete"
    keyname = key.name.to_text() if key is not None else "(no key)"
    problems = []
    for addr in z.primary:
        server = (addr, port)
        z.sent_to = server
        for tcp in (False, True):
            upd = build_update(z.zone, z.values, add=add, key=key, ident=secrets.randbelow(65536),
                               now=int(time.time()))
            began = time.monotonic()
            timeout = UPDATE_TIMEOUT if end is None else min(UPDATE_TIMEOUT, end - began)
            if timeout <= 0:
                problems.append("deadline passed")
                break
            try:
                reply = await query(server, upd.wire, timeout=timeout, tcp=tcp)
            except QueryTimeout as exc:
                problems.append(str(exc))
                continue
            except QueryError as exc:
                problems.append(str(exc))
                log.warning("dns01: UPDATE to %s: %s", hostport(server), exc.reason)
                break
            verdict = check_reply(upd, reply, now=int(time.time()))
            if not verdict.ok:
                raise UpdateRefused(f"UPDATE ({what}) of zone {z.zone} at {hostport(server)} with key "
                                   f"{keyname}: {verdict.reason}")
            log.info("dns01: UPDATE %s %d TXT in zone %s at %s key %s: NOERROR in %.1f ms", what,
                     len(z.values), z.zone, hostport(server), keyname, (time.monotonic() - began) * 1e3)
            return
    raise PublishError(f"UPDATE ({what}) of zone {z.zone} with key {keyname}: no answer from "
                       f"{', '.join(z.primary)} port {port}: {'; '.join(problems)}")


async def publish(challenges: list[tuple[str, str]], target: UpdateTarget, *, deadline: float = 120.0,
                  poll: float = 0.2) -> Published:
    """Publish the TXT values of DNS-01 challenges and prove every authoritative server has them.

    Args:
        challenges: ``(identifier, TXT value)`` pairs, the identifier without ``*.`` (a
            wildcard and its apex give two values at one name).
        target: the update server, key and discovery settings.
        deadline: seconds for the whole of it, discovery to proof.
        poll: the longest pause, seconds, between two questions to a server that lags (the
            first pauses are shorter: ``propagation.FIRST_POLL``, doubling).

    Returns:
        :class:`Published`, for :func:`unpublish`.

    Raises:
        PublishError: discovery failed (naming the resolver) or an UPDATE was refused (naming
            zone, server, key, rcode and TSIG error).
        PropagationError: servers lagged at the deadline (each named, with its address).
        In both cases whatever was added has been removed first.
    """
    began = time.monotonic()
    end = began + deadline
    res = _Resolver(target.resolver or system_resolver(), end)
    try:
        zones = await _discover(list(challenges), target, res)
    except DiscoveryError as exc:
        raise PublishError(f"discovery through resolver {hostport(res.addr)}: {exc}") from None
    sent: list[_Zone] = []
    try:
        for z in zones:
            sent.append(z)
            try:
                await _update(z, target.key, target.port, add=True, end=end)
            except UpdateRefused:
                sent.pop()  # refused as a whole (RFC 2136 §3.4): nothing to remove there
                raise
        updated = time.monotonic()
        expected: dict[Server, list[tuple[Name, str]]] = {}
        for z in zones:
            for s in z.servers:
                expected.setdefault(s, []).extend(z.values)
        lags, proven = await prove(expected, end=end, poll=poll)
        if lags:
            lines = "; ".join(str(lag) for lag in lags)
            raise PropagationError(f"{len(lags)} of {len(expected)} server(s) lag after "
                                   f"{time.monotonic() - began:.1f} s: {lines}", tuple(lags))
    except BaseException:
        await _remove(sent, target.key, target.port)
        raise
    done = time.monotonic()
    log.info("dns01: %d value(s) in %d zone(s) served by all %d server(s) %.3f s after the UPDATE "
             "(%.3f s in all)", sum(len(z.values) for z in zones), len(zones), len(proven),
             done - updated, done - began)
    records = tuple((z.zone.to_text(), o.to_text(), v, z.sent_to) for z in zones for o, v in z.values)
    return Published(records=records, key=target.key, seconds=done - began, propagation=done - updated,
                     servers=tuple((s.name, s.address, s.port) for s in proven))


async def _remove(zones: list[_Zone], key: TsigKey | None, port: int) -> None:
    """Best effort: delete what ``zones`` added (failures are logged, not raised)."""
    for z in zones:
        try:
            await _update(z, key, port, add=False)
        except PublishError as exc:
            log.error("dns01: could not remove %d value(s) from zone %s: %s", len(z.values), z.zone, exc)


async def withdraw(challenges: list[tuple[str, str]], target: UpdateTarget, *, deadline: float = 30.0) -> None:
    """Delete values an earlier run may have left (it was killed before its clean-up): the
    zones are discovered again and each value deleted (class NONE; deleting a value that is
    not there changes nothing, RFC 2136 §3.4.2.4).

    Raises:
        PublishError: discovery failed or a delete was not applied.
    """
    res = _Resolver(target.resolver or system_resolver(), time.monotonic() + deadline)
    try:
        zones = await _discover(list(challenges), target, res)
    except DiscoveryError as exc:
        raise PublishError(f"discovery through resolver {hostport(res.addr)}: {exc}") from None
    for z in zones:
        await _update(z, target.key, target.port, add=False)
    log.info("dns01: withdrew %d value(s) left by an earlier run", len(challenges))


async def unpublish(published: Published) -> None:
    """Delete exactly the values :func:`publish` added (class NONE, RFC 2136 §2.5.4).

    Raises:
        PublishError: some delete was not applied (every zone is still tried first).
    """
    groups: dict[tuple[str, tuple[str, int]], list[tuple[Name, str]]] = {}
    for zone, owner, value, server in published.records:
        groups.setdefault((zone, tuple(server)), []).append((Name.from_text(owner), value))
    errors = []
    for (zone, (addr, port)), values in groups.items():
        z = _Zone(zone=Name.from_text(zone), values=values, primary=(addr,))
        try:
            await _update(z, published.key, port, add=False)
        except PublishError as exc:
            errors.append(str(exc))
    if errors:
        raise PublishError("; ".join(errors))
