"""Zone transfers out of ``dns-suite authoritative`` to real secondaries, on loopback (helpers).

:class:`Primary` runs dns-suite with one dynamic zone (an ``update_policy`` for an UPDATE key, a
journal, ``allow_transfer`` and ``also_notify``) and optionally more zones; :class:`NsdSecondary`
and :class:`KnotSecondary` run NSD and Knot as its secondaries (``request-xfr``/``master`` with a
TSIG key, NOTIFY allowed from the primary with that key, a control socket for forcing a refresh,
AXFR out to 127.0.0.1 with the key so the tests can read their copy back). Every server runs in
its own session on 127.0.0.1 and a free port; :meth:`Server.stop` (peers.py) ends it in teardown.
NOTIFY to the zone's NS addresses is switched off (``notify_ns = false``): the only NOTIFY
targets are the secondaries' loopback ports.

Also here: TSIG keys in every format the peers want (:class:`Key`), AXFR/IXFR and UPDATE clients
built on dnspython (:func:`axfr`, :func:`ixfr`, :func:`update`), the record set compared between
servers (:func:`records`), bounded polling (:func:`wait_for`), and ``dig``/``kdig`` runners;
checks the transfer tests share: ``kdig axfr`` with TSIG (:func:`kdig_axfr`) and a cheap comparison
of large zones (:func:`canonical_axfr`, :func:`digest`), and the proof that a change reached a
secondary by IXFR (:func:`secondary_ixfr_evidence`).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.update
import dns.xfr
import dns.zone
import pytest

from peers import HOST, NSD, KNOTD, DNS_SUITE, PeerError, Server, free_port, missing, udp_exchange

KNOTC = shutil.which("knotc") or "/usr/sbin/knotc"
NSD_CONTROL = shutil.which("nsd-control") or "/usr/sbin/nsd-control"
START_TIMEOUT = 30.0  # seconds for a server to start answering
TOOL_TIMEOUT = 60.0  # seconds for one dig/kdig/nsupdate/knotc run

DNSPY_ALG = {"hmac-sha256": dns.tsig.HMAC_SHA256, "hmac-sha512": dns.tsig.HMAC_SHA512,
             "hmac-sha1": dns.tsig.HMAC_SHA1}

Record = tuple[str, str, int, str]  # (owner lowercased, type, ttl, rdata text)


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True, slots=True)
class Key:
    """A TSIG key: ``name`` absolute (with the final dot), ``secret`` in base64."""

    name: str
    algorithm: str
    secret: str

    @classmethod
    def new(cls, name: str, algorithm: str = "hmac-sha256") -> Key:
        size = 64 if algorithm == "hmac-sha512" else 32
        return cls(name, algorithm, base64.b64encode(secrets.token_bytes(size)).decode())

    @property
    def bare(self) -> str:
        return self.name.rstrip(".")

    def keyring(self) -> dict:
        return {dns.name.from_text(self.name): dns.tsig.Key(self.name, self.secret, DNSPY_ALG[self.algorithm])}

    def dig_arg(self) -> str:
        """``-y`` argument of dig and kdig."""
        return f"{self.algorithm}:{self.name}:{self.secret}"

    def bind_file(self) -> str:
        """The key as ``tsig-keygen`` writes it (nsupdate -k, dns-suite ``file =``)."""
        return f'key "{self.name}" {{\n\talgorithm {self.algorithm};\n\tsecret "{self.secret}";\n}};\n'

    def toml(self) -> str:
        return (f'[[authoritative.keys]]\nname = "{self.name}"\nalgorithm = "{self.algorithm}"\n'
                f'secret = "{self.secret}"\n')


# --------------------------------------------------------------------------- waiting and processes


def wait_for(what: str, check: Callable[[], object], timeout: float, servers: Iterable[Server] = (),
             interval: float = 0.1):
    """Poll ``check()`` until it returns something truthy (returned); bounded by ``timeout``.

    Raises:
        PeerError: the time ran out or one of ``servers`` exited; names ``what`` and shows logs.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        for s in servers:
            if s.proc.poll() is not None:
                raise PeerError(f"{s.name} exited ({s.proc.returncode}) while waiting for {what}:\n"
                                f"{s.log_text()}")
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {s.name} ---\n{s.log_text()}" for s in servers)
            raise PeerError(f"timed out after {timeout} s waiting for {what}\n{logs}")
        time.sleep(interval)


