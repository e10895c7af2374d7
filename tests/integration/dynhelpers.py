"""Shared code for the dynamic-zone integration tests (RFC 2136 UPDATE, RFC 8945 TSIG).

:class:`DynServer` runs ``dns-suite authoritative`` on 127.0.0.1 and a free port with a dynamic
zone (``dyn.test.``, with an update policy and TSIG keys) and a static one (``static.test.``, no
policy), in a fresh directory; it can stop it cleanly (SIGTERM), kill it (SIGKILL) and start it
again on the same files. Every wait is bounded in time; :meth:`DynServer.close` (called by the
fixtures in teardown) ends the whole process group.

Also here: signing UPDATEs by hand with dnspython at a chosen time (:func:`sign_wire`), checking
a reply's MAC independently of the server (:func:`reply_mac_ok`), running ``nsupdate`` and
``knsupdate`` and reading the reply's rcode and TSIG from their output (:func:`run_tool`), and
reading the zone through ``dig`` (:meth:`DynServer.dig`).
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
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
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig
import dns.update
import dns.zone

from peers import free_port

HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # seconds for the server to answer after start
STOP_TIMEOUT = 15.0  # seconds between SIGTERM and SIGKILL
TOOL_TIMEOUT = 30.0  # seconds for one nsupdate/knsupdate/dig run
DNS_SUITE = shutil.which("dns-suite") or "dns-suite"

ORIGIN = "dyn.test."
STATIC = "static.test."

ZONE_TEXT = """$ORIGIN dyn.test.
$TTL 300
@       SOA   ns hostmaster {serial} 3600 600 86400 60
@       NS    ns
ns      A     127.0.0.1
www     A     192.0.2.1
www     TXT   "www text"
"""

STATIC_TEXT = """$ORIGIN static.test.
$TTL 300
@       SOA   ns hostmaster {serial} 3600 600 86400 60
@       NS    ns
ns      A     127.0.0.1
www     A     198.51.100.{serial}
"""

HASHES = {"hmac-sha1": "sha1", "hmac-sha224": "sha224", "hmac-sha256": "sha256",
          "hmac-sha384": "sha384", "hmac-sha512": "sha512", "hmac-md5": "md5"}


class TestSetupError(RuntimeError):
    """The server or a tool could not be run (not a finding about the server)."""


def missing(*programs: str) -> list[str]:
    """Programs of ``programs`` that are not installed."""
    return [p for p in programs if shutil.which(p) is None]


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class Key:
    """A TSIG key as the tests use it: name and algorithm as text, secret as octets."""

    name: str
    algorithm: str
    secret: bytes

    @property
    def b64(self) -> str:
        return base64.b64encode(self.secret).decode()

    def dnspython(self) -> dns.tsig.Key:
        return dns.tsig.Key(self.name, self.secret, self.algorithm)

    def keyfile_text(self) -> str:
        """The key as a BIND key statement (what ``tsig-keygen`` writes)."""
        return f'key "{self.name}" {{\n\talgorithm {self.algorithm};\n\tsecret "{self.b64}";\n}};\n'

    def with_(self, *, name: str | None = None, algorithm: str | None = None,
              secret: bytes | None = None) -> Key:
        return Key(name or self.name, algorithm or self.algorithm,
                   self.secret if secret is None else secret)


def random_key(name: str, algorithm: str = "hmac-sha256") -> Key:
    size = 64 if algorithm in ("hmac-sha384", "hmac-sha512") else 32
    return Key(name, algorithm, os.urandom(size))


def parse_keyfile(path: Path) -> Key:
    """The first key of a BIND key file (as ``tsig-keygen`` writes it)."""
    text = path.read_text()
    match = re.search(r'key\s+"?([^"\s{]+)"?\s*\{\s*algorithm\s+"?([^";\s]+)"?\s*;\s*'
                      r'secret\s+"([^"]+)"\s*;', text)
    if match is None:
        raise TestSetupError(f"no key in {path}:\n{text}")
    return Key(match[1], match[2].lower(), base64.b64decode(match[3]))


def keygen(name: str, path: Path, algorithm: str = "hmac-sha256", *, bind: bool = True) -> Key:
    """Write a key file with BIND's ``tsig-keygen`` (when ``bind`` and installed) or with
    ``dns-suite tsig-keygen``; returns the key read back."""
    tool = shutil.which("tsig-keygen") if bind else None
    argv = [tool, "-a", algorithm, name] if tool else [DNS_SUITE, "tsig-keygen", "--algorithm",
                                                       algorithm, name]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    if done.returncode != 0:
        raise TestSetupError(f"{argv}: {done.stderr}")
    path.write_text(done.stdout)
    return parse_keyfile(path)


# --------------------------------------------------------------------------- hand-built TSIG


def sign_wire(unsigned: bytes, key: Key, *, when: int, fudge: int = 300, wire_name: str | None = None,
              wire_algorithm: str | None = None) -> tuple[bytes, bytes]:
    """Append a TSIG RR to ``unsigned`` (a message without TSIG), signed at ``when``.

    The MAC is computed by ``dns.tsig.sign`` over the canonical (lowercase) key and algorithm
    names (RFC 8945 §4.3.3); the RR written on the wire spells them ``wire_name`` /
    ``wire_algorithm`` (default: as in ``key``), so a test can send ``FULL-KEY.`` or
    ``HMAC-SHA256.`` with a correct MAC.

    Returns:
        ``(signed octets, mac)``.
    """
    original_id = struct.unpack_from("!H", unsigned, 0)[0]
    algorithm = dns.name.from_text(wire_algorithm or key.algorithm)
    rdata = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, algorithm, when, fudge,
                                      b"", original_id, 0, b"")
    signed_rdata, _ = dns.tsig.sign(unsigned, key.dnspython(), rdata, time=when)
    rd = signed_rdata.to_wire()
    owner = dns.name.from_text(wire_name or key.name).to_wire()
    rr = owner + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(rd)) + rd
    arcount = struct.unpack_from("!H", unsigned, 10)[0] + 1
    return unsigned[:10] + struct.pack("!H", arcount) + unsigned[12:] + rr, signed_rdata.mac


@dataclass(frozen=True, slots=True)
class Reply:
    """A reply as octets and decoded (TSIG not validated): rcode, TSIG error and MAC."""

    wire: bytes
    message: dns.message.Message

    @property
    def rcode(self) -> int:
        return self.message.rcode()

    @property
    def tsig(self):
        return self.message.tsig[0] if self.message.tsig else None

    @property
    def tsig_error(self) -> int | None:
        return self.tsig.error if self.tsig is not None else None

    @property
    def signed(self) -> bool:
        """A TSIG with a non-empty MAC (RFC 8945 §5.3.2: unsigned error replies have MAC size 0)."""
        return self.tsig is not None and len(self.tsig.mac) > 0


def decode_reply(wire: bytes) -> Reply:
    return Reply(wire, dns.message.from_wire(wire, keyring=False))


def reply_mac_ok(reply: Reply, key: Key, request_mac: bytes) -> bool:
    """Check a signed reply's MAC (RFC 8945 §4.3.3, §5.3), computed here with hmac, not dnspython."""
    tsig = reply.tsig
    if tsig is None or not tsig.mac:
        return False
    owner = reply.message.tsig.name
    rr_len = len(owner.to_wire()) + 10 + len(tsig.to_wire())
    start = len(reply.wire) - rr_len
    arcount = struct.unpack_from("!H", reply.wire, 10)[0] - 1
    unsigned = reply.wire[:10] + struct.pack("!H", arcount) + reply.wire[12:start]
    h = hmac.new(key.secret, digestmod=HASHES[key.algorithm.lower().rstrip(".")])
    h.update(struct.pack("!H", len(request_mac)) + request_mac)
    h.update(struct.pack("!H", tsig.original_id) + unsigned[2:])
    h.update(dns.name.from_text(key.name).to_digestable() + struct.pack("!HI", 255, 0))
    h.update(dns.name.from_text(key.algorithm).to_digestable())
    h.update(struct.pack("!HIH", tsig.time_signed >> 32, tsig.time_signed & 0xFFFFFFFF, tsig.fudge))
    h.update(struct.pack("!HH", tsig.error, len(tsig.other)) + tsig.other)
    return hmac.compare_digest(h.digest()[:len(tsig.mac)], tsig.mac)


