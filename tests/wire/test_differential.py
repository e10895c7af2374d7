"""Differential decoding against dnspython.

Every input goes to both decoders: ``decode`` and ``dns.message.from_wire(wire, keyring=False,
one_rr_per_rrset=True, ignore_trailing=False)`` (``keyring=False`` keeps a TSIG RR without
verifying it; one RR per RRset keeps the wire order). Then:

- ours may raise only WireError, on every input;
- both accept: they must agree field by field (header, question, every RR in order as owner
  wire octets, type, class, TTL and uncompressed rdata, EDNS, TSIG), up to the normalizations
  in ``NORMALIZATIONS`` (each with its RFC reason, each counted);
- only one accepts: the case must fall in the closed lists ``ONLY_DNSPYTHON_REJECTS`` or
  ``ONLY_OURS_REJECTS``, each entry a predicate with its RFC reason; anything else fails.

Inputs: (a) messages from the strategies in ``wire_strategies``, encoded (both must accept and
agree); (b) messages built by dnspython itself (queries, responses with many rdata types from
zone text, UPDATE, NOTIFY, TSIG-signed, compressed); (c) mutations of (b) and of generated
messages, deterministic from seeded ``random.Random``: truncation at every length, single bit
flips, splices, byte overwrites; (d) the hand-built malformed corpus. Run with ``-s`` for the
counts.
"""

from __future__ import annotations

import random
import struct
import traceback
import unittest.mock
from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterable

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.rrset
import dns.tsigkeyring
import dns.update
import dns.wire
import pytest
from dns.rdata import GenericRdata
from hypothesis import HealthCheck, given, settings

import wire_strategies as ws
from dns_suite.wire.edns import decode_opt
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import Message, decode, encode
from dns_suite.wire.name import decode_name
from dns_suite.wire.rdata import LAYOUTS, NAME_TYPES, decode_rdata
from malformed_corpus import MALFORMED

FLAG_MASK = 0x87F0
OPT, TSIG, UPDATE = 41, 250, 5
IN, CH, NONE, ANY = 1, 3, 254, 255
SECTIONS = ("answer", "authority", "additional")
PARSED_OPTIONS = frozenset(int(code) for code in dns.edns._type_to_class)
"""EDNS option codes dnspython reads into values of their own (ECS, EDE, NSID, COOKIE, ...)."""


# --- the RRs of a message, located on the wire -------------------------------------------------

@dataclass(frozen=True, slots=True)
class Span:
    """Where one RR sits: its section (1..3), start, rdata offset and length, and header."""

    section: int
    start: int
    rdata: int
    rdlength: int
    rrtype: int
    rrclass: int
    ttl: int


def spans(wire: bytes) -> list[Span]:
    """Walk the RR framing (names skipped with ``decode_name``; rdata not read).

    Raises:
        WireError: the framing itself is broken.
    """
    counts = struct.unpack_from("!4H", wire, 4)
    pos = 12
    for _ in range(counts[0]):
        _, pos = decode_name(wire, pos, len(wire))
        pos += 4
    out = []
    for section, count in enumerate(counts[1:], start=1):
        for _ in range(count):
            start = pos
            _, pos = decode_name(wire, pos, len(wire))
            if pos + 10 > len(wire):
                raise WireError("RR header runs past the end", pos)
            rrtype, rrclass, ttl, rdlength = struct.unpack_from("!HHIH", wire, pos)
            out.append(Span(section, start, pos + 10, rdlength, rrtype, rrclass, ttl))
            pos += 10 + rdlength
    return out


def raw_options(wire: bytes, span: Span) -> list[tuple[int, bytes]]:
    """EDNS options read straight off the OPT rdata (RFC 6891 §6.1.2)."""
    data = wire[span.rdata:span.rdata + span.rdlength]
    out, pos = [], 0
    while pos < len(data):
        code, length = struct.unpack_from("!HH", data, pos)
        out.append((code, data[pos + 4:pos + 4 + length]))
        pos += 4 + length
    return out


def expand_with_dnspython(wire: bytes, span: Span) -> bytes:
    """The rdata of a type dnspython keeps as generic, with the names in it (per the codec's
    layout table) decompressed by dnspython's own name reader."""
    parser = dns.wire.Parser(wire, span.rdata)
    out = bytearray()
    with parser.restrict_to(span.rdlength):
        for item in LAYOUTS[span.rrtype]:
            if isinstance(item, int):
                out += parser.get_bytes(item)
            elif item in "nN":
                out += parser.get_name(None, item == "n").to_wire()
            elif item == "s":
                out += bytes((parser.get_uint8(),))
                out += parser.get_bytes(out[-1])
            else:  # only "n", fixed fields and "r" occur in the types dnspython keeps generic
                out += parser.get_remaining()
    return bytes(out)


# --- normalizations (both accept) --------------------------------------------------------------

