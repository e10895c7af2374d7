"""Domain names: presentation form, limits, comparison, canonical order, decompression and the
compressing writer (RFC 1035 §2.3.4, §3.1, §4.1.4, §5.1; RFC 4343; RFC 4034 §6.1)."""

from __future__ import annotations

import random

import pytest

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import ROOT, Compressor, Name, decode_name

ORIGIN = Name.from_text("example.com.")


def n(text: str) -> Name:
    return Name.from_text(text)


# --- presentation form ------------------------------------------------------------------------

# (text in, origin, labels, canonical text out)
TEXT_CASES = [
    ("example.com.", None, (b"example", b"com"), "example.com."),
    ("Example.COM.", None, (b"Example", b"COM"), "Example.COM."),
    (".", None, (), "."),
    ("a\\.b.example.", None, (b"a.b", b"example"), "a\\.b.example."),
    ("\\065bc.", None, (b"Abc",), "Abc."),
    ("\\000\\255\\127.", None, (b"\x00\xff\x7f",), "\\000\\255\\127."),
    ("a\\ b.", None, (b"a b",), "a\\ b."),
    ("a b.", None, (b"a b",), "a\\ b."),
    ("\\@home.", None, (b"@home",), "\\@home."),
    ("\\$x.\\;y.", None, (b"$x", b";y"), "\\$x.\\;y."),
    ('\\"q\\(\\).', None, (b'"q()',), '\\"q\\(\\).'),
    ("\\\\.", None, (b"\\",), "\\\\."),
    ("\\046.", None, (b".",), "\\.."),
    ("ab\\c.", None, (b"abc",), "abc."),
    ("\t.", None, (b"\t",), "\\009."),
    ("@", ORIGIN, (b"example", b"com"), "example.com."),
    ("www", ORIGIN, (b"www", b"example", b"com"), "www.example.com."),
    ("a.B", ORIGIN, (b"a", b"B", b"example", b"com"), "a.B.example.com."),
    ("a\\.b", ORIGIN, (b"a.b", b"example", b"com"), "a\\.b.example.com."),
    ("www.other.", ORIGIN, (b"www", b"other"), "www.other."),
    ("x" * 63 + ".", None, (b"x" * 63,), "x" * 63 + "."),
]


@pytest.mark.parametrize("text, origin, labels, out", TEXT_CASES, ids=[c[0] for c in TEXT_CASES])
def test_from_text_to_text(text: str, origin: Name | None, labels: tuple, out: str) -> None:
    name = Name.from_text(text, origin)
    assert name.labels == labels
    assert name.to_text() == out
    assert str(name) == out
    again = Name.from_text(out)
    assert again.wire == name.wire  # the output parses back to the same octets, case kept


@pytest.mark.parametrize("raw", [b"\x00", b"\x2e", b"\x5c", b"@", b"$", b" ", b"\x7f", b"\xff",
                                 b'"', b"(", b")", b";", b"Aa0-_*", bytes(range(1, 64))])
def test_any_label_octets_survive_text(raw: bytes) -> None:
    name = Name.from_labels([raw, b"Example"])
    assert Name.from_text(name.to_text()).wire == name.wire


RELATIVIZE_CASES = [
    ("example.com.", "@"),
    ("www.example.com.", "www"),
    ("a.b.EXAMPLE.com.", "a.b"),
    ("a\\.b.example.com.", "a\\.b"),
    ("bexample.com.", "bexample.com."),
    ("com.", "com."),
]


@pytest.mark.parametrize("text, rel", RELATIVIZE_CASES)
def test_relativize_text(text: str, rel: str) -> None:
    name = n(text)
    assert name.relativize_text(ORIGIN) == rel
    assert Name.from_text(rel, ORIGIN) == name


BAD_TEXT = [
    ("label of 64", "x" * 64 + ".", None),
    ("label of 64 relative", "x" * 64, ORIGIN),
    ("name of 257", ("x" * 63 + ".") * 4, None),
    ("relative name over 255 with origin", ("x" * 63 + ".") * 3 + "x" * 50, ORIGIN),
    ("empty label", "a..b.", None),
    ("leading dot", ".a.", None),
    ("two dots", "..", None),
    ("empty text", "", ORIGIN),
    ("dangling escape", "a\\", None),
    ("short DDD", "a\\25", None),
    ("DDD not digits", "a\\25x.", None),
    ("DDD over 255", "a\\256.", None),
    ("relative without origin", "www", None),
    ("@ without origin", "@", None),
]


