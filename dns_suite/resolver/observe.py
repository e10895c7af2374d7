"""What the resolver shows of itself (I/O edge): counters, readiness, the HTTP listener
(``http_listen``), the query log.

How it works: the service's event loop writes two
:class:`~dns_suite.chain.metrics.QueryCounters` (UDP, TCP) and the upstream counters, each UDP
listener thread its own UDP counters and hit count (one writer each, summed when read); the cache
and the rendered-reply table are read at scrape time (``Resolver.cache.stats()``,
``Resolver.answers.hits``). With ``workers = N`` (runtime.prefork: N whole services) no worker
listens on ``http_listen``: each reports its snapshot through a feed
(:mod:`dns_suite.net.feed`) to the parent process, which serves ``/metrics`` (the sum),
``/ready`` (every worker ready) and ``/health`` from a thread of its own (:func:`serve_parent`).

Ready (``/ready``): the listeners are bound and the root hints hold at least one server.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from dns_suite.chain.metrics import QueryCounters, Snapshot, queries_snapshot
from dns_suite.chain.querylog import log_query
from dns_suite.config import ResolverConfig, parse_listen
from dns_suite.net.feed import Feed, Receiver, Sender
from dns_suite.net.observe import ObserveServer

log = logging.getLogger("dns_suite.resolver")
SERVICE = "resolver"


class Observer:
    """The resolver service's metrics and readiness.

    Args:
        service: the :class:`~dns_suite.resolver.service.ResolverService`.
        cfg: its configuration.
        feed: this process's feed to the parent (a worker of ``workers = N``), or None.
    """

    def __init__(self, service, cfg: ResolverConfig, feed: Feed | None = None) -> None:
        self.service = service
        query_log = log_query if cfg.query_log else None
        self.udp = QueryCounters("udp", query_log)
        self.tcp = QueryCounters("tcp", query_log)
        self.query_log = query_log
        self.threads: list[QueryCounters] = []  # one per UDP listener thread, its only writer
        self.upstream = {"udp": 0, "tcp": 0}
        self.failures = 0
        self.serving = False
        self.http_listen = cfg.http_listen if feed is None else None
        self.sender: Sender | None = feed.in_child() if feed is not None else None
        self.server: ObserveServer | None = None

    async def start(self) -> None:
        """Before the DNS listeners: the HTTP listener (raises OSError when its address cannot
        be bound), or the reports to the parent."""
        if self.http_listen:
            self.server = ObserveServer(parse_listen(self.http_listen), self.snapshot, self.ready)
            await self.server.start()
        if self.sender is not None:
            self.sender.start_loop(self.snapshot)

    async def close(self) -> None:
        self.serving = False
        if self.sender is not None:
            self.sender.stop()
        if self.server is not None:
            await self.server.close()

    def udp_counters(self) -> QueryCounters:
        """New UDP counters for one listener thread (summed into every snapshot); it counts
        only the rendered replies it sends (``dns_answer_table_hits`` adds them up)."""
        counters = QueryCounters("udp", self.query_log)
        self.threads.append(counters)
        return counters

    def sent(self, tcp: bool) -> None:
        """One upstream query sent."""
        self.upstream["tcp" if tcp else "udp"] += 1

    def ready(self) -> tuple[bool, str]:
        """``/ready``: listening, with root hints."""
        if not self.serving:
            return False, "not listening yet"
        if not self.service.hints.servers:
            return False, "no root hints"
        return True, f"listening, {len(self.service.hints.servers)} root server addresses"

    def snapshot(self) -> Snapshot:
        """Every metric of this process."""
        core = self.service.core
        snap = queries_snapshot(SERVICE, [self.udp, self.tcp, *self.threads])
        stats = core.cache.stats() if hasattr(core, "cache") else {}
        answers = getattr(core, "answers", None)
        snap.update({
            "dns_ready": {(SERVICE,): 1 if self.ready()[0] else 0},
            "dns_cache_hits": {(): stats.get("hits", 0)}, "dns_cache_misses": {(): stats.get("misses", 0)},
            "dns_cache_evictions": {(): stats.get("evictions", 0)},
            "dns_cache_bytes": {(): stats.get("bytes", 0)}, "dns_cache_entries": {(): stats.get("entries", 0)},
            "dns_answer_table_hits": {(): (answers.hits if answers is not None else 0)
                                      + sum(sum(c.counts.copy().values()) for c in self.threads)},
            "dns_upstream_queries": {(t,): n for t, n in self.upstream.items()},
            "dns_upstream_failures": {(): self.failures}})
        return snap


def serve_parent(cfg: ResolverConfig, feeds: list[Feed]) -> ParentObserver:
    """For runtime.prefork's parent (``workers = N``): the ``alongside(pids)`` that serves
    ``http_listen`` from a daemon thread with the workers' reports added up, and gives a
    restarted worker a fresh feed (see :class:`ParentObserver`)."""
    return ParentObserver(cfg, feeds)


class ParentObserver:
    """``alongside`` for :func:`dns_suite.runtime.prefork`, with its restart hooks.

    Called with the workers' pids, it takes the parent's end of each feed and starts the
    listener thread. When prefork replaces a dead worker it calls :meth:`before_fork` (the
    worker's slot in ``feeds`` gets a fresh :class:`Feed`, which the new worker takes through
    :func:`child_feed`) and :meth:`forked` (the parent's end is attached for the new pid), so
    the new worker's reports count and ``/ready`` sees every worker again.
    """

    def __init__(self, cfg: ResolverConfig, feeds: list[Feed]) -> None:
        self.cfg, self.feeds = cfg, feeds
        self.lock = threading.Lock()
        self.waiting: list[tuple[int, object]] = []  # (pid, parent's end) not yet attached
        self.loop: asyncio.AbstractEventLoop | None = None
        self.receiver: Receiver | None = None

    def __call__(self, pids: list[int]) -> None:
        self.waiting = [(pid, feed.in_parent()) for pid, feed in zip(pids, self.feeds)]
        threading.Thread(target=lambda: asyncio.run(_parent(self, pids)), name="observe", daemon=True).start()

    def before_fork(self, index: int) -> None:
        """Worker ``index`` is about to be forked again: a fresh feed for it."""
        self.feeds[index] = Feed()

    def forked(self, index: int, pid: int) -> None:
        """Worker ``index`` runs again as ``pid``: read its feed."""
        sock = self.feeds[index].in_parent()
        with self.lock:
            if self.loop is None:
                self.waiting.append((pid, sock))
                return
            loop, receiver = self.loop, self.receiver
        loop.call_soon_threadsafe(receiver.attach, pid, sock)

    def attach_waiting(self, loop: asyncio.AbstractEventLoop, receiver: Receiver) -> None:
        """In the listener thread: attach every feed so far, and the later ones as they come."""
        with self.lock:
            self.loop, self.receiver = loop, receiver
            waiting, self.waiting = self.waiting, []
        for pid, sock in waiting:
            receiver.attach(pid, sock)


async def _parent(parent: ParentObserver, pids: list[int]) -> None:
    receiver = Receiver(asyncio.get_running_loop())
    parent.attach_waiting(asyncio.get_running_loop(), receiver)
    cfg = parent.cfg

    def snapshot() -> Snapshot:
        total = receiver.total()
        total["dns_ready"] = {(SERVICE,): 1 if ready()[0] else 0}
        total["dns_workers"] = {(SERVICE,): len(receiver.socks)}
        return total

    def ready() -> tuple[bool, str]:
        live = receiver.aggregate.live
        ready_workers = sum(s.get("dns_ready", {}).get((SERVICE,), 0) for s in live.values())
        if len(receiver.socks) < len(pids):
            return False, f"{len(pids) - len(receiver.socks)} of {len(pids)} workers exited"
        if ready_workers < len(pids):
            return False, f"{ready_workers} of {len(pids)} workers ready"
        return True, f"{len(pids)} workers ready"

    server = ObserveServer(parse_listen(cfg.http_listen), snapshot, ready)
    try:
        await server.start()
    except OSError as exc:
        log.error("observability listener: %s", exc)
        return
    await asyncio.Event().wait()  # until the process exits (a daemon thread)


def child_feed(feeds: list[Feed] | None, index: int) -> Feed | None:
    """In worker ``index`` after the fork: close the other workers' feeds, return its own."""
    if not feeds:
        return None
    for other, feed in enumerate(feeds):
        if other != index:
            feed.parent_end.close()
            feed.child_end.close()
    return feeds[index]
