"""``dns-suite resolver``: the caching recursive resolver's I/O edge (asyncio).

Process model (DESIGN "Process model"): one control process, ``workers = 1``. Everything but
the UDP hot path runs in one asyncio loop: per listen address a UDP listener thread
(:class:`UdpListener`: a blocking loop answering cache hits, handing the rest to the loop) and a TCP listener
(:class:`~dns_suite.net.tcp.TcpServer`) per listen address, the upstream queries, their timers
and the signals (SIGHUP reloads, SIGTERM/SIGINT stop; :mod:`dns_suite.runtime`).

How it works: a client's query first meets the access list (:func:`dns_suite.chain.acl.guard`):
a client outside ``allow`` gets REFUSED and never reaches the core (not an open resolver,
RFC 5358); anything under 12 octets or with QR set is dropped. The rest goes to the sans-IO
core, :class:`~dns_suite.resolver.iterator.Resolver`, and every list of actions it returns is
carried out here:

===============================  ==========================================================
action                           I/O
===============================  ==========================================================
``SendQuery`` (UDP)              a fresh UDP socket bound to port 0 (a random ephemeral
                                 port, RFC 5452 §9.2) and connected to address:port, so only
                                 that source is heard; a datagram whose ID is not the query's
                                 or without QR is ignored; the reply -> ``on_response``; ICMP
                                 port unreachable -> ``on_timeout`` at once
``SendQuery`` (TCP)              a connection, 2-octet framing (RFC 7766 §8); the first reply
                                 with the query's ID -> ``on_response``; refused or cut ->
                                 ``on_timeout`` at once
every ``SendQuery``              a timer: ``on_timeout(token)`` after ``timeout`` seconds
                                 unless a reply came (it also bounds the TCP connect)
``Answer`` to a UDP client       ``sendto`` on the listener it came in on
``Answer`` to a TCP client       the client's pending future (TcpServer writes it)
===============================  ==========================================================

The core is fed from callbacks of the one loop, never re-entered: failures found while sending
are reported on the next loop turn. An exception from the core is our bug: it is logged with the
query, the client gets SERVFAIL, and the listeners stay up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import secrets
import signal
import socket
import threading
import time
from bisect import bisect_left
from importlib import resources
from time import perf_counter
from typing import Callable

from dns_suite.chain.acl import Acl, guard, rcode_reply
from dns_suite.chain.metrics import LATENCY_BUCKETS
from dns_suite.config import ResolverConfig, load_resolver_config, parse_listen, parse_server
from dns_suite.errors import DnsSuiteError
from dns_suite.net.tcp import TcpServer
from dns_suite.net.udp import bind_udp
from dns_suite.resolver.actions import Answer, SendQuery
from dns_suite.resolver.hints import parse_hints
from dns_suite.resolver.observe import Observer, child_feed, serve_parent
from dns_suite.chain.cookies import finish as finish_cookie
from dns_suite.resolver.protect import ResolverProtection
from dns_suite.resolver.settings import Hints, ServerSet, Settings
from dns_suite.resolver.trust import TrustAnchorError, TrustAnchors, parse_anchors
from dns_suite.resolver.validate import unusable_anchors
from dns_suite.resolver.upstream import Upstream
from dns_suite.wire.name import Name
from dns_suite.wire.types import Rcode

log = logging.getLogger("dns_suite.resolver")

ANSWER_WAIT = 30.0
TICK = 1.0  # seconds between prefetch rounds
"""Seconds a TCP client's query may wait for the core's Answer before it gets SERVFAIL."""

SHIPPED_HINTS = "root.hints"
"""The IANA root hints shipped in this package (used when the config names none)."""
SHIPPED_ANCHORS = "root.ds"
"""The root's trust anchors shipped in this package: the DS of KSK-2017 and KSK-2024."""


# --- configuration -> the core's values ------------------------------------------------------

