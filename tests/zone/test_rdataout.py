"""Rdata text without dnspython (zone/rdataout.py): dnspython's own text is the oracle.

Each case is rdata in presentation form; dnspython turns it into wire octets, and the fast text
of those octets must equal dnspython's ``to_text()`` of them, byte for byte. Rdata of the wrong
shape must be refused (None), so that the caller falls back to dnspython. Then a whole zone of
these records (owners with escapes too) is written by ``zone_to_text``, compared with the text
the dnspython-only writer gave, and read back: the same records.
"""

from __future__ import annotations

import random
from pathlib import Path

import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import pytest

from dns_suite.wire.name import Name
from dns_suite.zone import loader
from dns_suite.zone.loader import load_zone, zone_to_text
from dns_suite.zone.rdataout import FAST, fast_text, name_text, owner_text
from dns_suite.zone.rdatatext import rdata_to_text

ORIGIN = "x.test."
NAMES = [".", "x.test.", "WWW.Example.COM.", r"a\.b.x.test.", r"a\ b.x.test.", r"\"q\".x.test.",
         r"\(\)\;\@\$\\.x.test.", r"\000\001\031\127\128\255.x.test.", "a-b_c*.x.test.",
         r"~!#%&'+,/:<=>?[]^`{|}.x.test.", "a" * 63 + ".x.test.", ".".join(["abcd"] * 50) + "."]
TEXT = {
    "A": ["0.0.0.0", "192.0.2.1", "255.255.255.255"],
    "AAAA": ["::", "::1", "1::", "2001:db8::1", "2001:db8:0:0:1:0:0:1", "2001:0:0:1:0:0:0:1",
             "1:0:1:0:1:0:1:0", "1:2:3:4:5:6:7:8", "::ffff:192.0.2.1", "::192.0.2.1", "::1:0",
             "::ffff:0:0", "::ffff:0:1", "0:0:0:0:0:1:0:1", "fe80::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
             "0:1::", "1:0:0:2:0:0:3:4", "::ffff:1:2:3", "0:0:0:0:1::"],
    "NS": NAMES, "CNAME": NAMES, "PTR": NAMES, "DNAME": NAMES,
    "MX": [f"{p} {n}" for p, n in zip([0, 10, 65535] * 4, NAMES)],
    "SRV": [f"{p} {w} {port} {n}" for (p, w, port), n in zip([(0, 0, 0), (1, 2, 3), (65535, 65535, 65535)] * 4,
                                                            NAMES)],
    "SOA": [f"{m} {r} {s} 7200 3600 1209600 300" for m, r, s in
            zip(NAMES, reversed(NAMES), [0, 1, 2024010101, 4294967295] * 3)],
    "TXT": ['""', '"" ""', '"plain text"', 'a b c', r'"quote \" inside"', r'"back\\slash"',
            r'"\\\""', r'"\000\001\010\031\127\128\200\255"', '"caf\\233"', '"; ( ) @ $ . tab\\009"',
            '"' + "x" * 255 + '"', '"' + "\\255" * 255 + '"', " ".join(f'"s{i}"' for i in range(40)),
            r'"~ !#[]{}"'],
    "SPF": ['"v=spf1 -all"', '"a\\"b" "c\\\\d"'],
}
CASES = [(t, text) for t in TEXT for text in TEXT[t]]


def wire_of(rrtype: str, text: str) -> bytes:
    return dns.rdata.from_text("IN", rrtype, text, dns.name.root, relativize=False).to_wire()


def oracle(rrtype: int, rdata: bytes) -> str:
    return dns.rdata.from_wire(dns.rdataclass.IN, rrtype, rdata, 0, len(rdata)).to_text()


@pytest.mark.parametrize("rrtype,text", CASES, ids=[f"{t}-{i}" for i, (t, _) in enumerate(CASES)])
def test_fast_text_is_dnspython_text(rrtype: str, text: str) -> None:
    code = dns.rdatatype.from_text(rrtype)
    rdata = wire_of(rrtype, text)
    assert code in FAST
    assert fast_text(1, code, rdata) == oracle(code, rdata)


def test_random_aaaa_and_txt() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        groups = [rng.choice((0, 0, 0, 1, 0xFFFF, rng.randrange(65536))) for _ in range(8)]
        rdata = b"".join(g.to_bytes(2, "big") for g in groups)
        assert fast_text(1, 28, rdata) == oracle(28, rdata), rdata.hex()
        strings = [bytes(rng.choice(b'ab "\\\x00\x7f\x80\xff;') for _ in range(rng.randrange(6)))
                   for _ in range(rng.randrange(1, 4))]
        rdata = b"".join(bytes((len(s),)) + s for s in strings)
        assert fast_text(1, 16, rdata) == oracle(16, rdata), rdata


