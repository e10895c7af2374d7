"""The resolver core against in-memory authoritative engines (no sockets, time injected).

The named cases of the resolver issue, and the limits that make every client query end
after a bounded number of upstream queries.
"""

from __future__ import annotations

import pytest
from fakenet import FakeNet, make_resolver, run_query, zone

from dns_suite.resolver.actions import Answer, SendQuery
from dns_suite.wire.message import RR, Message, decode, encode, make_query
from dns_suite.wire.name import Name
from dns_suite.wire.types import Flag

A, NS, CNAME, SOA, TXT, AAAA = 1, 2, 5, 6, 16, 28
NOERROR, SERVFAIL, NXDOMAIN = 0, 2, 3
ROOT_ADDR, TLD_ADDR, EX_ADDR = "198.41.0.4", "10.0.0.1", "10.0.0.2"

ROOT = """
@ NS a.root-servers.net.
a.root-servers.net. A 198.41.0.4
example. NS ns.example.
ns.example. A 10.0.0.1
test. NS ns.test.
ns.test. A 10.0.0.5
"""


def internet(example_text: str = "", *, extra: dict | None = None) -> FakeNet:
    """root -> example. (10.0.0.1) -> whatever ``example_text`` adds; test. at 10.0.0.5."""
    net = FakeNet()
    net.serve(ROOT_ADDR, zone(".", ROOT))
    net.serve(TLD_ADDR, zone("example.", "@ NS ns\nns A 10.0.0.1\n" + example_text))
    net.serve("10.0.0.5", zone("test.", "@ NS ns\nns A 10.0.0.5\nwww A 192.0.2.80\n"))
    for address, zones in (extra or {}).items():
        net.serve(address, *zones)
    return net


def texts(msg: Message) -> list[str]:
    return sorted(f"{rr.owner.to_text().lower()} {rr.rrtype}" for rr in msg.answer)


def test_cname_to_itself_servfail_first_time_and_from_cache():
    net = internet("self CNAME self\n")
    r = make_resolver()
    first = run_query(r, net, "self.example.", A)
    asked = len(net.log)
    second = run_query(r, net, "self.example.", A, now=1001.0)
    assert first.rcode == SERVFAIL and second.rcode == SERVFAIL
    assert len(net.log) == asked, "the loop is found again in the cache"
    for msg in (first, second):
        assert len(msg.answer) == len({(rr.owner.key, rr.rrtype, rr.rdata) for rr in msg.answer}) <= 1


@pytest.mark.parametrize("soa_ttl,minimum", [(60, 3600), (3600, 60)])
def test_nxdomain_cached_for_min_of_soa_ttl_and_minimum(soa_ttl, minimum):
    net = internet(extra={})
    net.serve(TLD_ADDR, zone("example.", "@ NS ns\nns A 10.0.0.1\nneg NS ns.neg\nns.neg A 10.0.0.9\n"))
    net.serve("10.0.0.9", _zone_with_soa("neg.example.", soa_ttl, minimum))
    r = make_resolver(qname_minimisation=False)
    first = run_query(r, net, "nx.neg.example.", A, now=1000.0)
    assert first.rcode == NXDOMAIN and first.authority[0].ttl == 60
    asked = len(net.log)
    at_59 = run_query(r, net, "nx.neg.example.", A, now=1059.0)
    assert at_59.rcode == NXDOMAIN and len(net.log) == asked and at_59.authority[0].ttl == 1
    run_query(r, net, "nx.neg.example.", A, now=1061.0)
    assert len(net.log) == asked + 1, "expired after 60 s: asked again"


def _zone_with_soa(origin: str, soa_ttl: int, minimum: int):
    return zone(origin, "@ NS ns\nns A 10.0.0.9\n", soa=f"{soa_ttl} SOA ns hostmaster 1 3600 600 86400 {minimum}")


