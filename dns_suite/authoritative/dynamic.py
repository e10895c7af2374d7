"""UPDATE and TSIG-signed messages: decisions of the control process (pure).

:func:`handle` takes a message the fast path deferred (an UPDATE, or any
message with a TSIG) and returns the reply octets and, for an accepted
UPDATE that changed a zone, the :class:`~dns_suite.zone.update.UpdateResult`
the caller must journal and publish *before* sending the reply.

TSIG (RFC 8945 §5.2-5.3): an unknown key, or a bad MAC, gets NOTAUTH with
an unsigned TSIG carrying BADKEY/BADSIG; a bad time gets NOTAUTH/BADTIME,
signed, with our time in Other Data; a MAC of illegal length gets FORMERR.
Replies to good signed requests are signed with the request MAC.
UPDATE (RFC 2136 §3): zone section not one SOA question -> FORMERR; zone
not served here -> NOTAUTH; no policy for it, or unsigned -> REFUSED;
then :func:`~dns_suite.zone.update.apply_update` decides.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from struct import pack
from typing import Callable, Iterable, Iterator

from dns_suite.authoritative.policy import Policy
from dns_suite.authoritative.xfr import TransferAcl, axfr_items, ixfr_items, pack as pack_messages
from dns_suite.authoritative.responder import Options, answer
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.wire.edns import Edns
from dns_suite.wire.message import Message, encode
from dns_suite.wire.errors import WireError
from dns_suite.wire.tsig import BADTIME, TsigKey, Verdict, parse_rdata, sign, verify
from dns_suite.wire.types import Flag
from dns_suite.zone.diff import Diff
from dns_suite.zone.update import UpdateResult, apply_update

UPDATE, NOTIFY, SOA, AXFR, IXFR = 5, 4, 6, 252, 251
FORMERR, REFUSED, NOTAUTH, BADVERS = 1, 5, 9, 16
TSIG_ROOM = 512  # octets left free in each transfer message for its TSIG


@dataclass(frozen=True, slots=True, kw_only=True)
class ZonePolicy:
    """A dynamic zone's rules: who may change what, and how its serial rises."""

    policy: Policy
    serial_policy: str = "increment"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """What to do with a deferred message.

    Attributes:
        reply: the reply octets, or None to send nothing; for a zone transfer
            an iterator of messages (TCP) to send in order.
        update: an accepted change to journal and publish before replying.
        zone_key: the changed zone's origin key.
        log: a line for the log (key, zone, rcode, reason), empty when nothing to say.
        notified: an accepted NOTIFY for the secondary zone ``zone_key``: check the primary now.
    """

    reply: bytes | Iterator[bytes] | None
    update: UpdateResult | None = None
    zone_key: bytes = b""
    notified: bool = False
    log: str = ""


