"""Validation of replies in the iteration (pure; RFC 4035 §5, RFC 5155 §8, RFC 6840).

How it works: the iteration calls :meth:`Validator.check_reply` (a generator: it may fetch
keys through :class:`~dns_suite.resolver.keychain.KeyChain`) on every final reply before it is
cached. Each RRset kept from the reply gets a :class:`~dns_suite.resolver.security.Security`
in ``found.sec`` (negative answers under ``(end key, -1)``); the cache stores it beside the
data, TTLs capped to the signature's original TTL and remaining validity (RFC 4035 §5.3.3;
bogus data for :data:`~dns_suite.resolver.keychain.BOGUS_TTL`).

================================  ==============================================================
data                              status
================================  ==============================================================
no anchor above, or an NTA        INSECURE (nothing fetched)
a chain fetch (DS, DNSKEY)        UNCHECKED (validated when a client's query needs it)
signed RRset                      the signer's keys (chain of trust), then the signatures;
                                  a wildcard expansion also needs its no-closer-match proof
unsigned RRset                    the keys of the zone asked: INSECURE zone -> INSECURE,
                                  SECURE zone -> BOGUS (RRSIGs missing)
NXDOMAIN / NODATA                 SOA and NSEC/NSEC3 signatures, then the denial proof; at the
                                  end of CNAME/DNAME links an unproven denial is not cached: the
                                  end is asked on its own (``found.kind`` becomes CNAME)
================================  ==============================================================

Secure denials feed :class:`~dns_suite.resolver.aggressive.AggressiveNsec` (RFC 8198,
``aggressive_nsec``), and :meth:`Validator.synthesise` answers a cache miss from it when allowed.
A client's CD bit (RFC 4035 §3.2.2) does not stop validation, as in Unbound: secure data gets AD,
and bogus data is returned instead of SERVFAIL. When answering, :meth:`Validator.recheck` says a
cached RRset must be fetched again (it was stored unvalidated), :meth:`Validator.refusal` turns
bogus data into SERVFAIL with its extended error (unless CD), and :meth:`Validator.records` adds
RRSIGs and proofs for clients that set DO.
"""

from __future__ import annotations

from typing import Callable, Generator

from dns_suite.resolver import cache as C
from dns_suite.resolver.aggressive import AggressiveNsec
from dns_suite.resolver.cache import Cache, Hit
from dns_suite.resolver.denial import prove_nodata, prove_nxdomain, prove_wildcard
from dns_suite.resolver.keychain import BOGUS_TTL, KeyChain, verified_proof
from dns_suite.resolver.scrub import CNAME_KIND, NODATA, NXDOMAIN, Classified
from dns_suite.resolver.security import BOGUS, INSECURE, SECURE, UNCHECKED, Security
from dns_suite.resolver.settings import Hints, Settings
from dns_suite.resolver.state import Ask, Budget, Outcome
from dns_suite.resolver.trust import TrustAnchors
from dns_suite.resolver.validate import (EDE_NSEC_MISSING, EDE_RRSIGS_MISSING, Verdict, bogus, check_rrset,
                                         signer_of)
from dns_suite.wire.message import RR, Message
from dns_suite.wire.name import Name

CNAME, SOA, DS, DNAME, RRSIG = 5, 6, 43, 39, 46
SERVFAIL = 2
NEGATIVE = -1  # the type under which a negative answer's Security sits in ``found.sec``
_ORDER = {SECURE: 0, UNCHECKED: 1, INSECURE: 2, BOGUS: 3}


def _no_wall() -> int:
    raise RuntimeError("validation needs the wall clock: pass wall= to the Resolver")


