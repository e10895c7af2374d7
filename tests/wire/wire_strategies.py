"""Hypothesis strategies for wire messages, shared by the round-trip and differential tests.

Every message drawn here respects the codec's invariants, so ``decode(encode(m))`` must give it
back: rdata is valid for its type's layout in ``rdata.LAYOUTS`` (names, fixed fields,
character-strings, counted16 fields, type bitmaps with ascending non-empty windows and no
trailing zero octet), OPT and TSIG never sit in a section (they travel as ``Message.edns`` and
``Message.tsig``), the rcode is over 15 only when EDNS is present, and messages stay far below
the 0x4000-octet reach of compression pointers.

The rdata is also valid for dnspython where dnspython reads a field semantically (DS digest
lengths, NSEC3 hash length, SVCB parameter keys, EDE text, COOKIE lengths, the TSIG error), so
the differential test can demand that dnspython accepts every message drawn here. Opaque types
come from a range dnspython does not know either (32770..65534), so both keep them as octets.

One generator, two sources of choices: :func:`messages` draws every choice from Hypothesis
(fine-grained shrinking, about 15 ms a message), :func:`fast_messages` draws one seed from
Hypothesis and makes the choices with :class:`random.Random` (well under 1 ms a message) for the
tests that need thousands of messages. :func:`random_message` is the same generator for plain
seeded loops.
"""

from __future__ import annotations

import random
import string
import struct
from typing import Protocol, Sequence, TypeVar

from hypothesis import strategies as st

from dns_suite.wire.edns import COOKIE, EDE, NSID, PADDING, Edns, EdnsOption
from dns_suite.wire.message import RR, Message, Question
from dns_suite.wire.name import MAX_NAME, Name
from dns_suite.wire.rdata import LAYOUTS

OPT, TSIG, UPDATE = 41, 250, 5
IN, CH, HS, NONE, ANY = 1, 3, 4, 254, 255
SOA = 6

# Types with an IN-specific layout in dnspython (rdtypes/IN, and CH A): drawn in class IN only.
IN_ONLY = frozenset({1, 28, 33, 35, 26, 36, 64, 65})
# Every type with a layout, except the TSIG pseudo-RR which only travels as Message.tsig.
LAYOUT_TYPES = tuple(sorted(t for t in LAYOUTS if t != TSIG))
OPAQUE_TYPE_RANGE = (32770, 65534)

_LDH = (string.ascii_letters + string.digits + "-").encode()
_LDH_TABLE = bytes(_LDH[i % len(_LDH)] for i in range(256))
# DS/CDS digest types whose lengths dnspython checks (RFC 3658 §2.4, RFC 4509 §2.2,
# RFC 5933 §4, RFC 6605 §2); other nonzero digest types take any non-empty digest.
DS_DIGEST_LENGTHS = {1: 20, 2: 32, 3: 32, 4: 48}

# Data lengths fixed by the matching type (TLSA, SMIMEA: RFC 6698 §2.1.3) or the fingerprint
# type (SSHFP: RFC 4255 §3.1.2, RFC 6594), checked by dnspython.
_TLSA_LENGTHS = {1: 32, 2: 64}
DATA_LENGTHS = {52: _TLSA_LENGTHS, 53: _TLSA_LENGTHS, 44: {1: 20, 2: 32}}

T = TypeVar("T")


class Picker(Protocol):
    """Where the generator's choices come from."""

    def integer(self, lo: int, hi: int) -> int: ...
    def octets(self, lo: int, hi: int) -> bytes: ...
    def choice(self, items: Sequence[T]) -> T: ...


class HypothesisPicker:
    """Choices drawn from Hypothesis, one draw each (shrinks well, slow)."""

    def __init__(self, draw) -> None:
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))

    def octets(self, lo: int, hi: int) -> bytes:
        return self.draw(st.binary(min_size=lo, max_size=hi))

    def choice(self, items: Sequence[T]) -> T:
        return self.draw(st.sampled_from(items))


