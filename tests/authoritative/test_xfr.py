"""Zone transfers out (authoritative/xfr.py, the transfer path of dynamic.handle), no sockets.

What is checked, against dnspython as the independent receiver:

- :func:`pack` cuts a large zone into messages of at most ``limit`` octets; the stream opens and
  closes with the SOA (and holds no other SOA), carries every RR of the zone exactly once, puts
  the question only in the first message, sets QR and AA and keeps the ID; each message decodes
  by itself with dnspython (compression pointers never leave their message), and dnspython's own
  AXFR receiver (``dns.xfr.Inbound``) rebuilds exactly the zone dnspython reads from the text.
- :func:`ixfr_items`: a client at (or past) our serial gets the single SOA; a journal chain gives
  RFC 1995 §4's shape (new SOA, then per diff old SOA, removed, new SOA, added, then new SOA),
  which dnspython's IXFR receiver applies to the old zone to get exactly the new one; a serial
  the journal does not reach gives the AXFR shape.
- :class:`TransferAcl`: a table of entries, clients and keys.
- ``dynamic.handle``: the ACL/transport/rcode decisions, and TSIG on every message of a
  transfer: the chain verifies with dnspython (``multi=True`` and ``tsig_ctx``) and breaks when a
  message is altered, dropped or reordered.

Bugs found here and since fixed (their tests below keep them fixed): names in an AXFR take
the question's case; TransferAcl.parse accepts a blank entry (allow-all) and raises WireError,
not ValueError, on a bad key name; transfer replies drop the request's OPT and ignore its EDNS
version.

Time: the TSIG signatures are made at ``int(time.time())`` passed in as a value, since
dnspython checks the time signed against its own clock.
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from dataclasses import replace

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring
import dns.update
import dns.xfr
import dns.zone
import pytest

from dns_suite.authoritative import dynamic
from dns_suite.authoritative.responder import Options
from dns_suite.authoritative.xfr import SOA, TransferAcl, axfr_items, ixfr_items, pack
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.wire.message import decode, make_query
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import TsigKey
from dns_suite.zone.diff import Change, Diff
from dns_suite.zone.model import Zone, ZoneBuilder
from dns_suite.zone.reader import ZoneReader
from dns_suite.zone.update import apply_update

AXFR, IXFR = 252, 251
ORIGIN = "xfr.test."
APEX = Name.from_text(ORIGIN)
DNS_APEX = dns.name.from_text(ORIGIN)
SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
SOA_LINE = "@ 3600 SOA ns1 hostmaster {serial} 7200 3600 1209600 300\n"


# --------------------------------------------------------------------------- zones


def small_text(serial: int = 1) -> str:
    return ("$TTL 3600\n" + SOA_LINE.format(serial=serial) +
            "@ NS ns1\n@ NS ns2\n@ MX 10 mail\nns1 A 192.0.2.1\nns2 A 192.0.2.2\n"
            "mail A 192.0.2.25\nwww A 192.0.2.10\nwww A 192.0.2.11\nwww TXT \"hello\"\n"
            "alias CNAME www\nsub NS ns.sub\nns.sub A 192.0.2.53\n")


def big_text(n: int, serial: int = 1) -> str:
    """A zone of about 6 * n RRs of many types, names of many lengths, and one RR near the
    64 KiB message limit's order of size (a 4000-octet TXT)."""
    lines = ["$TTL 300", SOA_LINE.format(serial=serial).strip(), "@ NS ns1", "@ NS ns2",
             "ns1 A 192.0.2.1", "ns2 AAAA 2001:db8::2", f'big TXT {" ".join(["x" * 250] * 16)}']
    for i in range(n):
        deep = ".".join(f"l{j}" for j in range(i % 7))
        host = f"h{i}.{deep}" if deep else f"h{i}"
        lines += [f"{host} 60 A 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
                  f"{host} AAAA 2001:db8::{i:x}",
                  f"{host} MX {i % 50} mx{i % 13}.{host}",
                  f'{host} TXT "record {i}" "{"t" * (i % 200)}"',
                  f"_sip._tcp.{host} SRV 10 {i % 100} 5060 {host}",
                  f"c{i} CNAME {host}"]
        if i % 97 == 0:
            lines += [f"d{i} NS ns.d{i}", f"ns.d{i} A 192.0.2.{i % 250}"]
    return "\n".join(lines) + "\n"


