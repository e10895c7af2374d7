"""SipHash-2-4 and DNS cookies (RFC 7873, RFC 9018): tables of vectors and cases, no sockets."""

from __future__ import annotations

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import pytest

from dns_suite.chain import cookies
from dns_suite.chain.cookies import CookieJar, Verdict, age, server_cookie
from dns_suite.chain.siphash import siphash24

KEY = bytes(range(16))


@pytest.mark.parametrize("length, expected", [
    # the reference implementation's vectors_sip64 (key 00..0f, message 00..len-1), as octets
    (0, "310e0edd47db6f72"),
    (1, "fd67dc93c539f874"),
    (7, "37d1018bf50002ab"),
    (8, "6224939a79f5f593"),
    (15, "e545be4961ca29a1"),
    (16, "db9bc2577fcc2a3f"),
])
def test_siphash_reference_vectors(length: int, expected: str) -> None:
    assert siphash24(KEY, bytes(range(length))).hex() == expected


def test_siphash_key_length() -> None:
    with pytest.raises(ValueError):
        siphash24(b"short", b"")


SECRET_1 = bytes.fromhex("e5e973e5a6b2a43f48e7dc849e37bfcf")
SECRET_OLD = bytes.fromhex("dd3bdf9344b678b185a6f5cb60fca715")
SECRET_NEW = bytes.fromhex("445536bcd2513298075a5d379663c962")


@pytest.mark.parametrize("secret, client_cookie, address, stamp, expected", [
    # RFC 9018 Appendix A
    (SECRET_1, "2464c4abcf10c957", "198.51.100.100", 1559731985, "010000005cf79f111f8130c3eee29480"),  # A.1
    (SECRET_1, "2464c4abcf10c957", "198.51.100.100", 1559734385, "010000005cf7a871d4a564a1442aca77"),  # A.2
    (SECRET_1, "fc93fc62807ddb86", "203.0.113.203", 1559734700, "010000005cf7a9acf73a7810aca2381e"),   # A.3
    (SECRET_NEW, "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961,
     "010000005cf7c609a6bb79d16625507a"),                                                             # A.4
])
def test_rfc9018_appendix_a(secret, client_cookie, address, stamp, expected) -> None:
    import ipaddress

    packed = ipaddress.ip_address(address).packed
    assert server_cookie(secret, bytes.fromhex(client_cookie), packed, stamp).hex() == expected


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def jar(now: int = 1559731985, secret: bytes = SECRET_1, **kw) -> CookieJar:
    return CookieJar(secret, clock=Clock(now), **kw)


