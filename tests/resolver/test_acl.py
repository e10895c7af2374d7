"""Tests of dns_suite.chain.acl: who may use the resolver, and the REFUSED reply (pure)."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from dns_suite.chain import acl
from dns_suite.chain.acl import DEFAULT_ALLOW, Acl, guard, rcode_reply, refused
from dns_suite.config import RESOLVER_ALLOW

DEFAULT_CASES = [
    # (client address as a socket reports it, allowed by the default list)
    ("127.0.0.1", True),
    ("127.255.255.254", True),
    ("::1", True),
    ("10.1.2.3", True),
    ("172.16.0.1", True),
    ("172.31.255.255", True),
    ("172.32.0.1", False),
    ("172.15.255.255", False),
    ("192.168.77.1", True),
    ("192.169.0.1", False),
    ("fd12:3456::1", True),
    ("fc00::1", True),
    ("fe80::1", True),
    ("fe80::1%eth0", True),  # zone index ignored
    ("::ffff:10.0.0.1", True),  # IPv4-mapped: judged as 10.0.0.1
    ("::ffff:8.8.8.8", False),
    ("8.8.8.8", False),
    ("2001:db8::1", False),
    ("::", False),
    ("0.0.0.0", False),
    ("not an address", False),
    ("", False),
]


@pytest.mark.parametrize(("address", "allowed"), DEFAULT_CASES)
def test_default_list(address: str, allowed: bool) -> None:
    assert Acl(DEFAULT_ALLOW).allows(address) is allowed


@pytest.mark.parametrize(("networks", "address", "allowed"), [
    (["10.0.0.0/8"], "127.0.0.1", False),
    (["10.0.0.0/8"], "10.255.0.1", True),
    (["10.1.2.3/8"], "10.9.9.9", True),  # host bits set: the network
    (["192.0.2.7"], "192.0.2.7", True),  # one address
    (["192.0.2.7"], "192.0.2.8", False),
    (["2001:db8::/32"], "2001:db8:1::5", True),
    (["2001:db8::/32"], "192.0.2.1", False),  # other family
    ([], "127.0.0.1", False),  # empty: nobody
    (["0.0.0.0/0"], "203.0.113.9", True),
])
def test_configured_lists(networks: list[str], address: str, allowed: bool) -> None:
    assert Acl(networks).allows(address) is allowed


@pytest.mark.parametrize("bad", ["10.0.0.0/33", "example.test", "10.0.0", "::1/129", ""])
def test_bad_network_raises(bad: str) -> None:
    with pytest.raises(ValueError):
        Acl([bad])


@pytest.mark.parametrize(("networks", "is_open"), [
    (DEFAULT_ALLOW, False), (["0.0.0.0/0"], True), (["::/0"], True), ([], False)])
def test_open_to_everyone(networks, is_open: bool) -> None:
    assert Acl(networks).open_to_everyone() is is_open


def test_config_default_is_the_same_list() -> None:
    assert RESOLVER_ALLOW == DEFAULT_ALLOW


def test_decisions_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(acl, "MAX_REMEMBERED", 4)
    a = Acl(["10.0.0.0/8"])
    for i in range(10):
        assert a.allows(f"10.0.0.{i}")
        assert len(a._seen) <= 4
    assert not a.allows("11.0.0.1")


def _query(**kw) -> dns.message.Message:
    q = dns.message.make_query("WWW.Example.TEST.", "AAAA", **kw)
    q.id = 0x1234
    return q


@pytest.mark.parametrize(("make", "edns"), [
    (lambda: _query(), False),
    (lambda: _query(use_edns=0, payload=4096), True),
    (lambda: _query(use_edns=0, want_dnssec=True), True),
])
def test_refused_keeps_id_question_and_bits(make, edns: bool) -> None:
    q = make()
    q.flags |= dns.flags.CD
    reply = dns.message.from_wire(refused(q.to_wire()))
    assert reply.id == 0x1234
    assert reply.rcode() == dns.rcode.REFUSED
    assert reply.flags & dns.flags.QR and reply.flags & dns.flags.RD and reply.flags & dns.flags.CD
    assert not reply.flags & (dns.flags.AA | dns.flags.RA | dns.flags.TC)
    assert [(r.name.to_text(), r.rdtype) for r in reply.question] == [("WWW.Example.TEST.", 28)]
    assert reply.question[0].name.to_text() == "WWW.Example.TEST."  # case kept (RFC 4343)
    assert not reply.answer and not reply.authority and not reply.additional
    assert (reply.edns >= 0) is edns


def test_refused_keeps_opcode() -> None:
    q = _query()
    q.set_opcode(dns.opcode.NOTIFY)
    assert dns.message.from_wire(refused(q.to_wire())).opcode() == dns.opcode.NOTIFY


@pytest.mark.parametrize(("data", "why"), [
    (b"", "empty"),
    (b"\x12\x34\x01\x00\x00\x01", "short header"),
    (b"\x12\x34\x81\x80" + bytes(8), "QR set: a response, never answered"),
    (b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07exa", "question cut"),
])
def test_garbage_gets_no_reply(data: bytes, why: str) -> None:
    assert refused(data) is None, why


def test_rcode_reply_servfail() -> None:
    reply = dns.message.from_wire(rcode_reply(_query().to_wire(), 2))
    assert reply.rcode() == dns.rcode.SERVFAIL and reply.id == 0x1234


def test_guard_middleware() -> None:
    seen = []

    def inner(query: bytes, client: str) -> bytes | None:
        seen.append(client)
        return b"inner"

    handler = guard(Acl(["10.0.0.0/8"]), inner)
    wire = _query().to_wire()
    assert handler(wire, "10.0.0.5") == b"inner"
    assert dns.message.from_wire(handler(wire, "127.0.0.1")).rcode() == dns.rcode.REFUSED
    assert handler(b"junk", "127.0.0.1") is None
    assert seen == ["10.0.0.5"]