NORMALIZATIONS = {
    "ttl": "TTL over 2**31-1: dnspython reads it as 0 (RFC 2181 §8); the codec keeps the "
           "value received and leaves the rule to its users",
    "generic-names": "types dnspython keeps as generic octets (MD MF MB MG MR MINFO NXT, and "
                     "IN-only types in other classes) hold names the codec decompresses "
                     "(RFC 3597 §4 lets receivers decompress RFC 1035 types, RP, AFSDB, RT, SIG, "
                     "PX, NXT, NAPTR, SRV); compared with dnspython's own decompression",
    "opaque-reserialized": "types outside the codec's table are kept as received (RFC 3597 "
                           "§5); dnspython writes back its parsed value, which may differ in "
                           "octets (e.g. APL trailing zero octets)",
    "option-reserialized": "EDNS options are kept as received (RFC 6891 §6.1.2); dnspython "
                           "writes back its parsed value (EDE drops a NUL terminator, which "
                           "RFC 8914 §2 allows; ECS and others canonicalize)",
}


# --- allowed differences: dnspython rejects, ours accepts --------------------------------------

@dataclass(frozen=True, slots=True)
class Ctx:
    """What a classifier may look at."""

    wire: bytes
    ours: Message | None
    theirs: dns.message.Message | None
    error: BaseException
    span: Span | None = None          # the RR at fault, when one was found
    option: tuple[int, bytes] | None = None


@dataclass(frozen=True, slots=True)
class Allowed:
    """One allowed difference: a name, its RFC reason, and the predicate that recognizes it
    (a predicate that fails on odd input simply does not apply)."""

    name: str
    reason: str
    predicate: Callable[[Ctx], bool]

    def applies(self, c: Ctx) -> bool:
        try:
            return bool(self.predicate(c))
        except (IndexError, struct.error, WireError):
            return False


def _rdata(c: Ctx) -> bytes:
    return c.wire[c.span.rdata:c.span.rdata + c.span.rdlength]


def _ds_digest_semantics(c: Ctx) -> bool:
    if c.span.rrtype not in (43, 59, 32769, 32768):
        return False
    d = _rdata(c)
    expected = ws.DS_DIGEST_LENGTHS.get(d[3])
    return d[3] == 0 or (expected is not None and len(d) - 4 != expected)


def _fingerprint_length(c: Ctx) -> bool:
    """SSHFP: algorithm, type, fingerprint; TLSA/SMIMEA: usage, selector, matching type, data."""
    t = c.span.rrtype
    if t not in ws.DATA_LENGTHS:
        return False
    d = _rdata(c)
    head = 2 if t == 44 else 3
    expected = ws.DATA_LENGTHS[t].get(d[head - 1])
    return expected is not None and len(d) - head != expected


def _svcb_params(c: Ctx) -> bool:
    """dnspython accepts the same record without its SvcParams: the fault is in them."""
    if c.span.rrtype not in (64, 65):
        return False
    d = _rdata(c)
    _, end = decode_name(d, 2, len(d), decompress=False)
    if end == len(d):
        return False
    try:
        dns.rdata.from_wire(IN, c.span.rrtype, d[:end], 0, end)
    except Exception:
        return False
    return True


def _nsec3_empty_hash(c: Ctx) -> bool:
    if c.span.rrtype != 50:
        return False
    d = _rdata(c)
    salt = d[4]
    return d[5 + salt] == 0


def _tsig_error_range(c: Ctx) -> bool:
    if c.span.rrtype != TSIG:
        return False
    d = _rdata(c)
    _, pos = decode_name(d, 0, len(d), decompress=False)
    mac = struct.unpack_from("!H", d, pos + 8)[0]
    return struct.unpack_from("!H", d, pos + 10 + mac + 2)[0] > 4095


def _update_rr_semantics(c: Ctx) -> bool:
    """UPDATE records of class ANY or NONE: dnspython applies RFC 2136's rules on which carry
    rdata (none for ANY and for NONE among the prerequisites; the RR's rdata for NONE among
    the updates)."""
    return (c.ours is not None and c.ours.opcode == UPDATE and c.span.rrclass in (ANY, NONE)
            and c.span.rrtype != TSIG)


def _edns_option(c: Ctx) -> bool:
    return c.option is not None


