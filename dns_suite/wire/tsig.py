"""TSIG (RFC 8945): sign and verify messages as wire octets, time passed in.

The MAC is HMAC over: the request MAC (length and octets) when signing a
response; the message with its original ID and without the TSIG record
(ARCOUNT one less); then the TSIG variables: key name and algorithm in
canonical (lowercase) form, class ANY, TTL 0, time signed, fudge, error,
other data (RFC 8945 §4.3). Later messages of a multi-message answer
(AXFR) cover the prior MAC, the message and only the timers (§5.3.1).

Server checks in RFC 8945 §5.2 order: unknown key or algorithm -> BADKEY;
MAC longer than the hash or shorter than max(10, hash/2) -> FORMERR;
wrong MAC -> BADSIG (reported before a bad time); time outside the fudge
-> BADTIME; MAC truncated below the key's minimum -> BADTRUNC (§5.2.2.1).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, replace
from struct import pack, unpack_from

from dns_suite.wire.errors import WireError
from dns_suite.wire.name import Name, decode_name

TSIG_TYPE, ANY_CLASS = 250, 255
NOERROR, FORMERR, NOTAUTH = 0, 1, 9
BADSIG, BADKEY, BADTIME, BADTRUNC = 16, 17, 18, 22

#: canonical algorithm name (lowercase, absolute) -> hashlib name
ALGORITHMS: dict[str, str] = {
    "hmac-md5.sig-alg.reg.int.": "md5",
    "hmac-sha1.": "sha1",
    "hmac-sha224.": "sha224",
    "hmac-sha256.": "sha256",
    "hmac-sha384.": "sha384",
    "hmac-sha512.": "sha512",
}
_ALIASES = {"hmac-md5.": "hmac-md5.sig-alg.reg.int."}


def algorithm_name(text: str) -> Name:
    """An algorithm name in any case, with or without the final dot (``HMAC-SHA256``).

    Raises:
        WireError: not a supported algorithm.
    """
    canon = text.lower() if text.endswith(".") else text.lower() + "."
    canon = _ALIASES.get(canon, canon)
    if canon not in ALGORITHMS:
        raise WireError(f"unsupported TSIG algorithm {text!r}")
    return Name.from_text(canon)


@dataclass(frozen=True, slots=True, kw_only=True)
class TsigKey:
    """A shared key.

    Attributes:
        name: the key name (matched case-insensitively, used lowercase in the MAC).
        algorithm: canonical algorithm name.
        secret: the secret octets.
        min_mac: shortest MAC accepted, in octets (local truncation policy;
            the full hash length unless configured).
    """

    name: Name
    algorithm: Name
    secret: bytes
    min_mac: int = 0

    @classmethod
    def from_text(cls, name: str, algorithm: str, secret_b64: str, min_mac: int = 0) -> TsigKey:
        """Build from presentation text; ``secret_b64`` in base64.

        Raises:
            WireError: bad name, algorithm or base64.
        """
        try:
            secret = base64.b64decode(secret_b64, validate=True)
        except (binascii.Error, ValueError):
            raise WireError(f"TSIG key {name}: secret is not base64") from None
        return cls(name=Name.from_text(name if name.endswith(".") else name + "."),
                   algorithm=algorithm_name(algorithm), secret=secret, min_mac=min_mac)

    @property
    def hash_name(self) -> str:
        """The hashlib name of the algorithm."""
        return ALGORITHMS[self.algorithm.to_text().lower()]

    def digest_size(self) -> int:
        """Full MAC length in octets."""
        return hashlib.new(self.hash_name).digest_size


@dataclass(frozen=True, slots=True, kw_only=True)
class TsigRecord:
    """The fields of a TSIG RR (RFC 8945 §4.2)."""

    key_name: Name
    algorithm: Name
    time_signed: int
    fudge: int
    mac: bytes
    original_id: int
    error: int = 0
    other: bytes = b""

    def rdata(self) -> bytes:
        """The rdata in wire form (algorithm name uncompressed)."""
        return (self.algorithm.wire + pack("!HIH", self.time_signed >> 32, self.time_signed & 0xFFFFFFFF,
                                           self.fudge)
                + pack("!H", len(self.mac)) + self.mac
                + pack("!HHH", self.original_id, self.error, len(self.other)) + self.other)

    def rr_wire(self) -> bytes:
        """The whole TSIG RR (owner uncompressed, class ANY, TTL 0)."""
        rdata = self.rdata()
        return self.key_name.wire + pack("!HHIH", TSIG_TYPE, ANY_CLASS, 0, len(rdata)) + rdata


def parse_rdata(key_name: Name, rdata: bytes) -> TsigRecord:
    """Read TSIG rdata (as the codec decoded it: names uncompressed).

    Raises:
        WireError: malformed rdata.
    """
    algorithm, pos = decode_name(rdata, 0, len(rdata), decompress=False)
    if pos + 10 > len(rdata):
        raise WireError("TSIG rdata too short", pos)
    hi, lo, fudge, mac_len = unpack_from("!HIHH", rdata, pos)
    pos += 10
    mac = rdata[pos:pos + mac_len]
    pos += mac_len
    if pos + 6 > len(rdata):
        raise WireError("TSIG rdata too short", pos)
    original_id, error, other_len = unpack_from("!HHH", rdata, pos)
    other = rdata[pos + 6:pos + 6 + other_len]
    if pos + 6 + other_len != len(rdata):
        raise WireError("TSIG rdata length mismatch", pos)
    return TsigRecord(key_name=key_name, algorithm=algorithm, time_signed=(hi << 32) | lo, fudge=fudge,
                      mac=mac, original_id=original_id, error=error, other=other)


def compute_mac(key: TsigKey, unsigned: bytes, rec: TsigRecord, *, request_mac: bytes = b"",
                prior_mac: bytes | None = None) -> bytes:
    """The full MAC of ``unsigned`` (a message without its TSIG, any ID).

    Args:
        key: the key.
        unsigned: message octets without the TSIG RR (ARCOUNT not counting it).
        rec: the TSIG fields (original_id, time, fudge, error, other are used).
        request_mac: the request's MAC, when signing or checking a response.
        prior_mac: for the second and later messages of a multi-message
            response: the previous message's MAC (only timers are covered).
    """
    h = hmac.new(key.secret, digestmod=key.hash_name)
    if prior_mac is not None:
        h.update(pack("!H", len(prior_mac)) + prior_mac)
    elif request_mac:
        h.update(pack("!H", len(request_mac)) + request_mac)
    h.update(pack("!H", rec.original_id) + unsigned[2:])
    timers = pack("!HIH", rec.time_signed >> 32, rec.time_signed & 0xFFFFFFFF, rec.fudge)
    if prior_mac is not None:
        h.update(timers)
    else:
        h.update(key.name.key + pack("!HI", ANY_CLASS, 0) + key.algorithm.key + timers
                 + pack("!HH", rec.error, len(rec.other)) + rec.other)
    return h.digest()


def sign(unsigned: bytes, key: TsigKey, *, now: int, fudge: int = 300, request_mac: bytes = b"",
         error: int = 0, other: bytes = b"", prior_mac: bytes | None = None,
         empty_mac: bool = False) -> tuple[bytes, bytes]:
    """Append a TSIG RR to ``unsigned`` and count it in ARCOUNT.

    Args:
        unsigned: the message octets.
        key: the key.
        now: wall time, seconds since the epoch.
        fudge: seconds of clock skew allowed.
        request_mac: the request's MAC when signing a response.
        error: TSIG error code (BADTIME replies carry our time in ``other``).
        other: other data.
        prior_mac: see :func:`compute_mac`.
        empty_mac: write no MAC (unsigned error replies, RFC 8945 §5.3.2).

    Returns:
        ``(signed_octets, mac)``.
    """
    rec = TsigRecord(key_name=key.name, algorithm=key.algorithm, time_signed=now, fudge=fudge, mac=b"",
                     original_id=unpack_from("!H", unsigned, 0)[0], error=error, other=other)
    mac = b"" if empty_mac else compute_mac(key, unsigned, rec, request_mac=request_mac, prior_mac=prior_mac)
    rr = replace(rec, mac=mac).rr_wire()
    arcount = unpack_from("!H", unsigned, 10)[0] + 1
    return unsigned[:10] + pack("!H", arcount) + unsigned[12:] + rr, mac


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """Outcome of :func:`verify`.

    Attributes:
        rcode: NOERROR, FORMERR or NOTAUTH for the reply.
        error: TSIG error for the reply's TSIG (0, BADSIG, BADKEY, BADTIME, BADTRUNC).
        key: the key, when known (then the reply is signed unless ``signed_reply`` is False).
        record: the request's TSIG fields.
        signed_reply: sign the reply (False for BADKEY/BADSIG, RFC 8945 §5.3.2).
    """

    rcode: int
    error: int
    key: TsigKey | None
    record: TsigRecord
    signed_reply: bool

    @property
    def ok(self) -> bool:
        return self.rcode == NOERROR and self.error == NOERROR


def verify(data: bytes, tsig_start: int, record: TsigRecord, keys: dict[bytes, TsigKey], *, now: int,
           request_mac: bytes = b"") -> Verdict:
    """Check the TSIG of a received message (RFC 8945 §5.2).

    Args:
        data: the whole message as received.
        tsig_start: offset of the TSIG RR (the last RR).
        record: its fields.
        keys: key name (``Name.key``) -> key.
        now: wall time, seconds since the epoch.
        request_mac: our request's MAC, when checking a response.
    """
    key = keys.get(record.key_name.key)
    if key is None or key.algorithm.key != record.algorithm.key:
        return Verdict(rcode=NOTAUTH, error=BADKEY, key=None, record=record, signed_reply=False)
    full = key.digest_size()
    if len(record.mac) > full or len(record.mac) < max(10, full // 2):
        return Verdict(rcode=FORMERR, error=NOERROR, key=key, record=record, signed_reply=False)
    unsigned = data[:10] + pack("!H", unpack_from("!H", data, 10)[0] - 1) + data[12:tsig_start]
    expected = compute_mac(key, unsigned, record, request_mac=request_mac)
    if not hmac.compare_digest(expected[:len(record.mac)], record.mac):
        return Verdict(rcode=NOTAUTH, error=BADSIG, key=key, record=record, signed_reply=False)
    if abs(now - record.time_signed) > record.fudge:
        return Verdict(rcode=NOTAUTH, error=BADTIME, key=key, record=record, signed_reply=True)
    if len(record.mac) < max(key.min_mac or full, max(10, full // 2)):
        return Verdict(rcode=NOTAUTH, error=BADTRUNC, key=key, record=record, signed_reply=True)
    return Verdict(rcode=NOERROR, error=NOERROR, key=key, record=record, signed_reply=True)