def test_tc_with_tcp_refused_servfail_then_asks_again():
    net = internet("tc NS ns.tc\nns.tc A 10.0.0.7\n")

    def always_tc(data: bytes, tcp: bool):
        if tcp:
            return None  # the TCP connection is refused: the I/O layer reports a timeout at once
        q = decode(data)
        return encode(Message(id=q.id, flags=Flag.QR | Flag.AA | Flag.TC, question=q.question))

    net.behave("10.0.0.7", always_tc)
    r = make_resolver(servfail_ttl=5)
    assert run_query(r, net, "www.tc.example.", A).rcode == SERVFAIL
    assert any(tcp for addr, tcp, _ in net.log if addr == "10.0.0.7"), "TCP was tried"
    asked = len(net.log)
    assert run_query(r, net, "www.tc.example.", A, now=1002.0).rcode == SERVFAIL
    assert len(net.log) == asked, "SERVFAIL cached briefly"
    run_query(r, net, "www.tc.example.", A, now=1010.0)
    assert len(net.log) > asked, "a later retry asks again"
    assert not r.cache.lookup(Name.from_text("www.tc.example.").key, A, 1010.0).rrs


def test_glueless_delegation_into_itself_fails_within_bounds():
    # sub.example. NS ns1.sub.example. without glue; the parent refers again for anything below
    net = internet()

    def parent(data: bytes, tcp: bool):
        q = decode(data)
        ns = RR(owner=Name.from_text("sub.example."), rrtype=NS, rrclass=1, ttl=300,
                rdata=Name.from_text("ns1.sub.example.").wire)
        return encode(Message(id=q.id, flags=Flag.QR, question=q.question, authority=(ns,)))

    net.behave(TLD_ADDR, parent)
    r = make_resolver()
    msg = run_query(r, net, "www.sub.example.", A)
    assert msg.rcode == SERVFAIL
    assert len(net.log) <= r.settings.max_queries
    assert len(net.log) <= 20, net.log


def test_out_of_bailiwick_records_are_dropped():
    net = internet("evil NS ns.evil\nns.evil A 10.0.0.66\n")

    def evil(data: bytes, tcp: bool):
        q = decode(data)
        qname = q.question[0].qname
        bad = [RR(owner=Name.from_text("example."), rrtype=NS, rrclass=1, ttl=86400,
                  rdata=Name.from_text("ns.evil.example.").wire),
               RR(owner=Name.from_text("test."), rrtype=NS, rrclass=1, ttl=86400,
                  rdata=Name.from_text("ns.evil.example.").wire)]
        glue = [RR(owner=Name.from_text("www.test."), rrtype=A, rrclass=1, ttl=86400, rdata=bytes([6, 6, 6, 6])),
                RR(owner=Name.from_text("ns.evil.example."), rrtype=A, rrclass=1, ttl=86400,
                   rdata=bytes([10, 0, 0, 66]))]
        answer = [RR(owner=qname, rrtype=A, rrclass=1, ttl=300, rdata=bytes([192, 0, 2, 1]))]
        return encode(Message(id=q.id, flags=Flag.QR | Flag.AA, question=q.question, answer=tuple(answer),
                              authority=tuple(bad), additional=tuple(glue)))

    net.behave("10.0.0.66", evil)
    r = make_resolver()
    assert run_query(r, net, "www.evil.example.", A).rcode == NOERROR
    key = Name.from_text
    assert r.cache.rrset(key("test.").key, NS, 1000.0) is None
    assert r.cache.rrset(key("www.test.").key, A, 1000.0) is None
    ns = r.cache.rrset(key("example.").key, NS, 1000.0)
    assert ns is None or all(rr.rdata == key("ns.example.").wire for rr in ns.rrs)
    before = len(net.log)
    msg = run_query(r, net, "www.test.", A, now=1001.0)
    assert [rr.rdata for rr in msg.answer] == [bytes([192, 0, 2, 80])]
    assert all(addr != "10.0.0.66" for addr, _, _ in net.log[before:]), "asked the real servers"


