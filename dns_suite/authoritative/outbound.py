"""NOTIFY out and SOA checks on the wire (I/O): drives :mod:`authoritative.notify`.

One UDP socket per address family on an ephemeral port; a tick every
``TICK`` seconds sends what the notifiers say is due (TSIG-signed when the
target names a key) and replies are matched by ID and source address, their
TSIG checked, and fed back.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from dns_suite.authoritative.notify import Notifier, Send, Target, rr_serial
from dns_suite.wire.errors import WireError
from dns_suite.wire.message import decode
from dns_suite.wire.tsig import TsigKey, parse_rdata, sign, verify

log = logging.getLogger("dns_suite.authoritative.notify")
TICK = 0.2  # seconds


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, owner: Outbound) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr) -> None:
        self.owner.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("notify socket error: %s", exc)


class Outbound:
    """Sends NOTIFYs and SOA checks for every zone's :class:`Notifier`.

    Args:
        keys: TSIG keys by name key (a target naming a key signs with it).
        listen: the service's listen addresses: NOTIFY leaves from the first one of each
            family that is not a wildcard, so a secondary that knows us by that address
            accepts it (as BIND's notify-source); else from the system's choice.
    """

    def __init__(self, keys: dict[bytes, TsigKey], listen: tuple[str, ...] = ()) -> None:
        self.keys = keys
        self.sources = {4: "0.0.0.0", 6: "::"}
        for host in reversed(listen):
            if host not in ("0.0.0.0", "::"):
                self.sources[6 if ":" in host else 4] = host
        self.wake = asyncio.Event()
        self.notifiers: dict[bytes, Notifier] = {}
        self.outstanding: dict[int, tuple[bytes, Send, bytes]] = {}
        self.transports: dict[int, asyncio.DatagramTransport] = {}
        self.task: asyncio.Task | None = None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for family, host in self.sources.items():
            try:
                transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self),
                                                                   local_addr=(host, 0))
                self.transports[family] = transport
            except OSError as exc:
                log.warning("no IPv%d socket for NOTIFY: %s", family, exc)
        self.task = loop.create_task(self._run())

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
        for transport in self.transports.values():
            transport.close()

    def serial_changed(self, key: bytes, notifier: Notifier, serial: int) -> None:
        """Tell ``notifier``'s peers about ``serial`` (keeps the notifier for zone ``key``)."""
        self.notifiers[key] = notifier
        notifier.serial_changed(serial, time.monotonic())
        self.wake.set()  # send now, not at the next tick

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            for key, notifier in list(self.notifiers.items()):
                for send in notifier.due(now, self._new_id):
                    self._send(key, send)
            self.wake.clear()
            try:
                await asyncio.wait_for(self.wake.wait(), TICK)
            except asyncio.TimeoutError:
                pass

    def _new_id(self) -> int:
        while True:
            ident = secrets.randbelow(65536)
            if ident not in self.outstanding:
                return ident

    def _send(self, zone_key: bytes, send: Send) -> None:
        wire, mac = send.wire, b""
        key = self.keys.get(send.target.key) if send.target.key else None
        if send.target.key and key is None:
            log.error("NOTIFY to %s:%d names an unknown key", send.target.host, send.target.port)
            return
        if key is not None:
            wire, mac = sign(wire, key, now=int(time.time()))
        transport = self.transports.get(6 if ":" in send.target.host else 4)
        if transport is None:
            return
        self.outstanding[send.ident] = (zone_key, send, mac)
        transport.sendto(wire, (send.target.host, send.target.port))
        if send.kind == "notify":
            log.info("NOTIFY sent to=%s:%d id=%d", send.target.host, send.target.port, send.ident)

    def received(self, data: bytes, addr) -> None:
        try:
            msg = decode(data)
        except WireError:
            return
        entry = self.outstanding.get(msg.id)
        if entry is None:
            return
        zone_key, send, mac = entry
        if addr[0] != send.target.host or addr[1] != send.target.port or not self._signed_ok(data, msg, send, mac):
            return
        del self.outstanding[msg.id]
        notifier = self.notifiers.get(zone_key)
        if notifier is None:
            return
        if send.kind == "notify":
            notifier.on_reply(send.target, msg.id, msg.rcode, time.monotonic())
            log.info("NOTIFY acknowledged by=%s:%d rcode=%d", send.target.host, send.target.port, msg.rcode)
        else:
            serial = next((rr_serial(rr) for rr in msg.answer if rr.rrtype == 6), None)
            notifier.on_soa(send.target, msg.id, serial)

    def _signed_ok(self, data: bytes, msg, send: Send, mac: bytes) -> bool:
        if not send.target.key:
            return True
        if msg.tsig is None:
            log.warning("unsigned reply from %s to a signed NOTIFY: ignored", send.target.host)
            return False
        key = self.keys[send.target.key]
        verdict = verify(data, msg.tsig_offset, parse_rdata(msg.tsig.owner, msg.tsig.rdata),
                         {key.name.key: key}, now=int(time.time()), request_mac=mac)
        if not verdict.ok:
            log.warning("bad TSIG on reply from %s: error %d", send.target.host, verdict.error)
        return verdict.ok


def targets_for(zone, also_notify: tuple[str, ...], notify_ns: bool) -> list[Target]:
    """The NS addresses in the zone (when ``notify_ns``) and the configured targets, once each."""
    from dns_suite.authoritative.notify import ns_targets, parse_target

    out: list[Target] = []
    for target in (ns_targets(zone) if notify_ns else []) + [parse_target(t) for t in also_notify]:
        if target not in out:
            out.append(target)
    return out