def spawn(name: str, argv: list[str], workdir: Path, port: int, log: Path | None = None) -> Server:
    """Start ``argv`` in a new session with stdout/stderr to a file (not waited on)."""
    log = log or workdir / f"{name}.out"
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(name=name, host=HOST, port=port, proc=proc, workdir=workdir, log=log)


def soa_serial(addr: tuple[str, int], origin: str, timeout: float = 0.5) -> int | None:
    """The SOA serial ``addr`` answers for ``origin`` over UDP (None: no answer or no SOA)."""
    q = dns.message.make_query(origin, "SOA")
    try:
        wire = udp_exchange(addr, q.to_wire(), timeout=timeout)
        if wire is None:
            return None
        r = dns.message.from_wire(wire)
    except (OSError, dns.exception.DNSException):
        return None
    if r.rcode() != dns.rcode.NOERROR or not (r.flags & dns.flags.AA):
        return None
    for rrset in r.answer:
        if rrset.rdtype == dns.rdatatype.SOA:
            return rrset[0].serial
    return None


def wait_serial(server: Server, origin: str, serial: int, timeout: float = 30.0,
                others: Iterable[Server] = ()) -> None:
    """Wait until ``server`` answers ``origin`` SOA with ``serial`` (bounded)."""
    wait_for(f"{server.name} to serve {origin} serial {serial}",
             lambda: soa_serial(server.addr, origin) == serial, timeout, [server, *others])


# --------------------------------------------------------------------------- clients


def records_of_zone(zone: dns.zone.Zone) -> set[Record]:
    """Every RR of a dnspython zone as ``(owner lowercased, type, ttl, rdata text)``."""
    out = set()
    for name, node in zone.nodes.items():
        owner = name.derelativize(zone.origin).to_text().lower()
        for rdataset in node.rdatasets:
            for rd in rdataset:
                out.add((owner, dns.rdatatype.to_text(rdataset.rdtype), rdataset.ttl,
                         rd.to_text(origin=zone.origin, relativize=False)))
    return out


def records(text: str, origin: str) -> set[Record]:
    """The records of a zone file's text, the same way."""
    return records_of_zone(dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False))


def axfr(addr: tuple[str, int], origin: str, key: Key | None = None, timeout: float = 60.0) -> set[Record]:
    """AXFR ``origin`` from ``addr`` with dnspython's transfer client (TSIG verified on every
    message when ``key`` is given); returns the records."""
    zone = dns.zone.Zone(origin, relativize=False)
    query = dns.message.make_query(origin, "AXFR")
    if key is not None:
        query.use_tsig(key.keyring(), keyname=key.name, algorithm=DNSPY_ALG[key.algorithm])
    dns.query.inbound_xfr(addr[0], zone, query, port=addr[1], timeout=timeout, lifetime=timeout)
    return records_of_zone(zone)


