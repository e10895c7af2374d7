"""Encoding: name compression (RFC 1035 §4.1.4, only in the types RFC 3597 §4 allows), case,
truncation by whole RRsets (RFC 2181 §9, RFC 9471), extended rcodes (RFC 6891 §6.1.3)."""

from __future__ import annotations

import dataclasses
import struct

import dns.message
import dns.rcode
import pytest

from dns_suite.wire.edns import Edns, EdnsOption
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message, Question, decode, encode
from dns_suite.wire.name import Name, decode_name
from dns_suite.wire.rdata import COMPRESSIBLE, LAYOUTS, NAME_TYPES
from dns_suite.wire.types import Flag, RRType

EX = Name.from_text("example.com.")
TARGET = Name.from_text("host.example.com.")
IN, ANY = 1, 255
TXT, MX, A, AAAA, TSIG = 16, 15, 1, 28, 250


def n(text: str) -> Name:
    return Name.from_text(text)


def rr(owner: Name, rrtype: int, rdata: bytes, ttl: int = 300, rrclass: int = IN) -> RR:
    return RR(owner=owner, rrtype=rrtype, rrclass=rrclass, ttl=ttl, rdata=rdata)


def query_for(qname: Name = EX, qtype: int = A, **kwargs) -> Message:
    return Message(id=0x4242, flags=Flag.QR | Flag.AA,
                   question=(Question(qname=qname, qtype=qtype),), **kwargs)


def records(wire: bytes) -> list[tuple[str, int, int, bytes]]:
    """(section, owner offset, type, rdata as on the wire) of every RR, walking the wire."""
    counts = struct.unpack_from("!4H", wire, 4)
    pos = 12
    for _ in range(counts[0]):
        _, pos = decode_name(wire, pos, len(wire))
        pos += 4
    out = []
    for section, count in zip(("answer", "authority", "additional"), counts[1:]):
        for _ in range(count):
            start = pos
            _, pos = decode_name(wire, pos, len(wire))
            rrtype, _, _, rdlength = struct.unpack_from("!HHIH", wire, pos)
            pos += 10
            out.append((section, start, rrtype, wire[pos:pos + rdlength]))
            pos += rdlength
    return out


# --- compression ---------------------------------------------------------------------------

def test_second_occurrence_is_a_pointer() -> None:
    m = query_for(answer=(rr(EX, A, b"\xc0\x00\x02\x01"), rr(n("www.example.com."), A, bytes(4))))
    wire = encode(m)
    (_, first, _, _), (_, second, _, _) = records(wire)
    assert wire[first:first + 2] == b"\xc0\x0c"  # the owner is the question name
    assert wire[second:second + 6] == b"\x03www\xc0\x0c"
    assert decode(wire) == m


def test_compressible_types_are_exactly_rfc3597() -> None:
    """RFC 3597 §4: only the RFC 1035 types NS MD MF CNAME SOA MB MG MR PTR MINFO MX."""
    rfc1035 = {"NS", "MD", "MF", "CNAME", "SOA", "MB", "MG", "MR", "PTR", "MINFO", "MX"}
    assert {RRType(t).name for t in COMPRESSIBLE} == rfc1035


def _rdata_with_names(rrtype: int, target: Name) -> bytes:
    """Rdata valid for the type's layout with every name ``target``."""
    out = bytearray()
    for item in LAYOUTS[rrtype]:
        if isinstance(item, int):
            out += bytes(item)
        elif item in "nN":
            out += target.wire
        elif item in "sS":
            out += b"\x01x"
        elif item == "x":
            out += b"\x00\x00"
        elif item == "R":
            out += b"\x01"
    return bytes(out)


NAME_TYPE_CASES = sorted(t for t in NAME_TYPES if t != TSIG)


@pytest.mark.parametrize("rrtype", NAME_TYPE_CASES, ids=[RRType(t).to_text() for t in NAME_TYPE_CASES])
def test_names_in_rdata_compressed_only_where_allowed(rrtype: int) -> None:
    rdata = _rdata_with_names(rrtype, TARGET)
    m = query_for(answer=(rr(EX, rrtype, rdata),))
    wire = encode(m)
    [(_, owner_at, _, on_wire)] = records(wire)
    assert wire[owner_at:owner_at + 2] == b"\xc0\x0c"  # owners are always compressed
    if rrtype in COMPRESSIBLE:
        assert len(on_wire) < len(rdata) and b"\xc0\x0c" in on_wire
    else:
        assert on_wire == rdata, "SRV, DNAME, SVCB/HTTPS, NAPTR, ... are written uncompressed"
    assert decode(wire) == m


@pytest.mark.parametrize("rrtype", [33, 39, 64, 65, 35, 47, 46])
def test_uncompressed_types_even_when_name_repeats(rrtype: int) -> None:
    """A name already written (as owner) is still written in full inside these rdata."""
    rdata = _rdata_with_names(rrtype, EX)
    wire = encode(query_for(answer=(rr(EX, rrtype, rdata), rr(EX, rrtype, rdata))))
    assert [r[3] for r in records(wire)] == [rdata, rdata]


