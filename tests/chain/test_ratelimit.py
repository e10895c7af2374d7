"""Response rate limiting and the per-client query limit (pure: time is a number here)."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.rcode
import dns.rrset
import pytest

from dns_suite.chain import ratelimit
from dns_suite.chain.opt import truncated
from dns_suite.chain.ratelimit import (ANSWER, ERROR, NODATA, NXDOMAIN, REFERRAL, QueryRateLimiter,
                                       ResponseRateLimiter, TokenBuckets, prefix_of, reply_kind)


def reply(*, rcode=dns.rcode.NOERROR, answer=True, aa=True, edns=True) -> bytes:
    q = dns.message.make_query("www.example.test", "A", use_edns=0 if edns else False)
    r = dns.message.make_response(q)
    r.set_rcode(rcode)
    if not aa:
        r.flags &= ~dns.flags.AA
    else:
        r.flags |= dns.flags.AA
    if answer:
        r.answer.append(dns.rrset.from_text("www.example.test.", 300, "IN", "A", "192.0.2.80"))
    return r.to_wire()


@pytest.mark.parametrize("wire, kind", [
    (reply(), ANSWER),
    (reply(answer=False), NODATA),
    (reply(answer=False, aa=False), REFERRAL),
    (reply(rcode=dns.rcode.NXDOMAIN, answer=False), NXDOMAIN),
    (reply(rcode=dns.rcode.REFUSED, answer=False), ERROR),
    (reply(rcode=dns.rcode.SERVFAIL, answer=False), ERROR),
])
def test_reply_kind(wire: bytes, kind: int) -> None:
    assert reply_kind(wire) == kind


@pytest.mark.parametrize("address, v4, v6, expected", [
    ("192.0.2.77", 24, 56, "192.0.2.0/24"),
    ("192.0.2.77", 16, 56, "192.0.0.0/16"),
    ("2001:db8:1:2:3::1", 24, 56, "2001:db8:1::/56"),
    ("2001:db8:1:2:3::1", 24, 64, "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.77", 24, 56, "192.0.2.0/24"),
    ("fe80::1%eth0", 24, 56, "fe80::/56"),
    ("not an address", 24, 56, "not an address"),
])
def test_prefix_of(address, v4, v6, expected) -> None:
    assert prefix_of(address, v4, v6) == expected


def test_token_bucket_burst_then_rate() -> None:
    tb = TokenBuckets(10)
    assert [tb.take("k", 0.0) for _ in range(12)] == [True] * 10 + [False] * 2
    assert tb.take("k", 0.1) and not tb.take("k", 0.1)  # 0.1 s later: one more token
    assert [tb.take("k", 10.0) for _ in range(11)] == [True] * 10 + [False]  # full again, not more
    assert tb.take("other", 10.0)


def test_token_bucket_table_is_bounded() -> None:
    tb = TokenBuckets(1, max_keys=100)
    for i in range(1000):
        tb.take(i, 0.0)
    assert len(tb.buckets) <= 100


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_rrl_slips_every_second_limited_reply_and_counts() -> None:
    rrl = ResponseRateLimiter(5, slip=2, clock=Clock())
    wire = reply()
    out = [rrl.limit(wire, "192.0.2.1") for _ in range(15)]
    assert out[:5] == [wire] * 5
    limited = out[5:]
    assert [x is None for x in limited] == [True, False] * 5
    tc = dns.message.from_wire(limited[1])
    assert tc.flags & dns.flags.TC and not tc.answer and tc.question and tc.edns == 0
    assert rrl.counters() == {"dropped": 5, "slipped": 5}


@pytest.mark.parametrize("slip, sent", [(0, 0), (1, 10), (3, 3)])
def test_rrl_slip_settings(slip: int, sent: int) -> None:
    rrl = ResponseRateLimiter(1, slip=slip, clock=Clock())
    rrl.limit(reply(), "192.0.2.1")
    out = [rrl.limit(reply(), "192.0.2.1") for _ in range(10)]
    assert sum(x is not None for x in out) == sent


def test_rrl_keys_by_prefix_and_kind() -> None:
    clock = Clock()
    rrl = ResponseRateLimiter(2, slip=0, clock=clock)
    for _ in range(2):
        assert rrl.limit(reply(), "192.0.2.1")
    assert rrl.limit(reply(), "192.0.2.200") is None  # same /24: limited
    assert rrl.prefix("192.0.2.200") == "192.0.2.0/24"
    assert rrl.limit(reply(), "192.0.3.1")  # another /24
    assert rrl.limit(reply(rcode=dns.rcode.NXDOMAIN, answer=False), "192.0.2.1")  # another kind
    assert rrl.limit(reply(), "2001:db8::1") and rrl.limit(reply(), "2001:db8:0:ff::1")
    assert rrl.limit(reply(), "2001:db8:0:ab::2") is None  # same /56
    clock.now += 0.9
    assert rrl.limit(reply(), "192.0.2.1") is None  # within the second: still limited
    clock.now += 0.1
    assert [rrl.limit(reply(), "192.0.2.1") is not None for _ in range(3)] == [True, True, False]  # refilled


def test_rrl_tables_are_bounded() -> None:
    rrl = ResponseRateLimiter(1, clock=Clock(), max_keys=50)
    for i in range(300):
        rrl.limit(reply(), f"10.{i}.0.1")
    assert len(rrl._clients) <= 50 and len(rrl._prefixes) <= 50


def test_rrl_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        ResponseRateLimiter(0, clock=Clock())


def test_guard_passes_deferred_and_no_reply() -> None:
    rrl = ResponseRateLimiter(1, slip=0, clock=Clock())
    handler = ratelimit.guard(rrl, lambda q, c: q)
    assert handler(b"", "192.0.2.1") == b"" and handler(None, "192.0.2.1") is None
    wire = reply()
    assert handler(wire, "192.0.2.1") == wire and handler(wire, "192.0.2.1") is None


def test_truncated_without_opt() -> None:
    tc = dns.message.from_wire(truncated(reply(edns=False)))
    assert tc.flags & dns.flags.TC and tc.edns == -1 and not tc.answer and len(tc.question) == 1


def test_query_rate_limiter() -> None:
    limiter = QueryRateLimiter(3)
    assert [limiter.allows("192.0.2.1", 0.0) for _ in range(5)] == [True] * 3 + [False] * 2
    assert limiter.allows("192.0.2.2", 0.0)
    assert limiter.allows("192.0.2.1", 0.5)
    assert limiter.limited == 2
