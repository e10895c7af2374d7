"""The observability listener of a service (I/O): ``/health``, ``/ready``, ``/metrics``.

One small aiohttp server per service, on ``http_listen`` (off when the config leaves it
unset). ``/health`` answers 200 while the event loop runs. ``/ready`` answers 200 when the
service's own test passes (authoritative: every zone loaded; resolver: listening with root
hints; ACME agent: last renewal ok) and 503 with the reason before that. ``/metrics`` answers
the Prometheus text format through prometheus-client: a custom collector turns the service's
snapshot (:mod:`dns_suite.chain.metrics`) into metric families at each scrape, so nothing of
prometheus-client runs on the query path; process metrics (CPU, memory, descriptors) come
from prometheus-client's ProcessCollector.
"""

from __future__ import annotations

import logging
from typing import Callable

from dns_suite.chain.metrics import FAMILIES, LATENCY_BUCKETS, Snapshot

log = logging.getLogger("dns_suite.net.observe")

#: ``() -> (ready, reason)``: the reason says what is missing (or what is fine).
ReadyCheck = Callable[[], "tuple[bool, str]"]


class SnapshotCollector:
    """A prometheus-client collector over a snapshot function (called at each scrape).

    Args:
        snapshot: returns the service's current snapshot.
    """

    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def describe(self):
        return []  # no names up front: families appear as they get values

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        try:
            snap = self.snapshot()
        except Exception as exc:  # noqa: BLE001 - our bug: a scrape must not take the service down
            log.error("bug taking the metrics snapshot: %r", exc, exc_info=exc)
            return
        for name, values in sorted(snap.items()):
            family = FAMILIES.get(name)
            if family is None or not values:
                continue
            labels = list(family.labels)
            if family.kind == "counter":
                metric = CounterMetricFamily(name, family.help, labels=labels)
                for key, value in sorted(values.items()):
                    metric.add_metric(list(key), value)
            elif family.kind == "gauge":
                metric = GaugeMetricFamily(name, family.help, labels=labels)
                for key, value in sorted(values.items()):
                    metric.add_metric(list(key), value)
            else:
                metric = HistogramMetricFamily(name, family.help, labels=labels)
                for key, value in sorted(values.items()):
                    metric.add_metric(list(key), _cumulative(value[:-1]), value[-1])
            yield metric


def _cumulative(counts: list[int]) -> list[tuple[str, float]]:
    out, total = [], 0
    for bound, count in zip(list(LATENCY_BUCKETS) + [float("inf")], counts):
        total += count
        out.append(("+Inf" if bound == float("inf") else repr(bound), total))
    return out


def render_metrics(snapshot: Callable[[], Snapshot], process: bool = True) -> bytes:
    """The Prometheus text exposition of ``snapshot()`` (and this process's metrics)."""
    from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(SnapshotCollector(snapshot))
    if process:
        ProcessCollector(registry=registry)
    return generate_latest(registry)


class ObserveServer:
    """``/health``, ``/ready`` and ``/metrics`` on one address.

    Args:
        listen: ``(host, port)``.
        snapshot: the service's metrics, read at each scrape.
        ready: the readiness test.
    """

    def __init__(self, listen: tuple[str, int], snapshot: Callable[[], Snapshot], ready: ReadyCheck) -> None:
        self.listen, self.snapshot, self.ready = listen, snapshot, ready
        self._runner = None

    async def start(self) -> None:
        """Listen; raises OSError when the address cannot be bound."""
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        app.router.add_get("/metrics", self._metrics)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        host, port = self.listen
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise OSError(exc.errno, f"HTTP {host}:{port}: {exc.strerror}") from None
        self._runner = runner
        log.info("observability listening http=%s:%d", host, port)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _health(self, request):
        from aiohttp import web

        return web.Response(text="ok\n")

    async def _ready(self, request):
        from aiohttp import web

        try:
            ok, reason = self.ready()
        except Exception as exc:  # noqa: BLE001 - our bug: not ready, and said why
            log.error("bug in the readiness check: %r", exc, exc_info=exc)
            ok, reason = False, f"readiness check failed: {exc!r}"
        return web.Response(status=200 if ok else 503, text=("ready" if ok else "not ready") + f": {reason}\n")

    async def _metrics(self, request):
        from aiohttp import web
        from prometheus_client import CONTENT_TYPE_LATEST

        body = render_metrics(self.snapshot)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