@pytest.mark.parametrize("text, origin", [c[1:] for c in BAD_TEXT], ids=[c[0] for c in BAD_TEXT])
def test_from_text_rejects(text: str, origin: Name | None) -> None:
    with pytest.raises(WireError):
        Name.from_text(text, origin)


def test_longest_name_is_255_octets() -> None:
    labels = [b"x" * 63] * 3 + [b"y" * 61]
    name = Name.from_labels(labels)
    assert len(name.wire) == 255
    assert Name.from_text(name.to_text()).wire == name.wire
    with pytest.raises(WireError):
        Name.from_labels(labels[:3] + [b"y" * 62])


@pytest.mark.parametrize("labels", [[b""], [b"a", b""], [b"x" * 64], [b"a"] * 128])
def test_from_labels_rejects(labels: list[bytes]) -> None:
    with pytest.raises(WireError):
        Name.from_labels(labels)


# --- comparison -------------------------------------------------------------------------------

EQUAL = [
    ("example.com.", "EXAMPLE.COM."),
    ("ExAmPle.cOm.", "example.com."),
    ("\\065.", "a."),
    ("a\\.b.", "A\\.B."),
    (".", "."),
]
NOT_EQUAL = [
    ("example.com.", "example.com.au."),
    ("example.com.", "www.example.com."),
    ("a\\.b.", "a.b."),
    ("\\196.", "\\228."),  # 0xC4 vs 0xE4: only ASCII letters fold (RFC 4343 §3)
    ("\\091.", "\\123."),  # '[' vs '{': not letters
    ("a.", "a\\000."),
]


@pytest.mark.parametrize("a, b", EQUAL)
def test_equal_case_insensitive(a: str, b: str) -> None:
    assert n(a) == n(b)
    assert hash(n(a)) == hash(n(b))
    assert len({n(a), n(b)}) == 1
    assert not n(a) < n(b) and not n(b) < n(a)


@pytest.mark.parametrize("a, b", NOT_EQUAL)
def test_not_equal(a: str, b: str) -> None:
    assert n(a) != n(b)
    assert (n(a) < n(b)) != (n(b) < n(a))


def test_case_kept_though_equal() -> None:
    assert n("WwW.Example.COM.").wire == b"\x03WwW\x07Example\x03COM\x00"
    assert n("WwW.Example.COM.").key == b"\x03www\x07example\x03com\x00"


# RFC 4034 §6.1, the example list in canonical order.
RFC4034_ORDER = [
    "example.",
    "a.example.",
    "yljkjljk.a.example.",
    "Z.a.example.",
    "zABC.a.EXAMPLE.",
    "z.example.",
    "\\001.z.example.",
    "*.z.example.",
    "\\200.z.example.",
]


def test_canonical_order_rfc4034_example() -> None:
    names = [n(t) for t in RFC4034_ORDER]
    for seed in range(20):
        shuffled = names[:]
        random.Random(seed).shuffle(shuffled)
        assert [x.to_text() for x in sorted(shuffled)] == RFC4034_ORDER
    for a, b in zip(names, names[1:]):
        assert a < b and not b < a


@pytest.mark.parametrize("a, b", [
    (".", "a."),
    ("a.", "A.b."),  # the rightmost labels decide: a < b
    ("z.a.", "b."),
    ("a.b.", "aa.b."),
    ("a.b.", "a\\000.b."),  # absence sorts before a zero octet
    ("B.", "a.B."),
])
def test_canonical_order_pairs(a: str, b: str) -> None:
    assert n(a) < n(b)
    assert not n(b) < n(a)


# --- hierarchy -------------------------------------------------------------------------------

