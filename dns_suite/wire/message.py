"""DNS messages: decode and encode (RFC 1035 §4, RFC 6891, RFC 8945 §5.1).

:func:`decode` is strict: any malformed input raises
:class:`~dns_suite.wire.errors.WireError` with the offset of the fault.
:func:`encode` compresses names (RFC 1035 §4.1.4; only in the types RFC 3597
§4 allows) and fits the message into a size limit by whole RRsets, setting TC
only when required data is left out (RFC 2181 §9, RFC 9471).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from struct import error as StructError, pack, pack_into, unpack_from

from dns_suite.wire.edns import Edns, decode_opt
from dns_suite.wire.errors import WireError
from dns_suite.wire.name import ROOT, Compressor, Name, decode_name
from dns_suite.wire.rdata import decode_rdata, write_rdata
from dns_suite.wire.types import FLAG_MASK, Flag

OPT = 41
RRSIG = 46
TSIG = 250
UPDATE = 5
ANY = 255
_EMPTY_OK_CLASSES = (254, ANY)  # NONE, ANY (RFC 2136 §2.4, §2.5)


@dataclass(frozen=True, slots=True, kw_only=True)
class Question:
    """A question entry (RFC 1035 §4.1.2)."""

    qname: Name
    qtype: int
    qclass: int = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class RR:
    """A resource record (RFC 1035 §4.1.3).

    Attributes:
        owner: the owner name.
        rrtype: type code (0..65535).
        rrclass: class code (0..65535).
        ttl: seconds, 0..2**32-1 as received (RFC 2181 §8 applies at use).
        rdata: uncompressed wire form, names' case kept.
    """

    owner: Name
    rrtype: int
    rrclass: int
    ttl: int
    rdata: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """A DNS message.

    Attributes:
        id: 16-bit message ID.
        flags: the header flag bits (see :class:`~dns_suite.wire.types.Flag`).
        opcode: 4-bit opcode.
        rcode: 12-bit rcode; the upper 8 bits travel in the OPT record, so a
            value over 15 needs ``edns``.
        question, answer, authority, additional: the sections; OPT and TSIG
            are not in ``additional``.
        edns: the OPT record's content, or None when absent.
        tsig: the TSIG RR (always last on the wire, RFC 8945 §5.1), or None.
        tsig_offset: where the TSIG RR started in the decoded octets (-1 when
            none, or not decoded); not part of the message's value.
    """

    id: int = 0
    flags: int = 0
    opcode: int = 0
    rcode: int = 0
    question: tuple[Question, ...] = field(default=())
    answer: tuple[RR, ...] = field(default=())
    authority: tuple[RR, ...] = field(default=())
    additional: tuple[RR, ...] = field(default=())
    edns: Edns | None = None
    tsig: RR | None = None
    tsig_offset: int = field(default=-1, compare=False)


# --- decoding ----------------------------------------------------------------

def decode(data: bytes) -> Message:
    """Decode a whole message.

    Args:
        data: the message octets (for TCP, without the 2-octet length).

    Returns:
        the decoded :class:`Message`.

    Raises:
        WireError: short header, counts beyond the data, malformed names or
            rdata, OPT outside additional / twice / with a non-root owner,
            TSIG not last in additional or not of class ANY, or trailing octets.
    """
    if len(data) < 12:
        raise WireError(f"header needs 12 octets, got {len(data)}", 0)
    ident, word, qd, an, ns, ar = unpack_from("!6H", data, 0)
    opcode = (word >> 11) & 0xF
    pos = 12
    questions = []
    for _ in range(qd):
        qname, pos = decode_name(data, pos, len(data))
        if pos + 4 > len(data):
            raise WireError("question runs past the end", pos)
        qtype, qclass = unpack_from("!HH", data, pos)
        questions.append(Question(qname=qname, qtype=qtype, qclass=qclass))
        pos += 4
    state = _Specials(opcode)
    answer, pos = _decode_section(data, pos, an, state, "answer")
    authority, pos = _decode_section(data, pos, ns, state, "authority")
    additional, pos = _decode_section(data, pos, ar, state, "additional")
    if pos != len(data):
        raise WireError(f"{len(data) - pos} octets after the last record", pos)
    rcode = word & 0xF
    if state.edns is not None:
        rcode |= state.ext_rcode << 4
    return Message(
        id=ident, flags=word & FLAG_MASK, opcode=opcode, rcode=rcode,
        question=tuple(questions), answer=tuple(answer), authority=tuple(authority),
        additional=tuple(additional), edns=state.edns, tsig=state.tsig, tsig_offset=state.tsig_offset,
    )


class _Specials:
    """OPT and TSIG found while decoding, and the rules about where they sit."""

    __slots__ = ("opcode", "edns", "ext_rcode", "tsig", "tsig_offset")

    def __init__(self, opcode: int) -> None:
        self.opcode = opcode
        self.edns: Edns | None = None
        self.ext_rcode = 0
        self.tsig: RR | None = None
        self.tsig_offset = -1


def _decode_section(data: bytes, pos: int, count: int, st: _Specials, section: str):
    rrs = []
    end = len(data)
    for i in range(count):
        start = pos
        if st.tsig is not None:
            raise WireError("record after TSIG (RFC 8945 §5.1)", start)
        owner, pos = decode_name(data, pos, end)
        if pos + 10 > end:
            raise WireError("RR header runs past the end", pos)
        rrtype, rrclass, ttl, rdlength = unpack_from("!HHIH", data, pos)
        pos += 10
        if pos + rdlength > end:
            raise WireError(f"rdata length {rdlength} runs past the end", pos - 2)
        if rrtype == OPT:
            _take_opt(data, start, pos, owner, rrclass, ttl, rdlength, st, section)
        elif (rdlength == 0 and st.opcode == UPDATE and rrclass in _EMPTY_OK_CLASSES
              and rrtype != TSIG):  # a TSIG always has rdata and stays under its rules
            rrs.append(RR(owner=owner, rrtype=rrtype, rrclass=rrclass, ttl=ttl, rdata=b""))
        else:
            rdata = decode_rdata(data, pos, rdlength, rrtype)
            rr = RR(owner=owner, rrtype=rrtype, rrclass=rrclass, ttl=ttl, rdata=rdata)
            if rrtype == TSIG:
                if section != "additional" or i != count - 1:
                    raise WireError("TSIG not the last record of additional", start)
                if rrclass != ANY:  # RFC 8945 §4.2 (BIND and dnspython refuse it too)
                    raise WireError(f"TSIG of class {rrclass}, not ANY", start)
                st.tsig = rr
                st.tsig_offset = start
            else:
                rrs.append(rr)
        pos += rdlength
    return rrs, pos


def _take_opt(data, start, pos, owner, rrclass, ttl, rdlength, st, section) -> None:
    if section != "additional":
        raise WireError(f"OPT in the {section} section", start)
    if st.edns is not None:
        raise WireError("second OPT record", start)
    if owner.wire != b"\0":
        raise WireError("OPT owner is not the root", start)
    st.edns = decode_opt(rrclass, ttl, data[pos:pos + rdlength], pos)
    st.ext_rcode = ttl >> 24


# --- encoding ----------------------------------------------------------------

def rrsets(rrs: tuple[RR, ...] | list[RR]) -> list[list[RR]]:
    """Group consecutive RRs of one owner, type and class into RRsets."""
    groups: list[list[RR]] = []
    prev = None
    for rr in rrs:
        k = (rr.owner.key, rr.rrtype, rr.rrclass)
        if k != prev:
            groups.append([])
            prev = k
        groups[-1].append(rr)
    return groups


def encode(msg: Message, max_size: int = 65535, *, required_additional: int = 0,
           reserve: int = 0) -> bytes:
    """Encode ``msg`` in at most ``max_size`` octets.

    Sections are filled in order by whole RRsets; the RRSIGs that follow an RRset and
    cover it go with it (RFC 4035 §3.1.1: both fit, or neither). Answer and authority are
    required data, and so are the first ``required_additional`` RRs of
    additional (in-domain glue); when required data does not fit, TC is set
    and nothing after it is written. Other additional RRsets that do not fit
    are left out without TC. OPT and TSIG are always written.

    Args:
        msg: the message.
        max_size: size limit in octets (512..65535 in practice).
        required_additional: count of leading additional RRs that are required.
        reserve: octets to leave free (for a TSIG appended later).

    Returns:
        the wire octets.

    Raises:
        WireError: the header, question, OPT and TSIG alone exceed
            ``max_size``; an rcode over 15 without EDNS; a field out of range.
    """
    _check_fields(msg)
    try:
        return _encode(msg, max_size, required_additional, reserve)
    except StructError as exc:  # a type, class, TTL or payload that does not fit its field
        raise WireError(f"field out of range: {exc}") from None


def _check_fields(msg: Message) -> None:
    """Reject values that would silently spill into a neighbouring field (RFC 1035 §4.1.1,
    RFC 6891 §6.1.3: 4-bit opcode, 12-bit rcode, 8-bit EDNS version, 15 Z bits)."""
    if not 0 <= msg.id <= 0xFFFF:
        raise WireError(f"message id {msg.id} out of range")
    if not 0 <= msg.opcode <= 0xF:
        raise WireError(f"opcode {msg.opcode} out of range")
    if not 0 <= msg.rcode <= 0xFFF:
        raise WireError(f"rcode {msg.rcode} out of range")
    e = msg.edns
    if e is not None and not (0 <= e.version <= 0xFF and 0 <= e.z <= 0x7FFF):
        raise WireError(f"EDNS version {e.version} or Z bits {e.z:#x} out of range")


def _encode(msg: Message, max_size: int, required_additional: int, reserve: int) -> bytes:
    buf = bytearray(12)
    comp = Compressor()
    for q in msg.question:
        comp.write(buf, q.qname)
        buf += pack("!HH", q.qtype, q.qclass)
    tail = _encode_tail(msg)
    limit = max_size - len(tail) - reserve
    if len(buf) > limit:
        raise WireError(f"header and question need {len(buf) + len(tail)} octets, limit {max_size}")
    counts = [len(msg.question), 0, 0, 0]
    truncated = False
    for idx, section in ((1, msg.answer), (2, msg.authority), (3, msg.additional)):
        required = len(section) if idx < 3 else required_additional
        written = 0
        for group in _units(section):
            mark = len(buf)
            for rr in group:
                _write_rr(buf, comp, rr)
            if len(buf) <= limit:
                counts[idx] += len(group)
            else:
                del buf[mark:]
                comp.table = {k: v for k, v in comp.table.items() if v < mark}
                if written < required:
                    truncated = True
                    break
            written += len(group)
        if truncated:
            break
    buf += tail
    counts[3] += (msg.edns is not None) + (msg.tsig is not None)
    _write_header(buf, msg, counts, truncated)
    return bytes(buf)


def _units(section: tuple[RR, ...]) -> list[list[RR]]:
    """The RRsets of a section, each joined by the RRSIGs right after it that cover it."""
    units = rrsets(section)
    if len(units) < 2 or all(u[0].rrtype != RRSIG for u in units):
        return units
    out: list[list[RR]] = []
    for group in units:
        if out and group[0].rrtype == RRSIG:
            head = out[-1][-1]
            covered = head.rrtype.to_bytes(2, "big")
            if (head.rrtype != RRSIG and head.owner.key == group[0].owner.key
                    and all(rr.rdata[:2] == covered for rr in group)):
                out[-1] = out[-1] + group
                continue
        out.append(group)
    return out


def _encode_tail(msg: Message) -> bytes:
    """OPT then TSIG, uncompressed, as they close the additional section."""
    tail = bytearray()
    if msg.edns is not None:
        e = msg.edns
        rdata = e.rdata()
        tail += b"\0" + pack("!HHIH", OPT, e.payload, e.ttl(msg.rcode >> 4), len(rdata)) + rdata
    elif msg.rcode > 15:
        raise WireError(f"rcode {msg.rcode} needs EDNS")
    if msg.tsig is not None:
        t = msg.tsig
        tail += t.owner.wire + pack("!HHIH", t.rrtype, t.rrclass, t.ttl, len(t.rdata)) + t.rdata
    return bytes(tail)


def _write_rr(buf: bytearray, comp: Compressor, rr: RR) -> None:
    comp.write(buf, rr.owner)
    at = len(buf)
    buf += pack("!HHIH", rr.rrtype, rr.rrclass, rr.ttl, 0)
    write_rdata(buf, comp, rr.rrtype, rr.rdata)
    rdlength = len(buf) - at - 10
    if rdlength > 0xFFFF:
        raise WireError(f"rdata of {rdlength} octets")
    pack_into("!H", buf, at + 8, rdlength)


def _write_header(buf: bytearray, msg: Message, counts: list[int], truncated: bool) -> None:
    word = (msg.flags & FLAG_MASK) | ((msg.opcode & 0xF) << 11) | (msg.rcode & 0xF)
    if truncated:
        word |= Flag.TC
    pack_into("!6H", buf, 0, msg.id, word, *counts)


def make_query(qname: Name, qtype: int, *, qclass: int = 1, ident: int = 0, rd: bool = False,
               edns: Edns | None = None) -> Message:
    """A QUERY message with one question (a convenience for clients and tests)."""
    return Message(id=ident, flags=Flag.RD if rd else 0,
                   question=(Question(qname=qname, qtype=qtype, qclass=qclass),), edns=edns)


__all__ = ["Question", "RR", "Message", "decode", "encode", "rrsets", "make_query", "ROOT"]