def xfr_messages(addr: tuple[str, int], origin: str, rdtype: str, key: Key | None = None,
                 serial: int | None = None, timeout: float = 30.0,
                 source: str | None = None) -> list[dns.message.Message]:
    """The raw messages of an AXFR/IXFR over TCP, each RR on its own (``one_rr_per_rrset``),
    TSIG checked on every message; reads until the closing SOA (RFC 5936 §2.2, RFC 1995 §4:
    after the first SOA, SOAs come in pairs (old, new) and the transfer ends where an old SOA
    would stand and the first SOA's serial appears instead), or an error rcode."""
    q = dns.message.make_query(origin, rdtype)
    if serial is not None:
        rd = dns.rdata.from_text("IN", "SOA", f". . {serial} 0 0 0 0")
        q.authority.append(dns.rrset.from_rdata(origin, 0, rd))
    if key is not None:
        q.use_tsig(key.keyring(), keyname=key.name, algorithm=DNSPY_ALG[key.algorithm])
    out, ctx, soas, first = [], None, 0, None
    src = (source, 0) if source else None
    with socket.create_connection(addr, timeout=timeout, source_address=src) as s:
        wire = q.to_wire()
        s.sendall(len(wire).to_bytes(2, "big") + wire)
        while True:
            length = int.from_bytes(_recv(s, 2), "big")
            m = dns.message.from_wire(_recv(s, length), keyring=key.keyring() if key else None,
                                      request_mac=q.mac if key else b"", xfr=True, tsig_ctx=ctx,
                                      multi=True, one_rr_per_rrset=True)
            ctx = m.tsig_ctx
            out.append(m)
            if m.rcode() != dns.rcode.NOERROR:
                return out
            done = False
            for rrset in m.answer:
                if rrset.rdtype != dns.rdatatype.SOA:
                    continue
                soas += 1
                if first is None:
                    first = rrset[0].serial
                elif soas % 2 == 0 and rrset[0].serial == first:
                    done = True
            if done:
                return out
            if rdtype == "IXFR" and soas == 1 and len(out) == 1 and len(m.answer) == 1:
                return out  # the single SOA: the client is current


def _recv(s: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection mid-transfer")
        buf += chunk
    return buf


def rr_stream(messages: list[dns.message.Message]) -> list[tuple[str, str]]:
    """The answer RRs of a transfer in order as ``(type, text)``; SOAs as ``SOA <serial>``."""
    out = []
    for m in messages:
        for rrset in m.answer:
            for rd in rrset:
                t = dns.rdatatype.to_text(rrset.rdtype)
                out.append((t, f"SOA {rd.serial}" if t == "SOA" else
                            f"{rrset.name.to_text().lower()} {rrset.ttl} {t} {rd.to_text()}"))
    return out


def update(addr: tuple[str, int], origin: str, key: Key, ops: list[tuple], timeout: float = 10.0) -> int:
    """Send a TSIG-signed RFC 2136 UPDATE over TCP; ``ops`` are ``(method, *args)`` of
    ``dns.update.UpdateMessage`` (``("add", "www", 300, "A", "192.0.2.1")``). Returns the rcode."""
    up = dns.update.UpdateMessage(origin, keyring=key.keyring(), keyname=key.name,
                                  keyalgorithm=DNSPY_ALG[key.algorithm])
    for method, *args in ops:
        getattr(up, method)(*args)
    return dns.query.tcp(up, addr[0], port=addr[1], timeout=timeout).rcode()


def run_tool(argv: list[str], stdin: str | None = None,
             timeout: float = TOOL_TIMEOUT) -> subprocess.CompletedProcess:
    """Run a client tool with a bounded time; never raises on a non-zero exit."""
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)


def nsupdate(addr: tuple[str, int], key_file: Path, origin: str, lines: list[str]) -> subprocess.CompletedProcess:
    """``nsupdate -k KEYFILE`` over TCP (``-v``) with the given update lines, then ``send``."""
    script = "\n".join([f"server {addr[0]} {addr[1]}", f"zone {origin}", *lines, "send", "answer", ""])
    return run_tool(["nsupdate", "-v", "-k", str(key_file)], stdin=script)


# --------------------------------------------------------------------------- dns-suite primary


@dataclass(frozen=True, slots=True)
class PrimaryZone:
    """A zone the primary serves: ``update_key`` makes it dynamic (journaled)."""

    origin: str
    text: str
    allow_transfer: tuple[str, ...] = ()
    also_notify: tuple[str, ...] = ()
    update_key: Key | None = None


