"""NOTIFY out (RFC 1996): whom to tell, when to retransmit, who has the new serial (pure).

How it works: a :class:`Notifier` per zone keeps one :class:`Peer` per
target: the zone's NS addresses found in the zone (port 53; never the SOA
MNAME alone, §3.6) and the configured ``also_notify`` targets (address,
port, optional TSIG key). :meth:`Notifier.serial_changed` marks every peer
to be told; :meth:`due` returns the NOTIFYs to send now and schedules the
next try with doubling intervals, up to ``max_tries`` (§3.6: retransmit
until answered); :meth:`on_reply` records the acknowledgement. Once a peer
acknowledged, :meth:`due` also asks it for its SOA now and then
(:meth:`on_soa`) until it serves our serial, so ``zone-status`` can say
whether a change is live everywhere.

Transitions per peer (``state``)::

    idle --serial_changed--> pending --due: send--> waiting --reply NOERROR--> acked
    waiting --no reply, tries left--> (resend after 1, 2, 4 ... s)
    waiting --tries exhausted--> failed
    acked --SOA answered with our serial--> synced
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dns_suite.wire.message import RR, Message, Question, encode
from dns_suite.wire.name import Name
from dns_suite.wire.types import Flag
from dns_suite.zone.diff import serial_gt
from dns_suite.zone.model import Zone

NOTIFY, SOA, A, AAAA, NS = 4, 6, 1, 28, 2


@dataclass(frozen=True, slots=True)
class Target:
    """Where a NOTIFY goes: address, port, and the TSIG key name (``Name.key``) or None."""

    host: str
    port: int = 53
    key: bytes | None = None


@dataclass(slots=True)
class Peer:
    """What we know of one target."""

    target: Target
    state: str = "idle"
    tries: int = 0
    next_at: float = 0.0
    ident: int = -1
    acked_serial: int | None = None
    served_serial: int | None = None
    soa_checks: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """A message to send: ``kind`` is ``notify`` or ``soa``."""

    target: Target
    kind: str
    ident: int
    wire: bytes


@dataclass
class Notifier:
    """NOTIFY state of one zone.

    Args:
        origin: the zone's apex.
        targets: the peers.
        max_tries: NOTIFY sends per serial change and peer.
        interval: seconds before the first retransmission (then doubling).
        soa_every: seconds between SOA checks of an acknowledged peer.
        max_soa_checks: SOA checks per serial change and peer.
    """

    origin: Name
    targets: list[Target]
    max_tries: int = 5
    interval: float = 1.0
    soa_every: float = 1.0
    max_soa_checks: int = 30
    serial: int = 0
    peers: dict[Target, Peer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.peers = {t: Peer(target=t) for t in self.targets}

    def serial_changed(self, serial: int, now: float) -> None:
        """A new serial is served: every peer is to be told."""
        self.serial = serial
        for peer in self.peers.values():
            peer.state, peer.tries, peer.next_at, peer.soa_checks, peer.error = "pending", 0, now, 0, ""

    def due(self, now: float, new_id) -> list[Send]:
        """What to send at ``now``; ``new_id()`` gives fresh 16-bit message IDs."""
        out = []
        for peer in self.peers.values():
            if peer.next_at > now:
                continue
            if peer.state in ("pending", "waiting"):
                out += self._notify(peer, now, new_id())
            elif peer.state == "acked" and peer.soa_checks < self.max_soa_checks:
                peer.soa_checks += 1
                peer.next_at = now + self.soa_every
                peer.ident = new_id()
                out.append(Send(target=peer.target, kind="soa", ident=peer.ident,
                                wire=_soa_query(self.origin, peer.ident)))
        return out

    def _notify(self, peer: Peer, now: float, ident: int) -> list[Send]:
        if peer.tries >= self.max_tries:
            peer.state, peer.error = "failed", f"no answer to {peer.tries} NOTIFYs"
            return []
        peer.state, peer.ident = "waiting", ident
        peer.tries += 1
        peer.next_at = now + self.interval * 2 ** (peer.tries - 1)
        return [Send(target=peer.target, kind="notify", ident=ident, wire=notify_message(self.origin, ident))]

    def on_reply(self, target: Target, ident: int, rcode: int, now: float) -> None:
        """A reply to our NOTIFY arrived (ID already matched by the caller or here)."""
        peer = self.peers.get(target)
        if peer is None or peer.state != "waiting" or peer.ident != ident:
            return
        if rcode == 0:
            peer.state, peer.acked_serial, peer.next_at, peer.error = "acked", self.serial, now + 0.2, ""
        else:
            peer.error = f"NOTIFY answered with rcode {rcode}"

    def on_soa(self, target: Target, ident: int, serial: int | None) -> None:
        """A reply to our SOA check: the serial the peer serves (None: no SOA in it)."""
        peer = self.peers.get(target)
        if peer is None or peer.ident != ident or serial is None:
            return
        peer.served_serial = serial
        if not serial_gt(self.serial, serial):
            peer.state = "synced"

    def status(self) -> list[dict]:
        """Per peer: address, state, tries, acknowledged and served serials, last error."""
        return [{"target": f"{p.target.host}:{p.target.port}", "state": p.state, "tries": p.tries,
                 "acked_serial": p.acked_serial, "served_serial": p.served_serial, "error": p.error}
                for p in self.peers.values()]


def notify_message(origin: Name, ident: int) -> bytes:
    """A NOTIFY for ``origin`` (RFC 1996 §3.7: opcode NOTIFY, AA, question SOA)."""
    return encode(Message(id=ident, flags=Flag.AA, opcode=NOTIFY,
                          question=(Question(qname=origin, qtype=SOA),)))


def _soa_query(origin: Name, ident: int) -> bytes:
    return encode(Message(id=ident, question=(Question(qname=origin, qtype=SOA),)))


def ns_targets(zone: Zone) -> list[Target]:
    """Addresses of the zone's NS hosts found in the zone itself (port 53)."""
    ns = zone.get(zone.origin.key, NS)
    out = []
    for rd in ns.rdatas if ns else ():
        host = Name(rd)
        for rrtype in (A, AAAA):
            rrset = zone.get(host.key, rrtype)
            for addr in rrset.rdatas if rrset else ():
                out.append(Target(host=_address_text(addr), port=53))
    return out


def _address_text(addr: bytes) -> str:
    if len(addr) == 4:
        return ".".join(str(b) for b in addr)
    import ipaddress
    return str(ipaddress.IPv6Address(addr))


def parse_target(text: str) -> Target:
    """``"ADDR:PORT"``, ``"[V6]:PORT"`` or ``"ADDR"``, optionally followed by ``key NAME``.

    Raises:
        ValueError: a malformed entry.
    """
    words = text.split()
    key = None
    if len(words) == 3 and words[1] == "key":
        key = Name.from_text(words[2] if words[2].endswith(".") else words[2] + ".").key
    elif len(words) != 1:
        raise ValueError(f"bad also_notify entry {text!r}: ADDR[:PORT] [key NAME]")
    addr = words[0]
    if addr.startswith("["):
        host, _, port = addr[1:].partition("]:")
    elif addr.count(":") == 1:
        host, _, port = addr.partition(":")
    else:
        host, port = addr, "53"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"bad port in also_notify entry {text!r}")
    return Target(host=host, port=int(port), key=key)


def rr_serial(rr: RR) -> int | None:
    """The serial of a SOA RR, or None."""
    return int.from_bytes(rr.rdata[-20:-16], "big") if rr.rrtype == SOA and len(rr.rdata) >= 20 else None
