"""EDNS(0): the OPT pseudo-RR (RFC 6891) and its common options.

Options: NSID (RFC 5001), COOKIE (RFC 7873), padding (RFC 7830),
extended DNS errors (RFC 8914). Other options are kept as opaque octets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import pack

from dns_suite.wire.errors import WireError
from dns_suite.wire.reader import Reader

NSID = 3
COOKIE = 10
PADDING = 12
EDE = 15

DO_BIT = 0x8000


@dataclass(frozen=True, slots=True, kw_only=True)
class EdnsOption:
    """One EDNS option: ``code`` (0..65535) and ``data`` octets."""

    code: int
    data: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class Edns:
    """The OPT record's content (RFC 6891 §6.1.2-6.1.3).

    Attributes:
        payload: requestor's UDP payload size in octets (the OPT CLASS).
        version: EDNS version (TTL octet 1).
        do: the DNSSEC OK bit (RFC 3225).
        z: the other 15 flag bits, kept as received (should be 0).
        options: the options in order.
    """

    payload: int = 1232
    version: int = 0
    do: bool = False
    z: int = 0
    options: tuple[EdnsOption, ...] = field(default=())

    def option(self, code: int) -> EdnsOption | None:
        """The first option with ``code``, or None."""
        for opt in self.options:
            if opt.code == code:
                return opt
        return None

    def ttl(self, ext_rcode: int) -> int:
        """The OPT TTL field: ``ext_rcode`` (upper 8 bits of the rcode), version, DO, Z."""
        return (ext_rcode << 24) | (self.version << 16) | (DO_BIT if self.do else 0) | self.z

    def rdata(self) -> bytes:
        """The options in wire form."""
        return b"".join(pack("!HH", o.code, len(o.data)) + o.data for o in self.options)


def decode_opt(rrclass: int, ttl: int, rdata: bytes, offset: int) -> Edns:
    """Build :class:`Edns` from an OPT RR's fields (the extended rcode in
    the TTL's top octet belongs to the message, not to this object).

    Args:
        rrclass: the OPT CLASS (payload size).
        ttl: the OPT TTL field.
        rdata: the options in wire form.
        offset: offset of the rdata in the message, for errors.

    Raises:
        WireError: an option runs past the rdata.
    """
    r = Reader(rdata)
    options = []
    while r.remaining():
        try:
            code = r.u16("option code")
            data = r.counted16("option data")
        except WireError as exc:
            raise WireError(f"EDNS {exc.reason}", offset + exc.offset) from None
        options.append(EdnsOption(code=code, data=data))
    return Edns(
        payload=rrclass,
        version=(ttl >> 16) & 0xFF,
        do=bool(ttl & DO_BIT),
        z=ttl & 0x7FFF,
        options=tuple(options),
    )


def ede_option(info_code: int, text: str = "") -> EdnsOption:
    """An Extended DNS Error option (RFC 8914 §2): INFO-CODE and UTF-8 text."""
    return EdnsOption(code=EDE, data=pack("!H", info_code) + text.encode())


def decode_ede(opt: EdnsOption) -> tuple[int, str]:
    """``(info_code, text)`` of an EDE option.

    Raises:
        WireError: option shorter than 2 octets or text not UTF-8.
    """
    if len(opt.data) < 2:
        raise WireError("EDE option shorter than 2 octets")
    try:
        return int.from_bytes(opt.data[:2], "big"), opt.data[2:].decode()
    except UnicodeDecodeError:
        raise WireError("EDE text is not UTF-8") from None


def cookie_parts(opt: EdnsOption) -> tuple[bytes, bytes]:
    """``(client_cookie, server_cookie)`` of a COOKIE option (RFC 7873 §4).

    Raises:
        WireError: client cookie not 8 octets, or server cookie not 8..32.
    """
    data = opt.data
    if len(data) != 8 and not 16 <= len(data) <= 40:
        raise WireError(f"COOKIE option of {len(data)} octets")
    return data[:8], data[8:]


def padding_option(length: int) -> EdnsOption:
    """A padding option (RFC 7830) of ``length`` zero octets."""
    return EdnsOption(code=PADDING, data=bytes(length))
