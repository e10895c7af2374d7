"""Zone transfers in (dns_suite.authoritative.xfrin): streams packed by our own transfer-out code
(dns_suite.authoritative.xfr) from zones loaded from files, fed back message by message."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dns_suite.authoritative.xfr import axfr_items, ixfr_items, pack
from dns_suite.authoritative.xfrin import Transfer, TransferError, make_query
from dns_suite.wire.message import Message, Question, decode, encode
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import TsigKey, sign
from dns_suite.zone.diff import Change, Diff
from dns_suite.zone.loader import load_zone

ORIGIN = Name.from_text("example.test.")
NOW = 1_700_000_000
KEY = TsigKey.from_text("xfr.key", "hmac-sha256", "ZmgdU4dq8RsR+Elex5iX9Lci2LI90QvdTg5ui9qAZtM=")
OTHER_KEY = TsigKey.from_text("xfr.key", "hmac-sha256", "AAAAU4dq8RsR+Elex5iX9Lci2LI90QvdTg5ui9qAZtM=")
HEAD = "$TTL 3600\n@ SOA ns1 hostmaster {serial} 3600 600 86400 300\n@ NS ns1\n@ NS ns2\n"
BODY = "".join(f"h{i} A 192.0.2.{i}\nh{i} TXT \"host number {i}\"\n" for i in range(1, 60))
V1 = HEAD + "ns1 A 192.0.2.201\nns2 A 192.0.2.202\nwww CNAME h1\n" + BODY
V2 = HEAD + "ns1 A 192.0.2.201\nns2 A 192.0.2.203\nwww CNAME h2\nnew AAAA 2001:db8::1\n" + BODY
V3 = V2.replace("h5 A 192.0.2.5\n", "h5 A 192.0.2.55\n") + "sub NS ns.sub\nns.sub A 192.0.2.99\n"


@pytest.fixture(scope="module")
def zones(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("zones")
    out = {}
    for serial, text in ((1, V1), (2, V2), (3, V3)):
        path = tmp / f"v{serial}.zone"
        path.write_text(text.format(serial=serial), encoding="utf-8")
        result = load_zone(ORIGIN, str(path))
        assert result.zone is not None, [str(p) for p in result.problems]
        out[serial] = result.zone
    return out


def rrset_view(zone):
    """The zone as a comparable set: (owner, type, ttl, sorted rdata) per RRset."""
    return {(r.wire.lower(), r.rrtype, r.ttl, tuple(sorted(r.rdatas)))
            for first in zone.nodes.values() for r in first.chain()}


def diff_of(old, new) -> Diff:
    """The RFC 1995 difference between two versions (old SOA removed, new SOA added first)."""
    def rrs(zone):
        return {(r.wire.lower(), r.rrtype, r.ttl, rd) for first in zone.nodes.values()
                for r in first.chain() for rd in r.rdatas if r.rrtype != 6}
    a, b = rrs(old), rrs(new)
    soa = lambda z: Change(z.soa.wire, 6, z.soa.ttl, z.soa.rdatas[0])  # noqa: E731
    return Diff(serial_from=old.serial, serial_to=new.serial,
                removed=(soa(old), *(Change(*x) for x in sorted(a - b))),
                added=(soa(new), *(Change(*x) for x in sorted(b - a))))


def query(kind: str, serial: int | None = None, ident: int = 4711, key=None, origin=ORIGIN):
    octets, mac = make_query(origin, kind, serial, ident, key, NOW)
    return decode(octets), mac


def stream(items, msg: Message, limit: int = 700, key=None, request_mac=b""):
    """Reply messages, each signed (RFC 8945 §5.3.1) when a key is given."""
    out, prior = [], None
    for m in pack(items, replace(msg, tsig=None, authority=()), limit=limit):
        if key is not None:
            m, prior = (sign(m, key, now=NOW, request_mac=request_mac) if prior is None
                        else sign(m, key, now=NOW, prior_mac=prior))
        out.append(m)
    return out


def transfer(kind, current, key=None, mac=b"", max_octets=10**7, ident=4711):
    return Transfer(ORIGIN, kind, current, key, mac, max_octets, ident=ident, now=NOW)


def feed_all(t: Transfer, messages) -> list[bool]:
    return [t.feed(m) for m in messages]


# --- good transfers ---------------------------------------------------------

def test_make_query_shapes():
    msg, mac = query("IXFR", 7)
    assert mac == b"" and msg.question == (Question(qname=ORIGIN, qtype=251),)
    assert len(msg.authority) == 1 and msg.authority[0].rrtype == 6
    assert int.from_bytes(msg.authority[0].rdata[-20:-16], "big") == 7
    msg, mac = query("AXFR", None, key=KEY)
    assert msg.question[0].qtype == 252 and msg.authority == () and len(mac) == 32 and msg.tsig
    with pytest.raises(ValueError):
        make_query(ORIGIN, "IXFR", None, 1, None, NOW)


def test_axfr_round_trip(zones):
    msg, _ = query("AXFR")
    messages = stream(axfr_items(zones[3]), msg)
    assert len(messages) > 3
    t = transfer("AXFR", None)
    assert feed_all(t, messages) == [False] * (len(messages) - 1) + [True]
    zone = t.result()
    assert zone.serial == 3 and rrset_view(zone) == rrset_view(zones[3])
    assert zone.cuts == zones[3].cuts and t.diffs is None and not t.up_to_date


@pytest.mark.parametrize(("start", "chain"), [(1, (2,)), (2, (3,)), (1, (2, 3))],
                         ids=["1-2", "2-3", "1-2-3"])
def test_ixfr_incremental(zones, start, chain):
    steps = (start, *chain)
    diffs = [diff_of(zones[a], zones[b]) for a, b in zip(steps, steps[1:])]
    msg, _ = query("IXFR", start)
    t = transfer("IXFR", zones[start])
    assert feed_all(t, stream(ixfr_items(zones[steps[-1]], start, diffs), msg))[-1] is True
    zone = t.result()
    assert zone.serial == steps[-1] and rrset_view(zone) == rrset_view(zones[steps[-1]])
    assert t.diffs == tuple(diffs)


def test_axfr_inside_ixfr(zones):
    msg, _ = query("IXFR", 1)
    t = transfer("IXFR", zones[1])
    assert feed_all(t, stream(ixfr_items(zones[3], 1, None), msg))[-1] is True
    assert rrset_view(t.result()) == rrset_view(zones[3]) and t.diffs is None


@pytest.mark.parametrize("ours", [3, 4], ids=["equal", "ours-newer"])
def test_ixfr_up_to_date(zones, ours):
    msg, _ = query("IXFR", ours)
    messages = stream(ixfr_items(zones[3], ours, []), msg)
    assert len(messages) == 1
    current = zones[3]
    t = transfer("IXFR", current)
    assert t.feed(messages[0]) is True and t.up_to_date and t.result() is current


def test_single_newer_soa_is_not_complete(zones):
    """RFC 1995 §2: over UDP a single newer SOA means "ask again over TCP"."""
    msg, _ = query("IXFR", 1)
    first = stream([next(axfr_items(zones[3]))], msg)[0]
    t = transfer("IXFR", zones[1])
    assert t.feed(first) is False and not t.up_to_date
    with pytest.raises(TransferError, match="incomplete"):
        t.result()


@pytest.mark.parametrize("kind", ["AXFR", "IXFR"])
def test_signed_transfer_verified(zones, kind):
    current = zones[1] if kind == "IXFR" else None
    msg, mac = query(kind, 1 if kind == "IXFR" else None, key=KEY)
    diffs = [diff_of(zones[1], zones[2]), diff_of(zones[2], zones[3])]
    items = axfr_items(zones[3]) if kind == "AXFR" else ixfr_items(zones[3], 1, diffs)
    messages = stream(items, msg, limit=200, key=KEY, request_mac=mac)
    assert len(messages) >= 3
    t = transfer(kind, current, key=KEY, mac=mac)
    assert feed_all(t, messages)[-1] is True
    assert rrset_view(t.result()) == rrset_view(zones[3])


def dnspython_signed(messages, request_mac: bytes, key: TsigKey = KEY):
    """The same messages signed by dnspython as a server would (multi-message TSIG context)."""
    import dns.message
    import dns.name
    import dns.tsig

    dkey = dns.tsig.Key(dns.name.from_text(key.name.to_text()), key.secret, algorithm=key.algorithm.to_text())
    out, ctx = [], None
    for wire in messages:
        m = dns.message.from_wire(wire)
        m.use_tsig({dkey.name: dkey}, keyname=dkey.name, algorithm=dkey.algorithm)
        m.request_mac = request_mac if ctx is None else b""
        out.append(m.to_wire(multi=True, tsig_ctx=ctx))
        ctx = m.tsig_ctx
    return out


def test_dnspython_signed_axfr_verified(zones):
    """An independent signer (dnspython), so sign and verify do not share a mistake."""
    msg, mac = query("AXFR", key=KEY)
    messages = dnspython_signed(stream(axfr_items(zones[3]), msg, limit=400), mac)
    assert len(messages) >= 3
    t = Transfer(ORIGIN, "AXFR", None, KEY, mac, 10**7, ident=msg.id, now=_tsig_time(messages[0]))
    assert feed_all(t, messages)[-1] is True
    assert rrset_view(t.result()) == rrset_view(zones[3])
    bad = dnspython_signed(stream(axfr_items(zones[3]), msg, limit=400), mac)
    t = Transfer(ORIGIN, "AXFR", None, KEY, mac, 10**7, ident=msg.id, now=_tsig_time(messages[0]))
    t.feed(bad[0])
    with pytest.raises(TransferError, match="bad MAC"):
        t.feed(_tamper(bad[1]))


def _tsig_time(message: bytes) -> int:
    from dns_suite.wire.tsig import parse_rdata

    m = decode(message)
    return parse_rdata(m.tsig.owner, m.tsig.rdata).time_signed


# --- refused transfers --------------------------------------------------------

def _tamper(message: bytes) -> bytes:
    """Change one address octet of the message (192.0.2.x -> 192.0.2.x^1)."""
    at = message.index(bytes([0, 4, 192, 0, 2])) + 5
    return message[:at] + bytes([message[at] ^ 1]) + message[at + 1:]


def _signed_axfr(zones):
    msg, mac = query("AXFR", key=KEY)
    return stream(axfr_items(zones[3]), msg, limit=400, key=KEY, request_mac=mac), mac


def _tampered_middle(zones):
    messages = _signed_axfr(zones)[0]
    return [messages[0], _tamper(messages[1]), *messages[2:]]


def _unsigned_second(zones):
    """Message 2 without its TSIG (the same octets as the unsigned stream cut at 400)."""
    msg, _ = query("AXFR", key=KEY)
    return [_signed_axfr(zones)[0][0], stream(axfr_items(zones[3]), msg, limit=400)[1]]


def _unsigned_axfr(zones, **kw):
    msg, _ = query("AXFR", **kw)
    return stream(axfr_items(zones[3]), msg)


def _with_question(zones, qname: str, qtype: int = 252):
    msg, _ = query("AXFR")
    msg = replace(msg, question=(Question(qname=Name.from_text(qname), qtype=qtype),))
    return stream(axfr_items(zones[3]), msg)


def _rcode(zones, rcode: int):
    msg, _ = query("AXFR")
    return [encode(Message(id=msg.id, flags=0x8000, rcode=rcode, question=msg.question))]


def _first_not_soa(zones):
    msg, _ = query("AXFR")
    items = list(axfr_items(zones[3]))
    return stream(items[1:], msg)


def _outside(zones):
    msg, _ = query("AXFR")
    items = list(axfr_items(zones[3]))
    items.insert(3, (Name.from_text("elsewhere.test.").wire, 1, 300, bytes([192, 0, 2, 1])))
    return stream(items, msg)


def _odd_closing_soa(zones):
    msg, _ = query("AXFR")
    items = list(axfr_items(zones[3]))
    items[-1] = next(axfr_items(zones[2]))
    return stream(items, msg)


def _soa_below_apex(zones):
    msg, _ = query("AXFR")
    items = list(axfr_items(zones[3]))
    items.insert(2, (Name.from_text("h1.example.test.").wire, 6, 300, items[0][3]))
    return stream(items, msg)


def _after_end(zones):
    messages = _unsigned_axfr(zones)
    return messages + [messages[-1]]


def _broken_zone(zones):
    """CNAME beside other data: the whole-zone checks refuse it at result()."""
    msg, _ = query("AXFR")
    items = list(axfr_items(zones[3]))
    target = Name.from_text("h2.example.test.").wire
    items.insert(2, (Name.from_text("h1.example.test.").wire, 5, 300, target))
    return stream(items, msg)


def _signed_only(zones):
    return _signed_axfr(zones)[0]


SIGNED = {"key": KEY, "signed": True}

# (case id, make(zones) -> the messages, Transfer keyword arguments ("signed": the query was signed),
#  error fragment, index of the feed that fails, or "result" when result() is the one to raise)
REFUSED = [
    ("tampered-middle", _tampered_middle, SIGNED, "TSIG check failed: bad MAC", 1),
    ("tsig-missing-later", _unsigned_second, SIGNED, "message 2: no TSIG", 1),
    ("tsig-missing-first", _unsigned_axfr, SIGNED, "message 1: no TSIG", 0),
    ("tsig-wrong-key", _signed_only, {"key": OTHER_KEY, "signed": True}, "TSIG check failed", 0),
    ("tsig-unexpected", _signed_only, {}, "signed, but the query was not", 0),
    ("oversize", _unsigned_axfr, {"max_octets": 1500}, "exceeds 1500 octets", 2),
    ("wrong-qname", lambda z: _with_question(z, "other.test."), {}, "question", 0),
    ("wrong-qtype", lambda z: _with_question(z, "example.test.", 251), {}, "question", 0),
    ("wrong-id", _unsigned_axfr, {"ident": 1}, "ID 4711, expected 1", 0),
    ("refused", lambda z: _rcode(z, 5), {}, "rcode 5", 0),
    ("notauth", lambda z: _rcode(z, 9), {}, "rcode 9", 0),
    ("first-not-soa", _first_not_soa, {}, "is not the SOA", 0),
    ("outside-zone", _outside, {}, "outside the zone", 0),
    ("odd-closing-soa", _odd_closing_soa, {}, "differs from the opening", -1),
    ("soa-below-apex", _soa_below_apex, {}, "SOA below the apex", 0),
    ("after-end", _after_end, {}, "after the end", -1),
    ("malformed", lambda z: [_unsigned_axfr(z)[0][:-3]], {}, "malformed message 1", 0),
    ("cname-and-data", _broken_zone, {}, "CNAME and other data", "result"),
]


@pytest.mark.parametrize(("case", "make", "kwargs", "error", "where"), REFUSED, ids=[c[0] for c in REFUSED])
def test_refused(zones, case, make, kwargs, error, where):
    kwargs = dict(kwargs)
    key = kwargs.pop("key", None)
    mac = _signed_axfr(zones)[1] if kwargs.pop("signed", False) else b""
    messages = make(zones)
    t = transfer("AXFR", None, key=key, mac=mac, **kwargs)
    if where == "result":
        assert feed_all(t, messages)[-1] is True
        with pytest.raises(TransferError, match=error):
            t.result()
        return
    stop = where % len(messages)
    assert not any(feed_all(t, messages[:stop])[:-1])
    with pytest.raises(TransferError, match=error):
        t.feed(messages[stop])
    with pytest.raises(TransferError):  # failed for good
        t.result()


def test_cut_off_stream_not_complete(zones):
    messages = _unsigned_axfr(zones)
    t = transfer("AXFR", None)
    assert not any(feed_all(t, messages[:-1])) and not t.complete
    with pytest.raises(TransferError, match="incomplete"):
        t.result()


def test_ixfr_from_wrong_serial(zones):
    msg, _ = query("IXFR", 2)
    diffs = [diff_of(zones[1], zones[2]), diff_of(zones[2], zones[3])]
    messages = stream(ixfr_items(zones[3], 1, diffs), msg)
    t = transfer("IXFR", zones[2])
    with pytest.raises(TransferError, match="IXFR starts at serial 1, we hold 2"):
        feed_all(t, messages)


def test_ixfr_diff_that_does_not_apply(zones):
    bad = diff_of(zones[1], zones[2])
    bad = replace(bad, removed=bad.removed + (Change(Name.from_text("nope.example.test.").wire, 1, 300,
                                                     bytes(4)),))
    msg, _ = query("IXFR", 1)
    t = transfer("IXFR", zones[1])
    assert feed_all(t, stream(ixfr_items(zones[2], 1, [bad]), msg))[-1] is True
    with pytest.raises(TransferError, match="IXFR does not apply"):
        t.result()


def test_signed_later_message_bad_time(zones):
    msg, mac = query("AXFR", key=KEY)
    messages = stream(axfr_items(zones[3]), msg, limit=400, key=KEY, request_mac=mac)
    t = transfer("AXFR", None, key=KEY, mac=mac)
    t.feed(messages[0])
    with pytest.raises(TransferError, match="outside"):
        t.feed(messages[1], now=NOW + 10_000)


def test_ixfr_without_current_is_our_bug():
    with pytest.raises(ValueError):
        Transfer(ORIGIN, "IXFR", None, None, b"", 100, ident=1)
