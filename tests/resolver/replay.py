"""A replay harness for the resolver scenarios: no sockets, a virtual clock.

How it works: :class:`Replay` plays a parsed scenario (:mod:`rpl`) against the sans-IO
:class:`~dns_suite.resolver.iterator.Resolver`. A QUERY step submits the client's query, then
answers every :class:`SendQuery` the resolver emits, first in first out — from the first RANGE
live at that step whose ADDRESS is the query's (no entry matching there: SERVFAIL, as Deckard
does), else from the first pending one-shot STEP REPLY (numbered at or after the current step)
that matches, else as a timeout (``on_timeout`` at once; ``do_not_answer`` likewise) — until
nothing is outstanding or more than ``max_upstream`` queries were sent. CHECK_ANSWER compares
the client's answer, CHECK_OUT_QUERY looks for a matching upstream query among those sent since
the last QUERY (not yet claimed by an earlier CHECK_OUT_QUERY); TIME_PASSES moves the clock.
A failed check raises :class:`ReplayFailure` (an AssertionError) naming the file, the mode, the
step, expected vs got, and every upstream query of the step with what the harness did with it.

Matching follows Deckard's pydnstest: ``qname`` is case-insensitive, ``subdomain`` means the
query name is at or below the entry's, ``flags`` compares the header bits QR AA TC RD RA AD CD
exactly (DO is an EDNS flag and is not compared), ``rcode`` defaults to NOERROR, sections are
multisets of records (owner and rdata names case-insensitive, TTLs ignored), ``all`` is opcode
qtype qname flags rcode and the three sections, ``question`` is qname qtype, ``TCP``/``UDP``
the transport. An entry without MATCH matches any query, except in CHECK_ANSWER, where it means
``opcode qname qtype``. The client's answer must also carry the query's ID.
"""

from __future__ import annotations

import collections
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from dns_suite.resolver.actions import Answer, SendQuery
from dns_suite.resolver.iterator import Resolver
from dns_suite.resolver.settings import Hints, Settings
from dns_suite.wire.name import Name
from rpl import (Entry, Scenario, ScenarioError, Step, build_reply, client_query, entry_message,
                 normal_address, parse_file, parse_text, servfail, yes)

__all__ = ["Replay", "ReplayFailure", "ReplayResult", "Upstream", "build_reply", "client_query",
           "mismatches", "parse_file", "parse_text", "replay_file"]


class ReplayFailure(AssertionError):
    """The resolver did not behave as the scenario requires."""


# --- matching -----------------------------------------------------------------------------

def _qname(msg: dns.message.Message) -> dns.name.Name | None:
    return msg.question[0].name if msg.question else None


def _records(rrsets) -> collections.Counter:
    """Section RRsets -> multiset of (owner lowercased, class, type, rdata); TTLs dropped."""
    return collections.Counter((rrset.name.canonicalize(), rrset.rdclass, rrset.rdtype, rdata)
                               for rrset in rrsets for rdata in rrset)


def records_text(records) -> str:
    """A multiset of records (see :func:`_records`) as sorted zone-file lines, no TTLs."""
    lines = sorted(f"{name} {dns.rdataclass.to_text(rdclass)} {dns.rdatatype.to_text(rdtype)} "
                   f"{rdata}" for name, rdclass, rdtype, rdata in records.elements())
    return "\n".join(lines) or "(empty)"


def _section(name: str) -> Callable[[Entry, dns.message.Message], str | None]:
    def check(entry: Entry, msg: dns.message.Message) -> str | None:
        want = _records(entry.sections[name.upper()])
        got = _records(getattr(msg, name))
        if want == got:
            return None
        return (f"{name}: missing {records_text(want - got)}; unexpected "
                f"{records_text(got - want)}").replace("\n", ", ")
    return check


def _check_qname(entry: Entry, msg: dns.message.Message) -> str | None:
    want = entry.question.name if entry.question is not None else None
    return None if want == _qname(msg) else f"qname: expected {want}, got {_qname(msg)}"


def _check_qtype(entry: Entry, msg: dns.message.Message) -> str | None:
    want = entry.question.rdtype if entry.question is not None else None
    got = msg.question[0].rdtype if msg.question else None
    if want == got:
        return None
    text = [dns.rdatatype.to_text(t) if t is not None else "(no question)" for t in (want, got)]
    return f"qtype: expected {text[0]}, got {text[1]}"


def _check_subdomain(entry: Entry, msg: dns.message.Message) -> str | None:
    qname = _qname(msg)
    if entry.question is None or (qname is not None and qname.is_subdomain(entry.question.name)):
        return None
    return f"subdomain: {qname} is not at or below {entry.question.name}"