def build(text: str, origin: str = ORIGIN) -> Zone:
    apex = Name.from_text(origin)
    builder = ZoneBuilder(apex)
    for rec in ZoneReader(apex, file="test").records(text.splitlines()):
        builder.add(*rec)
    zone, problems = builder.build()
    assert zone is not None, [str(p) for p in problems]
    return zone


def zone_rrs(zone: Zone) -> Counter:
    """Every RR of the zone as ``(owner key, type, ttl, rdata)``, with multiplicity."""
    return Counter((r.wire.lower(), r.rrtype, r.ttl, rd) for first in zone.nodes.values()
                   for r in first.chain() for rd in r.rdatas)


def query(qtype: int, qname: str = ORIGIN, ident: int = 4321):
    return make_query(Name.from_text(qname), qtype, ident=ident)


def ours_decoded(messages: list[bytes]) -> list:
    """Our decoder's view of each message."""
    return [decode(m) for m in messages]


def stream(messages: list[bytes]) -> list[tuple[bytes, int, int, bytes]]:
    """The RRs of a transfer in order, as ``(owner key, type, ttl, rdata)``."""
    return [(rr.owner.key, rr.rrtype, rr.ttl, rr.rdata) for m in ours_decoded(messages) for rr in m.answer]


def dnspython_zone(text: str) -> dns.zone.Zone:
    """A fresh dnspython zone read from the text (a receiver may change it)."""
    return dns.zone.from_text(text, origin=DNS_APEX, relativize=False, check_origin=False)


@functools.lru_cache(maxsize=4)
def expected_zone(text: str) -> dns.zone.Zone:
    """Like :func:`dnspython_zone`, cached: only compare with it, never change it."""
    return dnspython_zone(text)


def receive(messages: list[bytes], rdtype: int, start: dns.zone.Zone | None = None,
            serial: int | None = None) -> dns.zone.Zone:
    """Feed the messages to dnspython's inbound transfer machinery (``dns.xfr.Inbound``)."""
    zone = start if start is not None else dns.zone.Zone(DNS_APEX, relativize=False)
    done = False
    with dns.xfr.Inbound(zone, rdtype, serial=serial) as inbound:
        for wire in messages:
            assert not done, "messages after the closing SOA"
            msg = dns.message.from_wire(wire, xfr=True, one_rr_per_rrset=(rdtype == IXFR), keyring=False)
            done = inbound.process_message(msg)
    assert done, "the transfer did not end with the SOA"
    return zone


# --------------------------------------------------------------------------- pack


BIG = big_text(500)
BIG_ZONE = build(BIG)


@pytest.mark.parametrize("limit", [512, 1400, 4096, 16384, 65535 - 512])
def test_pack_splits_big_zone_within_limit(limit):
    q = query(AXFR, ident=777)
    messages = list(pack(axfr_items(BIG_ZONE), q, limit=limit))
    assert len(messages) >= (2 if limit < 65535 - 512 else 1)
    for i, m in enumerate(messages):
        decoded = decode(m)
        rrs = len(decoded.answer)
        # only a single RR larger than the limit (the 4000-octet TXT) may make a message overflow
        assert len(m) <= limit or rrs == 1, (i, len(m), rrs)
        assert decoded.id == 777 and decoded.flags & 0x8000 and decoded.flags & 0x0400  # QR, AA
        assert decoded.rcode == 0 and decoded.opcode == 0
        assert len(decoded.question) == (1 if i == 0 else 0)
        assert not decoded.authority and not decoded.additional and decoded.tsig is None
        dp = dns.message.from_wire(m, xfr=True)  # each decodes alone
        assert dp.flags & dns.flags.AA and dp.id == 777
    assert decode(messages[0]).question[0].qname.key == APEX.key
    items = stream(messages)
    assert items[0][1] == SOA and items[-1][1] == SOA and items[0] == items[-1]
    assert [t for _, t, _, _ in items].count(SOA) == 2
    # every RR of the zone exactly once, plus the closing SOA
    soa = (APEX.key, SOA, BIG_ZONE.soa.ttl, BIG_ZONE.soa.rdatas[0])
    assert Counter(items) == zone_rrs(BIG_ZONE) + Counter([soa])
    assert len(items) == BIG_ZONE.record_count() + 1


