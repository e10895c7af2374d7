"""The values a resolution works with: queries to send, outcomes, zone cuts, budgets (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dns_suite.resolver import cache as C
from dns_suite.resolver.cache import Hit
from dns_suite.wire.message import RR, Question
from dns_suite.wire.name import Name
from dns_suite.wire.types import Flag

# Header bits as plain ints for the per-query paths: Flag is an IntFlag, and each of its & and |
# builds an enum member (about 15 per cache miss, some 5 % of a miss's CPU under cProfile).
QR, AA, TC, RD, RA, AD, CD = (int(f) for f in (Flag.QR, Flag.AA, Flag.TC, Flag.RD, Flag.RA, Flag.AD, Flag.CD))


@dataclass(frozen=True, slots=True, kw_only=True)
class Ask:
    """A query to send (yielded by the generators).

    Attributes:
        address, port: the server.
        tcp: over TCP.
        wire: the query octets.
        qid: its ID.
        question: the question as sent (case matters with 0x20).
        timeout: seconds to wait.
    """

    address: str
    port: int
    tcp: bool
    wire: bytes
    qid: int
    question: Question
    timeout: float


@dataclass(slots=True)
class Outcome:
    """The result of a resolution.

    Attributes:
        rcode: NOERROR, NXDOMAIN or SERVFAIL.
        answer: the answer section (TTLs as remaining).
        authority: the SOA of a negative answer.
        ede: an extended DNS error (RFC 8914) as (info code, text), or None.
        cached: True when nothing was asked upstream.
        aa: answered from a local zone (RFC 6303): AA is set.
        secure: every RRset of the answer validated as secure (AD for clients asking
            with DO or AD, RFC 4035 §3.2.3, RFC 6840 §5.7).
    """

    rcode: int
    answer: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    ede: tuple[int, str] | None = None
    cached: bool = True
    aa: bool = False
    secure: bool = False


@dataclass(slots=True)
class Cut:
    """The zone cut an iteration is at.

    Attributes:
        zone: the zone's apex (the bailiwick of its servers).
        hosts: NS names whose addresses are not known yet, in the order to resolve them.
        servers: addresses known so far.
        tried: addresses that failed during this iteration.
        timed_out: addresses that gave no usable reply once (a second time puts them in tried).
        fallback: glue addresses the parent gave that differ from the child's, tried
            when ``servers`` are exhausted.
    """

    zone: Name
    hosts: list[Name]
    servers: list[str]
    tried: set[str] = field(default_factory=set)
    timed_out: set[str] = field(default_factory=set)
    fallback: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Budget:
    """Limits shared by a client query and its sub-resolutions (NXNS: RFC 9156 §2.3, CVE-2020-12662).

    Attributes:
        now: the current time, monotonic seconds (the driver updates it).
        do, cd: the client's DO and CD bits, passed upstream.
        queries, glueless: spent so far.
        pending: (name key, qtype) under resolution: asking for one again is a cycle.
        error: the reason of a failure, for the EDE.
        raw: > 0 while fetching DS/DNSKEY for the chain of trust: replies are stored
            unvalidated (the chain code checks them itself).
        keying: zones (keys) whose chain of trust is being built: asking again is a loop.
        started: when the client query arrived, monotonic seconds (default: ``now``).
    """

    now: float
    do: bool = False
    cd: bool = False
    queries: int = 0
    glueless: int = 0
    pending: set[tuple[bytes, int]] = field(default_factory=set)
    error: tuple[int, str] | None = None
    raw: int = 0
    keying: set[bytes] = field(default_factory=set)
    started: float = -1.0

    def __post_init__(self) -> None:
        if self.started < 0:
            self.started = self.now


def fail(ctx: Budget, code: int, text: str) -> Hit:
    """A SERVFAIL hit; the first reason given is kept for the EDE."""
    if ctx.error is None:
        ctx.error = (code, text)
    return Hit(kind=C.SERVFAIL)