@pytest.mark.parametrize("cookie, client, now, verdict, reply", [
    # A.1: a client cookie only -> a new server cookie
    ("2464c4abcf10c957", "198.51.100.100", 1559731985, Verdict.CLIENT_ONLY,
     "2464c4abcf10c957010000005cf79f111f8130c3eee29480"),
    # A.2: 40 minutes later the cookie is still valid (< 1 hour) but older than half an hour: renewed
    ("2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559734385, Verdict.VALID,
     "2464c4abcf10c957010000005cf7a871d4a564a1442aca77"),
    # young and made with the current secret: echoed as it is
    ("2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559731985 + 600, Verdict.VALID,
     "2464c4abcf10c957010000005cf79f111f8130c3eee29480"),
    # A.3: the client's cookie is 1 h 52 min old: not accepted (§4.3), the RFC's fresh one is sent
    ("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", "203.0.113.203", 1559734700, Verdict.INVALID,
     "fc93fc62807ddb86010000005cf7a9acf73a7810aca2381e"),
    # ... within the hour it is valid: the reserved octets the client set are part of the hash;
    # the reply is a clean cookie stamped now
    ("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", "203.0.113.203", 1559727985 + 100, Verdict.VALID,
     None),
    # the same cookie from another address is not ours
    ("fc93fc62807ddb8601abcdef5cf78f71a314227b6679ebf5", "203.0.113.204", 1559734700, Verdict.INVALID, None),
    # more than an hour old: invalid, a fresh one
    ("2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559731985 + 3601, Verdict.INVALID,
     None),
    # five minutes ahead is accepted, more is not
    ("2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559731985 - 300, Verdict.VALID,
     None),
    ("2464c4abcf10c957010000005cf79f111f8130c3eee29480", "198.51.100.100", 1559731985 - 301, Verdict.INVALID,
     None),
    # a server cookie of another length or version is not ours
    ("2464c4abcf10c957" + "00" * 8, "198.51.100.100", 1559731985, Verdict.INVALID, None),
    # malformed lengths (RFC 7873 §5.2.2)
    ("2464c4abcf10", "198.51.100.100", 1559731985, Verdict.MALFORMED, None),
    ("2464c4abcf10c957" + "00" * 7, "198.51.100.100", 1559731985, Verdict.MALFORMED, None),
    ("2464c4abcf10c957" + "00" * 33, "198.51.100.100", 1559731985, Verdict.MALFORMED, None),
])
def test_check(cookie, client, now, verdict, reply) -> None:
    got, option = jar(now).check(bytes.fromhex(cookie), client, now)
    assert got is verdict
    if verdict is Verdict.MALFORMED:
        assert option is None
        return
    assert option[:8] == bytes.fromhex(cookie)[:8]
    if reply is not None:
        assert option.hex() == reply
    fresh_check, _ = jar(now).check(option, client, now)
    assert fresh_check is Verdict.VALID  # whatever we hand out verifies


def test_rotation_keeps_the_previous_secret_valid() -> None:
    """RFC 9018 A.4: a cookie made with the old secret is accepted after a rotation and answered
    with one made with the new secret; after a second rotation it is not."""
    old_cookie = bytes.fromhex("22681ab97d52c298010000005cf7c57926556bd0934c72f8")
    client, now = "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961
    j = jar(now, SECRET_OLD)
    assert j.check(old_cookie, client, now)[0] is Verdict.VALID
    j.rotate(SECRET_NEW)
    verdict, option = j.check(old_cookie, client, now)
    assert verdict is Verdict.VALID
    assert option.hex() == "22681ab97d52c298010000005cf7c609a6bb79d16625507a"  # A.4's reply
    j.rotate(bytes(16))
    assert j.check(old_cookie, client, now)[0] is Verdict.INVALID
    with pytest.raises(ValueError):
        j.rotate(b"short")


@pytest.mark.parametrize("stamp, now, expected", [
    (100, 160, 60), (160, 100, -60), (0xFFFFFF00, 0x10, 0x110), (0x10, 0xFFFFFF00, -0x110),
])
def test_age_wraps(stamp, now, expected) -> None:
    assert age(stamp, now) == expected


def query(cookie: bytes | None, *, name: str = "www.example.test", edns: bool = True, extra=()) -> bytes:
    options = list(extra) + ([dns.edns.GenericOption(10, cookie)] if cookie is not None else [])
    q = dns.message.make_query(name, "A", use_edns=0 if edns else False, options=options)
    return q.to_wire()


def test_prepare_passes_queries_without_cookies() -> None:
    j = jar()
    for wire in (query(None), query(None, edns=False), query(None, extra=[dns.edns.GenericOption(3, b"")])):
        assert j.prepare(wire, "192.0.2.1", udp=True) is None


def test_prepare_strips_the_cookie_and_finish_adds_ours() -> None:
    j = jar()
    wire = query(bytes.fromhex("2464c4abcf10c957"))
    prepared = j.prepare(wire, "198.51.100.100", udp=True)
    assert prepared.verdict is Verdict.CLIENT_ONLY and prepared.reply is None
    plain = query(None)
    assert prepared.query[2:] == plain[2:]  # exactly the query without the option: same table key
    assert prepared.limit == 1232
    reply = dns.message.make_response(dns.message.from_wire(plain))
    out = dns.message.from_wire(cookies.finish(prepared, reply.to_wire()))
    opt = next(o for o in out.options if o.otype == 10)
    assert (opt.client + opt.server).hex() == "2464c4abcf10c957010000005cf79f111f8130c3eee29480"


