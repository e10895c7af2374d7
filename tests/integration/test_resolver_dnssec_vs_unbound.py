"""Differential test with validation on: ``dns-suite resolver`` against Unbound on the signed
local Internet (signednet.py: NSEC, NSEC3 and NSEC3 opt-out zones, ECDSA P-256, Ed25519 and
RSA/SHA-256 keys, a zone whose signatures expired, one with a wrong DS in its parent, an
unsigned delegation proven by NSEC3 and one inside an opt-out span).

Both resolvers start cold with the same root hints and the local root's DS as their only trust
anchor, and get the same corpus (:func:`build_corpus`): every name of every zone with several
types (DNSKEY and DS at the apexes too), empty non-terminals, NXDOMAIN names, wildcard matches,
names below the DNAMEs, CNAMEs within and across zones (into the insecure and the bogus zones
too). Every question is asked with DO=1; a seeded share is asked again with DO=1 and CD=1, and
another with DO=0 and AD=1 (RFC 6840 §5.7: AD is set for a client that sets AD), in one
shuffled order, 20 at a time.

For each query the rcode, the AD bit and the answer section must be equal: RRsets as (owner
lowercased, type, rdata set), RRSIGs as (owner, type covered, (algorithm, key tag, signer)
set); TTLs are ignored. A difference is allowed only when an entry of the closed list
``ALLOWED`` (each with its reason) excuses it; the counts are printed. Besides: every query for
data of the bogus zones (and CNAMEs into them) without CD must be SERVFAIL from both, ours with
the extended DNS error of ``BOGUS_ZONES`` (RFC 8914: 7 Signature Expired, 9 DNSKEY Missing) and
Unbound (``ede: yes``) with the same code; with CD=1 both answer the data, without AD; answers
from the secure zones have AD, those from the insecure ones not.

``test_fixture_two_validating_unbounds_agree`` is the self-check: two Unbounds agree on all.
"""

from __future__ import annotations

import collections
import random
import time
from dataclasses import dataclass
from typing import Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.zone
import pytest

import differential
from differential import Allowed, Budget, check_minimums, report
from peers import Server
from signednet import (BOGUS_ZONES, INSECURE_ZONES, OPTOUT_ZONES, OURS, UNBOUND_A, UNBOUND_B, ZONES,
                       SignedNet, missing_programs, start_our_validating_resolver, start_signednet,
                       start_validating_unbound)
from test_resolver_vs_unbound import _authoritative_names, _derived

pytestmark = [pytest.mark.integration, pytest.mark.slow]

QTYPES = ["A", "AAAA", "MX", "TXT", "NS", "SOA", "CNAME"]
APEX_QTYPES = ["DNSKEY", "DS"]
IN_FLIGHT = 20
TRY_TIMEOUT = 4.0
QUERY_BUDGET = 20.0  # seconds per query over all attempts: no server here is silent
RUN_BUDGET = 150.0
SEED = 4035
CD_SHARE, AD_SHARE = 0.25, 0.2
MINIMUMS = {"total": 2000, "DO": 1500, "DO+CD": 300, "AD, no DO": 250, "secure": 1000,
            "insecure": 80, "bogus": 40, "nxdomain": 100, "nodata": 300, "cname": 80, "dname": 30,
            "wildcard": 30, "empty non-terminal": 20, "DNSKEY/DS": 30}


@dataclass(frozen=True)
class Query:
    qname: str
    qtype: str
    kind: str  # data, nodata, cname, dname, wildcard, empty non-terminal, nxdomain, DNSKEY/DS
    status: str  # secure, insecure or bogus: where the answer comes from
    flags: str = "DO"  # "DO", "DO+CD" or "AD, no DO"
    ede: int | None = None  # the EDE a bogus answer must carry (without CD)

    @property
    def category(self) -> str:
        return f"{self.status}, {self.flags}"

    def message(self) -> dns.message.Message:
        do = self.flags != "AD, no DO"
        msg = dns.message.make_query(self.qname, self.qtype, use_edns=0, payload=1232, want_dnssec=do)
        if self.flags == "DO+CD":
            msg.flags |= dns.flags.CD
        if self.flags == "AD, no DO":
            msg.flags |= dns.flags.AD
        return msg