def _check_flags(entry: Entry, msg: dns.message.Message) -> str | None:
    want, got = dns.flags.to_text(entry.flags), dns.flags.to_text(msg.flags)
    return None if want == got else f"flags: expected {want!r}, got {got!r}"


def _check_rcode(entry: Entry, msg: dns.message.Message) -> str | None:
    want = dns.rcode.to_text(entry.rcode or dns.rcode.NOERROR)
    got = dns.rcode.to_text(msg.rcode())
    return None if want == got else f"rcode: expected {want}, got {got}"


def _check_opcode(entry: Entry, msg: dns.message.Message) -> str | None:
    want, got = dns.opcode.to_text(entry.opcode), dns.opcode.to_text(msg.opcode())
    return None if want == got else f"opcode: expected {want}, got {got}"


CHECKS = {"opcode": _check_opcode, "qname": _check_qname, "qtype": _check_qtype,
          "subdomain": _check_subdomain, "flags": _check_flags, "rcode": _check_rcode,
          "answer": _section("answer"), "authority": _section("authority"),
          "additional": _section("additional")}


def mismatches(entry: Entry, msg: dns.message.Message, *, tcp: bool | None = None,
               default: frozenset[str] = frozenset()) -> list[str]:
    """Why ``msg`` does not match ``entry`` per its MATCH line ([] when it matches).

    Args:
        entry: the scripted entry.
        msg: a query (RANGE, REPLY, CHECK_OUT_QUERY) or the resolver's answer (CHECK_ANSWER).
        tcp: the transport ``msg`` came over, for ``MATCH TCP`` / ``MATCH UDP``.
        default: the fields to compare when the entry has no MATCH line.
    """
    fields = default if entry.match is None else entry.match
    found = [problem for name in sorted(fields & CHECKS.keys())
             if (problem := CHECKS[name](entry, msg))]
    if "TCP" in fields and tcp is False or "UDP" in fields and tcp is True:
        found.append(f"transport: got {'TCP' if tcp else 'UDP'}")
    return found


