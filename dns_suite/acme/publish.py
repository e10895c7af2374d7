"""RFC 2136 UPDATEs for DNS-01 (pure): add or delete ``_acme-challenge`` TXT values, and check
the reply.

One UPDATE per zone carries every value of the batch: adds are class IN RRs (RFC 2136 §2.5.1,
duplicates are ignored by the server, §3.4.2.2), deletes are class NONE RRs with TTL 0 that
remove exactly one value each (§2.5.4) — never the RRset, so other orders' values and
unrelated TXT records stay. The message is signed with TSIG (RFC 8945) when a key is given;
wall time and the message ID are arguments.

The reply is accepted (:func:`check_reply`) when it is a response (QR) to our ID with opcode
UPDATE, its TSIG verifies against our request MAC (RFC 8945 §5.3), and its rcode is NOERROR.
Anything else becomes a :class:`Verdict` whose ``reason`` names the rcode and the TSIG error.

:func:`missing_values` judges an authoritative server's answer to ``owner TXT`` in the proof of
propagation: it must be NOERROR and hold every value at ``owner``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message, Question, decode, encode
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import NOERROR, TsigKey, parse_rdata, sign, verify
from dns_suite.wire.types import Flag, Opcode, Rcode, RRClass, RRType

__all__ = ["SignedUpdate", "Verdict", "build_update", "check_reply", "missing_values", "txt_rdata", "txt_value"]

TXT_TTL = 60  # seconds: what resolvers may cache a challenge value for
FUDGE = 300  # seconds of clock skew the server may accept (RFC 8945 §10)
_TSIG_ERRORS = {16: "BADSIG", 17: "BADKEY", 18: "BADTIME", 22: "BADTRUNC"}


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedUpdate:
    """An UPDATE ready to send, and what :func:`check_reply` needs to check its reply.

    Attributes:
        wire: the message octets (TSIG appended when ``key`` is set).
        ident: the 16-bit message ID.
        zone: the zone section's name.
        key: the TSIG key it was signed with, or None (unsigned).
        mac: the request MAC (empty when unsigned).
    """

    wire: bytes
    ident: int
    zone: Name
    key: TsigKey | None
    mac: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """What the reply to an UPDATE says.

    Attributes:
        ok: the update was applied (NOERROR, TSIG verified when we signed).
        rcode: the reply's rcode (-1 when the reply could not be read).
        tsig_error: the TSIG error code of the reply's TSIG (0 when none).
        reason: empty when ``ok``; else e.g. ``"rcode NOTAUTH, TSIG error BADKEY"``.
    """

    ok: bool
    rcode: int
    tsig_error: int = 0
    reason: str = ""


def txt_rdata(value: str) -> bytes:
    """The TXT rdata holding ``value`` (RFC 1035 §3.3.14): character-strings of at most 255
    octets each, as many as needed (an empty value is one empty string).

    Raises:
        WireError: the value is not ASCII (ACME key authorizations are base64url, RFC 8555 §8.4).
    """
    try:
        raw = value.encode("ascii")
    except UnicodeEncodeError:
        raise WireError(f"TXT value {value!r} is not ASCII") from None
    chunks = [raw[i:i + 255] for i in range(0, len(raw), 255)] or [b""]
    return b"".join(bytes((len(c),)) + c for c in chunks)


def txt_value(rdata: bytes) -> str | None:
    """The text of TXT ``rdata``: its character-strings joined (the inverse of
    :func:`txt_rdata`); None when the rdata is malformed or not ASCII."""
    parts, pos = [], 0
    while pos < len(rdata):
        end = pos + 1 + rdata[pos]
        if end > len(rdata):
            return None
        parts.append(rdata[pos + 1:end])
        pos = end
    try:
        return b"".join(parts).decode("ascii")
    except UnicodeDecodeError:
        return None


def build_update(zone: Name, values: Sequence[tuple[Name, str]], *, add: bool, key: TsigKey | None,
                 ident: int, now: int, ttl: int = TXT_TTL) -> SignedUpdate:
    """The UPDATE adding (``add``) or deleting the TXT ``values`` in ``zone``.

    Args:
        zone: the zone (the zone section: ``zone IN SOA``, RFC 2136 §2.3).
        values: ``(owner, TXT value)`` pairs; owners must be at or below ``zone``; a value
            given twice is sent once.
        add: True: class IN RRs with ``ttl`` (§2.5.1); False: class NONE RRs with TTL 0,
            each deleting one value (§2.5.4).
        key: TSIG key to sign with, or None for an unsigned update.
        ident: the message ID (random, from the caller).
        now: wall time, seconds since the epoch (TSIG time signed).
        ttl: TTL of added records, seconds.

    Returns:
        the :class:`SignedUpdate`.

    Raises:
        WireError: an owner outside ``zone``, a value that is not ASCII, or no values.
    """
    if not values:
        raise WireError("an UPDATE needs at least one value")
    records: list[RR] = []
    seen: set[tuple[bytes, bytes]] = set()
    for owner, value in values:
        if not owner.is_subdomain(zone):
            raise WireError(f"{owner} is not in zone {zone}")
        rdata = txt_rdata(value)
        if (owner.key, rdata) in seen:
            continue
        seen.add((owner.key, rdata))
        records.append(RR(owner=owner, rrtype=RRType.TXT, rrclass=RRClass.IN if add else RRClass.NONE,
                          ttl=ttl if add else 0, rdata=rdata))
    records.sort(key=lambda rr: rr.owner.key)  # RRsets grouped: one owner's values together
    msg = Message(id=ident, opcode=Opcode.UPDATE,
                  question=(Question(qname=zone, qtype=RRType.SOA, qclass=RRClass.IN),),
                  authority=tuple(records))
    wire = encode(msg)
    mac = b""
    if key is not None:
        wire, mac = sign(wire, key, now=now, fudge=FUDGE)
    return SignedUpdate(wire=wire, ident=ident, zone=zone, key=key, mac=mac)


def check_reply(update: SignedUpdate, reply: bytes, *, now: int) -> Verdict:
    """Judge the server's reply to ``update``.

    Args:
        update: what was sent.
        reply: the reply octets.
        now: wall time, seconds since the epoch (checks the reply's TSIG time).

    Returns:
        a :class:`Verdict`: ok only for a NOERROR response to our ID and opcode whose TSIG
        verifies (when we signed); else the reason, naming the rcode and TSIG error.
    """
    try:
        msg = decode(reply)
    except WireError as exc:
        return Verdict(ok=False, rcode=-1, reason=f"malformed reply: {exc}")
    if msg.id != update.ident or not msg.flags & Flag.QR:
        return Verdict(ok=False, rcode=msg.rcode, reason="reply is not a response to our UPDATE's ID")
    if msg.opcode != Opcode.UPDATE:
        return Verdict(ok=False, rcode=msg.rcode,
                       reason=f"reply has opcode {Opcode(msg.opcode).to_text()}, not UPDATE")
    tsig_error, tsig_problem = _tsig_state(update, msg, reply, now)
    rcode_text = Rcode(msg.rcode).to_text()
    if msg.rcode != NOERROR:
        extra = f", TSIG error {_TSIG_ERRORS.get(tsig_error, tsig_error)}" if tsig_error else ""
        return Verdict(ok=False, rcode=msg.rcode, tsig_error=tsig_error, reason=f"rcode {rcode_text}{extra}")
    if tsig_problem:
        return Verdict(ok=False, rcode=msg.rcode, tsig_error=tsig_error, reason=tsig_problem)
    return Verdict(ok=True, rcode=msg.rcode)


def _tsig_state(update: SignedUpdate, msg: Message, reply: bytes, now: int) -> tuple[int, str]:
    """``(TSIG error code of the reply, problem with the reply's signature or "")``."""
    if msg.tsig is None:
        return 0, ("reply is not signed (RFC 8945 §5.3)" if update.key is not None else "")
    try:
        record = parse_rdata(msg.tsig.owner, msg.tsig.rdata)
    except WireError as exc:
        return 0, f"reply TSIG malformed: {exc}"
    if update.key is None:
        return record.error, "reply is signed but the UPDATE was not"
    if record.error:
        return record.error, f"TSIG error {_TSIG_ERRORS.get(record.error, record.error)}"
    verdict = verify(reply, msg.tsig_offset, record, {update.key.name.key: update.key}, now=now,
                     request_mac=update.mac)
    if not verdict.ok:
        name = _TSIG_ERRORS.get(verdict.error, Rcode(verdict.rcode).to_text())
        return record.error, f"reply TSIG does not verify ({name})"
    return 0, ""



def missing_values(reply: Message, owner: Name, values: set[str]) -> str | None:
    """None when ``reply`` (to ``owner TXT``) is NOERROR and holds every one of ``values`` at
    ``owner`` (other TXT values may be there too); else what it shows instead, e.g.
    ``"0 of 2 value(s) at _acme-challenge.example.test. (rcode NXDOMAIN, 0 TXT)"``."""
    have = {txt_value(rr.rdata) for rr in reply.answer if rr.rrtype == RRType.TXT and rr.owner == owner}
    missing = values - have
    if reply.rcode == NOERROR and not missing:
        return None
    return (f"{len(values) - len(missing)} of {len(values)} value(s) at {owner} "
            f"(rcode {Rcode(reply.rcode).to_text()}, {len(have)} TXT)")
