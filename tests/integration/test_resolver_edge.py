"""The resolver service's I/O edge against a fake core, in one process on loopback.

The fake core forwards each client query to one upstream server (a fake authoritative here)
and hands its reply back; the tests check how the edge carries out the actions: random source
ports, replies only from the queried address and port and with the query's ID, timers, refused
connections, TCP framing both ways, the access list, our bugs as SERVFAIL, and reload.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest

from dns_suite.chain.acl import rcode_reply
from dns_suite.config import ResolverConfig
from dns_suite.resolver.actions import Answer, SendQuery
from dns_suite.resolver.service import ResolverService, UdpClient
from peers import HOST, free_port

pytestmark = pytest.mark.integration


@dataclasses.dataclass
class FakeCore:
    """Forwards every query to ``upstream`` with a new ID; SERVFAIL on timeout."""

    settings: object
    hints: object
    upstream: tuple[str, int] = (HOST, 9)
    tcp: bool = False
    timeout: float = 2.0
    submitted: list = dataclasses.field(default_factory=list)
    responses: list = dataclasses.field(default_factory=list)
    timeouts: list = dataclasses.field(default_factory=list)
    pending: dict = dataclasses.field(default_factory=dict)
    next_token: int = 1

    def submit(self, query: bytes, client: object, now: float, *, tcp: bool = False) -> list:
        self.submitted.append((query, client, now, tcp))
        if b"\x04boom" in query:
            raise RuntimeError("a bug in the core")
        token, self.next_token = self.next_token, self.next_token + 1
        self.pending[token] = (client, query)
        wire = (token + 0x4000).to_bytes(2, "big") + query[2:]
        return [SendQuery(token=token, address=self.upstream[0], port=self.upstream[1], tcp=self.tcp,
                          wire=wire, timeout=self.timeout)]

    def cached_reply(self, query: bytes, now: float) -> None:
        if b"\x07hotboom" in query:
            raise RuntimeError("a bug on the hot path")
        return None  # no hot path: every query reaches submit

    def prefetch(self, now: float) -> list:
        return []

    def reconfigure(self, settings, hints) -> None:
        self.settings, self.hints = settings, hints

    def on_response(self, token: int, reply: bytes, now: float, *, source=None, tcp=False) -> list:
        self.responses.append((token, reply, source, tcp))
        client, query = self.pending.pop(token)
        return [Answer(client=client, wire=query[:2] + reply[2:])]

    def on_timeout(self, token: int, now: float) -> list:
        self.timeouts.append((token, now))
        client, query = self.pending.pop(token)
        return [Answer(client=client, wire=rcode_reply(query, dns.rcode.SERVFAIL))]


class FakeUpstream(asyncio.DatagramProtocol):
    """A UDP authoritative: answers each query with QR+AA set, after ``before`` datagrams
    (``"stray"``: a wrong ID, ``"spoof"``: from another port), or never (``silent``)."""

    def __init__(self, before: tuple[str, ...] = (), silent: bool = False) -> None:
        self.before, self.silent, self.seen = before, silent, []
        self.transport = self.spoofer = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.seen.append((data, addr))
        if self.silent:
            return
        reply = bytearray(data)
        reply[2] |= 0x84
        for kind in self.before:
            wrong = bytearray(reply)
            wrong[3] = (wrong[3] & 0xF0) | dns.rcode.NXDOMAIN
            if kind == "stray":
                wrong[0] ^= 0xFF
                self.transport.sendto(bytes(wrong), addr)
            else:
                self.spoofer.sendto(bytes(wrong), addr)
        self.transport.sendto(bytes(reply), addr)


async def udp_upstream(**kw) -> tuple[FakeUpstream, tuple[str, int]]:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(lambda: FakeUpstream(**kw), local_addr=(HOST, 0))
    proto.spoofer, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(HOST, 0))
    return proto, transport.get_extra_info("sockname")[:2]


async def tcp_upstream(stray_first: bool = True) -> tuple[list, asyncio.AbstractServer, int]:
    """A TCP authoritative: a message with a wrong ID first, then the reply."""
    seen = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        size = int.from_bytes(await reader.readexactly(2), "big")
        data = await reader.readexactly(size)
        seen.append(data)
        reply = bytearray(data)
        reply[2] |= 0x84
        if stray_first:
            writer.write(len(reply).to_bytes(2, "big") + bytes([reply[0] ^ 0xFF]) + reply[1:])
        writer.write(len(reply).to_bytes(2, "big") + bytes(reply))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, HOST, 0)
    return seen, server, server.sockets[0].getsockname()[1]


def query(name: str = "www.example.test.", ident: int = 0x2222) -> bytes:
    q = dns.message.make_query(name, "A")
    q.id = ident
    return q.to_wire()


async def ask_udp(addr, wire: bytes, timeout: float = 3.0) -> bytes | None:
    loop = asyncio.get_running_loop()
    got = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data, _addr) -> None:
            if not got.done():
                got.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Client, remote_addr=addr)
    transport.sendto(wire)
    try:
        return await asyncio.wait_for(got, timeout)
    except asyncio.TimeoutError:
        return None
    finally:
        transport.close()


async def ask_tcp(addr, wire: bytes, timeout: float = 3.0) -> bytes | None:
    reader, writer = await asyncio.open_connection(*addr)
    try:
        writer.write(len(wire).to_bytes(2, "big") + wire)
        size = int.from_bytes(await asyncio.wait_for(reader.readexactly(2), timeout), "big")
        return await reader.readexactly(size)
    except (asyncio.IncompleteReadError, asyncio.TimeoutError):
        return None
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def running(config_path: Path | None = None, **core_kw):
    """A started service with a FakeCore; yields (service, core, listen address)."""
    port = free_port()
    cores = []

    def factory(settings, hints, *, randbits, wall):
        assert callable(randbits) and callable(wall)
        cores.append(FakeCore(settings, hints, **core_kw))
        return cores[-1]

    cfg = ResolverConfig(listen=(f"{HOST}:{port}",))
    if config_path is not None:
        config_path.write_text(f'[resolver]\nlisten = ["{HOST}:{port}"]\n')
    service = ResolverService(cfg, str(config_path) if config_path else None, core_factory=factory)
    await service.start()
    try:
        yield service, cores[0], (HOST, port)
    finally:
        await service.stop()


CLIENT_WAIT = 20.0  # seconds a client waits in the cases where the core's timer is an hour


def timer_waited(core: FakeCore) -> float:
    """Service-clock seconds from the first query's submit to the first timeout."""
    return core.timeouts[0][1] - core.submitted[0][2]


