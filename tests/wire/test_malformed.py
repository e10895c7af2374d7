"""Malformed messages: each fails with WireError at the expected offset (corpus in
``malformed_corpus``, shared with the services' FORMERR tests); and well-formed edge cases that
must not fail."""

from __future__ import annotations

import pytest

from dns_suite.wire.errors import WireError
from dns_suite.wire.message import decode, encode
from dns_suite.wire.name import Name
from malformed_corpus import (
    ANY, CASES, MALFORMED, NONE, Q_END, QR, SOA, UPDATE, A, Malformed, answerable, header,
    opt, question, rr, tsig,
)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_malformed(case: Malformed) -> None:
    with pytest.raises(WireError) as e:
        decode(case.data)
    assert e.value.offset == case.offset, e.value.reason
    assert case.reason in e.value.reason


def test_corpus_shape() -> None:
    assert len(MALFORMED) >= 30
    assert len({name for name, _, _ in MALFORMED}) == len(MALFORMED)
    assert all(0 <= offset <= len(data) for _, data, offset in MALFORMED)
    readable = [name for name, data, _ in MALFORMED if answerable(data)]
    dropped = [name for name, data, _ in MALFORMED if not answerable(data)]
    assert len(readable) >= 30 and len(dropped) >= 4
    assert not answerable(b"") and not answerable(header(flags=QR)) and answerable(header())


# --- well-formed edge cases --------------------------------------------------------------------

def test_qdcount_zero_decodes() -> None:
    """A message without a question is well formed (RFC 1035 §4.1.2 allows QDCOUNT 0;
    whether to answer it is the server's business)."""
    m = decode(header(qd=0))
    assert m.question == () and m.id == 0x1234
    m = decode(header(qd=0, ar=1) + opt())
    assert m.edns is not None and m.edns.payload == 1232


@pytest.mark.parametrize("rrclass, section", [(ANY, "prereq"), (NONE, "prereq"), (ANY, "update")])
def test_update_empty_rdata_decodes(rrclass: int, section: str) -> None:
    """RFC 2136 §2.4.1, §2.4.3, §2.5.2: class ANY/NONE records with RDLENGTH 0."""
    counts = {"prereq": {"an": 1}, "update": {"ns": 1}}[section]
    data = (header(opcode=UPDATE, flags=0, **counts) + question(qtype=SOA)
            + rr(A, b"", rrclass=rrclass, ttl=0))
    m = decode(data)
    rrs = m.answer if section == "prereq" else m.authority
    assert len(rrs) == 1 and rrs[0].rdata == b"" and rrs[0].rrclass == rrclass
    assert m.opcode == UPDATE
    assert encode(m) == data


def test_update_delete_rr_with_rdata_decodes() -> None:
    """RFC 2136 §2.5.4: class NONE with the RR's rdata."""
    data = (header(opcode=UPDATE, flags=0, ns=1) + question(qtype=SOA)
            + rr(A, b"\xc0\x00\x02\x01", rrclass=NONE, ttl=0))
    assert decode(data).authority[0].rdata == b"\xc0\x00\x02\x01"


def test_tsig_last_decodes() -> None:
    data = header(ar=2) + question() + opt() + tsig()
    m = decode(data)
    assert m.tsig is not None and m.tsig.owner == Name.from_text("key.")
    assert m.additional == () and m.edns is not None


def test_compressed_question_and_owner_decode() -> None:
    data = header(qd=2, an=1) + question() + question(b"\x03www\xc0\x0c") + rr(
        A, b"\x7f\x00\x00\x01", owner=bytes((0xC0, Q_END)))
    m = decode(data)
    assert m.question[1].qname == Name.from_text("www.example.com.")
    assert m.answer[0].owner == m.question[1].qname


def test_first_octet_of_message_can_be_pointed_to_only_as_a_name() -> None:
    """A pointer into the header is backwards and legal; the octets there must then read as a
    name (here the ID 0x0000 and flags 0x0000 read as the root)."""
    data = header(ident=0, flags=0) + question(b"\xc0\x00")
    assert decode(data).question[0].qname == Name.from_text(".")
