"""Where the DNS-01 TXT goes (dns_suite.acme.discover): the CNAME walk and the zone search driven
over tables of resolver replies, no sockets."""

from __future__ import annotations

from struct import pack

import pytest

from dns_suite.acme.discover import (MAX_LINKS, Ask, ChainEnd, ChainWalk, DiscoveryError, ZoneFound,
                                     ZoneSearch, addresses, challenge_name, ns_names)
from dns_suite.wire.message import RR, Message, Question
from dns_suite.wire.name import Name
from dns_suite.wire.types import Flag, Rcode, RRType

NOERROR, NXDOMAIN, SERVFAIL, REFUSED = Rcode.NOERROR, Rcode.NXDOMAIN, Rcode.SERVFAIL, Rcode.REFUSED
CNAME, SOA, NS, A, AAAA, TXT, DNAME = (RRType.CNAME, RRType.SOA, RRType.NS, RRType.A, RRType.AAAA,
                                       RRType.TXT, RRType.DNAME)


def n(text: str) -> Name:
    return Name.from_text(text)


def cname(owner: str, target: str) -> RR:
    return RR(owner=n(owner), rrtype=CNAME, rrclass=1, ttl=60, rdata=n(target).wire)


def dname(owner: str, target: str) -> RR:
    return RR(owner=n(owner), rrtype=DNAME, rrclass=1, ttl=60, rdata=n(target).wire)


def soa(owner: str, mname: str = "") -> RR:
    mname = mname or "ns1." + owner.lstrip(".")
    rdata = n(mname).wire + n("hostmaster." + owner.lstrip(".")).wire + pack("!5I", 7, 3600, 600, 86400, 60)
    return RR(owner=n(owner), rrtype=SOA, rrclass=1, ttl=60, rdata=rdata)


def rr(owner: str, rrtype: int, rdata: bytes) -> RR:
    return RR(owner=n(owner), rrtype=rrtype, rrclass=1, ttl=60, rdata=rdata)


def reply(rcode=NOERROR, answer=(), authority=()) -> Message:
    return Message(flags=Flag.QR | Flag.RA, rcode=rcode, answer=tuple(answer), authority=tuple(authority))


NX = reply(NXDOMAIN)


def drive(state, replies: dict[tuple[str, int], Message]):
    """Run a machine over ``replies`` ((name, type) -> reply; NXDOMAIN without SOA otherwise);
    returns the result and the questions asked."""
    asked = []
    for _ in range(200):
        ask = state.ask
        asked.append((ask.name.to_text(), ask.rrtype))
        state = state.step(replies.get((ask.name.to_text().lower(), ask.rrtype), NX))
        if not isinstance(state, (ChainWalk, ZoneSearch)):
            return state, asked
    raise AssertionError("machine did not stop")


# --------------------------------------------------------------------------- challenge names

@pytest.mark.parametrize(("identifier", "expect"), [
    ("example.test", "_acme-challenge.example.test."),
    ("*.example.test", "_acme-challenge.example.test."),
    ("www.example.test.", "_acme-challenge.www.example.test."),
    ("WWW.Example.Test", "_acme-challenge.WWW.Example.Test."),
])
def test_challenge_name(identifier, expect):
    assert challenge_name(identifier).to_text() == expect


@pytest.mark.parametrize("identifier", ["", "*.", ".", "a..b", "x" * 64 + ".test"])
def test_challenge_name_invalid(identifier):
    with pytest.raises(DiscoveryError):
        challenge_name(identifier)


# --------------------------------------------------------------------------- the CNAME walk

S = "_acme-challenge.www.example.test."
T = "_acme-challenge.www.acme.example.net."


def _chain(names: list[str]) -> dict:
    """Replies for a chain names[0] -> names[1] -> ... (each asked type CNAME)."""
    return {(a.lower(), CNAME): reply(answer=[cname(a, b)]) for a, b in zip(names, names[1:])}


