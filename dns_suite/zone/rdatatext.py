"""Rdata presentation text -> wire octets, for the common types (RFC 1035 §5).

One parser per type, taking the rdata's tokens (quoted tokens keep their
quotes) and a ``name`` callable that turns a name token into uncompressed
wire octets relative to the current origin. RFC 3597 ``\\# len hex`` is
accepted for every type. Rare mnemonics are handed to dnspython's rdata
parser (:func:`parse_rare`).
"""

from __future__ import annotations

import base64
import binascii
import calendar
import ipaddress
import re
from struct import pack
from typing import Callable

from dns_suite.wire.errors import WireError
from dns_suite.wire.rdata import LAYOUTS, decode_rdata
from dns_suite.wire.types import RRType
from dns_suite.zone.errors import RdataError, shown

NameFn = Callable[[str], bytes]


class Glued(str):
    """A quoted token written right after the previous token, no whitespace between.

    Only SVCB/HTTPS cares: ``alpn="h2"`` is one SvcParam, ``alpn= "h2"`` is
    not (RFC 9460 Appendix A). Everywhere else it is an ordinary token.
    """

    __slots__ = ()


# --- fields ------------------------------------------------------------------

def uint(tok: str, bits: int) -> int:
    """An unsigned decimal of ``bits`` bits (ASCII digits only)."""
    if not (tok.isdigit() and tok.isascii()):
        raise RdataError(f"not a number: {shown(tok)}")
    value = int(tok)
    if value >> bits:
        raise RdataError(f"{tok} does not fit in {bits} bits")
    return value


def unescape(tok: str) -> bytes:
    """A token's octets: quotes removed, ``\\X`` and ``\\DDD`` resolved (RFC 1035 §5.1)."""
    if tok[:1] == '"':
        tok = tok[1:-1]
    raw = tok.encode("utf-8", "surrogateescape")  # raw octets of a non-UTF-8 file
    if b"\\" not in raw:
        return raw
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        c = raw[i]
        if c != 0x5C:
            out.append(c)
            i += 1
            continue
        if i + 1 >= n:
            raise RdataError("dangling backslash")
        if raw[i + 1:i + 2].isdigit():
            digits = raw[i + 1:i + 4]
            if len(digits) != 3 or not digits.isdigit() or int(digits) > 255:
                raise RdataError(f"bad \\DDD escape in {shown(tok)}")
            out.append(int(digits))
            i += 4
        else:
            out.append(raw[i + 1])
            i += 2
    return bytes(out)


def cstr(tok: str) -> bytes:
    """A <character-string> with its length octet; over 255 octets is refused."""
    data = unescape(tok)
    if len(data) > 255:
        raise RdataError(f"character-string of {len(data)} octets (max 255)")
    return bytes((len(data),)) + data


def hexdata(toks: list[str], allow_empty: bool = False) -> bytes:
    """Hex digits, possibly split over tokens."""
    text = "".join(toks)
    if text == "-" and allow_empty:
        return b""
    try:
        data = bytes.fromhex(text)
    except ValueError:
        raise RdataError(f"bad hex {shown(text)}") from None
    if not data and not allow_empty:
        raise RdataError("missing hex data")
    return data


def b64data(toks: list[str]) -> bytes:
    """Base64 (RFC 4648 §4), possibly split over tokens."""
    text = "".join(toks)
    try:
        return binascii.a2b_base64(text.encode(), strict_mode=True)
    except (binascii.Error, ValueError):
        raise RdataError(f"bad base64 {shown(text)}") from None


_IPV4 = re.compile(r"(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}").fullmatch
_IPV4_ZEROS = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}").fullmatch


def ipv4(tok: str) -> bytes:
    """A dotted-quad IPv4 address, four decimal octets without leading zeros."""
    if _IPV4(tok) is None:
        raise RdataError(f"bad IPv4 address {shown(tok)}" + (": leading zero (octal to some readers)"
                                                       if _IPV4_ZEROS(tok) else ""))
    parts = tok.split(".")
    try:
        return bytes((int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])))
    except ValueError:
        raise RdataError(f"bad IPv4 address {shown(tok)}") from None