def test_pack_oversized_rr_gets_a_message_of_its_own():
    messages = list(pack(axfr_items(BIG_ZONE), query(AXFR), limit=512))
    over = [decode(m) for m in messages if len(m) > 512]
    assert over and all(len(m.answer) == 1 and m.answer[0].rrtype == 16 for m in over)


@pytest.mark.parametrize("limit", [512, 65535 - 512])
def test_dnspython_axfr_receiver_rebuilds_the_zone(limit):
    messages = list(pack(axfr_items(BIG_ZONE), query(AXFR), limit=limit))
    assert receive(messages, AXFR) == expected_zone(BIG)


def test_pack_rd_copied_and_question_case_kept():
    q = replace(query(AXFR, qname="XFR.Test."), flags=0x0100)
    messages = list(pack(axfr_items(build(small_text())), q))
    first = decode(messages[0])
    assert first.flags & 0x0100 and first.question[0].qname.wire == Name.from_text("XFR.Test.").wire


def test_pack_keeps_the_zones_case_of_names():
    text = small_text() + "Mixed.Sub A 192.0.2.7\nmail.sub A 192.0.2.8\n"
    zone = build(text)
    messages = list(pack(axfr_items(zone), query(AXFR, qname="XFR.TEST.")))
    got = {rr.owner.wire for m in ours_decoded(messages) for rr in m.answer}
    want = {r.wire for first in zone.nodes.values() for r in first.chain()}
    assert got == want


def test_pack_empty_stream_is_one_empty_message():
    (only,) = list(pack(iter(()), query(AXFR)))
    assert decode(only).answer == ()


# --------------------------------------------------------------------------- ixfr_items


def update(zone: Zone, ops: list[tuple], now: int = 0):
    """Apply an RFC 2136 UPDATE made with dnspython; returns (new zone, Diff)."""
    up = dns.update.UpdateMessage(DNS_APEX)
    for op, *args in ops:
        getattr(up, op)(*args)
    result = apply_update(zone, decode(up.to_wire()), permitted=lambda rr: True, now=now)
    assert result.zone is not None, result
    diff = Diff(serial_from=zone.serial, serial_to=result.zone.serial,
                removed=tuple(Change(*c) for c in result.removed),
                added=tuple(Change(*c) for c in result.added))
    return result.zone, diff


def chain3():
    """Zone versions 1 -> 2 -> 3 -> 4 and their diffs."""
    z1 = build(small_text(1))
    z2, d12 = update(z1, [("add", "new", 300, "A", "192.0.2.77"), ("delete", "www", "TXT")])
    z3, d23 = update(z2, [("replace", "www", 600, "A", "192.0.2.12"), ("add", "new", 300, "TXT", "x")])
    z4, d34 = update(z3, [("delete", "new"), ("add", "alias2", 300, "CNAME", "mail")])
    return [z1, z2, z3, z4], [d12, d23, d34]


def soa_item(zone: Zone):
    return (zone.soa.wire, SOA, zone.soa.ttl, zone.soa.rdatas[0])