class Validator:
    """Validation for one resolver: trust anchors, key entries, reply checks.

    Args:
        settings, hints: the resolver's (``dnssec``, anchors).
        cache: the resolver's cache.
        wall: ``() -> int`` seconds since the epoch (signature validity windows).
    """

    def __init__(self, settings: Settings, hints: Hints, cache: Cache, wall: Callable[[], int] | None) -> None:
        self.chain = KeyChain(cache, wall or _no_wall)
        self.aggressive = AggressiveNsec(cache)
        self.configure(settings, hints)

    def configure(self, settings: Settings, hints: Hints) -> None:
        """Settings or hints changed (SIGHUP): anchors rebuilt, key entries dropped."""
        self.enabled = settings.dnssec
        self.aggressive_on = settings.dnssec and settings.aggressive_nsec
        self.aggressive.clear()
        anchors = TrustAnchors(hints.anchors, settings.trust_anchors, settings.negative_trust_anchors) \
            if settings.dnssec else TrustAnchors()
        self.chain.reset(anchors)

    @property
    def anchors(self) -> TrustAnchors:
        """The trust anchors in force."""
        return self.chain.anchors

    def attach(self, iteration) -> None:
        """Fetch DS and DNSKEY through ``iteration``: the cache, else a sub-resolution whose
        reply is stored unvalidated (the key chain checks it)."""
        def fetch(ctx: Budget, name: Name, qtype: int) -> Generator[Ask, "Message | None", Hit]:
            hit = iteration.cache.lookup(name.key, qtype, ctx.now)
            if hit is None:
                ctx.raw += 1
                try:
                    hit = yield from iteration.iterate(ctx, name, qtype)
                finally:
                    ctx.raw -= 1
            return hit
        self.chain.fetch = fetch

    def on_referral(self, found: Classified, now: float) -> None:
        """A referral's DS RRset is cached (unvalidated) with its RRSIGs; its NSEC/NSEC3 proof of
        no DS is kept for the key chain (RFC 4035 §3.1.4)."""
        if found.cut is None:
            return
        if found.ds:
            sigs = found.sigs.get((found.cut.key, DS), ())
            self.chain.cache.put(found.ds, C.AUTHORITY, now, sec=Security(UNCHECKED, None, sigs))
        elif found.proof:
            self.chain.on_referral(found.cut, found.proof, now)

    # --- answering ------------------------------------------------------------------------------
    def synthesise(self, name: Name, qtype: int, ctx: Budget) -> Hit | None:
        """RFC 8198: a SECURE NXDOMAIN or NODATA hit for a cache miss, proven by validated NSEC
        records already cached (see aggressive.py), or None. Never with ``aggressive_nsec`` or
        ``dnssec`` off, for a client that set CD, for the key chain's fetches, or for a name
        without a trust anchor above it or under a negative trust anchor (RFC 7646)."""
        if not self.aggressive_on or ctx.cd or ctx.raw or not self.aggressive.zones:
            return None
        if not self.anchors.covered(name):
            return None
        return self.aggressive.synthesise(name, qtype, ctx.now)

    def recheck(self, hit: Hit, name: Name, ctx: Budget) -> bool:
        """A cached hit stored unvalidated (a chain fetch) under an anchor: ask again, validated."""
        return (hit.sec.status == UNCHECKED and not ctx.raw and hit.kind != C.SERVFAIL
                and self.anchors.covered(name))

    def refusal(self, hit: Hit, ctx: Budget) -> Outcome | None:
        """SERVFAIL with the reason for bogus data (RFC 4035 §5.5), unless the client set CD."""
        if hit.sec.status != BOGUS or ctx.cd:
            return None
        return Outcome(rcode=SERVFAIL, ede=hit.sec.why or bogus(6, "DNSSEC bogus").why, cached=False)

    @staticmethod
    def records(hit: Hit, ctx: Budget) -> tuple[list[RR], list[RR]]:
        """(answer, authority) records a hit adds for a client that set DO: RRSIGs, proofs."""
        if not ctx.do:
            return [], []
        if hit.kind == C.POSITIVE:
            return list(hit.sec.sigs), list(hit.sec.proof)
        return [], list(hit.sec.sigs) + list(hit.sec.proof)

    # --- checking replies ------------------------------------------------------------------------
    def check_reply(self, ctx: Budget, found: Classified, zone: Name, qtype: int
                    ) -> Generator[Ask, "Message | None", None]:
        """Validate ``found`` (a final reply from a server of ``zone``), filling ``found.sec``."""
        validate = self.enabled and not ctx.raw  # with CD too: AD on secure data, as Unbound
        for index, rrset in enumerate(found.chain):
            data = rrset[:-1] if rrset[0].rrtype == DNAME and rrset[-1].rrtype == CNAME else rrset
            key = (data[0].owner.key, data[0].rrtype)
            sigs = found.sigs.get(key, ())
            if data[0].rrtype == RRSIG:  # RRSIGs are not signed (RFC 4035 §2.2): never secure
                found.sec[key] = Security(INSECURE, None, sigs)
                continue
            if not validate or not self.anchors.covered(data[0].owner):
                status = INSECURE if not self.anchors.covered(data[0].owner) else UNCHECKED
                found.sec[key] = Security(status, None, sigs)
                continue
            verdict = yield from self._verify(ctx, data, sigs, zone)
            proof: tuple[RR, ...] = ()
            if verdict.status == SECURE and verdict.wildcard is not None:
                verdict, proof = yield from self._wildcard(ctx, data[0].owner, verdict, found.proof)
            found.sec[key] = Security(verdict.status, verdict.why, sigs, proof)
            found.chain[index] = _capped(rrset, verdict)
            if proof and verdict.status == SECURE and self.aggressive_on:
                self.aggressive.learn(proof, ctx.now, self.chain.wall())
        if found.kind in (NXDOMAIN, NODATA) and found.end is not None:
            soa_sigs = found.sigs.get((found.soa[0].owner.key, SOA), ()) if found.soa else ()
            if not validate or not self.anchors.covered(found.end):
                status = INSECURE if not self.anchors.covered(found.end) else UNCHECKED
                found.sec[(found.end.key, NEGATIVE)] = Security(status, None, soa_sigs, found.proof)
                return
            verdict = yield from self._negative(ctx, found, zone, qtype, soa_sigs)
            if verdict.status == BOGUS and found.chain and verdict.why and verdict.why[0] == EDE_NSEC_MISSING:
                # after CNAME/DNAME links the proof may be for the wrong name (NSD, past a DNAME):
                # the chain is kept and its end asked on its own, as Unbound does
                found.kind = CNAME_KIND
                return
            found.sec[(found.end.key, NEGATIVE)] = Security(verdict.status, verdict.why, soa_sigs, found.proof)
            if verdict.status == SECURE and found.soa and self.aggressive_on:
                self.aggressive.learn(found.proof, ctx.now, self.chain.wall(), found.soa[:1], soa_sigs)
            if verdict.status == BOGUS and found.soa:
                found.soa = _capped(found.soa, verdict)

    def _verify(self, ctx: Budget, rrs: tuple[RR, ...], sigs: tuple[RR, ...], zone: Name
                ) -> Generator[Ask, "Message | None", Verdict]:
        """One RRset: its signer's keys, then its signatures (RFC 4035 §5.3)."""
        owner = rrs[0].owner
        signer = _signer(sigs, owner)
        if signer is None:  # unsigned: fine only below an unsigned delegation (walked down to the owner)
            entry = yield from self.chain.keys(ctx, zone if owner.is_subdomain(zone) else owner)
            if entry.status == SECURE and owner.key != entry.name.key and owner.is_subdomain(entry.name):
                entry = yield from self.chain.keys(ctx, owner)
            if entry.status == SECURE:
                return bogus(EDE_RRSIGS_MISSING, f"no signature over {owner} in the signed zone {entry.zone}")
            return Verdict(entry.status, entry.why)
        if not self.anchors.covered(signer):
            return Verdict(INSECURE)
        entry = yield from self.chain.keys(ctx, signer)
        if entry.status != SECURE:
            return Verdict(entry.status, entry.why)
        return check_rrset(rrs, sigs, list(entry.keys), entry.zone, self.chain.wall())

    def _wildcard(self, ctx: Budget, qname: Name, verdict: Verdict, proof: tuple[RR, ...]
                  ) -> Generator[Ask, "Message | None", tuple[Verdict, tuple[RR, ...]]]:
        """A wildcard expansion: the signed proof that no closer name exists (RFC 4035 §5.3.4)."""
        entry = yield from self.chain.keys(ctx, verdict.signer)
        records = verified_proof(proof, entry, self.chain.wall()) if entry.status == SECURE else None
        if records is None:
            return bogus(EDE_NSEC_MISSING, f"no signed proof for the wildcard answer {qname}"), ()
        status = prove_wildcard(qname, verdict.wildcard, records)
        if status == BOGUS:
            return bogus(EDE_NSEC_MISSING, f"the wildcard answer {qname} is not proven"), ()
        return Verdict(status, None, verdict.ttl, verdict.wildcard, verdict.signer), proof

    def _negative(self, ctx: Budget, found: Classified, zone: Name, qtype: int, soa_sigs: tuple[RR, ...]
                  ) -> Generator[Ask, "Message | None", Verdict]:
        """NXDOMAIN or NODATA: the SOA's and the proof's signatures, then the proof."""
        end = found.end
        signer = _signer(soa_sigs, found.soa[0].owner) if found.soa else None
        if signer is None:
            signer = _signer(tuple(r for r in found.proof if r.rrtype == 46), end)
        at = signer if signer is not None else (zone if end.is_subdomain(zone) else end)
        if not self.anchors.covered(at):
            return Verdict(INSECURE)
        entry = yield from self.chain.keys(ctx, at)
        if entry.status != SECURE:
            return Verdict(entry.status, entry.why)
        if signer is None:
            return bogus(EDE_RRSIGS_MISSING, f"unsigned negative answer for {end} from the signed zone {entry.zone}")
        wall = self.chain.wall()
        if found.soa:
            verdict = check_rrset(found.soa[:1], soa_sigs, list(entry.keys), entry.zone, wall)
            if verdict.status != SECURE:
                return verdict
        records = verified_proof(found.proof, entry, wall)
        if records is None:
            return bogus(EDE_NSEC_MISSING, f"no signed denial of existence for {end}")
        if found.kind == NXDOMAIN:
            status = prove_nxdomain(end, records)
        else:
            status = prove_nodata(end, qtype, records)
        if status == BOGUS:
            return bogus(EDE_NSEC_MISSING, f"the denial of existence for {end} is not proven")
        return Verdict(status)