def handle(zones: ZoneSet, data: bytes, msg: Message, *, keys: dict[bytes, TsigKey],
           policies: dict[bytes, ZonePolicy], opts: Options, tcp: bool, client: str, now: int,
           frozen: frozenset[bytes] = frozenset(), acls: dict[bytes, TransferAcl] | None = None,
           journal_since: Callable[[bytes, int], list[Diff] | None] = lambda key, serial: None,
           primaries: dict[bytes, list[tuple[str, bytes | None]]] | None = None,
           clock: Callable[[], int] | None = None) -> Outcome:
    """Decide the reply to a deferred message (see the module docstring).

    Args:
        zones: the served zones.
        data: the message as received.
        msg: ``data`` decoded.
        keys: TSIG keys by name key.
        policies: dynamic zones' policies by origin key.
        opts: server options.
        tcp: the transport.
        client: the client's address, for logs and cookies.
        now: wall time, seconds since the epoch.
        frozen: origin keys of zones whose updates are refused for now (``ctl freeze``).
        acls: who may transfer each zone (origin key -> ACL); absent: nobody.
        journal_since: ``(origin key, serial) -> diffs`` for IXFR, None when not reachable.
        primaries: secondary zones here: origin key -> ``[(address, key name key or None)]``
            their NOTIFY may come from; UPDATE to them gets NOTAUTH (no forwarding).
        clock: wall time for signing each message of a long transfer (default: ``now``).
    """
    verdict = None
    if msg.tsig is not None:
        try:
            record = parse_rdata(msg.tsig.owner, msg.tsig.rdata)
        except WireError:
            return Outcome(reply=_reply(msg, FORMERR))
        verdict = verify(data, msg.tsig_offset, record, keys, now=now)
        if not verdict.ok:
            return Outcome(reply=_tsig_error(msg, verdict, now),
                           log=f"tsig error={verdict.error} rcode={verdict.rcode} key={record.key_name} client={client}")
    primaries = primaries or {}
    if msg.opcode == UPDATE and len(msg.question) == 1 and msg.question[0].qname.key in primaries:
        outcome = Outcome(reply=_reply(msg, NOTAUTH), log=f"update to secondary zone={msg.question[0].qname} "
                                                          f"refused client={client}")
    elif msg.opcode == NOTIFY:
        outcome = _notify_in(msg, verdict, primaries, client)
    elif msg.opcode == UPDATE:
        outcome = _update(zones, msg, verdict, policies, client, now, frozen)
    elif msg.opcode == 0 and len(msg.question) == 1 and msg.question[0].qtype in (AXFR, IXFR):
        outcome = _transfer(zones, msg, verdict, acls or {}, journal_since, tcp, client)
        if verdict is not None and not isinstance(outcome.reply, (bytes, type(None))):
            return replace(outcome, reply=_sign_stream(outcome.reply, verdict, clock or (lambda: now)))
    else:
        reserve = len(msg.tsig.owner.wire) + 10 + len(msg.tsig.rdata) + 64 if msg.tsig else 0
        outcome = Outcome(reply=answer(zones, replace(msg, tsig=None), opts, tcp=tcp, client=client,
                                       reserve=reserve))
    if verdict is not None and outcome.reply is not None:
        signed, _ = sign(outcome.reply, verdict.key, now=now, request_mac=verdict.record.mac)
        outcome = replace(outcome, reply=signed)
    return outcome


def _update(zones: ZoneSet, msg: Message, verdict: Verdict | None, policies: dict[bytes, ZonePolicy],
            client: str, now: int, frozen: frozenset[bytes]) -> Outcome:
    key = verdict.key.name if verdict is not None else None
    if len(msg.question) != 1 or msg.question[0].qtype != SOA:
        return Outcome(reply=_reply(msg, FORMERR), log=f"update malformed zone section client={client}")
    zname = msg.question[0].qname
    zone = zones.zones.get(zname.key)
    if zone is None:
        return Outcome(reply=_reply(msg, NOTAUTH), log=f"update zone={zname} not served client={client}")
    if zname.key in frozen:
        return Outcome(reply=_reply(msg, REFUSED), log=f"update zone={zname} refused: frozen client={client}")
    rules = policies.get(zname.key)
    if rules is None or key is None or not rules.policy:
        return Outcome(reply=_reply(msg, REFUSED),
                       log=f"update zone={zname} refused: {'no policy' if rules is None else 'unsigned'} "
                           f"key={key} client={client}")
    result = apply_update(zone, msg, permitted=lambda rr: rules.policy.permits(key, rr),
                          serial_policy=rules.serial_policy, now=now)
    log = f"update zone={zname} key={key} client={client} rcode={result.rcode}"
    if result.reason:
        log += f" reason={result.reason}"
    if result.zone is not None:
        log += f" serial={result.zone.serial} removed={len(result.removed)} added={len(result.added)}"
    return Outcome(reply=_reply(msg, result.rcode), update=result if result.zone else None,
                   zone_key=zname.key, log=log)


def _reply(msg: Message, rcode: int) -> bytes:
    """A reply with the zone/question section copied and no records; OPT iff the request
    had one (RFC 6891 §7)."""
    edns = Edns(payload=1232, do=msg.edns.do) if msg.edns is not None else None
    return encode(Message(id=msg.id, flags=Flag.QR | (msg.flags & Flag.RD), opcode=msg.opcode,
                          rcode=rcode, question=msg.question, edns=edns))


