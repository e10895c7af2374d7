"""Zone transfers in: the receiving side of AXFR (RFC 5936) and IXFR (RFC 1995), sans-IO.

How it works: :func:`make_query` builds the AXFR or IXFR query (IXFR with our SOA in
authority, RFC 1995 §3), TSIG-signed when a key is given. A :class:`Transfer` takes the reply
messages one at a time (:meth:`Transfer.feed`: one message's octets, without the TCP length) and
checks each: size budget, ID, rcode, question, TSIG (RFC 8945 §5.3.1; here *every* message must be
signed when a key is used: the first is checked with the request MAC, later ones with the prior
MAC and the timers). Answer RRs are read as they arrive, in one of these forms (RFC 1995 §4):
AXFR: SOA(S), the other RRs (fed into a :class:`ZoneBuilder` at once, so a large zone is not held
twice), SOA(S). IXFR incremental: SOA(S), per difference SOA(old) and the RRs removed, SOA(new)
and the RRs added, then SOA(S). IXFR in AXFR form: the second RR is not a SOA. IXFR up to date: a
first message holding only SOA(S), S not newer than ours; a single *newer* SOA alone (RFC 1995
§2: the UDP answer did not fit) is not complete: more must follow, or the caller asks over TCP.

Reading state (``_form`` / ``_phase``)::

    first RR      --SOA of origin-->                 AXFR: axfr   IXFR: undecided
    undecided     --non-SOA-->                       axfr (AXFR inside IXFR)
    undecided     --SOA(old = our serial)-->         ixfr/del
    undecided     --end of message, 1 RR, not newer--> done (up to date)
    axfr          --SOA identical to the first-->    done
    ixfr/del      --SOA(new)-->                      ixfr/add
    ixfr/add      --SOA(S), identical to the first-->  done
    ixfr/add      --SOA(old' = last new)-->          ixfr/del (next difference)
    done          --any RR or message-->             TransferError

Any :class:`TransferError` fails the transfer for good; the caller keeps its old copy (issue 5).
"""

from __future__ import annotations

import hmac
from struct import pack, unpack_from

from dns_suite.errors import DnsSuiteError
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import RR, Message, Question, decode, encode
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import TsigKey, TsigRecord, compute_mac, parse_rdata, sign, verify
from dns_suite.wire.types import Flag
from dns_suite.zone.diff import Change, Diff, JournalError, apply_diffs, serial_gt
from dns_suite.zone.model import Zone, ZoneBuilder

SOA, AXFR, IXFR = 6, 252, 251
KINDS = {"AXFR": AXFR, "IXFR": IXFR}
_ROOT_SOA_HEAD = b"\0\0"  # MNAME and RNAME "." in the query's SOA (as dig sends it)


