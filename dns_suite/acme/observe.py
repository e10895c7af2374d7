"""What the ACME agent shows of itself (I/O edge): ``/health``, ``/ready``, ``/metrics`` on
``http_listen``, read from the files the agent keeps (acme/store.py).

How it works: nothing is counted in memory; at each scrape every configured certificate's
status file (``status/<NAME>.json``: the plan's memory, ``last_success``, ``next_attempt``) and
its current certificate (``certs/<NAME>/current``) are read. So the numbers are the same whether
the daemon or a ``dns-suite acme renew`` run from cron wrote them, and survive restarts.

Ready (``/ready``): every configured certificate has a certificate in use and its last attempt
succeeded (no failure since the last success); false before the first certificate.

The hook, in the daemon (``dns-suite acme run``), around its loop::

    async with observing(service):   # no-op when the config has no http_listen
        await service.run_daemon(stop)
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from dns_suite.chain.metrics import Snapshot
from dns_suite.config import parse_listen
from dns_suite.net.observe import ObserveServer

from . import plan
from .store import StoreError, cert_facts

log = logging.getLogger("dns_suite.acme")
SERVICE = "acme"


class Observer:
    """Metrics and readiness of the certificates of ``cfg``, read from ``store``.

    Args:
        cfg: the ``[acme]`` config (its ``certificate`` list).
        store: the agent's :class:`~dns_suite.acme.store.Store`.
    """

    def __init__(self, cfg, store) -> None:
        self.cfg, self.store = cfg, store

    def _facts(self, name: str) -> tuple[int | None, plan.Memory, dict[str, Any]]:
        """``(not_after or None, memory, status)`` of certificate ``name``."""
        status = self.store.load_status(name)
        try:
            memory = plan.memory_from_json(status.get("memory") or {})
        except (ValueError, KeyError, TypeError):
            memory = plan.Memory()
        bundle = self.store.current(name)
        return (cert_facts(bundle.cert_pem).not_after if bundle else None), memory, status

    def snapshot(self) -> Snapshot:
        """The ``acme_*`` families and ``dns_ready``."""
        snap: Snapshot = {"acme_certificate_not_after_seconds": {}, "acme_last_renewal_success": {},
                          "acme_renewal_failures": {}, "acme_last_success_seconds": {},
                          "acme_next_attempt_seconds": {}}
        for cert in self.cfg.certificate:
            key = (cert.name,)
            try:
                not_after, memory, status = self._facts(cert.name)
            except StoreError as exc:
                log.warning("%s: %s", cert.name, exc)
                continue
            if not_after is not None:
                snap["acme_certificate_not_after_seconds"][key] = not_after
            if memory.failures or status.get("last_success"):
                snap["acme_last_renewal_success"][key] = 0 if memory.failures else 1
            snap["acme_renewal_failures"][key] = memory.failures
            if status.get("last_success"):
                snap["acme_last_success_seconds"][key] = status["last_success"]
            if status.get("next_attempt"):
                snap["acme_next_attempt_seconds"][key] = status["next_attempt"]
        snap["dns_ready"] = {(SERVICE,): 1 if self.ready()[0] else 0}
        return snap

    def ready(self) -> tuple[bool, str]:
        """Every certificate in place, and its last attempt a success."""
        waiting = []
        for cert in self.cfg.certificate:
            try:
                not_after, memory, _ = self._facts(cert.name)
            except StoreError as exc:
                waiting.append(f"{cert.name} ({exc})")
                continue
            if not_after is None:
                waiting.append(f"{cert.name} (no certificate yet)")
            elif memory.failures:
                waiting.append(f"{cert.name} (last attempt failed: {memory.last_error or 'unknown'})")
        if waiting:
            return False, "; ".join(waiting)
        return True, f"{len(self.cfg.certificate)} certificates in place, last renewals ok"


@contextlib.asynccontextmanager
async def observing(service):
    """Serve ``/health``, ``/ready`` and ``/metrics`` for ``service`` (an acme.service.Service)
    while the block runs, when its config has ``http_listen``."""
    listen = getattr(service.cfg, "http_listen", None)
    if not listen:
        yield None
        return
    observer = Observer(service.cfg, service.store)
    server = ObserveServer(parse_listen(listen), observer.snapshot, observer.ready)
    await server.start()
    try:
        yield observer
    finally:
        await server.close()
