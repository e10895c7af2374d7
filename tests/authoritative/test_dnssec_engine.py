"""DNSSEC answers of the engine (pure): the example responses of RFC 4035 Appendix B (NSEC) and
RFC 5155 Appendix B (NSEC3 with opt-out), on the zones of their Appendix A.

The zones are "signed" here in memory: real NSEC/NSEC3 chains (hashes computed with the
parameters of the RFCs), RRSIGs with a dummy signature (the engine never verifies them).
"""

from __future__ import annotations

import pytest

from dns_suite.authoritative.engine import resolve
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.wire.message import RR, Message, encode, rrsets
from dns_suite.wire.name import Name
from dns_suite.wire.types import RRType
from dns_suite.zone.nsec import b32hex, canonical_key, nsec3_hash

from conftest import build

RRSIG, NSEC, NSEC3, DS, NS = 46, 47, 50, 43, 2
SIG = "{covered} 13 {labels} {ttl} 20300101000000 20200101000000 1 example. AAAA"

# RFC 4035 Appendix A (the data; keys, signatures and NSEC records are made below).
RFC4035 = """$TTL 3600
@ SOA ns1 bugs.x.w 1081539377 3600 300 3600000 3600
@ NS ns1
@ NS ns2
@ MX 1 xx
a NS ns1.a
a NS ns2.a
a DS 57855 5 1 B6DCD485719ADCA18E5F3D48A2331627FDD3636B
ns1.a A 192.0.2.5
ns2.a A 192.0.2.6
ai A 192.0.2.9
ai HINFO "KLH-10" "ITS"
ai AAAA 2001:db8::f00:baa9
b NS ns1.b
b NS ns2.b
ns1.b A 192.0.2.7
ns2.b A 192.0.2.8
ns1 A 192.0.2.1
ns2 A 192.0.2.2
*.w MX 1 ai
x.w MX 1 xx
x.y.w MX 1 xx
xx A 192.0.2.10
xx HINFO "KLH-10" "TOPS-20"
xx AAAA 2001:db8::f00:baa2
"""
# RFC 5155 Appendix A: the same, with c instead of b and the name 2t7b4g4v... owning an A.
RFC5155 = RFC4035.replace("\nb NS ns1.b\nb NS ns2.b\nns1.b A 192.0.2.7\nns2.b A 192.0.2.8\n",
                          "\nc NS ns1.c\nc NS ns2.c\nns1.c A 192.0.2.7\nns2.c A 192.0.2.8\n") \
    + "2t7b4g4vsa5smi47k61mv5bv1a22bojr A 192.0.2.127\n"


