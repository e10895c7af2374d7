"""Hand-built malformed DNS messages, each with the offset where the codec must report the fault.

Reusable by service tests (FORMERR or drop): ``MALFORMED`` is a list of
``(name, data, offset)``; ``CASES`` holds the same with the expected reason substring; an entry
whose ``answerable(data)`` is true has a readable header of a query (12 octets or more, QR=0),
so a server answers it with FORMERR; the others a server drops (RFC 1035 §4.1.1; a response
is never answered).

Layout used by most entries (offsets in octets)::

    0..11   header                      (HEADER_END = 12)
    12..24  question name example.com.  (QNAME = 12)
    25..28  QTYPE, QCLASS               (Q_END = 29: the first RR starts here)
    29..30  owner: pointer to 12        (OWNER_PTR)
    31..40  TYPE CLASS TTL RDLENGTH     (RDLENGTH at 39)
    41..    rdata                       (RDATA = 41)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

HEADER_END = 12
QNAME = 12
EX = b"\x07example\x03com\x00"                 # 13 octets
Q_END = QNAME + len(EX) + 4                     # 29
OWNER_PTR = b"\xc0\x0c"
RDLENGTH_AT = Q_END + len(OWNER_PTR) + 8        # 39
RDATA = RDLENGTH_AT + 2                          # 41

A, NS, CNAME, SOA, HINFO, MX, TXT, AAAA, SRV = 1, 2, 5, 6, 13, 15, 16, 28, 33
DNAME, OPT, RRSIG, NSEC, NSEC3, TSIG = 39, 41, 46, 47, 50, 250
IN, NONE, ANY = 1, 254, 255
QR, RD = 0x8000, 0x0100
UPDATE = 5


def header(qd: int = 1, an: int = 0, ns: int = 0, ar: int = 0, *, flags: int = RD,
           opcode: int = 0, ident: int = 0x1234) -> bytes:
    """A 12-octet header (RFC 1035 §4.1.1)."""
    return struct.pack("!6H", ident, flags | opcode << 11, qd, an, ns, ar)


def question(name: bytes = EX, qtype: int = A, qclass: int = IN) -> bytes:
    return name + struct.pack("!HH", qtype, qclass)


def rr(rrtype: int, rdata: bytes = b"", *, owner: bytes = OWNER_PTR, rrclass: int = IN,
       ttl: int = 3600, rdlength: int | None = None) -> bytes:
    """One RR (RFC 1035 §4.1.3); ``rdlength`` overrides the true length."""
    n = len(rdata) if rdlength is None else rdlength
    return owner + struct.pack("!HHIH", rrtype, rrclass, ttl, n) + rdata


def opt(rdata: bytes = b"", *, owner: bytes = b"\x00", payload: int = 1232) -> bytes:
    """An OPT pseudo-RR (RFC 6891 §6.1.2)."""
    return rr(OPT, rdata, owner=owner, rrclass=payload, ttl=0)


HMAC_SHA256 = b"\x0bhmac-sha256\x00"
TSIG_RDATA = (HMAC_SHA256 + b"\x00\x00\x65\x00\x00\x00" + b"\x01\x2c"
              + struct.pack("!H", 32) + bytes(32) + b"\x12\x34" + b"\x00\x00" + b"\x00\x00")


def tsig(rdata: bytes = TSIG_RDATA) -> bytes:
    """A TSIG RR (RFC 8945 §4.2) with a zero MAC; only its position matters here."""
    return rr(TSIG, rdata, owner=b"\x03key\x00", rrclass=ANY, ttl=0)


A_RR = rr(A, b"\xc0\x00\x02\x01")               # 16 octets
QUERY = header() + question()                    # 29 octets


def long_label_name(count: int, size: int = 63) -> bytes:
    return (bytes((size,)) + b"x" * size) * count + b"\x00"


def _pointer_chain() -> bytes:
    """Root question at 12; an opaque RR whose rdata (at 28) holds 16 pointers, each to the one
    before and the first to 12; then an RR whose owner points to the last: 17 hops."""
    ptrs = b"".join(struct.pack("!H", 0xC000 | (12 if k == 0 else 28 + 2 * (k - 1)))
                    for k in range(16))
    return (header(an=2) + question(b"\x00") + rr(65280, ptrs, owner=b"\x00")
            + rr(A, b"\x7f\x00\x00\x01", owner=struct.pack("!H", 0xC000 | 58)))


def _name_over_255_via_pointers() -> bytes:
    """Question name of three 63-octet labels (193 octets, 12..204); an owner of one 63-octet
    label pointing to it: 65 + 192 = 257 octets."""
    qname = long_label_name(3)
    owner = b"\x3f" + b"y" * 63 + OWNER_PTR
    return header(an=1) + question(qname) + rr(A, b"\x7f\x00\x00\x01", owner=owner)


@dataclass(frozen=True, slots=True, kw_only=True)
class Malformed:
    """One malformed input: what it is, its octets, where and why the codec must fail."""

    name: str
    data: bytes
    offset: int
    reason: str


def _case(name: str, data: bytes, offset: int, reason: str) -> Malformed:
    return Malformed(name=name, data=data, offset=offset, reason=reason)


_NEXT_RR = Q_END + len(A_RR)                     # 45: the RR after one A RR
_OPT_RDATA = Q_END + 1 + 10                      # 40: rdata of an OPT RR right after the question
_RRSIG_FIXED = b"\x00\x01\x08\x02\x00\x00\x0e\x10" + b"\x65\x00\x00\x00" * 2 + b"\x30\x39"

CASES: list[Malformed] = [
    # header
    _case("empty message", b"", 0, "header needs 12"),
    _case("header of 5 octets", header()[:5], 0, "header needs 12"),
    _case("header of 11 octets", header()[:11], 0, "header needs 12"),
    # question
    _case("question name truncated in a label", header() + b"\x07exam", QNAME, "label runs past"),
    _case("question name without its root label", header() + b"\x07example", QNAME + 8,
          "name runs past"),
    _case("qtype truncated", header() + EX + b"\x00", QNAME + len(EX), "question runs past"),
    _case("qclass truncated", header() + EX + b"\x00\x01\x00", QNAME + len(EX),
          "question runs past"),
    _case("qdcount beyond the message", header(qd=2) + question(), Q_END, "name runs past"),
    # compression pointers (RFC 1035 §4.1.4: pointers go backwards only)
    _case("pointer loop: name points to itself", header() + question(b"\xc0\x0c"), QNAME,
          "not backwards"),
    _case("forward pointer", header() + question(b"\xc0\x12"), QNAME, "not backwards"),
    _case("pointer into its own name", header() + question(b"\x03www\xc0\x0d"), QNAME + 4,
          "not backwards"),
    _case("pointer loop across two names", header(qd=2) + question(b"\x01a\xc0\x14")
          + question(b"\x01b\xc0\x0c"), QNAME + 2, "not backwards"),
    _case("pointer into the header", header() + question(b"\xc0\x00"), 0, "label runs past"),
    _case("pointer cut by the end", header(an=1) + question() + b"\xc0", Q_END,
          "pointer runs past"),
    _case("too many pointer hops", _pointer_chain(), 28, "too many compression pointers"),
    # labels and name length (RFC 1035 §2.3.4, RFC 6891 §5: 0x40 and 0x80 reserved)
    _case("label type 0x40 (label of 64)", header() + question(b"\x40" + b"x" * 64 + b"\x00"),
          QNAME, "reserved label type 0x40"),
    _case("label type 0x80", header() + question(b"\x80\x00"), QNAME, "reserved label type 0x80"),
    _case("label type 0x40 after a label", header() + question(b"\x03www\x41\x00"), QNAME + 4,
          "reserved label type 0x40"),
    _case("name over 255 via labels", header() + question(long_label_name(4)), QNAME + 3 * 64,
          "255"),
    _case("name over 255 via pointers", _name_over_255_via_pointers(), QNAME + 2 * 64, "255"),
    # section counts and RR framing
    _case("ancount beyond the message", header(an=1) + question(), Q_END, "name runs past"),
    _case("nscount beyond the message", header(an=1, ns=1) + question() + A_RR, _NEXT_RR,
          "name runs past"),
    _case("arcount beyond the message", header(ar=2) + question() + A_RR, _NEXT_RR,
          "name runs past"),
    _case("RR header truncated", header(an=1) + question() + OWNER_PTR + b"\x00\x01\x00",
          Q_END + 2, "RR header runs past"),
    _case("rdlength past the end", header(an=1) + question() + rr(A, b"\x7f\x00", rdlength=4),
          RDLENGTH_AT, "rdata length 4 runs past"),
    _case("rdlength past the end, opaque type",
          header(an=1) + question() + rr(65280, b"\x00" * 10, rdlength=100), RDLENGTH_AT,
          "rdata length 100 runs past"),
    _case("trailing garbage after the last RR", header(an=1) + question() + A_RR + b"\x00",
          _NEXT_RR, "after the last record"),
    _case("trailing garbage after the question", QUERY + b"\x00\x00", Q_END,
          "after the last record"),
    # OPT (RFC 6891 §6.1.1)
    _case("OPT in answer", header(an=1) + question() + opt(), Q_END, "OPT in the answer"),
    _case("OPT in authority", header(ns=1) + question() + opt(), Q_END, "OPT in the authority"),
    _case("two OPTs", header(ar=2) + question() + opt() + opt(), Q_END + len(opt()),
          "second OPT"),
    _case("OPT owner not the root", header(ar=1) + question() + opt(owner=OWNER_PTR), Q_END,
          "OPT owner"),
    _case("OPT option length past its rdata",
          header(ar=1) + question() + opt(b"\x00\x03\x00\x0a\xab\xcd"), _OPT_RDATA + 4,
          "EDNS option data"),
    _case("OPT option code truncated", header(ar=1) + question() + opt(b"\x00"), _OPT_RDATA,
          "EDNS option code"),
    _case("OPT option length truncated", header(ar=1) + question() + opt(b"\x00\x03\x00"),
          _OPT_RDATA + 2, "EDNS option data"),
    # TSIG (RFC 8945 §5.1: the last record of additional, only one)
    _case("TSIG not last", header(ar=2) + question() + tsig() + A_RR, Q_END, "TSIG not the last"),
    _case("two TSIGs", header(ar=2) + question() + tsig() + tsig(), Q_END, "TSIG not the last"),
    _case("TSIG in answer", header(an=1) + question() + tsig(), Q_END, "TSIG not the last"),
    _case("TSIG of class IN (RFC 8945 §4.2)", header(ar=1) + question()
          + rr(TSIG, TSIG_RDATA, owner=b"\x03key\x00", ttl=0), Q_END, "not ANY"),
    _case("TSIG MAC past its rdata", header(ar=1) + question()
          + tsig(HMAC_SHA256 + bytes(8) + b"\x00\x40" + bytes(8)),
          Q_END + 5 + 10 + len(HMAC_SHA256) + 10, "needs 64"),
    _case("UPDATE with an empty TSIG (RFC 2136 empty rdata does not apply)",
          header(ar=1, opcode=UPDATE, flags=0) + question(qtype=SOA) + tsig(b""),
          Q_END + 5 + 10, "name runs past"),
    # rdata against its layout (RFC 1035 §3.3, §3.4; RFC 3596; RFC 3597 §4)
    _case("A with rdlength 3", header(an=1) + question() + rr(A, b"\x7f\x00\x00"), RDATA,
          "needs 4"),
    _case("A with rdlength 5", header(an=1) + question() + rr(A, b"\x7f\x00\x00\x01\x00"),
          RDATA + 4, "1 octets after"),
    _case("AAAA with rdlength 4", header(an=1) + question() + rr(AAAA, b"\x20\x01\x0d\xb8"), RDATA,
          "needs 16"),
    _case("MX missing exchange", header(an=1) + question() + rr(MX, b"\x00\x0a"), RDATA + 2,
          "name runs past"),
    _case("MX with an octet after the exchange",
          header(an=1) + question() + rr(MX, b"\x00\x0a" + OWNER_PTR + b"\x00"), RDATA + 4,
          "1 octets after"),
    _case("SOA with 19 fixed octets", header(an=1) + question()
          + rr(SOA, OWNER_PTR * 2 + bytes(19)), RDATA + 4, "needs 20"),
    _case("SOA with extra octets", header(an=1) + question() + rr(SOA, OWNER_PTR * 2 + bytes(21)),
          RDATA + 24, "1 octets after"),
    _case("CNAME compressed name past rdlength",
          header(an=1) + question() + rr(CNAME, b"\x03www\xc0", rdlength=5) + b"\x0c", RDATA + 4,
          "pointer runs past"),
    _case("CNAME name longer than rdlength",
          header(an=1) + question() + rr(CNAME, b"\x03www", rdlength=3) + b"\x00", RDATA,
          "label runs past"),
    _case("DNAME with a compression pointer (RFC 6672 §2.5)",
          header(an=1) + question() + rr(DNAME, OWNER_PTR), RDATA, "compression pointer where"),
    _case("RRSIG signer compressed (RFC 4034 §3.1.7)",
          header(an=1) + question() + rr(RRSIG, _RRSIG_FIXED + OWNER_PTR + b"\x01"), RDATA + 18,
          "compression pointer where"),
    _case("NSEC bitmap windows out of order",
          header(an=1) + question() + rr(NSEC, b"\x00" + b"\x01\x01\x40" + b"\x00\x01\x40"),
          RDATA + 4, "type bitmap"),
    _case("NSEC bitmap window repeated",
          header(an=1) + question() + rr(NSEC, b"\x00" + b"\x00\x01\x40" + b"\x00\x01\x20"),
          RDATA + 4, "type bitmap"),
    _case("NSEC bitmap zero-length window",
          header(an=1) + question() + rr(NSEC, b"\x00" + b"\x00\x00"), RDATA + 1, "type bitmap"),
    _case("NSEC bitmap window of 33 octets",
          header(an=1) + question() + rr(NSEC, b"\x00" + b"\x00\x21" + b"\x01" * 33), RDATA + 1,
          "type bitmap"),
    _case("NSEC bitmap trailing zero octet",
          header(an=1) + question() + rr(NSEC, b"\x00" + b"\x00\x02\x40\x00"), RDATA + 1,
          "type bitmap"),
    _case("NSEC bitmap length past rdata",
          header(an=1) + question() + rr(NSEC, b"\x00" + b"\x00\x05\x40"), RDATA + 3,
          "type bitmap"),
    _case("NSEC3 salt past rdata",
          header(an=1) + question() + rr(NSEC3, b"\x01\x00\x00\x0a" + b"\x08\xab"), RDATA + 5,
          "character-string"),
    _case("TXT string length past rdata", header(an=1) + question() + rr(TXT, b"\x05abc"),
          RDATA + 1, "needs 5"),
    _case("TXT with empty rdata", header(an=1) + question() + rr(TXT, b""), RDATA,
          "character-string"),
    _case("HINFO with one string", header(an=1) + question() + rr(HINFO, b"\x03x86"), RDATA + 4,
          "character-string"),
    _case("SRV target missing", header(an=1) + question() + rr(SRV, b"\x00\x01\x00\x01\x00\x35"),
          RDATA + 6, "name runs past"),
    _case("class ANY empty rdata outside UPDATE",
          header(an=1) + question() + rr(A, b"", rrclass=ANY, ttl=0), RDATA, "needs 4"),
    _case("UPDATE class ANY with a short A rdata",
          header(ns=1, opcode=UPDATE, flags=0) + question(qtype=SOA)
          + rr(A, b"\x7f", rrclass=ANY, ttl=0), RDATA, "needs 4"),
    # responses: a server drops these rather than answering
    _case("response: A with rdlength 3", header(an=1, flags=QR) + question()
          + rr(A, b"\x7f\x00\x00"), RDATA, "needs 4"),
    _case("response: two OPTs", header(ar=2, flags=QR) + question() + opt() + opt(),
          Q_END + len(opt()), "second OPT"),
]

MALFORMED: list[tuple[str, bytes, int]] = [(c.name, c.data, c.offset) for c in CASES]


def answerable(data: bytes) -> bool:
    """True when ``data`` has a readable query header (12 octets or more, QR=0): a server
    answers FORMERR; otherwise it drops the packet."""
    return len(data) >= 12 and not data[2] & 0x80
