"""Codes of the DNS protocol as IntEnums that keep unknown values.

RRType and RRClass mnemonics per the IANA registry; unknown codes print as
``TYPEnnn`` / ``CLASSnnn`` (RFC 3597 §5). Header flag bits per RFC 1035
§4.1.1, RFC 4035 §3.2 (AD, CD).
"""

from __future__ import annotations

from enum import IntEnum, IntFlag


class _KeepUnknown(IntEnum):
    """An IntEnum whose constructor accepts any value in ``range(_limit)``."""

    @classmethod
    def _missing_(cls, value: object):
        if isinstance(value, int) and 0 <= value < cls._limit():
            member = int.__new__(cls, value)
            member._name_ = f"{cls._prefix()}{value}"
            member._value_ = value
            return member
        return None

    @classmethod
    def _limit(cls) -> int:
        return 65536

    @classmethod
    def _prefix(cls) -> str:
        return "CODE"

    @classmethod
    def from_text(cls, text: str) -> _KeepUnknown:
        """Mnemonic or generic form (``TYPE65534``), any case.

        Raises:
            ValueError: not a known mnemonic nor a generic form in range.
        """
        upper = text.upper()
        member = cls.__members__.get(upper.replace("-", "_"))
        if member is not None:
            return member
        prefix = cls._prefix()
        if upper.startswith(prefix) and upper[len(prefix):].isdigit():
            value = int(upper[len(prefix):])
            if value < cls._limit():
                return cls(value)
        raise ValueError(f"unknown {cls.__name__} {text!r}")

    def to_text(self) -> str:
        """Mnemonic, or the generic form for codes without one."""
        return self._name_.replace("_", "-")


class RRType(_KeepUnknown):
    """Resource record types (RFC 1035 §3.2.2 and the IANA registry)."""

    A = 1
    NS = 2
    MD = 3
    MF = 4
    CNAME = 5
    SOA = 6
    MB = 7
    MG = 8
    MR = 9
    NULL = 10
    WKS = 11
    PTR = 12
    HINFO = 13
    MINFO = 14
    MX = 15
    TXT = 16
    RP = 17
    AFSDB = 18
    X25 = 19
    ISDN = 20
    RT = 21
    NSAP = 22
    NSAP_PTR = 23
    SIG = 24
    KEY = 25
    PX = 26
    GPOS = 27
    AAAA = 28
    LOC = 29
    NXT = 30
    SRV = 33
    NAPTR = 35
    KX = 36
    CERT = 37
    A6 = 38
    DNAME = 39
    OPT = 41
    APL = 42
    DS = 43
    SSHFP = 44
    IPSECKEY = 45
    RRSIG = 46
    NSEC = 47
    DNSKEY = 48
    DHCID = 49
    NSEC3 = 50
    NSEC3PARAM = 51
    TLSA = 52
    SMIMEA = 53
    HIP = 55
    CDS = 59
    CDNSKEY = 60
    OPENPGPKEY = 61
    CSYNC = 62
    ZONEMD = 63
    SVCB = 64
    HTTPS = 65
    SPF = 99
    NID = 104
    L32 = 105
    L64 = 106
    LP = 107
    EUI48 = 108
    EUI64 = 109
    TKEY = 249
    TSIG = 250
    IXFR = 251
    AXFR = 252
    MAILB = 253
    MAILA = 254
    ANY = 255
    URI = 256
    CAA = 257
    AVC = 258
    AMTRELAY = 260
    RESINFO = 261
    TA = 32768
    DLV = 32769

    @classmethod
    def _prefix(cls) -> str:
        return "TYPE"


class RRClass(_KeepUnknown):
    """Classes (RFC 1035 §3.2.4, RFC 2136 §2.4 for NONE)."""

    IN = 1
    CH = 3
    HS = 4
    NONE = 254
    ANY = 255

    @classmethod
    def _prefix(cls) -> str:
        return "CLASS"


class Opcode(_KeepUnknown):
    """Header opcodes (RFC 1035 §4.1.1, RFC 1996, RFC 2136)."""

    QUERY = 0
    IQUERY = 1
    STATUS = 2
    NOTIFY = 4
    UPDATE = 5

    @classmethod
    def _limit(cls) -> int:
        return 16

    @classmethod
    def _prefix(cls) -> str:
        return "OPCODE"


class Rcode(_KeepUnknown):
    """Response codes, 12 bits with the EDNS extension (RFC 6891 §6.1.3)."""

    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5
    YXDOMAIN = 6
    YXRRSET = 7
    NXRRSET = 8
    NOTAUTH = 9
    NOTZONE = 10
    DSOTYPENI = 11
    BADVERS = 16
    BADKEY = 17
    BADTIME = 18
    BADMODE = 19
    BADNAME = 20
    BADALG = 21
    BADTRUNC = 22
    BADCOOKIE = 23

    @classmethod
    def _limit(cls) -> int:
        return 4096

    @classmethod
    def _prefix(cls) -> str:
        return "RCODE"


class Flag(IntFlag):
    """Header flag bits as they sit in octets 2-3 of the header."""

    QR = 0x8000
    AA = 0x0400
    TC = 0x0200
    RD = 0x0100
    RA = 0x0080
    Z = 0x0040
    AD = 0x0020
    CD = 0x0010


FLAG_MASK = 0x87F0  # every bit of octets 2-3 that is not opcode or rcode
