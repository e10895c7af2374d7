"""``dns-suite resolver`` as a process, iterating over a tiny lab Internet on loopback.

Two ``dns-suite authoritative`` instances share one port on two loopback addresses: ``B.1``
serves a root zone that delegates ``test.`` to ``B.2``, which serves ``test.`` and
``example.test.``. The resolver's root hints name ``B.1`` and ``root_hints_port`` is that
port (the core asks every server at the hints' port), with ``query_private = true``. Queries
go through dig and kdig over UDP and TCP: an answer, a CNAME, NXDOMAIN (below both zones), an
answer too big for UDP upstream (the resolver retries over TCP), REFUSED for a client outside
``allow`` (set and lifted by SIGHUP, with the cache kept), malformed packets, and SIGTERM.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from peers import DNS_SUITE, HOST, PeerError, Server, free_port, missing, wait_answering

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "wire"))
import malformed_corpus  # noqa: E402

pytestmark = pytest.mark.integration

BIG_COUNT = 20  # TXT strings of 100+ octets at big.example.test: over 2,000 octets, > 1232

ZONES = {
    ".": """$TTL 3600
@ SOA a.root.lab. hostmaster.root.lab. 1 3600 900 604800 300
@ NS a.root.lab.
a.root.lab. A {B}.1
test. NS ns1.nic.test.
ns1.nic.test. A {B}.2
""",
    "test.": """$TTL 3600
@ SOA ns1.nic hostmaster.nic 1 3600 900 604800 300
@ NS ns1.nic
ns1.nic A {B}.2
example NS ns1.example
ns1.example A {B}.2
""",
    "example.test.": """$TTL 300
@ SOA ns1 hostmaster 1 3600 900 604800 300
@ NS ns1
ns1 A {B}.2
www A 192.0.2.80
www AAAA 2001:db8::80
alias CNAME www
""" + "".join(f'big TXT "{i:02d}{"x" * 100}"\n' for i in range(BIG_COUNT)),
}


def _bindable(addr: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((addr, port))
            except OSError:
                return False
    return True


def choose_lab() -> tuple[str, int]:
    """An address block 127.54.N and a port free on its .1 and .2."""
    for n in range(64):
        block = f"127.54.{n}"
        for _ in range(5):
            port = free_port()
            if _bindable(f"{block}.1", port) and _bindable(f"{block}.2", port):
                return block, port
    raise PeerError("no free 127.54.N.1/.2 address pair")


def _start(name: str, argv: list[str], workdir: Path, host: str, port: int,
           ready: Callable[[Server], None]) -> Server:
    """Start ``argv`` in its own session, logging to ``workdir/NAME.out``; ``ready(server)``
    returns once it serves (the server is stopped if that raises)."""
    log = workdir / f"{name}.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name=name, host=host, port=port, proc=proc, workdir=workdir, log=log)
    try:
        ready(server)
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The two authoritative servers; yields (block, port, hints file, [root server, test. server])."""
    assert not missing("dig", "kdig"), missing("dig", "kdig")
    workdir = tmp_path_factory.mktemp("lab")
    block, port = choose_lab()
    files = {}
    for origin, text in ZONES.items():
        files[origin] = workdir / f"{origin.strip('.') or 'root'}.zone"
        files[origin].write_text(text.format(B=block))
    hints = workdir / "lab.hints"
    hints.write_text(f".  3600000 NS a.root.lab.\na.root.lab.  3600000 A {block}.1\n")
    servers = []
    try:
        for octet, origins in ((1, ["."]), (2, ["test.", "example.test."])):
            argv = [DNS_SUITE, "authoritative", "--listen", f"{block}.{octet}:{port}"]
            for origin in origins:
                argv += ["--zone", f"{origin}={files[origin]}"]
            servers.append(_start(f"auth-{octet}", argv, workdir, f"{block}.{octet}", port,
                                  lambda s, probe=origins[-1]: wait_answering(s, probe)))
        yield block, port, hints, servers
    finally:
        for server in servers:
            server.stop()


class Resolver:
    """``dns-suite resolver --config FILE`` on 127.0.0.1 and a free port."""

    def __init__(self, lab, workdir: Path, extra: str = "", wait: bool = True) -> None:
        _, hints_port, hints, _ = lab
        self.port = free_port()
        self.base = (f'[resolver]\nlisten = ["{HOST}:{self.port}"]\nroot_hints = "{hints}"\n'
                     f"root_hints_port = {hints_port}\nquery_private = true\ndo_ip6 = false\n"
                     "dnssec = false\n")  # the lab's root is unsigned: no root trust anchor
        self.conf = workdir / "resolver.toml"
        self.conf.write_text(self.base + extra)
        ready = (lambda s: wait_answering(s, "example.test.")) if wait else (lambda s: self.wait_log("serving", s))
        self.server = _start("resolver", [DNS_SUITE, "resolver", "--config", str(self.conf)], workdir,
                             HOST, self.port, ready)

    def wait_log(self, text: str, server: Server | None = None, count: int = 1, timeout: float = 10.0) -> None:
        server = server or self.server
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if server.log.read_text().count(text) >= count:
                return
            if server.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"{text!r} not logged {count} times:\n{server.log_text()}")

    def reload(self, extra: str, count: int) -> None:
        """Rewrite the config, SIGHUP, wait for the ``count``-th "reloaded"."""
        self.conf.write_text(self.base + extra)
        self.server.proc.send_signal(signal.SIGHUP)
        self.wait_log("reloaded", count=count)


@pytest.fixture
def resolver(lab, tmp_path):
    r = Resolver(lab, tmp_path)
    yield r
    r.server.stop()