class RandomPicker:
    """Choices made by a :class:`random.Random` (fast, deterministic for a seed)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def integer(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def octets(self, lo: int, hi: int) -> bytes:
        return self.rng.randbytes(self.rng.randint(lo, hi))

    def choice(self, items: Sequence[T]) -> T:
        return self.rng.choice(items)


def _counted(data: bytes) -> bytes:
    return bytes((len(data),)) + data


def _counted16(data: bytes) -> bytes:
    return struct.pack("!H", len(data)) + data


# --- names ---------------------------------------------------------------------------------

def label(p: Picker) -> bytes:
    """A host-name style label (letters of mixed case, digits, hyphens) or one of any octets."""
    if p.integer(0, 2):
        return p.octets(1, 12).translate(_LDH_TABLE)
    return p.octets(1, 63)


def name(p: Picker, max_labels: int = 6, suffix: Name | None = None) -> Name:
    """A name of random labels under ``suffix`` (default the root), within 255 octets."""
    base = suffix.wire if suffix is not None else b"\0"
    parts: list[bytes] = []
    size = len(base)
    for _ in range(p.integer(0, max_labels)):
        lab = label(p)
        if size + len(lab) + 1 > MAX_NAME:
            break
        parts.append(bytes((len(lab),)) + lab)
        size += len(lab) + 1
    return Name(b"".join(parts) + base)


def recase(p: Picker, n: Name) -> Name:
    """``n`` with the case of its ASCII letters flipped at random (RFC 4343)."""
    mask = p.integer(0, (1 << len(n.wire)) - 1)
    return Name(bytes(b ^ 0x20 if mask >> i & 1 and (65 <= b <= 90 or 97 <= b <= 122) else b
                      for i, b in enumerate(n.wire)))


class NamePool:
    """Names of one message: many share a suffix with a few base names, so compression has
    work to do; with ``lowercase`` every name is lowercase."""

    def __init__(self, p: Picker, lowercase: bool) -> None:
        self.p = p
        self.lowercase = lowercase
        self.bases = [name(p, max_labels=3) for _ in range(p.integer(1, 3))]

    def __call__(self) -> Name:
        p = self.p
        kind = p.integer(0, 5)
        if kind == 0:
            n = name(p)
        else:
            base = p.choice(self.bases)
            n = base if kind == 1 else name(p, max_labels=2, suffix=base)
            if kind >= 3:
                n = recase(p, n)
        return Name(n.key) if self.lowercase else n


# --- rdata ---------------------------------------------------------------------------------

def type_bitmap(p: Picker) -> bytes:
    """An NSEC-style type bitmap (RFC 4034 §4.1.2): ascending windows of 1..32 octets whose
    last octet is nonzero; possibly empty."""
    windows = sorted({p.integer(0, 255) for _ in range(p.integer(0, 3))})
    out = bytearray()
    for window in windows:
        octets = bytearray(p.octets(1, 32))
        if octets[-1] == 0:
            octets[-1] = p.integer(1, 255)
        out += bytes((window, len(octets))) + octets
    return bytes(out)


def svcb_params(p: Picker) -> bytes:
    """SvcParams (RFC 9460 §2.2): keys strictly ascending, from the unassigned range so no key
    has a value syntax of its own."""
    out = bytearray()
    for key in sorted({p.integer(1000, 65000) for _ in range(p.integer(0, 3))}):
        value = p.octets(1, 12)
        out += struct.pack("!HH", key, len(value)) + value
    return bytes(out)


def rdata_for(p: Picker, rrtype: int, names) -> bytes:
    """Valid rdata for ``rrtype``, built by walking its layout; opaque octets otherwise."""
    layout = LAYOUTS.get(rrtype)
    if layout is None:
        return p.octets(0, 40)
    if rrtype in (43, 59):  # DS, CDS: key tag, algorithm, digest type, digest
        digest_type = p.choice((1, 2, 3, 4, 5, 200))
        n = DS_DIGEST_LENGTHS.get(digest_type) or p.integer(1, 40)
        return p.octets(3, 3) + bytes((digest_type,)) + p.octets(n, n)
    if rrtype == TSIG:  # error field within dnspython's 12-bit Rcode range
        return (names().wire + p.octets(8, 8) + _counted16(p.octets(0, 32)) + p.octets(2, 2)
                + struct.pack("!H", p.integer(0, 4095)) + _counted16(p.octets(0, 8)))
    if rrtype in (52, 53, 44):  # TLSA, SMIMEA, SSHFP: data lengths fixed by the type
        head = p.octets(2 if rrtype == 44 else 3, 2 if rrtype == 44 else 3)
        kind = p.choice((1, 2, 0, 3, 200))
        n = DATA_LENGTHS[rrtype].get(kind) or p.integer(1 if rrtype == 44 else 0, 40)
        return head[:-1] + bytes((kind,)) + p.octets(n, n)
    if rrtype in (64, 65):  # SVCB, HTTPS: no SvcParams in AliasMode (RFC 9460 §2.4.2)
        priority = p.choice((0, 1, p.integer(0, 65535)))
        return struct.pack("!H", priority) + names().wire + (svcb_params(p) if priority else b"")
    if rrtype == 50:  # NSEC3: hash length 1..255 (RFC 5155 §3.1.6)
        return (p.octets(4, 4) + _counted(p.octets(0, 16)) + _counted(p.octets(1, 32))
                + type_bitmap(p))
    out = bytearray()
    for item in layout:
        if isinstance(item, int):
            out += p.octets(item, item)
        elif item in ("n", "N"):
            out += names().wire
        elif item == "s":
            out += _counted(p.octets(0, 40))
        elif item == "S":
            for _ in range(p.integer(1, 4)):
                out += _counted(p.octets(0, 60))
        elif item == "x":
            out += _counted16(p.octets(0, 40))
        elif item == "b":
            out += type_bitmap(p)
        else:  # "r" or "R"
            out += p.octets(1 if item == "R" else 0, 40)
    return bytes(out)


# --- records -------------------------------------------------------------------------------

def rr_type(p: Picker) -> int:
    if p.integer(0, 3):
        return p.choice(LAYOUT_TYPES)
    return p.integer(*OPAQUE_TYPE_RANGE)


def ttl(p: Picker) -> int:
    if p.integer(0, 1):
        return p.choice((0, 300, 2**31 - 1, 2**31, 2**32 - 1))
    return p.integer(0, 2**32 - 1)


def rrset(p: Picker, names, update_empty: bool = False) -> list[RR]:
    """One RRset: 1..3 RRs of one owner, type and class, consecutive as encode groups them.

    With ``update_empty``, may give an RFC 2136 §2.4-2.5 record of class ANY or NONE with empty
    rdata instead.
    """
    owner = names()
    rrtype = rr_type(p)
    if update_empty and p.integer(0, 1):
        return [RR(owner=owner, rrtype=rrtype, rrclass=p.choice((ANY, NONE)), ttl=0, rdata=b"")]
    if rrtype in IN_ONLY or p.integer(0, 1):
        rrclass = IN
    else:
        rrclass = p.choice((CH, HS, NONE, ANY, p.integer(0, 65535)))
    t = ttl(p)
    return [RR(owner=owner, rrtype=rrtype, rrclass=rrclass, ttl=t, rdata=rdata_for(p, rrtype, names))
            for _ in range(p.integer(1, 3))]


def section(p: Picker, names, max_rrsets: int, update_empty: bool = False) -> tuple[RR, ...]:
    out: list[RR] = []
    for _ in range(p.integer(0, max_rrsets)):
        out += rrset(p, names, update_empty)
    return tuple(out)


def tsig_record(p: Picker, names) -> RR:
    """A TSIG RR (RFC 8945 §4.2): class ANY, TTL 0."""
    return RR(owner=names(), rrtype=TSIG, rrclass=ANY, ttl=0, rdata=rdata_for(p, TSIG, names))


# --- EDNS ----------------------------------------------------------------------------------

def edns_option(p: Picker) -> EdnsOption:
    """NSID, COOKIE (8, or 16..40 octets), EDE (UTF-8 text), padding, or a local-use code."""
    kind = p.integer(0, 4)
    if kind == 0:
        return EdnsOption(code=NSID, data=p.octets(0, 20))
    if kind == 1:
        return EdnsOption(code=COOKIE, data=p.octets(8, 8) if p.integer(0, 1) else p.octets(16, 40))
    if kind == 2:
        text = "".join(p.choice("aZ09 -é€\U0001F600") for _ in range(p.integer(0, 12)))
        return EdnsOption(code=EDE, data=struct.pack("!H", p.integer(0, 65535)) + text.encode())
    if kind == 3:
        return EdnsOption(code=PADDING, data=bytes(p.integer(0, 24)))
    return EdnsOption(code=p.integer(65001, 65534), data=p.octets(0, 20))


def edns(p: Picker) -> Edns:
    return Edns(
        payload=p.choice((512, 1232, 4096, p.integer(0, 65535))),
        version=p.choice((0, p.integer(0, 255))),
        do=bool(p.integer(0, 1)),
        z=p.choice((0, p.integer(0, 0x7FFF))),
        options=tuple(edns_option(p) for _ in range(p.integer(0, 4))),
    )


# --- messages ------------------------------------------------------------------------------

def message(p: Picker, opcodes: Sequence[int] = tuple(range(16)), lowercase: bool | None = None
            ) -> Message:
    """A message with every section, EDNS and TSIG chosen at random.

    Args:
        p: the source of choices.
        opcodes: the opcodes to choose from (UPDATE also brings RFC 2136 empty-rdata RRs).
        lowercase: only lowercase names (compression then cannot change any case and the
            round trip is exact); None chooses.
    """
    if lowercase is None:
        lowercase = bool(p.integer(0, 1))
    names = NamePool(p, lowercase)
    opcode = p.choice(opcodes)
    e = edns(p) if p.integer(0, 1) else None
    update = opcode == UPDATE
    question = tuple(Question(qname=names(), qtype=p.integer(0, 65535),
                              qclass=p.choice((IN, p.integer(0, 65535))))
                     for _ in range(p.integer(0, 2)))
    return Message(
        id=p.integer(0, 65535), flags=p.integer(0, 0xFFFF) & 0x87F0, opcode=opcode,
        rcode=p.integer(0, 4095 if e is not None else 15),
        question=question,
        answer=section(p, names, 4, update),
        authority=section(p, names, 3, update),
        additional=section(p, names, 4, update),
        edns=e,
        tsig=tsig_record(p, names) if p.integer(0, 2) == 0 else None,
    )


def update_message(p: Picker) -> Message:
    """An UPDATE (RFC 2136 §2) that dnspython also accepts: one SOA zone entry in class IN;
    prerequisites of class ANY or NONE with empty rdata, or class IN with rdata; updates of
    class IN (add), ANY with empty rdata (delete an RRset) or NONE with rdata (delete an RR);
    additional data of class IN."""
    names = NamePool(p, lowercase=False)

    def record(part: str) -> RR:
        rrtype = p.choice(LAYOUT_TYPES)
        rrclass = IN if part == "additional" else p.choice((IN, ANY, NONE))
        empty = rrclass == ANY or (rrclass == NONE and part == "prereq")
        return RR(owner=names(), rrtype=rrtype, rrclass=rrclass,
                  ttl=ttl(p) if rrclass == IN else 0,
                  rdata=b"" if empty else rdata_for(p, rrtype, names))

    return Message(
        id=p.integer(0, 65535), opcode=UPDATE, flags=p.integer(0, 0xFFFF) & 0x87F0,
        rcode=p.integer(0, 15),
        question=(Question(qname=p.choice(names.bases), qtype=SOA, qclass=IN),),
        answer=tuple(record("prereq") for _ in range(p.integer(0, 3))),
        authority=tuple(record("update") for _ in range(p.integer(0, 4))),
        additional=tuple(record("additional") for _ in range(p.integer(0, 2))),
        tsig=tsig_record(p, names) if p.integer(0, 1) else None,
    )


def random_message(rng: random.Random, **kwargs) -> Message:
    """:func:`message` with choices from ``rng``."""
    return message(RandomPicker(rng), **kwargs)


# --- strategies ----------------------------------------------------------------------------

@st.composite
def messages(draw, opcodes: Sequence[int] = tuple(range(16)), lowercase: bool | None = None
             ) -> Message:
    """Messages with every choice drawn from Hypothesis (shrinks to small examples)."""
    return message(HypothesisPicker(draw), opcodes, lowercase)


@st.composite
def update_messages(draw) -> Message:
    """:func:`update_message` with every choice drawn from Hypothesis."""
    return update_message(HypothesisPicker(draw))


def fast_messages(opcodes: Sequence[int] = tuple(range(16)), lowercase: bool | None = None):
    """Messages made from one Hypothesis-drawn seed (fast; the failing message is printed)."""
    return st.integers(0, 2**64 - 1).map(
        lambda seed: message(RandomPicker(random.Random(seed)), opcodes, lowercase))


def fast_update_messages():
    """Update messages made from one Hypothesis-drawn seed."""
    return st.integers(0, 2**64 - 1).map(
        lambda seed: update_message(RandomPicker(random.Random(seed))))
