"""Counters of the services, cheap enough for the hot path, and their snapshots (pure).

How it works: every thread or event loop that answers queries owns one :class:`QueryCounters`
(one transport each) and is its only writer: plain integers in a dict keyed by
``qtype << 8 | rcode``, one list of latency bucket counts and a sum. No lock is taken; a reader
in another thread copies the dict (``dict.copy`` is atomic under the GIL) and reads the
integers. Names are given to the codes only when a snapshot is taken (at a scrape, or when a
worker reports to its control process), never per query.

A *snapshot* is ``{family: {label values: value}}`` with the families of :data:`FAMILIES`:
a counter or gauge value is a number, a histogram value is a list of per-bucket counts (not
cumulative; the last is +Inf) followed by the sum of the observations. Snapshots of worker
processes are added up by :func:`merge`; :class:`Aggregate` keeps the last snapshot of each
live worker and folds a worker's final snapshot into a running total when it exits, so counters
never go backwards when a worker set is replaced. Snapshots are plain dicts, tuples, lists and
numbers: ``marshal`` carries them between processes.

The query counters count what was sent: ``(transport, qtype, rcode)`` of every reply, the
RCODE being the header's 4 bits (an EDNS extended RCODE is not added), the qtype the
question's (0 when the message has none). A query that got no reply (dropped: shorter than a
header, QR set) is counted with rcode ``-1`` (``NOREPLY``).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Any, Callable

from dns_suite.wire.types import Rcode, RRType

__all__ = ["FAMILIES", "LATENCY_BUCKETS", "Aggregate", "Family", "QueryCounters", "merge", "qtype_of",
           "queries_snapshot"]

LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                   1.0, 2.5, 5.0)
"""Upper bounds of the latency histogram's buckets, seconds (a last one is +Inf)."""
_FIRST = LATENCY_BUCKETS[0]  # most replies from a table fall here: no search

NOREPLY = -1
MAX_KINDS = 65536  # reply octets remembered with their (qtype, rcode) key, per counters object

