"""``dns-suite resolver`` as a process: TCP pipelining, dead workers replaced (the
authoritative server's too), a second instance on a taken address, and SIGTERM with TCP
clients connected.

Runs on the lab Internet of test_resolver_service.py (two ``dns-suite authoritative`` on
loopback: a root and the ``test.``/``example.test.`` server). A "slow" upstream is the
``example.test.`` server stopped with SIGSTOP: the resolver's queries to it go unanswered until
SIGCONT.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import struct
import subprocess
import time
from pathlib import Path

import dns.message
import pytest

from peers import DNS_SUITE, HOST, REPO, free_port, udp_exchange, wait_answering
from test_observe import http, samples
from test_resolver_service import Resolver, _start, ask, lab  # noqa: F401 - lab is a fixture

pytestmark = pytest.mark.integration

READ_TIMEOUT = 20.0  # seconds a client waits for a reply before the test fails


def frame(name: str, qid: int) -> bytes:
    msg = dns.message.make_query(name, "A")
    msg.id = qid
    wire = msg.to_wire()
    return struct.pack("!H", len(wire)) + wire


def read_reply(sock: socket.socket) -> dns.message.Message:
    def exact(n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            assert chunk, "the resolver closed the connection"
            buf += chunk
        return buf

    return dns.message.from_wire(exact(struct.unpack("!H", exact(2))[0]))


@contextlib.contextmanager
def stopped(proc):
    """The process stopped (SIGSTOP) inside the block: it answers nothing."""
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def test_tcp_pipelined_cached_answer_overtakes_a_slow_query(lab, tmp_path) -> None:
    """RFC 7766 §6.2.1.1: on one connection, a query that waits for a silent server, then a
    cached name: the cached answer comes first."""
    r = Resolver(lab, tmp_path)
    try:
        assert ask(r.port, "www.example.test")[0] == "NOERROR"  # cached now
        with stopped(lab[3][1].proc), socket.create_connection((HOST, r.port), timeout=READ_TIMEOUT) as s:
            s.sendall(frame("slow.example.test", 1) + frame("www.example.test", 2))
            first = read_reply(s)
            assert first.id == 2, f"reply to query {first.id} came first"
            assert [rd.to_text() for rrset in first.answer for rd in rrset] == ["192.0.2.80"]
        assert r.server.proc.poll() is None
    finally:
        r.server.stop()


# --- workers: a dead one is replaced --------------------------------------------------------

WAIT = 20.0  # seconds a test waits for a process to change state before it fails


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def wait_until(check, what: str, server) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {WAIT} s\n{server.log_text()}"
        time.sleep(0.05)


def kill_a_worker_then_stop(server, count: int, check_answers) -> None:
    """SIGKILL one of ``count`` workers: a new one takes its place (logged), ``check_answers()``
    passes, and SIGTERM then ends everything with status 0."""
    before = children(server.proc.pid)
    assert len(before) == count
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: len(children(server.proc.pid)) == count and before[0] not in children(server.proc.pid),
               "a new worker", server)
    after = children(server.proc.pid)
    assert set(before[1:]) < set(after) and "died" in server.log_text()
    check_answers()
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(WAIT) == 0, server.log_text()
    assert not [pid for pid in before + after if Path(f"/proc/{pid}").exists()]


def test_resolver_worker_killed_is_restarted(lab, tmp_path) -> None:
    """Also: the new worker reports to the parent's http_listen (/ready, dns_workers 2)."""
    http_port = free_port()
    r = Resolver(lab, tmp_path, extra=f'workers = 2\nhttp_listen = "{HOST}:{http_port}"\n')

    def answers() -> None:
        for i in range(8):  # source ports spread over both workers
            assert ask(r.port, "www.example.test", tcp=bool(i % 2))[0] == "NOERROR"
        wait_until(lambda: http(http_port, "/ready")[0] == 200, "/ready after the restart", r.server)
        assert samples(http(http_port, "/metrics")[1], "dns_workers") == {(("service", "resolver"),): 2.0}

    try:
        kill_a_worker_then_stop(r.server, 2, answers)
    finally:
        r.server.stop()


def test_authoritative_worker_killed_is_restarted(tmp_path) -> None:
    port = free_port()
    zone = REPO / "zones" / "example.test.zone"
    server = _start("auth-workers", [DNS_SUITE, "authoritative", "--listen", f"{HOST}:{port}",
                                     "--zone", f"example.test.={zone}", "--workers", "2"],
                    tmp_path, HOST, port, lambda s: wait_answering(s, "example.test."))

    def answers() -> None:
        for _ in range(8):
            reply = udp_exchange((HOST, port), dns.message.make_query("example.test.", "SOA").to_wire(),
                                 timeout=2.0)
            assert reply is not None and dns.message.from_wire(reply).answer

    try:
        kill_a_worker_then_stop(server, 2, answers)
    finally:
        server.stop()


# --- a second instance on a taken address ---------------------------------------------------

@pytest.mark.parametrize("second", ["resolver", "authoritative"])
def test_second_instance_on_the_same_address_fails_to_start(lab, tmp_path, second: str) -> None:
    """Workers bind with SO_REUSEPORT; a second instance (workers = 2 as well) must not join
    the first's sockets but fail: exit 1, "address already in use"; the first goes on."""
    r = Resolver(lab, tmp_path, extra="workers = 2\n")
    try:
        if second == "resolver":
            argv = [DNS_SUITE, "resolver", "--config", str(r.conf)]
        else:
            argv = [DNS_SUITE, "authoritative", "--listen", f"{HOST}:{r.port}", "--workers", "2",
                    "--zone", f"example.test.={REPO / 'zones' / 'example.test.zone'}"]
        done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=WAIT,
                              stdin=subprocess.DEVNULL)
        assert done.returncode == 1, done.stderr
        assert f"cannot start: [Errno {errno.EADDRINUSE}] UDP {HOST}:{r.port}: address already in use" \
            in done.stderr, done.stderr
        assert ask(r.port, "www.example.test")[0] == "NOERROR"
        assert len(children(r.server.proc.pid)) == 2
    finally:
        r.server.stop()


# --- stopping with TCP clients connected ----------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_with_tcp_clients_connected_logs_no_traceback(lab, tmp_path, workers: int) -> None:
    """SIGTERM while 3 TCP connections sit idle and one has a query waiting for a silent
    server: exit 0, "stopped", and nothing from asyncio on stderr (no traceback, no task
    destroyed while pending)."""
    r = Resolver(lab, tmp_path, extra=f"workers = {workers}\n")
    conns: list[socket.socket] = []
    try:
        conns = [socket.create_connection((HOST, r.port), timeout=READ_TIMEOUT) for _ in range(4)]
        busy = conns[-1]
        busy.sendall(frame("www.example.test", 3))  # now cached by the worker serving ``busy``
        assert read_reply(busy).id == 3
        with stopped(lab[3][1].proc):
            busy.sendall(frame("pending.example.test", 1) + frame("www.example.test", 2))
            assert read_reply(busy).id == 2  # so the query for pending.example.test is in flight
            r.server.proc.send_signal(signal.SIGTERM)
            assert r.server.proc.wait(WAIT) == 0, r.server.log_text()
        log = r.server.log.read_text(errors="replace")
        assert log.count("stopped") == workers
        for bad in ("Traceback", "Task was destroyed", "CancelledError", "Exception in callback", " error "):
            assert bad not in log, log
    finally:
        for c in conns:
            c.close()
        r.server.stop()