def zone_as_text(zone: Zone) -> str:
    """The snapshot as master-file text (for dnspython)."""
    lines = []
    for first in zone.nodes.values():
        for r in first.chain():
            for rd in r.rdatas:
                text = dns.rdata.from_wire(1, r.rrtype, rd, 0, len(rd)).to_text()
                lines.append(f"{Name(r.wire).to_text()} {r.ttl} IN {dns.rdatatype.to_text(r.rrtype)} {text}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("client", [4, 5, 1000, 4 + 2**31 - 1])
def test_ixfr_client_current_or_ahead_gets_single_soa(client):
    zones, diffs = chain3()
    assert zones[-1].serial == 4
    assert list(ixfr_items(zones[-1], client, diffs)) == [soa_item(zones[-1])]


def test_ixfr_journal_chain_has_rfc1995_shape():
    zones, diffs = chain3()
    items = list(ixfr_items(zones[-1], 1, diffs))
    expected = [soa_item(zones[3])]
    for old, new, d in zip(zones, zones[1:], diffs):
        assert d.removed[0] == soa_item(old) and d.added[0] == soa_item(new)
        expected += [*d.removed, *d.added]
    expected.append(soa_item(zones[3]))
    assert items == expected
    serials = [int.from_bytes(rd[-20:-16], "big") for _, t, _, rd in items if t == SOA]
    assert serials == [4, 1, 2, 2, 3, 3, 4, 4]


@pytest.mark.parametrize("client,start", [(1, 0), (2, 1), (3, 2)])
@pytest.mark.parametrize("limit", [150, 65535 - 512])
def test_dnspython_ixfr_receiver_applies_chain(client, start, limit):
    zones, diffs = chain3()
    messages = list(pack(ixfr_items(zones[-1], client, diffs[start:]), query(IXFR), limit=limit))
    if limit == 150:
        assert len(messages) > 1
    old = dnspython_zone(zone_as_text(zones[start]))
    got = receive(messages, IXFR, start=old, serial=client)
    assert got == expected_zone(zone_as_text(zones[-1]))


@pytest.mark.parametrize("diffs", [None, []])
def test_ixfr_unreachable_serial_is_axfr_shape(diffs):
    zones, _ = chain3()
    items = list(ixfr_items(zones[-1], 1, diffs))
    assert items == list(axfr_items(zones[-1]))
    assert items[0] == items[-1] == soa_item(zones[-1]) and len(items) == zones[-1].record_count() + 1
    messages = list(pack(iter(items), query(IXFR)))
    got = receive(messages, IXFR, start=dns.zone.Zone(DNS_APEX, relativize=False), serial=1)
    assert got == expected_zone(zone_as_text(zones[-1]))


def test_ixfr_serial_wraps_around():
    z1 = build(small_text(0xFFFFFFFF))
    z2, d = update(z1, [("add", "wrap", 300, "A", "192.0.2.1")])
    assert z2.serial == 0
    items = list(ixfr_items(z2, 0xFFFFFFFF, [d]))
    assert items[0] == items[-1] == soa_item(z2) and items[1] == soa_item(z1)


# --------------------------------------------------------------------------- TransferAcl


KEY_A, KEY_B = Name.from_text("key-a."), Name.from_text("Key-B.")

ACL_CASES = [
    # entries, client, key, allowed
    (["127.0.0.1"], "127.0.0.1", None, True),
    (["127.0.0.1"], "127.0.0.1", KEY_A, True),  # an address-only entry does not look at keys
    (["127.0.0.1"], "127.0.0.2", None, False),
    (["127.0.0.0/8"], "127.9.8.7", None, True),
    (["192.0.2.0/24"], "192.0.3.1", None, False),
    (["192.0.2.7/24"], "192.0.2.200", None, True),  # host bits ignored (strict=False)
    (["key key-a"], "203.0.113.9", KEY_A, True),
    (["key key-a."], "::1", KEY_A, True),
    (["key KEY-A"], "127.0.0.1", KEY_A, True),  # key names case-insensitive
    (["key key-b"], "127.0.0.1", KEY_B, True),
    (["key key-a"], "127.0.0.1", None, False),
    (["key key-a"], "127.0.0.1", KEY_B, False),
    (["127.0.0.1 key key-a"], "127.0.0.1", KEY_A, True),
    (["127.0.0.1 key key-a"], "127.0.0.1", None, False),  # both required
    (["127.0.0.1 key key-a"], "127.0.0.2", KEY_A, False),
    (["127.0.0.1 key key-a"], "127.0.0.1", KEY_B, False),
    (["127.0.0.1 key key-a", "key key-b"], "10.1.1.1", KEY_B, True),
    (["127.0.0.1 key key-a", "key key-b"], "10.1.1.1", KEY_A, False),
    (["::1"], "::1", None, True),
    (["::1"], "127.0.0.1", None, False),
    (["2001:db8::/32"], "2001:db8:ffff::5", None, True),
    (["2001:db8::/32"], "2001:db9::5", None, False),
    (["fe80::/10"], "fe80::1%eth0", None, True),  # scope id stripped
    (["2001:db8::1 key key-a"], "2001:db8::1", KEY_A, True),
    (["2001:db8::1 key key-a"], "2001:db8::1", None, False),
    (["127.0.0.1"], "not-an-address", None, False),
    (["key key-a"], "not-an-address", KEY_A, True),
    ([], "127.0.0.1", KEY_A, False),  # no entries: nobody
]


@pytest.mark.parametrize("entries,client,key,allowed", ACL_CASES)
def test_transfer_acl(entries, client, key, allowed):
    assert TransferAcl.parse(entries).allows(client, key) is allowed


@pytest.mark.parametrize("entry", ["example.test", "127.0.0.1/33", "300.1.1.1", "key",
                                   "127.0.0.1 key", "key a b", "127.0.0.1 key-a",
                                   "127.0.0.1 127.0.0.2", "keys a", "::1/129", "127.0.0.1 key a b"])
def test_transfer_acl_bad_entry_raises(entry):
    with pytest.raises(ValueError):
        TransferAcl.parse([entry])


@pytest.mark.parametrize("entry", ["", "   "])
def test_transfer_acl_blank_entry_raises(entry):
    with pytest.raises(ValueError):
        TransferAcl.parse([entry])


@pytest.mark.parametrize("entry", ["key a..b", "127.0.0.1 key " + "a" * 64 + "."])
def test_transfer_acl_bad_key_name_raises_value_error(entry):
    try:
        TransferAcl.parse([entry])
    except ValueError:
        return
    except Exception as exc:  # noqa: BLE001 - the point of the test
        raise AssertionError(f"{type(exc).__name__}: {exc}") from None
    raise AssertionError("accepted")


# --------------------------------------------------------------------------- dynamic.handle


KEY_NAMES = {"hmac-sha256": "xfr-key.", "hmac-sha512": "xfr-512."}
DNSPY_ALG = {"hmac-sha256": dns.tsig.HMAC_SHA256, "hmac-sha512": dns.tsig.HMAC_SHA512}
OTHER_SECRET = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI="


def keys() -> dict[bytes, TsigKey]:
    ks = [TsigKey.from_text(n, a, SECRET) for a, n in KEY_NAMES.items()]
    ks.append(TsigKey.from_text("other.", "hmac-sha256", OTHER_SECRET))
    return {k.name.key: k for k in ks}


def ring(alg: str = "hmac-sha256", secret: str = SECRET) -> dict:
    return {dns.name.from_text(KEY_NAMES[alg]): dns.tsig.Key(KEY_NAMES[alg], secret, DNSPY_ALG[alg])}


class Primary:
    """A zone set with a journal and ACLs, answered through ``dynamic.handle``."""

    def __init__(self, acl: list[str], zone_text: str | None = None) -> None:
        self.versions, self.diffs = chain3()
        zone = build(zone_text) if zone_text else self.versions[-1]
        self.zones = ZoneSet([zone])
        self.acls = {APEX.key: TransferAcl.parse(acl)}

    def journal_since(self, key: bytes, serial: int):
        assert key == APEX.key
        chain = [d for d in self.diffs if d.serial_from >= serial]
        return chain if chain and chain[0].serial_from == serial else None

    def ask(self, msg: dns.message.Message, *, tcp: bool = True, client: str = "127.0.0.1",
            now: int | None = None):
        wire = msg.to_wire()
        return dynamic.handle(self.zones, wire, decode(wire), keys=keys(), policies={}, opts=Options(),
                              tcp=tcp, client=client, now=int(time.time()) if now is None else now,
                              acls=self.acls, journal_since=self.journal_since)


def dp_query(qtype: str, serial: int | None = None, alg: str | None = None, keyname: str | None = None,
             secret: str = SECRET, qname: str = ORIGIN) -> dns.message.Message:
    q = dns.message.make_query(qname, qtype)
    if serial is not None:
        soa = dns.rdata.from_text("IN", "SOA", f"ns1 hostmaster {serial} 7200 3600 1209600 300",
                                  origin=DNS_APEX, relativize=False)
        q.authority.append(dns.rrset.from_rdata(qname, 0, soa))
    if alg is not None:
        name = keyname or KEY_NAMES[alg]
        q.use_tsig({dns.name.from_text(name): dns.tsig.Key(name, secret, DNSPY_ALG[alg])},
                   keyname=name, algorithm=DNSPY_ALG[alg])
    return q


def messages_of(outcome) -> list[bytes]:
    assert outcome.reply is not None and not isinstance(outcome.reply, bytes), outcome
    return list(outcome.reply)


def verify_chain(q: dns.message.Message, messages: list[bytes], keyring) -> list[dns.message.Message]:
    """Verify every message's TSIG as dnspython's zone transfer client does (RFC 8945 §5.3.1)."""
    ctx, out = None, []
    for wire in messages:
        m = dns.message.from_wire(wire, keyring=keyring, request_mac=q.mac, xfr=True, tsig_ctx=ctx,
                                  multi=True)
        assert m.had_tsig
        ctx = m.tsig_ctx
        out.append(m)
    return out


@pytest.mark.parametrize("alg", ["hmac-sha256", "hmac-sha512"])
def test_handle_signed_axfr_every_message_signed_and_chained(alg):
    primary = Primary(["key " + KEY_NAMES[alg]], zone_text=BIG)
    q = dp_query("AXFR", alg=alg)
    outcome = primary.ask(q)
    messages = messages_of(outcome)
    assert len(messages) > 1 and all(len(m) <= 65535 for m in messages)
    assert "AXFR zone=xfr.test. serial=1" in outcome.log and KEY_NAMES[alg] in outcome.log
    verified = verify_chain(q, messages, ring(alg))
    assert verified[0].question and not any(m.question for m in verified[1:])
    # and dnspython's receiver, fed the verified messages, gets the zone
    assert receive(messages, AXFR) == expected_zone(BIG)


def test_handle_signed_transfer_tampering_detected():
    primary = Primary(["key xfr-key"], zone_text=BIG)
    q = dp_query("AXFR", alg="hmac-sha256")
    messages = messages_of(primary.ask(q))
    assert len(messages) >= 3
    bad = bytearray(messages[1])
    bad[40] ^= 1  # inside the answer records of the second message
    for broken in ([messages[0], bytes(bad), *messages[2:]],
                   [messages[0], *messages[2:]],  # one dropped
                   [messages[0], messages[2], messages[1], *messages[3:]]):  # reordered
        with pytest.raises(dns.exception.DNSException):
            verify_chain(q, broken, ring())
    with pytest.raises(dns.exception.DNSException):  # a different key
        verify_chain(q, messages, ring(secret=OTHER_SECRET))


@pytest.mark.parametrize("alg", ["hmac-sha256", "hmac-sha512"])
def test_handle_signed_ixfr_chain_verifies_and_applies(alg):
    primary = Primary(["key " + KEY_NAMES[alg]])
    q = dp_query("IXFR", serial=1, alg=alg)
    outcome = primary.ask(q)
    messages = messages_of(outcome)
    verify_chain(q, messages, ring(alg))
    old = dnspython_zone(zone_as_text(primary.versions[0]))
    got = receive(messages, IXFR, start=old, serial=1)
    assert got == expected_zone(zone_as_text(primary.versions[-1]))
    assert "IXFR zone=xfr.test. serial=4" in outcome.log


def test_handle_signed_ixfr_current_client_single_soa_signed():
    primary = Primary(["key xfr-key"])
    q = dp_query("IXFR", serial=4, alg="hmac-sha256")
    (only,) = verify_chain(q, messages_of(primary.ask(q)), ring())
    assert [rr.rdtype for rr in only.answer] == [dns.rdatatype.SOA] and only.answer[0][0].serial == 4


def test_handle_ixfr_serial_not_in_journal_falls_back_to_axfr():
    primary = Primary(["127.0.0.1"])
    messages = messages_of(primary.ask(dp_query("IXFR", serial=0)))  # journal starts at 1
    items = stream(messages)
    assert items == list(axfr_items(primary.zones.zones[APEX.key]))


def test_handle_ixfr_over_udp_is_current_soa_signed():
    primary = Primary(["key xfr-key"])
    q = dp_query("IXFR", serial=1, alg="hmac-sha256")
    outcome = primary.ask(q, tcp=False)
    assert isinstance(outcome.reply, bytes)
    r = dns.message.from_wire(outcome.reply, keyring=ring(), request_mac=q.mac)
    assert r.had_tsig and r.rcode() == dns.rcode.NOERROR
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.SOA] and r.answer[0][0].serial == 4
    assert r.flags & dns.flags.AA and r.question[0].rdtype == dns.rdatatype.IXFR


