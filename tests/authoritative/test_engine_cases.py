"""The answer engine on the issue's named cases and the RFC rules (pure, no sockets)."""

from __future__ import annotations

import pytest

from dns_suite.authoritative.engine import resolve
from dns_suite.wire.name import Name
from dns_suite.wire.types import RRType

A, NS, CNAME, SOA, DNAME = 1, 2, 5, 6, 39


def sec(rrs):
    return [(rr.owner.to_text().lower(), RRType(rr.rrtype).to_text()) for rr in rrs]


# (qname, qtype, rcode, aa, answer [(owner, type)], authority types, glue count)
CASES = [
    ("x.c.d.example.org.", A, 3, True, [], ["SOA"], 0),
    ("x.r.c.d.example.org.", A, 3, True, [], ["SOA"], 0),
    ("nope.deep.example.org.", A, 3, True, [], ["SOA"], 0),
    ("x.d.example.org.", A, 0, True, [("x.d.example.org.", "A")], [], 0),
    ("anything.example.org.", A, 0, True, [("anything.example.org.", "A")], [], 0),
    ("anything.example.org.", "MX", 0, True, [], ["SOA"], 0),  # wildcard NODATA
    ("d.example.org.", A, 0, True, [], ["SOA"], 0),  # empty non-terminal: NODATA
    ("anything.e.ent.test.", A, 0, True, [], ["SOA"], 0),  # *.e is an ENT
    ("a.c.d.campus.test.", A, 3, True, [("c.d.campus.test.", "DNAME"), ("a.c.d.campus.test.", "CNAME")],
     ["SOA"], 0),
    ("a.c.d.campus.test.", CNAME, 0, True, [("c.d.campus.test.", "DNAME"),
                                            ("a.c.d.campus.test.", "CNAME")], [], 0),
    ("foo.c.d.campus.test.", A, 0, True, [("c.d.campus.test.", "DNAME"), ("foo.c.d.campus.test.", "CNAME"),
                                          ("foo.f.d.campus.test.", "CNAME"), ("done.campus.test.", "A")], [], 0),
    ("c.d.campus.test.", DNAME, 0, True, [("c.d.campus.test.", "DNAME")], [], 0),
    ("a.example.org.", A, 0, True, [("a.example.org.", "CNAME")], [], 0),  # target out of our zones
    ("x.bar.foo.example.org.", A, 0, False, [], ["NS"], 1),  # topmost cut wins
    ("foo.example.org.", NS, 0, False, [], ["NS"], 1),  # NS at a cut is a referral
    ("x.sub.example.org.", A, 0, False, [], ["NS", "NS"], 2),  # A and AAAA glue required
    ("sub.example.org.", "DS", 0, True, [("sub.example.org.", "DS")], [], 0),  # parent side
    ("sib.example.org.", "DS", 0, True, [], ["SOA"], 0),
    ("loop1.example.org.", A, 0, True, [("loop1.example.org.", "CNAME"), ("loop2.example.org.", "CNAME")], [], 0),
    ("q.w.example.org.", A, 0, True, [("q.w.example.org.", "CNAME"), ("real.deep.example.org.", "A")], [], 0),
    ("www.example.com.", A, 5, False, [], [], 0),
    ("example.org.", "ANY", 0, True, [("example.org.", "NS")], [], 0),
]


@pytest.mark.parametrize("qname,qtype,rcode,aa,answer,authority,glue", CASES,
                         ids=[f"{c[0]}/{c[1]}" for c in CASES])
def test_case(zones, qname, qtype, rcode, aa, answer, authority, glue):
    qt = int(RRType.from_text(qtype)) if isinstance(qtype, str) else qtype
    res = resolve(zones, Name.from_text(qname), qt)
    assert res.rcode == rcode
    assert res.aa == aa
    assert sorted(set(sec(res.answer))) == sorted(set(answer)) and len(sec(res.answer)) >= len(answer)
    assert [RRType(rr.rrtype).to_text() for rr in res.authority] == authority
    assert len(res.glue) == glue


def test_negative_ttl_is_min_of_soa_ttl_and_minimum(zones):
    res = resolve(zones, Name.from_text("nope.deep.example.org."), A)
    assert res.authority[0].ttl == 300  # SOA TTL 3600, MINIMUM 300 (RFC 2308 §3)


def test_wildcard_owner_is_qname_and_mixed_case_kept(zones):
    res = resolve(zones, Name.from_text("X.D.example.ORG."), A)
    assert res.answer[0].owner.wire == Name.from_text("X.D.example.ORG.").wire


def test_dname_substitution_too_long_is_yxdomain(zones):
    qname = Name.from_text("a" * 63 + ".x.campus.test.")
    res = resolve(zones, qname, A)
    assert res.rcode == 6 and sec(res.answer) == [("x.campus.test.", "DNAME")]


def test_mx_and_srv_targets_get_addresses(zones):
    mx = resolve(zones, Name.from_text("mx.example.org."), 15)
    assert [(rr.owner.to_text(), rr.rrtype) for rr in mx.extra] == [("mail.example.org.", 1)]
    srv = resolve(zones, Name.from_text("srv.example.org."), 33)
    assert [(rr.owner.to_text(), rr.rrtype) for rr in srv.extra] == [("ns1.example.org.", 1)]


def test_sibling_glue_is_optional(zones):
    res = resolve(zones, Name.from_text("sub.example.org."), A)
    assert {rr.owner.to_text() for rr in res.glue} == {"ns1.sub.example.org."}
    assert {rr.owner.to_text() for rr in res.extra} == {"ns.sib.example.org."}