class Primary:
    """``dns-suite authoritative --config FILE`` on 127.0.0.1 and a (given or free) port."""

    def __init__(self, workdir: Path, zones: list[PrimaryZone], keys: list[Key], port: int | None = None,
                 workers: int = 1) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = port or free_port()
        self.zones = zones
        lines = ["[authoritative]", f'listen = ["{HOST}:{self.port}"]', f"workers = {workers}",
                 'control_socket = "ctl.sock"', "flush_interval = 3600.0", ""]
        for key in keys:
            lines.append(key.toml())
        for z in zones:
            path = workdir / f"{z.origin}zone"
            path.write_text(z.text)
            lines += ["[[authoritative.zones]]", f'origin = "{z.origin}"', f'file = "{path.name}"',
                      "notify_ns = false",
                      "allow_transfer = [" + ", ".join(f'"{a}"' for a in z.allow_transfer) + "]",
                      "also_notify = [" + ", ".join(f'"{a}"' for a in z.also_notify) + "]"]
            if z.update_key is not None:
                lines.append(f'update_policy = [{{key = "{z.update_key.name}", grant = "zone"}}]')
            lines.append("")
        self.conf = workdir / "auth.toml"
        self.conf.write_text("\n".join(lines))
        self.server: Server | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (HOST, self.port)

    def start(self, timeout: float = START_TIMEOUT) -> Server:
        argv = [DNS_SUITE, "authoritative", "--config", str(self.conf)]
        self.server = spawn("dns-suite", argv, self.workdir, self.port)
        origin = self.zones[0].origin
        wait_for(f"dns-suite to answer {origin} SOA", lambda: soa_serial(self.addr, origin) is not None,
                 timeout, [self.server])
        return self.server

    def log_text(self) -> str:
        try:
            return self.server.log.read_text(errors="replace") if self.server else ""
        except OSError:
            return ""

    def log_lines(self, needle: str) -> list[str]:
        return [line for line in self.log_text().splitlines() if needle in line]

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# --------------------------------------------------------------------------- NSD secondary