# --- the corpus ------------------------------------------------------------------------------

def zone_of(name: dns.name.Name) -> str:
    """The deepest zone of the network holding ``name``."""
    best = None
    for z in ZONES:
        origin = dns.name.from_text(z.origin)
        if name.is_subdomain(origin) and (best is None or len(origin) > len(best)):
            best = origin
    return best.to_text()


_RANK = {"secure": 0, "opt-out": 1, "insecure": 2, "bogus": 3}
IN = dns.rdataclass.IN
T = dns.rdatatype


def status_of(origin: str) -> str:
    return "bogus" if origin in BOGUS_ZONES else "insecure" if origin in INSECURE_ZONES else "secure"


def _node(zone: dns.zone.Zone, name: dns.name.Name) -> tuple[object, bool, bool]:
    """(node answering ``name`` or None, synthesised from a wildcard, name exists as an ENT)."""
    node = zone.get_node(name)
    if node is not None:
        return node, False, False
    if any(n.is_subdomain(name) for n in zone.nodes):
        return None, False, True
    ce = name.parent()
    while not any(n.is_subdomain(ce) for n in zone.nodes):
        ce = ce.parent()
    wild = zone.get_node(dns.name.Name((b"*",) + ce.labels))
    return wild, wild is not None, False


def expected(zones: dict[str, dns.zone.Zone], name: dns.name.Name, qtype: str) -> tuple[str, str]:
    """(status, zone) of the answer to (name, qtype) as the zone data say, the chain of CNAMEs and
    DNAMEs followed: the worst zone on the way; an NXDOMAIN or a wildcard NODATA proven by an
    opt-out span (an NXDOMAIN, a wildcard expansion, no DS) is "opt-out": no AD, RFC 5155 §9.2;
    DS is the parent's answer."""
    worst, where = "secure", None
    rdtype = T.from_text(qtype)
    for _ in range(8):
        origin = zone_of(name.parent() if rdtype == T.DS and name != dns.name.root else name)
        zone, where = zones[origin], origin
        status = status_of(origin)
        worst = max(worst, status, key=_RANK.__getitem__)
        if status != "secure":
            return worst, where
        dname = next((a for a in _ancestors(name, zone.origin)
                      if zone.get_node(a) is not None and zone.get_node(a).get_rdataset(IN, T.DNAME)), None)
        if dname is not None:
            target = zone.get_node(dname).get_rdataset(IN, T.DNAME)[0].target
            name = name.relativize(dname).derelativize(target)
            continue
        node, synthesised, ent = _node(zone, name)
        cname = node.get_rdataset(IN, T.CNAME) if node is not None else None
        if cname is not None and rdtype != T.CNAME:
            name = cname[0].target
            continue
        # NXDOMAIN, a wildcard expansion (its next closer name covered: RFC 5155 §8.8, §9.2),
        # no DS at an unsigned delegation (no NSEC3 of its own)
        spanned = (node is None and not ent or synthesised
                   or rdtype == T.DS and name.to_text() in INSECURE_ZONES)
        if spanned and origin in OPTOUT_ZONES:
            worst = max(worst, "opt-out", key=_RANK.__getitem__)
        return worst, where
    return worst, where


def _ancestors(name: dns.name.Name, origin: dns.name.Name) -> list[dns.name.Name]:
    """The names strictly between ``origin`` (included) and ``name``, nearest the apex first."""
    out = []
    while name != origin:
        name = name.parent()
        out.append(name)
    return out[::-1]


def _kind(zone: dns.zone.Zone, name: dns.name.Name, qtype: str) -> str:
    node = zone.nodes[name]
    has = lambda t: node.get_rdataset(IN, T.from_text(t)) is not None
    if has("CNAME"):
        return "cname"
    if has("DNAME"):
        return "dname"
    if name.labels[0] == b"*":
        return "wildcard"
    return "data" if has(qtype) else "nodata"


