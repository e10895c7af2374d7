"""Round trip and truncation properties of the codec over generated messages.

``decode(encode(m)) == m`` for every message the strategies in ``wire_strategies`` draw: every
section, every rdata layout in ``rdata.LAYOUTS``, opaque types, EDNS options, extended rcodes,
TSIG, RFC 2136 empty-rdata records.

One caveat, by design: the compressor matches names case-insensitively (RFC 1035 §4.1.4 with
RFC 4343 §3 comparison, as other servers do), so a compressed name takes the case of the
earlier name it points to. Names compare case-insensitively, so only rdata octets can differ;
the mixed-case property compares rdata with its compressible names folded to lowercase, and
the all-lowercase property is exact, octet for octet.

Run with ``-s`` to see how many messages were checked.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import wire_strategies as ws
from dns_suite.wire.message import RR, Message, decode, encode, rrsets
from dns_suite.wire.rdata import COMPRESSIBLE, rdata_names
from dns_suite.wire.types import Flag

CHECKED: Counter[str] = Counter()
"""Messages checked by each property, reported by the last test."""

NO_UPDATE = tuple(o for o in range(16) if o != ws.UPDATE)

common = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.data_too_large])


# --- views for comparison -------------------------------------------------------------------

def fold_rdata(rrtype: int, rdata: bytes) -> bytes:
    """``rdata`` with the names the compressor may touch lowercased (their case may come from
    the name a pointer points to)."""
    if rrtype not in COMPRESSIBLE or not rdata:
        return rdata
    out, pos = bytearray(), 0
    for at, name in rdata_names(rrtype, rdata):
        out += rdata[pos:at] + name.key
        pos = at + len(name.wire)
    return bytes(out + rdata[pos:])


def rr_view(rr: RR | None, exact: bool):
    if rr is None:
        return None
    if exact:
        return (rr.owner.wire, rr.rrtype, rr.rrclass, rr.ttl, rr.rdata)
    return (rr.owner.key, rr.rrtype, rr.rrclass, rr.ttl, fold_rdata(rr.rrtype, rr.rdata))


def view(m: Message, exact: bool):
    """Everything in ``m``; names as wire octets (``exact``) or lowercased."""
    def n(name):
        return name.wire if exact else name.key
    return (
        m.id, m.flags, m.opcode, m.rcode,
        tuple((n(q.qname), q.qtype, q.qclass) for q in m.question),
        tuple(rr_view(rr, exact) for rr in m.answer),
        tuple(rr_view(rr, exact) for rr in m.authority),
        tuple(rr_view(rr, exact) for rr in m.additional),
        m.edns, rr_view(m.tsig, exact),
    )


def check_roundtrip(m: Message, exact: bool) -> None:
    wire = encode(m)
    got = decode(wire)
    if exact:
        assert got == m
    assert view(got, exact) == view(m, exact)
    if m.question:  # the first name written keeps its case whatever else is in the message
        assert got.question[0].qname.wire == m.question[0].qname.wire
    assert encode(got) == wire
    CHECKED["round trip"] += 1


# --- round trip -----------------------------------------------------------------------------

@settings(common, max_examples=150)
@given(ws.messages(lowercase=True))
def test_roundtrip_exact_lowercase(m: Message) -> None:
    """Every choice shrinkable; with lowercase names the round trip is exact."""
    check_roundtrip(m, exact=True)


@settings(common, max_examples=150)
@given(ws.messages(lowercase=False))
def test_roundtrip_mixed_case(m: Message) -> None:
    check_roundtrip(m, exact=False)


@settings(common, max_examples=100)
@given(ws.update_messages())
def test_roundtrip_update(m: Message) -> None:
    """RFC 2136: class ANY/NONE records with empty rdata survive."""
    check_roundtrip(m, exact=False)


@settings(common, max_examples=1200)
@given(ws.fast_messages())
def test_roundtrip_many(m: Message) -> None:
    """Volume: messages made from a drawn seed."""
    check_roundtrip(m, exact=False)
    if all(not any(65 <= b <= 90 for b in n) for n in _all_name_octets(m)):
        assert view(decode(encode(m)), True) == view(m, True)


def _all_name_octets(m: Message):
    for q in m.question:
        yield q.qname.wire
    for rr in (*m.answer, *m.authority, *m.additional):
        yield rr.owner.wire
        for _, name in rdata_names(rr.rrtype, rr.rdata) if rr.rdata else ():
            yield name.wire


# --- truncation -----------------------------------------------------------------------------

def _flat(groups: list[list[RR]]) -> list:
    return [rr_view(rr, False) for g in groups for rr in g]


def _prefix_length(groups: list[list[RR]], got: tuple[RR, ...]) -> int:
    """k such that ``got`` is the first k RRsets of ``groups``; fails when there is none."""
    want = [rr_view(rr, False) for rr in got]
    for k in range(len(groups) + 1):
        if _flat(groups[:k]) == want:
            return k
    raise AssertionError(f"section is not a prefix at an RRset boundary: {got}")


def _subsequences(groups: list[list[RR]], got: tuple[RR, ...]) -> list[frozenset[int]]:
    """Every set of RRset indexes whose RRsets, in order, make up ``got``."""
    views = [[rr_view(rr, False) for rr in g] for g in groups]
    want = [rr_view(rr, False) for rr in got]

    @lru_cache(maxsize=None)
    def match(gi: int, pos: int) -> tuple[frozenset[int], ...]:
        if pos == len(want):
            return (frozenset(),)
        found = []
        for j in range(gi, len(views)):
            if want[pos:pos + len(views[j])] == views[j]:
                found += [s | {j} for s in match(j + 1, pos + len(views[j]))]
        return tuple(found)

    return list(match(0, 0))


@settings(common, max_examples=800)
@given(ws.fast_messages(), st.floats(0, 1), st.floats(0, 1), st.integers(0, 40))
def test_truncation(m: Message, room: float, required_share: float, reserve: int) -> None:
    """encode(m, max_size): fits, decodes, sections are prefixes cut at RRset boundaries
    (optional additional RRsets may be skipped), TC iff required data was dropped
    (answer, authority, the first ``required_additional`` additional RRs: RFC 2181 §9,
    RFC 9471), OPT and TSIG always there."""
    m = dataclasses.replace(m, flags=m.flags & ~Flag.TC)
    full = encode(m)
    floor = len(encode(dataclasses.replace(m, answer=(), authority=(), additional=()))) + reserve
    max_size = floor + int(room * max(0, len(full) + reserve - floor))
    required = int(required_share * len(m.additional))
    wire = encode(m, max_size, required_additional=required, reserve=reserve)
    assert len(wire) <= max_size - reserve
    got = decode(wire)
    CHECKED["truncation"] += 1
    tc = bool(got.flags & Flag.TC)
    assert (got.id, got.opcode, got.rcode, got.question, got.edns, got.tsig) == (
        m.id, m.opcode, m.rcode, m.question, m.edns, m.tsig)
    if len(full) + reserve <= max_size:
        assert wire == full and not tc
        return
    answer, authority, additional = rrsets(m.answer), rrsets(m.authority), rrsets(m.additional)
    k = _prefix_length(answer, got.answer)
    if k < len(answer):
        assert tc and got.authority == () and got.additional == ()
        CHECKED["truncation: answer cut"] += 1
        return
    k = _prefix_length(authority, got.authority)
    if k < len(authority):
        assert tc and got.additional == ()
        CHECKED["truncation: authority cut"] += 1
        return
    starts, n = [], 0
    for g in additional:
        starts.append(n)
        n += len(g)
    n_required = sum(1 for s in starts if s < required)
    choices = _subsequences(additional, got.additional)
    assert choices, "additional is not made of whole RRsets in order"
    if tc:
        assert any(s == frozenset(range(j)) for s in choices for j in range(n_required)), (
            "TC without a required additional RRset dropped, or RRsets after the cut")
        CHECKED["truncation: required additional cut"] += 1
    else:
        assert any(s >= frozenset(range(n_required)) for s in choices), (
            "required additional RRset dropped without TC")
        if len(got.additional) < len(m.additional):
            CHECKED["truncation: optional additional left out"] += 1


def test_encode_with_exact_room_is_identical() -> None:
    """A limit equal to the full size changes nothing; one octet less drops something."""
    rng = random.Random(7)
    for _ in range(200):
        m = dataclasses.replace(ws.random_message(rng), flags=0)
        full = encode(m)
        assert encode(m, len(full)) == full
        floor = len(encode(dataclasses.replace(m, answer=(), authority=(), additional=())))
        if len(full) > floor:
            assert len(encode(m, len(full) - 1)) < len(full)
        CHECKED["exact room"] += 1


def test_generator_covers_every_kind() -> None:
    """The generator reaches every rdata layout, opaque types, every EDNS option kind, TSIG,
    extended rcodes, UPDATE empty rdata, binary and mixed-case labels (so the properties above
    are about all of them)."""
    rng = random.Random(11)
    msgs = [ws.random_message(rng) for _ in range(400)]
    msgs += [ws.update_message(ws.RandomPicker(rng)) for _ in range(50)]
    rrs = [rr for m in msgs for rr in (*m.answer, *m.authority, *m.additional)]
    types = {rr.rrtype for rr in rrs}
    assert set(ws.LAYOUT_TYPES) <= types
    assert any(t >= ws.OPAQUE_TYPE_RANGE[0] for t in types)
    codes = {o.code for m in msgs if m.edns for o in m.edns.options}
    assert {3, 10, 12, 15} <= codes and any(c > 65000 for c in codes)
    assert any(m.tsig for m in msgs) and any(m.rcode > 15 for m in msgs)
    assert any(rr.rdata == b"" and rr.rrclass in (ws.ANY, ws.NONE) for rr in rrs)
    octets = b"".join(rr.owner.wire for rr in rrs)
    assert any(b > 0x7F for b in octets) and any(65 <= b <= 90 for b in octets)


# --- report ---------------------------------------------------------------------------------

def test_zz_report_counts() -> None:
    """Print how many messages were checked (visible with -s); runs last in this module."""
    if not CHECKED["round trip"]:
        pytest.skip("the round-trip tests did not run in this session")
    for what, count in sorted(CHECKED.items()):
        print(f"wire round trip: {what}: {count} messages")
    total = CHECKED["round trip"] + CHECKED["truncation"]
    print(f"wire round trip: total messages checked: {total}")
    assert total > 1000