def test_prepare_keeps_other_options() -> None:
    j = jar()
    wire = query(bytes.fromhex("2464c4abcf10c957"), extra=[dns.edns.GenericOption(3, b"")])
    prepared = j.prepare(wire, "198.51.100.100", udp=False)
    msg = dns.message.from_wire(prepared.query)
    assert [o.otype for o in msg.options] == [3]


def test_malformed_cookie_gets_formerr() -> None:
    prepared = jar().prepare(query(b"\x01\x02\x03"), "192.0.2.1", udp=True)
    reply = dns.message.from_wire(prepared.reply)
    assert reply.rcode() == dns.rcode.FORMERR
    assert not reply.flags & dns.flags.RA  # an authoritative server's


def test_a_resolvers_jar_sets_ra_on_its_replies() -> None:
    j = jar(recursive=True)
    reply = dns.message.from_wire(j.prepare(query(b"\x01\x02\x03"), "192.0.2.1", udp=True).reply)
    assert reply.rcode() == dns.rcode.FORMERR and reply.flags & dns.flags.RA


def test_cookie_only_query_is_answered_here() -> None:
    q = dns.message.Message(id=7)
    q.use_edns(0, options=[dns.edns.GenericOption(10, bytes.fromhex("2464c4abcf10c957"))])
    prepared = jar().prepare(q.to_wire(), "198.51.100.100", udp=True)
    reply = dns.message.from_wire(prepared.reply)
    assert reply.id == 7 and reply.rcode() == dns.rcode.NOERROR and not reply.question
    opt = next(o for o in reply.options if o.otype == 10)
    assert (opt.client + opt.server).hex() == "2464c4abcf10c957010000005cf79f111f8130c3eee29480"


def test_required_over_the_rate_gives_badcookie_then_the_cookie_is_accepted() -> None:
    clock = Clock(1559731985.0)
    j = CookieJar(SECRET_1, clock=clock, required_above=5)
    wire = query(bytes.fromhex("2464c4abcf10c957"))
    outcomes = [j.prepare(wire, "198.51.100.100", udp=True) for _ in range(8)]
    assert [p.reply is None for p in outcomes] == [True] * 5 + [False] * 3
    bad = dns.message.from_wire(outcomes[-1].reply)
    assert bad.rcode() == dns.rcode.BADCOOKIE and bad.question
    opt = next(o for o in bad.options if o.otype == 10)
    good = j.prepare(query(opt.client + opt.server), "198.51.100.100", udp=True)
    assert good.verdict is Verdict.VALID and good.reply is None  # a valid cookie is always served
    assert j.prepare(wire, "198.51.100.100", udp=False).reply is None  # TCP: never required
    assert j.prepare(wire, "198.51.100.101", udp=True).reply is None  # another client: its own rate
    clock.now += 1.0  # a second later the client has 5 more
    assert j.prepare(wire, "198.51.100.100", udp=True).reply is None
    assert j.badcookies == 3


def test_guard_uses_the_verified_handler_for_valid_cookies() -> None:
    j = jar()
    calls = []

    def inner(q, c):
        calls.append("inner")
        return dns.message.make_response(dns.message.from_wire(q)).to_wire()

    def verified(q, c):
        calls.append("verified")
        return inner(q, c)

    handler = cookies.guard(j, inner, udp=True, verified=verified)
    first = dns.message.from_wire(handler(query(bytes.fromhex("2464c4abcf10c957")), "198.51.100.100"))
    opt = next(o for o in first.options if o.otype == 10)
    handler(query(opt.client + opt.server), "198.51.100.100")
    handler(query(None), "198.51.100.100")
    assert calls == ["inner", "verified", "inner", "inner"]
