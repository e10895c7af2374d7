"""An in-memory Internet for the resolver core: authoritative engines at addresses, no sockets.

``FakeNet`` maps an address to the zones served there (answered by
``dns_suite.authoritative.responder``) or to a behaviour (silent, always-TC, a custom
function). :func:`run_query` drives a Resolver through one client query and returns the
decoded answer and the upstream queries it sent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Callable

from dns_suite.authoritative.responder import Options, respond
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.resolver.actions import Answer, SendQuery
from dns_suite.resolver.iterator import Resolver
from dns_suite.resolver.settings import Hints, Settings
from dns_suite.wire.message import Message, decode, encode, make_query
from dns_suite.wire.name import Name
from dns_suite.zone.model import ZoneBuilder
from dns_suite.zone.reader import ZoneReader

Behaviour = Callable[[bytes, bool], "bytes | None"]  # (query, tcp) -> reply or None (silence)


def zone(origin: str, text: str, *, soa: str = "SOA ns host 1 3600 600 86400 300"):
    """A zone snapshot from master-file text; ``$TTL 3600`` and the apex ``soa`` are added."""
    apex = Name.from_text(origin)
    head = f"$TTL 3600\n@ {soa}\n"
    builder = ZoneBuilder(apex)
    for record in ZoneReader(apex, file=f"{origin}zone").records((head + text).splitlines()):
        builder.add(*record)
    built, problems = builder.build()
    assert built is not None, [str(p) for p in problems]
    return built


@dataclass
class FakeNet:
    """Servers by address; a log of (address, tcp, question text) of every query."""

    servers: dict[str, Behaviour] = field(default_factory=dict)
    log: list[tuple[str, bool, str]] = field(default_factory=list)

    def serve(self, address: str, *zones) -> None:
        zs = ZoneSet(list(zones))
        self.servers[address] = lambda data, tcp: respond(zs, data, Options(), tcp=tcp)

    def behave(self, address: str, behaviour: Behaviour) -> None:
        self.servers[address] = behaviour

    def reply(self, send: SendQuery) -> bytes | None:
        q = decode(send.wire).question[0]
        self.log.append((send.address, send.tcp, f"{q.qname.to_text()} {q.qtype}"))
        server = self.servers.get(send.address)
        return None if server is None else server(send.wire, send.tcp)


def make_resolver(hint_address: str = "198.41.0.4", seed: int = 1, **settings) -> Resolver:
    settings.setdefault("query_private", True)
    rng = random.Random(seed)
    hints = Hints(servers=((Name.from_text("a.root-servers.net."), (hint_address,)),))
    return Resolver(Settings(**settings), hints, randbits=rng.getrandbits)


def run_query(resolver: Resolver, net: FakeNet, qname: str, qtype: int, now: float = 1000.0, *,
              edns: bool = True, limit: int = 1000) -> Message:
    """Send one client query through the resolver, answering its upstream queries from ``net``."""
    from dns_suite.wire.edns import Edns
    query = encode(make_query(Name.from_text(qname), qtype, ident=4242, rd=True,
                              edns=Edns(payload=1232) if edns else None))
    actions = resolver.submit(query, "client", now)
    answers = []
    for _ in range(limit):
        if not actions:
            break
        action = actions.pop(0)
        if isinstance(action, Answer):
            answers.append(action)
            continue
        reply = net.reply(action)
        if reply is None:
            actions.extend(resolver.on_timeout(action.token, now))
        else:
            actions.extend(resolver.on_response(action.token, reply, now, source=(action.address, action.port),
                                                tcp=action.tcp))
            if action.token in resolver.pending:  # ignored (wrong ID, question ...): it times out
                actions.extend(resolver.on_timeout(action.token, now))
    assert len(answers) == 1, f"{len(answers)} answers, pending {actions}"
    return decode(answers[0].wire)
