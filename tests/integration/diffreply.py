"""Replies of the differential test (test_nsd_differential.py): parsing, comparison, clients."""

from __future__ import annotations

import collections
import random
import socket
import struct
from dataclasses import dataclass

import dns.flags
import dns.message
import dns.name
import dns.rdata

from diffcorpus import Query
from peers import Server, TcpClient, udp_exchange

# --- replies and their comparison ------------------------------------------------------------

@dataclass(frozen=True)
class Reply:
    """The compared parts of one reply."""

    raw: bytes
    flags: int  # QR AA TC RD RA AD CD, with the opcode
    rcode: int  # with the extended bits
    question: bytes
    opt: tuple | None  # (version, DO) or None
    answer: tuple
    authority: tuple
    additional: tuple

    @property
    def tc(self) -> bool:
        return bool(self.flags & dns.flags.TC)

    @property
    def aa(self) -> bool:
        return bool(self.flags & dns.flags.AA)

    def rrsets(self, section: str) -> dict[tuple, tuple]:
        """{(owner, type, class): RRs} of a section."""
        out: dict[tuple, list] = collections.defaultdict(list)
        for rr in getattr(self, section):
            out[rr[:3]].append(rr)
        return {k: tuple(sorted(v)) for k, v in out.items()}

    def folded(self) -> Reply:
        """This reply with the names inside rdata lowercased (RFC 4343: case-insensitive)."""
        def fold(rows):
            return tuple(sorted(r[:4] + (_fold_rdata(r[1], r[2], r[4]),) for r in rows))
        return Reply(self.raw, self.flags, self.rcode, self.question, self.opt,
                     fold(self.answer), fold(self.authority), fold(self.additional))

    def text(self) -> str:
        try:
            return dns.message.from_wire(self.raw).to_text()
        except Exception as exc:  # noqa: BLE001 - only for printing
            return f"(undecodable: {exc}) {self.raw.hex()}"


def _fold_rdata(rdtype: int, rdclass: int, text: str) -> str:
    rd = dns.rdata.from_text(rdclass, rdtype, text)
    canonical = rd.to_digestable()  # names lowercased (RFC 4034 §6.2)
    return dns.rdata.from_wire(rdclass, rdtype, canonical, 0, len(canonical)).to_text()


def question_end(wire: bytes) -> int:
    i = 12
    while wire[i]:
        i += wire[i] + 1
    return i + 5


def parse(wire: bytes) -> Reply:
    """The compared parts of a reply; a reply dnspython cannot decode gets rcode -1 ("malformed",
    never equal to a good one) and keeps its octets for the failure message."""
    try:
        msg = dns.message.from_wire(wire, one_rr_per_rrset=True, ignore_trailing=True)
    except Exception:  # noqa: BLE001 - any decoding failure is a difference to show
        return Reply(raw=wire, flags=0, rcode=-1, question=wire[12:], opt=None, answer=(),
                     authority=(), additional=())

    def rows(section) -> tuple:
        out = []
        for rrset in section:
            for rd in rrset:
                out.append((rrset.name.to_text().lower(), rrset.rdtype, rrset.rdclass, rrset.ttl,
                            rd.to_text()))
        return tuple(sorted(out))

    opt = None if msg.edns < 0 else (msg.edns, bool(msg.ednsflags & dns.flags.DO))
    qd = struct.unpack_from("!H", wire, 4)[0]
    return Reply(raw=wire, flags=(msg.flags & 0x87B0) | (msg.opcode() << 11), rcode=msg.rcode(),
                 question=wire[12:question_end(wire)] if qd else b"", opt=opt,
                 answer=rows(msg.answer), authority=rows(msg.authority),
                 additional=rows(msg.additional))


COMPARED = ("rcode", "question", "opt", "answer", "authority")
FLAG_NAMES = {dns.flags.QR: "QR", dns.flags.AA: "AA", dns.flags.TC: "TC", dns.flags.RD: "RD",
              dns.flags.RA: "RA", dns.flags.AD: "AD", dns.flags.CD: "CD", 0x7800: "opcode"}


def differences(ours: Reply | None, theirs: Reply | None) -> list[str]:
    """The parts in which two replies differ ("noreply" when one of them is missing)."""
    if ours is None or theirs is None:
        return [] if ours is theirs else ["noreply"]
    changed = ours.flags ^ theirs.flags
    diffs = [f"flag:{name}" for bit, name in FLAG_NAMES.items() if changed & bit]
    diffs += [f for f in COMPARED if getattr(ours, f) != getattr(theirs, f)]
    if ours.additional != theirs.additional:
        diffs.append("additional")
    return diffs


# --- one exchange, and the clients that make it -------------------------------------------

@dataclass
class Exchange:
    """One query over one transport, with each server's reply (and NSD's TCP reply)."""

    query: Query
    transport: str  # "udp" or "tcp"
    ours: Reply | None
    nsd: Reply | None
    nsd_tcp: Reply | None
    diffs: list[str]


class Client:
    """Sends queries to one server over UDP and TCP (one socket each, reused)."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.udp_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.tcp = TcpClient(server.addr, timeout=5.0)
        self.qid = random.Random(server.port).randrange(65536)

    def close(self) -> None:
        self.udp_sock.close()
        self.tcp.close()

    def ask(self, query: Query, transport: str) -> Reply | None:
        """Send ``query`` with the next ID; the parsed reply, or None when none came."""
        self.qid = (self.qid + 1) & 0xFFFF
        wire = query.wire(self.qid)
        if transport == "udp":
            raw = None
            for _ in range(3):  # loopback does not lose packets, but a slow start might
                raw = udp_exchange(self.server.addr, wire, timeout=2.0, sock=self.udp_sock)
                if raw is not None:
                    break
        else:
            raw = self.tcp.exchange(wire)
        return None if raw is None else parse(raw)


def exchange(clients: dict[str, Client], query: Query, transport: str,
             nsd_tcp: Reply | None) -> Exchange:
    """Ask ours and NSD the same query over the same transport and compare."""
    ours = clients["ours"].ask(query, transport)
    nsd = clients["nsd"].ask(query, transport)
    return Exchange(query, transport, ours, nsd, nsd_tcp, differences(ours, nsd))


def knot_differs(ours: Reply | None, knot: Reply | None) -> bool:
    """Knot compresses rdata names differently, so the case of those names is not compared;
    Knot clears CD as NSD does (entry 'cd-bit'), so CD is not compared either."""
    if ours is None or knot is None:
        return True
    return bool(set(differences(ours.folded(), knot.folded())) - {"additional", "flag:CD"})


def show(x: Exchange, knot: Reply | None = None) -> str:
    """Both replies (and Knot's) as text, for a failure message."""
    parts = [f"--- {x.query} over {x.transport.upper()}: differs in {', '.join(x.diffs)}",
             "ours:", x.ours.text() if x.ours else "(no reply)",
             "nsd:", x.nsd.text() if x.nsd else "(no reply)"]
    if knot is not None:
        parts += ["knot:", knot.text()]
    return "\n".join(parts)