BAD = [(1, b"\x01\x02\x03"), (1, b"\x01\x02\x03\x04\x05"), (28, bytes(15)), (28, bytes(17)),
       (2, b""), (2, b"\x01a"), (2, b"\x01a\x00\x00"), (2, b"\x02a\x00"), (2, b"\xc0\x00"),
       (2, b"\x40" + b"a" * 64 + b"\x00"), (2, b"\x3f" + b"a" * 63 + b"\x00\x00"),
       (2, (b"\x3f" + b"a" * 63) * 4 + b"\x01a\x00"),  # 258 octets
       (15, b"\x00\x0a"), (15, b"\x00\x0a\x01a"), (33, b"\x00" * 6), (33, b"\x00" * 5 + b"\x00"),
       (6, b"\x00\x00" + bytes(19)), (6, b"\x00\x00" + bytes(21)), (6, b"\x01a\x00"),
       (16, b""), (16, b"\x05abc"), (16, b"\x01a\x02b")]


@pytest.mark.parametrize("rrtype,rdata", BAD, ids=[f"{t}-{i}" for i, (t, _) in enumerate(BAD)])
def test_wrong_shape_refused(rrtype: int, rdata: bytes) -> None:
    assert fast_text(1, rrtype, rdata) is None
    assert rdata_to_text(1, rrtype, rdata)  # dnspython, or the RFC 3597 form


def test_other_classes_and_types_left_to_dnspython() -> None:
    assert fast_text(3, 1, b"\x01a\x00\x00\x01") is None  # CH A: a name and an address
    assert fast_text(1, 13, b"\x01a\x01b") is None  # HINFO


@pytest.mark.parametrize("text", NAMES)
def test_owner_text_is_name_to_text(text: str) -> None:
    name = Name.from_text(text)
    assert owner_text(name.wire) == name.to_text()
    assert name_text(name.wire) == dns.name.from_text(text).to_text()


def _labels(rng: random.Random) -> str:
    alphabet = ["a", "b", "A", r"\000", r"\001", r"\255", "0"]
    return ".".join("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 4)))
                    for _ in range(rng.randrange(1, 4)))


def test_canonical_key_orders_as_name() -> None:
    rng = random.Random(3)
    origin = Name.from_text(ORIGIN)
    names = {Name.from_text(_labels(rng), origin).key for _ in range(2000)} | {origin.key}
    want = sorted(names, key=lambda k: Name(k, k).canonical_key())
    assert sorted(names, key=lambda k: loader._canonical_key(k, origin.key)) == want
    assert sorted(names, key=loader._canonical_key) == want
    with pytest.raises(ValueError):
        loader._canonical_key(Name.from_text("other.test.").key, origin.key)


def zone_body() -> str:
    rng = random.Random(11)
    owners = ["@", "www", r"a\.b", r"a\ b", r"\000", r"\000a", "a", r"a\000", r"\255.sub", "Mixed.Case",
              r"q\"uote", r"\@\$\;", "*.wild"] + [_labels(rng) for _ in range(40)]
    lines = [f"$ORIGIN {ORIGIN}", "$TTL 300", "@ SOA ns.x.test. h.x.test. 5 7200 3600 1209600 300",
             "@ NS ns", "ns A 192.0.2.53", "@ CAA 0 issue \"ca.example\"", "@ HINFO \"cpu\" \"os\""]
    skip = {"NS", "SOA", "CNAME", "DNAME"}  # NS makes cuts (glue), one SOA, CNAME and DNAME stand alone
    for i, (rrtype, text) in enumerate((t, x) for t, x in CASES if t not in skip):
        lines.append(f"{owners[i % len(owners)]} {rrtype} {text}")
    for i, (rrtype, text) in enumerate((t, x) for t, x in CASES if t in ("CNAME", "DNAME")):
        lines.append(f"{rrtype.lower()}{i} {rrtype} {text}")
    return "\n".join(lines) + "\n"


def records(zone) -> set:
    return {(r.wire, r.rrtype, r.ttl, rd) for first in zone.nodes.values() for r in first.chain()
            for rd in r.rdatas}


def test_zone_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src.zone"
    src.write_text(zone_body())
    result = load_zone(ORIGIN, str(src))
    assert result.zone is not None, result.errors
    zone = result.zone
    assert zone.record_count() == len(zone_body().splitlines()) - 2 and not result.problems
    text = "".join(zone_to_text(zone))
    oracle_text = "".join(f"{r.owner.to_text()}\t{r.ttl}\tIN\t{dns.rdatatype.to_text(r.rrtype)}\t"
                          f"{rdata_to_text(1, r.rrtype, rd)}\n" for r in zone.rrsets() for rd in r.rdatas)
    assert text == oracle_text
    out = tmp_path / "out.zone"
    out.write_bytes(text.encode("utf-8", "surrogateescape"))
    back = load_zone(ORIGIN, str(out))
    assert back.zone is not None and not back.errors, back.errors
    assert records(back.zone) == records(zone)
    assert "".join(zone_to_text(back.zone)) == text