def _tsig_error(msg: Message, verdict: Verdict, now: int) -> bytes:
    """NOTAUTH (or FORMERR) with a TSIG carrying the error (RFC 8945 §5.3.2)."""
    unsigned = _reply(msg, verdict.rcode)
    if verdict.rcode == FORMERR:
        return unsigned
    rec = verdict.record
    if verdict.signed_reply and verdict.key is not None:
        other = pack("!HI", now >> 32, now & 0xFFFFFFFF) if verdict.error == BADTIME else b""
        return sign(unsigned, verdict.key, now=now, request_mac=rec.mac, error=verdict.error, other=other)[0]
    stub = TsigKey(name=rec.key_name, algorithm=rec.algorithm, secret=b"")
    return sign(unsigned, stub, now=now, error=verdict.error, empty_mac=True)[0]


def _transfer(zones: ZoneSet, msg: Message, verdict: Verdict | None, acls: dict[bytes, TransferAcl],
              journal_since, tcp: bool, client: str) -> Outcome:
    """AXFR (TCP only, RFC 5936 §4.2) or IXFR (RFC 1995; over UDP the current SOA alone, §2)."""
    q = msg.question[0]
    kind = "AXFR" if q.qtype == AXFR else "IXFR"
    if msg.edns is not None and msg.edns.version > 0:
        return Outcome(reply=_reply(msg, BADVERS), log=f"{kind} with EDNS version {msg.edns.version} client={client}")
    zone = zones.zones.get(q.qname.key)
    if zone is None:
        return Outcome(reply=_reply(msg, NOTAUTH), log=f"{kind} zone={q.qname} not served client={client}")
    key = verdict.key.name if verdict is not None else None
    acl = acls.get(q.qname.key)
    if acl is None or not acl.allows(client, key) or (q.qtype == AXFR and not tcp):
        return Outcome(reply=_reply(msg, REFUSED), log=f"{kind} zone={q.qname} refused key={key} client={client}")
    if q.qtype == AXFR:
        items: Iterable = axfr_items(zone)
    else:
        soa = next((rr for rr in msg.authority if rr.rrtype == SOA), None)
        if soa is None or len(soa.rdata) < 20:
            return Outcome(reply=_reply(msg, FORMERR), log=f"IXFR zone={q.qname} without a SOA client={client}")
        serial = int.from_bytes(soa.rdata[-20:-16], "big")
        items = ixfr_items(zone, zone.serial if not tcp else serial,
                           journal_since(q.qname.key, serial) if tcp else None)
    log = f"{kind} zone={q.qname} serial={zone.serial} key={key} client={client}"
    limit = (65535 if tcp else 512) - (TSIG_ROOM if verdict is not None else 0)
    messages = pack_messages(items, replace(msg, tsig=None, authority=()), rrclass=zone.rrclass, limit=limit)
    return Outcome(reply=messages if tcp else next(messages), log=log)


def _sign_stream(messages: Iterator[bytes], verdict: Verdict, clock: Callable[[], int]) -> Iterator[bytes]:
    """Sign each message of a transfer, at its own time: the first with the request MAC, the
    rest with the prior MAC (RFC 8945 §5.3.1)."""
    prior = None
    for message in messages:
        if prior is None:
            signed, prior = sign(message, verdict.key, now=clock(), request_mac=verdict.record.mac)
        else:
            signed, prior = sign(message, verdict.key, now=clock(), prior_mac=prior)
        yield signed


def _notify_in(msg: Message, verdict: Verdict | None, primaries: dict[bytes, list[tuple[str, bytes | None]]],
               client: str) -> Outcome:
    """A NOTIFY (RFC 1996 §3.7-3.10): accepted from a zone's primary (with its key, if it has one)."""
    if len(msg.question) != 1 or msg.question[0].qtype != SOA:
        return Outcome(reply=_reply(msg, FORMERR), log=f"NOTIFY malformed client={client}")
    zname = msg.question[0].qname
    allowed = primaries.get(zname.key)
    if allowed is None:
        return Outcome(reply=_reply(msg, NOTAUTH), log=f"NOTIFY zone={zname} not a secondary here client={client}")
    key = verdict.key.name.key if verdict is not None else None
    if not any(host == client and (need is None or need == key) for host, need in allowed):
        return Outcome(reply=_reply(msg, REFUSED), log=f"NOTIFY zone={zname} refused client={client}")
    reply = encode(Message(id=msg.id, flags=Flag.QR | Flag.AA, opcode=NOTIFY, question=msg.question))
    return Outcome(reply=reply, zone_key=zname.key, notified=True, log=f"NOTIFY zone={zname} from {client}")