ONLY_DNSPYTHON_REJECTS: list[Allowed] = [
    Allowed("opaque-type",
            "RFC 3597 §5: the codec keeps rdata of types outside rdata.LAYOUTS as opaque "
            "octets; dnspython parses them (CAA, LOC, APL, WKS, CERT, IPSECKEY, HIP, ...)",
            lambda c: c.span is not None and c.span.rrtype not in LAYOUTS),
    Allowed("chaos-a",
            "RFC 1035 §3.4.1 defines A for class IN; dnspython reads class CH A as a Chaosnet "
            "address (a name and 16 bits); the codec's table is per type",
            lambda c: c.span is not None and c.span.rrtype == 1 and c.span.rrclass == CH),
    Allowed("ds-digest",
            "RFC 4034 §5.1.4, RFC 4509 §2.2, RFC 6605 §2: the digest length follows from the "
            "digest type, and type 0 is reserved: a validator's check, the codec reads the "
            "digest as octets",
            lambda c: c.span is not None and _ds_digest_semantics(c)),
    Allowed("fingerprint-length",
            "RFC 6698 §2.1.3 (TLSA, SMIMEA matching type), RFC 4255 §3.1.2 / RFC 6594 (SSHFP "
            "type): data lengths fixed by a type code are the user's check",
            lambda c: c.span is not None and _fingerprint_length(c)),
    Allowed("svcb-params",
            "RFC 9460 §2.2: SvcParams (key order, value syntax, none in AliasMode) are read "
            "by their users; the codec keeps them as octets after TargetName",
            lambda c: c.span is not None and _svcb_params(c)),
    Allowed("nsec3-hash-length",
            "RFC 5155 §3.1.6: hash length 1..255 is the validator's check; the codec reads a "
            "counted string",
            lambda c: c.span is not None and _nsec3_empty_hash(c)),
    Allowed("tsig-error-range",
            "RFC 8945 §4.2: Error is a 16-bit field; dnspython maps it onto its 12-bit rcode "
            "enum; verification (wire/tsig.py) judges it",
            lambda c: c.span is not None and _tsig_error_range(c)),
    Allowed("update-rr-semantics",
            "RFC 2136 §2.4-2.5, §3.2.1, §3.4.1.2: which class ANY/NONE records carry rdata is a "
            "rule of UPDATE processing (zone/update.py), not of the message framing",
            lambda c: c.span is not None and _update_rr_semantics(c)),
    Allowed("update-zone-section",
            "RFC 2136 §3.1.1: one zone entry of type SOA in a non-meta class is checked by "
            "UPDATE processing (zone/update.py), not by the codec",
            lambda c: c.span is None and c.option is None and c.ours is not None
            and c.ours.opcode == UPDATE),
    Allowed("edns-option-semantics",
            "RFC 6891 §6.1.2: options are opaque to the codec; their contents are checked on "
            "use (cookie_parts, decode_ede): dnspython parses ECS (RFC 7871 §6), EDE text as "
            "UTF-8 (RFC 8914 §2), COOKIE lengths (RFC 7873 §4), Report-Channel names (RFC 9567)",
            _edns_option),
]


# --- allowed differences: ours rejects, dnspython accepts --------------------------------------

def _theirs_rd(c: Ctx):
    """dnspython's rdata for the RR at fault (None when not found)."""
    index = [s for s in spans(c.wire)
             if s.section == c.span.section and s.rrtype not in (OPT, TSIG)]
    try:
        i = index.index(c.span)
    except ValueError:
        return None
    rrset = c.theirs.sections[c.span.section][i]
    return rrset[0] if len(rrset) else None


ONLY_OURS_REJECTS: list[Allowed] = [
    Allowed("generic-in-dnspython",
            "RFC 1035 §3.3 / RFC 3597 §4: the codec checks the layout of every type in its "
            "table in every class; dnspython keeps types it lacks (MD MF MB MG MR MINFO NXT) "
            "and IN-only types in other classes as generic octets",
            lambda c: c.span is not None and c.span.rrtype in LAYOUTS
            and isinstance(_theirs_rd(c), GenericRdata)),
    Allowed("chaos-a",
            "RFC 1035 §3.4.1: the codec reads A as 4 octets in every class; dnspython reads "
            "class CH A as a Chaosnet address",
            lambda c: c.span is not None and c.span.rrtype == 1 and c.span.rrclass == CH),
    Allowed("empty-key-or-digest",
            "RFC 4034 §2.1.4, §5.1.4 (DNSKEY key, DS digest; CDS/CDNSKEY deletion uses one "
            "octet, RFC 8078 §4): the codec requires the field; dnspython accepts it empty",
            lambda c: c.span is not None and c.span.rrtype in (43, 48, 59, 60, 32768, 32769)
            and c.span.rdlength == 4),
]


# --- one input -----------------------------------------------------------------------------------