@pytest.mark.parametrize("bad", ["garbage", "wrong_id", "wrong_question", "huge_referral", "not_a_reply"])
def test_bad_upstream_replies_do_not_crash_or_pollute(bad):
    net = internet("bad NS ns.bad\nns.bad A 10.0.0.8\nbad NS ns2.bad\nns2.bad A 10.0.0.9\n")
    net.serve("10.0.0.9", zone("bad.example.", "@ NS ns\n@ NS ns2\nns A 10.0.0.8\nns2 A 10.0.0.9\nwww A 192.0.2.9\n"))

    def broken(data: bytes, tcp: bool):
        q = decode(data)
        if bad == "garbage":
            return data[:2] + b"\x80\x00\xff\xff"
        if bad == "wrong_id":
            return encode(Message(id=(q.id + 1) & 0xFFFF, flags=Flag.QR | Flag.AA, question=q.question,
                                  answer=(RR(owner=q.question[0].qname, rrtype=A, rrclass=1, ttl=99,
                                             rdata=b"\6\6\6\6"),)))
        if bad == "wrong_question":
            other = make_query(Name.from_text("www.test."), A).question
            return encode(Message(id=q.id, flags=Flag.QR | Flag.AA, question=other,
                                  answer=(RR(owner=other[0].qname, rrtype=A, rrclass=1, ttl=99, rdata=b"\6\6\6\6"),)))
        if bad == "not_a_reply":
            return data
        ns = tuple(RR(owner=Name.from_text("deep.bad.example."), rrtype=NS, rrclass=1, ttl=99,
                      rdata=Name.from_text(f"ns{i}.elsewhere.").wire) for i in range(400))
        return encode(Message(id=q.id, flags=Flag.QR, question=q.question, authority=ns))

    net.behave("10.0.0.8", broken)
    r = make_resolver(timeout=0.5)
    msg = run_query(r, net, "www.bad.example.", A)
    assert msg.rcode == NOERROR and [rr.rdata for rr in msg.answer] == [bytes([192, 0, 2, 9])]
    assert r.cache.rrset(Name.from_text("www.test.").key, A, 1000.0) is None
    for entry in r.cache.entries.values():
        for rr in getattr(entry, "rrs", ()):
            assert rr.rdata != b"\6\6\6\6"


@pytest.mark.parametrize("query", [b"", b"\x00", b"\x12\x34" + b"\x01\x00" + b"\x00\x01" + b"\x00" * 6 + b"\x05abc",
                                   b"\x12\x34\x01\x00\x00\x02\x00\x00\x00\x00\x00\x00"])
def test_malformed_client_queries(query):
    r = make_resolver()
    actions = r.submit(query, "c", 1000.0)
    assert all(isinstance(a, Answer) for a in actions)
    if len(query) >= 12:
        reply = actions[0].wire
        assert reply[:2] == query[:2] and reply[3] & 0xF == 1  # FORMERR
    else:
        assert actions == []


def test_ttl_counts_down_and_identical_questions_share_one_resolution():
    net = internet("www A 192.0.2.1\n")
    r = make_resolver()
    q = encode(make_query(Name.from_text("www.example."), A, ident=1, rd=True))
    first = r.submit(q, "one", 1000.0)
    assert r.submit(q, "two", 1000.0) == []  # joins the resolution in flight
    actions, answers = list(first), []
    while actions:
        action = actions.pop(0)
        if isinstance(action, Answer):
            answers.append(action)
        else:
            actions += r.on_response(action.token, net.reply(action), 1000.0, source=(action.address, 53))
    assert sorted(a.client for a in answers) == ["one", "two"]
    later = run_query(r, net, "www.example.", A, now=1100.0)
    assert later.answer[0].ttl == 3600 - 100


def test_min_and_max_ttl_caps():
    net = internet("short 5 A 192.0.2.1\nlong 999999 A 192.0.2.2\n")
    r = make_resolver(min_ttl=60, max_ttl=600)
    assert run_query(r, net, "short.example.", A).answer[0].ttl == 60
    assert run_query(r, net, "long.example.", A).answer[0].ttl == 600


def test_rfc8020_nxdomain_covers_names_below():
    net = internet()
    r = make_resolver(qname_minimisation=False)
    assert run_query(r, net, "gone.example.", A).rcode == NXDOMAIN
    asked = len(net.log)
    assert run_query(r, net, "deeper.gone.example.", AAAA).rcode == NXDOMAIN
    assert len(net.log) == asked


def test_serve_stale_when_every_server_fails():
    net = internet("www 10 A 192.0.2.1\n")
    r = make_resolver(serve_stale=True, stale_answer_ttl=30)
    assert run_query(r, net, "www.example.", A).rcode == NOERROR
    net.behave(TLD_ADDR, lambda data, tcp: None)  # example.'s server goes silent
    stale = run_query(r, net, "www.example.", A, now=1100.0)
    assert stale.rcode == NOERROR and stale.answer[0].ttl == 30
    assert stale.edns is not None and stale.edns.options[0].code == 15  # EDE: stale answer
    fresh = make_resolver(serve_stale=False)
    run_query(fresh, internet("www 10 A 192.0.2.1\n"), "www.example.", A)
    assert run_query(fresh, net, "www.example.", A, now=1100.0).rcode == SERVFAIL