def test_handle_unsigned_axfr_allowed_by_address_is_unsigned():
    primary = Primary(["127.0.0.0/8"])
    messages = messages_of(primary.ask(dp_query("AXFR")))
    assert all(decode(m).tsig is None for m in messages)
    assert receive(messages, AXFR) == expected_zone(zone_as_text(primary.versions[-1]))


REFUSALS = [
    # acl, query kwargs, tcp, client, expected rcode, reply signed
    (["key xfr-key"], dict(qtype="AXFR"), True, "127.0.0.1", dns.rcode.REFUSED, False),
    (["key xfr-key"], dict(qtype="AXFR", alg="hmac-sha512"), True, "127.0.0.1", dns.rcode.REFUSED, True),
    (["127.0.0.2 key xfr-key"], dict(qtype="AXFR", alg="hmac-sha256"), True, "127.0.0.1",
     dns.rcode.REFUSED, True),
    (["127.0.0.1 key xfr-key"], dict(qtype="AXFR"), True, "127.0.0.1", dns.rcode.REFUSED, False),
    (["127.0.0.1"], dict(qtype="AXFR"), False, "127.0.0.1", dns.rcode.REFUSED, False),  # AXFR over UDP
    (["key xfr-key"], dict(qtype="IXFR", serial=1), True, "127.0.0.1", dns.rcode.REFUSED, False),
    (["127.0.0.1"], dict(qtype="AXFR", qname="other.test."), True, "127.0.0.1", dns.rcode.NOTAUTH, False),
    (["127.0.0.1"], dict(qtype="IXFR"), True, "127.0.0.1", dns.rcode.FORMERR, False),  # no SOA
]