def ipv6(tok: str) -> bytes:
    """An IPv6 address (RFC 4291 §2.2 text forms; no zone index)."""
    if "%" in tok:
        raise RdataError(f"bad IPv6 address {shown(tok)}: zone index")
    try:
        return ipaddress.IPv6Address(tok).packed
    except ValueError:
        raise RdataError(f"bad IPv6 address {shown(tok)}") from None


#: DNSSEC algorithm mnemonics, dashes dropped (RFC 4034 Appendix A.1, IANA registry).
_ALGORITHMS = {"RSAMD5": 1, "DH": 2, "DSA": 3, "ECC": 4, "RSASHA1": 5, "DSANSEC3SHA1": 6,
               "RSASHA1NSEC3SHA1": 7, "RSASHA256": 8, "RSASHA512": 10, "ECCGOST": 12,
               "ECDSAP256SHA256": 13, "ECDSAP384SHA384": 14, "ED25519": 15, "ED448": 16,
               "SM2SM3": 17, "ECCGOST12": 23, "INDIRECT": 252, "PRIVATEDNS": 253,
               "PRIVATEOID": 254}


def algorithm(tok: str) -> int:
    """A DNSSEC algorithm: decimal or mnemonic (RFC 4034 §2.2, §3.2, §5.3)."""
    if tok.isdigit():
        return uint(tok, 8)
    code = _ALGORITHMS.get(tok.upper().replace("-", ""))
    if code is None:
        raise RdataError(f"unknown DNSSEC algorithm {shown(tok)}")
    return code


def rrtype_code(tok: str) -> int:
    """A type mnemonic or ``TYPEnnn``."""
    try:
        return int(RRType.from_text(tok))
    except ValueError:
        raise RdataError(f"unknown type {shown(tok)}") from None


def type_bitmap(toks: list[str]) -> bytes:
    """Type bit maps of NSEC/NSEC3 (RFC 4034 §4.1.2)."""
    windows: dict[int, bytearray] = {}
    for tok in toks:
        code = rrtype_code(tok)
        if not code:
            raise RdataError("type 0 in a type bitmap (reserved, RFC 6895 §3.1)")
        octets = windows.setdefault(code >> 8, bytearray())
        index = (code & 0xFF) >> 3
        if len(octets) <= index:
            octets.extend(bytes(index + 1 - len(octets)))
        octets[index] |= 0x80 >> (code & 7)
    return b"".join(bytes((w, len(windows[w]))) + bytes(windows[w]) for w in sorted(windows))


def sigtime(tok: str) -> int:
    """RRSIG time: YYYYMMDDHHmmSS (UTC) or seconds since the epoch (RFC 4034 §3.2)."""
    if len(tok) == 14 and tok.isdigit():
        try:
            stamp = calendar.timegm((int(tok[:4]), int(tok[4:6]), int(tok[6:8]), int(tok[8:10]),
                                     int(tok[10:12]), int(tok[12:14]), 0, 0, 0))
        except (ValueError, OverflowError):
            raise RdataError(f"bad time {shown(tok)}") from None
        return stamp & 0xFFFFFFFF
    return uint(tok, 32)


def _need(toks: list[str], count: int, typename: str, exact: bool = True) -> None:
    if len(toks) < count or (exact and len(toks) != count):
        raise RdataError(f"{typename} needs {count} fields, got {len(toks)}")


# --- parsers -----------------------------------------------------------------

def _a(t, name):
    if len(t) != 1:
        _need(t, 1, "A")
    return ipv4(t[0])


def _aaaa(t, name):
    _need(t, 1, "AAAA")
    return ipv6(t[0])


def _one_name(t, name):
    _need(t, 1, "this type")
    return name(t[0])


def _soa(t, name):
    _need(t, 7, "SOA")
    from dns_suite.zone.reader import parse_ttl  # shared TTL-unit syntax
    values = [uint(t[2], 32)] + [parse_ttl(x) for x in t[3:]]
    return name(t[0]) + name(t[1]) + pack("!5I", *values)


def _mx(t, name):
    _need(t, 2, "MX")
    return pack("!H", uint(t[0], 16)) + name(t[1])


