"""TSIG (RFC 8945) against dnspython's implementation, both directions, and the §5.2 checks."""

from __future__ import annotations

import hashlib
import hmac

import dns.message
import dns.name
import dns.tsig
import pytest

from dns_suite.wire.message import decode
from dns_suite.wire.tsig import (BADKEY, BADSIG, BADTIME, BADTRUNC, FORMERR, NOTAUTH, TsigKey,
                                 compute_mac, parse_rdata, sign, verify)

SECRET = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="
OTHER = "b3RoZXItb3RoZXItb3RoZXItb3RoZXItb3RoZXItMTI="
NOW = 1_800_000_000
DNSPY_ALG = {"hmac-sha1": dns.tsig.HMAC_SHA1, "hmac-sha256": dns.tsig.HMAC_SHA256,
             "hmac-sha512": dns.tsig.HMAC_SHA512, "hmac-md5": dns.tsig.HMAC_MD5,
             "hmac-sha224": dns.tsig.HMAC_SHA224, "hmac-sha384": dns.tsig.HMAC_SHA384}


def dnspy_key(name: str, alg: str, secret: str = SECRET) -> dns.tsig.Key:
    return dns.tsig.Key(name, secret, DNSPY_ALG[alg])


def signed(name: str, alg: str, secret: str = SECRET, time_signed: int = NOW, fudge: int = 300) -> bytes:
    """A query signed at a fixed time (our signer; it is checked against dnspython above/below)."""
    key = TsigKey.from_text(name, alg, secret)
    unsigned = dns.message.make_query("www.example.test.", "A", id=4321).to_wire()
    return sign(unsigned, key, now=time_signed, fudge=fudge)[0]


def our_verdict(wire: bytes, keys, now=NOW):
    msg = decode(wire)
    rec = parse_rdata(msg.tsig.owner, msg.tsig.rdata)
    return verify(wire, msg.tsig_offset, rec, {k.name.key: k for k in keys}, now=now)


ALGS = ["hmac-md5", "hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512"]


@pytest.mark.parametrize("alg", ALGS)
def test_ours_signs_dnspython_validates(alg):
    key = TsigKey.from_text("key.example.", alg, SECRET)
    import time as _time
    now = int(_time.time())  # dnspython validates against its own clock
    signed, mac = sign(dns.message.make_query("www.example.test.", "A").to_wire(), key, now=now)
    ring = {dns.name.from_text("key.example."): dnspy_key("key.example.", alg)}
    msg = dns.message.from_wire(signed, keyring=ring)
    assert msg.had_tsig and msg.mac == mac


@pytest.mark.parametrize("alg", ALGS)
def test_dnspython_signs_ours_verifies(alg):
    import time as _time
    now = int(_time.time())
    q = dns.message.make_query("www.example.test.", "A")
    q.use_tsig(dnspy_key("key.example.", alg))
    verdict = our_verdict(q.to_wire(), [TsigKey.from_text("key.example.", alg, SECRET)], now=now)
    assert verdict.ok and verdict.signed_reply


# (case, signer key name, signer alg, signer secret, time signed, our key text, expected rcode, error)
CASES = [
    ("right key", "k.test.", "hmac-sha256", SECRET, NOW, ("k.test", "hmac-sha256"), 0, 0),
    ("unknown key", "other.test.", "hmac-sha256", SECRET, NOW, ("k.test", "hmac-sha256"), NOTAUTH, BADKEY),
    ("algorithm mismatch", "k.test.", "hmac-sha1", SECRET, NOW, ("k.test", "hmac-sha256"), NOTAUTH, BADKEY),
    ("wrong secret", "k.test.", "hmac-sha256", OTHER, NOW, ("k.test", "hmac-sha256"), NOTAUTH, BADSIG),
    ("old time right secret", "k.test.", "hmac-sha256", SECRET, NOW - 3600, ("k.test", "hmac-sha256"),
     NOTAUTH, BADTIME),
    ("old time wrong secret", "k.test.", "hmac-sha256", OTHER, NOW - 3600, ("k.test", "hmac-sha256"),
     NOTAUTH, BADSIG),
    ("future time inside fudge", "k.test.", "hmac-sha256", SECRET, NOW + 299, ("k.test", "hmac-sha256"), 0, 0),
    ("algorithm spelled HMAC-SHA256.", "k.test.", "hmac-sha256", SECRET, NOW, ("k.test", "HMAC-SHA256."), 0, 0),
    ("key name in capitals", "K.TEST.", "hmac-sha256", SECRET, NOW, ("k.test", "hmac-sha256"), 0, 0),
    ("our key in capitals", "k.test.", "hmac-sha256", SECRET, NOW, ("K.Test.", "hmac-sha256"), 0, 0),
    ("sha1", "k.test.", "hmac-sha1", SECRET, NOW, ("k.test", "hmac-sha1"), 0, 0),
    ("sha512", "k.test.", "hmac-sha512", SECRET, NOW, ("k.test", "hmac-sha512"), 0, 0),
]


