"""RD=0 queries (no recursion desired) are answered from the cache only, never upstream.

Ours answers what the cache holds (an answer, a CNAME chain, a cached NXDOMAIN or NODATA) and
REFUSED when answering would need a server, as Unbound does for RD=0: its default
``access-control: allow`` refuses every RD=0 query (checked with Unbound 1.17.1, whose
``allow_snoop`` instead answers hits and refers misses to a cached delegation).
"""

from __future__ import annotations

import pytest
from fakenet import FakeNet, make_resolver, run_query, zone

from dns_suite.resolver.actions import Answer, SendQuery
from dns_suite.wire.edns import Edns
from dns_suite.wire.message import decode, encode, make_query
from dns_suite.wire.name import Name
from dns_suite.wire.types import Flag

A, CNAME, MX = 1, 5, 15
NOERROR, NXDOMAIN, REFUSED = 0, 3, 5
NOW = 1000.0

ROOT = """
@ NS a.root-servers.net.
a.root-servers.net. A 198.41.0.4
test. NS ns.test.
ns.test. A 10.0.0.5
"""
TEST = """@ NS ns
ns A 10.0.0.5
www A 192.0.2.80
alias CNAME www
"""


def net() -> FakeNet:
    n = FakeNet()
    n.serve("198.41.0.4", zone(".", ROOT))
    n.serve("10.0.0.5", zone("test.", TEST))
    return n


def norec(resolver, qname: str, qtype: int, now: float = NOW):
    """An RD=0 query: (the reply, the upstream queries the resolver wanted to send)."""
    wire = encode(make_query(Name.from_text(qname), qtype, ident=77, rd=False, edns=Edns(payload=1232)))
    actions = resolver.submit(wire, "client", now)
    sent = [a for a in actions if isinstance(a, SendQuery)]
    answers = [a for a in actions if isinstance(a, Answer)]
    assert len(answers) == 1, actions
    return decode(answers[0].wire), sent


# (asked before with RD=1, the RD=0 question, its rcode, the answer's (owner, type))
CASES = [
    ([], "www.test.", A, REFUSED, []),  # cold cache: no priming, no query
    ([("www.test.", A)], "www.test.", A, NOERROR, [("www.test.", A)]),  # a hit
    ([("www.test.", A)], "other.test.", A, REFUSED, []),  # a miss under a cached delegation
    ([("www.test.", A)], "www.test.", MX, REFUSED, []),  # the name is cached, not the type
    ([("alias.test.", A)], "alias.test.", A, NOERROR, [("alias.test.", CNAME), ("www.test.", A)]),
    ([("nx.test.", A)], "nx.test.", A, NXDOMAIN, []),  # a cached NXDOMAIN
    ([("nx.test.", A)], "below.nx.test.", A, NXDOMAIN, []),  # RFC 8020 from the cache
    ([("www.test.", MX)], "www.test.", MX, NOERROR, []),  # a cached NODATA
    ([], "localhost.", A, NOERROR, [("localhost.", A)]),  # local zones still answer
]


@pytest.mark.parametrize("before, qname, qtype, rcode, answer", CASES,
                         ids=[f"{c[1]}{c[2]}-after-{len(c[0])}" for c in CASES])
def test_rd0_is_answered_from_the_cache_only(before, qname, qtype, rcode, answer):
    n, r = net(), make_resolver()
    for name, rrtype in before:
        run_query(r, n, name, rrtype)
    asked = len(n.log)
    reply, sent = norec(r, qname, qtype, now=NOW + 1)
    assert sent == [] and len(n.log) == asked, "RD=0 must not make the resolver ask anyone"
    assert reply.rcode == rcode and reply.id == 77
    assert not reply.flags & Flag.RD and reply.flags & Flag.RA
    assert [(rr.owner.to_text().lower(), rr.rrtype) for rr in reply.answer] == answer


def test_rd0_does_not_join_a_resolution_in_flight():
    n, r = net(), make_resolver()
    rd1 = encode(make_query(Name.from_text("www.test."), A, ident=1, rd=True))
    first = r.submit(rd1, "c1", NOW)
    assert any(isinstance(a, SendQuery) for a in first)
    reply, sent = norec(r, "www.test.", A)
    assert reply.rcode == REFUSED and sent == []
