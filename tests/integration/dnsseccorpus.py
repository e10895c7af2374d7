"""The query corpus of the DNSSEC differential test (test_dnssec_differential.py): generated per
category from the signed zones (analysed with dnspython, :func:`diffcorpus.analyse`), seeded.

Every question goes out with DO set and without it (no OPT, or OPT without DO), so the two paths
are compared on the same names; DO queries use payloads of 1232 and 4096 octets, and a share of
them 512 octets (truncation with signatures).
"""

from __future__ import annotations

import random

import dns.name
import dns.rdatatype

from diffcorpus import (ANY, CNAME, COMMON_QTYPES, DNAME, DS, MX, NS, SOA, TXT, AAAA, A, Corpus,
                        Query, ZoneInfo, _flip_case, _label)

T = dns.rdatatype
RRSIG, NSEC, NSEC3, DNSKEY, NSEC3PARAM, TLSA = (T.RRSIG, T.NSEC, T.NSEC3, T.DNSKEY,
                                                T.NSEC3PARAM, T.TLSA)
DNSSEC_QTYPES = [RRSIG, NSEC, NSEC3, DNSKEY, NSEC3PARAM, DS]
QTYPES = COMMON_QTYPES + [RRSIG, NSEC, NSEC3, DNSKEY, NSEC3PARAM, TLSA]
SEED = 4035

MINIMUMS = {
    "total": 6000,
    "DO": 3000, "no DO": 3000,
    "owner x qtype": 2500,
    "qtype RRSIG/NSEC/NSEC3/DS/DNSKEY": 600,
    "nonexistent": 400,
    "wildcard": 300, "wildcard NODATA": 60,
    "empty non-terminal": 100,
    "referral": 150, "DS at a cut": 60,
    "DNAME": 100,
    "CNAME chain": 150,
    "NSEC3 owner name": 60,
    "DO payload 512": 300,
    "mixed case": 300,
}


def hashed_owners(info: ZoneInfo) -> list[dns.name.Name]:
    """Owners that hold only NSEC3 (and RRSIG): not names of the zone."""
    return [n for n in info.owners if info.types[n] <= {NSEC3, RRSIG} and NSEC3 in info.types[n]]


def build_corpus(infos: list[ZoneInfo]) -> Corpus:
    """Every question of every category, each with DO and without."""
    rng = random.Random(SEED)
    corpus = Corpus()

    def q(name, qtype, *cats, small=False):
        text = name.to_text() if isinstance(name, dns.name.Name) else name
        roll = rng.random()
        plain = rng.choice([None, (1232, False), (4096, False)])
        payload = 512 if small or roll < 0.1 else rng.choice([1232, 4096])
        cd = rng.random() < 0.05
        corpus.add(Query(text, qtype, plain, rd=rng.random() < 0.2), *cats, "no DO")
        corpus.add(Query(text, qtype, (payload, True), rd=rng.random() < 0.2, cd=cd), *cats, "DO",
                   *(("DO payload 512",) if payload == 512 else ()))

    for info in infos:
        o = info.origin
        hashed = set(hashed_owners(info))
        owners = [n for n in info.owners if n not in hashed]
        for n in owners:
            for t in QTYPES:
                cats = ("owner x qtype",)
                if t in DNSSEC_QTYPES:
                    cats += ("qtype RRSIG/NSEC/NSEC3/DS/DNSKEY",)
                q(n, t, *cats)
        for n in rng.sample(sorted(hashed), min(len(hashed), 6)):
            for t in (NSEC3, A, RRSIG, ANY, TXT):
                q(n, t, "NSEC3 owner name")
            q(dns.name.Name((b"x",) + n.labels), A, "NSEC3 owner name", "nonexistent")
        for depth in range(1, 5):
            for _ in range(4):
                name = dns.name.Name(tuple(_label(rng).encode() for _ in range(depth)) + o.labels)
                q(name, rng.choice([A, AAAA, TXT, MX, DS, NSEC, ANY]), "nonexistent")
        for n in rng.sample(owners, min(len(owners), 12)):
            q(dns.name.Name((_label(rng).encode(),) + n.labels), rng.choice([A, TXT, DS]),
              "nonexistent")
        for c in info.cuts:
            for t in (NS, DS, A, ANY, NSEC, RRSIG, DNSKEY, SOA):
                q(c, t, "referral" if t != DS else "DS at a cut")
            for t in (A, DS, NS, NSEC3):
                q(dns.name.Name((b"x",) + c.labels), t, "referral")
        for g in info.glue:
            q(g, A, "referral")
        for w in info.wildcards:
            parent = w.parent()
            for t in (A, AAAA, TXT, MX, CNAME, DS, RRSIG, NSEC, ANY, NS):
                cats = ("wildcard",) + (("wildcard NODATA",) if t in (AAAA, MX, DS, NS) else ())
                q(dns.name.Name((_label(rng).encode(),) + parent.labels), t, *cats)
            q(dns.name.Name((b"a", _label(rng).encode()) + parent.labels), A, "wildcard")
            q(dns.name.Name((b"a",) + w.labels), A, "wildcard")
        for e in info.ents:
            for t in (A, TXT, DS, NSEC, NSEC3, ANY):
                q(e, t, "empty non-terminal")
            q(dns.name.Name((_label(rng).encode(),) + e.labels), A, "empty non-terminal",
              "nonexistent")
        for d in info.dnames:
            for t in (DNAME, A, CNAME, RRSIG):
                q(d, t, "DNAME")
            for lab in ("www", "x", "nothere", "a.b.ent", "c1"):
                for t in (A, TXT, CNAME):
                    q(dns.name.from_text(lab, d), t, "DNAME")
        for c in info.cnames:
            for t in (A, MX, TXT, CNAME, RRSIG):
                q(c, t, "CNAME chain")
        for name, rdtype in info.big:
            q(name, rdtype, "big", small=True)
            q(name, ANY, "big", small=True)
        for t in (DNSKEY, SOA, NS, ANY, NSEC3PARAM, MX):
            q(o, t, "apex", small=True)
    for base in rng.sample(corpus.queries, 400):
        flipped = _flip_case(rng, base.qname)
        if flipped != base.qname:
            corpus.add(Query(flipped, base.qtype, base.edns, base.rd, base.qclass, base.cd,
                             base.ad), "mixed case", *corpus.categories[base])
    return corpus


__all__ = ["MINIMUMS", "build_corpus", "hashed_owners", "QTYPES"]
