"""The chain of trust: from a trust anchor down to a zone's keys (pure; RFC 4035 §5.1-5.2).

How it works: :meth:`KeyChain.keys` is a generator (like the iteration, it yields the
queries to send) returning the :class:`KeyEntry` of a zone: its trusted DNSKEYs (SECURE),
or INSECURE (no anchor above it, an NTA, a provably unsigned delegation on the way, or
only unsupported algorithms/digests), or BOGUS with the reason. Entries are cached by
name until their data expires (bogus ones for :data:`BOGUS_TTL`).

From the deepest known entry at or above the zone (else the anchor, primed by fetching its
DNSKEY RRset and matching it to the anchor's DS or DNSKEY records) it walks down one label
at a time:

=======================================  =================================================
the child's DS look-up gives             the child's entry
=======================================  =================================================
a DS RRset signed by the parent          its DNSKEY RRset fetched, matched, self-signed:
                                         SECURE; no supported DS: INSECURE; else BOGUS
NSEC/NSEC3: NS without DS, or opt-out    INSECURE (an unsigned delegation)
NSEC/NSEC3: no NS (not a zone cut)       the parent's keys, under the child's name
anything unsigned, unproven or failed    BOGUS
=======================================  =================================================

DS look-ups use, in turn: a DS RRset cached from a referral, the NSEC/NSEC3 proof a
referral carried, a sub-resolution (asked at the parent, resolution.py). DS and DNSKEY
are fetched as sub-resolutions of the client's query, sharing its budget; their replies
are stored unvalidated (``Budget.raw``) and checked here.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Generator

from dns_suite.resolver import cache as C
from dns_suite.resolver.cache import Cache, Hit
from dns_suite.resolver.denial import DELEGATION, NOT_A_CUT, prove_no_ds
from dns_suite.resolver.security import BOGUS, DNSKEY, DS, INSECURE, NSEC, NSEC3, RRSIG, SECURE
from dns_suite.resolver.state import Ask, Budget
from dns_suite.resolver.trust import Anchor, TrustAnchors
from dns_suite.resolver.validate import (EDE_BOGUS, EDE_DNSKEY_MISSING, EDE_NSEC_MISSING, Verdict, bogus,
                                         check_rrset, covered_type, ds_usable, rdata_of, trusted_keys)
from dns_suite.wire.message import RR, Message
from dns_suite.wire.name import Name

BOGUS_TTL = 60
"""Seconds a bogus key entry is kept (Unbound's val-bogus-ttl)."""
MAX_KEY_ENTRIES = 10000


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """What is known about the keys at a name.

    Attributes:
        name: the name looked up.
        zone: the zone whose keys ``keys`` are (``name`` itself, or an ancestor when
            ``name`` is not a zone cut).
        status: SECURE, INSECURE or BOGUS.
        keys: the zone's DNSKEY rdata (dnspython) when SECURE.
        why: the EDE when BOGUS.
        expires: monotonic seconds.
    """

    name: Name
    zone: Name
    status: str
    keys: tuple = ()
    why: tuple[int, str] | None = None
    expires: float = 0.0


Fetch = Callable[[Budget, Name, int], Generator[Ask, "Message | None", Hit]]


class KeyChain:
    """Key entries by name, built on demand from the trust anchors.

    Args:
        cache: the resolver's cache (DS RRsets from referrals are found there).
        wall: ``() -> int``, the wall clock (seconds since the epoch) for signature windows.
    """

    def __init__(self, cache: Cache, wall: Callable[[], int]) -> None:
        self.cache, self.wall = cache, wall
        self.anchors = TrustAnchors()
        self.entries: OrderedDict[bytes, KeyEntry] = OrderedDict()
        self.referral_proofs: dict[bytes, tuple[tuple[RR, ...], float]] = {}
        self.fetch: Fetch | None = None  # set by the iteration: cache, else iterate

    def reset(self, anchors: TrustAnchors) -> None:
        """New anchors: every key entry is forgotten."""
        self.anchors = anchors
        self.entries.clear()
        self.referral_proofs.clear()

    def _get(self, key: bytes, now: float) -> KeyEntry | None:
        entry = self.entries.get(key)
        if entry is None or entry.expires < now:
            return None
        return entry

    def _put(self, entry: KeyEntry) -> KeyEntry:
        self.entries[entry.name.key] = entry
        self.entries.move_to_end(entry.name.key)
        while len(self.entries) > MAX_KEY_ENTRIES:
            self.entries.popitem(last=False)
        return entry

    def on_referral(self, cut: Name, proof: tuple[RR, ...], now: float) -> None:
        """Keep a referral's NSEC/NSEC3 proof that ``cut`` has no DS (checked when used)."""
        if proof:
            ttl = min(rr.ttl for rr in proof)
            self.referral_proofs[cut.key] = (proof, now + ttl)
            if len(self.referral_proofs) > MAX_KEY_ENTRIES:
                self.referral_proofs.pop(next(iter(self.referral_proofs)))

    # --- the walk ------------------------------------------------------------------------------
    def keys(self, ctx: Budget, zone: Name) -> Generator[Ask, "Message | None", KeyEntry]:
        """The key entry for ``zone`` (see the module's table)."""
        if self.anchors.negative(zone):
            return KeyEntry(zone, zone, INSECURE)
        anchor = self.anchors.closest(zone)
        if anchor is None:
            return KeyEntry(zone, zone, INSECURE)
        entry = self._get(zone.key, ctx.now)
        if entry is not None:
            return entry
        name = zone
        while entry is None and name.label_count() > anchor.name.label_count():
            name = name.parent()
            entry = self._get(name.key, ctx.now)
        if entry is None:
            if anchor.name.key in ctx.keying:
                return KeyEntry(zone, zone, BOGUS, why=(EDE_DNSKEY_MISSING, f"key loop at {anchor.name}"))
            ctx.keying.add(anchor.name.key)
            try:
                entry = yield from self._prime(ctx, anchor)
            finally:
                ctx.keying.discard(anchor.name.key)
        while entry.status == SECURE and entry.name.key != zone.key:
            child = _child_toward(entry.name, zone)
            if child.key in ctx.keying:
                return KeyEntry(zone, zone, BOGUS, why=(EDE_DNSKEY_MISSING, f"key loop at {child}"))
            ctx.keying.add(child.key)
            try:
                entry = yield from self._descend(ctx, entry, child)
            finally:
                ctx.keying.discard(child.key)
        return entry

    def _prime(self, ctx: Budget, anchor: Anchor) -> Generator[Ask, "Message | None", KeyEntry]:
        """The anchor's DNSKEY RRset, matched to the anchor (RFC 4035 §5.2, RFC 5011 not done)."""
        hit = yield from self.fetch(ctx, anchor.name, DNSKEY)
        rrs = hit.rrs if hit.kind == C.POSITIVE and not hit.link else ()
        verdict, keys = trusted_keys(anchor.name, rrs, hit.sec.sigs, list(anchor.ds), list(anchor.dnskey),
                                     self.wall())
        return self._put(self._entry(anchor.name, anchor.name, verdict, keys, rrs, ctx.now))

    def _entry(self, name: Name, zone: Name, verdict: Verdict, keys: list, rrs: tuple[RR, ...],
               now: float) -> KeyEntry:
        if verdict.status == BOGUS:
            return KeyEntry(name, zone, BOGUS, why=verdict.why, expires=now + BOGUS_TTL)
        ttl = min([r.ttl for r in rrs] + ([verdict.ttl] if verdict.ttl is not None else []) + [86400])
        return KeyEntry(name, zone, verdict.status, tuple(keys), verdict.why, expires=now + ttl)

    def _descend(self, ctx: Budget, parent: KeyEntry, child: Name) -> Generator[Ask, "Message | None", KeyEntry]:
        """One label down from a SECURE entry: the child's DS, then its DNSKEY."""
        status, what, ds, ttl = yield from self._ds(ctx, parent, child)
        now = ctx.now
        if status == BOGUS:
            return self._put(KeyEntry(child, child, BOGUS, why=what, expires=now + BOGUS_TTL))
        if what == NOT_A_CUT:
            expires = min(parent.expires, now + ttl)
            return self._put(KeyEntry(child, parent.zone, SECURE, parent.keys, expires=expires))
        if what == DELEGATION or status == INSECURE:
            return self._put(KeyEntry(child, child, INSECURE, expires=now + ttl))
        if not ds_usable(ds):
            return self._put(KeyEntry(child, child, INSECURE, expires=now + ttl))
        hit = yield from self.fetch(ctx, child, DNSKEY)
        rrs = hit.rrs if hit.kind == C.POSITIVE and not hit.link else ()
        verdict, keys = trusted_keys(child, rrs, hit.sec.sigs, ds, [], self.wall())
        entry = self._entry(child, child, verdict, keys, rrs, now)
        if entry.status != BOGUS:
            entry = KeyEntry(entry.name, entry.zone, entry.status, entry.keys, entry.why,
                             min(entry.expires, now + ttl))
        return self._put(entry)

    # --- DS ------------------------------------------------------------------------------------
    def _ds(self, ctx: Budget, parent: KeyEntry, child: Name
            ) -> Generator[Ask, "Message | None", tuple[str, object, list, int]]:
        """(status, what, DS rdata, TTL): what is DELEGATION, NOT_A_CUT, None (DS found) or
        the EDE when BOGUS."""
        cached = self.cache.rrset(child.key, DS, ctx.now)
        if cached is not None:
            found = self._positive_ds(parent, cached.rrs, cached.sec.sigs)
            if found[0] != BOGUS:
                return found
        proof = self.referral_proofs.get(child.key)
        if proof is not None and proof[1] >= ctx.now:
            found = self._no_ds(parent, child, proof[0])
            if found[0] != BOGUS:
                return found
        hit = yield from self.fetch(ctx, child, DS)
        if hit.kind == C.POSITIVE and hit.link:
            return SECURE, NOT_A_CUT, [], max(hit.left, 1)  # a CNAME: not a zone cut
        if hit.kind == C.POSITIVE:
            return self._positive_ds(parent, hit.rrs, hit.sec.sigs)
        if hit.kind == C.NODATA:
            return self._no_ds(parent, child, hit.sec.proof, hit.soa, hit.sec.sigs)
        if hit.kind == C.NXDOMAIN:
            return SECURE, NOT_A_CUT, [], max(hit.left, 1)
        return BOGUS, (EDE_DNSKEY_MISSING, f"no DS answer for {child}"), [], 0

    def _positive_ds(self, parent: KeyEntry, rrs: tuple[RR, ...], sigs: tuple[RR, ...]
                     ) -> tuple[str, object, list, int]:
        ds_rrs = tuple(r for r in rrs if r.rrtype == DS)
        if not ds_rrs:
            return BOGUS, (EDE_BOGUS, "no DS"), [], 0
        verdict = check_rrset(ds_rrs, sigs, list(parent.keys), parent.zone, self.wall())
        if verdict.status != SECURE:
            return BOGUS, verdict.why or (EDE_BOGUS, f"DS of {ds_rrs[0].owner} not secure"), [], 0
        ttl = min(min(r.ttl for r in ds_rrs), verdict.ttl if verdict.ttl is not None else 86400)
        return SECURE, None, [rdata_of(r) for r in ds_rrs], max(ttl, 1)

    def _no_ds(self, parent: KeyEntry, child: Name, proof: tuple[RR, ...], soa: tuple[RR, ...] = (),
               soa_sigs: tuple[RR, ...] = ()) -> tuple[str, object, list, int]:
        records = verified_proof(proof, parent, self.wall())
        if records is None:
            return BOGUS, (EDE_NSEC_MISSING, f"no signed proof that {child} has no DS"), [], 0
        status, what = prove_no_ds(child, records)
        if status == BOGUS or what is None:
            return BOGUS, (EDE_NSEC_MISSING, f"no proof that {child} has no DS"), [], 0
        ttl = min([r.ttl for r in records] + [r.ttl for r in soa[:1]] + [86400])
        return status, what, [], max(ttl, 1)


def verified_proof(proof: tuple[RR, ...], entry: KeyEntry, now: int) -> tuple[RR, ...] | None:
    """The NSEC/NSEC3 records of ``proof`` whose signatures verify with the zone's keys; None
    when there are none or one does not verify (a bogus proof)."""
    groups: dict[tuple[bytes, int], list[RR]] = {}
    sigs: dict[tuple[bytes, int], list[RR]] = {}
    for rr in proof:
        if rr.rrtype in (NSEC, NSEC3):
            groups.setdefault((rr.owner.key, rr.rrtype), []).append(rr)
        elif rr.rrtype == RRSIG and len(rr.rdata) > 2:
            sigs.setdefault((rr.owner.key, covered_type(rr)), []).append(rr)
    if not groups:
        return None
    out: list[RR] = []
    for key, rrs in groups.items():
        verdict = check_rrset(tuple(rrs), tuple(sigs.get(key, ())), list(entry.keys), entry.zone, now)
        if verdict.status != SECURE:
            return None
        out.extend(rrs)
    return tuple(out)


def _child_toward(name: Name, target: Name) -> Name:
    """The name one label below ``name`` on the way to ``target`` (below it)."""
    wire, key = target.wire, target.key
    while True:
        cut = wire[0] + 1
        if key[cut:] == name.key:
            return Name(wire, key)
        wire, key = wire[cut:], key[cut:]


def bogus_entry(zone: Name, text: str) -> KeyEntry:
    """A BOGUS entry (used when keys cannot even be asked for)."""
    return KeyEntry(zone, zone, BOGUS, why=bogus(EDE_DNSKEY_MISSING, text).why)
