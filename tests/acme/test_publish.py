"""The DNS-01 UPDATE messages and their reply checker (dns_suite.acme.publish), with dnspython as
the oracle: the UPDATE's wire form is read back by ``dns.message.from_wire`` with the keyring
(which verifies our TSIG), and replies are built by dnspython's ``make_response``."""

from __future__ import annotations

import base64
import time

import dns.message
import dns.name
import dns.opcode
import dns.rdata
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.tsig
import dns.update
import pytest

from dns_suite.acme.publish import build_update, check_reply, txt_rdata, txt_value
from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import TsigKey, sign

SECRET = bytes(range(32))
KEY = TsigKey.from_text("acme-key.", "hmac-sha256", base64.b64encode(SECRET).decode())
OTHER = TsigKey.from_text("acme-key.", "hmac-sha256", base64.b64encode(b"x" * 32).decode())
ZONE = Name.from_text("example.test.")
AT = Name.from_text("_acme-challenge.example.test.")
WWW = Name.from_text("_acme-challenge.www.example.test.")
V1, V2 = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0", "9ihDbjxTSpqc0yE1ayHfbKEGeTfT7CTNTvHMqF3I0m8"


def keyring(key: TsigKey = KEY) -> dict:
    return {dns.name.from_text(key.name.to_text()): dns.tsig.Key(key.name.to_text(), key.secret,
                                                                 key.algorithm.to_text())}


def now() -> int:
    return int(time.time())  # dnspython checks TSIG times against its own clock


# --------------------------------------------------------------------------- the UPDATE

@pytest.mark.parametrize(("add", "values", "expect"), [
    # wildcard + apex: two values at one name, in one UPDATE
    (True, [(AT, V1), (AT, V2)], {("_acme-challenge.example.test.", "IN", 60, V1),
                                  ("_acme-challenge.example.test.", "IN", 60, V2)}),
    # two names of one zone, one value given twice (sent once)
    (True, [(AT, V1), (WWW, V2), (AT, V1)], {("_acme-challenge.example.test.", "IN", 60, V1),
                                             ("_acme-challenge.www.example.test.", "IN", 60, V2)}),
    # deletes: class NONE, TTL 0, one value each (RFC 2136 §2.5.4)
    (False, [(AT, V1), (AT, V2)], {("_acme-challenge.example.test.", "NONE", 0, V1),
                                   ("_acme-challenge.example.test.", "NONE", 0, V2)}),
], ids=["add-two-values-one-name", "add-two-names", "delete-values"])
def test_update_read_back_by_dnspython(add, values, expect):
    upd = build_update(ZONE, values, add=add, key=KEY, ident=0x1234, now=now())
    msg = dns.message.from_wire(upd.wire, keyring=keyring())  # verifies the MAC and the time
    assert msg.id == 0x1234 and upd.ident == 0x1234
    assert msg.opcode() == dns.opcode.UPDATE and not msg.flags & 0x8000
    assert msg.had_tsig and msg.keyname == dns.name.from_text("acme-key.")
    assert msg.mac == upd.mac and len(upd.mac) == 32
    zone = msg.zone[0]  # the zone section: example.test. IN SOA
    assert (zone.name.to_text(), zone.rdtype, zone.rdclass) == ("example.test.", dns.rdatatype.SOA,
                                                                 dns.rdataclass.IN)
    assert not msg.prerequisite
    got = set()
    for rrset in msg.update:
        assert rrset.rdtype == dns.rdatatype.TXT
        for rd in rrset:
            got.add((rrset.name.to_text(), dns.rdataclass.to_text(rrset.deleting or rrset.rdclass),
                     rrset.ttl, b"".join(rd.strings).decode()))
    assert got == expect


def test_unsigned_update_and_ttl():
    upd = build_update(ZONE, [(AT, V1)], add=True, key=None, ident=7, now=0, ttl=10)
    msg = dns.message.from_wire(upd.wire)
    assert not msg.had_tsig and upd.mac == b"" and upd.key is None
    assert [rrset.ttl for rrset in msg.update] == [10]


def test_update_equals_dnspythons_own():
    """Byte for byte what dnspython's UpdateMessage writes (before the TSIG)."""
    ours = build_update(ZONE, [(AT, V1), (AT, V2)], add=True, key=None, ident=99, now=0)
    theirs = dns.update.UpdateMessage("example.test.", id=99)
    theirs.add("_acme-challenge.example.test.", 60, "TXT", f'"{V1}"')
    theirs.add("_acme-challenge.example.test.", 60, "TXT", f'"{V2}"')
    assert ours.wire == theirs.to_wire()
    delete = build_update(ZONE, [(AT, V1)], add=False, key=None, ident=99, now=0)
    theirs = dns.update.UpdateMessage("example.test.", id=99)
    theirs.delete("_acme-challenge.example.test.", "TXT", f'"{V1}"')
    assert delete.wire == theirs.to_wire()


@pytest.mark.parametrize(("values", "fragment"), [
    ([], "at least one"),
    ([(Name.from_text("_acme-challenge.example.net."), V1)], "not in zone"),
    ([(AT, "caf\u00e9")], "not ASCII"),
])
def test_update_refuses(values, fragment):
    with pytest.raises(WireError, match=fragment):
        build_update(ZONE, values, add=True, key=KEY, ident=1, now=0)