Snapshot = dict[str, dict[tuple[str, ...], Any]]
"""``{family name: {label values: number, or for a histogram [bucket counts..., sum]}}``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Family:
    """A metric family as Prometheus shows it.

    Attributes:
        kind: ``counter``, ``gauge`` or ``histogram``.
        help: one line.
        labels: label names, in the order of the snapshot's label tuples.
    """

    kind: str
    help: str
    labels: tuple[str, ...] = ()


FAMILIES: dict[str, Family] = {
    # every service
    "dns_queries": Family(kind="counter", help="DNS messages answered, by transport, question type and "
                          "reply RCODE (NOREPLY: dropped)", labels=("service", "transport", "qtype", "rcode")),
    "dns_query_duration_seconds": Family(kind="histogram", help="Seconds from receiving a query to sending "
                                         "its reply", labels=("service", "transport")),
    "dns_ready": Family(kind="gauge", help="1 when the service is ready (see /ready)", labels=("service",)),
    "dns_workers": Family(kind="gauge", help="Worker processes reporting to this process",
                          labels=("service",)),
    # authoritative
    "dns_zone_serial": Family(kind="gauge", help="SOA serial served, per zone", labels=("zone",)),
    "dns_zone_expired": Family(kind="gauge", help="1 when a secondary zone expired (answered SERVFAIL)",
                               labels=("zone",)),
    "dns_zone_records": Family(kind="gauge", help="Records in the served copy of the zone", labels=("zone",)),
    "dns_notify_peers": Family(kind="gauge", help="NOTIFY targets per zone and state "
                               "(notifying, acked, synced, failed, ...)", labels=("zone", "state")),
    "dns_notify_behind": Family(kind="gauge", help="1 while a NOTIFY target does not serve our serial",
                                labels=("zone", "target")),
    "dns_secondary_refresh_state": Family(kind="gauge", help="1 for the state a secondary zone's "
                                          "refresh machine is in", labels=("zone", "state")),
    "dns_secondary_transfers": Family(kind="counter", help="Zone transfers in, by result",
                                      labels=("zone", "result")),
    "dns_updates": Family(kind="counter", help="RFC 2136 UPDATE messages, by zone and reply RCODE",
                          labels=("zone", "rcode")),
    "dns_prerender_entries": Family(kind="gauge", help="Pre-rendered replies held"),
    # resolver
    "dns_cache_hits": Family(kind="counter", help="Resolver cache look-ups that found data"),
    "dns_cache_misses": Family(kind="counter", help="Resolver cache look-ups that found nothing"),
    "dns_cache_evictions": Family(kind="counter", help="Cache entries dropped to stay within cache_bytes"),
    "dns_cache_bytes": Family(kind="gauge", help="Octets the cache holds (its own accounting)"),
    "dns_cache_entries": Family(kind="gauge", help="Entries the cache holds"),
    "dns_answer_table_hits": Family(kind="counter", help="Queries answered from the rendered-reply table"),
    "dns_upstream_queries": Family(kind="counter", help="Queries sent to authoritative or forward servers",
                                   labels=("transport",)),
    "dns_upstream_failures": Family(kind="counter", help="Upstream queries that timed out or failed "
                                    "(refused, cut, ICMP unreachable)"),
    # ACME agent
    "acme_certificate_not_after_seconds": Family(kind="gauge", help="Expiry of the certificate in use "
                                                 "(seconds since the epoch)", labels=("certificate",)),
    "acme_last_renewal_success": Family(kind="gauge", help="1 when the last attempt to issue or renew "
                                        "succeeded, 0 when it failed", labels=("certificate",)),
    "acme_renewal_failures": Family(kind="gauge", help="Failed attempts since the last success",
                                    labels=("certificate",)),
    "acme_last_success_seconds": Family(kind="gauge", help="When the certificate was last issued "
                                        "(seconds since the epoch)", labels=("certificate",)),
    "acme_next_attempt_seconds": Family(kind="gauge", help="When the agent plans to act next on the "
                                        "certificate (seconds since the epoch)", labels=("certificate",)),
}
"""Every family the services export; a snapshot uses these names (the exporter adds ``_total``
to counters)."""


def qtype_of(message: bytes, start: int = 12) -> int:
    """The qtype of the first question of ``message`` (the question at ``start``), or 0 when it
    has none or it cannot be read (a name compressed in a question, a short message)."""
    if len(message) < 12 or not (message[4] or message[5]):
        return 0
    pos, end = start, len(message)
    while pos < end:
        length = message[pos]
        if length == 0:
            return int.from_bytes(message[pos + 1:pos + 3], "big") if pos + 3 <= end else 0
        if length > 63:
            return 0
        pos += length + 1
    return 0


class QueryCounters:
    """The query counters of one thread or event loop (its only writer).

    Args:
        transport: ``udp``, ``tcp``, ...: the label of every query counted here.
        log: called with ``(transport, client, query, reply, seconds)`` for every query when
            the query log is on; None (the default) costs one test per query.

    Attributes:
        counts: ``qtype << 8 | (rcode & 0xFF)`` -> queries (NOREPLY as rcode 0xFF).
        latency: per-bucket counts of :data:`LATENCY_BUCKETS`, the last one +Inf.
        seconds: sum of the latencies.
    """

    __slots__ = ("transport", "counts", "latency", "seconds", "kinds", "log")

    def __init__(self, transport: str, log: Callable[..., None] | None = None) -> None:
        self.transport = transport
        self.counts: dict[int, int] = {}
        self.latency = [0] * (len(LATENCY_BUCKETS) + 1)
        self.seconds = 0.0
        self.kinds: dict[bytes, int] = {}
        self.log = log

    def answered(self, query: bytes, reply: bytes | None, seconds: float, client: str = "") -> None:
        """Count a query and its reply (None: no reply), ``seconds`` after it arrived."""
        rcode = (reply[3] & 15) if reply is not None and len(reply) >= 4 else 0xFF
        kind = qtype_of(query) << 8 | rcode
        counts = self.counts
        counts[kind] = counts.get(kind, 0) + 1
        self.latency[0 if seconds <= _FIRST else bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.seconds += seconds
        if self.log is not None:
            self.log(self.transport, client, query, reply, seconds)

    def hit(self, query: bytes, tail: bytes, seconds: float, client: str = "") -> None:
        """Count a reply sent from a table of rendered replies: ``tail`` is the reply after its
        ID, an object the table keeps, so its (qtype, rcode) is worked out once and remembered."""
        kind = self.kinds.get(tail)
        if kind is None:
            kind = self._remember(query, tail)
        counts = self.counts
        counts[kind] = counts.get(kind, 0) + 1
        self.latency[0 if seconds <= _FIRST else bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.seconds += seconds
        if self.log is not None:
            self.log(self.transport, client, query, query[:2] + tail, seconds)

    def _remember(self, query: bytes, tail: bytes) -> int:
        if len(self.kinds) >= MAX_KINDS:
            self.kinds.clear()
        kind = self.kinds[tail] = qtype_of(query) << 8 | (tail[1] & 15)
        return kind


def _qtype_text(code: int) -> str:
    return RRType(code).to_text() if code else "NONE"


def _rcode_text(code: int) -> str:
    return "NOREPLY" if code == 0xFF else Rcode(code).to_text()


def queries_snapshot(service: str, counters: list[QueryCounters]) -> Snapshot:
    """The ``dns_queries`` and ``dns_query_duration_seconds`` families of ``counters``, added
    up (read from any thread)."""
    queries: dict[tuple[str, ...], Any] = {}
    latency: dict[tuple[str, ...], Any] = {}
    for c in counters:
        for kind, count in c.counts.copy().items():
            key = (service, c.transport, _qtype_text(kind >> 8), _rcode_text(kind & 0xFF))
            queries[key] = queries.get(key, 0) + count
        key = (service, c.transport)
        values = list(c.latency) + [c.seconds]
        old = latency.get(key)
        latency[key] = values if old is None else [a + b for a, b in zip(old, values)]
    return {"dns_queries": queries, "dns_query_duration_seconds": latency}


def merge(*snapshots: Snapshot) -> Snapshot:
    """The sum of ``snapshots``: numbers added, histograms added bucket by bucket."""
    out: Snapshot = {}
    for snap in snapshots:
        for family, values in snap.items():
            target = out.setdefault(family, {})
            for labels, value in values.items():
                labels = tuple(labels)
                old = target.get(labels)
                if old is None:
                    target[labels] = list(value) if isinstance(value, (list, tuple)) else value
                elif isinstance(old, list):
                    target[labels] = [a + b for a, b in zip(old, value)]
                else:
                    target[labels] = old + value
    return out


def only_counters(snapshot: Snapshot) -> Snapshot:
    """The counter and histogram families of ``snapshot`` (what survives a worker's exit)."""
    return {name: values for name, values in snapshot.items()
            if FAMILIES.get(name, Family(kind="counter", help="")).kind != "gauge"}


class Aggregate:
    """Snapshots of worker processes added up.

    Each worker reports its cumulative snapshot now and then (:meth:`update`); when it exits
    its last snapshot's counters are kept for good (:meth:`retire`) and its gauges dropped.
    """

    def __init__(self) -> None:
        self.live: dict[object, Snapshot] = {}
        self.retired: Snapshot = {}

    def update(self, worker: object, snapshot: Snapshot) -> None:
        """The newest cumulative snapshot of ``worker``."""
        self.live[worker] = snapshot

    def retire(self, worker: object) -> None:
        """``worker`` exited: fold its last snapshot's counters into the total."""
        last = self.live.pop(worker, None)
        if last is not None:
            self.retired = merge(self.retired, only_counters(last))

    def total(self) -> Snapshot:
        """Every worker's numbers added up."""
        return merge(self.retired, *self.live.values())
