"""The query corpus of the differential test (test_nsd_differential.py): zones analysed with
dnspython, queries generated per category from a seed."""

from __future__ import annotations

import collections
import random
import struct
from dataclasses import dataclass, field

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.zone

from peers import ZoneSpec

T = dns.rdatatype
A, NS, CNAME, SOA, PTR, HINFO, MX, TXT, AAAA, SRV = (T.A, T.NS, T.CNAME, T.SOA, T.PTR, T.HINFO,
                                                    T.MX, T.TXT, T.AAAA, T.SRV)
DNAME, DS, ANY, CAA, NAPTR = T.DNAME, T.DS, T.ANY, T.CAA, T.NAPTR
COMMON_QTYPES = [A, AAAA, MX, TXT, NS, SOA, CNAME, SRV, DS, ANY, DNAME, PTR, CAA, HINFO, NAPTR]
SEED = 4343
# EDNS variants: None (no OPT) or (payload octets, DO).
EDNS_VARIANTS = [None, (1232, False), (1232, True), (4096, False), (512, False), (4096, True),
                 (1400, False)]
TC_VARIANTS = [None, (512, False), (512, True), (1232, False), (1232, True), (4096, False)]


# --- queries ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Query:
    """One question as sent: qname text with its case, type, class, EDNS, RD."""

    qname: str
    qtype: int
    edns: tuple[int, bool] | None = (1232, False)
    rd: bool = False
    qclass: int = 1
    cd: bool = False
    ad: bool = False

    def wire(self, qid: int) -> bytes:
        flags = (0x0100 if self.rd else 0) | (0x0010 if self.cd else 0) | (0x0020 if self.ad else 0)
        arcount = 0 if self.edns is None else 1
        out = struct.pack("!HHHHHH", qid, flags, 1, 0, 0, arcount)
        out += dns.name.from_text(self.qname).to_wire()
        out += struct.pack("!HH", self.qtype, self.qclass)
        if self.edns is not None:
            payload, do = self.edns
            out += b"\0" + struct.pack("!HHBBHH", 41, payload, 0, 0, 0x8000 if do else 0, 0)
        return out

    def __str__(self) -> str:
        e = "noedns" if self.edns is None else f"edns={self.edns[0]}{'+do' if self.edns[1] else ''}"
        c = "" if self.qclass == 1 else f" {dns.rdataclass.to_text(self.qclass)}"
        bits = "".join(f" +{b}" for b in ("rd", "cd", "ad") if getattr(self, b))
        return f"{self.qname}{c} {dns.rdatatype.to_text(self.qtype)} {e}{bits}"


@dataclass
class ZoneInfo:
    origin: dns.name.Name
    owners: list[dns.name.Name]
    types: dict[dns.name.Name, set[int]]
    cuts: list[dns.name.Name]
    glue: list[dns.name.Name]
    dnames: list[dns.name.Name]
    wildcards: list[dns.name.Name]
    ents: list[dns.name.Name]
    cnames: list[dns.name.Name]
    big: list[tuple[dns.name.Name, int]]


def analyse(z: ZoneSpec) -> ZoneInfo:
    """Owners, cuts, glue, DNAMEs, wildcards, ENTs and large RRsets of a zone (via dnspython)."""
    zone = dns.zone.from_file(str(z.path), z.origin, relativize=False, check_origin=False)
    origin = zone.origin
    types = {name: {rds.rdtype for rds in node} for name, node in zone.nodes.items()}
    owners = sorted(types)
    cuts = [n for n in owners if n != origin and NS in types[n]]
    cutset = set(cuts)
    glue = [n for n in owners if any(n.is_subdomain(c) and n != c for c in cutset)]
    dnames = [n for n in owners if DNAME in types[n]]
    wild = [n for n in owners if n.labels[0] == b"*"]
    ents = set()
    for n in owners:
        p = n.parent()
        while p != origin and p.is_subdomain(origin):
            if p not in types:
                ents.add(p)
            p = p.parent()
    cnames = [n for n in owners if CNAME in types[n]]
    big = []
    for name, node in zone.nodes.items():
        for rds in node:
            size = sum(len(rd.to_wire()) + 12 for rd in rds)
            if size > 400 or len(rds) > 8:
                big.append((name, rds.rdtype))
    return ZoneInfo(origin, owners, types, cuts, glue, dnames, wild, sorted(ents), cnames, big)