def ask(port: int, name: str, qtype: str = "A", *, tool: str = "dig", tcp: bool = False) -> tuple[str, list[str]]:
    """``dig``/``kdig`` @127.0.0.1 -p PORT: (status, answer records as [name, type, rdata])."""
    argv = [tool, f"@{HOST}", "-p", str(port), name, qtype, "+time=5"]
    argv += ["+tries=1"] if tool == "dig" else ["+retry=0"]
    if tcp:
        argv.append("+tcp")
    out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
    status = re.search(r"status: (\w+)", out)
    assert status, f"{' '.join(argv)}: no reply:\n{out}"
    answer, inside = [], False
    for line in out.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            inside = True
        elif inside and (not line.strip() or line.startswith(";")):
            inside = False
        elif inside:
            fields = line.split(None, 4)
            answer.append(" ".join([fields[0].lower(), fields[3], fields[4]]))
    return status.group(1), answer


TOOLS = [("dig", False), ("dig", True), ("kdig", False), ("kdig", True)]
IDS = ["dig-udp", "dig-tcp", "kdig-udp", "kdig-tcp"]


@pytest.mark.parametrize(("tool", "tcp"), TOOLS, ids=IDS)
def test_answers_cname_and_nxdomain(resolver, tool: str, tcp: bool) -> None:
    port = resolver.port
    assert ask(port, "www.example.test", tool=tool, tcp=tcp) == ("NOERROR", ["www.example.test. A 192.0.2.80"])
    assert ask(port, "WWW.Example.Test", "AAAA", tool=tool, tcp=tcp)[1] == ["www.example.test. AAAA 2001:db8::80"]
    assert ask(port, "alias.example.test", tool=tool, tcp=tcp) == (
        "NOERROR", ["alias.example.test. CNAME www.example.test.", "www.example.test. A 192.0.2.80"])
    assert ask(port, "nope.example.test", tool=tool, tcp=tcp) == ("NXDOMAIN", [])
    assert ask(port, "nope.test", tool=tool, tcp=tcp) == ("NXDOMAIN", [])
    assert ask(port, "www.example.test", "MX", tool=tool, tcp=tcp) == ("NOERROR", [])  # NODATA


def test_big_answer_comes_over_tcp_upstream(resolver) -> None:
    status, answer = ask(resolver.port, "big.example.test", "TXT", tcp=True)
    assert status == "NOERROR" and len(answer) == BIG_COUNT


def test_sighup_applies_allow_and_keeps_the_cache(lab, resolver) -> None:
    port = resolver.port
    assert ask(port, "www.example.test")[0] == "NOERROR"
    resolver.reload('allow = ["10.0.0.0/8"]\n', 1)  # 127.0.0.1 is not in it
    for tool, tcp in TOOLS:
        assert ask(port, "www.example.test", tool=tool, tcp=tcp) == ("REFUSED", [])
    resolver.reload("", 2)
    auth = lab[3][1].proc  # the example.test. server stops answering: the cache must do
    auth.send_signal(signal.SIGSTOP)
    try:
        assert ask(port, "www.example.test") == ("NOERROR", ["www.example.test. A 192.0.2.80"])
    finally:
        auth.send_signal(signal.SIGCONT)
    assert resolver.server.proc.poll() is None


def test_not_allowed_from_the_start(lab, tmp_path) -> None:
    r = Resolver(lab, tmp_path, 'allow = ["10.0.0.0/8", "::1"]\n', wait=False)
    try:
        assert ask(r.port, "www.example.test") == ("REFUSED", [])
        assert ask(r.port, "www.example.test", tool="kdig", tcp=True) == ("REFUSED", [])
    finally:
        r.server.stop()


def test_malformed_packets_then_a_valid_query(resolver) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2.0)
        for name, data, _ in malformed_corpus.MALFORMED:
            s.sendto(data, (HOST, resolver.port))
            if malformed_corpus.answerable(data):
                reply = s.recv(65535)
                assert reply[:2] == data[:2] and reply[3] & 0xF in (1, 4), name  # FORMERR, NOTIMP
        s.settimeout(0.5)
        for junk in (b"\x00" * 5, b"\x12\x34\x81\x80" + bytes(8)):  # short; a response (QR=1)
            s.sendto(junk, (HOST, resolver.port))
            with pytest.raises(socket.timeout):
                s.recv(65535)
    assert ask(resolver.port, "www.example.test")[0] == "NOERROR"
    assert resolver.server.proc.poll() is None


def test_sigterm_exits_zero(resolver) -> None:
    assert ask(resolver.port, "www.example.test")[0] == "NOERROR"
    resolver.server.proc.send_signal(signal.SIGTERM)
    assert resolver.server.proc.wait(10) == 0
    assert "stopped" in resolver.server.log_text()


def test_workers_share_the_port_and_stop_together(lab, tmp_path) -> None:
    r = Resolver(lab, tmp_path, extra="workers = 3\n")
    try:
        children = Path(f"/proc/{r.server.proc.pid}/task/{r.server.proc.pid}/children").read_text().split()
        assert len(children) == 3
        for i in range(12):  # the kernel spreads source ports over the workers: all must answer
            assert ask(r.port, "www.example.test", tcp=bool(i % 2))[0] == "NOERROR"
        r.server.proc.send_signal(signal.SIGTERM)
        assert r.server.proc.wait(10) == 0
        assert r.server.log_text().count("stopped") == 3
        assert not any(Path(f"/proc/{pid}").exists() for pid in children)
    finally:
        r.server.stop()