def _query(zones: dict, qname: str, qtype: str, kind: str) -> Query:
    status, where = expected(zones, dns.name.from_text(qname), qtype)
    return Query(qname, qtype, kind, status, ede=BOGUS_ZONES.get(where) if status == "bogus" else None)


def _base(zones: dict[str, dns.zone.Zone], zone: dns.zone.Zone) -> list[Query]:
    """(name, qtype) questions of one zone, with DO."""
    names = _authoritative_names(zone)
    out = []
    for n in names:
        for t in QTYPES + (APEX_QTYPES if n == zone.origin else []):
            kind = "DNSKEY/DS" if t in APEX_QTYPES else _kind(zone, n, t)
            out.append(_query(zones, n.to_text(), t, kind))
    for q in _derived(zone, names):
        out.append(_query(zones, q.qname, q.qtype, {"misbehaving": "nxdomain"}.get(q.category, q.category)))
    return out


def build_corpus(net: SignedNet, seed: int = SEED) -> list[Query]:
    """Every question with DO; seeded shares again with DO+CD and with AD but no DO; shuffled."""
    rng = random.Random(seed)
    zones = net.zones()
    base = [q for zone in zones.values() for q in _base(zones, zone)]
    corpus = list(base)
    for q in base:
        if rng.random() < CD_SHARE:
            corpus.append(Query(q.qname, q.qtype, q.kind, q.status, "DO+CD", q.ede))
        if rng.random() < AD_SHARE:
            corpus.append(Query(q.qname, q.qtype, q.kind, q.status, "AD, no DO", q.ede))
    rng.shuffle(corpus)
    return corpus


def category_counts(corpus: list[Query]) -> collections.Counter:
    counts = collections.Counter()
    for q in corpus:
        counts[q.flags] += 1
        counts[q.status] += 1
        counts[q.kind] += 1
    counts["total"] = len(corpus)
    return counts


# --- asking and comparing --------------------------------------------------------------------

def _answer_key(msg: dns.message.Message) -> frozenset:
    out = set()
    for r in msg.answer:
        owner = r.name.to_text().lower()
        if r.rdtype == dns.rdatatype.RRSIG:
            out.add((owner, "RRSIG " + dns.rdatatype.to_text(r.covers),
                     frozenset((rd.algorithm, rd.key_tag, rd.signer.to_text().lower()) for rd in r)))
        else:
            out.add((owner, dns.rdatatype.to_text(r.rdtype), frozenset(r)))
    return frozenset(out)


@dataclass(frozen=True)
class Outcome:
    """What a resolver said: rcode text (or TIMEOUT), AD, the answer, the EDE codes."""

    rcode: str
    ad: bool = False
    answer: frozenset = frozenset()
    ede: tuple[int, ...] = ()
    ede_text: str = ""
    seconds: float = 0.0

    @staticmethod
    def of(msg: dns.message.Message, seconds: float) -> Outcome:
        errors = msg.extended_errors()
        return Outcome(dns.rcode.to_text(msg.rcode()), bool(msg.flags & dns.flags.AD), _answer_key(msg),
                       tuple(e.code for e in errors), "; ".join(e.text or "" for e in errors), seconds)

    def key(self) -> tuple:
        return (self.rcode, self.ad, self.answer)

    def rrsets_text(self) -> list[str]:
        """The AD bit and EDE codes, then the answer's RRsets (for report())."""
        rrsets = sorted(f"{o} {t} {' | '.join(sorted(str(x) for x in rds))}" for o, t, rds in self.answer)
        return [f"AD={int(self.ad)} EDE={list(self.ede)}"] + rrsets

    def text(self) -> str:
        return f"{self.rcode} {' '.join(self.rrsets_text())}"


BUDGET = Budget(try_timeout=TRY_TIMEOUT, per_query=QUERY_BUDGET, run=RUN_BUDGET, in_flight=IN_FLIGHT)


def compare(left: Server, right: Server, corpus: list[Query]) -> list[tuple]:
    """[(query, left outcome, right outcome)] in corpus order."""
    return differential.compare(left, right, [corpus], Outcome, BUDGET)