def _signer(sigs: tuple[RR, ...], owner: Name) -> Name | None:
    """The signer named by the RRSIGs (one at or above the owner, RFC 4035 §5.3.1)."""
    for sig in sigs:
        signer = signer_of(sig)
        if signer is not None and owner.is_subdomain(signer):
            return signer
    return None


def _capped(rrset: tuple[RR, ...], verdict: Verdict) -> tuple[RR, ...]:
    """TTLs capped: the signature's original TTL and validity (RFC 4035 §5.3.3); bogus data
    for :data:`BOGUS_TTL`."""
    cap = BOGUS_TTL if verdict.status == BOGUS else verdict.ttl
    if cap is None or all(r.ttl <= cap for r in rrset):
        return rrset
    return tuple(RR(owner=r.owner, rrtype=r.rrtype, rrclass=r.rrclass, ttl=min(r.ttl, cap), rdata=r.rdata)
                 for r in rrset)


def combined(found: Classified, rrsets: list[tuple[RR, ...]]) -> Security:
    """The Security of several RRsets of a reply answered together: the worst status, all RRSIGs."""
    secs = [found.sec.get((r[0].owner.key, r[0].rrtype)) for r in rrsets]
    secs = [s for s in secs if s is not None]
    if not secs:
        return Security()
    if len(secs) == 1:
        return secs[0]
    status = worst([s.status for s in secs])
    why = next((s.why for s in secs if s.status == status and s.why), None)
    return Security(status, why, tuple(r for s in secs for r in s.sigs), tuple(r for s in secs for r in s.proof))


def worst(statuses: list[str]) -> str:
    """The status of an answer made of parts: bogus > insecure > unchecked > secure."""
    return max(statuses, key=_ORDER.__getitem__) if statuses else INSECURE
