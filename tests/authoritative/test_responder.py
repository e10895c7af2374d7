"""Query octets -> reply octets: bad queries, EDNS, CH, sizes, and the pre-rendered table."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from dns_suite.authoritative.prerender import Prerendered
from dns_suite.authoritative.responder import Options, respond

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wire"))
import malformed_corpus  # noqa: E402

OPTS = Options()


def ask(zones, qname, qtype="A", opts=OPTS, tcp=False, **kw):
    wire = dns.message.make_query(qname, qtype, **kw).to_wire()
    return dns.message.from_wire(respond(zones, wire, opts, tcp=tcp))


@pytest.mark.parametrize("name,data,offset", malformed_corpus.MALFORMED,
                         ids=[m[0] for m in malformed_corpus.MALFORMED])
def test_malformed_gets_formerr_or_nothing_then_valid_query_answered(zones, name, data, offset):
    reply = respond(zones, data, OPTS, tcp=False)
    if malformed_corpus.answerable(data):
        assert reply is not None and reply[:2] == data[:2]
        assert reply[2] & 0x80 and reply[3] & 0xF in (1, 4)  # FORMERR (NOTIMP for a non-QUERY)
    else:
        assert reply is None
    assert ask(zones, "x.d.example.org.").rcode() == dns.rcode.NOERROR


def _raw(qd_count: int, question: bytes) -> bytes:
    return bytes.fromhex("abcd0100") + qd_count.to_bytes(2, "big") + bytes(6) + question


def test_question_counts(zones):
    q = b"\x07example\x03org\x00\x00\x01\x00\x01"
    for count, body in ((2, q + q), (0, b"")):
        reply = respond(zones, _raw(count, body), OPTS, tcp=False)
        assert reply[:2] == b"\xab\xcd" and reply[3] & 0xF == 1


def test_cookie_only_query_is_answered(zones):
    msg = dns.message.Message(id=7)
    msg.use_edns(0, options=[dns.edns.GenericOption(10, b"12345678")])
    reply = dns.message.from_wire(respond(zones, msg.to_wire(), OPTS, tcp=False, client="127.0.0.1"))
    cookie = reply.opt[0].options[0] if reply.opt else None
    data = cookie.to_wire()
    assert reply.rcode() == dns.rcode.NOERROR and data[:8] == b"12345678" and len(data) == 16


def test_qr_set_and_short_are_dropped(zones):
    wire = dns.message.make_query("x.d.example.org.", "A").to_wire()
    assert respond(zones, bytes([wire[0], wire[1], wire[2] | 0x80]) + wire[3:], OPTS, tcp=False) is None
    assert respond(zones, wire[:11], OPTS, tcp=False) is None


def test_update_and_signed_messages_are_deferred_to_the_control_process(zones):
    from dns_suite.authoritative.responder import DEFER
    import dns.tsigkeyring
    import dns.update
    assert respond(zones, dns.update.UpdateMessage("example.org.").to_wire(), OPTS, tcp=False) == DEFER == b""
    notify = dns.message.make_query("example.org.", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    assert respond(zones, notify.to_wire(), OPTS, tcp=False) == DEFER
    q = dns.message.make_query("x.d.example.org.", "A")
    q.use_tsig(dns.tsigkeyring.from_text({"k.": "c2VjcmV0"}))
    assert respond(zones, q.to_wire(), OPTS, tcp=True) == DEFER


@pytest.mark.parametrize("opcode", [1, 2, 6])
def test_other_opcodes_notimp(zones, opcode):
    msg = dns.message.make_query("example.org.", "SOA")
    msg.set_opcode(opcode)
    assert dns.message.from_wire(respond(zones, msg.to_wire(), OPTS, tcp=False)).rcode() == 4


def test_badvers_not_served_from_table(zones):
    table = Prerendered(zones, OPTS)
    v0 = dns.message.make_query("x.d.example.org.", "A", use_edns=0).to_wire()
    v1 = dns.message.make_query("x.d.example.org.", "A", use_edns=1).to_wire()
    before = dns.message.from_wire(table.udp(v1))
    table.udp(v0)
    after = dns.message.from_wire(table.udp(v1))
    for reply in (before, after):
        assert reply.rcode() == dns.rcode.BADVERS and not reply.answer
        assert reply.question[0].name.to_text() == "x.d.example.org."


def test_chaos_refused_unless_configured(zones):
    assert ask(zones, "version.bind.", "TXT", rdclass="CH").rcode() == dns.rcode.REFUSED
    opts = Options(version="dns-suite 0.1", identity="ns-a")
    reply = ask(zones, "version.bind.", "TXT", opts, rdclass="CH")
    assert reply.answer[0][0].strings == (b"dns-suite 0.1",)
    assert ask(zones, "id.server.", "TXT", opts, rdclass="CH").answer[0][0].strings == (b"ns-a",)


def test_nsid_only_when_configured(zones):
    q = dict(use_edns=0, options=[dns.edns.GenericOption(3, b"")])
    assert not ask(zones, "x.d.example.org.", **q).opt[0].options
    opts = Options(nsid=b"ns-a")
    assert ask(zones, "x.d.example.org.", opts=opts, **q).opt[0].options[0].to_wire() == b"ns-a"


@pytest.mark.parametrize("edns", [dict(use_edns=False), dict(use_edns=0, payload=1232)])
def test_referral_glue_a_and_aaaa(zones, edns):
    reply = ask(zones, "www.sub.example.org.", **edns)
    glue = {(r.name.to_text(), r.rdtype) for r in reply.additional}
    assert {("ns1.sub.example.org.", 1), ("ns1.sub.example.org.", 28)} <= glue
    assert not reply.flags & dns.flags.TC and not reply.flags & dns.flags.AA


def test_udp_size_and_tc(zones):
    big = build_big_zone()
    small = dns.message.from_wire(respond(big, dns.message.make_query("t.big.test.", "TXT").to_wire(),
                                          OPTS, tcp=False))
    assert small.flags & dns.flags.TC and not small.answer
    wire = dns.message.make_query("t.big.test.", "TXT", use_edns=0, payload=4096).to_wire()
    fits = respond(big, wire, OPTS, tcp=False)
    assert len(fits) <= OPTS.payload_size and dns.message.from_wire(fits).flags & dns.flags.TC
    tcp = dns.message.from_wire(respond(big, wire, OPTS, tcp=True))
    assert not tcp.flags & dns.flags.TC and len(tcp.answer[0]) == 20


def build_big_zone():
    from conftest import HEAD, build
    from dns_suite.authoritative.zoneset import ZoneSet
    text = HEAD + "".join(f't TXT "{i:02d}{"x" * 100}"\n' for i in range(20))
    return ZoneSet([build("big.test.", text)])


def test_mixed_case_question_echoed_byte_for_byte(zones):
    table = Prerendered(zones, OPTS)
    for name in ("x.d.example.org.", "X.d.ExAmple.ORG.", "x.D.EXAMPLE.org.", "x.d.example.org."):
        wire = dns.message.make_query(name, "A", use_edns=0).to_wire()
        reply = table.udp(wire)
        end = len(wire) - 11
        assert reply[12:end] == wire[12:end] and reply == respond(zones, wire, OPTS, tcp=False)


def test_table_is_bounded(zones):
    table = Prerendered(zones, OPTS, max_entries=50)
    rnd = random.Random(3)
    for _ in range(500):
        table.udp(dns.message.make_query(f"n{rnd.randrange(10**9)}.example.org.", "A").to_wire())
    assert len(table.table) == 50