# --- the driver ---------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Upstream:
    """One query the resolver sent during a step, and what the harness did with it."""

    address: str
    port: int
    tcp: bool
    message: dns.message.Message
    outcome: str

    def __str__(self) -> str:
        q = self.message.question[0] if self.message.question else None
        what = f"{q.name} {dns.rdatatype.to_text(q.rdtype)}" if q is not None else "(no question)"
        flags = dns.flags.to_text(self.message.flags) or "-"
        return (f"{self.address}#{self.port} {'TCP' if self.tcp else 'UDP'} {what} [{flags}]"
                f" -> {self.outcome}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayResult:
    """What a passing replay did: ``checked`` counts CHECK_ANSWER and CHECK_OUT_QUERY steps."""

    name: str
    qname_minimisation: bool
    steps: int
    checked: int
    upstream: int


ResolverFactory = Callable[..., Resolver]


@dataclass(kw_only=True)
class Replay:
    """Plays one scenario against a fresh resolver; :meth:`run` raises ReplayFailure.

    Attributes:
        scenario: the parsed file.
        qname_minimisation: the mode to run in (the file's ``query-minimization`` wins).
        resolver_factory: ``(settings, hints, *, randbits) -> resolver`` (tests pass fakes).
        seed: seeds the resolver's ``randbits`` and the client query IDs.
        now: the virtual clock, seconds; moved only by TIME_PASSES.
        max_upstream: upstream queries allowed per client query before the step fails.
        checked: CHECK_ANSWER and CHECK_OUT_QUERY steps passed so far.
        upstream: upstream queries answered or timed out so far.
        sent: the upstream queries of the last QUERY step.
    """

    scenario: Scenario
    qname_minimisation: bool = True
    resolver_factory: ResolverFactory = Resolver
    seed: int = 0
    now: float = 1000.0
    max_upstream: int = 500
    checked: int = field(default=0, init=False)
    upstream: int = field(default=0, init=False)
    sent: list[Upstream] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if self.scenario.qname_minimisation is not None:
            self.qname_minimisation = self.scenario.qname_minimisation
        self._start = self.now
        clock = {} if self.scenario.validation_time is None else {"wall": self.wall}
        self.resolver = self.resolver_factory(self.settings(), self.hints(),
                                              randbits=random.Random(self.seed).getrandbits, **clock)
        self._ids = random.Random(self.seed + 1)
        self._replies = [step for step in self.scenario.steps if step.kind == "REPLY"]
        self._unclaimed: list[Upstream] = []
        self._used: set[int] = set()
        self._answer: dns.message.Message | None = None
        self._query: tuple[Step, int] | None = None

    def settings(self) -> Settings:
        """The resolver's settings for this file and mode: validation on, anchored only at the
        file's ``trust-anchor`` records (none: nothing is validated, as in Unbound's tests)."""
        features = self.scenario.features
        limits = {k: int(v) for k, v in features.items() if k in ("min_ttl", "max_ttl")}
        return Settings(qname_minimisation=self.qname_minimisation, query_private=True,
                        do_ip6=yes(self.scenario.get("do-ip6", "yes")), dnssec=True,
                        trust_anchors=self.scenario.trust_anchors, **limits)

    def wall(self) -> int:
        """The validation clock: ``val-override-date`` plus the time passed since the start."""
        return int(self.scenario.validation_time + (self.now - self._start))

    def hints(self) -> Hints:
        """One root server: ``stub-name`` (default K.ROOT-SERVERS.NET.) at ``stub-addr``."""
        address = self.scenario.get("stub-addr")
        if address is None:
            raise ScenarioError(f"{self.scenario.name}: no stub-addr in the config")
        name = Name.from_text(self.scenario.get("stub-name", "K.ROOT-SERVERS.NET."))
        return Hints(servers=((name, (address,)),))

    def run(self) -> ReplayResult:
        """Play every step in file order."""
        handlers = {"QUERY": self._query_step, "CHECK_ANSWER": self._check_answer,
                    "CHECK_OUT_QUERY": self._check_out_query, "REPLY": lambda step: None,
                    "TIME_PASSES": self._time_passes}
        for step in self.scenario.steps:
            try:
                handlers[step.kind](step)
            except ReplayFailure:
                raise
            except Exception as exc:  # the resolver's own error: say where it happened
                exc.add_note(f"at {self._where(step)}\n{self._upstream_text()}")
                raise
        self._check_mandatory()
        return ReplayResult(name=self.scenario.name, qname_minimisation=self.qname_minimisation,
                            steps=len(self.scenario.steps), checked=self.checked,
                            upstream=self.upstream)

    def _check_mandatory(self) -> None:
        """Every MANDATORY entry of a RANGE answered at least one query (as Deckard checks)."""
        for rng in self.scenario.ranges:
            for entry in rng.entries:
                if entry.mandatory and entry.line not in self._used:
                    raise ReplayFailure(f"{self.scenario.name} (qname minimisation "
                                        f"{'on' if self.qname_minimisation else 'off'}): the MANDATORY "
                                        f"ENTRY at line {entry.line} (RANGE line {rng.line}) answered "
                                        "no query")

    def _time_passes(self, step: Step) -> None:
        self.now += step.elapse

    def _query_step(self, step: Step) -> None:
        query_id = self._ids.getrandbits(16)
        client = (self.scenario.name, step.number)
        self._query, self.sent, self._unclaimed, self._answer = (step, query_id), [], [], None
        for tcp in (False, True):  # a truncated answer is asked again over TCP, as a stub does
            actions = self.resolver.submit(client_query(step.entry, query_id), client, self.now, tcp=tcp)
            answers = self._pump(step, actions)
            if len(answers) > 1 or any(answer.client != client for answer in answers):
                raise self._failure(step, f"expected one Answer for client {client!r}, got "
                                          f"{[answer.client for answer in answers]!r}")
            if answers:
                self._answer = self._decode(step, answers[0].wire, "the answer to the client")
            if self._answer is None or not self._answer.flags & dns.flags.TC:
                break

    def _pump(self, step: Step, actions: list) -> list[Answer]:
        """Carry out actions until no upstream query is outstanding; returns the Answers."""
        pending, answers, count = collections.deque(actions), [], 0
        while pending:
            action = pending.popleft()
            if isinstance(action, Answer):
                answers.append(action)
                continue
            if not isinstance(action, SendQuery):
                raise self._failure(step, f"the resolver returned {action!r}")
            count += 1
            self.upstream += 1
            if count > self.max_upstream:
                raise self._failure(step, f"more than {self.max_upstream} upstream queries for "
                                          "one client query (a loop?)")
            pending.extend(self._serve(step, action))
        return answers

    def _serve(self, step: Step, send: SendQuery) -> list:
        """Answer one upstream query from the scenario, or time it out."""
        query = self._decode(step, send.wire, f"the query to {send.address}")
        reply, outcome = self._lookup(step, send, query)
        record = Upstream(address=send.address, port=send.port, tcp=send.tcp, message=query,
                          outcome=outcome)
        self.sent.append(record)
        self._unclaimed.append(record)
        if reply is None:
            return self.resolver.on_timeout(send.token, self.now)
        return self.resolver.on_response(send.token, reply, self.now,
                                         source=(send.address, send.port), tcp=send.tcp)

    def _lookup(self, step: Step, send: SendQuery,
                query: dns.message.Message) -> tuple[bytes | None, str]:
        """(reply octets or None for a timeout, what was done) for one upstream query."""
        address = _normal(send.address)
        live = [rng for rng in self.scenario.ranges if rng.first <= step.number <= rng.last
                and (not rng.addresses or address in rng.addresses)]
        for rng in live:
            for entry in rng.entries:
                if not mismatches(entry, query, tcp=send.tcp):
                    self._used.add(entry.line)
                    return _reply(entry, query, f"RANGE line {rng.line}, ENTRY line {entry.line}")
        if live:
            lines = ", ".join(str(rng.line) for rng in live)
            return servfail(query), f"SERVFAIL: no ENTRY matched in the RANGE at line {lines}"
        for scripted in self._replies:
            if scripted.number >= step.number and not mismatches(scripted.entry, query,
                                                                 tcp=send.tcp):
                self._replies.remove(scripted)
                return _reply(scripted.entry, query, f"STEP {scripted.number} REPLY")
        return None, "timeout: no RANGE for this address and no STEP REPLY matches"

    def _check_answer(self, step: Step) -> None:
        if self._answer is None:
            asked = f"STEP {self._query[0].number} QUERY" if self._query else "no QUERY step"
            raise self._failure(step, f"the resolver gave no answer to the client ({asked})")
        problems = mismatches(step.entry, self._answer,
                              default=frozenset({"opcode", "qname", "qtype"}))
        if self._answer.id != self._query[1]:
            problems.insert(0, f"id: expected {self._query[1]}, got {self._answer.id}")
        if problems:
            raise self._failure(step, "; ".join(problems), expected=entry_message(step.entry),
                                got=self._answer)
        self.checked += 1

    def _check_out_query(self, step: Step) -> None:
        for record in self._unclaimed:
            if not mismatches(step.entry, record.message, tcp=record.tcp):
                self._unclaimed.remove(record)
                self.checked += 1
                return
        match = " ".join(sorted(step.entry.match or ()))
        raise self._failure(step, f"no upstream query since the last QUERY matches (MATCH {match})",
                            expected=entry_message(step.entry))

    def _decode(self, step: Step, wire: bytes, what: str) -> dns.message.Message:
        try:
            return dns.message.from_wire(wire)
        except Exception as exc:  # any dnspython error: the resolver wrote bad octets
            raise self._failure(step, f"{what} does not decode ({exc}): {wire.hex()}") from exc

    def _failure(self, step: Step, summary: str, *, expected: dns.message.Message | None = None,
                 got: dns.message.Message | None = None) -> ReplayFailure:
        """'FILE (mode) STEP n KIND (line l), clock t: SUMMARY', expected, got, upstream queries."""
        text = [f"{self._where(step)}: {summary}"]
        if expected is not None:
            text += ["--- expected (TTLs are not compared):", expected.to_text()]
        if got is not None:
            text += ["--- got:", got.to_text()]
        return ReplayFailure("\n".join(text + [self._upstream_text()]))

    def _where(self, step: Step) -> str:
        mode = "on" if self.qname_minimisation else "off"
        return (f"{self.scenario.name} (qname minimisation {mode}) STEP {step.number} {step.kind}"
                f" (line {step.line}), clock {self.now:g}")

    def _upstream_text(self) -> str:
        asked = f"STEP {self._query[0].number} QUERY" if self._query else "no QUERY yet"
        lines = [f"  {i}. {record}" for i, record in enumerate(self.sent[:60], 1)]
        if len(self.sent) > 60:
            lines.append(f"  ... and {len(self.sent) - 60} more")
        return "\n".join([f"--- upstream queries for {asked}: {len(self.sent)}", *lines])


def _reply(entry: Entry, query: dns.message.Message, where: str) -> tuple[bytes | None, str]:
    if "do_not_answer" in entry.adjust:
        return None, f"timeout: do_not_answer ({where})"
    return build_reply(entry, query), where


def _normal(address: str) -> str:
    try:
        return normal_address(address)
    except ValueError:  # not an address: matches no RANGE
        return address


def replay_file(path: Path | str, *, qname_minimisation: bool = True, **options) -> ReplayResult:
    """Parse and play one file (``options`` go to :class:`Replay`)."""
    return Replay(scenario=parse_file(path), qname_minimisation=qname_minimisation,
                  **options).run()