def _same_data(left: Outcome, right: Outcome) -> bool:
    return (left.rcode, left.answer) == (right.rcode, right.answer)


def _cd_unbound_ad(q: Query, left: Outcome, right: Outcome) -> bool:
    """CD=1: the same rcode and answer, AD from Unbound only."""
    return q.flags == "DO+CD" and left.ad and not right.ad and _same_data(left, right)


def _cd_our_ad(q: Query, left: Outcome, right: Outcome) -> bool:
    """CD=1: the same rcode and answer, AD from ours only."""
    return q.flags == "DO+CD" and right.ad and not left.ad and _same_data(left, right)


def _loop_chain_kept(q: Query, left: Outcome, right: Outcome) -> bool:
    """Both SERVFAIL; Unbound's answer is empty, ours holds CNAMEs (and their RRSIGs) closing a cycle."""
    if left.rcode != "SERVFAIL" or right.rcode != "SERVFAIL" or left.answer or left.ad or right.ad:
        return False
    links = {}
    for owner, rtype, rdatas in right.answer:
        if rtype == "CNAME":
            links[owner] = {rd.target.to_text().lower() for rd in rdatas}
        elif rtype != "RRSIG CNAME":
            return False
    return bool(links) and all(t in links for targets in links.values() for t in targets)


# The closed list of differences between Unbound (left) and dns-suite (right).
ALLOWED: list[Allowed] = [
    Allowed("CD: AD from Unbound only", "with CD=1 both validate; Unbound may answer from an entry "
            "it validated where ours holds the same data from a key-chain fetch, unchecked", _cd_unbound_ad),
    Allowed("CD: AD from ours only", "with CD=1 Unbound answers from cache entries its iterator stored "
            "unchecked (NS addresses it looked up, parts of chains) without AD, where ours has the same "
            "data validated for an earlier client and sets AD (both allowed: RFC 4035 §3.2.3)",
            _cd_our_ad),
    Allowed("cname loop", "a CNAME loop is SERVFAIL in both; we keep the chain followed so far (with "
            "its RRSIGs) in the answer section, Unbound sends none", _loop_chain_kept),
]


def summary(results: list[tuple]) -> None:
    """Print what report() does not: AD and EDE counts per side, and the kinds of query."""
    for side, pick in (("left", 1), ("right", 2)):
        outs = [r[pick] for r in results]
        edes = collections.Counter(c for o in outs for c in o.ede)
        print(f"{side}: AD on {sum(o.ad for o in outs)}, EDE codes {dict(sorted(edes.items()))}")
    kinds = collections.Counter((q.kind, a.key() == b.key()) for q, a, b in results)
    print("kinds (equal/different):", {k: f"{kinds[(k, True)]}/{kinds[(k, False)]}"
                                        for k in sorted({k for k, _ in kinds})})


def ours_ede(q: Query) -> set[int]:
    """The EDE codes ours may give a bogus answer: exactly the zone's."""
    return {q.ede}


def unbound_ede(q: Query) -> set[int]:
    """The EDE codes Unbound may give: the zone's, or 6 DNSSEC Bogus once it has marked the
    zone's key invalid after an earlier failure (its text says "marked as invalid because of a
    previous validation failure ... DS hash mismatches key" or "... signature expired")."""
    return {q.ede, 6}


def bogus_problems(results: list[tuple], accepted: Callable[[Query], set[int]], side: int
                   ) -> list[str]:
    """What is wrong with one side's answers about the bogus and the insecure zones."""
    out = []
    for q, *outs in results:
        o = outs[side]
        if q.status == "bogus" and q.flags != "DO+CD":
            if o.rcode != "SERVFAIL" or o.answer or o.ad:
                out.append(f"{q.qname} {q.qtype} [{q.flags}]: {o.text()}, want SERVFAIL")
            elif not set(o.ede) & accepted(q):
                out.append(f"{q.qname} {q.qtype} [{q.flags}]: EDE {o.ede} ({o.ede_text}), "
                           f"want one of {accepted(q)}")
        elif q.status == "bogus" and (o.ad or o.rcode == "SERVFAIL"):
            out.append(f"{q.qname} {q.qtype} [CD]: {o.text()}, want the data without AD")
        elif q.status == "insecure" and o.ad:
            out.append(f"{q.qname} {q.qtype} [{q.flags}]: AD set on insecure data")
    return out


