"""``dns-suite authoritative``: zones from files served over UDP and TCP (I/O).

Process model (DESIGN "Process model"): this control process loads the
zones, serves TCP with asyncio, and handles SIGHUP (reload config and zones:
a zone that fails to load is reported with file, line and reason, and its
old copy keeps serving) and SIGTERM/SIGINT (stop). UDP is answered by
blocking recvfrom/sendto loops over the pre-rendered table: with
``workers = 1`` in threads of this process, where a reload swaps the table
in place; with ``workers = N > 1`` in N forked worker processes sharing the
port by SO_REUSEPORT, where a reload forks a fresh worker set from the new
state and then stops the old set (the "fork a fresh set" option of DESIGN).
A worker that dies is replaced.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import threading

from dns_suite.authoritative.prerender import Prerendered
from dns_suite.authoritative.responder import Options
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.config import AuthoritativeConfig, load_authoritative_config, parse_listen
from dns_suite.errors import ConfigError
from dns_suite.net.tcp import TcpServer
from dns_suite.net.udp import HandlerRef, bind_udp, serve_udp
from dns_suite.zone.loader import load_zone
from dns_suite.zone.model import Zone

log = logging.getLogger("dns_suite.authoritative")
SERVFAIL = 2


def servfail(data: bytes, exc: BaseException) -> bytes | None:
    """Our bug while answering: log it with the query, answer SERVFAIL."""
    log.error("bug answering query=%s: %r", data[:512].hex(), exc, exc_info=exc)
    if len(data) < 12 or data[2] & 0x80:
        return None
    return data[:2] + bytes((0x80 | (data[2] & 0x79), SERVFAIL)) + bytes(8)


def load_zones(cfg: AuthoritativeConfig, old: dict[bytes, Zone]) -> list[Zone]:
    """Load every configured zone; one that fails keeps its ``old`` copy (if any).

    Returns:
        the zones to serve.
    """
    zones = []
    for zc in cfg.zones:
        result = load_zone(zc.origin, zc.file, allow_generate=cfg.allow_generate)
        for p in result.problems:
            (log.error if p.severity == "error" else log.warning)("zone=%s %s", zc.origin, p)
        if result.zone is not None:
            log.info("zone=%s loaded serial=%d records=%d", zc.origin, result.zone.serial,
                     result.zone.record_count())
            zones.append(result.zone)
            continue
        previous = next((z for k, z in old.items() if z.origin.to_text().lower() ==
                         (zc.origin if zc.origin.endswith(".") else zc.origin + ".").lower()), None)
        if previous is not None:
            log.error("zone=%s not reloaded: keeps serving serial=%d", zc.origin, previous.serial)
            zones.append(previous)
        else:
            log.error("zone=%s not loaded: not served", zc.origin)
    return zones


def options_from(cfg: AuthoritativeConfig) -> Options:
    """Server options from the config."""
    return Options(payload_size=cfg.udp_payload_size,
                   nsid=cfg.nsid.encode() if cfg.nsid is not None else None,
                   identity=cfg.identity, version=cfg.version, cookie_secret=os.urandom(16))


class WorkerSet:
    """N forked UDP workers, each with its own SO_REUSEPORT socket per listen address."""

    def __init__(self, table: Prerendered, listen: list[tuple[str, int]], count: int,
                 close_in_child: list[int]) -> None:
        self.pids: dict[int, int] = {}
        self.table, self.listen, self.close_in_child = table, listen, close_in_child
        for index in range(count):
            self.spawn(index)

    def spawn(self, index: int) -> None:
        """Fork worker ``index``."""
        sockets = [bind_udp(host, port) for host, port in self.listen]
        pid = os.fork()
        if pid == 0:
            self._child(sockets)
        for s in sockets:
            s.close()
        self.pids[pid] = index

    def _child(self, sockets: list[socket.socket]) -> None:
        try:
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            for fd in self.close_in_child:
                os.close(fd)
            ref = HandlerRef(self.table.udp, self.table.table)
            threads = [threading.Thread(target=serve_udp, args=(s, ref, servfail), daemon=True)
                       for s in sockets[1:]]
            for t in threads:
                t.start()
            serve_udp(sockets[0], ref, servfail)
        finally:
            os._exit(0)

    def stop(self) -> None:
        """SIGTERM every worker and reap them."""
        for pid in list(self.pids):
            try:
                os.kill(pid, signal.SIGTERM)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        self.pids.clear()

    def reap(self) -> None:
        """Replace workers that died."""
        for pid, index in list(self.pids.items()):
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done, status = pid, 0
            if done:
                log.error("udp worker pid=%d died status=%d: replacing it", pid, status)
                del self.pids[pid]
                self.spawn(index)


class AuthoritativeService:
    """The control process.

    Args:
        cfg: the configuration.
        config_path: the file it came from (re-read on SIGHUP), or None.
    """

    def __init__(self, cfg: AuthoritativeConfig, config_path: str | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.listen = [parse_listen(x) for x in cfg.listen]
        self.zones = ZoneSet(load_zones(cfg, {}), version=1)
        self.table = Prerendered(self.zones, options_from(cfg), cfg.prerender_max_entries)
        self.ref = HandlerRef(self.table.udp, self.table.table)
        self.tcp = TcpServer(lambda: self.table.tcp, servfail, idle_timeout=cfg.tcp_idle_timeout,
                             max_connections=cfg.tcp_max_connections)
        self.workers: WorkerSet | None = None
        self._udp_sockets: list[socket.socket] = []
        self._reaper: asyncio.Task | None = None
        self._file_shape = None
        if config_path is not None:  # what the file said, before command-line overrides
            file_cfg = load_authoritative_config(config_path)
            self._file_shape = (file_cfg.listen, file_cfg.workers)

    async def start(self) -> None:
        """Bind and serve; raises OSError when an address cannot be bound."""
        for host, port in self.listen:
            await self.tcp.listen(host, port)
        if self.cfg.workers == 1:
            for host, port in self.listen:
                sock = bind_udp(host, port)
                self._udp_sockets.append(sock)
                threading.Thread(target=serve_udp, args=(sock, self.ref, servfail), daemon=True).start()
        else:
            self.workers = self._fork_workers()
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
        log.info("serving listen=%s workers=%d zones=%d", ",".join(self.cfg.listen),
                 self.cfg.workers, len(self.zones.zones))

    def _fork_workers(self) -> WorkerSet:
        fds = [s.fileno() for srv in self.tcp.servers for s in srv.sockets]
        return WorkerSet(self.table, self.listen, self.cfg.workers, fds)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.workers is not None:
                self.workers.reap()

    async def reload(self) -> None:
        """SIGHUP: re-read the config (if from a file) and every zone; publish the new state."""
        cfg = self.cfg
        if self.config_path is not None:
            try:
                cfg = load_authoritative_config(self.config_path)
            except ConfigError as exc:
                log.error("reload: config refused, nothing changed: %s", exc)
                return
            if (cfg.listen, cfg.workers) != self._file_shape:
                log.warning("reload: listen/workers changes need a restart; kept the old ones")
        zones = ZoneSet(load_zones(cfg, self.zones.zones), version=self.zones.version + 1)
        self.cfg = cfg if self.config_path is None else _keep_sockets(cfg, self.cfg)
        self.zones = zones
        self.table = Prerendered(zones, options_from(self.cfg), self.cfg.prerender_max_entries)
        self.ref.publish(self.table.udp, self.table.table)
        if self.workers is not None:
            old, self.workers = self.workers, self._fork_workers()
            old.stop()
        log.info("reloaded version=%d zones=%d", zones.version, len(zones.zones))

    async def stop(self) -> None:
        """SIGTERM: stop the workers and listeners."""
        if self._reaper is not None:
            self._reaper.cancel()
        if self.workers is not None:
            self.workers.stop()
        for sock in self._udp_sockets:
            sock.close()
        await self.tcp.close()
        log.info("stopped")


def _keep_sockets(new: AuthoritativeConfig, old: AuthoritativeConfig) -> AuthoritativeConfig:
    from dataclasses import replace
    return replace(new, listen=old.listen, workers=old.workers)


def run(cfg: AuthoritativeConfig, config_path: str | None = None) -> int:
    """Run the service until SIGTERM/SIGINT. Returns the exit code."""
    from dns_suite.runtime import serve_until_stopped

    service = AuthoritativeService(cfg, config_path)

    async def main() -> None:
        await serve_until_stopped(service.start, service.stop, service.reload)

    try:
        asyncio.run(main())
    except OSError as exc:
        log.error("cannot serve: %s", exc)
        return 1
    return 0