SUBDOMAIN = [
    ("www.example.com.", "example.com.", True),
    ("example.com.", "example.com.", True),
    ("WWW.EXAMPLE.com.", "example.COM.", True),
    ("a.b.c.example.com.", "c.example.com.", True),
    ("anything.at.all.", ".", True),
    (".", ".", True),
    ("bexample.com.", "example.com.", False),
    ("b.xample.com.", "example.com.", False),
    ("example.com.", "www.example.com.", False),
    (".", "com.", False),
    ("example.org.", "example.com.", False),
    ("a\\.example.com.", "example.com.", False),  # one label "a.example" under com.
    ("example\\.com.", "com.", False),
]


@pytest.mark.parametrize("name, other, expected", SUBDOMAIN)
def test_is_subdomain(name: str, other: str, expected: bool) -> None:
    assert n(name).is_subdomain(n(other)) is expected


def test_is_subdomain_label_boundary_in_binary_label() -> None:
    # One label whose octets spell "\x07example\x03com": its key ends with example.com.'s key,
    # but not at a label boundary.
    name = Name.from_labels([b"x\x07example\x03com"])
    assert name.key.endswith(ORIGIN.key)
    assert not name.is_subdomain(ORIGIN)
    assert Name.from_labels([b"x\x07example\x03com", b"example", b"com"]).is_subdomain(ORIGIN)


def test_parent_chain() -> None:
    name = n("www.Example.com.")
    chain = []
    while name != ROOT:
        chain.append(name.to_text())
        name = name.parent()
    assert chain == ["www.Example.com.", "Example.com.", "com."]
    with pytest.raises(WireError):
        ROOT.parent()


def test_concatenate() -> None:
    rel = Name.from_labels([b"WWW"])
    full = rel.concatenate(ORIGIN)
    assert full.wire == b"\x03WWW\x07example\x03com\x00"
    assert full == n("www.example.com.")
    assert ROOT.concatenate(ORIGIN) == ORIGIN
    assert ORIGIN.concatenate(ROOT) == ORIGIN
    long = Name.from_labels([b"x" * 63] * 3 + [b"y" * 50])
    with pytest.raises(WireError):
        long.concatenate(ORIGIN)


def test_label_count() -> None:
    assert ROOT.label_count() == 0
    assert n("a.b.c.").label_count() == 3


# --- decoding --------------------------------------------------------------------------------

HEADER = bytes(12)
EXAMPLE_COM = b"\x07example\x03com\x00"      # at 12..24
WWW_PTR = b"\x03www\xc0\x0c"                 # at 25..30: www + -> 12
A_PTR = b"\x01a\xc0\x19"                     # at 31..34: a + -> 25
ROOT_PTR = b"\xc0\x18"                       # at 35..36: -> 24 (the root label)
BARE_PTR = b"\xc0\x1f"                       # at 37..38: -> 31
DATA = HEADER + EXAMPLE_COM + WWW_PTR + A_PTR + ROOT_PTR + BARE_PTR

DECODE_CASES = [
    ("uncompressed", 12, "example.com.", 25),
    ("label then pointer", 25, "www.example.com.", 31),
    ("chain of two pointers", 31, "a.www.example.com.", 35),
    ("pointer to the root label", 35, ".", 37),
    ("pointer to a pointer chain", 37, "a.www.example.com.", 39),
    ("pointer into a name's middle", 20, "com.", 25),
]


@pytest.mark.parametrize("pos, text, next_pos", [c[1:] for c in DECODE_CASES],
                         ids=[c[0] for c in DECODE_CASES])
def test_decode_name(pos: int, text: str, next_pos: int) -> None:
    name, after = decode_name(DATA, pos, len(DATA))
    assert name.to_text() == text
    assert after == next_pos


def test_decode_name_keeps_case_of_each_part() -> None:
    data = HEADER + b"\x07ExAmPlE\x03COM\x00" + b"\x03WwW\xc0\x0c"
    name, _ = decode_name(data, 25, len(data))
    assert name.wire == b"\x03WwW\x07ExAmPlE\x03COM\x00"


DECODE_ERRORS = [
    ("pointer when not allowed", DATA, 25, len(DATA), False, 29),
    ("name past the end bound", DATA, 12, 20, True, 20),
    ("pointer to itself", HEADER + b"\xc0\x0c", 12, 14, True, 12),
    ("forward pointer", HEADER + b"\xc0\x0e\x00", 12, 15, True, 12),
    ("pointer into the same name", HEADER + b"\x01a\xc0\x0d", 12, 16, True, 14),
    ("reserved label type 0x40", HEADER + b"\x41", 12, 13, True, 12),
    ("reserved label type 0x80", HEADER + b"\x80", 12, 13, True, 12),
    ("label past the end", HEADER + b"\x05abc", 12, 16, True, 12),
    ("half a pointer", HEADER + b"\x00\xc0", 13, 14, True, 13),
    ("no root label", HEADER + b"\x01a", 12, 14, True, 14),
]