class Stats:
    """Counts over the session, printed by the last test."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.ours_only: Counter[str] = Counter()
        self.theirs_only: Counter[str] = Counter()
        self.normalized: Counter[str] = Counter()
        self.parts: Counter[str] = Counter()


STATS = Stats()


def parse_dnspython(wire: bytes):
    try:
        return dns.message.from_wire(wire, keyring=False, one_rr_per_rrset=True,
                                     ignore_trailing=False), None
    except Exception as exc:  # dnspython's errors are of many types; any rejection counts
        return None, exc


def _ttl(ttl: int) -> int:
    return 0 if ttl > 0x7FFFFFFF else ttl


def compare(ours: Message, theirs: dns.message.Message, wire: bytes, notes: Counter) -> list[str]:
    """Field-by-field differences between the two decodings, after the normalizations."""
    diffs: list[str] = []

    def eq(what: str, a, b) -> None:
        if a != b:
            diffs.append(f"{what}: ours {a!r}, dnspython {b!r}")

    eq("id", ours.id, theirs.id)
    eq("flags", ours.flags, int(theirs.flags) & FLAG_MASK)
    eq("opcode", ours.opcode, int(theirs.opcode()))
    eq("rcode", ours.rcode, int(theirs.rcode()))
    eq("question", [(q.qname.wire, q.qtype, q.qclass) for q in ours.question],
       [(r.name.to_wire(), int(r.rdtype), int(r.rdclass)) for r in theirs.sections[0]])
    all_spans = spans(wire)
    for s, rrs in enumerate((ours.answer, ours.authority, ours.additional), start=1):
        theirs_rrsets = theirs.sections[s]
        where = [sp for sp in all_spans if sp.section == s and sp.rrtype not in (OPT, TSIG)]
        eq(f"{SECTIONS[s - 1]} count", len(rrs), len(theirs_rrsets))
        for i, (rr, rrset, sp) in enumerate(zip(rrs, theirs_rrsets, where)):
            what = f"{SECTIONS[s - 1]}[{i}]"
            cls = rrset.deleting if rrset.deleting is not None else rrset.rdclass
            eq(what + " owner", rr.owner.wire, rrset.name.to_wire())
            eq(what + " type/class", (rr.rrtype, rr.rrclass), (int(rrset.rdtype), int(cls)))
            if len(rrset) == 0:  # RFC 2136 empty rdata
                eq(what + " rdata", rr.rdata, b"")
                continue
            rd = rrset[0]
            if rr.ttl > 0x7FFFFFFF and rrset.ttl == 0:
                notes["ttl"] += 1
            eq(what + " ttl", _ttl(rr.ttl), rrset.ttl)
            theirs_rdata = rd.to_wire()
            if isinstance(rd, GenericRdata) and rr.rrtype in NAME_TYPES:
                expanded = expand_with_dnspython(wire, sp)
                if expanded != theirs_rdata:
                    notes["generic-names"] += 1
                theirs_rdata = expanded
            if rr.rdata != theirs_rdata and rr.rrtype not in LAYOUTS:
                eq(what + " opaque rdata as received", rr.rdata,
                   wire[sp.rdata:sp.rdata + sp.rdlength])
                notes["opaque-reserialized"] += 1
                continue
            eq(what + " rdata", rr.rdata, theirs_rdata)
    _compare_edns(ours, theirs, wire, all_spans, eq, notes)
    eq("tsig present", ours.tsig is not None, theirs.tsig is not None)
    if ours.tsig is not None and theirs.tsig is not None:
        eq("tsig owner", ours.tsig.owner.wire, theirs.tsig.name.to_wire())
        eq("tsig class", ours.tsig.rrclass, int(theirs.tsig.rdclass))
        eq("tsig rdata", ours.tsig.rdata, theirs.tsig[0].to_wire())
    return diffs


def _compare_edns(ours, theirs, wire, all_spans, eq, notes) -> None:
    eq("edns present", ours.edns is not None, theirs.opt is not None)
    if ours.edns is None or theirs.opt is None:
        return
    e = ours.edns
    eq("edns payload/version/do/z", (e.payload, e.version, e.do, e.z),
       (theirs.payload, theirs.edns, bool(theirs.ednsflags & 0x8000), theirs.ednsflags & 0x7FFF))
    [opt_span] = [sp for sp in all_spans if sp.rrtype == OPT]
    raw = raw_options(wire, opt_span)
    eq("edns options as received", [(o.code, o.data) for o in e.options], raw)
    theirs_opts = [(int(o.otype), o.to_wire()) for o in theirs.options]
    if theirs_opts != raw and [c for c, _ in theirs_opts] == [c for c, _ in raw] and all(
            a == b or code in PARSED_OPTIONS for (code, a), (_, b) in zip(raw, theirs_opts)):
        notes["option-reserialized"] += 1
    else:
        eq("edns options", raw, theirs_opts)


def _ours_culprit(wire: bytes, err: WireError) -> Span | None:
    """The first RR our decoder cannot read on its own (rdata read with ``decode_rdata``,
    the RFC 2136 empty-rdata rule and OPT options as in ``decode``); else the RR holding the
    error's offset."""
    try:
        found = spans(wire)
    except WireError:
        return None
    update = (struct.unpack_from("!H", wire, 2)[0] >> 11) & 0xF == UPDATE
    for sp in found:
        try:
            if sp.rrtype == OPT:
                decode_opt(sp.rrclass, sp.ttl, wire[sp.rdata:sp.rdata + sp.rdlength], sp.rdata)
            elif not (update and sp.rdlength == 0 and sp.rrclass in (ANY, NONE)):
                decode_rdata(wire, sp.rdata, sp.rdlength, sp.rrtype)
        except WireError:
            return sp
    for sp in reversed(found):
        if sp.start <= err.offset < sp.rdata + sp.rdlength:
            return sp
    return None


def _dnspython_culprits(wire: bytes, ours: Message) -> tuple[list[Span], list[tuple[int, bytes]]]:
    """The RRs (and EDNS options) dnspython cannot read one by one."""
    bad, bad_options = [], []
    zone_class = ours.question[0].qclass if ours.question else IN
    for sp in spans(wire):
        if sp.rrtype == OPT:
            for code, data in raw_options(wire, sp):
                try:
                    dns.edns.option_from_wire(code, data, 0, len(data))
                except Exception:
                    bad_options.append((code, data))
            continue
        rrclass = sp.rrclass
        if ours.opcode == UPDATE and rrclass in (ANY, NONE) and sp.rrtype != TSIG:
            if rrclass == ANY or sp.section == 1:  # RFC 2136 §2.4, §2.5.2-3: no rdata
                if sp.rdlength:
                    bad.append(sp)
                continue
            rrclass = zone_class  # dnspython reads class NONE rdata in the zone's class
        try:
            dns.rdata.from_wire(rrclass, sp.rrtype, wire, sp.rdata, sp.rdlength)
        except Exception:
            bad.append(sp)
    return bad, bad_options


