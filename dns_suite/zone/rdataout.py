"""Wire rdata -> presentation text for the common types, without dnspython (RFC 1035 §5).

:func:`fast_text` writes A, AAAA, NS, CNAME, PTR, DNAME, MX, SOA, TXT, SPF
and SRV of class IN exactly as dnspython's ``Rdata.to_text()`` does (the
tests hold it to dnspython's output byte for byte): names absolute, escaped
as dnspython escapes them (``"().;\\@$`` as ``\\X``, other octets outside
0x21-0x7E as ``\\DDD``, RFC 1035 §5.1); character-strings quoted, ``"`` and
``\\`` as ``\\X``, octets outside 0x20-0x7E as ``\\DDD``; IPv6 in dnspython's
compressed form (RFC 5952, ``::a.b.c.d`` and ``::ffff:a.b.c.d`` for
addresses with embedded IPv4). Anything it cannot vouch for (another type or
class, rdata of the wrong shape) gives None: the caller then asks dnspython
(:func:`~dns_suite.zone.rdatatext.rdata_to_text`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from struct import unpack
from typing import Callable

# Octets written as themselves: in a name (dnspython escapes "().;\@$ and everything
# outside 0x21-0x7E), in a quoted character-string (" and \ escaped, outside 0x20-0x7E).
_NAME_PLAIN = re.compile(rb"[!#%&'*+,\-/0-:<-?A-\[\]-~]*").fullmatch
_DOTTED_PLAIN = re.compile(rb"[!#%&'*+,\-./0-:<-?A-\[\]-~]*").fullmatch  # and dots
_STRING_PLAIN = re.compile(rb"[ !#-\[\]-~]*").fullmatch


def _table(plain: bytes, backslashed: bytes) -> dict[int, str]:
    """``str.translate`` table over latin-1 text: each octet to its presentation form."""
    out = {}
    for b in range(256):
        if b in backslashed:
            out[b] = "\\" + chr(b)
        elif b not in plain:
            out[b] = f"\\{b:03d}"
    return out


_NAME_ESCAPES = _table(bytes(range(0x21, 0x7F)), b'"().;\\@$')
_OWNER_ESCAPES = {**_NAME_ESCAPES, 0x20: "\\ "}  # as Name.to_text writes a space
_STRING_ESCAPES = _table(bytes(range(0x20, 0x7F)), b'"\\')


def _text(wire: bytes, escapes: dict[int, str]) -> str | None:
    """Absolute text of the one well-formed name filling ``wire`` (None if it is not one)."""
    if len(wire) > 255:
        return None
    if b"." not in wire:  # usual case: length octets become dots, then one check and decode
        dotted = bytearray(wire)
        pos, end = 0, len(wire) - 1
        while pos < end:
            n = dotted[pos]
            if not 0 < n < 64:
                return None
            dotted[pos] = 0x2E
            pos += n + 1
        if pos != end or wire[end]:
            return None
        if _DOTTED_PLAIN(dotted, 1, end):
            return dotted[1:end].decode("ascii") + "." if end else "."
    parts = []
    pos, end = 0, len(wire) - 1
    while pos < end:
        n = wire[pos]
        if not 0 < n < 64:
            return None
        label = wire[pos + 1:pos + 1 + n]
        parts.append(label.decode("ascii") if _NAME_PLAIN(label)
                     else label.decode("latin-1").translate(escapes))
        pos += n + 1
    if pos != end or wire[end]:
        return None
    return ".".join(parts) + "." if parts else "."


@lru_cache(maxsize=1 << 16)  # targets repeat (MX, NS, CNAME); bounded: zones hold millions
def name_text(wire: bytes) -> str | None:
    """An uncompressed wire name, exactly filling ``wire``, as absolute text (dnspython's
    escapes); None when ``wire`` is not one well-formed name (a compression pointer, a label
    past the end, over 255 octets)."""
    return _text(wire, _NAME_ESCAPES)


def owner_text(wire: bytes) -> str:
    """A well-formed wire name as :meth:`Name.to_text` writes it (a space as ``\\ ``, not
    ``\\032``), only faster."""
    text = _text(wire, _OWNER_ESCAPES)
    if text is None:
        raise ValueError(f"not a wire name: {wire!r}")
    return text


def _name_end(rd: bytes, pos: int) -> int:
    """The offset after the uncompressed name at ``pos`` (-1 when none ends inside ``rd``)."""
    end = len(rd)
    while pos < end:
        n = rd[pos]
        if not n:
            return pos + 1
        if n > 63:
            return -1
        pos += n + 1
    return -1


def _a(rd: bytes) -> str | None:
    if len(rd) != 4:
        return None
    return f"{rd[0]}.{rd[1]}.{rd[2]}.{rd[3]}"


_ZERO_RUNS = tuple(":0" * n + ":" for n in range(8, 1, -1))  # longest first


def _aaaa(rd: bytes) -> str | None:
    if len(rd) != 16:
        return None
    if not any(rd[:10]):  # dnspython writes an embedded IPv4 address (dns.ipv6.inet_ntoa)
        if rd[10:12] == b"\xff\xff":
            return f"::ffff:{rd[12]}.{rd[13]}.{rd[14]}.{rd[15]}"
        if not rd[10] and not rd[11] and (rd[12] or rd[13]):
            return f"::{rd[12]}.{rd[13]}.{rd[14]}.{rd[15]}"
    text = ":%x:%x:%x:%x:%x:%x:%x:%x:" % unpack("!8H", rd)  # a colon either side
    for run in _ZERO_RUNS:  # the longest run of two or more zero groups, leftmost, is "::"
        i = text.find(run)
        if i >= 0:
            return text[1:i] + "::" + text[i + len(run):-1]
    return text[1:-1]


def _name(rd: bytes) -> str | None:
    return name_text(rd)


def _mx(rd: bytes) -> str | None:
    target = name_text(rd[2:]) if len(rd) > 2 else None
    return None if target is None else f"{rd[0] << 8 | rd[1]} {target}"


def _srv(rd: bytes) -> str | None:
    target = name_text(rd[6:]) if len(rd) > 6 else None
    if target is None:
        return None
    priority, weight, port = unpack("!HHH", rd[:6])
    return f"{priority} {weight} {port} {target}"


def _soa(rd: bytes) -> str | None:
    mid = _name_end(rd, 0)
    if mid < 0:
        return None
    end = _name_end(rd, mid)
    if end < 0 or end + 20 != len(rd):
        return None
    mname, rname = name_text(rd[:mid]), name_text(rd[mid:end])
    if mname is None or rname is None:
        return None
    return "%s %s %d %d %d %d %d" % (mname, rname, *unpack("!5I", rd[end:]))


def _txt(rd: bytes) -> str | None:
    out = []
    pos, size = 0, len(rd)
    if not size:
        return None  # no character-string: not a TXT for dnspython either
    while pos < size:
        end = pos + 1 + rd[pos]
        if end > size:
            return None
        s = rd[pos + 1:end]
        out.append('"' + (s.decode("ascii") if _STRING_PLAIN(s)
                          else s.decode("latin-1").translate(_STRING_ESCAPES)) + '"')
        pos = end
    return " ".join(out)


#: Class IN type code -> rdata -> text (None: not vouched for, ask dnspython).
FAST: dict[int, Callable[[bytes], str | None]] = {
    1: _a, 28: _aaaa, 2: _name, 5: _name, 12: _name, 39: _name, 15: _mx, 6: _soa,
    16: _txt, 99: _txt, 33: _srv,
}


def fast_text(rrclass: int, rrtype: int, rdata: bytes) -> str | None:
    """The presentation text of ``rdata`` when it is of a common type of class IN, else None."""
    fn = FAST.get(rrtype) if rrclass == 1 else None
    return fn(rdata) if fn is not None else None