@pytest.mark.parametrize("data, pos, end, decompress, offset", [c[1:] for c in DECODE_ERRORS],
                         ids=[c[0] for c in DECODE_ERRORS])
def test_decode_name_errors(data: bytes, pos: int, end: int, decompress: bool, offset: int) -> None:
    with pytest.raises(WireError) as e:
        decode_name(data, pos, end, decompress=decompress)
    assert e.value.offset == offset


def test_decode_name_over_255_via_pointers() -> None:
    # Four names of one 62-octet label each, each pointing to the one before: 4*63+1 = 253
    # octets fit; a fifth label of 3 octets takes it to 257.
    data = bytearray(HEADER + b"\x3e" + b"x" * 62 + b"\x00")
    prev = 12
    for _ in range(3):
        at = len(data)
        data += b"\x3e" + b"y" * 62 + bytes((0xC0 | prev >> 8, prev & 0xFF))
        prev = at
    name, _ = decode_name(bytes(data), prev, len(data))
    assert len(name.wire) == 253
    last = len(data)
    data += b"\x03zzz" + bytes((0xC0 | prev >> 8, prev & 0xFF))
    with pytest.raises(WireError) as e:
        decode_name(bytes(data), last, len(data))
    assert "255" in e.value.reason


def test_decode_name_too_many_hops() -> None:
    # A chain of 17 pointers, each to the one before, ending at the root label.
    data = bytearray(HEADER + b"\x00")
    prev = 12
    for _ in range(17):
        at = len(data)
        data += bytes((0xC0 | prev >> 8, prev & 0xFF))
        prev = at
    name, _ = decode_name(bytes(data), prev - 2, len(data))  # 16 hops: fine
    assert name == ROOT
    with pytest.raises(WireError) as e:
        decode_name(bytes(data), prev, len(data))
    assert "pointer" in e.value.reason


# --- compressing writer ----------------------------------------------------------------------

WRITE_CASES = [
    ["example.com.", "www.example.com.", "a.www.EXAMPLE.com.", "com.", "."],
    ["a.", "b.", "a.", "A."],
    ["mail.example.org.", "example.org.", "ns1.example.org.", "ns2.example.org.", "org."],
    ["x\\.y.z.", "y.z.", "z."],
]


@pytest.mark.parametrize("texts", WRITE_CASES)
def test_compressor_decodes_back_and_shrinks(texts: list[str]) -> None:
    buf = bytearray(HEADER)
    comp = Compressor()
    starts = []
    for t in texts:
        starts.append(len(buf))
        comp.write(buf, n(t))
    uncompressed = len(HEADER) + sum(len(n(t).wire) for t in texts)
    assert len(buf) < uncompressed
    data = bytes(buf)
    for t, at in zip(texts, starts):
        name, _ = decode_name(data, at, len(data))
        assert name == n(t)


def test_compressor_repeat_is_one_pointer() -> None:
    buf = bytearray(HEADER)
    comp = Compressor()
    comp.write(buf, n("www.example.com."))
    comp.write(buf, n("WWW.example.com."))
    assert bytes(buf[-2:]) == b"\xc0\x0c"
    assert len(buf) == 12 + 17 + 2


def test_compressor_without_compression_writes_wire() -> None:
    buf = bytearray(HEADER)
    comp = Compressor()
    comp.write(buf, n("example.com."))
    comp.write(buf, n("www.example.com."), compress=False)
    assert bytes(buf[25:]) == n("www.example.com.").wire


def test_compressor_does_not_point_beyond_0x3fff() -> None:
    buf = bytearray(0x4000)
    comp = Compressor()
    comp.write(buf, n("far.example."))
    comp.write(buf, n("far.example."))
    assert bytes(buf[0x4000:]) == n("far.example.").wire * 2