def udp_exchange(port: int, wire: bytes, timeout: float = 3.0) -> bytes | None:
    """Send ``wire`` over UDP to 127.0.0.1:port; the reply with the same ID, or None on timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(wire, (HOST, port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(65535)
            except (socket.timeout, ConnectionRefusedError):
                return None
            if data[:2] == wire[:2]:
                return data
        return None


def tcp_exchange(port: int, wire: bytes, timeout: float = 3.0) -> bytes | None:
    """Send ``wire`` over TCP (RFC 7766 framing); the reply, or None when the connection fails."""
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(wire)) + wire)
            head = _recv_exact(s, 2)
            return _recv_exact(s, struct.unpack("!H", head)[0])
    except (OSError, EOFError):
        return None


def _recv_exact(s: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = s.recv(count - len(data))
        if not chunk:
            raise EOFError("connection closed")
        data += chunk
    return data


def make_update(zone: str = ORIGIN, *, adds=(), deletes=(), prereqs=()) -> dns.update.UpdateMessage:
    """An UPDATE: ``adds`` of ``(name, ttl, type, text)``, ``deletes`` of ``(name, type, text)``
    (one value, class NONE), ``prereqs`` as dnspython callables on the message."""
    upd = dns.update.UpdateMessage(zone)
    for name, ttl, rtype, text in adds:
        upd.add(name, ttl, rtype, text)
    for name, rtype, text in deletes:
        upd.delete(name, rtype, text)
    for prereq in prereqs:
        prereq(upd)
    return upd


# --------------------------------------------------------------------------- the server


@dataclass
class DynServer:
    """``dns-suite authoritative`` with ``dyn.test.`` (dynamic) and ``static.test.`` (no policy).

    Keys: ``full`` (grant zone, hmac-sha256, inline secret), ``acme`` (grant acme, from a BIND key
    file), ``sub`` (grant subdomain ``sub.dyn.test.``), ``sha1`` and ``sha512`` (grant zone),
    ``file`` (grant zone, BIND ``tsig-keygen`` key file), ``suitefile`` (grant zone, hmac-sha512,
    ``dns-suite tsig-keygen`` key file).
    """

    workdir: Path
    workers: int = 1
    flush_interval: float = 3600.0
    serial: int = 1
    serial_policy: str = "increment"
    port: int = 0
    proc: subprocess.Popen | None = None
    keys: dict[str, Key] = field(default_factory=dict)
    starts: int = 0

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.zone_path = self.workdir / "dyn.test.zone"
        self.static_path = self.workdir / "static.test.zone"
        self.zone_path.write_text(ZONE_TEXT.format(serial=self.serial))
        self.static_path.write_text(STATIC_TEXT.format(serial=1))
        self.journal_path = Path(str(self.zone_path) + ".jnl")
        self.conf = self.workdir / "auth.toml"
        self.log = self.workdir / "auth.log"
        self.socket_path = self.workdir / "ctl.sock"
        self.keys = {
            "full": random_key("full-key."),
            "sub": random_key("sub-key."),
            "sha1": random_key("sha1-key.", "hmac-sha1"),
            "sha512": random_key("sha512-key.", "hmac-sha512"),
            "acme": keygen("acme-key.", self.workdir / "acme.key"),
            "file": keygen("file-key.", self.workdir / "file.key"),
            "suitefile": keygen("suite-key.", self.workdir / "suite.key", "hmac-sha512", bind=False),
        }
        self.write_config()

    def write_config(self) -> None:
        k = self.keys
        inline = "".join(
            f'[[authoritative.keys]]\nname = "{k[n].name}"\nalgorithm = "{k[n].algorithm}"\n'
            f'secret = "{k[n].b64}"\n' for n in ("full", "sub", "sha1", "sha512"))
        files = "".join(f'[[authoritative.keys]]\nname = "{k[n].name}"\nfile = "{f}"\n'
                        for n, f in (("acme", "acme.key"), ("file", "file.key"), ("suitefile", "suite.key")))
        policy = ", ".join([
            f'{{key = "{k["full"].name}", grant = "zone"}}',
            f'{{key = "{k["acme"].name}", grant = "acme"}}',
            f'{{key = "{k["sub"].name}", grant = "subdomain", name = "sub.dyn.test."}}',
            f'{{key = "{k["sha1"].name}", grant = "zone"}}',
            f'{{key = "{k["sha512"].name}", grant = "zone"}}',
            f'{{key = "{k["file"].name}", grant = "zone"}}',
            f'{{key = "{k["suitefile"].name}", grant = "zone"}}',
        ])
        self.conf.write_text(
            "[authoritative]\n"
            f'listen = ["{HOST}:{self.port}"]\n'
            f"workers = {self.workers}\n"
            f"flush_interval = {self.flush_interval}\n"
            f'control_socket = "ctl.sock"\n'
            + inline + files
            + f'[[authoritative.zones]]\norigin = "{ORIGIN}"\nfile = "dyn.test.zone"\n'
              f'serial_policy = "{self.serial_policy}"\nnotify_ns = false\nupdate_policy = [{policy}]\n'
            + f'[[authoritative.zones]]\norigin = "{STATIC}"\nfile = "static.test.zone"\nnotify_ns = false\n')

    # --- lifecycle ---------------------------------------------------------------------------
    def spawn(self) -> None:
        """Start the server process without waiting for it."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        with open(self.log, "ab") as out:
            out.write(f"--- start {self.starts}\n".encode())
            out.flush()
            self.proc = subprocess.Popen([DNS_SUITE, "authoritative", "--config", str(self.conf)],
                                         stdout=subprocess.DEVNULL, stderr=out, stdin=subprocess.DEVNULL,
                                         cwd=self.workdir, start_new_session=True)
        self.starts += 1

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server and wait (bounded) until it answers SOA over UDP and TCP."""
        self.spawn()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        query = dns.message.make_query(ORIGIN, "SOA").to_wire()
        while True:
            if self.proc.poll() is not None:
                raise TestSetupError(f"dns-suite exited with {self.proc.returncode}:\n{self.log_tail()}")
            reply = udp_exchange(self.port, query, timeout=0.2)
            if reply is not None and dns.message.from_wire(reply).answer:
                if tcp_exchange(self.port, query, timeout=1.0) is not None:
                    return
            if time.monotonic() > deadline:
                self.close()
                raise TestSetupError(f"dns-suite did not answer within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> int:
        """SIGTERM (the clean stop: zone files flushed); SIGKILL after STOP_TIMEOUT. Exit code."""
        code = 0
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)
                code = -9
        self._killpg()
        return code

    def kill(self) -> None:
        """SIGKILL the control process and whatever is left in its process group (workers)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(STOP_TIMEOUT)
        self._killpg()

    def _killpg(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        """Teardown: stop if running, then make sure nothing of the group is left."""
        try:
            self.stop()
        finally:
            self._killpg()

    def restart(self, *, kill: bool = False) -> None:
        self.kill() if kill else self.stop()
        self.start()

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_text()[-chars:]

    # --- queries -----------------------------------------------------------------------------
    def query(self, name: str, rtype: str = "A", *, tcp: bool = False,
              timeout: float = 2.0) -> dns.message.Message:
        q = dns.message.make_query(name, rtype)
        if tcp:
            return dns.query.tcp(q, HOST, port=self.port, timeout=timeout)
        # UDP clients retry: a query queued in a retired worker's socket is dropped when a new
        # worker set takes over (a loss, never a stale answer -- which is what tests assert)
        for _ in range(2):
            try:
                return dns.query.udp(q, HOST, port=self.port, timeout=0.5)
            except dns.exception.Timeout:
                pass
        return dns.query.udp(q, HOST, port=self.port, timeout=timeout)

    def values(self, name: str, rtype: str) -> tuple[int, frozenset[str]]:
        """``(rcode, rdata texts)`` for ``name``/``rtype`` over UDP (dnspython)."""
        reply = self.query(name, rtype)
        texts = {rd.to_text() for rrset in reply.answer
                 if rrset.rdtype == dns.rdatatype.from_text(rtype) for rd in rrset}
        return reply.rcode(), frozenset(texts)

    def soa_serial(self, zone: str = ORIGIN) -> int:
        reply = self.query(zone, "SOA")
        return reply.answer[0][0].serial

    def dig(self, name: str, rtype: str) -> tuple[str, frozenset[str]]:
        """``(status, rdata texts)`` as ``dig`` prints them (no recursion desired)."""
        argv = ["dig", f"@{HOST}", "-p", str(self.port), "+norec", "+noall", "+comments", "+answer",
                "+tries=2", "+time=2", name, rtype]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        status = re.search(r"status: ([A-Z]+)", done.stdout)
        if status is None:
            raise TestSetupError(f"dig gave no header: {done.stdout}{done.stderr}")
        values = set()
        for line in done.stdout.splitlines():
            if not line or line.startswith(";"):
                continue
            parts = line.split(None, 4)
            if len(parts) == 5 and parts[3] == rtype and parts[0].lower() == name.lower():
                values.add(parts[4])
        return status[1], frozenset(values)

    def dig_many(self, queries: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, frozenset[str]]]:
        """Ask ``dig`` every ``(name, type)`` of ``queries`` in one run; ``{query: (status, rdatas)}``."""
        argv = ["dig", f"@{HOST}", "-p", str(self.port), "+norec", "+noall", "+comments", "+answer",
                "+tries=3", "+time=2"]
        for name, rtype in queries:
            argv += [name, rtype]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT * 3)
        blocks = done.stdout.split(";; Got answer:")[1:]
        if len(blocks) != len(queries):
            raise TestSetupError(f"dig answered {len(blocks)} of {len(queries)} queries:\n"
                                 f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
        out = {}
        for (name, rtype), block in zip(queries, blocks):
            status = re.search(r"status: ([A-Z]+)", block)
            values = set()
            for line in block.splitlines():
                if not line or line.startswith(";"):
                    continue
                parts = line.split(None, 4)
                if len(parts) == 5 and parts[3] == rtype and parts[0].lower() == name.lower():
                    values.add(parts[4])
            out[(name, rtype)] = (status[1] if status else "?", frozenset(values))
        return out

    def send(self, upd: dns.message.Message, key: Key | None = None, *, tcp: bool = False,
             when: int | None = None, timeout: float = 3.0) -> Reply | None:
        """Sign ``upd`` with ``key`` (now, or at ``when``) and send it; the decoded reply or None."""
        wire, _ = self.send_signed(upd, key, tcp=tcp, when=when, timeout=timeout)
        return wire

    def send_signed(self, upd: dns.message.Message | bytes, key: Key | None, *, tcp: bool = False,
                    when: int | None = None, timeout: float = 3.0, **sign_kw) -> tuple[Reply | None, bytes]:
        wire, mac = (upd if isinstance(upd, bytes) else upd.to_wire()), b""
        if key is not None:
            wire, mac = sign_wire(wire, key, when=int(time.time()) if when is None else when, **sign_kw)
        exchange = tcp_exchange if tcp else udp_exchange
        data = exchange(self.port, wire, timeout)
        return (decode_reply(data) if data is not None else None), mac

    # --- ctl -----------------------------------------------------------------------------------
    def ctl(self, command: str, zone: str | None = None) -> tuple[int, object, str]:
        """``dns-suite ctl --config FILE COMMAND [ZONE]``: exit code, JSON result (or None), stderr."""
        argv = [DNS_SUITE, "ctl", "--config", str(self.conf), command] + ([zone] if zone else [])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
        try:
            result = json.loads(done.stdout) if done.stdout.strip() else None
        except ValueError:
            result = None
        return done.returncode, result, done.stderr

    # --- the zone file -------------------------------------------------------------------------
    def file_records(self) -> dict[tuple[str, str], frozenset[str]]:
        """The zone file as ``{(owner, type): rdata texts}`` (dnspython parses it), SOA included."""
        return zone_records(self.zone_path, ORIGIN)


def zone_records(path: Path, origin: str) -> dict[tuple[str, str], frozenset[str]]:
    zone = dns.zone.from_file(str(path), origin=origin, relativize=False, check_origin=True)
    out: dict[tuple[str, str], frozenset[str]] = {}
    for name, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            key = (name.to_text().lower(), dns.rdatatype.to_text(rdataset.rdtype))
            out[key] = frozenset(rd.to_text() for rd in rdataset)
    return out


# --------------------------------------------------------------------------- nsupdate / knsupdate


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool showed of the reply: header status, TSIG error name and MAC size (None when
    the reply had no TSIG); ``status`` is None when no reply was shown."""

    status: str | None
    tsig_error: str | None
    mac_size: int | None
    returncode: int
    output: str


# TSIG ALGORITHM TIME FUDGE MACSIZE [MAC, base64, which nsupdate may break with a space] ID ERROR OTHERLEN
_TSIG_LINE = re.compile(r"\bTSIG[ \t]+(\S+)[ \t]+(\d+)[ \t]+(\d+)[ \t]+(\d+)[ \t]+([^\n]*?)[ \t]*(\d+)[ \t]+"
                        r"([A-Z0-9]+)[ \t]+(\d+)[ \t]*$", re.M)
TOOLS = ("nsupdate-y", "nsupdate-k", "knsupdate")


def run_tool(tool: str, port: int, commands: list[str], key: Key | None, workdir: Path,
             keyfile: Path | None = None) -> ToolResult:
    """Run ``nsupdate -y``, ``nsupdate -k FILE`` or ``knsupdate -y`` with ``commands``
    (``zone``/``prereq``/``update`` lines; ``server`` and ``send`` are added).

    nsupdate runs with ``-d``, which prints the reply (header and TSIG pseudo-section) to stderr
    after "Reply from update query:"; knsupdate prints the reply on failure and, after
    ``answer``, on success. knsupdate shows a TSIG error (BADSIG...) as the header status.
    """
    script = [f"server {HOST} {port}"] + commands + ["send", "answer"]
    if tool.startswith("nsupdate"):
        script.insert(0, "check-names no")  # or nsupdate itself refuses an A at _acme-challenge
        argv = ["nsupdate", "-d", "-t", "6", "-u", "2", "-r", "1"]
        if key is not None and tool == "nsupdate-y":
            argv += ["-y", f"{key.algorithm}:{key.name}:{key.b64}"]
        elif key is not None:
            path = keyfile
            if path is None:
                path = workdir / f"k{abs(hash((key.name, key.algorithm, key.secret)))}.key"
                path.write_text(key.keyfile_text())
            argv += ["-k", str(path)]
    elif tool == "knsupdate":
        argv = ["knsupdate", "-t", "3", "-r", "1"]
        if key is not None:
            argv += ["-y", f"{key.algorithm}:{key.name}:{key.b64}"]
    else:
        raise ValueError(tool)
    done = subprocess.run(argv, input="\n".join(script) + "\n", capture_output=True, text=True,
                          timeout=TOOL_TIMEOUT)
    out = done.stdout + "\n" + done.stderr
    if tool.startswith("nsupdate"):
        _, sep, shown = done.stderr.rpartition("Reply from update query:")
        shown = shown if sep else ""
    else:
        shown = done.stdout
    status = re.findall(r"->>HEADER<<- opcode: UPDATE[;,] status: ([A-Z0-9]+)", shown)
    tsig = _TSIG_LINE.findall(shown)
    return ToolResult(status=status[-1] if status else None,
                      tsig_error=tsig[-1][6] if tsig else None,
                      mac_size=int(tsig[-1][3]) if tsig else None,
                      returncode=done.returncode, output=out)
