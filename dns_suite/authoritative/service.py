"""``dns-suite authoritative``: zones from files served over UDP and TCP (I/O).

Process model (DESIGN "Process model"): this control process loads the
zones, serves TCP with asyncio, owns every change (UPDATE with its journal,
reloads, flushes) and the ``dns-suite ctl`` socket, and handles SIGHUP
(reload config and zones: a zone that fails to load is reported with file,
line and reason, and its old copy keeps serving) and SIGTERM/SIGINT
(flush dynamic zones, stop). Zone files are written in a worker thread
(authoritative/dynzones.py), so a large zone's write stalls no TCP query
or UPDATE; SIGTERM waits for the writes, at most STOP_WRITE_TIMEOUT
seconds. UDP is answered by blocking recvfrom/sendto
loops over the pre-rendered table: with ``workers = 1`` in threads of this
process, where a new state swaps the table in place; with ``workers = N >
1`` in N forked workers sharing the port by SO_REUSEPORT, where a new state
forks a fresh set and stops the old one (authoritative/workers.py). What
the fast path defers (UPDATE, TSIG-signed messages) comes here and is
decided by authoritative/dynamic.py; an accepted UPDATE is journaled
(fsync) and published before its reply is sent.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
import time

from dns_suite.authoritative import dynamic
from dns_suite.authoritative.ctl import ControlServer
from dns_suite.authoritative.dynzones import DynamicZone, zone_difference
from dns_suite.authoritative.notify import Notifier, parse_target
from dns_suite.authoritative.observe import Observer
from dns_suite.authoritative.secondaries import SecondaryZone
from dns_suite.authoritative.secondary import Primary, Timers
from dns_suite.authoritative.outbound import Outbound, targets_for
from dns_suite.authoritative.policy import Policy
from dns_suite.authoritative.prerender import Prerendered
from dns_suite.authoritative.protect import Protection
from dns_suite.authoritative.responder import Options
from dns_suite.authoritative.workers import WorkerSet
from dns_suite.authoritative.xfr import TransferAcl
from dns_suite.authoritative.zoneset import ZoneSet
from dns_suite.config import AuthoritativeConfig, load_authoritative_config, parse_listen
from dns_suite.errors import ConfigError, DnsSuiteError
from dns_suite.net.tcp import TcpServer
from dns_suite.net.udp import HandlerRef, bind_udp, serve_udp
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import decode
from dns_suite.wire.name import Name
from dns_suite.wire.tsigkeys import keys_from_config
from dns_suite.zone.journal import Diff, Journal, JournalError, journal_path, serial_gt
from dns_suite.zone.loader import load_zone
from dns_suite.zone.model import Zone

log = logging.getLogger("dns_suite.authoritative")
FORMERR, SERVFAIL = 1, 2
STOP_WRITE_TIMEOUT = 60.0  # seconds SIGTERM waits for zone-file writes; then the journals hold it


def servfail(data: bytes, exc: BaseException) -> bytes | None:
    """Our bug while answering: log it with the query, answer SERVFAIL."""
    log.error("bug answering query=%s: %r", data[:512].hex(), exc, exc_info=exc)
    return _header_reply(data, SERVFAIL)


def _header_reply(data: bytes, rcode: int) -> bytes | None:
    if len(data) < 12 or data[2] & 0x80:
        return None
    return data[:2] + bytes((0x80 | (data[2] & 0x79), rcode)) + bytes(8)


def _key(origin: str) -> bytes:
    return Name.from_text(origin if origin.endswith(".") else origin + ".").key


def _read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


class AuthoritativeService:
    """The control process.

    Args:
        cfg: the configuration.
        config_path: the file it came from (re-read on SIGHUP), or None.

    Raises:
        DnsSuiteError: keys or policies in the config are wrong.
    """

    def __init__(self, cfg: AuthoritativeConfig, config_path: str | None = None) -> None:
        self.cfg = cfg
        self.config_path = config_path
        self.listen = [parse_listen(x) for x in cfg.listen]
        self._file_shape = None
        if config_path is not None:  # what the file said, before command-line overrides
            file_cfg = load_authoritative_config(config_path)
            self._file_shape = (file_cfg.listen, file_cfg.workers)
        self.dynamic: dict[bytes, DynamicZone] = {}
        self._configure(cfg)
        self.zones = ZoneSet(self._load_all(cfg, {}), version=1)
        self.cookie_secret = os.urandom(16)  # kept across reloads: clients' cookies stay valid
        self.protect = Protection(cfg, self.cookie_secret)  # cookies, RRL, DoT/DoH (protect.py)
        self.opts = _options(cfg, self.cookie_secret, self.protect.jar)
        self.table = Prerendered(self.zones, self.opts, cfg.prerender_max_entries)
        self.protect.publish(self.table)
        self.ref = HandlerRef(self.protect.udp_handler, self.table.table, self._defer_from_thread,
                              rrl=self.protect.rrl)
        self.observe = Observer(self, cfg)  # counters, /health, /ready, /metrics (http_listen)
        self.tcp = TcpServer(lambda: self.protect.tcp_handler, servfail, idle_timeout=cfg.tcp_idle_timeout,
                             max_connections=cfg.tcp_max_connections, defer=self._defer_async,
                             counters=self.observe.tcp)
        self.ctl = ControlServer(self)
        self.outbound = Outbound(self.keys, tuple(host for host, _ in self.listen))
        self.workers: WorkerSet | None = None
        self.secondaries: dict[bytes, SecondaryZone] = {}
        self._udp_sockets: list[socket.socket] = []
        self._tasks: list[asyncio.Task] = []
        self._flush_handles: dict[bytes, asyncio.TimerHandle] = {}
        self._flushes: set[asyncio.Task] = set()  # flushes started by their timer
        self.loop: asyncio.AbstractEventLoop | None = None

    # --- configuration and zones ---------------------------------------------
    def _configure(self, cfg: AuthoritativeConfig) -> None:
        """Keys and policies from ``cfg`` (raises DnsSuiteError on a bad key or grant)."""
        self.keys = keys_from_config(cfg.keys, _read_text)
        if hasattr(self, "outbound"):
            self.outbound.keys = self.keys
        self.policies = {
            _key(z.origin): dynamic.ZonePolicy(policy=Policy(z.update_policy, Name.from_text(
                z.origin if z.origin.endswith(".") else z.origin + ".")), serial_policy=z.serial_policy)
            for z in cfg.zones if z.update_policy}
        self.acls = {_key(z.origin): TransferAcl.parse(z.allow_transfer) for z in cfg.zones if z.allow_transfer}
        self.primaries = {_key(z.origin): [(t.host, t.key) for t in map(parse_target, z.primaries)]
                          for z in cfg.zones if z.primaries}
        for z in cfg.zones:
            key = _key(z.origin)
            if z.update_policy and key not in self.dynamic:
                self.dynamic[key] = DynamicZone(z.origin, z.file, cfg.allow_generate)

    def _load_all(self, cfg: AuthoritativeConfig, old: dict[bytes, Zone]) -> list[Zone]:
        zones = []
        for zc in cfg.zones:
            key = _key(zc.origin)
            if zc.primaries:
                if key in old:
                    zones.append(old[key])  # a secondary's copy comes from its primary
                continue
            zone = self._load_one(zc, cfg, old.get(key))
            if zone is not None:
                zones.append(zone)
        return zones

    def _load_one(self, zc, cfg: AuthoritativeConfig, previous: Zone | None) -> Zone | None:
        dz = self.dynamic.get(_key(zc.origin))
        if dz is not None:
            zone = dz.reload(previous) if previous is not None else dz.load()
        else:
            result = load_zone(zc.origin, zc.file, allow_generate=cfg.allow_generate)
            for p in result.problems:
                (log.error if p.severity == "error" else log.warning)("zone=%s %s", zc.origin, p)
            zone = result.zone
            if zone is not None and previous is not None and zc.allow_transfer:
                self._journal_static(zc, previous, zone)
        if zone is None and previous is not None:
            log.error("zone=%s not reloaded: keeps serving serial=%d", zc.origin, previous.serial)
            return previous
        if zone is None:
            log.error("zone=%s not loaded: not served", zc.origin)
        elif zone is not previous:
            log.info("zone=%s loaded serial=%d records=%d", zc.origin, zone.serial, zone.record_count())
        return zone

    # --- serving ---------------------------------------------------------------
    async def start(self) -> None:
        """Bind and serve; raises OSError when an address cannot be bound."""
        self.loop = asyncio.get_running_loop()
        await self.observe.start(self.loop)
        for host, port in self.listen:
            await self.tcp.listen(host, port)
        if self.cfg.workers == 1:
            for host, port in self.listen:
                sock = _bind_udp(host, port)
                self._udp_sockets.append(sock)
                threading.Thread(target=serve_udp, args=(sock, self.ref, servfail, self.observe.counters("udp")),
                                 daemon=True).start()
        else:
            self.workers = self._fork_workers()
            self._tasks.append(self.loop.create_task(self._reap_forever()))
        await self.protect.start(servfail, self._defer_async)
        await self.ctl.start(self.cfg.control_socket)
        await self.outbound.start()
        for key, zone in self.zones.zones.items():
            self._notify(key, zone)
        self._start_secondaries()
        self.observe.serving = True
        log.info("serving listen=%s workers=%d zones=%d dynamic=%d", ",".join(self.cfg.listen),
                 self.cfg.workers, len(self.zones.zones), len(self.dynamic))

    def _fork_workers(self) -> WorkerSet:
        fds = [s.fileno() for srv in self.tcp.servers for s in srv.sockets] + self.ctl.fds()
        return WorkerSet(self.protect.udp_handler, self.table.table, self.listen, self.cfg.workers, fds,
                         self.control, servfail, observer=self.observe, rrl=self.protect.rrl)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self.workers is not None:
                self.workers.reap()

    def _start_secondaries(self) -> None:
        for zc in self.cfg.zones:
            key = _key(zc.origin)
            if not zc.primaries or key in self.secondaries:
                continue
            primaries = tuple(Primary(host=t.host, port=t.port, key_name=Name(t.key) if t.key else None)
                              for t in map(parse_target, zc.primaries))
            sz = SecondaryZone(Name.from_text(zc.origin if zc.origin.endswith(".") else zc.origin + "."),
                               zc.file, primaries, self.keys, lambda zone, key=key: self._serve_copy(key, zone),
                               self.cfg.max_transfer_octets, self.cfg.transfer_stall,
                               self.cfg.transfer_timeout,
                               Timers(min_refresh=self.cfg.min_refresh, min_retry=self.cfg.min_retry,
                                      no_zone_retry=min(60.0, max(self.cfg.min_retry, 1.0))))
            self.secondaries[key] = sz
            sz.start()

    def _serve_copy(self, key: bytes, zone: Zone | None) -> None:
        """A secondary zone's new copy (or None: expired, SERVFAIL) is served from now on."""
        self.observe.copy_served(key, zone)
        zones = dict(self.zones.zones)
        expired = set(self.zones.expired)
        if zone is None:
            expired.add(key)
        else:
            zones[key] = zone
            expired.discard(key)
        self.publish(ZoneSet(list(zones.values()), version=self.zones.version + 1, expired=frozenset(expired)))

    def _notify(self, key: bytes, zone: Zone) -> None:
        """NOTIFY the zone's secondaries of its serial (RFC 1996)."""
        zc = next((z for z in self.cfg.zones if _key(z.origin) == key), None)
        if zc is None:
            return
        try:
            targets = targets_for(zone, zc.also_notify, zc.notify_ns)
        except ValueError as exc:
            log.error("zone=%s %s", zc.origin, exc)
            return
        if targets:
            self.outbound.serial_changed(key, Notifier(origin=zone.origin, targets=targets), zone.serial)

    def notify_status(self, key: bytes) -> list[dict]:
        """Per secondary: NOTIFY state and the serial it serves (for ``ctl zone-status``)."""
        notifier = self.outbound.notifiers.get(key)
        return notifier.status() if notifier is not None else []

    def publish(self, zones: ZoneSet) -> None:
        """Serve ``zones`` from now on: a new table, swapped in or forked into new workers;
        NOTIFY the secondaries of every zone whose serial changed."""
        old = self.zones.zones
        self.zones = zones
        if self.loop is not None:
            for key, zone in zones.zones.items():
                if key not in old or old[key].serial != zone.serial:
                    self._notify(key, zone)
        self.table = Prerendered(zones, self.opts, self.cfg.prerender_max_entries)
        self.protect.publish(self.table)
        self.ref.rrl = self.protect.rrl
        self.ref.publish(self.protect.udp_handler, self.table.table)
        if self.workers is not None:
            old, self.workers = self.workers, self._fork_workers()
            old.stop()  # at once: no stale answers after an UPDATE's reply (see WorkerSet.stop)

    # --- deferred messages: UPDATE and TSIG -----------------------------------------
    def control(self, data: bytes, client: str, tcp: bool = False) -> bytes | None:
        """Answer a deferred message (runs in the event loop's thread)."""
        try:
            msg = decode(data)
        except WireError:
            return _header_reply(data, FORMERR)
        frozen = frozenset(k for k, dz in self.dynamic.items() if dz.frozen)
        outcome = dynamic.handle(self.zones, data, msg, keys=self.keys, policies=self.policies,
                                 opts=self.opts, tcp=tcp, client=client, now=int(time.time()),
                                 frozen=frozen, acls=self.acls, journal_since=self._journal_since,
                                 primaries=self.primaries, clock=lambda: int(time.time()))
        if outcome.log:
            log.info("%s", outcome.log)
        if outcome.notified and outcome.zone_key in self.secondaries:
            self.secondaries[outcome.zone_key].notify(client)
        reply = outcome.reply
        if outcome.update is not None and not self._commit(outcome.zone_key, outcome.update):
            reply = _header_reply(data, SERVFAIL)
        self.observe.deferred(msg, reply)
        return reply

    def _commit(self, key: bytes, result) -> bool:
        old = self.zones.zones[key]
        try:
            self.dynamic[key].commit(old, result)
        except JournalError as exc:
            log.error("zone=%s update not journaled, not applied: %s", old.origin, exc)
            return False
        zones = [result.zone if z is old else z for z in self.zones.zones.values()]
        self.publish(ZoneSet(zones, version=self.zones.version + 1))
        self._schedule_flush(key)
        return True

    def _journal_since(self, key: bytes, serial: int):
        dz = self.dynamic.get(key)
        if dz is not None:
            return dz.journal.since(serial)
        zc = next((z for z in self.cfg.zones if _key(z.origin) == key), None)
        return Journal(journal_path(zc.file)).since(serial) if zc is not None else None

    def _journal_static(self, zc, old: Zone, new: Zone) -> None:
        """A static zone reloaded with a higher serial: journal the difference, so secondaries
        get an IXFR (RFC 1995)."""
        if not serial_gt(new.serial, old.serial):
            return
        removed, added = zone_difference(old, new)
        try:
            Journal(journal_path(zc.file)).append(Diff(serial_from=old.serial, serial_to=new.serial,
                                                       removed=removed, added=added))
        except (JournalError, OSError) as exc:
            log.warning("zone=%s difference not journaled (secondaries get AXFR): %s", zc.origin, exc)

    def _defer_from_thread(self, data: bytes, client: str) -> bytes | None:
        future = asyncio.run_coroutine_threadsafe(self._defer_async(data, client, False), self.loop)
        return future.result(timeout=10.0)

    async def _defer_async(self, data: bytes, client: str, tcp: bool = True) -> bytes | None:
        return self.control(data, client, tcp)

    # --- flushing, reloading, stopping ---------------------------------------------
    def _schedule_flush(self, key: bytes) -> None:
        if key not in self._flush_handles and self.loop is not None:
            self._flush_handles[key] = self.loop.call_later(self.cfg.flush_interval, self._flush_later, key)

    def _flush_later(self, key: bytes) -> None:
        task = self.loop.create_task(self.flush(key))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def flush(self, key: bytes) -> None:
        """Write a dynamic zone's file (in a worker thread; the loop goes on) and compact its
        journal. Returns once the newest snapshot is on disk, or the write failed (logged)."""
        handle = self._flush_handles.pop(key, None)
        if handle is not None:
            handle.cancel()
        dz = self.dynamic.get(key)
        if dz is None:
            return
        try:
            await dz.flush(lambda: self.zones.zones.get(key))
        except (OSError, DnsSuiteError) as exc:
            log.error("zone=%s flush failed (journal keeps the changes): %s", dz.origin, exc)

    async def reload(self, only: str | None = None) -> None:
        """SIGHUP or ``ctl reload``: re-read the config (if from a file) and the zones."""
        cfg = self.cfg
        if self.config_path is not None and only is None:
            try:
                cfg = load_authoritative_config(self.config_path)
                self._configure(cfg)
            except (ConfigError, DnsSuiteError) as exc:
                log.error("reload: config refused, nothing changed: %s", exc)
                return
            if (cfg.listen, cfg.workers) != self._file_shape:
                log.warning("reload: listen/workers changes need a restart; kept the old ones")
            from dataclasses import replace
            cfg = replace(cfg, listen=self.cfg.listen, workers=self.cfg.workers)
        wanted = [z for z in cfg.zones if only is None or _key(z.origin) == _key(only)]
        for zc in wanted:  # a file being written is read once it is whole and ours
            if _key(zc.origin) in self.dynamic:
                await self.dynamic[_key(zc.origin)].settled()
        zones = dict(self.zones.zones) if only is not None else {}
        for zc in wanted:
            zone = self._load_one(zc, cfg, self.zones.zones.get(_key(zc.origin)))
            if zone is not None:
                zones[_key(zc.origin)] = zone
        self.protect.reload(cfg)
        self.cfg, self.opts = cfg, _options(cfg, self.cookie_secret, self.protect.jar)
        for key in self.secondaries:
            if key in self.zones.zones:
                zones[key] = self.zones.zones[key]
        self.publish(ZoneSet(list(zones.values()), version=self.zones.version + 1, expired=self.zones.expired))
        self._start_secondaries()
        log.info("reloaded version=%d zones=%d", self.zones.version, len(self.zones.zones))
        for key, dz in self.dynamic.items():
            if dz.rewrite:  # the file was ignored: rewrite it from the zone served
                dz.rewrite = False
                await self.flush(key)

    async def _flush_all(self, timeout: float) -> None:
        """Flush every dynamic zone, each waiting for its running write; past ``timeout``
        seconds the writes still running are abandoned (old files kept, journals complete)."""
        loop = asyncio.get_running_loop()
        flushes = [loop.create_task(self.flush(key)) for key in self.dynamic]
        if not flushes:
            return
        _, pending = await asyncio.wait(flushes, timeout=timeout)
        if pending:
            log.error("zone-file writes not done within %g s: abandoned, the journals keep the changes",
                      timeout)
            for dz in self.dynamic.values():
                dz.abandon()
            await asyncio.wait(pending)

    async def stop(self) -> None:
        """SIGTERM: flush dynamic zones, stop the workers and listeners."""
        self.observe.serving = False
        for task in self._tasks:
            task.cancel()
        for sz in self.secondaries.values():
            sz.stop()
        await self._flush_all(STOP_WRITE_TIMEOUT)
        if self.workers is not None:
            self.workers.stop()
        for sock in self._udp_sockets:
            sock.close()
        await self.ctl.close()
        await self.outbound.close()
        await self.tcp.close()
        await self.protect.close()
        await self.observe.close()
        log.info("stopped")