def rcode(wire: bytes | None) -> int:
    assert wire is not None, "no reply"
    return dns.message.from_wire(wire).rcode()


def test_udp_query_goes_upstream_from_random_ports_and_back() -> None:
    async def body():
        up, up_addr = await udp_upstream()
        async with running(upstream=up_addr) as (service, core, addr):
            replies = [await ask_udp(addr, query(ident=0x1000 + i)) for i in range(5)]
            ports = [peer[1] for _, peer in up.seen]
            assert [dns.message.from_wire(r).id for r in replies] == [0x1000 + i for i in range(5)]
            assert all(dns.message.from_wire(r).flags & dns.flags.AA for r in replies)
            assert addr[1] not in ports and len(set(ports)) >= 4  # a fresh port each time ...
            assert max(ports) - min(ports) > 10  # ... picked at random, not in sequence
            assert [(source, tcp) for _, _, source, tcp in core.responses] == [(up_addr, False)] * 5
            assert all(isinstance(client, UdpClient) and not tcp for _, client, _, tcp in core.submitted)
            assert not service.upstream.flights
    asyncio.run(body())


@pytest.mark.parametrize("before", [("stray",), ("spoof",), ("stray", "spoof", "stray")])
def test_udp_accepts_only_the_queried_source_and_id(before) -> None:
    async def body():
        _, up_addr = await udp_upstream(before=before)
        async with running(upstream=up_addr) as (_, core, addr):
            assert rcode(await ask_udp(addr, query())) == dns.rcode.NOERROR
            assert len(core.responses) == 1
    asyncio.run(body())


def test_udp_timeout_and_port_unreachable() -> None:
    async def body():
        up, up_addr = await udp_upstream(silent=True)
        async with running(upstream=up_addr, timeout=0.3) as (service, core, addr):
            assert rcode(await ask_udp(addr, query())) == dns.rcode.SERVFAIL
            assert len(core.timeouts) == 1 and len(up.seen) == 1
            assert timer_waited(core) >= 0.299  # the timer ran its course (the service's own clock)
        # Nobody there: ICMP port unreachable ends it at once. The core's timeout is an hour, so
        # only the ICMP error can produce the SERVFAIL the client waits for.
        async with running(upstream=(HOST, free_port()), timeout=3600.0) as (service, core, addr):
            assert rcode(await ask_udp(addr, query(), timeout=CLIENT_WAIT)) == dns.rcode.SERVFAIL
            assert len(core.timeouts) == 1
            assert not service.upstream.flights
    asyncio.run(body())


