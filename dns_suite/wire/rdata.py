"""Rdata layouts: where names sit, and structural checks (RFC 1035 §3.3, RFC 3597 §4).

Rdata stays bytes: the uncompressed wire form with the names' case kept.
This module holds one explicit table, ``LAYOUTS``, giving for each type
whose rdata we read structurally a layout string, and ``COMPRESSIBLE``, the
types whose names may be compressed on output (RFC 1035 types only, RFC 3597
§4). Names in every other type are decompressed when received compressed
(where RFC 3597 §4 allows it) but always written uncompressed.

Layout letters, read left to right:

=======  ==============================================================
``n``    a domain name
``N``    a domain name that must not arrive compressed: RFC 3597 §4 lets
         receivers decompress only the RFC 1035 types and RP, AFSDB, RT, SIG,
         PX, NXT, NAPTR, SRV
digits   that many fixed octets (``18``), digits run together form one number
``s``    a character-string: one length octet then the octets (RFC 1035 §3.3)
``S``    one or more character-strings to the end (TXT, SPF)
``x``    a two-octet length then the octets (TSIG MAC, TKEY key)
``b``    an NSEC-style type bitmap to the end (RFC 4034 §4.1.2)
``r``    the rest, any octets, possibly none
``R``    the rest, at least one octet
=======  ==============================================================

Types not in the table are opaque octets.
"""

from __future__ import annotations

import re

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Compressor, Name, decode_name
from dns_suite.wire.reader import Reader

COMPRESSIBLE: frozenset[int] = frozenset({2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 15})

_LAYOUT_TEXT: dict[int, str] = {
    1: "4",            # A
    2: "n", 3: "n", 4: "n", 5: "n",  # NS MD MF CNAME
    6: "nn20",         # SOA
    7: "n", 8: "n", 9: "n",  # MB MG MR
    12: "n",           # PTR
    13: "ss",          # HINFO
    14: "nn",          # MINFO
    15: "2n",          # MX
    16: "S",           # TXT
    17: "nn",          # RP
    18: "2n",          # AFSDB
    21: "2n",          # RT
    24: "18nr",        # SIG
    26: "2nn",         # PX
    28: "16",          # AAAA
    30: "nr",          # NXT
    33: "6n",          # SRV
    35: "4sssn",       # NAPTR
    36: "2N",          # KX
    39: "N",           # DNAME
    43: "4R", 59: "4R",  # DS CDS
    46: "18Nr",        # RRSIG
    47: "Nb",          # NSEC
    48: "4R", 60: "4R",  # DNSKEY CDNSKEY
    50: "4ssb",        # NSEC3 (hash length, then next hashed owner as counted octets)
    51: "4s",          # NSEC3PARAM
    52: "3r", 53: "3r",  # TLSA SMIMEA
    44: "2r",          # SSHFP
    64: "2Nr", 65: "2Nr",  # SVCB HTTPS
    99: "S",           # SPF
    107: "2N",         # LP
    249: "N12xx",      # TKEY
    250: "N8x4x",      # TSIG
}

_TOKEN = re.compile(r"\d+|[a-zA-Z]")


def _compile(text: str) -> tuple[int | str, ...]:
    return tuple(int(t) if t.isdigit() else t for t in _TOKEN.findall(text))


LAYOUTS: dict[int, tuple[int | str, ...]] = {t: _compile(s) for t, s in _LAYOUT_TEXT.items()}

NAME_TYPES: frozenset[int] = frozenset(t for t, s in _LAYOUT_TEXT.items() if "n" in s or "N" in s)


def decode_rdata(data: bytes, pos: int, rdlength: int, rrtype: int) -> bytes:
    """Read one RR's rdata from a message into its uncompressed wire form.

    Args:
        data: the whole message.
        pos: offset of the rdata in octets.
        rdlength: the RR's RDLENGTH in octets.
        rrtype: the RR's type code.

    Returns:
        the rdata with any compressed names expanded.

    Raises:
        WireError: rdata runs past the end, or does not match its layout.
    """
    end = pos + rdlength
    if end > len(data):
        raise WireError(f"rdata length {rdlength} runs past the end", pos)
    layout = LAYOUTS.get(rrtype)
    if layout is None:
        return data[pos:end]
    if rrtype not in NAME_TYPES:
        check_layout(Reader(data, pos, end), layout)
        return data[pos:end]
    return _expand(Reader(data, pos, end), layout)


def check_layout(r: Reader, layout: tuple[int | str, ...]) -> None:
    """Walk ``layout`` over the reader; every octet must be used.

    Raises:
        WireError: the rdata is shorter or longer than its layout.
    """
    for item in layout:
        _skip(r, item)
    if r.pos != r.end:
        raise WireError(f"{r.end - r.pos} octets after the rdata's fields", r.pos)


def _skip(r: Reader, item: int | str) -> None:
    if isinstance(item, int):
        r.take(item, "rdata field")
    elif item in "nN":
        _, r.pos = decode_name(r.data, r.pos, r.end, decompress=item == "n")
    elif item == "s":
        r.counted()
    elif item == "S":
        r.counted()
        while r.pos < r.end:
            r.counted()
    elif item == "x":
        r.counted16()
    elif item == "b":
        _check_bitmap(r)
    elif item == "R":
        if r.pos >= r.end:
            raise WireError("rdata field is empty", r.pos)
        r.pos = r.end
    else:  # "r"
        r.pos = r.end


def _check_bitmap(r: Reader) -> None:
    last = -1
    while r.pos < r.end:
        at = r.pos
        window = r.u8("type bitmap window")
        octets = r.counted("type bitmap")
        if window <= last or not 0 < len(octets) <= 32 or octets[-1] == 0:
            raise WireError("malformed type bitmap window", at)
        last = window


def _expand(r: Reader, layout: tuple[int | str, ...]) -> bytes:
    parts = []
    data = r.data
    for item in layout:
        if item in ("n", "N"):
            name, r.pos = decode_name(data, r.pos, r.end, decompress=item == "n")
            parts.append(name.wire)
        else:
            start = r.pos
            _skip(r, item)
            parts.append(data[start:r.pos])
    if r.pos != r.end:
        raise WireError(f"{r.end - r.pos} octets after the rdata's fields", r.pos)
    return b"".join(parts)


def rdata_names(rrtype: int, rdata: bytes) -> list[tuple[int, Name]]:
    """The names inside uncompressed rdata, with their offsets in octets.

    Used for additional-section processing (MX, SRV, NS targets) and for
    writing with compression.

    Raises:
        WireError: the rdata does not match its layout.
    """
    layout = LAYOUTS.get(rrtype)
    if layout is None or rrtype not in NAME_TYPES:
        return []
    r = Reader(rdata)
    found = []
    for item in layout:
        if item in ("n", "N"):
            at = r.pos
            name, r.pos = decode_name(rdata, at, r.end, decompress=False)
            found.append((at, name))
        else:
            _skip(r, item)
    return found


def write_rdata(buf: bytearray, comp: Compressor, rrtype: int, rdata: bytes) -> None:
    """Append uncompressed ``rdata`` to ``buf``, compressing names where allowed.

    Empty rdata (an RFC 2136 §2.4-2.5 prerequisite or deletion of class ANY or NONE) is
    written as it is, whatever the type's layout.
    """
    if rrtype not in COMPRESSIBLE or not rdata:
        buf += rdata
        return
    pos = 0
    for at, name in rdata_names(rrtype, rdata):
        buf += rdata[pos:at]
        comp.write(buf, name)
        pos = at + len(name.wire)
    buf += rdata[pos:]
