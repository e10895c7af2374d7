"""``dns-suite resolver`` as a process: TCP pipelining.

Runs on the lab Internet of test_resolver_service.py (two ``dns-suite authoritative`` on
loopback: a root and the ``test.``/``example.test.`` server). A "slow" upstream is the
``example.test.`` server stopped with SIGSTOP: the resolver's queries to it go unanswered until
SIGCONT.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import struct

import dns.message
import pytest

from peers import HOST
from test_resolver_service import Resolver, ask, lab  # noqa: F401 - lab is a fixture

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