def test_0x20_randomises_case_and_requires_it_back():
    net = internet("www A 192.0.2.1\n")
    r = make_resolver(use_0x20=True, seed=7)
    assert run_query(r, net, "www.example.", A).rcode == NOERROR
    sent = [text for _, _, text in net.log]
    assert any(t != t.lower() for t in sent)
    # a reply whose question lost the case is not taken (the query counts as failed)
    q = encode(make_query(Name.from_text("other.example."), A, ident=9, rd=True))
    actions = r.submit(q, "c", 1000.0)
    send = next(a for a in actions if isinstance(a, SendQuery))
    query = decode(send.wire)
    lowered = Message(id=query.id, flags=Flag.QR | Flag.AA, question=make_query(
        Name.from_text(query.question[0].qname.to_text().lower()), A).question)
    if query.question[0].qname.wire != query.question[0].qname.key:
        after = r.on_response(send.token, encode(lowered), 1000.0, source=(send.address, 53))
        assert send.token not in r.pending, "the mismatched reply ends that query as failed"
        assert all(isinstance(a, SendQuery) for a in after), "the resolution goes on (asks again)"


def test_query_budget_bounds_a_referral_chain():
    # every level refers one label further down, forever (a resolver must stop)
    def deeper(data: bytes, tcp: bool):
        q = decode(data)
        qname = q.question[0].qname
        labels = qname.labels
        cut = Name.from_labels(labels[-(len(labels)):]) if labels else qname
        ns = RR(owner=cut, rrtype=NS, rrclass=1, ttl=300, rdata=Name.from_text("ns.loop.example.").wire)
        glue = RR(owner=Name.from_text("ns.loop.example."), rrtype=A, rrclass=1, ttl=300, rdata=bytes([10, 0, 0, 3]))
        return encode(Message(id=q.id, flags=Flag.QR, question=q.question, authority=(ns,), additional=(glue,)))

    net = internet("loop NS ns.loop\nns.loop A 10.0.0.3\n")
    net.behave("10.0.0.3", deeper)
    r = make_resolver()
    msg = run_query(r, net, "a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.loop.example.", A)
    assert msg.rcode == SERVFAIL
    assert len(net.log) <= r.settings.max_queries


def test_cache_is_bounded_in_octets():
    net = internet("".join(f"h{i} TXT \"{'x' * 200}\"\n" for i in range(200)))
    r = make_resolver(cache_bytes=20_000, qname_minimisation=False)
    for i in range(200):
        run_query(r, net, f"h{i}.example.", TXT)
    stats = r.cache.stats()
    assert stats["bytes"] <= 20_000 and stats["evictions"] > 0


def test_rendered_replies_count_down_like_the_cache():
    net = internet("www 100 A 192.0.2.1\nmx 100 MX 10 www\n")
    r = make_resolver()
    run_query(r, net, "www.example.", A)
    assert not r.answers.table, "a question seen once is not kept rendered"
    run_query(r, net, "www.example.", A)
    asked = len(net.log)
    hot = run_query(r, net, "www.example.", A, now=1030.5)
    assert r.answers.hits == 1 and len(net.log) == asked
    r.answers.clear()
    slow = run_query(r, net, "www.example.", A, now=1030.5)
    assert hot.answer == slow.answer and hot.answer[0].ttl == 69  # 100 s TTL, 30.5 s later
    run_query(r, net, "www.example.", A, now=1040.0)
    run_query(r, net, "www.example.", A, now=1041.0)
    assert run_query(r, net, "www.example.", A, now=1099.0).answer[0].ttl in (0, 1)  # whole seconds, rounded
    assert run_query(r, net, "www.example.", A, now=1100.5).answer[0].ttl == 100, "expired: resolved again"
    assert len(net.log) > asked


def test_reconfigure_keeps_the_cache_and_drops_rendered_replies():
    net = internet("www A 192.0.2.1\n")
    r = make_resolver()
    run_query(r, net, "www.example.", A)
    asked = len(net.log)
    r.reconfigure(r.settings.__class__(query_private=True, max_ttl=60), r.iteration.hints)
    assert not r.answers.table
    assert run_query(r, net, "www.example.", A, now=1001.0).rcode == NOERROR
    assert len(net.log) == asked