def settings_from_config(cfg: ResolverConfig) -> Settings:
    """The core's :class:`Settings` from the ``[resolver]`` table (same key names); the texts of
    ``trust_anchor_files`` join ``trust_anchors``.

    Raises:
        OSError: a trust anchor file cannot be read.
        TrustAnchorError: an anchor or NTA cannot be read (checked here, before the core sees it);
            the message names the file, or the ``trust_anchors`` entry, it came from.
    """
    knobs = {f.name: getattr(cfg, f.name) for f in dataclasses.fields(Settings) if f.name != "forwards"}
    sources = [(f"trust_anchors[{i}]", text) for i, text in enumerate(cfg.trust_anchors)]
    for path in cfg.trust_anchor_files:
        with open(path, encoding="utf-8") as handle:
            sources.append((path, handle.read()))
    for source, text in sources:
        try:
            parse_anchors(text)
        except TrustAnchorError as exc:  # dnspython's "<input>:N:" is the line it stopped on,
            # past the end of line of the bad record: "near line N", N at most the last line
            last = text.rstrip("\n").count("\n") + 1
            reason = re.sub(r"<input>:(\d+):", lambda m: f"near line {min(int(m.group(1)), last)}:", str(exc))
            raise TrustAnchorError(f"{source}: {reason}") from None
    knobs["trust_anchors"] = tuple(text for _, text in sources)
    checked = TrustAnchors((), knobs["trust_anchors"], knobs["negative_trust_anchors"])
    for name in unusable_anchors(checked):
        log.warning("trust anchor for %s has no DS digest/algorithm or DNSKEY algorithm this validator "
                    "implements: the zone and everything below it will be insecure (not validated)", name)
    forwards = tuple(
        ServerSet(zone=Name.from_text(z.zone if z.zone.endswith(".") else z.zone + "."),
                  servers=tuple(parse_server(s) for s in z.servers), recursive=recursive)
        for zones, recursive in ((cfg.forward, True), (cfg.stub, False)) for z in zones)
    return Settings(**knobs, forwards=forwards)


def load_hints(cfg: ResolverConfig) -> Hints:
    """Read and parse the root hints ``cfg`` names (or the shipped ones), with the shipped root
    trust anchors when ``dnssec`` is on.

    Raises:
        ZoneError: the file is malformed (file:line: reason).
        OSError: it cannot be read.
    """
    package = resources.files("dns_suite.resolver")
    if cfg.root_hints is None:
        source = package / SHIPPED_HINTS
        hints = parse_hints(source.read_text(encoding="utf-8"), str(source), port=cfg.root_hints_port)
    else:
        with open(cfg.root_hints, encoding="utf-8") as handle:
            hints = parse_hints(handle.read(), cfg.root_hints, port=cfg.root_hints_port)
    if not cfg.dnssec:
        return hints
    return dataclasses.replace(hints, anchors=((package / SHIPPED_ANCHORS).read_text(encoding="utf-8"),))


def _wall() -> int:
    """The wall clock for DNSSEC signature validity, seconds since the epoch."""
    return int(time.time())


# --- clients ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True, slots=True, eq=False)
class UdpClient:
    """The handle of a UDP client's query: the listener's transport and the client's address."""

    transport: UdpListener
    addr: tuple
    start: float = 0.0  # perf_counter seconds when the query arrived (the latency histogram)
    cookie: object = None  # the query's COOKIE (chain.cookies.Prepared), added to the Answer


def _deferred(query: bytes, client: str) -> bytes | None:
    """The handler behind the access list: a query goes to the core (b""), garbage is dropped."""
    return b"" if len(query) >= 12 and not query[2] & 0x80 else None