def classify_only_dnspython_rejects(wire: bytes, ours: Message, exc: BaseException) -> str | None:
    bad, bad_options = _dnspython_culprits(wire, ours)
    ctxs = [Ctx(wire, ours, None, exc, span=sp) for sp in bad]
    ctxs += [Ctx(wire, ours, None, exc, option=o) for o in bad_options]
    if not ctxs:
        ctxs = [Ctx(wire, ours, None, exc)]
    reasons = []
    for c in ctxs:
        match = next((a.name for a in ONLY_DNSPYTHON_REJECTS if a.applies(c)), None)
        if match is None:
            return None
        reasons.append(match)
    return reasons[0]


def classify_only_ours_rejects(wire: bytes, theirs, err: WireError) -> str | None:
    c = Ctx(wire, None, theirs, err, span=_ours_culprit(wire, err))
    return next((a.name for a in ONLY_OURS_REJECTS if a.applies(c)), None)


@dataclass
class Outcome:
    kind: str                 # "both accept", "both reject", "only ours reject", ...
    problem: str | None = None  # set when the case is not explained


def check(wire: bytes, part: str) -> Outcome:
    """Decode ``wire`` with both; count; return what happened and any unexplained problem."""
    STATS.parts[part] += 1
    ours = err = None
    try:
        ours = decode(wire)
    except WireError as e:
        err = e
    except Exception:  # noqa: BLE001 - the point: nothing but WireError may escape
        STATS.outcomes["ours raised a non-WireError"] += 1
        return Outcome("crash", "non-WireError from decode:\n" + traceback.format_exc())
    theirs, their_exc = parse_dnspython(wire)
    if ours is not None and theirs is not None:
        notes: Counter[str] = Counter()
        try:
            diffs = compare(ours, theirs, wire, notes)
        except Exception:  # noqa: BLE001
            diffs = ["comparison failed:\n" + traceback.format_exc()]
        STATS.outcomes["both accept"] += 1
        STATS.normalized.update(notes)
        return Outcome("both accept", "; ".join(diffs) if diffs else None)
    if ours is None and theirs is None:
        STATS.outcomes["both reject"] += 1
        return Outcome("both reject")
    if ours is None:
        reason = classify_only_ours_rejects(wire, theirs, err)
        STATS.outcomes["only ours reject"] += 1
        STATS.ours_only[reason or "UNEXPLAINED"] += 1
        return Outcome("only ours reject", None if reason else f"ours: {err}; dnspython accepts")
    reason = classify_only_dnspython_rejects(wire, ours, their_exc)
    STATS.outcomes["only dnspython reject"] += 1
    STATS.theirs_only[reason or "UNEXPLAINED"] += 1
    return Outcome("only dnspython reject",
                   None if reason else f"dnspython: {their_exc!r}; ours accepts")


def run_all(inputs: Iterable[bytes], part: str) -> None:
    """Check every input; fail with the first few unexplained cases."""
    problems = []
    for wire in inputs:
        outcome = check(wire, part)
        if outcome.problem:
            problems.append(f"{outcome.kind}: {outcome.problem}\n  input {wire.hex()}")
    assert not problems, f"{len(problems)} unexplained cases; first ones:\n" + "\n".join(problems[:5])


# --- (a) generated messages ----------------------------------------------------------------------

NO_UPDATE = tuple(o for o in range(16) if o != UPDATE)
common = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                       HealthCheck.data_too_large])


def _strict(m: Message) -> None:
    wire = encode(m)
    outcome = check(wire, "(a) generated")
    assert outcome.kind == "both accept", outcome
    assert outcome.problem is None, outcome.problem


@settings(common, max_examples=1000)
@given(ws.fast_messages(opcodes=NO_UPDATE))
def test_generated_messages_agree(m: Message) -> None:
    _strict(m)


@settings(common, max_examples=200)
@given(ws.fast_update_messages())
def test_generated_updates_agree(m: Message) -> None:
    _strict(m)


@settings(common, max_examples=100)
@given(ws.messages(opcodes=NO_UPDATE))
def test_generated_messages_agree_shrinkable(m: Message) -> None:
    _strict(m)


# --- (b) messages built by dnspython -------------------------------------------------------------

