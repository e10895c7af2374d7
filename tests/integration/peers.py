"""Real DNS servers on loopback for the integration tests: NSD, Knot, ``dns-suite authoritative``.

Each ``start_*`` writes its configuration into a fresh directory, starts the server in the
foreground as a child process on 127.0.0.1 and a free port, and returns once the server answers
a SOA query for the first zone (bounded by ``timeout`` seconds). :meth:`Server.stop` ends the
process (SIGTERM, then SIGKILL) and is safe to call twice; fixtures call it in teardown.

Also here: small raw-socket clients (:func:`udp_exchange`, :class:`TcpClient`) that the
differential test uses to send thousands of queries quickly.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import struct
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message

HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # seconds for a server to start answering
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL

NSD = shutil.which("nsd") or "/usr/sbin/nsd"
NSD_CHECKZONE = shutil.which("nsd-checkzone") or "/usr/sbin/nsd-checkzone"
KNOTD = shutil.which("knotd") or "/usr/sbin/knotd"
DNS_SUITE = shutil.which("dns-suite") or "dns-suite"


class PeerError(RuntimeError):
    """A peer did not start, or stopped on its own."""


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """A zone served in a test: its origin (absolute, with the final dot) and its file."""

    origin: str
    path: Path


@dataclass(slots=True)
class Server:
    """A running server: name, address and the process behind it."""

    name: str
    host: str
    port: int
    proc: subprocess.Popen
    workdir: Path
    log: Path
    _stopped: bool = field(default=False)

    @property
    def addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        """SIGTERM, wait up to STOP_TIMEOUT seconds, then SIGKILL (also to anything left in the
        process group the server was started in); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
        try:  # children left behind (NSD's server process, UDP workers): the session we made
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def free_port() -> int:
    """A port free on 127.0.0.1 for both UDP and TCP (as of now)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((HOST, 0))
            port = u.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((HOST, port))
                except OSError:
                    continue
                return port
    raise PeerError("no free port found")


def check_zone_nsd(zone: ZoneSpec) -> str:
    """Run nsd-checkzone; returns its output, raises PeerError when the zone is refused."""
    done = subprocess.run([NSD_CHECKZONE, zone.origin, str(zone.path)], capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        raise PeerError(f"nsd-checkzone {zone.origin} {zone.path}: {done.stdout}{done.stderr}")
    return done.stdout + done.stderr


HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ZONES = HERE / "zones"

# The example zone shipped with the project, and one zone per named case of issue 3 (plus the
# truncation and CNAME-chain zones); each file's header comment says what it exercises.
CASE_ZONES = [
    ZoneSpec("example.test.", REPO / "zones" / "example.test.zone"),
    ZoneSpec("example.org.", ZONES / "example.org.zone"),
    ZoneSpec("fstar.test.", ZONES / "fstar.test.zone"),
    ZoneSpec("campus.test.", ZONES / "campus.test.zone"),
    ZoneSpec("example.", ZONES / "example.zone"),
    ZoneSpec("deleg.test.", ZONES / "deleg.test.zone"),
    ZoneSpec("glue.test.", ZONES / "glue.test.zone"),
    ZoneSpec("trunc.test.", ZONES / "trunc.test.zone"),
    ZoneSpec("chain.test.", ZONES / "chain.test.zone"),
]


def missing(*programs: str) -> list[str]:
    """The programs of ``programs`` that are not installed (a test fails on any)."""
    return [p for p in programs if shutil.which(p) is None and not Path(p).exists()]


# --- starting and waiting --------------------------------------------------------------------

def _spawn(name: str, argv: list[str], workdir: Path, port: int, probe: str,
           timeout: float) -> Server:
    log = workdir / f"{name}.out"
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    server = Server(name=name, host=HOST, port=port, proc=proc, workdir=workdir, log=log)
    try:
        wait_answering(server, probe, timeout)
    except BaseException:
        server.stop()
        raise
    return server


def wait_answering(server: Server, qname: str, timeout: float = START_TIMEOUT) -> None:
    """Poll ``server`` with SOA ``qname`` over UDP and TCP until both answer; bounded in time."""
    deadline = time.monotonic() + timeout
    query = dns.message.make_query(qname, "SOA").to_wire()
    while True:
        if server.proc.poll() is not None:
            raise PeerError(f"{server.name} exited with {server.proc.returncode}:\n"
                            f"{server.log_text()}")
        try:
            reply = udp_exchange(server.addr, query, timeout=0.3)
            if reply is not None and dns.message.from_wire(reply).answer:
                with TcpClient(server.addr, timeout=1.0) as tcp:
                    if tcp.exchange(query) is not None:
                        return
        except (OSError, dns.exception.DNSException):
            pass
        if time.monotonic() > deadline:
            raise PeerError(f"{server.name} did not answer SOA {qname} within {timeout} s:\n"
                            f"{server.log_text()}")
        time.sleep(0.1)


def start_nsd(zones: list[ZoneSpec], workdir: Path, timeout: float = START_TIMEOUT) -> Server:
    """NSD in the foreground (``nsd -d``) with the test configuration of issue 3."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "nsd.conf"
    lines = [
        "server:",
        f"    ip-address: {HOST}@{port}",
        f"    port: {port}",
        '    username: ""',
        '    chroot: ""',
        f'    zonesdir: "{workdir}"',
        f'    pidfile: "{workdir}/nsd.pid"',
        f'    xfrdfile: "{workdir}/xfrd.state"',
        f'    xfrdir: "{workdir}"',
        f'    zonelistfile: "{workdir}/zone.list"',
        '    database: ""',
        f'    logfile: "{workdir}/nsd.log"',
        "    verbosity: 1",
        "    server-count: 1",
        "    tcp-count: 100",
        "    tcp-query-count: 0",
        "    tcp-timeout: 120",
        "    rrl-ratelimit: 0",
        "    rrl-whitelist-ratelimit: 0",
        "    minimal-responses: yes",
        "    hide-version: yes",
        "    hide-identity: yes",
        "    refuse-any: no",
        "remote-control:",
        "    control-enable: no",
    ]
    for z in zones:
        lines += ["zone:", f'    name: "{z.origin}"', f'    zonefile: "{z.path.resolve()}"']
    conf.write_text("\n".join(lines) + "\n")
    return _spawn("nsd", [NSD, "-d", "-c", str(conf)], workdir, port, zones[0].origin, timeout)