class UdpListener:
    """One UDP listen address, answered by a blocking ``recvfrom``/``sendto`` loop in a thread
    of its own (net/udp.py's design for the authoritative server, DESIGN "The hot path").

    The thread answers what needs no core: clients outside ``allow`` (REFUSED), the screen of
    :meth:`ResolverProtection.screen` (client_rate, cookies) and rendered hits
    (:meth:`Resolver.cached_reply`, safe beside the loop); every other query is handed to the
    event loop (``call_soon_threadsafe`` -> :meth:`ResolverService.udp_query`), which answers it
    through :meth:`sendto` when the core is done. Measured (bench/resolver_bench.py): cache hits
    per CPU second went from 0.53 of Unbound's with an ``add_reader`` callback draining 64
    datagrams per wakeup to 0.70 (no loop turn, no epoll per batch, no call per counter). The thread counts
    its hits into its own :class:`QueryCounters` (it is their only writer; the arithmetic of
    ``QueryCounters.answered`` written out in the loop with the entry's kind, a call and a
    question walk less per hit), latency in ``service.clock`` seconds (monotonic).
    Has the ``sendto``/``is_closing``/``close`` of a transport, so :class:`UdpClient` can hold it.
    """

    def __init__(self, service: ResolverService, sock) -> None:
        self.service, self.sock, self.closed = service, sock, False
        self.loop = asyncio.get_running_loop()
        self.counters = service.observe.udp_counters()
        sock.setblocking(True)
        self.thread = threading.Thread(target=self._serve, name=f"udp {sock.getsockname()[:2]}", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        service, sock, counters = self.service, self.sock, self.counters
        recvfrom, send, cached, clock = sock.recvfrom, sock.sendto, service.core.cached_reply, service.clock
        protect, handoff, screen = service.protect, self.loop.call_soon_threadsafe, service.protect.screen
        counts, latency, first, log_query = counters.counts, counters.latency, LATENCY_BUCKETS[0], counters.log
        while True:
            try:
                data, addr = recvfrom(65535)
            except InterruptedError:
                continue
            except OSError as exc:  # closed, or an ICMP error queued on the socket: go on
                if self.closed:
                    return
                log.debug("UDP listener: %s", exc)
                continue
            if self.closed:
                return
            start = clock()
            prepared = None
            client = addr[0]
            try:
                if service.acl.allows(client):  # the hot path: an identical question answered recently
                    if protect.limiter is not None or len(data) < 12 or data[10] or data[11]:
                        data, prepared, reply = screen(data, client)  # else nothing to screen
                        if data is None:  # over client_rate, or answered by the cookie checks
                            if reply is not None:
                                self.sendto(reply, addr)
                            continue
                    hit = cached(data, start)
                    if hit is not None:
                        reply = data[:2] + hit.body
                        if prepared is not None:
                            reply = finish_cookie(prepared, reply)
                        try:
                            send(reply, addr)
                        except OSError as exc:
                            log.debug("sendto %s failed: %s", addr, exc)
                        # QueryCounters.answered, inlined with the kind known: this thread is the only writer
                        kind = hit.kind
                        counts[kind] = counts.get(kind, 0) + 1
                        seconds = clock() - start
                        latency[0 if seconds <= first else bisect_left(LATENCY_BUCKETS, seconds)] += 1
                        counters.seconds += seconds
                        if log_query is not None:
                            log_query("udp", client, data, reply, seconds)
                        continue
            except Exception as exc:  # noqa: BLE001 - our bug: the core answers it, the thread goes on
                log.error("bug on the UDP hot path, query=%s: %r", data[:512].hex(), exc, exc_info=exc)
            try:
                handoff(service.udp_query, data, addr, self, prepared)
            except RuntimeError:  # the loop is closed: the service stopped
                return

    def sendto(self, data: bytes, addr: tuple) -> None:
        try:
            self.sock.sendto(data, addr)
        except OSError as exc:
            log.debug("sendto %s failed: %s", addr, exc)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        """Stop the thread (a shutdown wakes its ``recvfrom``; waited for up to 2 s) and close."""
        if self.closed:
            return
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:  # ENOTCONN on an unconnected UDP socket, after waking the readers
            pass
        self.thread.join(2.0)
        self.sock.close()


# --- the service -----------------------------------------------------------------------------

class ResolverService:
    """The control process: listeners, the core, its upstream queries; reload and stop.

    Args:
        cfg: the configuration (command-line overrides applied).
        config_path: the file it came from (re-read on SIGHUP), or None.
        overrides: the command-line overrides, applied again at each reload.
        core_factory: builds the core, ``(settings, hints, *, randbits)``; the real
            :class:`~dns_suite.resolver.iterator.Resolver` unless a test passes another.
        clock: monotonic seconds.
        reuse_port: bind TCP with SO_REUSEPORT too (``workers > 1``: one service per process).

    Raises:
        ZoneError: the root hints are malformed; OSError: they cannot be read.
        ValueError: an ``allow`` entry is not a network (config.py checks it first).
    """

    def __init__(self, cfg: ResolverConfig, config_path: str | None = None, *,
                 overrides: dict | None = None, core_factory: Callable | None = None,
                 clock: Callable[[], float] = time.monotonic, reuse_port: bool = False,
                 feed=None) -> None:
        if core_factory is None:
            from dns_suite.resolver.iterator import Resolver as core_factory
        self.cfg, self.config_path, self.overrides, self.clock = cfg, config_path, overrides or {}, clock
        self.reuse_port = reuse_port
        self.listen = [parse_listen(x) for x in cfg.listen]
        self.settings, self.hints = settings_from_config(cfg), load_hints(cfg)
        self.acl = Acl(cfg.allow)
        self.handler = guard(self.acl, _deferred)
        self.protect = ResolverProtection(cfg)  # client_rate, cookies, DoT/DoH
        self.core = core_factory(self.settings, self.hints, randbits=secrets.randbits, wall=_wall)
        self.observe = Observer(self, cfg, feed)  # counters, /health, /ready, /metrics (http_listen)
        self.tcp = TcpServer(lambda: self.handler, self._servfail, idle_timeout=cfg.tcp_idle_timeout,
                             max_connections=cfg.tcp_max_connections, defer=self.tcp_query,
                             counters=self.observe.tcp)
        self.udp: list[UdpListener] = []
        self.upstream: Upstream | None = None
        self._ticker: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        """Bind the listeners and serve; raises OSError when an address cannot be bound."""
        loop = asyncio.get_running_loop()
        self.upstream = Upstream(loop, self._upstream_reply, self._upstream_failure)
        await self.observe.start()
        for host, port in self.listen:
            await self.tcp.listen(host, port, reuse_port=self.reuse_port)
            try:
                sock = bind_udp(host, port)
            except OSError as exc:
                raise OSError(exc.errno, f"UDP {host}:{port}: {exc.strerror}") from None
            self.udp.append(UdpListener(self, sock))
        await self.protect.start(lambda: self.handler, self._servfail, self.tcp_query)
        self._ticker = loop.call_later(TICK, self._tick)
        self._warn_if_open()
        self.observe.serving = True
        log.info("serving listen=%s allow=%s root_servers=%d forwards=%d", ",".join(self.cfg.listen),
                 ",".join(self.cfg.allow) or "(nobody)", len(self.hints.servers), len(self.settings.forwards))

    def _tick(self) -> None:
        """Once a second: let the core refresh popular answers near expiry (prefetch)."""
        try:
            self._run(self.core.prefetch(self.clock()))
        except Exception as exc:  # noqa: BLE001 - our bug: logged, the service goes on
            log.error("bug in prefetch: %r", exc, exc_info=exc)
        self._ticker = asyncio.get_running_loop().call_later(TICK, self._tick)

    # --- client queries ----------------------------------------------------------------
    def udp_query(self, data: bytes, addr: tuple, transport: UdpListener, cookie=None) -> None:
        """A datagram on a listener that is not a rendered hit: the access list, then the core."""
        start = perf_counter()
        try:
            reply = self.handler(data, addr[0])
            if not reply and reply is not None:
                self._run(self.core.submit(data, UdpClient(transport, addr, start, cookie), self.clock(),
                                           tcp=False))
                return
        except Exception as exc:  # noqa: BLE001 - our bug: SERVFAIL, the listener stays up
            reply = self._servfail(data, exc)
        if reply:
            transport.sendto(reply, addr)
        self.observe.udp.answered(data, reply or None, perf_counter() - start, addr[0])

    async def tcp_query(self, data: bytes, client: str) -> bytes | None:
        """A TCP query the access list let through: the core's Answer, or SERVFAIL after
        :data:`ANSWER_WAIT` seconds without one."""
        data, prepared, reply = self.protect.tcp(data, client)  # cookies (resolver/protect.py)
        if reply is not None:
            return reply
        future = asyncio.get_running_loop().create_future()
        self._run(self.core.submit(data, future, self.clock(), tcp=True))
        try:
            reply = await asyncio.wait_for(future, ANSWER_WAIT)
            return finish_cookie(prepared, reply) if prepared is not None else reply
        except asyncio.TimeoutError:
            log.error("no answer from the core in %.0f s: query=%s", ANSWER_WAIT, data[:512].hex())
            return rcode_reply(data, Rcode.SERVFAIL)

    def _servfail(self, data: bytes, exc: BaseException) -> bytes | None:
        log.error("bug answering query=%s: %r", data[:512].hex(), exc, exc_info=exc)
        return rcode_reply(data, Rcode.SERVFAIL)

    # --- the core's actions --------------------------------------------------------------
    def _run(self, actions: list) -> None:
        """Carry out the core's actions: send the queries, deliver the answers."""
        for action in actions:
            if isinstance(action, SendQuery):
                self.upstream.send(action)
                self.observe.sent(action.tcp)
            elif isinstance(action, Answer):
                self._answer(action)
            else:
                log.error("unknown action from the core: %r", action)

    def _answer(self, answer: Answer) -> None:
        client = answer.client
        if isinstance(client, UdpClient):
            if not client.transport.is_closing():
                wire = answer.wire if client.cookie is None else finish_cookie(client.cookie, answer.wire)
                client.transport.sendto(wire, client.addr)
                self.observe.udp.answered(answer.wire, answer.wire, perf_counter() - client.start,
                                          client.addr[0])
        elif isinstance(client, asyncio.Future):
            if not client.done():  # a TCP client that gave up has a cancelled future
                client.set_result(answer.wire)
        else:
            log.error("Answer for an unknown client handle %r", client)

    def _upstream_reply(self, token: int, data: bytes, source: tuple[str, int], tcp: bool) -> None:
        try:
            self._run(self.core.on_response(token, data, self.clock(), source=source, tcp=tcp))
        except Exception as exc:  # noqa: BLE001 - our bug: logged, the service goes on
            log.error("bug on the reply for token=%d from %s:%d reply=%s: %r", token, *source,
                      data[:512].hex(), exc, exc_info=exc)

    def _upstream_failure(self, token: int) -> None:
        self.observe.failures += 1
        try:
            self._run(self.core.on_timeout(token, self.clock()))
        except Exception as exc:  # noqa: BLE001 - our bug: logged, the service goes on
            log.error("bug on the timeout of token=%d: %r", token, exc, exc_info=exc)

    # --- reload and stop -----------------------------------------------------------------
    async def reload(self) -> None:
        """SIGHUP: re-read the config; the access list and the log level change at once, the
        core (and its cache) stays and takes new settings, forward/stub zones and root hints.
        Changes to listen and workers are reported and wait for a restart."""
        if self.config_path is None:
            log.info("reload: no config file; nothing to reload")
            return
        try:
            cfg = dataclasses.replace(load_resolver_config(self.config_path), **self.overrides)
            settings, hints, acl = settings_from_config(cfg), load_hints(cfg), Acl(cfg.allow)
        except (DnsSuiteError, OSError, ValueError) as exc:
            log.error("reload: config refused, nothing changed: %s", exc)
            return
        self.acl, self.handler = acl, guard(acl, _deferred)
        self.protect.reload(cfg)
        if "log_level" not in self.overrides:
            logging.getLogger().setLevel(cfg.log_level.upper())
        if (settings, hints) != (self.settings, self.hints):
            flushed = self.core.reconfigure(settings, hints)
            self.settings, self.hints = settings, hints
            if flushed:  # statuses judged under the old anchors must not be served
                log.warning("reload: DNSSEC settings or trust anchors changed: cache flushed")
            else:
                log.info("reload: new resolver settings and root hints applied, cache kept")
        kept = [what for what, old, new in (
            ("listen", self.cfg.listen, cfg.listen), ("workers", self.cfg.workers, cfg.workers)) if old != new]
        if kept:
            log.warning("reload: changes to %s need a restart; kept the old ones", ", ".join(kept))
        self.cfg = dataclasses.replace(cfg, listen=self.cfg.listen, workers=self.cfg.workers)
        self._warn_if_open()
        log.info("reloaded allow=%s", ",".join(cfg.allow) or "(nobody)")

    def _warn_if_open(self) -> None:
        if self.acl.open_to_everyone():
            log.warning("allow admits every address: this is an open resolver (RFC 5358)")

    async def stop(self) -> None:
        """SIGTERM/SIGINT: close the listeners, abandon the upstream queries."""
        self.observe.serving = False
        if self._ticker is not None:
            self._ticker.cancel()
        for transport in self.udp:
            transport.close()
        if self.upstream is not None:
            self.upstream.close()
        await self.tcp.close()
        await self.protect.close()
        await self.observe.close()
        log.info("stopped")


def run(cfg: ResolverConfig, config_path: str | None = None, overrides: dict | None = None) -> int:
    """Run the service until SIGTERM/SIGINT.

    Returns:
        0 after a clean stop; 1 when it cannot start (root hints, core, or an address to bind).
    """
    from dns_suite.runtime import prefork

    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a SIGHUP while starting must not kill us
    if cfg.cookie_secret is None:  # one cookie secret for every worker (RFC 9018 §5)
        cfg = dataclasses.replace(cfg, cookie_secret=secrets.token_hex(16))
    if cfg.workers > 1:  # the parent serves http_listen with the workers' reports (resolver/observe.py)
        from dns_suite.net.feed import Feed

        feeds = [Feed() for _ in range(cfg.workers)] if cfg.http_listen else []
        return prefork(cfg.workers, lambda index: _serve(cfg, config_path, overrides, reuse_port=True,
                                                         feed=child_feed(feeds, index)),
                       alongside=serve_parent(cfg, feeds) if feeds else None)
    return _serve(cfg, config_path, overrides, reuse_port=False)


def _serve(cfg: ResolverConfig, config_path: str | None, overrides: dict | None, *, reuse_port: bool,
           feed=None) -> int:
    from dns_suite.runtime import serve_until_stopped

    try:
        service = ResolverService(cfg, config_path, overrides=overrides, reuse_port=reuse_port, feed=feed)
    except (DnsSuiteError, OSError, ValueError) as exc:
        log.error("cannot start: %s", exc)
        return 1
    try:
        asyncio.run(serve_until_stopped(service.start, service.stop, service.reload))
    except OSError as exc:
        log.error("cannot serve: %s", exc)
        return 1
    return 0