ZONE_DATA = [
    ("example.com.", "SOA", ["ns1.example.com. hostmaster.example.com. 2024010101 7200 3600 1209600 300"]),
    ("example.com.", "NS", ["ns1.example.com.", "ns2.Example.NET."]),
    ("example.com.", "MX", ["10 mail.example.com.", "20 MAIL2.example.com."]),
    ("example.com.", "TXT", ['"v=spf1 -all" "second string"', '"x"']),
    ("example.com.", "A", ["192.0.2.1", "192.0.2.2"]),
    ("example.com.", "AAAA", ["2001:db8::1"]),
    ("www.example.com.", "CNAME", ["example.com."]),
    ("alias.example.com.", "DNAME", ["example.net."]),
    ("_sip._tcp.example.com.", "SRV", ["10 60 5060 sip.example.com."]),
    ("example.com.", "CAA", ['0 issue "letsencrypt.org"', '128 iodef "mailto:x@example.com"']),
    ("example.com.", "NAPTR", ['100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .']),
    ("example.com.", "DS", ["12345 13 2 " + "ab" * 32]),
    ("example.com.", "DNSKEY", ["257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="]),
    ("example.com.", "RRSIG", ["A 13 2 300 20240101000000 20231201000000 12345 example.com. " + "AAAA" * 16]),
    ("example.com.", "NSEC", ["www.example.com. A NS SOA MX TXT RRSIG NSEC DNSKEY TYPE1234"]),
    ("2vptu5timamqttgl4luu9kg21e0aor3s.example.com.", "NSEC3", ["1 1 10 AABBCCDD 2vptu5timamqttgl4luu9kg21e0aor3s A RRSIG"]),
    ("example.com.", "NSEC3PARAM", ["1 0 0 -"]),
    ("_443._tcp.www.example.com.", "TLSA", ["3 1 1 " + "cd" * 32]),
    ("example.com.", "SSHFP", ["4 2 " + "ef" * 32]),
    ("_dns.example.com.", "SVCB", ["1 dns.example.com. alpn=dot port=853 ipv6hint=2001:db8::53"]),
    ("example.com.", "HTTPS", ["1 . alpn=h2,h3 ipv4hint=192.0.2.1", "0 svc.example.net."]),
    ("example.com.", "LOC", ["52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m"]),
    ("example.com.", "URI", ['10 1 "https://example.com/"']),
    ("example.com.", "APL", ["1:192.168.32.0/21 !1:192.168.38.0/28 2:2001:db8::/32"]),
    ("example.com.", "HINFO", ['"PDP-11" "UNIX"']),
    ("example.com.", "RP", ["mbox.example.com. txt.example.com."]),
    ("example.com.", "AFSDB", ["1 afs.example.com."]),
    ("example.com.", "KX", ["10 kx.example.com."]),
    ("example.com.", "PX", ["10 map822.example.com. mapx400.example.com."]),
    ("example.com.", "RT", ["10 relay.example.com."]),
    ("example.com.", "CERT", ["PKIX 12345 RSASHA256 " + "AAAA" * 8]),
    ("example.com.", "OPENPGPKEY", ["AAAA" * 8]),
    ("example.com.", "CDS", ["0 0 0 00"]),
    ("example.com.", "CDNSKEY", ["0 3 0 AA=="]),
    ("example.com.", "CSYNC", ["66 3 A NS AAAA"]),
    ("example.com.", "ZONEMD", ["2018031500 1 1 " + "ab" * 48]),
    ("example.com.", "IPSECKEY", ["10 3 2 gw.example.com. AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ=="]),
    ("example.com.", "NID", ["10 0014:4fff:ff20:ee64"]),
    ("example.com.", "L32", ["10 10.1.2.0"]),
    ("example.com.", "L64", ["10 2001:0DB8:1140:1000"]),
    ("example.com.", "LP", ["10 l64-subnet.example.com."]),
    ("example.com.", "EUI48", ["00-00-5e-00-53-2a"]),
    ("example.com.", "EUI64", ["00-00-5e-ef-10-00-00-2a"]),
    ("example.com.", "DHCID", ["AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA="]),
    ("example.com.", "WKS", ["192.0.2.1 6 25 80"]),
    ("example.com.", "AMTRELAY", ["10 0 1 203.0.113.15"]),
    ("example.com.", "SMIMEA", ["3 1 1 " + "cd" * 32]),
    ("example.com.", "SPF", ['"v=spf1 -all"']),
    ("example.com.", "GPOS", ["-32.6882 116.8652 10.0"]),
    ("example.com.", "ISDN", ['"150862028003217" "004"']),
    ("example.com.", "X25", ['"311061700956"']),
    ("example.com.", "NSAP-PTR", ["foo.example.com."]),
    ("example.com.", "KEY", ["256 3 13 " + "AAAA" * 8]),
    ("example.com.", "SIG", ["A 13 2 300 20240101000000 20231201000000 12345 example.com. " + "AAAA" * 16]),
    ("example.com.", "PTR", ["host.example.com."]),
    ("example.com.", "TYPE65280", ["\\# 4 deadbeef"]),
    ("example.com.", "MINFO", ["\\# 7 02726d00016500"]),
    ("example.com.", "MB", ["\\# 5 036d627800"]),
]


def _rrsets() -> list[dns.rrset.RRset]:
    return [dns.rrset.from_text(owner, 3600, "IN", rdtype, *texts)
            for owner, rdtype, texts in ZONE_DATA]


KEYRING = dns.tsigkeyring.from_text({"tsig-key.": "Zm9vYmFyYmF6cXV4cXV1eA=="})