def start_knot(zones: list[ZoneSpec], workdir: Path, timeout: float = START_TIMEOUT) -> Server:
    """Knot DNS in the foreground (``knotd -c``): zone files loaded whole, never written."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    conf = workdir / "knot.conf"
    lines = [
        "server:",
        f'    rundir: "{workdir}"',
        f"    listen: {HOST}@{port}",
        f'    pidfile: "{workdir}/knot.pid"',
        "    udp-workers: 1",
        "    tcp-workers: 1",
        "    background-workers: 1",
        "log:",
        "  - target: stderr",
        "    any: warning",
        "database:",
        f'    storage: "{workdir}/db"',
        "control:",
        f'    listen: "{workdir}/knot.sock"',
        "template:",
        "  - id: default",
        f'    storage: "{workdir}"',
        "    zonefile-load: whole",
        "    zonefile-sync: -1",
        "    journal-content: none",
        "    semantic-checks: off",
        "zone:",
    ]
    for z in zones:
        lines += [f'  - domain: "{z.origin}"', f'    file: "{z.path.resolve()}"']
    conf.write_text("\n".join(lines) + "\n")
    return _spawn("knot", [KNOTD, "-c", str(conf)], workdir, port, zones[0].origin, timeout)


def start_ours(zones: list[ZoneSpec], workdir: Path, timeout: float = START_TIMEOUT,
               workers: int = 1) -> Server:
    """``dns-suite authoritative --zone ORIGIN=FILE ... --listen 127.0.0.1:PORT``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    argv = [DNS_SUITE, "authoritative"]
    for z in zones:
        argv += ["--zone", f"{z.origin}={z.path.resolve()}"]
    argv += ["--listen", f"{HOST}:{port}", "--workers", str(workers)]
    (workdir / "argv.txt").write_text(" ".join(argv) + "\n")
    return _spawn("dns-suite", argv, workdir, port, zones[0].origin, timeout)


# --- clients ---------------------------------------------------------------------------------

def udp_exchange(addr: tuple[str, int], wire: bytes, timeout: float = 2.0,
                 sock: socket.socket | None = None) -> bytes | None:
    """Send ``wire`` over UDP and return the reply with the same ID, or None on timeout."""
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(wire, addr)
        deadline = time.monotonic() + timeout
        while True:
            try:
                data, peer = s.recvfrom(65535)
            except socket.timeout:
                return None
            if peer == addr and data[:2] == wire[:2]:
                return data
            if time.monotonic() > deadline:
                return None
    finally:
        if own:
            s.close()


class TcpClient:
    """One TCP connection (RFC 7766 framing); reconnects once when the peer closed it."""

    def __init__(self, addr: tuple[str, int], timeout: float = 5.0) -> None:
        self.addr = addr
        self.timeout = timeout
        self.sock: socket.socket | None = None

    def __enter__(self) -> TcpClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def _connect(self) -> socket.socket:
        s = socket.create_connection(self.addr, timeout=self.timeout)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return s

    def _recv_exact(self, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("peer closed the connection")
            buf += chunk
        return buf

    def exchange(self, wire: bytes) -> bytes | None:
        """Send one query and read one reply; None when none came within the timeout."""
        for attempt in range(2):
            if self.sock is None:
                self.sock = self._connect()
            try:
                self.sock.sendall(struct.pack("!H", len(wire)) + wire)
                (length,) = struct.unpack("!H", self._recv_exact(2))
                return self._recv_exact(length)
            except socket.timeout:
                self.close()
                return None
            except (ConnectionError, OSError):
                self.close()
                if attempt:
                    raise
        return None


def kill_all(servers: list[Server]) -> None:
    """Stop every server, even when one of the stops fails."""
    errors = []
    for s in servers:
        try:
            s.stop()
        except Exception as exc:  # keep stopping the others
            errors.append(exc)
    if errors:
        raise errors[0]


__all__ = ["CASE_ZONES", "HOST", "REPO", "ZONES", "missing", "PeerError", "Server", "TcpClient",
           "ZoneSpec", "check_zone_nsd", "free_port",
           "kill_all", "start_knot", "start_nsd", "start_ours", "udp_exchange",
           "wait_answering"]