@pytest.mark.parametrize("case,name,alg,secret,when,ours,rcode,error", CASES, ids=[c[0] for c in CASES])
def test_verify_table(case, name, alg, secret, when, ours, rcode, error):
    wire = signed(name, alg, secret, when)
    verdict = our_verdict(wire, [TsigKey.from_text(ours[0], ours[1], SECRET)])
    assert (verdict.rcode, verdict.error) == (rcode, error)
    assert verdict.signed_reply == (error not in (BADKEY, BADSIG))


def _truncated(mac_len: int) -> bytes:
    key = TsigKey.from_text("k.test.", "hmac-sha256", SECRET)
    unsigned = dns.message.make_query("www.example.test.", "A", id=7).to_wire()
    signed, mac = sign(unsigned, key, now=NOW)
    msg = decode(signed)
    rec = parse_rdata(msg.tsig.owner, msg.tsig.rdata)
    from dataclasses import replace
    return unsigned[:10] + (1).to_bytes(2, "big") + unsigned[12:] + replace(rec, mac=mac[:mac_len]).rr_wire()


@pytest.mark.parametrize("mac_len,min_mac,rcode,error", [
    (32, 0, 0, 0),            # full MAC
    (16, 16, 0, 0),           # truncated to what the key allows (hmac-sha256-128 style)
    (16, 0, NOTAUTH, BADTRUNC),  # truncated below local policy (full length by default)
    (8, 0, FORMERR, 0),       # below max(10, 32/2): RFC 8945 §5.2.2.1 rule 3
])
def test_truncation(mac_len, min_mac, rcode, error):
    key = TsigKey.from_text("k.test.", "hmac-sha256", SECRET, min_mac=min_mac)
    verdict = our_verdict(_truncated(mac_len), [key])
    assert (verdict.rcode, verdict.error) == (rcode, error)


def test_response_signed_with_request_mac_validates_in_dnspython():
    import time as _time
    now = int(_time.time())
    alg = "hmac-sha256"
    q = dns.message.make_query("www.example.test.", "A")
    q.use_tsig(dnspy_key("k.test.", alg))
    qwire = q.to_wire()
    verdict = our_verdict(qwire, [TsigKey.from_text("k.test.", alg, SECRET)], now=now)
    unsigned = dns.message.make_response(dns.message.from_wire(qwire, keyring=False)).to_wire()
    signed, _ = sign(unsigned, verdict.key, now=now, request_mac=verdict.record.mac)
    ring = {dns.name.from_text("k.test."): dnspy_key("k.test.", alg)}
    checked = dns.message.from_wire(signed, keyring=ring, request_mac=q.mac)
    assert checked.had_tsig


def test_mac_is_hmac_over_the_rfc_8945_input():
    key = TsigKey.from_text("K.Test.", "hmac-sha256", SECRET)
    unsigned = bytes.fromhex("abcd 0000 0001 0000 0000 0000".replace(" ", "")) + b"\0" + bytes.fromhex("00010001")
    signed, mac = sign(unsigned, key, now=NOW, fudge=300)
    msg = decode(signed)
    rec = parse_rdata(msg.tsig.owner, msg.tsig.rdata)
    text = (unsigned + b"\x01k\x04test\x00" + bytes.fromhex("00ff00000000") + b"\x0bhmac-sha256\x00"
            + NOW.to_bytes(6, "big") + (300).to_bytes(2, "big") + bytes(4))
    assert mac == hmac.new(key.secret, text, hashlib.sha256).digest() == compute_mac(key, unsigned, rec)