@pytest.mark.parametrize("value", ["", "a", "x" * 255, "y" * 256, "z" * 600])
def test_txt_rdata_round_trip(value):
    rdata = txt_rdata(value)
    assert txt_value(rdata) == value
    assert len(rdata) == len(value) + max(1, -(-len(value) // 255))
    parsed = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.TXT, rdata, 0, len(rdata))
    assert b"".join(parsed.strings).decode() == value


@pytest.mark.parametrize("rdata", [b"\x05abc", b"\x02\xff\xfe"])
def test_txt_value_malformed(rdata):
    assert txt_value(rdata) is None


# --------------------------------------------------------------------------- the reply checker

def _request(key=KEY):
    return build_update(ZONE, [(AT, V1)], add=True, key=key, ident=0x4242, now=now())


def _response(upd, *, rcode=dns.rcode.NOERROR, key=KEY, request_mac=None, ident=None, opcode=None,
              qr=True) -> bytes:
    """dnspython's reply to ``upd`` (signed with ``key`` over ``request_mac``, default ours)."""
    req = dns.message.from_wire(upd.wire, keyring=False)
    resp = dns.message.make_response(req)
    resp.set_rcode(rcode)
    if ident is not None:
        resp.id = ident
    if opcode is not None:
        resp.set_opcode(opcode)
    if not qr:
        resp.flags &= ~0x8000
    if key is None:
        resp.tsig = None
        resp.keyring = None
        resp.request_mac = b""
    else:
        resp.use_tsig(keyring(key), key.name.to_text())
        resp.request_mac = upd.mac if request_mac is None else request_mac
    return resp.to_wire()


def _tsig_error_reply(upd, error: int, *, signed: bool) -> bytes:
    """A NOTAUTH reply with TSIG error ``error``: unsigned (empty MAC) for BADKEY/BADSIG, signed
    for BADTIME (RFC 8945 §5.3.2)."""
    unsigned = bytearray(upd.wire[:upd.wire.rfind(b"\x08acme-key\x00")])
    unsigned[2] |= 0x80
    unsigned[3] = (unsigned[3] & 0xF0) | 9
    unsigned[10:12] = (int.from_bytes(unsigned[10:12], "big") - 1).to_bytes(2, "big")
    wire, _ = sign(bytes(unsigned), KEY, now=now(), request_mac=upd.mac, error=error, empty_mac=not signed)
    return wire


CHECK_CASES = [
    # (id, reply builder, ok, reason fragment)
    ("noerror-signed", lambda u: _response(u), True, ""),
    ("wrong-id", lambda u: _response(u, ident=0x4243), False, "ID"),
    ("not-a-response", lambda u: _response(u, qr=False), False, "ID"),
    ("opcode-query", lambda u: _response(u, opcode=dns.opcode.QUERY), False, "opcode QUERY"),
    ("refused", lambda u: _response(u, rcode=dns.rcode.REFUSED), False, "rcode REFUSED"),
    ("notauth", lambda u: _response(u, rcode=dns.rcode.NOTAUTH), False, "rcode NOTAUTH"),
    ("badkey", lambda u: _tsig_error_reply(u, 17, signed=False), False, "rcode NOTAUTH, TSIG error BADKEY"),
    ("badsig", lambda u: _tsig_error_reply(u, 16, signed=False), False, "rcode NOTAUTH, TSIG error BADSIG"),
    ("badtime", lambda u: _tsig_error_reply(u, 18, signed=True), False, "TSIG error BADTIME"),
    ("unsigned-noerror", lambda u: _response(u, key=None), False, "not signed"),
    ("signed-by-another-key", lambda u: _response(u, key=OTHER), False, "does not verify"),
    ("signed-over-another-request", lambda u: _response(u, request_mac=b"\0" * 32), False, "does not verify"),
    ("malformed", lambda u: b"\x42\x42\x80", False, "malformed"),
    ("trailing-junk", lambda u: _response(u) + b"\0", False, "malformed"),
]


@pytest.mark.parametrize(("build", "ok", "reason"), [c[1:] for c in CHECK_CASES], ids=[c[0] for c in CHECK_CASES])
def test_check_reply(build, ok, reason):
    upd = _request()
    verdict = check_reply(upd, build(upd), now=now())
    assert verdict.ok is ok, verdict
    assert reason in verdict.reason
    assert (verdict.reason == "") is ok


def test_check_reply_unsigned_exchange():
    upd = _request(key=None)
    assert check_reply(upd, _response(upd, key=None), now=0).ok
    signed = _response(upd, key=KEY, request_mac=b"")
    verdict = check_reply(upd, signed, now=now())
    assert not verdict.ok and "UPDATE was not" in verdict.reason  # a key we do not hold: not checkable


def test_check_reply_tsig_time():
    upd = _request()
    verdict = check_reply(upd, _response(upd), now=now() + 3600)  # our clock an hour ahead
    assert not verdict.ok and "BADTIME" in verdict.reason
