"""Secondary zones on the wire (I/O): drives :mod:`authoritative.secondary` per zone.

Each secondary zone runs one task: it feeds the machine its events (the
start, NOTIFYs, SOA replies, transfer results, and a tick at
``next_wakeup``) and carries out its actions: SOA queries over UDP,
AXFR/IXFR over TCP through :class:`~dns_suite.authoritative.xfrin.Transfer`
(TSIG on every message, a size limit and a stall timeout), publishing a new
copy (written to disk atomically first, then served), and expiry (the
zone then answers SERVFAIL).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import time

from dns_suite.authoritative.secondary import (Expire, Log, NotifyReceived, Primary, Publish, QuerySoa,
                                               RetransferRequested, Secondary, SoaReply, Start,
                                               StartTransfer, Tick, Timers, TransferDone, TransferFailed)
from dns_suite.authoritative.xfrin import Transfer, TransferError, make_query
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import Message, Question, decode, encode
from dns_suite.wire.name import Name
from dns_suite.wire.tsig import TsigKey, parse_rdata, sign, verify
from dns_suite.zone.journal import write_zone_file
from dns_suite.zone.loader import load_zone
from dns_suite.zone.model import Zone

log = logging.getLogger("dns_suite.authoritative.secondary")
SOA_TIMEOUT = 3.0  # seconds


class SecondaryZone:
    """One secondary zone's task.

    Args:
        origin: the apex.
        path: where the copy is kept.
        primaries: where to transfer from.
        keys: TSIG keys by name key.
        publish: ``(zone | None) -> None``: serve this copy (None: expired, SERVFAIL).
        max_octets: largest transfer accepted, in octets.
        stall: seconds a transfer may go without a message.
        timeout: seconds a whole transfer may take.
        timers: bounds for the SOA's REFRESH and RETRY.
    """

    def __init__(self, origin: Name, path: str, primaries: tuple[Primary, ...], keys: dict[bytes, TsigKey],
                 publish, max_octets: int, stall: float, timeout: float = 3600.0,
                 timers: Timers = Timers()) -> None:
        self.origin, self.path, self.keys, self.publish = origin, path, keys, publish
        self.max_octets, self.stall, self.timeout = max_octets, stall, timeout
        self.machine = Secondary(origin, primaries, timers)
        self.zone: Zone | None = None
        self.events: asyncio.Queue = asyncio.Queue()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()

    def notify(self, host: str) -> None:
        self.events.put_nowait(NotifyReceived(primary=host))

    def retransfer(self) -> None:
        self.events.put_nowait(RetransferRequested())

    def status(self) -> dict:
        return self.machine.status()

    async def _run(self) -> None:
        self._act(self.machine.step(self._start_event(), time.monotonic()))
        while True:
            wake = self.machine.next_wakeup()
            timeout = None if wake is None else max(0.0, wake - time.monotonic())
            try:
                event = await asyncio.wait_for(self.events.get(), timeout)
            except asyncio.TimeoutError:
                event = Tick()
            self._act(self.machine.step(event, time.monotonic()))

    def _start_event(self) -> Start:
        if not os.path.exists(self.path):
            return Start(zone=None)
        result = load_zone(self.origin, self.path)
        if result.zone is None:
            log.warning("zone=%s copy on disk unreadable: %s", self.origin, result.errors[:1])
            return Start(zone=None)
        self.zone = result.zone
        return Start(zone=result.zone, age=max(0.0, time.time() - os.path.getmtime(self.path)))

    def _act(self, actions) -> None:
        loop = asyncio.get_running_loop()
        for action in actions:
            if isinstance(action, QuerySoa):
                loop.create_task(self._soa(action))
            elif isinstance(action, StartTransfer):
                loop.create_task(self._transfer(action))
            elif isinstance(action, Publish):
                self._publish(action)
            elif isinstance(action, Expire):
                log.error("zone=%s expired: answering SERVFAIL", self.origin)
                self.publish(None)
            elif isinstance(action, Log):
                (log.warning if action.level == "warning" else log.info)("zone=%s %s", self.origin, action.text)

    def _publish(self, action: Publish) -> None:
        if action.save:
            try:
                write_zone_file(action.zone, self.path)
            except OSError as exc:
                log.error("zone=%s copy not written to %s: %s", self.origin, self.path, exc)
        self.zone = action.zone
        self.publish(action.zone)
        log.info("zone=%s serving serial=%d", self.origin, action.zone.serial)

    def _key(self, primary: Primary) -> TsigKey | None:
        return self.keys.get(primary.key_name.key) if primary.key_name is not None else None

    async def _soa(self, action: QuerySoa) -> None:
        try:
            serial = await asyncio.wait_for(self._ask_soa(action.primary), SOA_TIMEOUT)
            event = SoaReply(primary=action.index, serial=serial, error="" if serial is not None else "no SOA")
        except (OSError, asyncio.TimeoutError, WireError, ValueError) as exc:
            event = SoaReply(primary=action.index, serial=None, error=str(exc) or type(exc).__name__)
        self.events.put_nowait(event)

    async def _ask_soa(self, primary: Primary) -> int | None:
        ident = secrets.randbelow(65536)
        wire = encode(Message(id=ident, question=(Question(qname=self.origin, qtype=6),)))
        key, mac = self._key(primary), b""
        if key is not None:
            wire, mac = sign(wire, key, now=int(time.time()))
        loop = asyncio.get_running_loop()
        reply: asyncio.Future = loop.create_future()

        class Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data, addr):
                if not reply.done() and data[:2] == wire[:2]:
                    reply.set_result(data)

        transport, _ = await loop.create_datagram_endpoint(Proto, remote_addr=(primary.host, primary.port))
        try:
            transport.sendto(wire)
            data = await reply
        finally:
            transport.close()
        msg = decode(data)
        if key is not None:
            if msg.tsig is None:
                raise ValueError("unsigned SOA reply to a signed query")
            verdict = verify(data, msg.tsig_offset, parse_rdata(msg.tsig.owner, msg.tsig.rdata),
                             {key.name.key: key}, now=int(time.time()), request_mac=mac)
            if not verdict.ok:
                raise ValueError(f"SOA reply TSIG error {verdict.error}")
        soa = next((rr for rr in msg.answer if rr.rrtype == 6 and rr.owner == self.origin), None)
        return int.from_bytes(soa.rdata[-20:-16], "big") if soa is not None else None

    async def _transfer(self, action: StartTransfer) -> None:
        primary = action.primary
        try:
            zone, transfer = await asyncio.wait_for(self._receive(action), self.timeout)
            log.info("zone=%s %s from %s:%d serial=%d octets=%d", self.origin, action.kind, primary.host,
                     primary.port, zone.serial, transfer.octets)
            event = TransferDone(primary=action.index, zone=zone, octets=transfer.octets, diffs=transfer.diffs)
        except asyncio.TimeoutError:
            reason = f"not done within transfer_timeout ({self.timeout:g} s)"
            log.error("zone=%s %s from %s:%d failed, old copy kept: %s", self.origin, action.kind,
                      primary.host, primary.port, reason)
            event = TransferFailed(primary=action.index, reason=reason)
        except (OSError, asyncio.IncompleteReadError, TransferError, WireError) as exc:
            reason = getattr(exc, "reason", None) or str(exc) or type(exc).__name__
            log.error("zone=%s %s from %s:%d failed, old copy kept: %s", self.origin, action.kind,
                      primary.host, primary.port, reason)
            event = TransferFailed(primary=action.index, reason=reason)
        self.events.put_nowait(event)

    async def _receive(self, action: StartTransfer) -> tuple[Zone, Transfer]:
        key, ident = self._key(action.primary), secrets.randbelow(65536)
        query, mac = make_query(self.origin, action.kind, action.serial, ident, key, int(time.time()))
        current = self.zone if action.kind == "IXFR" else None
        transfer = Transfer(self.origin, action.kind, current, key, mac, self.max_octets, ident=ident,
                            now=int(time.time()))
        reader, writer = await self._stalling(
            asyncio.open_connection(action.primary.host, action.primary.port))
        try:
            writer.write(len(query).to_bytes(2, "big") + query)
            await self._stalling(writer.drain())
            while not transfer.complete:
                head = await self._stalling(reader.readexactly(2))
                data = await self._stalling(reader.readexactly(int.from_bytes(head, "big")))
                transfer.feed(data, now=int(time.time()))
        finally:
            writer.close()
        return transfer.result(), transfer

    async def _stalling(self, awaitable):
        """``awaitable``, or TransferError when nothing happens for ``stall`` seconds."""
        try:
            return await asyncio.wait_for(awaitable, self.stall)
        except asyncio.TimeoutError:
            raise TransferError(f"stalled: nothing received for {self.stall:g} s") from None