def dnspython_corpus() -> list[bytes]:
    """Queries and responses written by dnspython (compressed), of every type in ZONE_DATA;
    the same octets on every run (fixed IDs, RRs not shuffled, TSIG time signed fixed)."""
    with unittest.mock.patch("time.time", return_value=1_700_000_000.0):
        return _dnspython_messages()


def _wire(m: dns.message.Message) -> bytes:
    return m.to_wire(max_size=65535, want_shuffle=False)


def _dnspython_messages() -> list[bytes]:
    out = []
    q = dns.message.make_query("www.Example.COM.", "A", want_dnssec=True, payload=1232, id=0x1234,
                               options=[dns.edns.GenericOption(3, b""),
                                        dns.edns.CookieOption(b"\x01" * 8, b"")])
    out.append(_wire(q))
    out.append(_wire(dns.message.make_query("example.com.", "MX", id=1)))
    out.append(_wire(dns.message.make_query("example.com.", "AXFR", use_edns=False, id=2)))
    sets = _rrsets()
    for i in range(0, len(sets), 6):  # responses of six RRsets each, in all three sections
        r = dns.message.make_response(q)
        r.flags |= dns.flags.AA
        chunk = sets[i:i + 6]
        r.answer = chunk[:3]
        r.authority = chunk[3:5]
        r.additional = chunk[5:]
        out.append(_wire(r))
    r = dns.message.make_response(q)  # every RRset in one big answer
    r.answer = sets
    out.append(_wire(r))
    r = dns.message.make_response(q)  # extended rcode, EDE
    r.use_edns(0, dns.flags.DO, 1232, options=[dns.edns.EDEOption(dns.edns.EDECode.STALE_ANSWER,
                                                                  "stale")])
    r.set_rcode(dns.rcode.BADVERS)
    out.append(_wire(r))
    r = dns.message.make_response(q)
    r.set_rcode(dns.rcode.NXDOMAIN)
    r.authority = [sets[0]]
    r.flags |= dns.flags.TC
    out.append(_wire(r))
    signed = dns.message.make_query("example.com.", "SOA", id=3)  # TSIG-signed
    signed.use_tsig(KEYRING, keyname="tsig-key.")
    out.append(_wire(signed))
    u = dns.update.UpdateMessage("example.com.", keyring=KEYRING, keyname="tsig-key.", id=4)
    u.add("new", 300, "A", "192.0.2.7")
    u.add("new", 300, "MX", "10 mail.example.com.")
    u.delete("old")
    u.delete("old2", "A")
    u.delete("old3", "A", "192.0.2.9")
    u.present("must")
    u.absent("mustnot")
    u.present("typed", "TXT")
    u.replace("rep", 300, "TXT", '"hello"')
    out.append(_wire(u))
    u = dns.update.UpdateMessage("example.com.", id=5)
    u.add("x", 60, "SRV", "0 0 80 www.example.com.")
    out.append(_wire(u))
    n = dns.message.make_query("example.com.", "SOA", id=6)
    n.set_opcode(dns.opcode.NOTIFY)
    n.flags |= dns.flags.AA
    out.append(_wire(n))
    glue = dns.message.make_response(dns.message.make_query("sub.example.com.", "A", id=7))
    glue.authority = [dns.rrset.from_text("sub.example.com.", 86400, "IN", "NS",
                                          "ns1.sub.example.com.", "ns2.sub.example.com.")]
    glue.additional = [dns.rrset.from_text("ns1.sub.example.com.", 86400, "IN", "A", "192.0.2.53"),
                       dns.rrset.from_text("ns2.sub.example.com.", 86400, "IN", "AAAA", "2001:db8::53")]
    out.append(_wire(glue))
    return out


CORPUS_B = dnspython_corpus()


def test_dnspython_built_messages_agree() -> None:
    assert len(CORPUS_B) >= 15
    for wire in CORPUS_B:
        outcome = check(wire, "(b) dnspython-built")
        assert outcome.kind == "both accept", (outcome, wire.hex())
        assert outcome.problem is None, outcome.problem


def test_every_zone_type_is_in_the_corpus() -> None:
    seen = Counter()
    for wire in CORPUS_B:
        for sp in spans(wire):
            seen[sp.rrtype] += 1
    for _, rdtype, _ in ZONE_DATA:
        assert seen[dns.rdatatype.from_text(rdtype)], rdtype


# --- (c) mutations -------------------------------------------------------------------------------