def _srv(t, name):
    _need(t, 4, "SRV")
    return pack("!HHH", uint(t[0], 16), uint(t[1], 16), uint(t[2], 16)) + name(t[3])


def _txt(t, name):
    if not t:
        raise RdataError("TXT needs at least one string")
    return b"".join(cstr(x) for x in t)


def _caa(t, name):
    _need(t, 3, "CAA")
    tag = unescape(t[1])
    if not tag or not tag.isalnum() or len(tag) > 255:
        raise RdataError(f"bad CAA tag {shown(t[1])}")
    return bytes((uint(t[0], 8), len(tag))) + tag + unescape(t[2])


def _naptr(t, name):
    _need(t, 6, "NAPTR")
    return (pack("!HH", uint(t[0], 16), uint(t[1], 16)) + cstr(t[2]) + cstr(t[3]) + cstr(t[4])
            + name(t[5]))


#: Digest octets fixed by the digest type: DS (RFC 4034 §5.1.4, RFC 4509 §2.2, RFC 5933 §4,
#: RFC 6605 §2; type 0 reserved), CDS (type 0 is the delete marker, RFC 8078 §4), TLSA and
#: SMIMEA matching types (RFC 6698 §2.1.3), SSHFP fingerprint types (RFC 4255 §3.1.3, RFC 6594).
_DS_DIGEST = {0: 0, 1: 20, 2: 32, 3: 32, 4: 48}
_CDS_DIGEST = {**_DS_DIGEST, 0: 1}
_TLSA_DIGEST = {1: 32, 2: 64}
_SSHFP_DIGEST = {1: 20, 2: 32}


def _digest(toks: list[str], kind: int, sizes: dict[int, int], what: str) -> bytes:
    data = hexdata(toks)
    size = sizes.get(kind)
    if size is not None and len(data) != size:
        raise RdataError(f"{what} type {kind} takes {size} octets, got {len(data)}"
                         if size else f"{what} type {kind} is reserved")
    return data


def _ds(t, name, sizes=_DS_DIGEST):
    _need(t, 4, "DS", exact=False)
    digest_type = uint(t[2], 8)
    return (pack("!HBB", uint(t[0], 16), algorithm(t[1]), digest_type)
            + _digest(t[3:], digest_type, sizes, "digest"))


def _cds(t, name):
    return _ds(t, name, _CDS_DIGEST)


def _dnskey(t, name):
    _need(t, 4, "DNSKEY", exact=False)
    return pack("!HBB", uint(t[0], 16), uint(t[1], 8), algorithm(t[2])) + b64data(t[3:])


def _rrsig(t, name):
    _need(t, 9, "RRSIG", exact=False)
    if t[3].isdigit():
        original_ttl = uint(t[3], 32)
    else:  # TTL units, as BIND and dnspython take them
        from dns_suite.zone.reader import parse_ttl
        original_ttl = parse_ttl(t[3])
    head = pack("!HBBIIIH", rrtype_code(t[0]), algorithm(t[1]), uint(t[2], 8), original_ttl,
                sigtime(t[4]), sigtime(t[5]), uint(t[6], 16))
    return head + name(t[7]) + b64data(t[8:])


def _nsec(t, name):
    _need(t, 1, "NSEC", exact=False)
    return name(t[0]) + type_bitmap(t[1:])


def _salt(tok: str) -> bytes:
    salt = hexdata([tok], allow_empty=True)
    if len(salt) > 255:
        raise RdataError("salt over 255 octets")
    return bytes((len(salt),)) + salt


def _nsec3(t, name):
    _need(t, 5, "NSEC3", exact=False)
    try:
        nxt = base64.b32hexdecode(t[4].upper() + "=" * (-len(t[4]) % 8))
    except (binascii.Error, ValueError):
        raise RdataError(f"bad base32hex {shown(t[4])}") from None
    if not 0 < len(nxt) < 256 or base64.b32hexencode(nxt).rstrip(b"=") != t[4].upper().encode():
        raise RdataError(f"bad next hashed owner {shown(t[4])}: not 1-255 octets in canonical "
                         "base32hex (RFC 5155 §3.3, RFC 4648 §3.5)")
    return (pack("!BBH", uint(t[0], 8), uint(t[1], 8), uint(t[2], 16)) + _salt(t[3])
            + bytes((len(nxt),)) + nxt + type_bitmap(t[5:]))


