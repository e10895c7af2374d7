"""The resolver core: client queries in, upstream queries and answers out (sans-IO).

API (stable; the service and the replay harness drive it)::

    r = Resolver(settings, hints, randbits=secrets.randbits, wall=lambda: int(time.time()))
    actions = r.submit(query_octets, client, now)           # a client's query
    actions = r.on_response(token, reply_octets, now, source=(addr, port), tcp=False)
    actions = r.on_timeout(token, now)                      # no reply / connection failed

Every call returns a list of :class:`~dns_suite.resolver.actions.SendQuery` and
:class:`~dns_suite.resolver.actions.Answer`. ``now`` is monotonic seconds (float).

How it works: a client query becomes a task: a generator from
:class:`~dns_suite.resolver.resolution.Iteration` plus the clients waiting for it
(identical questions in flight share one task). The task runs until it yields a query
to send (-> SendQuery with a fresh token) or returns its outcome (-> an Answer per
client). A reply is accepted only from the queried address and port, with the query's
ID and question (RFC 5452 §9.1; case-exact with 0x20); anything else is ignored and the
task keeps waiting for its timeout. A malformed reply counts as a failed server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from dns_suite.resolver.actions import Action, Answer, SendQuery
from dns_suite.resolver.answers import AnswerTable
from dns_suite.resolver.cache import Cache
from dns_suite.resolver.dnssec import Validator
from dns_suite.resolver.localzones import answer_locally, local_zones
from dns_suite.resolver.resolution import Iteration
from dns_suite.resolver.state import AA, AD, CD, QR, RA, RD, Ask, Budget, Outcome
from dns_suite.resolver.servers import ServerTable
from dns_suite.resolver.settings import Hints, Settings
from dns_suite.wire.edns import Edns, ede_option
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import Message, Question, decode, encode

log = logging.getLogger("dns_suite.resolver")

NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED, BADVERS = 0, 1, 2, 3, 4, 5, 16
_NO_ANSWER_QUESTION_OK = (FORMERR, SERVFAIL, NOTIMP, REFUSED)
_META_TYPES = (41, 249, 250, 251, 252, 253, 254)  # OPT, TKEY, TSIG, IXFR, AXFR, MAILB, MAILA
EDE_OTHER = 0
_SWEEP_INTERVAL = 60.0  # seconds between sweeps of entries past their stale window


@dataclass(slots=True)
class _Client:
    handle: object
    query: Message
    tcp: bool
    wire: bytes


@dataclass(slots=True)
class _Task:
    key: tuple
    gen: object
    ctx: Budget
    question: Question
    clients: list[_Client] = field(default_factory=list)


@dataclass(slots=True)
class _Pending:
    task: _Task
    ask: Ask
    sent: float


class Resolver:
    """All resolutions in flight, sharing one cache and one server-statistics table.

    Args:
        settings: the knobs.
        hints: root hints.
        randbits: ``randbits(k) -> int`` of k random bits (``secrets.randbits``).
        wall: ``() -> int``, the wall clock in seconds since the epoch, for DNSSEC signature
            validity (``now`` is monotonic); needed when validating.
    """

    def __init__(self, settings: Settings, hints: Hints, *, randbits: Callable[[int], int],
                 wall: Callable[[], int] | None = None) -> None:
        self.settings = settings
        self.cache = Cache(max_bytes=settings.cache_bytes, min_ttl=settings.min_ttl, max_ttl=settings.max_ttl,
                           max_negative_ttl=settings.max_negative_ttl,
                           stale_max=settings.stale_max if settings.serve_stale else 0)
        self.servers = ServerTable(timeout=settings.timeout, max_timeout=settings.max_timeout,
                                   lame_ttl=settings.lame_ttl, randbits=randbits)
        self.validator = Validator(settings, hints, self.cache, wall)
        self.iteration = Iteration(settings, hints, self.cache, self.servers, randbits, self.validator)
        self.answers = AnswerTable(max_bytes=max(1 << 20, settings.cache_bytes // 4))
        self.local = local_zones()
        self.tasks: dict[tuple, _Task] = {}
        self.pending: dict[int, _Pending] = {}
        self._next_token = 1
        self._swept = 0.0

    # --- client side ------------------------------------------------------------
    def submit(self, query: bytes, client: object, now: float, *, tcp: bool = False) -> list[Action]:
        """A client's query (octets as received). Returns actions (often just the Answer).

        Malformed queries get FORMERR (nothing when not even a header can be read);
        other opcodes NOTIMP; zone transfers and meta types REFUSED; EDNS version > 0 BADVERS.
        """
        if not tcp:
            reply = self.answers.get(query, now)
            if reply is not None:
                return [Answer(client=client, wire=reply)]
        try:
            msg = decode(query)
        except WireError:
            return [Answer(client=client, wire=_header_reply(query, FORMERR))] if len(query) >= 12 else []
        if msg.flags & QR:
            return []
        if now - self._swept > _SWEEP_INTERVAL:
            self.cache.expired(now)
            self._swept = now
        refusal = _refusal(msg)
        if refusal is not None:
            return [Answer(client=client, wire=_render(msg, Outcome(rcode=refusal), tcp))]
        q = msg.question[0]
        if self.settings.local_zones:
            local = answer_locally(self.local, q.qname, q.qtype)
            if local is not None:
                outcome = Outcome(rcode=local.rcode, answer=local.answer, authority=local.authority, aa=True)
                return [Answer(client=client, wire=_render(msg, outcome, tcp))]
        do = bool(msg.edns and msg.edns.do)
        cd = bool(msg.flags & CD)
        if not msg.flags & RD:
            return [Answer(client=client, wire=self._from_cache_only(msg, Budget(now=now, do=do, cd=cd), tcp))]
        key = (q.qname.key, q.qtype, do, cd)
        entry = _Client(handle=client, query=msg, tcp=tcp, wire=query)
        task = self.tasks.get(key)
        if task is not None:
            task.clients.append(entry)
            return []
        ctx = Budget(now=now, do=do, cd=cd)
        task = _Task(key=key, gen=self.iteration.answer(ctx, q.qname, q.qtype), ctx=ctx,
                     question=q, clients=[entry])
        self.tasks[key] = task
        busy = len(self.tasks) > self.settings.max_inflight
        actions = self._advance(task, None, now)
        if busy and key in self.tasks:  # not answerable from the cache, and no room to resolve it
            self._abandon(task)
            refused = Outcome(rcode=SERVFAIL, ede=(EDE_OTHER, "too many resolutions in flight"))
            return [Answer(client=client, wire=_render(msg, refused, tcp))]
        return actions

    def _from_cache_only(self, msg: Message, ctx: Budget, tcp: bool) -> bytes:
        """The reply to an RD=0 query: what the cache holds, never an upstream query.

        The resolution runs until it would send its first query: an answer found in the cache
        (CNAME chains included) is sent as for RD=1; anything that needs a server is REFUSED,
        the rcode Unbound gives RD=0 queries (its default ``access-control: allow`` refuses
        them all; ``allow_snoop`` answers hits and refers misses to a cached delegation).
        """
        q = msg.question[0]
        gen = self.iteration.answer(ctx, q.qname, q.qtype)
        try:
            next(gen)
        except StopIteration as stop:
            return _render(msg, stop.value, tcp)
        except Exception:  # noqa: BLE001 - our bug: log it, SERVFAIL, keep serving (DESIGN convention 4)
            log.exception("cache-only answer to %s failed", q.qname)
            return _render(msg, Outcome(rcode=SERVFAIL, ede=(EDE_OTHER, "internal error")), tcp)
        gen.close()  # it wanted a server: not for RD=0
        return _render(msg, Outcome(rcode=REFUSED), tcp)

    @property
    def cached_reply(self) -> Callable[[bytes, float], object]:
        """The hot path, ``cached_reply(query, now)``: the rendered reply to this exact UDP query,
        TTLs counted down, as an entry of :class:`AnswerTable` (reply ``query[:2] + entry.body``,
        ``entry.kind`` its ``qtype << 8 | rcode`` for the query counters), or None. The table's
        :meth:`AnswerTable.peek` itself (no call in between), safe from the UDP listener threads."""
        return self.answers.peek

    def prefetch(self, now: float) -> list[Action]:
        """Refresh popular answers near expiry (call about once a second); off unless ``prefetch``."""
        due, self.answers.due = self.answers.due, []
        if not self.settings.prefetch:
            return []
        actions: list[Action] = []
        for key in due:
            try:
                q = decode(b"\0\0" + key).question[0]
            except (WireError, IndexError):
                continue
            task_key = ("prefetch", q.qname.key, q.qtype)
            if task_key in self.tasks or len(self.tasks) >= self.settings.max_inflight:
                continue
            ctx = Budget(now=now)
            task = _Task(key=task_key, gen=self._refresh(ctx, q), ctx=ctx, question=q)
            self.tasks[task_key] = task
            actions += self._advance(task, None, now)
        return actions

    def _refresh(self, ctx: Budget, q: Question):
        """Iterate for the question again, bypassing the cached answer (the new one is cached)."""
        yield from self.iteration.iterate(ctx, q.qname, q.qtype)
        return Outcome(rcode=NOERROR)

    def reconfigure(self, settings: Settings, hints: Hints) -> bool:
        """New settings and hints (SIGHUP): rendered replies are dropped; the cache stays unless
        what judges DNSSEC changed (``dnssec``, trust anchors, negative trust anchors): every
        entry's security status was set under the old ones, so the cache is emptied (as Unbound
        does on reload). Returns True when it was."""
        trust = (settings.dnssec, settings.trust_anchors, settings.negative_trust_anchors, hints.anchors)
        old = self.settings
        flush = trust != (old.dnssec, old.trust_anchors, old.negative_trust_anchors, self.iteration.hints.anchors)
        self.settings = settings
        self.iteration.settings, self.iteration.hints = settings, hints
        self.validator.configure(settings, hints)
        cache = self.cache
        cache.max_bytes, cache.min_ttl, cache.max_ttl = settings.cache_bytes, settings.min_ttl, settings.max_ttl
        cache.max_negative_ttl = settings.max_negative_ttl
        cache.stale_max = settings.stale_max if settings.serve_stale else 0
        self.servers.timeout, self.servers.max_timeout = settings.timeout, settings.max_timeout
        self.servers.lame_ttl = settings.lame_ttl
        self.answers.clear()
        if flush:
            cache.clear()
        return flush

    def _abandon(self, task: _Task) -> None:
        """Stop a task: its upstream query is forgotten (a late reply is ignored)."""
        self.tasks.pop(task.key, None)
        for token in [t for t, p in self.pending.items() if p.task is task]:
            del self.pending[token]
        task.gen.close()

    # --- upstream side ----------------------------------------------------------
    def on_response(self, token: int, reply: bytes, now: float, *, source: tuple[str, int] | None = None,
                    tcp: bool = False) -> list[Action]:
        """An upstream reply for ``token`` (unknown or stale tokens, and mismatches, are ignored)."""
        pending = self.pending.get(token)
        if pending is None:
            return []
        ask = pending.ask
        if source is not None and (source[0], source[1]) != (ask.address, ask.port):
            return []
        try:
            msg = decode(reply)
        except WireError:
            return self._fail_pending(token, now, timed_out=False)
        if not _matches(msg, ask, self.settings.use_0x20):
            # the right server and port, but not our question: a broken server (or a spoofer that
            # won a race): the query has failed (the I/O layer stopped listening for it)
            return self._fail_pending(token, now, timed_out=False)
        del self.pending[token]
        self.servers.answered(ask.address, now - pending.sent)
        return self._advance(pending.task, msg, now)

    def on_timeout(self, token: int, now: float) -> list[Action]:
        """No reply for ``token`` within its timeout, or the connection failed."""
        return self._fail_pending(token, now, timed_out=True)

    def _fail_pending(self, token: int, now: float, *, timed_out: bool) -> list[Action]:
        pending = self.pending.pop(token, None)
        if pending is None:
            return []
        if timed_out:
            self.servers.timed_out(pending.ask.address)
        return self._advance(pending.task, None, now)

    # --- running tasks ----------------------------------------------------------
    def _advance(self, task: _Task, value: Message | None, now: float) -> list[Action]:
        task.ctx.now = now
        try:
            ask = task.gen.send(value)
        except StopIteration as stop:
            return self._finish(task, stop.value, now)
        except Exception:  # noqa: BLE001 - our bug: log it, SERVFAIL, keep serving (DESIGN convention 4)
            log.exception("resolution of %s failed", task.question.qname)
            return self._finish(task, Outcome(rcode=SERVFAIL, ede=(EDE_OTHER, "internal error")), now)
        token = self._next_token
        self._next_token += 1
        self.pending[token] = _Pending(task=task, ask=ask, sent=now)
        return [SendQuery(token=token, address=ask.address, port=ask.port, tcp=ask.tcp, wire=ask.wire,
                          timeout=ask.timeout)]

    def _finish(self, task: _Task, outcome: Outcome, now: float) -> list[Action]:
        self.tasks.pop(task.key, None)
        if outcome.rcode == SERVFAIL and not outcome.cached and not outcome.answer:  # a loop is found again in the cache
            self.cache.put_servfail(task.question.qname.key, task.question.qtype, self.settings.servfail_ttl, now)
        answers = []
        for c in task.clients:
            wire = _render(c.query, outcome, c.tcp)
            if not c.tcp and outcome.rcode in (NOERROR, NXDOMAIN) and outcome.ede is None:
                self.answers.put(c.wire, wire, now)
            answers.append(Answer(client=c.handle, wire=wire))
        return answers


def _refusal(msg: Message) -> int | None:
    if msg.opcode != 0:
        return NOTIMP
    if len(msg.question) != 1 or msg.answer or msg.authority:  # a query carries none (RFC 1035 §4.1)
        return FORMERR
    if msg.edns is not None and msg.edns.version > 0:
        return BADVERS
    q = msg.question[0]
    if q.qclass != 1 or q.qtype in _META_TYPES:
        return REFUSED
    return None


def _matches(msg: Message, ask: Ask, case_exact: bool) -> bool:
    """RFC 5452 §9.1: the reply's ID and question are the query's."""
    if msg.id != ask.qid or not msg.flags & QR:
        return False
    if not msg.question:
        return msg.rcode in _NO_ANSWER_QUESTION_OK
    q, sent = msg.question[0], ask.question
    same_name = q.qname.wire == sent.qname.wire if case_exact else q.qname.key == sent.qname.key
    return len(msg.question) == 1 and same_name and q.qtype == sent.qtype and q.qclass == sent.qclass


def _render(query: Message, outcome: Outcome, tcp: bool) -> bytes:
    """The client's reply: its ID, question, RD and CD; RA set; EDNS when it used EDNS; AD when
    the answer is secure and the client set DO or AD (RFC 4035 §3.2.3, RFC 6840 §5.7)."""
    flags = QR | RA | (query.flags & (RD | CD)) | (AA if outcome.aa else 0)
    if outcome.secure and (query.flags & AD or query.edns is not None and query.edns.do):
        flags |= AD
    edns = None
    if query.edns is not None:
        options = (ede_option(*outcome.ede),) if outcome.ede is not None else ()
        edns = Edns(payload=1232, do=query.edns.do, options=options)
    rcode = outcome.rcode
    if rcode > 15 and edns is None:
        edns = Edns(payload=1232)
    msg = Message(id=query.id, flags=flags, opcode=query.opcode, rcode=rcode, question=query.question[:1],
                  answer=tuple(outcome.answer), authority=tuple(outcome.authority), edns=edns)
    if tcp:
        size = 65535
    elif query.edns is None:
        size = 512
    else:
        size = max(512, min(query.edns.payload, 1232))
    return encode(msg, size)


def _header_reply(query: bytes, rcode: int) -> bytes:
    """A bare reply (header only) to a query that could not be decoded."""
    flags = ((query[2] & 0x79) | 0x80) << 8 | 0x80 | rcode  # QR, opcode and RD kept, RA, rcode
    return query[:2] + flags.to_bytes(2, "big") + b"\0" * 8