CHAIN_CASES = [
    # (id, replies, expected end or error fragment, expected links)
    ("no-cname-nxdomain", {}, S, ()),
    ("no-cname-nodata", {(S.lower(), CNAME): reply(authority=[soa("example.test.")])}, S, ()),
    ("txt-already-there", {(S.lower(), CNAME): reply(authority=[soa("example.test.")])}, S, ()),
    ("one-link-acme-dns", _chain([S, T]), T, (S,)),
    ("two-links", _chain([S, "x.example.org.", T]), T, (S, "x.example.org.")),
    ("owner-case-differs", {(S.lower(), CNAME): reply(answer=[cname(S.upper(), T)])}, T, (S,)),
    ("other-owner-ignored", {(S.lower(), CNAME): reply(answer=[cname("other.example.test.", T)])}, S, ()),
    ("dname-synthesised", {(S.lower(), CNAME): reply(answer=[dname("www.example.test.", "www.acme.example.net."),
                                                              cname(S, T)])}, T, (S,)),
    ("self-loop", _chain([S, S]), "CNAME loop", ()),
    ("two-name-loop", _chain([S, T, S]), "CNAME loop", ()),
    ("loop-later", _chain([S, "a.test.", "b.test.", "a.test."]), "CNAME loop", ()),
    ("max-links", _chain([S] + [f"l{i}.test." for i in range(MAX_LINKS)]), f"l{MAX_LINKS - 1}.test.", None),
    ("too-long", _chain([S] + [f"l{i}.test." for i in range(MAX_LINKS + 1)]), "longer than", ()),
    ("servfail", {(S.lower(), CNAME): reply(SERVFAIL)}, "SERVFAIL", ()),
    ("refused-later", {**_chain([S, T]), (T.lower(), CNAME): reply(REFUSED)}, "REFUSED", ()),
]


@pytest.mark.parametrize(("replies", "expect", "links"), [c[1:] for c in CHAIN_CASES],
                         ids=[c[0] for c in CHAIN_CASES])
def test_chain_walk(replies, expect, links):
    walk = ChainWalk.begin(n(S))
    assert walk.ask == Ask(name=n(S), rrtype=CNAME)
    if expect.endswith("."):
        end, asked = drive(walk, replies)
        assert isinstance(end, ChainEnd)
        assert end.start == n(S) and end.target == n(expect)
        if links is not None:
            assert end.links == tuple(n(x) for x in links)
        assert all(t == CNAME for _, t in asked) and len(asked) == len(end.links) + 1
    else:
        with pytest.raises(DiscoveryError, match=expect):
            drive(walk, replies)


# --------------------------------------------------------------------------- the zone search

APEX = "_acme-challenge.example.test."
ZONE_CASES = [
    # (id, name, replies, expected zone or error fragment, expected probes)
    ("nxdomain-soa-in-authority", S,
     {(S.lower(), SOA): reply(NXDOMAIN, authority=[soa("example.test.")])}, "example.test.", [S]),
    ("nodata-soa-in-authority", APEX,
     {(APEX, SOA): reply(authority=[soa("example.test.")])}, "example.test.", [APEX]),
    ("challenge-is-its-own-zone", APEX,
     {(APEX, SOA): reply(answer=[soa(APEX, "ns.acme-dns.test.")])}, APEX, [APEX]),
    ("positive-at-parent-after-bare-negative", S,
     {(S.lower(), SOA): reply(NXDOMAIN), ("www.example.test.", SOA): reply(NXDOMAIN),
      ("example.test.", SOA): reply(answer=[soa("example.test.")])}, "example.test.",
     [S, "www.example.test.", "example.test."]),
    # a CNAME at the probe: the SOA of its target (a zone apex) must not be taken
    ("cname-to-an-apex", APEX,
     {(APEX, SOA): reply(answer=[cname(APEX, "acme.example.net."), soa("acme.example.net.")]),
      ("example.test.", SOA): reply(answer=[soa("example.test.")])}, "example.test.", [APEX, "example.test."]),
    # ... nor the SOA of the target's zone in a negative answer
    ("cname-to-nxdomain", APEX,
     {(APEX, SOA): reply(NXDOMAIN, answer=[cname(APEX, T)], authority=[soa("acme.example.net.")]),
      ("example.test.", SOA): reply(answer=[soa("example.test.")])}, "example.test.", [APEX, "example.test."]),
    ("cname-to-nodata", APEX,
     {(APEX, SOA): reply(answer=[cname(APEX, T)], authority=[soa("acme.example.net.")]),
      ("example.test.", SOA): reply(answer=[soa("example.test.")])}, "example.test.", [APEX, "example.test."]),
    ("soa-of-another-owner-in-answer", APEX,
     {(APEX, SOA): reply(answer=[soa("example.test.")]),
      ("example.test.", SOA): reply(answer=[soa("example.test.")])}, "example.test.", [APEX, "example.test."]),
    ("authority-soa-not-above-probe", APEX,
     {(APEX, SOA): reply(NXDOMAIN, authority=[soa("example.net.")]),
      ("example.test.", SOA): reply(answer=[soa("example.test.")])}, "example.test.", [APEX, "example.test."]),
    ("answer-and-authority-soa", APEX,  # a positive answer of another type: not a negative answer
     {(APEX, SOA): reply(answer=[rr(APEX, TXT, b"\x01x")], authority=[soa("example.test.")]),
      ("example.test.", SOA): reply(answer=[soa("example.test.")])}, "example.test.", [APEX, "example.test."]),
    ("case-insensitive", APEX,
     {(APEX, SOA): reply(NXDOMAIN, authority=[soa("EXAMPLE.test.")])}, "example.test.", [APEX]),
    ("root-zone", "example.", {(".", SOA): reply(answer=[soa(".", "a.root.")])}, ".", ["example.", "."]),
    ("no-zone", APEX, {}, "no zone found", None),
    ("servfail", APEX, {(APEX, SOA): reply(SERVFAIL)}, "SERVFAIL", None),
    ("refused-at-parent", APEX, {("example.test.", SOA): reply(REFUSED)}, "REFUSED", None),
]


