"""What the authoritative service shows of itself (I/O edge): counters, readiness, the HTTP
listener (``http_listen``), the query log.

How it works: every UDP loop of the control process (``workers = 1``) and the TCP server own
one :class:`~dns_suite.chain.metrics.QueryCounters` each (:meth:`Observer.counters`); with
``workers = N`` each forked worker counts in its own and reports to the control process
through a feed (:mod:`dns_suite.net.feed`, :meth:`Observer.worker_feed`). Everything else is
read from the service's state at scrape time: zone serials and record counts, secondary
zones' refresh state, NOTIFY targets' state (what ``ctl zone-status`` shows), the
pre-rendered table; UPDATE results and transfers in are counted as they happen.

Ready (``/ready``): serving started, every zone of the config loaded, and every secondary
zone holding an unexpired copy.
"""

from __future__ import annotations

import logging
from typing import Any

from dns_suite.chain.metrics import QueryCounters, Snapshot, merge, queries_snapshot
from dns_suite.chain.querylog import log_query
from dns_suite.config import AuthoritativeConfig, parse_listen
from dns_suite.net.feed import Feed, Receiver, Sender
from dns_suite.net.observe import ObserveServer
from dns_suite.wire.name import Name

log = logging.getLogger("dns_suite.authoritative")
SERVICE = "authoritative"
UPDATE = 5


class Observer:
    """The authoritative service's metrics and readiness.

    Args:
        service: the :class:`~dns_suite.authoritative.service.AuthoritativeService`.
        cfg: its configuration (``http_listen``, ``query_log``).
    """

    def __init__(self, service, cfg: AuthoritativeConfig) -> None:
        self.service = service
        self.query_log = cfg.query_log
        self.http_listen = cfg.http_listen
        self.local: list[QueryCounters] = []  # counters of this process's loops
        self.tcp = self.counters("tcp")
        self.updates: dict[tuple[str, str], int] = {}
        self.transfers: dict[tuple[str, str], int] = {}
        self.receiver: Receiver | None = None
        self.server: ObserveServer | None = None
        self.serving = False

    def counters(self, transport: str) -> QueryCounters:
        """New counters for one loop of this process (its only writer)."""
        counters = QueryCounters(transport, log_query if self.query_log else None)
        self.local.append(counters)
        return counters

    # --- the HTTP listener -----------------------------------------------------------
    async def start(self, loop) -> None:
        """Start the listener (when configured); before the DNS listeners, so /ready says
        false until they serve. Raises OSError when its address cannot be bound."""
        self.receiver = Receiver(loop)
        if self.http_listen:
            self.server = ObserveServer(parse_listen(self.http_listen), self.snapshot, self.ready)
            await self.server.start()

    async def close(self) -> None:
        self.serving = False
        if self.server is not None:
            await self.server.close()

    # --- forked workers ----------------------------------------------------------------
    def worker_feed(self) -> Feed:
        """A feed for a worker about to be forked."""
        return Feed()

    def worker_started(self, pid: int, feed: Feed) -> None:
        """In the control process after forking worker ``pid``."""
        if self.receiver is None:
            self.receiver = Receiver(None)
        self.receiver.attach(pid, feed.in_parent())

    def worker_stopped(self, pid: int) -> None:
        """Worker ``pid`` was reaped: take its last report."""
        if self.receiver is not None:
            self.receiver.drain(pid)

    def in_worker(self, feed: Feed, transports: int) -> list[QueryCounters]:
        """In a forked worker: counters for its ``transports`` UDP loops, reported to the
        control process every second and at exit (SIGTERM)."""
        if self.receiver is not None:
            for sock in self.receiver.socks.values():  # the other workers' reports are not ours
                sock.close()
        sender: Sender = feed.in_child()
        counters = [QueryCounters("udp", log_query if self.query_log else None) for _ in range(transports)]
        sender.start_thread(lambda: queries_snapshot(SERVICE, counters))
        sender.exit_on_sigterm()
        self.worker_sender = sender
        return counters

    # --- events ------------------------------------------------------------------------
    def deferred(self, msg, reply: bytes | None) -> None:
        """A deferred message was answered: count UPDATEs by zone and RCODE."""
        if msg.opcode != UPDATE:
            return
        zone = msg.question[0].qname.to_text() if msg.question else "."
        rcode = _rcode_text(reply)
        self.updates[(zone, rcode)] = self.updates.get((zone, rcode), 0) + 1

    def copy_served(self, key: bytes, zone) -> None:
        """A secondary zone got a new copy (or expired: ``zone`` None)."""
        name = Name(key).to_text() if zone is None else zone.origin.to_text()
        result = "expired" if zone is None else "transferred"
        self.transfers[(name, result)] = self.transfers.get((name, result), 0) + 1

    # --- scrape ------------------------------------------------------------------------
    def ready(self) -> tuple[bool, str]:
        """``/ready``: serving, every configured zone loaded, every secondary zone unexpired."""
        svc = self.service
        if not self.serving:
            return False, "not serving yet"
        missing = [z.origin for z in svc.cfg.zones if _key(z.origin) not in svc.zones.zones]
        if missing:
            return False, "zones not loaded: " + ", ".join(missing)
        expired = [Name(k).to_text() for k in svc.zones.expired]
        if expired:
            return False, "zones expired: " + ", ".join(sorted(expired))
        return True, f"{len(svc.zones.zones)} zones served"

    def snapshot(self) -> Snapshot:
        """Every metric of the service, workers' reports included."""
        svc = self.service
        snap: Snapshot = queries_snapshot(SERVICE, self.local)
        gauges: dict[str, dict[tuple[str, ...], Any]] = {
            "dns_ready": {(SERVICE,): 1 if self.ready()[0] else 0},
            "dns_updates": dict(self.updates), "dns_secondary_transfers": dict(self.transfers),
            "dns_prerender_entries": {(): len(svc.table.table)},
            "dns_zone_serial": {}, "dns_zone_records": {}, "dns_zone_expired": {},
            "dns_notify_peers": {}, "dns_notify_behind": {}, "dns_secondary_refresh_state": {}}
        for key, zone in svc.zones.zones.items():
            name = zone.origin.to_text()
            gauges["dns_zone_serial"][(name,)] = zone.serial
            gauges["dns_zone_records"][(name,)] = zone.record_count()
            for peer in svc.notify_status(key):
                state = (name, peer["state"])
                gauges["dns_notify_peers"][state] = gauges["dns_notify_peers"].get(state, 0) + 1
                behind = peer["served_serial"] != zone.serial
                gauges["dns_notify_behind"][(name, peer["target"])] = 1 if behind else 0
        for key, secondary in svc.secondaries.items():
            status = secondary.status()
            name = status["zone"]
            gauges["dns_zone_expired"][(name,)] = 1 if key in svc.zones.expired else 0
            gauges["dns_secondary_refresh_state"][(name, status["state"])] = 1
        if self.receiver is not None and (self.receiver.socks or self.receiver.aggregate.retired):
            gauges["dns_workers"] = {(SERVICE,): len(self.receiver.socks)}
            snap = merge(snap, self.receiver.total())
        snap.update(gauges)
        return snap


def _key(origin: str) -> bytes:
    return Name.from_text(origin if origin.endswith(".") else origin + ".").key


def _rcode_text(reply: bytes | None) -> str:
    from dns_suite.wire.types import Rcode

    if not isinstance(reply, (bytes, bytearray)) or len(reply) < 4:
        return "NOREPLY"
    return Rcode(reply[3] & 15).to_text()