class TransferError(DnsSuiteError):
    """A transfer in is refused: the peer's fault (or a limit of ours); the old copy stays.

    Attributes:
        reason: what was wrong, in words.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def soa_serial(rdata: bytes) -> int:
    """The SERIAL field of SOA rdata (uncompressed wire form, RFC 1035 §3.3.13)."""
    return int.from_bytes(rdata[-20:-16], "big")


def make_query(origin: Name, kind: str, serial: int | None, ident: int, key: TsigKey | None,
               now: int, *, rrclass: int = 1) -> tuple[bytes, bytes]:
    """The AXFR or IXFR query for ``origin``.

    Args:
        origin: the zone's apex.
        kind: ``"AXFR"`` or ``"IXFR"``.
        serial: our serial, sent in the IXFR authority SOA (RFC 1995 §3); ignored for AXFR.
        ident: the 16-bit message ID (random, from the caller).
        key: TSIG key to sign with, or None.
        now: wall time, seconds since the epoch (for TSIG).
        rrclass: the zone's class.

    Returns:
        ``(octets, request_mac)``; ``request_mac`` is ``b""`` when unsigned.

    Raises:
        ValueError: an unknown kind, or IXFR without a serial.
    """
    if kind not in KINDS:
        raise ValueError(f"transfer kind {kind!r}: AXFR or IXFR")
    authority: tuple[RR, ...] = ()
    if kind == "IXFR":
        if serial is None:
            raise ValueError("IXFR needs the serial we hold")
        rdata = _ROOT_SOA_HEAD + pack("!5I", serial, 0, 0, 0, 0)
        authority = (RR(owner=origin, rrtype=SOA, rrclass=rrclass, ttl=0, rdata=rdata),)
    question = (Question(qname=origin, qtype=KINDS[kind], qclass=rrclass),)
    octets = encode(Message(id=ident, question=question, authority=authority))
    return sign(octets, key, now=now) if key is not None else (octets, b"")


class Transfer:
    """One zone transfer being received (see the module docstring).

    Args:
        origin: the zone's apex.
        kind: ``"AXFR"`` or ``"IXFR"`` (what was asked).
        current: our copy (needed for IXFR; None for an AXFR with no copy).
        key: the TSIG key the query was signed with, or None.
        request_mac: the query's MAC (from :func:`make_query`).
        max_octets: the most message octets accepted in total (issue 5, "Limits").
        ident: the query's message ID.
        now: wall time, seconds since the epoch, for TSIG time checks; may be
            updated by each :meth:`feed`.
        rrclass: the zone's class.

    Attributes:
        octets: message octets received so far.
        messages: messages received so far.
        up_to_date: True when the IXFR answer was the single SOA (we are current).
        diffs: the differences of an incremental IXFR, in order, else None.

    Raises:
        ValueError: an unknown kind, or IXFR without ``current``.
    """

    def __init__(self, origin: Name, kind: str, current: Zone | None, key: TsigKey | None,
                 request_mac: bytes, max_octets: int, *, ident: int, now: int | None = None,
                 rrclass: int = 1) -> None:
        if kind not in KINDS:
            raise ValueError(f"transfer kind {kind!r}: AXFR or IXFR")
        if kind == "IXFR" and current is None:
            raise ValueError("IXFR needs the current zone")
        self.origin, self.kind, self.current, self.key = origin, kind, current, key
        self.request_mac, self.max_octets, self.ident, self.rrclass = request_mac, max_octets, ident, rrclass
        self.now, self.octets, self.messages, self.up_to_date = now, 0, 0, False
        self.diffs: tuple[Diff, ...] | None = None
        self._question = Question(qname=origin, qtype=KINDS[kind], qclass=rrclass)
        self._failed, self._done, self._count = "", False, 0  # _count: answer RRs read
        self._prior_mac: bytes | None = None
        self._first, self._first_ttl, self._serial = b"", 0, 0  # the opening SOA: rdata, TTL, serial
        self._form, self._phase = "", ""  # form "", "axfr", "ixfr"; ixfr phase "del" or "add"
        self._builder: ZoneBuilder | None = None
        self._seq: list[Diff] = []
        self._removed: list[Change] = []
        self._added: list[Change] = []
        self._result: Zone | None = None

    @property
    def complete(self) -> bool:
        """True once the closing SOA (or the up-to-date single SOA) was read."""
        return self._done

    def feed(self, message_octets: bytes, now: int | None = None) -> bool:
        """Take the next reply message.

        Args:
            message_octets: one DNS message (for TCP, without the 2-octet length).
            now: wall time, seconds since the epoch (TSIG time check); None keeps the last.

        Returns:
            True when the transfer is complete.

        Raises:
            TransferError: the message or the transfer is refused (the reason
                says why); every later call raises it again.
        """
        if self._failed:
            raise TransferError(self._failed)
        try:
            return self._feed(message_octets, now)
        except TransferError as exc:
            self._failed = exc.reason
            raise

    def _feed(self, data: bytes, now: int | None) -> bool:
        if now is not None:
            self.now = now
        if self._done:
            raise TransferError("message after the end of the transfer")
        self.octets += len(data)
        if self.octets > self.max_octets:
            raise TransferError(f"transfer exceeds {self.max_octets} octets")
        try:
            msg = decode(data)
        except WireError as exc:
            raise TransferError(f"malformed message {self.messages + 1}: {exc}") from None
        self._check_header(msg)
        self._check_tsig(data, msg)
        self.messages += 1
        if self.messages == 1 and not msg.answer:
            raise TransferError("first message holds no records")
        for rr in msg.answer:
            self._take(rr)
        self._maybe_up_to_date()
        return self._done

    def _check_header(self, msg: Message) -> None:
        """ID, QR, opcode, TC, rcode, question (RFC 5936 §2.2)."""
        n = self.messages + 1
        if msg.id != self.ident:
            raise TransferError(f"message {n}: ID {msg.id}, expected {self.ident}")
        if not msg.flags & Flag.QR or msg.opcode != 0:
            raise TransferError(f"message {n}: not a reply to a query")
        if msg.rcode != 0:
            raise TransferError(f"message {n}: rcode {msg.rcode}")
        if msg.flags & Flag.TC:
            raise TransferError(f"message {n}: truncated (TC)")
        if n == 1 and msg.question != (self._question,):
            raise TransferError(f"message 1: question {_qtext(msg)}, expected "
                                f"{self.origin} {self.kind}")
        if n > 1 and msg.question not in ((), (self._question,)):
            raise TransferError(f"message {n}: question {_qtext(msg)}")

    def _check_tsig(self, data: bytes, msg: Message) -> None:
        """Every message signed when a key is used (RFC 8945 §5.3.1)."""
        n = self.messages + 1
        if self.key is None:
            if msg.tsig is not None:
                raise TransferError(f"message {n}: signed, but the query was not")
            return
        if msg.tsig is None:
            raise TransferError(f"message {n}: no TSIG (RFC 8945 §5.3.1)")
        if self.now is None:
            raise ValueError("a signed transfer needs now (wall time)")
        try:
            rec = parse_rdata(msg.tsig.owner, msg.tsig.rdata)
        except WireError as exc:
            raise TransferError(f"message {n}: bad TSIG: {exc}") from None
        if rec.error:
            raise TransferError(f"message {n}: TSIG error {rec.error}")
        if self._prior_mac is None:
            verdict = verify(data, msg.tsig_offset, rec, {self.key.name.key: self.key}, now=self.now,
                             request_mac=self.request_mac)
            why = "" if verdict.ok else f"rcode {verdict.rcode} TSIG error {verdict.error}"
        else:
            why = verify_later(data, msg.tsig_offset, rec, self.key, self._prior_mac, self.now)
        if why:
            raise TransferError(f"message {n}: TSIG check failed: {why}")
        self._prior_mac = rec.mac

    def _take(self, rr: RR) -> None:
        """Read one answer RR (the state table in the module docstring)."""
        if self._done:
            raise TransferError(f"{_rrtext(rr)} after the closing SOA")
        if rr.rrclass != self.rrclass:
            raise TransferError(f"{_rrtext(rr)}: class {rr.rrclass}, zone class {self.rrclass}")
        if not rr.owner.is_subdomain(self.origin):
            raise TransferError(f"{_rrtext(rr)}: outside the zone {self.origin}")
        if rr.rrtype == SOA and rr.owner != self.origin:
            raise TransferError(f"{_rrtext(rr)}: SOA below the apex")
        self._count += 1
        if self._count == 1:
            self._open(rr)
        elif self._form == "":
            self._decide(rr)
        elif self._form == "axfr":
            self._take_axfr(rr)
        else:
            self._take_ixfr(rr)

    def _open(self, rr: RR) -> None:
        if rr.rrtype != SOA:
            raise TransferError(f"first record {_rrtext(rr)} is not the SOA of {self.origin}")
        self._first, self._first_ttl, self._serial = rr.rdata, rr.ttl, soa_serial(rr.rdata)
        if self.kind == "AXFR":
            self._start_axfr(rr)

    def _start_axfr(self, soa: RR) -> None:
        self._form = "axfr"
        self._builder = ZoneBuilder(self.origin, self.rrclass)
        self._builder.add(soa.owner, soa.ttl, SOA, soa.rdata, "<axfr>", 1)

    def _decide(self, rr: RR) -> None:
        """The second RR of an IXFR answer tells its form (RFC 1995 §4)."""
        if rr.rrtype != SOA or soa_serial(rr.rdata) == self._serial:
            first = RR(owner=self.origin, rrtype=SOA, rrclass=self.rrclass, ttl=self._first_ttl,
                       rdata=self._first)
            self._start_axfr(first)
            self._take_axfr(rr)
            return
        assert self.current is not None
        old = soa_serial(rr.rdata)
        if old != self.current.serial:
            raise TransferError(f"IXFR starts at serial {old}, we hold {self.current.serial}")
        self._form, self._phase = "ixfr", "del"
        self._removed = [_change(rr)]

    def _take_axfr(self, rr: RR) -> None:
        if rr.rrtype == SOA:
            if rr.rdata != self._first:
                raise TransferError(f"closing SOA (serial {soa_serial(rr.rdata)}) differs from the "
                                    f"opening one (serial {self._serial})")
            self._done = True
            return
        assert self._builder is not None
        self._builder.add(rr.owner, rr.ttl, rr.rrtype, rr.rdata, "<axfr>", self._count)

    def _take_ixfr(self, rr: RR) -> None:
        if rr.rrtype != SOA:
            (self._removed if self._phase == "del" else self._added).append(_change(rr))
            return
        serial = soa_serial(rr.rdata)
        if self._phase == "del":
            self._phase, self._added = "add", [_change(rr)]
            return
        done = self._close_diff()
        if serial == self._serial and done.serial_to == self._serial:
            if rr.rdata != self._first:
                raise TransferError("closing SOA differs from the opening one")
            self._done, self.diffs = True, tuple(self._seq)
            return
        if serial != done.serial_to:
            raise TransferError(f"IXFR difference starts at serial {serial}, the previous ended "
                                f"at {done.serial_to}")
        self._phase, self._removed = "del", [_change(rr)]

    def _close_diff(self) -> Diff:
        diff = Diff(serial_from=soa_serial(self._removed[0].rdata),
                    serial_to=soa_serial(self._added[0].rdata),
                    removed=tuple(self._removed), added=tuple(self._added))
        self._seq.append(diff)
        self._removed, self._added = [], []
        return diff

    def _maybe_up_to_date(self) -> None:
        """A first message with only SOA(S), S not newer than ours: up to date (RFC 1995 §4)."""
        if (self.kind == "IXFR" and self._form == "" and self._count == 1 and self.messages == 1
                and self.current is not None and not serial_gt(self._serial, self.current.serial)):
            self._done = self.up_to_date = True

    def result(self) -> Zone:
        """The zone the transfer gives.

        Returns:
            AXFR form: the zone built from the RRs; incremental IXFR: ``current``
            with :attr:`diffs` applied; up to date: ``current``.

        Raises:
            TransferError: the transfer failed or is incomplete, the AXFR data
                fails the whole-zone checks, or the differences do not apply.
        """
        if self._failed:
            raise TransferError(self._failed)
        if not self._done:
            raise TransferError(f"transfer incomplete after {self.messages} messages "
                                f"({self._count} records)")
        if self._result is None:
            self._result = self._build()
        return self._result

    def _build(self) -> Zone:
        if self.up_to_date:
            assert self.current is not None
            return self.current
        if self._form == "ixfr":
            assert self.current is not None and self.diffs is not None
            try:
                return apply_diffs(self.current, self.diffs)
            except JournalError as exc:
                raise TransferError(f"IXFR does not apply: {exc}") from None
        assert self._builder is not None
        zone, problems = self._builder.build()
        if zone is None:
            errors = "; ".join(p.reason for p in problems if p.severity == "error")
            raise TransferError(f"transferred zone {self.origin} refused: {errors or 'no SOA'}")
        return zone


def verify_later(data: bytes, tsig_start: int, rec: TsigRecord, key: TsigKey, prior_mac: bytes,
                 now: int) -> str:
    """Check the TSIG of a second or later message of a transfer (RFC 8945 §5.3.1).

    The MAC covers the prior message's MAC, this message without its TSIG,
    and the timers only.

    Args:
        data: the message as received.
        tsig_start: offset (octets) of its TSIG RR.
        rec: the TSIG fields.
        key: the transfer's key.
        prior_mac: the MAC of the previous message.
        now: wall time, seconds since the epoch.

    Returns:
        ``""`` when good, else the reason.
    """
    if rec.key_name.key != key.name.key or rec.algorithm.key != key.algorithm.key:
        return f"key {rec.key_name} {rec.algorithm}, expected {key.name}"
    full = key.digest_size()
    if not max(10, full // 2, key.min_mac) <= len(rec.mac) <= full:
        return f"MAC of {len(rec.mac)} octets"
    unsigned = data[:10] + pack("!H", unpack_from("!H", data, 10)[0] - 1) + data[12:tsig_start]
    expected = compute_mac(key, unsigned, rec, prior_mac=prior_mac)
    if not hmac.compare_digest(expected[:len(rec.mac)], rec.mac):
        return "bad MAC"
    if abs(now - rec.time_signed) > rec.fudge:
        return f"time {rec.time_signed} outside {now}±{rec.fudge}"
    return ""


def _change(rr: RR) -> Change:
    return Change(rr.owner.wire, rr.rrtype, rr.ttl, rr.rdata)


def _rrtext(rr: RR) -> str:
    return f"{rr.owner} type {rr.rrtype}"


def _qtext(msg: Message) -> str:
    return ", ".join(f"{q.qname} {q.qtype} class {q.qclass}" for q in msg.question) or "(none)"