def _sign(text: str, nsec3: tuple[bytes, int] | None) -> str:
    """``text`` with a DNSKEY, RRSIGs and an NSEC chain, or an opt-out NSEC3 chain."""
    zone = build("example.", text)
    okey = zone.origin.key
    glue = {k for k in zone.nodes if any(k.endswith(c) and k != c for c in zone.cuts)}
    owners = [k for k in zone.nodes if k not in glue]
    lines = [text, "@ DNSKEY 257 3 13 AAAA"]
    types = {k: sorted({r.rrtype for r in zone.nodes[k].chain()} | ({48} if k == okey else set()))
             for k in owners}

    def label_count(k: bytes) -> int:
        return len(Name(k, k).labels) - (k[:2] == b"\x01*")

    for k in owners:
        for t in types[k]:
            if k in zone.cuts and t != DS:
                continue
            sig = SIG.format(covered=RRType(t).to_text(), labels=label_count(k), ttl=3600)
            lines.append(f"{Name(k, k)} RRSIG {sig}")
    if nsec3 is None:
        chain = sorted(owners, key=canonical_key)
        for i, k in enumerate(chain):
            nxt = Name(chain[(i + 1) % len(chain)], chain[(i + 1) % len(chain)])
            own = [t for t in types[k] if not (k in zone.cuts and t not in (NS, DS))]
            bitmap = " ".join(RRType(t).to_text() for t in sorted(set(own) | {RRSIG, NSEC}))
            lines.append(f"{Name(k, k)} 3600 NSEC {nxt} {bitmap}")
            sig = SIG.format(covered="NSEC", labels=label_count(k), ttl=3600)
            lines.append(f"{Name(k, k)} 3600 RRSIG {sig}")
        return "\n".join(lines) + "\n"
    salt, iterations = nsec3
    lines.append(f"@ NSEC3PARAM 1 0 {iterations} {salt.hex()}")
    secure = [k for k in owners if k not in zone.cuts or DS in types[k]]  # opt-out: no insecure cuts
    ents = {e for e in zone.ents if any(k.endswith(e) for k in secure)}
    hashed = sorted((b32hex(nsec3_hash(k, salt, iterations)), k) for k in secure + sorted(ents))
    for i, (h, k) in enumerate(hashed):
        own = [t for t in types.get(k, []) if not (k in zone.cuts and t not in (NS, DS))]
        own = sorted(set(own) | ({RRSIG} if own else set()) | ({51} if k == okey else set()))
        bitmap = " ".join(RRType(t).to_text() for t in own)
        nxt = hashed[(i + 1) % len(hashed)][0]
        lines.append(f"{h} 3600 NSEC3 1 1 {iterations} {salt.hex()} {nxt} {bitmap}")
        lines.append(f"{h} 3600 RRSIG {SIG.format(covered='NSEC3', labels=2, ttl=3600)}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def nsec_zones() -> ZoneSet:
    return ZoneSet([build("example.", _sign(RFC4035, None))])


@pytest.fixture(scope="module")
def nsec3_zones() -> ZoneSet:
    return ZoneSet([build("example.", _sign(RFC5155, (bytes.fromhex("aabbccdd"), 12)))])


def _rows(rrs: list[RR]) -> list[tuple[str, str]]:
    out = []
    for rr in rrs:
        t = RRType(rr.rrtype).to_text()
        if rr.rrtype == RRSIG:
            t += "/" + RRType(int.from_bytes(rr.rdata[:2], "big")).to_text()
        out.append((rr.owner.to_text().lower(), t))
    return out


def _ask(zones: ZoneSet, qname: str, qtype: str, do: bool = True):
    return resolve(zones, Name.from_text(qname), int(RRType.from_text(qtype)), do)


# RFC 4035 Appendix B: (qname, qtype, rcode, answer, authority) as (owner, type[/covered]).
NSEC_CASES = [
    ("x.w.example.", "MX", 0, [("x.w.example.", "MX"), ("x.w.example.", "RRSIG/MX")], []),  # B.1
    ("ml.example.", "A", 3, [],  # B.2 name error
     [("b.example.", "NSEC"), ("b.example.", "RRSIG/NSEC"), ("example.", "NSEC"),
      ("example.", "RRSIG/NSEC"), ("example.", "SOA"), ("example.", "RRSIG/SOA")]),
    ("ns1.example.", "MX", 0, [],  # B.3 no data
     [("example.", "SOA"), ("example.", "RRSIG/SOA"), ("ns1.example.", "NSEC"),
      ("ns1.example.", "RRSIG/NSEC")]),
    ("mc.a.example.", "MX", 0, [],  # B.4 referral to a signed zone
     [("a.example.", "NS"), ("a.example.", "NS"), ("a.example.", "DS"),
      ("a.example.", "RRSIG/DS")]),
    ("mc.b.example.", "MX", 0, [],  # B.5 referral to an unsigned zone
     [("b.example.", "NS"), ("b.example.", "NS"), ("b.example.", "NSEC"),
      ("b.example.", "RRSIG/NSEC")]),
    ("a.z.w.example.", "MX", 0, [("a.z.w.example.", "MX"), ("a.z.w.example.", "RRSIG/MX")],  # B.6
     [("x.y.w.example.", "NSEC"), ("x.y.w.example.", "RRSIG/NSEC")]),
    ("a.z.w.example.", "AAAA", 0, [],  # B.7 wildcard no data
     [("x.y.w.example.", "NSEC"), ("x.y.w.example.", "RRSIG/NSEC"), ("example.", "SOA"),
      ("example.", "RRSIG/SOA"), ("*.w.example.", "NSEC"), ("*.w.example.", "RRSIG/NSEC")]),
    ("example.", "DS", 0, [],  # B.8 DS child zone no data
     [("example.", "SOA"), ("example.", "RRSIG/SOA"), ("example.", "NSEC"),
      ("example.", "RRSIG/NSEC")]),
]


@pytest.mark.parametrize("qname,qtype,rcode,answer,authority", NSEC_CASES,
                         ids=[f"{c[0]}{c[1]}" for c in NSEC_CASES])
def test_rfc4035_appendix_b(nsec_zones, qname, qtype, rcode, answer, authority):
    res = _ask(nsec_zones, qname, qtype)
    assert res.rcode == rcode
    assert _rows(res.answer) == answer
    assert _rows(res.authority) == authority


# RFC 5155 Appendix B: the NSEC3 owners (hash labels) in authority.
NSEC3_CASES = [
    ("a.c.x.w.example.", "A", 3, ["0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",  # B.1 name error
                                  "b4um86eghhds6nea196smvmlo4ors995",
                                  "35mthgpgcu1qg68fab165klnsnk3dpvl"]),
    ("ns1.example.", "MX", 0, ["2t7b4g4vsa5smi47k61mv5bv1a22bojr"]),  # B.2 no data
    ("y.w.example.", "A", 0, ["ji6neoaepv8b5o6k4ev33abha8ht9fgc"]),  # B.2.1 empty non-terminal
    ("mc.c.example.", "MX", 0, ["0p9mhaveqvm6t7vbl5lop2u3t2rp3tom",  # B.3 opt-out referral
                                "35mthgpgcu1qg68fab165klnsnk3dpvl"]),
    ("a.z.w.example.", "MX", 0, ["q04jkcevqvmu85r014c7dkba38o0ji5r"]),  # B.4 wildcard expansion
    ("a.z.w.example.", "AAAA", 0, ["k8udemvp1j2f7eg6jebps17vp3n8i58h",  # B.5 wildcard no data
                                   "q04jkcevqvmu85r014c7dkba38o0ji5r",
                                   "r53bq7cc2uvmubfu5ocmm6pers9tk9en"]),
    ("example.", "DS", 0, ["0p9mhaveqvm6t7vbl5lop2u3t2rp3tom"]),  # B.6 DS child zone no data
]


@pytest.mark.parametrize("qname,qtype,rcode,owners", NSEC3_CASES,
                         ids=[f"{c[0]}{c[1]}" for c in NSEC3_CASES])
def test_rfc5155_appendix_b(nsec3_zones, qname, qtype, rcode, owners):
    res = _ask(nsec3_zones, qname, qtype)
    assert res.rcode == rcode
    got = [rr.owner.labels[0].decode().lower() for rr in res.authority if rr.rrtype == NSEC3]
    assert sorted(got) == sorted(owners)
    sigs = {rr.owner.key for rr in res.authority if rr.rrtype == RRSIG
            and int.from_bytes(rr.rdata[:2], "big") == NSEC3}
    assert sigs == {rr.owner.key for rr in res.authority if rr.rrtype == NSEC3}


def test_referral_to_an_opt_out_delegation_is_not_authoritative(nsec3_zones):
    res = _ask(nsec3_zones, "mc.c.example.", "MX")
    assert not res.aa and [r.rrtype for r in res.authority][:2] == [NS, NS]
    assert {rr.owner.to_text() for rr in res.glue} == {"ns1.c.example.", "ns2.c.example."}


def test_without_do_nothing_is_added_but_dnssec_types_are_answered(nsec_zones, nsec3_zones):
    res = _ask(nsec_zones, "ml.example.", "A", do=False)
    assert _rows(res.authority) == [("example.", "SOA")]
    res = _ask(nsec_zones, "mc.a.example.", "MX", do=False)
    assert _rows(res.authority) == [("a.example.", "NS"), ("a.example.", "NS")]
    res = _ask(nsec_zones, "a.example.", "DS", do=False)  # from the parent side, AA set
    assert res.aa and _rows(res.answer) == [("a.example.", "DS")]
    res = _ask(nsec_zones, "ns1.example.", "NSEC", do=False)
    assert _rows(res.answer) == [("ns1.example.", "NSEC")]
    res = _ask(nsec_zones, "xx.example.", "RRSIG", do=False)  # every RRSIG of the node
    assert sorted(_rows(res.answer)) == sorted(
        [("xx.example.", f"RRSIG/{t}") for t in ("A", "HINFO", "AAAA", "NSEC")])
    res = _ask(nsec_zones, "example.", "DNSKEY", do=False)
    assert _rows(res.answer) == [("example.", "DNSKEY")]


def test_nsec3_owner_names_do_not_exist(nsec3_zones):
    """NSD: a name owning only NSEC3 (and RRSIG) is not in the zone; qtype NSEC3 is NODATA."""
    for qtype in ("NSEC3", "A", "RRSIG", "ANY"):
        res = _ask(nsec3_zones, "35mthgpgcu1qg68fab165klnsnk3dpvl.example.", qtype, do=False)
        assert res.rcode == 3 and not res.answer
    res = _ask(nsec3_zones, "ns1.example.", "NSEC3", do=False)
    assert res.rcode == 0 and not res.answer and _rows(res.authority) == [("example.", "SOA")]


def test_dname_is_signed_and_its_cname_is_not():
    text = RFC4035 + "d DNAME xx\n"
    zones = ZoneSet([build("example.", _sign(text, None))])
    res = _ask(zones, "a.d.example.", "A")
    assert _rows(res.answer) == [("d.example.", "DNAME"), ("d.example.", "RRSIG/DNAME"),
                                 ("a.d.example.", "CNAME")]


def test_negative_soa_signatures_take_the_negative_ttl(nsec_zones):
    res = _ask(nsec_zones, "ml.example.", "A")
    soa = [rr for rr in res.authority if rr.rrtype in (6, RRSIG)
           and (rr.rrtype == 6 or rr.rdata[:2] == b"\x00\x06")]
    assert {rr.ttl for rr in soa} == {3600}  # min(SOA TTL 3600, MINIMUM 3600)


def test_truncation_keeps_an_rrset_and_its_rrsigs_together(nsec_zones):
    res = _ask(nsec_zones, "a.z.w.example.", "AAAA")
    msg = Message(id=1, flags=0x8400, authority=tuple(res.authority))
    full = encode(msg)
    units = [g[0].rrtype for g in rrsets(res.authority)]
    assert units == [NSEC, RRSIG, 6, RRSIG, NSEC, RRSIG]
    for limit in range(60, len(full), 7):
        wire = encode(msg, limit)
        if wire[2] & 0x02:  # TC: whole units kept, each RRset with its RRSIGs
            kept = int.from_bytes(wire[8:10], "big")
            assert kept % 2 == 0


def test_prerendered_table_keys_on_do(nsec_zones):
    """The UDP table holds the DO and the plain reply apart; a hit equals the first reply."""
    from dns_suite.authoritative.prerender import Prerendered
    from dns_suite.authoritative.responder import Options
    from dns_suite.wire.edns import Edns
    from dns_suite.wire.message import decode, make_query

    table = Prerendered(nsec_zones, Options(payload_size=4096))
    replies = {}
    for do in (False, True):
        wire = encode(make_query(Name.from_text("ml.example."), 1, ident=7,
                                 edns=Edns(payload=4096, do=do)))
        first, second = table.udp(wire), table.udp(wire)
        assert first == second
        replies[do] = decode(first)
        upper = wire[:12] + wire[12:].replace(b"ml", b"ML", 1)
        assert decode(table.udp(upper)).authority == replies[do].authority
    assert table.misses == 2
    assert {rr.rrtype for rr in replies[False].authority} == {6}
    assert {rr.rrtype for rr in replies[True].authority} == {6, RRSIG, NSEC}
    assert replies[True].edns.do and not replies[False].edns.do


def test_axfr_keeps_each_rrsig_ttl():
    from dns_suite.authoritative.xfr import axfr_items
    zone = build("example.", _sign(RFC4035, None).replace(
        "xx.example. 3600 NSEC", "xx.example. 300 NSEC").replace(
        "xx.example. 3600 RRSIG NSEC 13 2 3600", "xx.example. 300 RRSIG NSEC 13 2 300"))
    key = Name.from_text("xx.example.").key
    ttls = {(rd[:2], ttl) for wire, t, ttl, rd in axfr_items(zone) if t == RRSIG
            and wire.lower() == key}
    assert (b"\x00\x2f", 300) in ttls and (b"\x00\x01", 3600) in ttls