@dataclass
class Corpus:
    queries: list[Query] = field(default_factory=list)
    categories: dict[Query, set[str]] = field(default_factory=lambda: collections.defaultdict(set))

    def add(self, q: Query, *cats: str) -> None:
        if q not in self.categories:
            self.queries.append(q)
        self.categories[q].update(cats)

    def counts(self) -> collections.Counter:
        c: collections.Counter = collections.Counter()
        for q in self.queries:
            c["total"] += 1
            for cat in self.categories[q]:
                c[cat] += 1
            c["CD set"] += q.cd
            c["AD set"] += q.ad
            if q.edns is None:
                c["no EDNS"] += 1
            else:
                c["EDNS"] += 1
                if q.edns[1]:
                    c["EDNS DO"] += 1
        return c


def _label(rng: random.Random) -> str:
    return "nx" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(6))


def _flip_case(rng: random.Random, text: str) -> str:
    chars = [ch.upper() if ch.isalpha() and rng.random() < 0.5 else ch for ch in text]
    for i, ch in enumerate(chars):  # at least one capital
        if ch.isalpha():
            chars[i] = ch.upper()
            break
    return "".join(chars)


def build_corpus(infos: list[ZoneInfo]) -> Corpus:
    """The generated corpus: every category of issue 3, deterministic (seeded)."""
    rng = random.Random(SEED)
    corpus = Corpus()

    def q(name, qtype, *cats, edns="pick", qclass=1):
        text = name.to_text() if isinstance(name, dns.name.Name) else name
        if edns == "pick":
            edns = rng.choice(EDNS_VARIANTS)
        roll = rng.random()
        query = Query(text, qtype, edns, rd=rng.random() < 0.2, qclass=qclass, cd=roll < 0.08,
                      ad=0.08 <= roll < 0.12)
        corpus.add(query, *cats)
        return query

    for info in infos:
        o = info.origin
        owners = info.owners if len(info.owners) < 500 else rng.sample(info.owners, 110)
        for n in owners:
            for t in COMMON_QTYPES:
                q(n, t, "owner x qtype")
        # Names that do not exist, at every depth below the apex, and below existing names.
        for depth in range(1, 7):
            for _ in range(3 if len(info.owners) < 500 else 12):
                labels = [_label(rng) for _ in range(depth)]
                name = dns.name.Name(tuple(x.encode() for x in labels) + o.labels)
                if name not in info.types:
                    q(name, rng.choice([A, AAAA, TXT, MX, ANY]), "nonexistent",
                      f"nonexistent depth {depth}")
        for n in rng.sample(info.owners, min(len(info.owners), 40)):
            for extra in (1, 2):
                name = dns.name.Name(tuple(_label(rng).encode() for _ in range(extra)) + n.labels)
                depth = len(name) - len(o)
                if depth <= 6:
                    q(name, rng.choice([A, TXT, ANY, NS]), "nonexistent",
                      f"nonexistent depth {depth}")
        # Zone cuts: the cut itself, the glue, names below.
        cuts = info.cuts if len(info.cuts) < 150 else rng.sample(info.cuts, 60)
        for c in cuts:
            for t in (NS, DS, A, ANY, SOA, TXT):
                q(c, t, "below a zone cut" if t not in (DS,) else "DS at a cut")
            for t in (A, NS, DS, AAAA):
                q(dns.name.Name((b"x",) + c.labels), t, "below a zone cut")
            q(dns.name.Name((b"a", b"b") + c.labels), A, "below a zone cut")
        for g in info.glue if len(info.glue) < 150 else rng.sample(info.glue, 60):
            for t in (A, AAAA, NS, TXT):
                q(g, t, "below a zone cut", "glue name")
        # Wildcards: names the wildcard synthesizes at one and two labels below, and the '*' itself.
        for w in info.wildcards if len(info.wildcards) < 40 else rng.sample(info.wildcards, 50):
            parent = w.parent()
            for t in (A, AAAA, TXT, MX, CNAME, ANY, DS, NS):
                q(dns.name.Name((_label(rng).encode(),) + parent.labels), t, "wildcard hit")
            q(dns.name.Name((b"a", _label(rng).encode()) + parent.labels), A, "wildcard hit")
            q(dns.name.Name((b"a",) + w.labels), A, "wildcard hit")
            q(w, A, "wildcard hit", "wildcard owner")
        # Empty non-terminals.
        ents = info.ents if len(info.ents) < 200 else rng.sample(info.ents, 80)
        for e in ents:
            for t in (A, TXT, ANY, NS, DS):
                q(e, t, "empty non-terminal")
            q(dns.name.Name((_label(rng).encode(),) + e.labels), A, "empty non-terminal",
              "nonexistent")
        # DNAMEs: the owner, and names below it at several depths (including names that exist
        # at the target).
        for d in info.dnames if len(info.dnames) < 40 else rng.sample(info.dnames, 35):
            for t in (DNAME, A, CNAME, ANY, TXT):
                q(d, t, "DNAME owner")
            for lab in ("x", "a", "b", "cn", "www", "ftp"):
                for t in (A, CNAME, TXT, ANY):
                    q(dns.name.Name((lab.encode(),) + d.labels), t, "below a DNAME")
            q(dns.name.Name((b"c", b"deep") + d.labels), A, "below a DNAME")
            q(dns.name.Name((b"foo",) + d.labels), A, "below a DNAME")
            q(dns.name.Name((_label(rng).encode(), b"y") + d.labels), AAAA, "below a DNAME")
        # CNAMEs.
        for c in info.cnames if len(info.cnames) < 300 else rng.sample(info.cnames, 150):
            for t in (A, AAAA, TXT, CNAME):
                q(c, t, "CNAME chain")
        # Large RRsets: payload sizes that force TC.
        for name, rdtype in info.big:
            below = name if rdtype != NS or name == o else dns.name.Name((b"x",) + name.labels)
            for e in TC_VARIANTS:
                q(below, rdtype, "small payload (TC candidates)", edns=e)
                q(below, ANY, "small payload (TC candidates)", edns=e)
    # Outside the served zones.
    for name in ("www.example.net.", "example.com.", "org.", ".", "test.", "nope.invalid.",
                 "gen.test.example.net.", "xexample.test.", "ample.test.", "a.b.c.d.e.f.g.",
                 "example.test.com.", "test.example.", "tes.t", "example.te.st.", "arpa.",
                 "1.2.0.192.in-addr.arpa.", "localhost.", "campus.tes.", "fstar.", "org.example."):
        for t in (A, SOA, NS):
            q(name, t, "outside served zones")
    # Other classes: ANY (255), NONE (254), HS (4).
    for name in ("www.example.test.", "example.test.", "nx.example.test.", "x.sub.example.test.",
                 "x.d.example.org.", "www.example.net."):
        for qclass in (255, 254, 4):
            q(name, A if name != "example.test." else SOA, "class ANY/NONE/HS", qclass=qclass)
    # Meta qtypes: OPT, TSIG, TKEY, MAILB, MAILA, 0 (AXFR/IXFR: transfer_queries()).
    for name in ("www.example.test.", "example.test.", "nx.example.test.", "gen.test."):
        for qtype in (41, 250, 249, 253, 254, 0):
            q(name, qtype, "meta qtypes")
    # DNAME substitutions that overflow 255 octets (RFC 6672 §2.2: YXDOMAIN), near the limit.
    grow = dns.name.from_text("grow.chain.test.")
    for total in list(range(146, 166)) + [180, 200, 230, 250, 255]:
        labels, size = [], len(grow.to_wire())
        while size < total:
            n = min(63, total - size - 1)
            if n < 1:
                break
            labels.append(("b" * n).encode())
            size += n + 1
        name = dns.name.Name(tuple(labels) + grow.labels)
        for qtype in (A, CNAME, TXT):
            q(name, qtype, "below a DNAME", "DNAME substitution too long")
    # Class CH.
    for name in ("version.bind.", "version.server.", "id.server.", "hostname.bind.",
                 "www.example.test."):
        q(name, TXT, "class CH", qclass=3)
    # Mixed case: copies of a sample of the above with random capitals.
    for base in rng.sample(corpus.queries, 800):
        flipped = _flip_case(rng, base.qname)
        if flipped != base.qname:
            corpus.add(Query(flipped, base.qtype, base.edns, base.rd, base.qclass, base.cd,
                             base.ad),
                       "mixed case", *corpus.categories[base])
    return corpus


def transfer_queries() -> list[Query]:
    """AXFR and IXFR (without a SOA in authority) at apexes, other names, outside the zones."""
    out = []
    for name in ("example.test.", "ExaMPLE.TEST.", "www.example.test.", "nx.example.test.",
                 "gen.test.", "kid.gen.test.", "www.example.net."):
        for qtype in (dns.rdatatype.AXFR, dns.rdatatype.IXFR):
            for edns in (None, (1232, False)):
                out.append(Query(name, qtype, edns))
    return out