@pytest.mark.parametrize("acl,kw,tcp,client,rcode,signed", REFUSALS)
def test_handle_refusals(acl, kw, tcp, client, rcode, signed):
    primary = Primary(acl)
    q = dp_query(kw.pop("qtype"), **kw)
    outcome = primary.ask(q, tcp=tcp, client=client)
    assert isinstance(outcome.reply, bytes)
    keyring = ring(kw["alg"]) if signed else False  # False: a TSIG is kept, not checked
    r = dns.message.from_wire(outcome.reply, keyring=keyring, request_mac=q.mac if signed else b"")
    assert r.rcode() == rcode and r.had_tsig is signed and not r.answer
    assert r.id == q.id and r.question == q.question


def test_handle_no_acl_refuses():
    primary = Primary(["127.0.0.1"])
    primary.acls = {}
    r = dns.message.from_wire(primary.ask(dp_query("AXFR")).reply)
    assert r.rcode() == dns.rcode.REFUSED


def test_handle_unknown_key_is_notauth_badkey():
    primary = Primary(["key nosuch"])
    q = dp_query("AXFR", alg="hmac-sha256", keyname="nosuch.")
    outcome = primary.ask(q)
    assert isinstance(outcome.reply, bytes)
    r = dns.message.from_wire(outcome.reply, keyring=False)  # unsigned TSIG: empty MAC
    assert r.rcode() == dns.rcode.NOTAUTH and r.had_tsig and r.tsig_error == dns.rcode.BADKEY
    assert "tsig error" in outcome.log


