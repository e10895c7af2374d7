"""One resolution, written as a generator (pure; RFC 1034 §5.3.3, RFC 9156, RFC 8109).

How it works: :meth:`Iteration.answer` is a generator. It yields an :class:`Ask` (send
this query to this server) and is resumed with the reply (a decoded Message) or with
None (timeout, network error, malformed or mismatched reply); it returns an
:class:`Outcome`. The driver (iterator.py) turns each Ask into a SendQuery and feeds
replies back, so the logic reads top to bottom while staying free of I/O:

* ``answer(name, qtype)``: the cache first, then an NXDOMAIN/NODATA proven by validated
  NSEC records in the cache (RFC 8198, aggressive.py), else ``iterate``; CNAME/DNAME links are
  followed, each name once (a loop -> SERVFAIL), at most ``max_cname`` links.
* ``iterate``: from the deepest cached zone cut with usable addresses (or the root,
  primed from the hints), ask servers in RTT order; a referral moves down (NS and glue
  cached, glue only from the delegating zone's bailiwick); with QNAME minimisation the
  qname grows one label per step (an NXDOMAIN for a shortened name falls back to the
  full name); a lame, failing or silent server is skipped; TC -> the same server over
  TCP; FORMERR to EDNS -> the same server without EDNS.
* ``glueless``: NS names without addresses are resolved as sub-resolutions sharing the
  client query's budget (``max_queries``, ``max_glueless``): the NXNS limits.
"""

from __future__ import annotations

import ipaddress
from typing import Callable, Generator

from dns_suite.resolver import cache as C
from dns_suite.resolver.asking import Asker
from dns_suite.resolver.cache import Cache, Hit
from dns_suite.resolver.dnssec import NEGATIVE, Validator, combined, worst
from dns_suite.resolver.scrub import (ANSWER, CNAME_KIND, LAME, NODATA, NXDOMAIN, REFERRAL, THROWAWAY, YXDOMAIN,
                                      Classified, addresses_of, classify, dname_substitute, target)
from dns_suite.resolver.security import NONE, SECURE, UNCHECKED, Security
from dns_suite.resolver.servers import ServerTable, is_private
from dns_suite.resolver.settings import Hints, ServerSet, Settings
from dns_suite.resolver.state import Ask, Budget, Cut, Outcome, fail
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message
from dns_suite.wire.name import ROOT, Name

A, NS, CNAME, AAAA, DS = 1, 2, 5, 28, 43
NOERROR, SERVFAIL, NXDOMAIN_RCODE, REFUSED, YXDOMAIN_RCODE, NOTAUTH = 0, 2, 3, 5, 6, 9
MAX_RESOLUTION_TIME = 10.0  # seconds a client query may take before SERVFAIL
EDE_OTHER, EDE_STALE, EDE_STALE_NXDOMAIN, EDE_NO_REACHABLE = 0, 3, 19, 22


