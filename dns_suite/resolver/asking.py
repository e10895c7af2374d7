"""Sending one question to one server: EDNS, TCP after TC, no EDNS after FORMERR, 0x20 (pure)."""

from __future__ import annotations

from typing import Callable, Generator

from dns_suite.resolver.servers import ServerTable
from dns_suite.resolver.settings import Settings
from dns_suite.resolver.state import CD, RD, TC, Ask, Budget
from dns_suite.wire.edns import Edns
from dns_suite.wire.message import Message, Question, encode
from dns_suite.wire.name import Name

FORMERR = 1


class Asker:
    """The part of an iteration that builds queries and reads the transport-level outcome.

    Attributes (set by the subclass): settings, servers, randbits.
    """

    settings: Settings
    servers: ServerTable
    randbits: Callable[[int], int]

    def ask(self, ctx: Budget, address: str, port: int, qname: Name, qtype: int, *, rd: bool = False
            ) -> Generator[Ask, "Message | None", Message | None]:
        """One question to one server: UDP, then TCP on TC, then without EDNS on FORMERR."""
        server = self.servers.get(address)
        tcp = False
        for _ in range(3):
            edns = None if server.no_edns > ctx.now else Edns(payload=self.settings.edns_payload,
                                                          do=ctx.do or self.settings.dnssec)
            ctx.queries += 1
            reply = yield self._make_ask(ctx, address, port, qname, qtype, rd=rd, tcp=tcp, edns=edns)
            if reply is None:
                return None
            if reply.flags & TC:
                if tcp:
                    return None
                tcp = True
                continue
            if reply.rcode == FORMERR and edns is not None:
                server.no_edns = ctx.now + self.servers.lame_ttl
                continue
            return reply
        return None

    def _make_ask(self, ctx: Budget, address: str, port: int, qname: Name, qtype: int, *, rd: bool,
                  tcp: bool, edns: Edns | None) -> Ask:
        if self.settings.use_0x20:
            qname = _randomise_case(qname, self.randbits)
        question = Question(qname=qname, qtype=qtype)
        qid = self.randbits(16)
        flags = (RD if rd else 0) | (CD if ctx.cd else 0)
        wire = encode(Message(id=qid, flags=flags, question=(question,), edns=edns))
        return Ask(address=address, port=port, tcp=tcp, wire=wire, qid=qid, question=question,
                   timeout=self.servers.timeout_for(address))


def _randomise_case(name: Name, randbits: Callable[[int], int]) -> Name:
    """0x20 (draft-vixie-dnsext-dns0x20): flip the case of letters at random."""
    out = bytearray(name.wire)
    pos = 0
    while out[pos]:
        length = out[pos]
        for i in range(pos + 1, pos + 1 + length):
            if 97 <= (out[i] | 0x20) <= 122 and randbits(1):
                out[i] ^= 0x20
        pos += length + 1
    return Name(bytes(out), name.key)