def ede_table(results: list[tuple]) -> dict:
    """{(side, zone status, EDE code): count} over the SERVFAIL answers."""
    table: collections.Counter = collections.Counter()
    for q, *outs in results:
        for side, o in zip(("left", "right"), outs):
            if o.rcode == "SERVFAIL":
                where = next((z for z in BOGUS_ZONES if q.ede == BOGUS_ZONES[z]), q.status)
                table[(side, where, o.ede)] += 1
    return dict(sorted(table.items(), key=str))


# --- fixtures and tests ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def net(tmp_path_factory):
    gone = missing_programs()
    if gone:
        pytest.fail(f"not installed (scripts/test installs it): {', '.join(gone)}")
    network = start_signednet(tmp_path_factory.mktemp("signednet"))
    try:
        yield network
    finally:
        network.stop()


@pytest.fixture(scope="module")
def corpus(net) -> list[Query]:
    queries = build_corpus(net)
    check_minimums(category_counts(queries), MINIMUMS)
    return queries


def test_fixture_two_validating_unbounds_agree(net, corpus, tmp_path):
    """Self-check of the signed network: two cold validating Unbounds agree on every query, and
    say of the bogus zones what the corpus expects."""
    a = start_validating_unbound(net, tmp_path / "unbound-a", UNBOUND_A)
    b = start_validating_unbound(net, tmp_path / "unbound-b", UNBOUND_B)
    try:
        results = compare(a, b, corpus)
    finally:
        a.stop()
        b.stop()
    _, bad = report(results, [], "unbound vs unbound")
    summary(results)
    assert not bad, f"{len(bad)} differences between two Unbounds"
    wrong = bogus_problems(results, unbound_ede, 0)
    assert not wrong, f"Unbound: {len(wrong)} unexpected, e.g. {wrong[:5]}"


def test_resolver_dnssec_vs_unbound(net, corpus, tmp_path):
    """dns-suite resolver against Unbound, both validating: every difference in the closed list;
    the bogus zones SERVFAIL with the right EDE from both."""
    unbound = start_validating_unbound(net, tmp_path / "unbound", UNBOUND_A)
    try:
        ours = start_our_validating_resolver(net, tmp_path / "ours", OURS)
        try:
            started = time.monotonic()
            results = compare(unbound, ours, corpus)
            print(f"\n{len(results)} queries in {time.monotonic() - started:.1f} s")
        finally:
            ours.stop()
    finally:
        unbound.stop()
    _, bad = report(results, ALLOWED, "unbound (left) vs dns-suite resolver (right)")
    summary(results)
    ours_wrong = bogus_problems(results, ours_ede, 1)
    unbound_wrong = bogus_problems(results, unbound_ede, 0)
    print("EDE of SERVFAIL answers (side, zone, codes):", ede_table(results))
    for label, wrong in (("ours", ours_wrong), ("unbound", unbound_wrong)):
        for line in wrong[:10]:
            print(f"  {label}: {line}")
    assert not bad, f"{len(bad)} differences outside the allowed list (printed above)"
    assert not ours_wrong, f"ours: {len(ours_wrong)} wrong about bogus/insecure data, e.g. {ours_wrong[:3]}"
    assert not unbound_wrong, f"unbound: {len(unbound_wrong)} unexpected, e.g. {unbound_wrong[:3]}"
    ad_wrong = [f"{q.qname} {q.qtype} [{q.flags}, {q.status}]: {o.text()}" for q, _, o in results
                if q.flags != "DO+CD" and o.rcode in ("NOERROR", "NXDOMAIN")
                and o.ad != (q.status == "secure")]
    assert not ad_wrong, f"ours: {len(ad_wrong)} answers whose AD bit is wrong, e.g. {ad_wrong[:3]}"