def test_tcp_upstream_framing_and_refused() -> None:
    async def body():
        seen, server, up_port = await tcp_upstream()
        async with running(upstream=(HOST, up_port), tcp=True) as (_, core, addr):
            assert rcode(await ask_udp(addr, query())) == dns.rcode.NOERROR
            assert [(source, tcp) for _, _, source, tcp in core.responses] == [((HOST, up_port), True)]
            assert dns.message.from_wire(seen[0]).id == 0x4001
        server.close()
        # refused: the connection's failure, not the hour-long timer, gives the SERVFAIL
        async with running(upstream=(HOST, free_port()), tcp=True, timeout=3600.0) as (_, core, addr):
            assert rcode(await ask_udp(addr, query(), timeout=CLIENT_WAIT)) == dns.rcode.SERVFAIL
            assert len(core.timeouts) == 1
    asyncio.run(body())


def test_tcp_upstream_silent_times_out() -> None:
    async def body():
        async def hold(reader, writer):
            await reader.read()  # never answers

        server = await asyncio.start_server(hold, HOST, 0)
        port = server.sockets[0].getsockname()[1]
        async with running(upstream=(HOST, port), tcp=True, timeout=0.3) as (service, core, addr):
            assert rcode(await ask_udp(addr, query())) == dns.rcode.SERVFAIL
            assert len(core.timeouts) == 1 and timer_waited(core) >= 0.299
        server.close()
    asyncio.run(body())


def test_tcp_client() -> None:
    async def body():
        _, up_addr = await udp_upstream()
        async with running(upstream=up_addr) as (_, core, addr):
            reply = await ask_tcp(addr, query(ident=0x3333))
            assert dns.message.from_wire(reply).id == 0x3333 and rcode(reply) == dns.rcode.NOERROR
            assert core.submitted[0][3] is True and isinstance(core.submitted[0][1], asyncio.Future)
    asyncio.run(body())


def test_not_allowed_client_is_refused_before_the_core(tmp_path: Path) -> None:
    async def body():
        _, up_addr = await udp_upstream()
        conf = tmp_path / "resolver.toml"
        async with running(conf, upstream=up_addr) as (service, core, addr):
            assert rcode(await ask_udp(addr, query())) == dns.rcode.NOERROR
            conf.write_text(conf.read_text() + 'allow = ["10.0.0.0/8"]\n')
            await service.reload()
            assert service.core is core  # the core, and its cache, stay
            assert rcode(await ask_udp(addr, query())) == dns.rcode.REFUSED
            assert rcode(await ask_tcp(addr, query())) == dns.rcode.REFUSED
            assert len(core.submitted) == 1
    asyncio.run(body())


def test_reload_applies_settings_to_the_same_core(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    async def body():
        conf = tmp_path / "resolver.toml"
        async with running(conf) as (service, core, addr):
            assert not service.settings.use_0x20
            conf.write_text(conf.read_text() + "use_0x20 = true\n")
            with caplog.at_level(logging.INFO, logger="dns_suite.resolver"):
                await service.reload()
            assert "settings and root hints applied, cache kept" in caplog.text
            assert service.core is core and core.settings.use_0x20 and service.settings.use_0x20
            conf.write_text("[resolver]\nmax_ttl = -1\n")
            with caplog.at_level(logging.INFO, logger="dns_suite.resolver"):
                await service.reload()
            assert "config refused, nothing changed" in caplog.text
    asyncio.run(body())


def test_garbage_is_dropped_and_bugs_answer_servfail() -> None:
    async def body():
        _, up_addr = await udp_upstream()
        async with running(upstream=up_addr) as (_, core, addr):
            assert await ask_udp(addr, b"\x01\x02\x03", timeout=0.3) is None
            reply = bytearray(query())
            reply[2] |= 0x80
            assert await ask_udp(addr, bytes(reply), timeout=0.3) is None  # QR set: never answered
            assert core.submitted == []
            assert rcode(await ask_udp(addr, query("boom.example.test."))) == dns.rcode.SERVFAIL
            assert rcode(await ask_tcp(addr, query("boom.example.test."))) == dns.rcode.SERVFAIL
            assert rcode(await ask_udp(addr, query())) == dns.rcode.NOERROR  # still serving
    asyncio.run(body())


def test_hot_path_bug_goes_to_the_core_and_the_listener_thread_ends_on_stop(
        caplog: pytest.LogCaptureFixture) -> None:
    async def body():
        _, up_addr = await udp_upstream()
        async with running(upstream=up_addr) as (service, core, addr):
            threads = [listener.thread for listener in service.udp]
            assert threads and all(t.is_alive() for t in threads)
            with caplog.at_level(logging.ERROR, logger="dns_suite.resolver"):
                assert rcode(await ask_udp(addr, query("hotboom.example.test."))) == dns.rcode.NOERROR
            assert "bug on the UDP hot path" in caplog.text
            assert [q for q, *_ in core.submitted if b"hotboom" in q]  # the core answered it
            assert all(t.is_alive() for t in threads)
            assert rcode(await ask_udp(addr, query())) == dns.rcode.NOERROR
        assert not any(t.is_alive() for t in threads)  # stop() ended them
    asyncio.run(body())