def test_in_flight_limit_answers_servfail():
    net = internet("www A 192.0.2.1\n")
    r = make_resolver(max_inflight=1)
    first = r.submit(encode(make_query(Name.from_text("www.example."), A, ident=1, rd=True)), "a", 1000.0)
    assert first and isinstance(first[0], SendQuery)
    busy = r.submit(encode(make_query(Name.from_text("other.example."), A, ident=2, rd=True)), "b", 1000.0)
    assert isinstance(busy[0], Answer) and decode(busy[0].wire).rcode == SERVFAIL
    assert net  # the first resolution is still pending: no reply was fed


@pytest.mark.parametrize("qname,qtype,rcode,answers", [
    ("localhost.", A, NOERROR, 1), ("www.localhost.", AAAA, NOERROR, 1), ("1.0.0.127.in-addr.arpa.", 12, NOERROR, 1),
    ("4.3.2.10.in-addr.arpa.", 12, NXDOMAIN, 0), ("1.1.168.192.in-addr.arpa.", 12, NXDOMAIN, 0),
    ("anything.invalid.", A, NXDOMAIN, 0),
])
def test_local_zones_never_leave_the_host(qname, qtype, rcode, answers):
    net = internet()
    r = make_resolver()
    msg = run_query(r, net, qname, qtype)
    assert (msg.rcode, len(msg.answer), bool(msg.flags & Flag.AA)) == (rcode, answers, True)
    assert net.log == []
    off = make_resolver(local_zones=False)
    run_query(off, net, qname, qtype)
    assert net.log, "with local_zones off the name is resolved upstream"


def test_prefetch_refreshes_a_popular_answer_before_it_expires():
    net = internet("www 100 A 192.0.2.1\n")
    r = make_resolver()
    run_query(r, net, "www.example.", A)
    for t in (1010.0, 1020.0, 1030.0, 1095.0):
        run_query(r, net, "www.example.", A, now=t)
    asked = len(net.log)
    actions = r.prefetch(1095.0)
    assert [a for a in actions if isinstance(a, SendQuery)], "the popular entry is refreshed"
    while actions:
        action = actions.pop(0)
        actions += r.on_response(action.token, net.reply(action), 1095.0, source=(action.address, 53))
    assert len(net.log) > asked
    assert r.prefetch(1096.0) == [], "once"
    fresh = run_query(r, net, "www.example.", A, now=1101.0)
    assert fresh.answer[0].ttl >= 90 and len(net.log) == asked + 1, "served from the refreshed cache"


def test_glue_and_referral_ns_are_never_answers():
    # the parent's glue says 10.0.0.2; the child zone says .2 and .3 (RFC 2181 §5.4.1)
    net = internet("child NS ns.child\nns.child A 10.0.0.2\n")
    net.serve(EX_ADDR, zone("child.example.", "@ NS ns\nns A 10.0.0.2\nns A 10.0.0.3\nwww A 192.0.2.5\n"))
    r = make_resolver()
    assert run_query(r, net, "www.child.example.", A).rcode == NOERROR
    msg = run_query(r, net, "ns.child.example.", A, now=1001.0)
    assert sorted(rr.rdata for rr in msg.answer) == [bytes([10, 0, 0, 2]), bytes([10, 0, 0, 3])]
    ns = run_query(r, net, "child.example.", NS, now=1002.0)
    assert ns.answer and bool(ns.flags & Flag.RA)


def test_forward_zone_asks_the_forwarder_with_rd_and_stub_zone_without():
    from dns_suite.resolver.settings import ServerSet
    net = internet("www A 192.0.2.1\n")
    seen = []

    def forwarder(data: bytes, tcp: bool):
        q = decode(data)
        seen.append(bool(q.flags & Flag.RD))
        answer = RR(owner=q.question[0].qname, rrtype=A, rrclass=1, ttl=60, rdata=bytes([198, 51, 100, 7]))
        return encode(Message(id=q.id, flags=Flag.QR | Flag.RA | (q.flags & Flag.RD), question=q.question,
                              answer=(answer,)))

    net.behave("10.9.9.9", forwarder)
    forwards = (ServerSet(zone=Name.from_text("corp."), servers=(("10.9.9.9", 53),), recursive=True),
                ServerSet(zone=Name.from_text("example."), servers=((TLD_ADDR, 53),), recursive=False))
    r = make_resolver(forwards=forwards)
    msg = run_query(r, net, "host.corp.", A)
    assert [rr.rdata for rr in msg.answer] == [bytes([198, 51, 100, 7])] and seen == [True]
    assert all(addr == "10.9.9.9" for addr, _, _ in net.log), "nothing else was asked"
    before = len(net.log)
    assert run_query(r, net, "www.example.", A).rcode == NOERROR
    assert [addr for addr, _, _ in net.log[before:]] == [TLD_ADDR], "the stub's server directly, not the root"


