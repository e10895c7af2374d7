"""The propagation proof of DNS-01: every authoritative server serves every value (I/O).

Instead of sleeping a fixed time (certbot's 60 s), each server of the zone is asked for the TXT
RRset until it shows every value added, or a deadline passes; pauses start at ``FIRST_POLL``
seconds and double up to ``poll``. A server that lags is named with what it showed last.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass

from dns_suite.acme.publish import missing_values
from dns_suite.net.client import QueryError, Unreachable, query
from dns_suite.wire.edns import Edns
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import decode, encode, make_query
from dns_suite.wire.name import Name
from dns_suite.wire.types import RRType

log = logging.getLogger("dns_suite.acme.dns01")

QUERY_TIMEOUT = 2.0  # seconds for one question to one server
FIRST_POLL = 0.01  # seconds: the first pause (then doubling up to poll)


def hostport(addr: tuple[str, int]) -> str:
    """``addr:port``, with brackets around an IPv6 address."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True, slots=True)
class Server:
    """An authoritative server to prove propagation on: NS name ("" when configured by address),
    address and port."""

    name: str
    address: str
    port: int

    def __str__(self) -> str:
        return f"{self.name or 'server'} {hostport((self.address, self.port))}"


@dataclass(frozen=True, slots=True)
class Lag:
    """A server that did not serve every value by the deadline, and what it showed last."""

    server: Server
    reason: str

    def __str__(self) -> str:
        return f"{self.server}: {self.reason}"


async def prove(expected: dict[Server, list[tuple[Name, str]]], *, end: float,
                 poll: float) -> tuple[list[Lag], list[Server]]:
    """Step 3: ask every server until it serves its values or ``end`` passes.

    Returns:
        ``(lagging, proven)``. Servers with no route from here are left out (logged), unless
        no server at all could be asked: then they lag too.
    """
    results = await asyncio.gather(*(_watch(s, v, end, poll) for s, v in expected.items()))
    lags = [r for r in results if isinstance(r, Lag)]
    proven = [r for r in results if isinstance(r, Server)]
    unreachable = [r for r in results if isinstance(r, tuple)]
    for server, reason in unreachable:
        log.warning("dns01: %s left out of the proof: %s", server, reason)
    if unreachable and not proven:
        lags += [Lag(server, reason) for server, reason in unreachable]
    return lags, proven


async def _watch(server: Server, values: list[tuple[Name, str]], end: float,
                 poll: float) -> Server | Lag | tuple[Server, str]:
    """Ask ``server`` until it serves ``values``: the server when it does, a :class:`Lag` at
    ``end``, ``(server, reason)`` when it cannot be reached from here. The pauses between
    questions start at ``FIRST_POLL`` and double up to ``poll``: a secondary usually catches up
    within milliseconds of the NOTIFY, and a slow one is not asked more than every ``poll``."""
    owners: dict[Name, set[str]] = {}
    for owner, value in values:
        owners.setdefault(owner, set()).add(value)
    tries, pause = 0, min(FIRST_POLL, poll)
    while True:
        tries += 1
        try:
            reason = await _shows(server, owners, end)
        except Unreachable as exc:
            return (server, exc.reason)
        if reason is None:
            return server
        if time.monotonic() + pause >= end:
            return Lag(server, f"{reason} (asked {tries} times)")
        await asyncio.sleep(pause)
        pause = min(pause * 2, poll)


async def _shows(server: Server, owners: dict[Name, set[str]], end: float) -> str | None:
    """None when ``server`` serves every value now, else what it showed."""
    for owner, values in owners.items():
        timeout = min(QUERY_TIMEOUT, end - time.monotonic())
        if timeout <= 0:
            return "deadline passed"
        wire = encode(make_query(owner, RRType.TXT, ident=secrets.randbelow(65536), edns=Edns(payload=1232)))
        try:
            reply = decode(await query((server.address, server.port), wire, timeout=timeout))
        except QueryError as exc:
            if isinstance(exc, Unreachable):
                raise
            return exc.reason
        except WireError as exc:
            return f"malformed reply: {exc}"
        problem = missing_values(reply, owner, values)
        if problem:
            return problem
    return None
