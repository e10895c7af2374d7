"""Zones for the engine tests, built from text in memory (no sockets)."""

from __future__ import annotations

import pytest

from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.wire.name import Name
from dns_suite.zone.model import ZoneBuilder
from dns_suite.zone.reader import ZoneReader

HEAD = "$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.1\n"

ZONES = {
    # the wildcard case
    "example.org.": HEAD + "*.d A 192.0.2.53\nr.c.d A 192.0.2.52\n* A 192.0.2.99\nreal.deep A 192.0.2.54\n"
    "a CNAME b.example.\nmx MX 10 mail\nmail A 192.0.2.25\nsrv SRV 1 1 5060 ns1\n"
    "foo NS ns.foo\nns.foo A 192.0.2.7\nbar.foo NS ns.bar.foo\nns.bar.foo A 192.0.2.8\n"
    "sub NS ns1.sub\nsub NS ns.sib\nns1.sub A 192.0.2.9\nns1.sub AAAA 2001:db8::9\n"
    "sib NS ns.sib\nns.sib A 192.0.2.10\nsub DS 1 8 2 " + "ab" * 32 + "\n"
    "loop1 CNAME loop2\nloop2 CNAME loop1\n*.w CNAME real.deep\n",
    # only f.*.e and t.e under e
    "ent.test.": HEAD + "f.*.e A 192.0.2.1\nt.e A 192.0.2.2\n",
    # DNAME case: c.d -> f.d.campus.test.
    "campus.test.": HEAD + "c.d DNAME f.d.campus.test.\nfoo.f.d CNAME done\ndone A 192.0.2.3\n"
    "x DNAME " + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 50 + ".\n",
}


def build(origin: str, text: str):
    apex = Name.from_text(origin)
    builder = ZoneBuilder(apex)
    for rec in ZoneReader(apex, file=origin).records(text.splitlines()):
        builder.add(*rec)
    zone, problems = builder.build()
    assert zone is not None, [str(p) for p in problems]
    return zone


@pytest.fixture(scope="session")
def zones() -> ZoneSet:
    return ZoneSet([build(o, t) for o, t in ZONES.items()])