def test_one_silent_moment_does_not_make_a_server_lame():
    net = internet("flaky NS ns.flaky\nns.flaky A 10.0.0.44\n")
    net.serve("10.0.0.44", zone("flaky.example.", "@ NS ns\nns A 10.0.0.44\nwww A 192.0.2.44\nwww2 A 192.0.2.45\n"))
    answer = net.servers["10.0.0.44"]
    dropped = []

    def drop_first(data: bytes, tcp: bool):
        if not dropped:
            dropped.append(data)
            return None
        return answer(data, tcp)

    net.behave("10.0.0.44", drop_first)
    r = make_resolver(qname_minimisation=False)
    assert run_query(r, net, "www.flaky.example.", A).rcode == NOERROR, "asked again after one timeout"
    assert run_query(r, net, "www2.flaky.example.", A, now=1001.0).rcode == NOERROR


def test_refused_marks_lame_but_servfail_does_not():
    net = internet("two NS ns1.two\ntwo NS ns2.two\nns1.two A 10.0.0.51\nns2.two A 10.0.0.52\n")
    net.serve("10.0.0.52", zone("two.example.", "@ NS ns1\n@ NS ns2\nns1 A 10.0.0.51\nns2 A 10.0.0.52\nwww 60 A 192.0.2.52\n"))
    calls = []

    def refuse(data: bytes, tcp: bool):
        q = decode(data)
        calls.append(q.question[0].qname.to_text())
        return encode(Message(id=q.id, flags=Flag.QR, rcode=5, question=q.question))

    net.behave("10.0.0.51", refuse)
    r = make_resolver(qname_minimisation=False)
    for i in range(6):
        assert run_query(r, net, "www.two.example.", A, now=1000.0 + i * 100).rcode == NOERROR
    assert len(calls) <= 1, "REFUSED: avoided for lame_ttl"


def test_no_edns_after_formerr_is_not_forever():
    net = internet("old NS ns.old\nns.old A 10.0.0.61\n")
    net.serve("10.0.0.61", zone("old.example.", "@ NS ns\nns A 10.0.0.61\nwww A 192.0.2.61\n"))
    inner = net.servers["10.0.0.61"]
    edns_seen = []

    def no_edns_once(data: bytes, tcp: bool):
        q = decode(data)
        edns_seen.append(q.edns is not None)
        if q.edns is not None and len(edns_seen) == 1:
            return encode(Message(id=q.id, flags=Flag.QR, rcode=1, question=q.question))
        return inner(data, tcp)

    net.behave("10.0.0.61", no_edns_once)
    r = make_resolver(qname_minimisation=False, lame_ttl=900, dnssec=False)
    run_query(r, net, "www.old.example.", A)
    assert edns_seen[:2] == [True, False]
    run_query(r, net, "x.old.example.", A, now=2000.0)
    assert edns_seen[-1] is True, "EDNS tried again after lame_ttl"


def test_full_in_flight_table_still_answers_from_the_cache():
    net = internet("www A 192.0.2.1\n")
    r = make_resolver(max_inflight=1)
    run_query(r, net, "www.example.", A)
    r.submit(encode(make_query(Name.from_text("slow.example."), A, ident=1, rd=True)), "a", 1000.0)
    assert run_query(r, net, "www.example.", A, edns=False).rcode == NOERROR, "a cache hit needs no room"


def test_ttl_with_the_high_bit_counts_as_zero():
    net = internet("big NS ns.big\nns.big A 10.0.0.71\n")

    def huge_ttl(data: bytes, tcp: bool):
        q = decode(data)
        rr = RR(owner=q.question[0].qname, rrtype=A, rrclass=1, ttl=0xFFFFFFFF, rdata=bytes([192, 0, 2, 1]))
        return encode(Message(id=q.id, flags=Flag.QR | Flag.AA, question=q.question, answer=(rr,)))

    net.behave("10.0.0.71", huge_ttl)
    r = make_resolver(qname_minimisation=False)
    assert run_query(r, net, "big.example.", A).answer[0].ttl == 0