class Iteration(Asker):
    """The shared state resolutions work on: cache, server table, settings, hints, randomness."""

    def __init__(self, settings: Settings, hints: Hints, cache: Cache, servers: ServerTable,
                 randbits: Callable[[int], int], validator: Validator | None = None) -> None:
        self.settings, self.hints, self.cache, self.servers = settings, hints, cache, servers
        self.randbits = randbits
        self.validator = validator or Validator(settings, hints, cache, None)
        self.validator.attach(self)

    # --- the client's question ------------------------------------------------
    def answer(self, ctx: Budget, qname: Name, qtype: int) -> Generator[Ask, "Message | None", Outcome]:
        """Resolve (qname, qtype), following CNAME/DNAME links. Returns an :class:`Outcome`."""
        chain: list[RR] = []
        extra: list[RR] = []  # DNSSEC proofs for the authority section (DO)
        statuses: list[str] = []
        name, seen, cached = qname, set(), True
        for _ in range(self.settings.max_cname + 1):
            if name.key in seen:
                return Outcome(rcode=SERVFAIL, answer=chain, ede=(EDE_OTHER, "CNAME loop"), cached=cached)
            seen.add(name.key)
            hit = self._cached(name, qtype, ctx.now)
            if hit is not None and self.validator.recheck(hit, name, ctx):
                hit = None
            if hit is None:
                hit = self.validator.synthesise(name, qtype, ctx)  # RFC 8198, from cached NSEC
            if hit is None:
                cached = False
                hit = yield from self.iterate(ctx, name, qtype)
                if hit.kind == C.SERVFAIL and self.settings.serve_stale:
                    hit = self._stale(ctx, name, qtype) or hit
            if hit.kind == C.SERVFAIL:
                return Outcome(rcode=SERVFAIL, ede=ctx.error, cached=cached)
            refusal = self.validator.refusal(hit, ctx)
            if refusal is not None:
                return refusal
            statuses.append(hit.sec.status)
            sigs, proof = self.validator.records(hit, ctx)
            if hit.kind == C.YXDOMAIN:
                return Outcome(rcode=YXDOMAIN_RCODE, answer=chain + list(hit.rrs) + sigs, cached=cached)
            ede = ctx.error if hit.stale else None
            secure = worst(statuses) == SECURE
            if hit.kind != C.POSITIVE:
                rcode = NXDOMAIN_RCODE if hit.kind == C.NXDOMAIN else NOERROR
                return Outcome(rcode=rcode, answer=chain, authority=list(hit.soa) + proof, cached=cached, ede=ede,
                               secure=secure)
            chain.extend(hit.rrs)
            chain.extend(sigs)
            extra.extend(proof)
            if not hit.link:
                return Outcome(rcode=NOERROR, answer=chain, authority=extra, cached=cached, ede=ede, secure=secure)
            name = target(hit.rrs[-1])
        return Outcome(rcode=SERVFAIL, ede=(EDE_OTHER, "CNAME chain too long"), cached=cached)

    def _stale(self, ctx: Budget, name: Name, qtype: int) -> Hit | None:
        """RFC 8767: expired data (within ``stale_max``) when every server failed, TTL ``stale_answer_ttl``."""
        hit = self.cache.lookup(name.key, qtype, ctx.now, stale=True)
        if hit is None or hit.kind == C.SERVFAIL:
            return None
        ttl = self.settings.stale_answer_ttl
        ctx.error = (EDE_STALE_NXDOMAIN if hit.kind == C.NXDOMAIN else EDE_STALE, "stale answer")
        return Hit(kind=hit.kind, rrs=_ttl(hit.rrs, ttl), soa=_ttl(hit.soa, ttl), link=hit.link, stale=True,
                   left=ttl)

    def _cached(self, name: Name, qtype: int, now: float) -> Hit | None:
        hit = self.cache.lookup(name.key, qtype, now)
        if hit is not None or not self.cache.dnames:
            return hit
        dname = self.cache.dname_above(name.key, now)
        if dname is None:
            return None
        new = dname_substitute(name, dname.rrs[0])
        left = max(0, int(dname.expires - now))
        rrs = tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=1, ttl=left, rdata=r.rdata) for r in dname.rrs)
        sec = dname.sec.with_ttl(left)
        if new is None:
            return Hit(kind=C.YXDOMAIN, rrs=rrs, left=left, sec=sec)
        synth = RR(owner=name, rrtype=CNAME, rrclass=1, ttl=left, rdata=new.wire)
        return Hit(kind=C.POSITIVE, rrs=rrs + (synth,), link=True, left=left, sec=sec)

    # --- iteration --------------------------------------------------------------
    def iterate(self, ctx: Budget, name: Name, qtype: int) -> Generator[Ask, "Message | None", Hit]:
        """Ask servers until (name, qtype) has an answer; the answer is cached and returned."""
        forward = self._forward(name)
        if forward is not None:
            return (yield from self._ask_forward(ctx, forward, name, qtype))
        cut = yield from self._delegation(ctx, name, qtype)
        minimise = self.settings.qname_minimisation
        labels = cut.zone.label_count() + 1
        referrals = 0
        while True:
            qn, qt = self._minimised(name, qtype, labels) if minimise else (name, qtype)
            address = yield from self._next_server(ctx, cut)
            if address is None:
                return fail(ctx, EDE_NO_REACHABLE, f"no server of {cut.zone} answered")
            if ctx.queries >= self.settings.max_queries:
                return fail(ctx, EDE_OTHER, "upstream query limit reached")
            if ctx.now - ctx.started > MAX_RESOLUTION_TIME:
                return fail(ctx, EDE_OTHER, f"no answer within {MAX_RESOLUTION_TIME:.0f} s")
            reply = yield from self.ask(ctx, address, self.hints.port, qn, qt)
            found = self._classify(reply, cut.zone, qn, qt)
            if reply is None:  # silent, unreachable, malformed or mismatched: a second chance, later
                (cut.tried if address in cut.timed_out else cut.timed_out).add(address)
            elif found.kind in (LAME, THROWAWAY) and (qn.key != name.key or qt != qtype):
                minimise = False  # a server confused by the shortened name: ask it the full one (as Unbound)
            elif found.kind == LAME or reply.rcode in (REFUSED, NOTAUTH):
                self.servers.mark_lame(cut.zone.key, address, ctx.now)  # lame: avoided for lame_ttl
                cut.tried.add(address)
            elif found.kind == THROWAWAY:  # SERVFAIL and the like: not for this resolution
                cut.tried.add(address)
            elif found.kind == REFERRAL:
                referrals += 1
                if referrals > self.settings.max_referrals:
                    return fail(ctx, EDE_OTHER, "referral limit reached")
                self._store_referral(found, ctx.now)
                cut = self._cut(found.cut, found.ns, ctx.now)
                labels = cut.zone.label_count() + 1
            elif qn.key != name.key or qt != qtype:
                if found.kind == NXDOMAIN and qn.key != name.key:
                    minimise = False  # RFC 9156 §2.3: an NXDOMAIN for an ENT; ask the full name
                else:
                    self._store_answer(found, qn, qt, ctx.now)
                    labels += 1
                    if found.kind == ANSWER and found.aa and found.chain[-1][0].rrtype == NS and len(found.chain) == 1:
                        cut = self._cut(qn, found.chain[-1], ctx.now)  # the NS answer names the child's servers
            else:
                yield from self.validator.check_reply(ctx, found, cut.zone, qtype)
                return self._store_answer(found, name, qtype, ctx.now)

    def _next_server(self, ctx: Budget, cut: Cut) -> Generator[Ask, "Message | None", str | None]:
        """The fastest untried server of the cut; NS names without addresses resolved on demand."""
        while True:
            addresses = self.servers.order(cut.zone.key, [a for a in cut.servers if a not in cut.tried], ctx.now)
            if addresses:
                return addresses[0]
            if cut.fallback:
                cut.servers.extend(a for a in cut.fallback if a not in cut.servers)
                cut.fallback = []
                continue
            more = yield from self._glueless(ctx, cut)
            if not more:
                return None
            cut.servers.extend(a for a in more if a not in cut.servers)

    def _minimised(self, name: Name, qtype: int, labels: int) -> tuple[Name, int]:
        count = name.label_count()
        if labels >= count:
            return name, qtype
        wire = name.wire
        for _ in range(count - labels):
            wire = wire[wire[0] + 1:]
        key = name.key[len(name.key) - len(wire):]
        return Name(wire, key), NS  # RFC 7816 / Unbound: NS (RFC 9156 §2.1 allows A; the scenarios want NS)

    def _classify(self, reply: Message | None, zone: Name, qname: Name, qtype: int) -> Classified:
        if reply is None:
            return Classified(kind=THROWAWAY)
        try:
            return classify(reply, zone, qname, qtype)
        except WireError:
            return Classified(kind=THROWAWAY)

    # --- storing ----------------------------------------------------------------
    def _store_referral(self, found: Classified, now: float) -> None:
        self.cache.put(found.ns, C.AUTHORITY, now)
        self.validator.on_referral(found, now)
        for rrset in found.addresses:
            self.cache.put(rrset, C.ADDITIONAL, now)
            # the parent's view too: tried when the child's addresses fail (Unbound's parent-side fallback)
            self.cache.put(rrset, C.ADDITIONAL, now, key=(rrset[0].owner.key, C.PARENT - rrset[0].rrtype))

    def _store_answer(self, found: Classified, name: Name, qtype: int, now: float) -> Hit:
        """Cache an answer and return the hit for (name, qtype)."""
        rank = C.ANSWER_AA if found.aa else C.ANSWER
        for rrset in found.chain:
            sec = found.sec.get((rrset[0].owner.key, rrset[0].rrtype), NONE)
            if rrset[-1].rrtype == CNAME and rrset[0].rrtype == 39:  # DNAME + synthesized CNAME
                self.cache.put(rrset[:-1], rank, now, sec=sec)
                self.cache.put(rrset, rank, now, key=(rrset[-1].owner.key, CNAME), sec=sec)
                continue
            self.cache.put(rrset, rank, now, sec=sec)
        if found.ns:
            self.cache.put(found.ns, C.AUTHORITY_AA, now)
        for rrset in found.addresses:
            self.cache.put(rrset, C.ADDITIONAL, now)
        if found.kind in (NXDOMAIN, NODATA):
            kind = C.NXDOMAIN if found.kind == NXDOMAIN else C.NODATA
            self.cache.put_negative(found.end.key, qtype, kind, found.soa, now,
                                    sec=found.sec.get((found.end.key, NEGATIVE), NONE))
        hit = self._cached(name, qtype, now)
        if hit is not None:
            return hit
        return self._uncached_hit(found, qtype)

    def _uncached_hit(self, found: Classified, qtype: int) -> Hit:
        """A hit built from the reply itself (TTL 0, or negative without SOA)."""
        if found.kind == YXDOMAIN:
            return Hit(kind=C.YXDOMAIN, rrs=found.chain[0], sec=combined(found, found.chain[:1]))
        rrs = tuple(rr for rrset in found.chain for rr in rrset)
        negative = found.sec.get((found.end.key, NEGATIVE), NONE) if found.end is not None else NONE
        if found.kind == NXDOMAIN and not found.chain:
            return Hit(kind=C.NXDOMAIN, soa=found.soa, sec=negative)
        if found.kind in (NODATA, NXDOMAIN) and not found.chain:
            return Hit(kind=C.NODATA, soa=found.soa, sec=negative)
        if not rrs:
            return Hit(kind=C.SERVFAIL)
        link = found.kind != ANSWER or rrs[-1].rrtype == CNAME and qtype != CNAME
        if link and rrs[0].rrtype == CNAME:
            return Hit(kind=C.POSITIVE, rrs=rrs[:1], link=link, sec=combined(found, found.chain[:1]))
        return Hit(kind=C.POSITIVE, rrs=rrs, link=link, sec=combined(found, found.chain))

    # --- where to ask -----------------------------------------------------------
    def _forward(self, name: Name) -> ServerSet | None:
        best = None
        for fwd in self.settings.forwards:
            if name.is_subdomain(fwd.zone) and (best is None or len(fwd.zone.key) > len(best.zone.key)):
                best = fwd
        return best

    def _delegation(self, ctx: Budget, name: Name, qtype: int) -> Generator[Ask, "Message | None", Cut]:
        """The deepest cached zone cut above ``name`` with usable addresses, else the root."""
        start = name.parent() if qtype == DS and name.key != b"\0" else name
        zone = start
        while zone.key != b"\0":
            ns = self.cache.rrset(zone.key, NS, ctx.now)
            if ns is not None:
                cut = self._cut(zone, ns.rrs, ctx.now)
                address = yield from self._next_server(ctx, cut)
                if address is not None:
                    return cut
            zone = zone.parent()
        return (yield from self._root(ctx))

    def _root(self, ctx: Budget) -> Generator[Ask, "Message | None", Cut]:
        """The root's servers: from the cache, else by priming (RFC 8109) from the hints."""
        ns = self.cache.rrset(b"\0", NS, ctx.now)
        if ns is not None:
            cut = self._cut(ROOT, ns.rrs, ctx.now)
            if cut.servers:
                return cut
        hinted = self._usable([a for _, addrs in self.hints.servers for a in addrs])
        for address in self.servers.order(b"\0", hinted, ctx.now)[:3]:
            reply = yield from self.ask(ctx, address, self.hints.port, ROOT, NS)
            found = self._classify(reply, ROOT, ROOT, NS)
            if found.kind == ANSWER and found.chain and found.chain[-1][0].rrtype == NS:
                # kept with its RRSIGs (unvalidated): a DO client with CD is answered from here
                sigs = found.sigs.get((b"\0", NS), ())
                self.cache.put(found.chain[-1], C.ANSWER_AA, ctx.now, sec=Security(UNCHECKED, None, sigs))
                for rrset in addresses_of(reply, found.chain[-1], ROOT):
                    self.cache.put(rrset, C.ADDITIONAL, ctx.now)
                cut = self._cut(ROOT, found.chain[-1], ctx.now)
                if cut.servers:
                    return cut
        return Cut(zone=ROOT, hosts=[], servers=hinted)

    def _cut(self, zone: Name, ns: tuple[RR, ...], now: float) -> Cut:
        """A zone cut with the cached addresses of its NS names."""
        cut = Cut(zone=zone, hosts=[], servers=[])
        for rr in ns:
            try:
                host = target(rr)
            except WireError:
                continue
            found = []
            for rrtype in (A, AAAA):
                entry = self.cache.rrset(host.key, rrtype, now)
                if entry is not None:
                    found.extend(_address_text(r) for r in entry.rrs if r.rrtype == rrtype)
            usable = self._usable(found)
            parent = []
            for rrtype in (A, AAAA):
                entry = self.cache.rrset(host.key, C.PARENT - rrtype, now)
                if entry is not None:
                    parent.extend(_address_text(r) for r in entry.rrs)
            cut.fallback.extend(a for a in self._usable(parent) if a not in usable)
            if usable:
                cut.servers.extend(a for a in usable if a not in cut.servers)
            else:
                cut.hosts.append(host)
        # names outside the zone first: those inside need glue and usually fail
        cut.hosts.sort(key=lambda h: h.is_subdomain(zone))
        return cut

    def _usable(self, addresses: list[str]) -> list[str]:
        s = self.settings
        out = []
        for a in addresses:
            if (":" in a and not s.do_ip6) or (":" not in a and not s.do_ip4):
                continue
            if not s.query_private and is_private(a):
                continue
            if a not in out:
                out.append(a)
        return out

    def _glueless(self, ctx: Budget, cut: Cut) -> Generator[Ask, "Message | None", list[str]]:
        """Resolve the next NS names of the cut that have no address, until one gives some."""
        while cut.hosts:
            host = cut.hosts.pop(0)
            found: list[str] = []
            for rrtype in (A, AAAA):  # both, as Unbound does: AAAA is cached even when IPv6 is off
                if (host.key, rrtype) in ctx.pending or ctx.glueless >= self.settings.max_glueless:
                    continue
                ctx.glueless += 1
                ctx.pending.add((host.key, rrtype))
                try:
                    outcome = yield from self.answer(ctx, host, rrtype)
                finally:
                    ctx.pending.discard((host.key, rrtype))
                found += self._usable([_address_text(r) for r in outcome.answer if r.rrtype == rrtype])
            if found:
                return found
        return []

    def _ask_forward(self, ctx: Budget, fwd: ServerSet, name: Name, qtype: int
                     ) -> Generator[Ask, "Message | None", Hit]:
        """A forward zone (RD=1 to resolvers) or a stub zone (RD=0 to its servers)."""
        ports = dict(fwd.servers)
        tried: set[str] = set()
        while ctx.queries < self.settings.max_queries:
            addresses = self.servers.order(fwd.zone.key, [a for a in ports if a not in tried], ctx.now)
            if not addresses:
                break
            reply = yield from self.ask(ctx, addresses[0], ports[addresses[0]], name, qtype, rd=fwd.recursive)
            found = self._classify(reply, fwd.zone, name, qtype)
            if found.kind in (ANSWER, NODATA, NXDOMAIN, CNAME_KIND, YXDOMAIN):
                yield from self.validator.check_reply(ctx, found, fwd.zone, qtype)
                return self._store_answer(found, name, qtype, ctx.now)
            tried.add(addresses[0])
        return fail(ctx, EDE_NO_REACHABLE, f"no server of {fwd.zone} answered")


def _ttl(rrs: tuple[RR, ...], ttl: int) -> tuple[RR, ...]:
    return tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=r.rrclass, ttl=ttl, rdata=r.rdata) for r in rrs)


def _address_text(rr: RR) -> str:
    rdata = rr.rdata
    if len(rdata) == 4:  # A: what str(ipaddress.ip_address) gives, without its object (several per miss)
        return "%d.%d.%d.%d" % (rdata[0], rdata[1], rdata[2], rdata[3])
    return str(ipaddress.ip_address(rdata))