@pytest.mark.parametrize(("name", "replies", "expect", "probes"), [c[1:] for c in ZONE_CASES],
                         ids=[c[0] for c in ZONE_CASES])
def test_zone_search(name, replies, expect, probes):
    search = ZoneSearch.begin(n(name))
    if expect.endswith("."):
        found, asked = drive(search, replies)
        assert isinstance(found, ZoneFound)
        assert found.zone == n(expect) and found.name == n(name)
        assert found.soa.owner == n(expect) and found.soa.rrtype == SOA
        assert [a for a, _ in asked] == [n(p).to_text() for p in probes]
        assert all(t == SOA for _, t in asked)
    else:
        with pytest.raises(DiscoveryError, match=expect):
            drive(search, replies)


def test_zone_search_mname():
    replies = {(APEX, SOA): reply(NXDOMAIN, authority=[soa("example.test.", "primary.example.net.")])}
    found, _ = drive(ZoneSearch.begin(n(APEX)), replies)
    assert found.mname == n("primary.example.net.")


def test_zone_search_bounded_by_labels():
    name = ".".join(["l"] * 100) + "."
    with pytest.raises(DiscoveryError, match="no zone found"):
        _, asked = drive(ZoneSearch.begin(n(name)), {})
    search, count = ZoneSearch.begin(n(name)), 0
    while isinstance(search, ZoneSearch):
        count += 1
        try:
            search = search.step(NX)
        except DiscoveryError:
            break
    assert count == 101  # every label, then the root


# --------------------------------------------------------------------------- NS set, addresses

Z = "example.test."


@pytest.mark.parametrize(("msg", "expect"), [
    (reply(answer=[rr(Z, NS, n("ns1.example.test.").wire), rr(Z, NS, n("ns2.example.net.").wire)]),
     ["ns1.example.test.", "ns2.example.net."]),
    (reply(answer=[rr(Z, NS, n("ns1.example.test.").wire), rr(Z, NS, n("NS1.example.test.").wire),
                   rr("other.test.", NS, n("x.test.").wire)]), ["ns1.example.test."]),
    (reply(authority=[soa(Z)]), "no NS records"),
    (reply(SERVFAIL), "SERVFAIL"),
])
def test_ns_names(msg, expect):
    if isinstance(expect, list):
        assert [x.to_text() for x in ns_names(msg, n(Z))] == expect
    else:
        with pytest.raises(DiscoveryError, match=expect):
            ns_names(msg, n(Z))


H = "ns1.example.test."


@pytest.mark.parametrize(("msg", "rrtype", "expect"), [
    (reply(answer=[rr(H, A, bytes([127, 0, 0, 2])), rr(H, A, bytes([192, 0, 2, 1]))]), A,
     ("127.0.0.2", "192.0.2.1")),
    (reply(answer=[rr(H, AAAA, bytes.fromhex("20010db8" + "0" * 23 + "1"))]), AAAA, ("2001:db8::1",)),
    (reply(answer=[cname(H, "host.example.net."), rr("host.example.net.", A, bytes([192, 0, 2, 7]))]), A,
     ("192.0.2.7",)),
    (reply(answer=[rr("other.test.", A, bytes([192, 0, 2, 9])), rr(H, A, bytes([192, 0, 2, 8]))]), A,
     ("192.0.2.8",)),
    (reply(answer=[rr(H, A, b"\x01\x02")]), A, ()),  # malformed rdata is skipped
    (reply(authority=[soa(Z)]), AAAA, ()),
    (reply(NXDOMAIN, authority=[soa(Z)]), A, ()),
    (reply(answer=[cname(H, "a.test."), cname("a.test.", H)]), A, "CNAME loop"),
    (reply(REFUSED), A, "REFUSED"),
])
def test_addresses(msg, rrtype, expect):
    if isinstance(expect, tuple):
        assert addresses(msg, n(H), rrtype) == expect
    else:
        with pytest.raises(DiscoveryError, match=expect):
            addresses(msg, n(H), rrtype)


def test_replies_need_no_question():
    """The machines read the sections only: the caller's client matched the question."""
    msg = Message(flags=Flag.QR, question=(Question(qname=n("unrelated.test."), qtype=A),),
                  rcode=NXDOMAIN, authority=(soa(Z),))
    assert ZoneSearch.begin(n(APEX)).step(msg).zone == n(Z)