def test_tsig_and_opt_written_uncompressed() -> None:
    tsig_rdata = (n("hmac-sha256.").wire + bytes(8) + b"\x00\x00" + b"\x42\x42" + bytes(4))
    m = query_for(additional=(), edns=Edns(), tsig=rr(EX, TSIG, tsig_rdata, ttl=0, rrclass=ANY))
    wire = encode(m)
    *_, (_, opt_at, opt_type, _), (_, tsig_at, _, on_wire) = records(wire)
    assert opt_type == 41 and wire[opt_at] == 0
    assert wire[tsig_at:tsig_at + len(EX.wire)] == EX.wire
    assert on_wire == tsig_rdata
    assert decode(wire).tsig == m.tsig


def test_question_case_kept_octet_for_octet() -> None:
    qname = n("WwW.ExAmPlE.CoM.")
    m = query_for(qname, answer=(rr(n("www.example.com."), 5, n("MAIL.example.COM.").wire),
                                 rr(n("mail.EXAMPLE.com."), A, bytes(4))))
    wire = encode(m)
    assert wire[12:12 + len(qname.wire)] == qname.wire
    got = decode(wire)
    assert got.question[0].qname.wire == qname.wire
    # The answer owner is a pointer to the question: it reads back with the question's case.
    assert got.answer[0].owner.wire == qname.wire
    assert got == dataclasses.replace(m, answer=(
        rr(n("www.example.com."), 5, n("MAIL.ExAmPlE.CoM.").wire), m.answer[1]))


# --- truncation ----------------------------------------------------------------------------

def txt(owner: Name, size: int = 200) -> RR:
    return rr(owner, TXT, bytes((size - 1,)) + b"t" * (size - 1))


def opaque(owner: Name, size: int = 200) -> RR:
    return rr(owner, 65280, b"o" * size)


MAIL = n("mail.example.com.")
V6 = n("v6.example.com.")
MX_RR = rr(EX, MX, b"\x00\x0a" + MAIL.wire)
AAAA_SET = tuple(rr(MAIL, AAAA, bytes(15) + bytes((i,))) for i in range(20))  # 20 * 28 octets
GLUE = rr(MAIL, A, b"\xc0\x00\x02\x01")
TSIG_RR = rr(n("key."), TSIG, n("hmac-sha256.").wire + bytes(8) + b"\x00\x00" + b"\x42\x42"
             + bytes(4), ttl=0, rrclass=ANY)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Cut:
    """One truncation case: the message, the limit, and the counts expected back."""

    name: str
    msg: Message
    max_size: int = 512
    required_additional: int = 0
    reserve: int = 0
    tc: bool
    answer: int
    authority: int
    additional: int


CUTS = [
    Cut(name="everything fits", msg=query_for(answer=(txt(EX),), additional=(GLUE,)),
        tc=False, answer=1, authority=0, additional=1),
    Cut(name="answer RRset too big: empty answer",
        msg=query_for(answer=(txt(EX), txt(EX), txt(EX))), tc=True, answer=0, authority=0,
        additional=0),
    Cut(name="answer cut at an RRset boundary",
        msg=query_for(answer=(txt(EX), opaque(EX), opaque(EX)), additional=(GLUE,)),
        tc=True, answer=1, authority=0, additional=0),
    Cut(name="authority too big: TC, answer kept",
        msg=query_for(answer=(txt(EX),), authority=(opaque(EX), opaque(EX)), additional=(GLUE,)),
        tc=True, answer=1, authority=0, additional=0),
    Cut(name="optional additional dropped without TC",
        msg=query_for(qtype=MX, answer=(MX_RR,), additional=AAAA_SET),
        tc=False, answer=1, authority=0, additional=0),
    Cut(name="required additional (glue) dropped: TC",
        msg=query_for(qtype=MX, answer=(MX_RR,), additional=AAAA_SET), required_additional=20,
        tc=True, answer=1, authority=0, additional=0),
    Cut(name="optional RRset skipped, a later one fits",
        msg=query_for(qtype=MX, answer=(MX_RR,), additional=AAAA_SET + (GLUE,)),
        tc=False, answer=1, authority=0, additional=1),
    Cut(name="required glue kept, optional RRset dropped",
        msg=query_for(qtype=MX, answer=(MX_RR,), additional=(GLUE,) + AAAA_SET),
        required_additional=1, tc=False, answer=1, authority=0, additional=1),
    Cut(name="required RRset partly required: TC after the glue",
        msg=query_for(qtype=MX, answer=(MX_RR,), additional=(GLUE,) + AAAA_SET),
        required_additional=2, tc=True, answer=1, authority=0, additional=1),
    Cut(name="OPT kept when truncated",
        msg=query_for(answer=(txt(EX), txt(EX), txt(EX)), edns=Edns(payload=512, do=True)),
        tc=True, answer=0, authority=0, additional=0),
    Cut(name="OPT kept when optional data is dropped",
        msg=query_for(qtype=MX, answer=(MX_RR,), additional=AAAA_SET, edns=Edns(payload=512)),
        tc=False, answer=1, authority=0, additional=0),
    Cut(name="OPT and TSIG kept when truncated",
        msg=query_for(answer=(txt(EX), txt(EX), txt(EX)), edns=Edns(), tsig=TSIG_RR),
        tc=True, answer=0, authority=0, additional=0),
    Cut(name="reserve leaves room for a TSIG",
        msg=query_for(answer=(txt(EX),)), max_size=300, reserve=100,
        tc=True, answer=0, authority=0, additional=0),
    Cut(name="name first seen in a dropped RRset is written in full later",
        msg=query_for(answer=(txt(EX),), additional=tuple(rr(V6, AAAA, bytes(16))
                                                         for _ in range(12)) + (rr(V6, A, bytes(4)),)),
        tc=False, answer=1, authority=0, additional=1),
]