def _bind_udp(host: str, port: int) -> socket.socket:
    try:
        return bind_udp(host, port)
    except OSError as exc:
        raise OSError(exc.errno, f"UDP {host}:{port}: {exc.strerror}") from None


def _options(cfg: AuthoritativeConfig, cookie_secret: bytes, jar=None) -> Options:
    """Server options from the config (``jar``: answers cookies the responder itself sees)."""
    return Options(payload_size=cfg.udp_payload_size,
                   nsid=cfg.nsid.encode() if cfg.nsid is not None else None,
                   identity=cfg.identity, version=cfg.version, cookie_secret=cookie_secret,
                   server_cookie=jar.reply_option if jar is not None else None)


def run(cfg: AuthoritativeConfig, config_path: str | None = None) -> int:
    """Run the service until SIGTERM/SIGINT. Returns the exit code."""
    from dns_suite.runtime import serve_until_stopped

    try:
        service = AuthoritativeService(cfg, config_path)
    except DnsSuiteError as exc:
        log.error("cannot start: %s", exc)
        return 1
    served_from_files = [z for z in cfg.zones if not z.primaries]
    if served_from_files and not service.zones.zones:
        log.error("cannot start: none of the %d configured zones loaded", len(served_from_files))
        return 1

    async def main() -> None:
        await serve_until_stopped(service.start, service.stop, service.reload)

    try:
        asyncio.run(main())
    except OSError as exc:
        log.error("cannot serve: %s", exc)
        return 1
    return 0