def _nsec3param(t, name):
    _need(t, 4, "NSEC3PARAM")
    return pack("!BBH", uint(t[0], 8), uint(t[1], 8), uint(t[2], 16)) + _salt(t[3])


def _tlsa(t, name):
    _need(t, 4, "TLSA", exact=False)
    mtype = uint(t[2], 8)
    return (bytes((uint(t[0], 8), uint(t[1], 8), mtype))
            + _digest(t[3:], mtype, _TLSA_DIGEST, "matching"))


def _sshfp(t, name):
    _need(t, 3, "SSHFP", exact=False)
    fp_type = uint(t[1], 8)
    return bytes((uint(t[0], 8), fp_type)) + _digest(t[2:], fp_type, _SSHFP_DIGEST, "fingerprint")


def _svcb(t, name):
    _need(t, 2, "SVCB", exact=False)
    from dns_suite.zone.svcbtext import svc_params
    priority = uint(t[0], 16)
    if priority == 0 and len(t) > 2:  # RFC 9460 §2.4.2: SHOULD NOT; refused, as dnspython does
        raise RdataError("SvcParams in AliasMode (SvcPriority 0; RFC 9460 §2.4.2)")
    return pack("!H", priority) + name(t[1]) + svc_params(t[2:])


PARSERS: dict[int, Callable[[list[str], NameFn], bytes]] = {
    1: _a, 28: _aaaa, 2: _one_name, 5: _one_name, 39: _one_name, 12: _one_name,
    6: _soa, 15: _mx, 33: _srv, 16: _txt, 99: _txt, 257: _caa, 35: _naptr,
    43: _ds, 59: _cds, 48: _dnskey, 60: _dnskey, 46: _rrsig, 47: _nsec, 50: _nsec3,
    51: _nsec3param, 52: _tlsa, 53: _tlsa, 44: _sshfp, 64: _svcb, 65: _svcb,
}


def generic(t: list[str], rrtype: int | None = None) -> bytes:
    """RFC 3597 §5 ``\\# <length> <hex>``: ``t`` starts after the ``\\#``.

    With ``rrtype``, octets for a type of known layout must match the layout
    (RFC 3597 §5), without compressed names (§4).
    """
    if not t:
        raise RdataError("\\# needs a length")
    length = uint(t[0], 16)
    data = hexdata(t[1:], allow_empty=True) if length == 0 else hexdata(t[1:])
    if len(data) != length:
        raise RdataError(f"\\# says {length} octets, hex has {len(data)}")
    if rrtype in LAYOUTS:
        try:
            expanded = decode_rdata(data, 0, length, rrtype)
        except WireError as exc:
            raise RdataError(f"\\# rdata is no {RRType(rrtype).to_text()}: {exc.reason}") from None
        if expanded != data:
            raise RdataError("compressed name in \\# rdata (RFC 3597 §4)")
    return data


def parse_rare(rrclass: int, rrtype: int, t: list[str], origin_text: str) -> bytes:
    """Rdata of a type without a parser here, through dnspython.

    Raises:
        RdataError: dnspython refuses the text or does not know the type.
    """
    import dns.exception
    import dns.name
    import dns.rdata

    try:
        rd = dns.rdata.from_text(rrclass, rrtype, " ".join(t), dns.name.from_text(origin_text),
                                 relativize=False)  # names absolute, else to_wire() fails
        return rd.to_wire()
    except (dns.exception.DNSException, ValueError, TypeError) as exc:
        raise RdataError(f"bad {RRType(rrtype).to_text()} rdata: {exc}") from None


def rdata_to_text(rrclass: int, rrtype: int, rdata: bytes) -> str:
    """Presentation form of wire rdata (through dnspython; RFC 3597 form when
    dnspython cannot read it)."""
    import dns.exception
    import dns.rdata

    try:
        return dns.rdata.from_wire(rrclass, rrtype, rdata, 0, len(rdata)).to_text()
    except (dns.exception.DNSException, ValueError, TypeError):
        return f"\\# {len(rdata)} {rdata.hex()}" if rdata else "\\# 0"