@pytest.mark.parametrize("cut", CUTS, ids=[c.name for c in CUTS])
def test_truncation(cut: Cut) -> None:
    wire = encode(cut.msg, cut.max_size, required_additional=cut.required_additional,
                  reserve=cut.reserve)
    assert len(wire) <= cut.max_size - cut.reserve
    got = decode(wire)
    assert bool(got.flags & Flag.TC) is cut.tc
    assert (len(got.answer), len(got.authority), len(got.additional)) == (
        cut.answer, cut.authority, cut.additional)
    assert got.answer == cut.msg.answer[:cut.answer]
    assert got.authority == cut.msg.authority[:cut.authority]
    assert set(got.additional) <= set(cut.msg.additional)
    assert got.edns == cut.msg.edns and got.tsig == cut.msg.tsig
    assert got.question == cut.msg.question and got.id == cut.msg.id
    if cut.msg.edns is not None:  # OPT, then TSIG, close the message
        kinds = [t for _, _, t, _ in records(wire)][-2 if cut.msg.tsig else -1:]
        assert kinds[0] == 41
    if not cut.tc and len(got.additional) == len(cut.msg.additional) and got == cut.msg:
        assert wire == encode(cut.msg)


def test_header_question_opt_alone_too_big() -> None:
    with pytest.raises(WireError):
        encode(query_for(edns=Edns(options=(EdnsOption(code=12, data=bytes(600)),))), 512)


# --- header fields and the extended rcode ------------------------------------------------------

@pytest.mark.parametrize("rcode", [16, 17, 23, 4095])
def test_rcode_over_15_without_edns_is_an_error(rcode: int) -> None:
    with pytest.raises(WireError):
        encode(query_for(rcode=rcode))


@pytest.mark.parametrize("msg", [
    query_for(rcode=4096, edns=Edns()),
    dataclasses.replace(query_for(), id=65536),
    dataclasses.replace(query_for(), opcode=16),
    query_for(edns=Edns(version=256)),
    query_for(edns=Edns(z=0x8000)),
    query_for(edns=Edns(payload=65536)),
    query_for(answer=(rr(EX, A, bytes(4), ttl=2**32),)),
    query_for(answer=(rr(EX, 70000, b""),)),
    query_for(answer=(rr(EX, 65280, bytes(65536)),)),
], ids=["rcode 4096", "id 65536", "opcode 16", "EDNS version 256", "Z 0x8000",
        "payload 65536", "TTL 2**32", "type 70000", "rdata of 65536"])
def test_field_out_of_range_is_a_wire_error(msg: Message) -> None:
    with pytest.raises(WireError):
        encode(msg)


@pytest.mark.parametrize("rcode, header_nibble, ext", [(16, 0, 1), (23, 7, 1), (4095, 15, 255),
                                                       (3, 3, 0)])
def test_extended_rcode_in_opt_ttl(rcode: int, header_nibble: int, ext: int) -> None:
    wire = encode(query_for(rcode=rcode, edns=Edns(version=0, do=True)))
    assert wire[3] & 0xF == header_nibble
    *_, (_, opt_at, opt_type, _) = records(wire)
    assert opt_type == 41
    ttl = struct.unpack_from("!I", wire, opt_at + 1 + 4)[0]
    assert ttl >> 24 == ext and ttl & 0x8000
    assert decode(wire).rcode == rcode
    assert dns.message.from_wire(wire).rcode() == rcode


def test_badvers_seen_by_dnspython() -> None:
    wire = encode(query_for(rcode=16, edns=Edns(version=0)))
    assert dns.message.from_wire(wire).rcode() == dns.rcode.BADVERS


def test_flags_opcode_id_in_header() -> None:
    m = Message(id=0xBEEF, flags=Flag.QR | Flag.AA | Flag.RD | Flag.RA | Flag.AD | Flag.CD,
                opcode=4, rcode=5)
    wire = encode(m)
    assert wire[:4] == b"\xbe\xef" + struct.pack("!H", 0x8000 | 4 << 11 | 0x0400 | 0x0100 | 0x80
                                                 | 0x20 | 0x10 | 5)
    assert decode(wire) == m