def test_handle_bad_time_is_notauth_badtime():
    primary = Primary(["key xfr-key"])
    q = dp_query("AXFR", alg="hmac-sha256")
    outcome = primary.ask(q, now=int(time.time()) + 3600)  # our clock an hour ahead
    r = dns.message.from_wire(outcome.reply, keyring=False)
    assert r.rcode() == dns.rcode.NOTAUTH and r.tsig_error == dns.rcode.BADTIME


def test_handle_stream_is_lazy_snapshot():
    """The transfer streams the snapshot it started with, even if the zone set changes."""
    primary = Primary(["127.0.0.1"], zone_text=BIG)
    outcome = primary.ask(dp_query("AXFR"))
    first = next(outcome.reply)
    primary.zones = ZoneSet([build(small_text(9))])
    rest = list(outcome.reply)
    assert receive([first, *rest], AXFR) == expected_zone(BIG)


@pytest.mark.parametrize("qtype,tcp", [("AXFR", True), ("IXFR", True), ("IXFR", False)])
def test_handle_transfer_reply_has_opt_when_request_had_edns(qtype, tcp):
    primary = Primary(["127.0.0.1"])
    q = dp_query(qtype, serial=1 if qtype == "IXFR" else None)
    q.use_edns(0, payload=1232)
    outcome = primary.ask(q, tcp=tcp)
    first = outcome.reply if isinstance(outcome.reply, bytes) else next(outcome.reply)
    assert dns.message.from_wire(first, xfr=True).edns == 0


def test_handle_transfer_edns_version_1_is_badvers():
    primary = Primary(["127.0.0.1"])
    q = dp_query("AXFR")
    q.use_edns(1)
    outcome = primary.ask(q)
    first = outcome.reply if isinstance(outcome.reply, bytes) else next(outcome.reply)
    assert dns.message.from_wire(first, xfr=True).rcode() == dns.rcode.BADVERS