class NsdSecondary:
    """NSD 4 as a secondary of ``primary`` for ``origin`` with TSIG ``key``.

    Config: ``request-xfr: 127.0.0.1@PORT KEY``, ``allow-notify: 127.0.0.1 KEY``,
    ``provide-xfr: 127.0.0.1 KEY`` (so the test can read the copy back), remote control on a
    Unix socket (``nsd-control -c CONF force_transfer ZONE``).
    """

    def __init__(self, workdir: Path, origins: list[str], primary_port: int, key: Key,
                 port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir, self.origins, self.key = workdir, origins, key
        self.port = port or free_port()
        self.logfile = workdir / "nsd.log"
        lines = [
            "server:",
            f"    ip-address: {HOST}@{self.port}",
            f"    port: {self.port}",
            '    username: ""',
            '    chroot: ""',
            f'    zonesdir: "{workdir}"',
            f'    pidfile: "{workdir}/nsd.pid"',
            f'    xfrdfile: "{workdir}/xfrd.state"',
            f'    xfrdir: "{workdir}"',
            f'    zonelistfile: "{workdir}/zone.list"',
            '    database: ""',
            f'    logfile: "{self.logfile}"',
            "    verbosity: 2",
            "    server-count: 1",
            "    tcp-count: 20",
            "    rrl-ratelimit: 0",
            "    rrl-whitelist-ratelimit: 0",
            "    xfrd-reload-timeout: 0",
            "    zonefiles-write: 0",
            "remote-control:",
            "    control-enable: yes",
            f'    control-interface: "{workdir}/nsd.ctl"',
            "key:",
            f'    name: "{key.name}"',
            f"    algorithm: {key.algorithm}",
            f'    secret: "{key.secret}"',
        ]
        for origin in origins:
            lines += ["zone:", f'    name: "{origin}"', f'    zonefile: "{origin}zone"',
                      f"    request-xfr: {HOST}@{primary_port} {key.name}",
                      f"    allow-notify: {HOST} {key.name}",
                      f"    provide-xfr: {HOST} {key.name}",
                      "    store-ixfr: yes"]
        self.conf = workdir / "nsd.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.server: Server | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (HOST, self.port)

    def start(self) -> Server:
        """Start NSD (``-d``); returns at once: the zone is served after its first transfer."""
        self.server = spawn("nsd", [NSD, "-d", "-c", str(self.conf)], self.workdir, self.port)
        self.server.log = self.logfile
        self.logfile.touch()
        return self.server

    def control(self, *args: str) -> subprocess.CompletedProcess:
        return run_tool([NSD_CONTROL, "-c", str(self.conf), *args], timeout=20)

    def refresh(self, origin: str) -> None:
        done = self.control("force_transfer", origin)
        if done.returncode != 0:
            raise PeerError(f"nsd-control force_transfer: {done.stdout}{done.stderr}")

    def log_text(self) -> str:
        return self.logfile.read_text(errors="replace")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# --------------------------------------------------------------------------- Knot secondary


class KnotSecondary:
    """Knot DNS 3 as a secondary: ``remote`` (the primary, with the key), an ``acl`` allowing
    NOTIFY and AXFR from 127.0.0.1 with the key, ``zone: master: primary``; control socket for
    ``knotc zone-refresh``. Logs at info level to a file."""

    def __init__(self, workdir: Path, origins: list[str], primary_port: int, key: Key,
                 port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir, self.origins, self.key = workdir, origins, key
        self.port = port or free_port()
        self.logfile = workdir / "knot.log"
        self.socket = workdir / "knot.sock"
        lines = [
            "server:",
            f'    rundir: "{workdir}"',
            f"    listen: {HOST}@{self.port}",
            f'    pidfile: "{workdir}/knot.pid"',
            "    udp-workers: 1",
            "    tcp-workers: 2",
            "    background-workers: 1",
            "log:",
            f'  - target: "{self.logfile}"',
            "    any: info",
            "database:",
            f'    storage: "{workdir}/db"',
            "control:",
            f'    listen: "{self.socket}"',
            "key:",
            f"  - id: {key.name}",
            f"    algorithm: {key.algorithm}",
            f"    secret: {key.secret}",
            "remote:",
            "  - id: primary",
            f"    address: {HOST}@{primary_port}",
            f"    key: {key.name}",
            "acl:",
            "  - id: from_primary",
            f"    address: {HOST}",
            f"    key: {key.name}",
            "    action: [notify, transfer]",
            "template:",
            "  - id: default",
            f'    storage: "{workdir}"',
            "    zonefile-sync: -1",
            "    zonefile-load: none",
            "    journal-content: changes",
            "    semantic-checks: off",
            "zone:",
        ]
        for origin in origins:
            lines += [f'  - domain: "{origin}"', "    master: primary", "    acl: from_primary"]
        self.conf = workdir / "knot.conf"
        self.conf.write_text("\n".join(lines) + "\n")
        self.server: Server | None = None

    @property
    def addr(self) -> tuple[str, int]:
        return (HOST, self.port)

    def start(self) -> Server:
        (self.workdir / "db").mkdir(exist_ok=True)
        self.server = spawn("knot", [KNOTD, "-c", str(self.conf)], self.workdir, self.port)
        self.logfile.touch()
        self.server.log = self.logfile
        return self.server

    def control(self, *args: str) -> subprocess.CompletedProcess:
        return run_tool([KNOTC, "-c", str(self.conf), "-t", "10", *args], timeout=20)

    def refresh(self, origin: str) -> None:
        done = self.control("zone-refresh", origin)
        if done.returncode != 0:
            raise PeerError(f"knotc zone-refresh: {done.stdout}{done.stderr}")

    def log_text(self) -> str:
        return self.logfile.read_text(errors="replace")

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


# --------------------------------------------------------------------------- checks shared by the tests


SECONDARIES = {"nsd": (NsdSecondary, ("nsd", "nsd-control")), "knot": (KnotSecondary, ("knotd", "knotc"))}


def need(*programs: str) -> None:
    """Fail the test when a program is missing (scripts/test installs them all)."""
    gone = missing(*programs)
    if gone:
        pytest.fail(f"not installed (scripts/test installs it): {', '.join(gone)}")


def signature_problems(program: str, out: subprocess.CompletedProcess) -> list[str]:
    """The comment lines of a dig/kdig run that report a TSIG problem."""
    comments = [line for line in (out.stdout + out.stderr).splitlines() if line.startswith(";")]
    bad = ["Couldn't verify", "failed", "BADSIG", "BADKEY", "BADTIME", "WARNING", "ERROR", "TSIG", "tsig"]
    return [line for line in comments if any(b in line for b in bad)]


def kdig_axfr(addr: tuple[str, int], origin: str, key: Key, timeout: float = 180.0) -> tuple[list[str], float]:
    """``kdig axfr`` with TSIG: the record lines (whitespace normalised, TSIG left out) and the
    seconds it took."""
    t = time.monotonic()
    out = run_tool(["kdig", "-p", str(addr[1]), f"@{addr[0]}", "-y", key.dig_arg(), origin, "AXFR"],
                   timeout=timeout)
    took = time.monotonic() - t
    assert out.returncode == 0 and not signature_problems("kdig", out), out.stdout[-1000:] + out.stderr
    lines = [" ".join(line.split()) for line in out.stdout.splitlines()
             if line.strip() and not line.startswith(";")]
    return [line for line in lines if line.split()[3] != "TSIG"], took


def canonical_axfr(lines: list[str]) -> list[str]:
    """The record lines of an AXFR (as :func:`kdig_axfr` returns them) as one sorted list, owners
    lowercased and the closing SOA left out; asserts the SOA opens and closes the transfer and no
    record comes twice."""
    assert len(lines) >= 2 and lines[0] == lines[-1] and lines[0].split()[3] == "SOA", lines[:3] + lines[-3:]
    out = []
    for line in lines[:-1]:
        owner, rest = line.split(" ", 1)
        out.append(f"{owner.lower()} {rest}")
    out.sort()
    dups = [a for a, b in zip(out, out[1:]) if a == b]
    assert not dups, dups[:10]
    return out


def digest(lines: list[str]) -> str:
    """SHA-256 of ``lines`` joined by newlines (hex)."""
    h = hashlib.sha256()
    for line in lines:
        h.update(line.encode())
        h.update(b"\n")
    return h.hexdigest()


def secondary_ixfr_evidence(kind: str, sec, p: Primary, origin: str, serials: list[int], key: Key, *,
                            notified: bool = True) -> None:
    """Every change (``serials``, in order) reached the secondary by IXFR, not AXFR (after a
    NOTIFY when ``notified``): our log, the secondary's log, and the IXFR history it serves back."""
    for n in serials:
        assert p.log_lines(f"IXFR zone={origin} serial={n} key={key.name} client=127.0.0.1"), p.log_text()
    log = sec.log_text()
    if kind == "knot":
        done = [line for line in log.splitlines()
                if f"[{origin}] IXFR, incoming, remote 127.0.0.1@{p.port}" in line and "finished" in line]
        assert len(done) == len(serials), log
        assert "fallback to AXFR" not in log and "AXFR-style" not in log, log
        assert "notify, incoming" in log or not notified, log
    else:
        for n in serials:
            assert f"received update to serial {n}" in log and f"TSIG verified with key {key.name}" in log, log
        assert "Failed to apply IXFR" not in log, log
        assert f"notify for {origin} from 127.0.0.1" in log or not notified, log
    # what the secondary kept of the IXFRs it received, served back, equals our journal's
    first = serials[0] - 1
    ours = rr_stream(xfr_messages(p.addr, origin, "IXFR", key, serial=first))
    theirs = rr_stream(xfr_messages(sec.addr, origin, "IXFR", key, serial=first))
    assert [t for t, _ in ours].count("SOA") == 2 * len(serials) + 2
    assert sorted_diffs(theirs) == sorted_diffs(ours)


def sorted_diffs(stream: list[tuple[str, str]]) -> list:
    """An IXFR stream with the records between each pair of SOAs as a set (order inside a
    difference sequence is free)."""
    out, group = [], set()
    for t, text in stream:
        if t == "SOA":
            out += [frozenset(group), text]
            group = set()
        else:
            group.add(text)
    return out + [frozenset(group)]


__all__ = ["SECONDARIES", "Key", "KnotSecondary", "NsdSecondary", "Primary", "PrimaryZone", "Record", "axfr",
           "canonical_axfr", "digest", "kdig_axfr", "need", "nsupdate", "records", "records_of_zone",
           "rr_stream", "run_tool", "secondary_ixfr_evidence", "signature_problems", "soa_serial",
           "sorted_diffs", "spawn", "update", "wait_for", "wait_serial", "xfr_messages"]