def _generated_seeds(count: int, seed: int) -> list[bytes]:
    """The ``count`` smallest of 3 * ``count`` generated messages (dnspython's time grows with
    size), and a quarter as many UPDATE messages."""
    rng = random.Random(seed)
    wires = sorted((encode(ws.random_message(rng)) for _ in range(3 * count)), key=len)
    return wires[:count] + [encode(ws.update_message(ws.RandomPicker(rng)))
                            for _ in range(count // 4)]


def truncations(seeds: list[bytes], rng: random.Random | None = None, every: int = 600
                ) -> Iterable[bytes]:
    """Every proper prefix of each seed up to ``every`` octets long; of longer seeds, every
    prefix that ends within a few octets of an RR boundary and 200 more at random."""
    for wire in seeds:
        if len(wire) <= every or rng is None:
            yield from (wire[:k] for k in range(len(wire)))
            continue
        cuts = {sp.start + d for sp in spans(wire) for d in (-1, 0, 1, 2, 11, 12)}
        cuts |= {sp.rdata + sp.rdlength - 1 for sp in spans(wire)}
        cuts |= set(rng.sample(range(len(wire)), 200))
        yield from (wire[:k] for k in sorted(cuts) if 0 <= k < len(wire))


def bit_flips(seeds: list[bytes], rng: random.Random, per_message: int) -> Iterable[bytes]:
    """``per_message`` single-bit flips at random positions of each seed (a fifth as many in
    seeds over 600 octets, which dnspython reads slowly)."""
    for wire in seeds:
        bits = len(wire) * 8
        n = per_message if len(wire) <= 600 else per_message // 5
        positions = range(bits) if bits <= n else rng.sample(range(bits), n)
        for bit in positions:
            data = bytearray(wire)
            data[bit // 8] ^= 0x80 >> (bit % 8)
            yield bytes(data)


def splices(seeds: list[bytes], rng: random.Random, count: int) -> Iterable[bytes]:
    for _ in range(count):
        a, b = rng.choice(seeds), rng.choice(seeds)
        yield a[:rng.randint(0, len(a))] + b[rng.randint(0, len(b)):]


SPECIAL_OCTETS = (0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xC0, 0xFF)


def overwrites(seeds: list[bytes], rng: random.Random, count: int) -> Iterable[bytes]:
    for _ in range(count):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            data[at] = rng.choice(SPECIAL_OCTETS) if rng.random() < 0.5 else rng.randrange(256)
        if rng.random() < 0.2:  # a section count off by a little
            at = rng.choice((4, 6, 8, 10))
            data[at:at + 2] = struct.pack("!H", max(0, struct.unpack_from("!H", data, at)[0]
                                                    + rng.randint(-2, 2)))
        yield bytes(data)


@pytest.mark.slow
def test_truncations_of_dnspython_messages() -> None:
    run_all(truncations(CORPUS_B, random.Random(0x7C)), "(c) truncated")


@pytest.mark.slow
def test_bit_flips_of_dnspython_messages() -> None:
    run_all(bit_flips(CORPUS_B, random.Random(0xB17), 300), "(c) bit flip")


@pytest.mark.slow
def test_splices_of_dnspython_messages() -> None:
    run_all(splices(CORPUS_B, random.Random(0x5B1), 1500), "(c) splice")


@pytest.mark.slow
def test_overwrites_of_dnspython_messages() -> None:
    run_all(overwrites(CORPUS_B, random.Random(0x0E4), 3000), "(c) overwrite")


@pytest.mark.slow
def test_mutations_of_generated_messages() -> None:
    seeds = _generated_seeds(60, 0x6E4)
    rng = random.Random(0x6E5)
    run_all(bit_flips(seeds, rng, 40), "(c) generated, bit flip")
    run_all(overwrites(seeds, rng, 2500), "(c) generated, overwrite")
    run_all(splices(seeds, rng, 500), "(c) generated, splice")
    run_all(truncations(seeds[20:35]), "(c) generated, truncated")


# --- (d) the malformed corpus ----------------------------------------------------------------------

def test_malformed_corpus_differential() -> None:
    run_all((data for _, data, _ in MALFORMED), "(d) malformed corpus")
    for name, data, _ in MALFORMED:
        with pytest.raises(WireError):
            decode(data)


# --- report ----------------------------------------------------------------------------------------

def test_zz_report_counts() -> None:
    """Print the counts (visible with -s); runs last in this module."""
    total = sum(STATS.parts.values())
    if not total:
        pytest.skip("no differential input ran in this session")
    print("\ndifferential decoding against dnspython")
    for part, count in sorted(STATS.parts.items()):
        print(f"  inputs {part}: {count}")
    print(f"  total checked: {total}")
    for kind in ("both accept", "both reject", "only ours reject", "only dnspython reject",
                 "ours raised a non-WireError"):
        print(f"  {kind}: {STATS.outcomes[kind]}")
    for reason, count in STATS.ours_only.most_common():
        print(f"    only ours reject, {reason}: {count}")
    for reason, count in STATS.theirs_only.most_common():
        print(f"    only dnspython reject, {reason}: {count}")
    for what, count in STATS.normalized.most_common():
        print(f"    normalized when both accept, {what}: {count}")
    print("  allowed differences (closed lists):")
    for title, entries in (("only dnspython rejects", ONLY_DNSPYTHON_REJECTS),
                           ("only ours rejects", ONLY_OURS_REJECTS)):
        for a in entries:
            print(f"    {title}, {a.name}: {a.reason}")
    for name, reason in NORMALIZATIONS.items():
        print(f"    normalization, {name}: {reason}")
    assert STATS.outcomes["ours raised a non-WireError"] == 0
    if STATS.parts["(c) truncated"] and STATS.parts["(a) generated"]:
        assert total >= 20_000
