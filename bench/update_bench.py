"""Benchmark: TSIG-signed RFC 2136 UPDATEs per second, dns-suite authoritative vs BIND's named.

Run by hand (not a test)::

    python3 bench/update_bench.py [--updates 2000] [--clients 8] [--repeat 1] [--preload N]

Both servers serve the same small zone ``bench.test.`` on 127.0.0.1 and a free port from a fresh
temporary directory for every run, and accept UPDATE signed with one hmac-sha256 key:
dns-suite with ``workers = 1``, an ``update_policy`` grant for the zone and its fsynced journal
(``flush_interval`` 60 s, so no file rewrite falls inside a run of a few seconds); named
(``named -g -u root``, ``allow-update { key ...; }``, its own journal ``bench.test.zone.jnl``).
Every update adds one TXT at a new name; ``--preload N`` starts from a zone that already holds
N TXT records (to see how the cost of an update grows with the zone). The messages are signed before the clock starts
(time signed = now, fudge 300 s), so the client's signing cost is not measured; each client sends
its next UPDATE over UDP when the reply to the previous one has arrived (3 s timeout, counted as
lost). "sequential" is one client; "N clients" is N threads, each with its own socket and an
equal share of the updates. Every reply must be NOERROR; the zone's SOA serial is checked to
have risen by the number of updates.

Needs ``named`` (``apt-get install bind9``) and ``dns-suite`` on PATH; dnspython for signing.
Prints one row per server and mode, and the dns-suite/named ratio.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TSIG
import dns.tsig
import dns.update

HOST = "127.0.0.1"
ZONE = "bench.test."
KEY_NAME = "bench-key."
ZONE_TEXT = f"""$ORIGIN {ZONE}
$TTL 300
@   SOA  ns hostmaster 1 3600 600 86400 60
@   NS   ns
ns  A    127.0.0.1
"""


def free_port() -> int:
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
    sys.exit("no free port")


def exchange(sock: socket.socket, port: int, wire: bytes, timeout: float = 3.0) -> bytes | None:
    sock.settimeout(timeout)
    sock.sendto(wire, (HOST, port))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65535)
        except (socket.timeout, ConnectionRefusedError):
            return None
        if data[:2] == wire[:2]:
            return data
    return None


def soa_serial(port: int) -> int | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        data = exchange(s, port, dns.message.make_query(ZONE, "SOA").to_wire(), 0.5)
    if data is None:
        return None
    answer = dns.message.from_wire(data).answer
    return answer[0][0].serial if answer else None


# --------------------------------------------------------------------------- servers


class Server:
    """One server process in its own temporary directory; ``stop`` ends its process group."""

    def __init__(self, name: str, argv: list[str], workdir: str, port: int) -> None:
        self.name, self.workdir, self.port = name, workdir, port
        self.log = open(os.path.join(workdir, f"{name}.log"), "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=workdir, start_new_session=True)
        deadline = time.monotonic() + 30
        while soa_serial(port) is None:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit(f"{name} did not start: see {self.log.name}:\n"
                         + open(self.log.name, errors="replace").read()[-2000:])
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.log.close()


def write_zone(workdir: str, preload: int) -> None:
    with open(os.path.join(workdir, "bench.test.zone"), "w") as f:
        f.write(ZONE_TEXT + "".join(f'pre{i} TXT "preloaded {i}"\n' for i in range(preload)))


def start_dns_suite(workdir: str, secret_b64: str, preload: int) -> Server:
    port = free_port()
    write_zone(workdir, preload)
    with open(os.path.join(workdir, "auth.toml"), "w") as f:
        f.write(f'[authoritative]\nlisten = ["{HOST}:{port}"]\nworkers = 1\nflush_interval = 60.0\n'
                f'control_socket = "ctl.sock"\n'
                f'[[authoritative.keys]]\nname = "{KEY_NAME}"\nalgorithm = "hmac-sha256"\n'
                f'secret = "{secret_b64}"\n'
                f'[[authoritative.zones]]\norigin = "{ZONE}"\nfile = "bench.test.zone"\n'
                f'notify_ns = false\n'
                f'update_policy = [{{key = "{KEY_NAME}", grant = "zone"}}]\n')
    argv = [shutil.which("dns-suite") or "dns-suite", "authoritative", "--config",
            os.path.join(workdir, "auth.toml")]
    return Server("dns-suite", argv, workdir, port)


def start_named(workdir: str, secret_b64: str, preload: int) -> Server:
    port = free_port()
    write_zone(workdir, preload)
    conf = os.path.join(workdir, "named.conf")
    with open(conf, "w") as f:
        f.write(f'key "{KEY_NAME}" {{ algorithm hmac-sha256; secret "{secret_b64}"; }};\n'
                f'options {{\n  directory "{workdir}";\n  listen-on port {port} {{ {HOST}; }};\n'
                f'  listen-on-v6 {{ none; }};\n  pid-file "{workdir}/named.pid";\n'
                f'  session-keyfile "{workdir}/session.key";\n  recursion no;\n  notify no;\n'
                f'  dnssec-validation no;\n}};\ncontrols {{ }};\n'
                f'zone "{ZONE}" {{ type primary; file "{workdir}/bench.test.zone"; '
                f'allow-update {{ key "{KEY_NAME}"; }}; }};\n')
    named = shutil.which("named") or "/usr/sbin/named"
    return Server("named", [named, "-g", "-u", "root", "-c", conf], workdir, port)


# --------------------------------------------------------------------------- the load


def signed_updates(first: int, count: int, key: dns.tsig.Key, tag: str) -> list[bytes]:
    """``count`` UPDATEs, each adding one TXT at a new name, signed now with ``key``."""
    out = []
    now = int(time.time())
    for i in range(first, first + count):
        upd = dns.update.UpdateMessage(ZONE)
        upd.add(f"{tag}{i}.{ZONE}", 300, "TXT", f"value {i}")
        unsigned = upd.to_wire()
        rdata = dns.rdtypes.ANY.TSIG.TSIG(dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm, now, 300,
                                          b"", upd.id, 0, b"")
        tsig, _ = dns.tsig.sign(unsigned, key, rdata, time=now)
        rd = tsig.to_wire()
        rr = key.name.to_wire() + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(rd)) + rd
        arcount = struct.unpack_from("!H", unsigned, 10)[0] + 1
        out.append(unsigned[:10] + struct.pack("!H", arcount) + unsigned[12:] + rr)
    return out


def run_load(port: int, batches: list[list[bytes]]) -> tuple[float, int, int]:
    """Each batch in its own thread, one UPDATE at a time. Returns (seconds, ok, failed)."""
    results = [(0, 0)] * len(batches)
    start = threading.Barrier(len(batches) + 1)

    def client(index: int, wires: list[bytes]) -> None:
        ok = failed = 0
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start.wait()
            for wire in wires:
                data = exchange(sock, port, wire)
                if data is not None and len(data) >= 4 and data[3] & 0x0F == 0:
                    ok += 1
                else:
                    failed += 1
        results[index] = (ok, failed)

    threads = [threading.Thread(target=client, args=(i, b)) for i, b in enumerate(batches)]
    for t in threads:
        t.start()
    start.wait()
    began = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return elapsed, sum(r[0] for r in results), sum(r[1] for r in results)


def one_run(server_name: str, clients: int, updates: int, secret: bytes, preload: int) -> dict:
    key = dns.tsig.Key(KEY_NAME, secret, "hmac-sha256")
    secret_b64 = base64.b64encode(secret).decode()
    with tempfile.TemporaryDirectory(prefix=f"update-bench-{server_name}-") as workdir:
        start = start_dns_suite if server_name == "dns-suite" else start_named
        server = start(workdir, secret_b64, preload)
        try:
            warm = signed_updates(0, 20, key, "warm")
            run_load(server.port, [warm])
            before = soa_serial(server.port)
            share = updates // clients
            batches = [signed_updates(c * share, share, key, f"c{c}-") for c in range(clients)]
            elapsed, ok, failed = run_load(server.port, batches)
            after = soa_serial(server.port)
            journal = os.path.join(workdir, "bench.test.zone.jnl")
            jsize = os.path.getsize(journal) if os.path.exists(journal) else 0
        finally:
            server.stop()
    total = share * clients
    if after is None or before is None or after - before != ok:
        print(f"warning: {server_name}: serial {before} -> {after} for {ok} acknowledged updates",
              file=sys.stderr)
    return {"server": server_name, "clients": clients, "updates": total, "ok": ok, "failed": failed,
            "seconds": elapsed, "rate": ok / elapsed if elapsed else 0.0, "journal": jsize}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000, help="updates per run (default 2000)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per server and mode; the best is kept")
    parser.add_argument("--preload", type=int, default=0, metavar="N",
                        help="TXT records in the zone before the run (default 0)")
    args = parser.parse_args()
    if not (shutil.which("named") or os.path.exists("/usr/sbin/named")):
        return print("named not found: apt-get install bind9", file=sys.stderr) or 2
    secret = os.urandom(32)
    rows = []
    for clients in (1, args.clients):
        for server_name in ("dns-suite", "named"):
            runs = [one_run(server_name, clients, args.updates, secret, args.preload) for _ in range(args.repeat)]
            rows.append(max(runs, key=lambda r: r["rate"]))
    load = os.getloadavg()
    print(f"signed UPDATEs (hmac-sha256, UDP, one TXT add each), {args.updates} per run, "
          f"best of {args.repeat}; zone of {args.preload + 3} RRs at the start; {os.cpu_count()} CPUs, "
          f"load {load[0]:.2f}")
    print(f"{'server':<10} {'mode':<12} {'updates':>8} {'failed':>7} {'seconds':>8} {'updates/s':>10} "
          f"{'journal':>10}")
    for r in rows:
        mode = "sequential" if r["clients"] == 1 else f"{r['clients']} clients"
        print(f"{r['server']:<10} {mode:<12} {r['ok']:>8} {r['failed']:>7} {r['seconds']:>8.2f} "
              f"{r['rate']:>10.0f} {r['journal']:>9}B")
    by = {(r["server"], r["clients"]): r["rate"] for r in rows}
    for clients in (1, args.clients):
        mode = "sequential" if clients == 1 else f"{clients} clients"
        ratio = by[("dns-suite", clients)] / by[("named", clients)] if by[("named", clients)] else float("nan")
        print(f"ratio dns-suite/named, {mode}: {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
