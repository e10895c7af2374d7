"""Benchmark: ``dns-suite resolver`` against Unbound on a local Internet, one run, as ratios.

Run by hand as root (not a test; servers listen on port 53 of 127.77.N.x):
``python3 bench/resolver_bench.py [--seconds 10] [--rounds 3] [--memory-names 20000]``
(about 2.5 minutes with the defaults; needs nsd, unbound, dnsperf and kdig). ``--profile
SECONDS`` instead runs dns-suite's resolver under cProfile twice, through ``--memory-names``
cache misses and through SECONDS of warmed cache hits, and prints where the time goes.

The local Internet: three NSD processes on port 53 of their own loopback addresses, the root
``.`` (B.1) delegating ``test.`` (B.2) delegating ``example.test.`` (B.3, about 22,000
names, TTL 3600). Unbound (``module-config: "iterator"``, one thread, 32 MB + 32 MB of
cache) on B.50 and ``dns-suite resolver`` (64 MB ``cache_bytes``, its default) on B.51 get
the same root hints; each resolver is pinned to CPU 1, NSD, dnsperf and this script to CPU 0
(the reference servers of phase 3 are on B.60 and B.61, CPU 1).

What it measures, in this order, on the same two resolver processes:

1. Cold resolution latency: fresh processes, empty caches; 1,000 distinct names (85 % A, 5 %
   CNAME to an in-zone A, 5 % NODATA, 5 % NXDOMAIN) queried one after another over UDP (EDNS,
   RD) alternately to each resolver; median and p95 of each and the ratios, the first query
   (priming from the hints) apart, and the upstream queries each resolver sent (NSD stats).
   Answers of the two resolvers are compared name by name (rcode and answer RRsets).
2. Memory per cached RRset: VmRSS before and after resolving ``--memory-names`` distinct A
   names (dnsperf, one pass), divided by the count; Unbound's own cache accounting from
   ``unbound-control stats_noreset``. Then 500 of them are asked again, and the queries
   that reach NSD show whether they stayed cached.
3. Cache-hit qps: both caches warmed with 1,000 names (dnsperf, one pass, same query shape
   as the load: RD, no EDNS), then dnsperf ``-l SECONDS -c 4 -q 100`` against each, alternating
   for ``--rounds`` rounds; qps, the server's CPU share (from /proc), qps per CPU second,
   rcodes, and the ratio dns-suite/Unbound per round with the median. TTLs are checked to
   count down (kdig twice, 2 s apart). Two references run in the same rounds (leave them out
   with ``--no-references``): a Python server that only patches the ID of one precomputed
   reply, in a blocking recvfrom/sendto loop and on a stock asyncio DatagramProtocol (how
   the resolver receives). This phase runs after phase 2, on processes that have grown: a
   fresh dns-suite process answers hits more slowly (asyncio's datagram transport receives
   into a 256 KiB buffer, which glibc maps and unmaps per datagram until a large free raises
   its mmap threshold).

When dnsperf's CPU is the limit (Unbound's or the blocking reference's CPU share well under
1), qps per CPU second is the fairer ratio. The machine is shared: the load (``uptime``) is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import dns.message
import dns.rcode
import dns.rdatatype

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from auth_dnsperf import cpu_seconds  # noqa: E402 - the bench folder's helper

TTL = 3600
PORT = 5353              # the resolvers' port on their own addresses
ROOT, TLD, ZONE, UNBOUND, OURS = 1, 2, 3, 50, 51
HIT_NAMES = 1000
COLD_NAMES = 1000
COLD_CHUNK = 100         # cold names asked of one resolver before switching to the other
RECHECK = 500            # cached names asked again after the memory phase
CPU_RESOLVER, CPU_LOAD = "1", "0"
DNSPERF_BOUND = 180      # seconds any one-pass dnsperf run may take


# --- the local Internet ------------------------------------------------------------------

def choose_block() -> str:
    """The first ``127.77.N`` whose server and resolver addresses are all free."""
    for n in range(256):
        block = f"127.77.{n}"
        wanted = [(f"{block}.{o}", 53) for o in (ROOT, TLD, ZONE)] + [(f"{block}.{o}", PORT) for o in (UNBOUND, OURS, 60, 61)]
        try:
            for addr in wanted:
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    with socket.socket(socket.AF_INET, kind) as s:
                        s.bind(addr)
        except OSError:
            continue
        return block
    sys.exit("no free 127.77.N block")


def cold_name(i: int) -> tuple[str, str, str]:
    """(name, qtype, expected kind) of the i-th cold query."""
    if i % 20 == 0:
        return f"nx{i}.example.test.", "A", "NXDOMAIN"
    if i % 20 == 5:
        return f"c{i}.example.test.", "AAAA", "NODATA"
    if i % 20 == 10:
        return f"alias{i}.example.test.", "A", "CNAME"
    return f"c{i}.example.test.", "A", "A"


def write_zones(tmp: str, block: str, memory_names: int) -> dict[int, tuple[str, str]]:
    """The three zone files; returns {octet: (origin, path)}."""
    soa = "@ IN SOA ns hostmaster 1 7200 3600 1209600 300"
    root = [f"$TTL {TTL}", ". IN SOA a.root-servers.test. hostmaster.test. 1 7200 3600 1209600 300",
            ". IN NS a.root-servers.test.", "test. IN NS ns.test.", f"ns.test. IN A {block}.{TLD}",
            f"a.root-servers.test. IN A {block}.{ROOT}"]
    tld = ["$ORIGIN test.", f"$TTL {TTL}", soa, "@ IN NS ns", f"ns IN A {block}.{TLD}",
           f"a.root-servers IN A {block}.{ROOT}", "example IN NS ns.example", f"ns.example IN A {block}.{ZONE}"]
    zone = ["$ORIGIN example.test.", f"$TTL {TTL}", soa, "@ IN NS ns", f"ns IN A {block}.{ZONE}"]
    zone += [f"h{i} IN A 10.1.{i >> 8 & 255}.{i & 255}" for i in range(1, HIT_NAMES + 1)]
    zone += [f"m{i} IN A 10.2.{i >> 8 & 255}.{i & 255}" for i in range(1, memory_names + 1)]
    for i in range(1, COLD_NAMES + 1):
        name, _, kind = cold_name(i)
        label = name.split(".")[0]
        if kind in ("A", "NODATA"):
            zone.append(f"{label} IN A 10.3.{i >> 8 & 255}.{i & 255}")
        elif kind == "CNAME":
            zone += [f"{label} IN CNAME t{i}", f"t{i} IN A 10.4.{i >> 8 & 255}.{i & 255}"]
    files = {}
    for octet, origin, lines in ((ROOT, ".", root), (TLD, "test.", tld), (ZONE, "example.test.", zone)):
        path = os.path.join(tmp, f"{origin.strip('.') or 'root'}.zone")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        files[octet] = (origin, path)
    hints = os.path.join(tmp, "root.hints")
    with open(hints, "w") as f:
        f.write(f".  {TTL}  IN  NS  a.root-servers.test.\na.root-servers.test.  {TTL}  IN  A  {block}.{ROOT}\n")
    return files


class Proc:
    """A process this script started (its own session), stopped by its id."""

    def __init__(self, name: str, cmd: list[str], log: str, cpu: str) -> None:
        self.name, self.log = name, log
        self.popen = subprocess.Popen(["taskset", "-c", cpu, *cmd], stdout=open(log, "w"),
                                      stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.popen.pid  # taskset execs the command: same pid

    def rss_kb(self) -> int:
        with open(f"/proc/{self.pid}/status") as f:
            return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))

    def stop(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.pid, 15)
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, 9)
                self.popen.wait(5)
            except ProcessLookupError:
                pass


def wait_ready(proc: Proc, addr: str, port: int, limit: float = 30.0) -> None:
    """Until ``addr:port`` answers a CH TXT query (answered or refused without resolving)."""
    query = dns.message.make_query("id.server.", "TXT", "CH").to_wire()
    deadline = time.monotonic() + limit
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                sys.exit(f"{proc.name} exited; see {proc.log}:\n{open(proc.log).read()[-2000:]}")
            s.sendto(query, (addr, port))
            try:
                if s.recv(4096)[:2] == query[:2]:
                    return
            except OSError:
                time.sleep(0.2)
    sys.exit(f"{proc.name} not answering on {addr}:{port}")


def start_nsd(tmp: str, block: str, octet: int, origin: str, path: str) -> Proc:
    work = os.path.join(tmp, f"nsd{octet}")
    os.mkdir(work)
    conf = os.path.join(work, "nsd.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
  ip-address: {block}.{octet}@53
  username: ""
  chroot: ""
  zonesdir: "{work}"
  pidfile: "{work}/nsd.pid"
  xfrdfile: "{work}/xfrd.state"
  zonelistfile: "{work}/zone.list"
  database: ""
  server-count: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  minimal-responses: yes
  verbosity: 1
remote-control:
  control-enable: yes
  control-interface: {work}/nsd.ctl
zone:
  name: "{origin}"
  zonefile: "{path}"
""")
    proc = Proc(f"nsd {origin}", ["nsd", "-d", "-c", conf], os.path.join(work, "nsd.log"), CPU_LOAD)
    proc.conf = conf
    wait_ready(proc, f"{block}.{octet}", 53)
    return proc


def nsd_queries(proc: Proc) -> int:
    """Queries the NSD process has answered so far (``nsd-control stats_noreset``)."""
    out = subprocess.run(["nsd-control", "-c", proc.conf, "stats_noreset"], capture_output=True,
                         text=True, timeout=20).stdout
    m = re.search(r"^num\.queries=(\d+)", out, re.M)
    return int(m.group(1)) if m else -1


def start_unbound(tmp: str, block: str, hints: str) -> Proc:
    work = os.path.join(tmp, "unbound")
    os.mkdir(work)
    conf = os.path.join(work, "unbound.conf")
    with open(conf, "w") as f:
        f.write(f"""server:
  verbosity: 1
  interface: {block}.{UNBOUND}
  port: {PORT}
  do-ip4: yes
  do-ip6: no
  access-control: 127.0.0.0/8 allow
  chroot: ""
  username: ""
  directory: "{work}"
  pidfile: "{work}/unbound.pid"
  logfile: ""
  use-syslog: no
  num-threads: 1
  so-reuseport: no
  root-hints: "{hints}"
  do-not-query-localhost: no
  module-config: "iterator"
  qname-minimisation: yes
  local-zone: "test." nodefault
  extended-statistics: yes
  msg-cache-size: 32m
  rrset-cache-size: 32m
remote-control:
  control-enable: yes
  control-interface: {work}/unbound.ctl
""")
    proc = Proc("unbound", ["unbound", "-d", "-c", conf], os.path.join(work, "unbound.log"), CPU_RESOLVER)
    proc.conf = conf
    wait_ready(proc, f"{block}.{UNBOUND}", PORT)
    return proc


def unbound_stats(proc: Proc) -> dict[str, str]:
    out = subprocess.run(["unbound-control", "-c", proc.conf, "stats_noreset"], capture_output=True,
                         text=True, timeout=20).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def resolver_toml(work: str, block: str, hints: str) -> str:
    conf = os.path.join(work, "resolver.toml")
    with open(conf, "w") as f:
        f.write(f'[resolver]\nlisten = ["{block}.{OURS}:{PORT}"]\nallow = ["127.0.0.0/8"]\n'
                f'root_hints = "{hints}"\nroot_hints_port = 53\nquery_private = true\ndo_ip6 = false\n'
                f'log_level = "warning"\ndnssec = false\n')  # unsigned local Internet
    return conf


def start_ours(tmp: str, block: str, hints: str) -> Proc:
    work = os.path.join(tmp, "ours")
    os.mkdir(work)
    conf = resolver_toml(work, block, hints)
    proc = Proc("dns-suite", ["dns-suite", "resolver", "--config", conf], os.path.join(work, "resolver.log"),
                CPU_RESOLVER)
    wait_ready(proc, f"{block}.{OURS}", PORT)
    return proc


# --- clients -----------------------------------------------------------------------------

def dnsperf(addr: str, queries: str, *, seconds: int | None = None, outstanding: int = 100,
            clients: int = 4, extra: tuple[str, ...] = ()) -> dict:
    """One dnsperf run (pinned to the load CPU): a time-bounded load, or one pass when
    ``seconds`` is None; ``extra``: more dnsperf options (``("-D",)``: DO set). Returns qps,
    lost, average latency and the rcode counts."""
    args = ["-l", str(seconds)] if seconds else ["-n", "1", "-l", str(DNSPERF_BOUND)]
    args += list(extra)
    run = subprocess.run(["taskset", "-c", CPU_LOAD, "dnsperf", "-s", addr, "-p", str(PORT), "-d", queries,
                          "-c", str(clients), "-q", str(outstanding), "-t", "5", *args],
                         capture_output=True, text=True, timeout=DNSPERF_BOUND + 30)
    out = run.stdout
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    if m is None:
        sys.exit(f"dnsperf failed:\n{out}\n{run.stderr}")
    rcodes = dict((k, int(v)) for k, v in re.findall(r"([A-Z]+) (\d+) \(", out.split("Response codes:")[1]
                                                        .splitlines()[0]))
    return {"qps": float(m.group(1)), "lost": int(re.search(r"Queries lost:\s+(\d+)", out).group(1)),
            "completed": int(re.search(r"Queries completed:\s+(\d+)", out).group(1)),
            "latency_ms": 1000 * float(re.search(r"Average Latency \(s\):\s+([\d.]+)", out).group(1)),
            "rcodes": rcodes}


def ask(sock: socket.socket, wire: bytes) -> tuple[float | None, dns.message.Message | None]:
    """Send one query on a connected UDP socket; (seconds, reply) or (None, None) on timeout."""
    t0 = time.perf_counter()
    sock.send(wire)
    try:
        while True:
            data = sock.recv(65535)
            if data[:2] == wire[:2]:
                break
    except socket.timeout:
        return None, None
    elapsed = time.perf_counter() - t0
    return elapsed, dns.message.from_wire(data)


def summary(msg: dns.message.Message | None) -> str:
    """The rcode and the answer RRsets (sorted, TTLs left out) of a reply."""
    if msg is None:
        return "TIMEOUT"
    rrsets = sorted(f"{r.name} {dns.rdatatype.to_text(r.rdtype)} {sorted(x.to_text() for x in r)}"
                    for r in msg.answer)
    return f"{dns.rcode.to_text(msg.rcode())} {rrsets}"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def kdig_ttl(addr: str, name: str) -> int | None:
    out = subprocess.run(["kdig", f"@{addr}", "-p", str(PORT), name, "A", "+noall", "+answer"],
                         capture_output=True, text=True, timeout=10).stdout
    for line in out.splitlines():
        fields = line.split()
        if len(fields) >= 5 and fields[0].lower() == name and fields[3] == "A":
            return int(fields[1])
    return None


def load() -> str:
    return open("/proc/loadavg").read().split(" ", 3)[:3].__str__()


# --- the phases --------------------------------------------------------------------------

def cold_phase(block: str, zone_nsd: list[Proc]) -> dict:
    """Each cold name to each resolver: chunks of 100 names, each chunk to one resolver then
    the other (order alternating), NSD's query counters read around each chunk and around
    each resolver's first (priming) query. Returns per resolver: latencies (s), the first
    query's, timeouts, reply summaries, upstream queries."""
    names = [cold_name(i) for i in range(1, COLD_NAMES + 1)]
    random.Random(5).shuffle(names)
    socks = {}
    for label, octet in (("dns-suite", OURS), ("unbound", UNBOUND)):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5.0)
        s.connect((f"{block}.{octet}", PORT))
        socks[label] = s
    result = {label: {"lat": [], "first": None, "timeouts": [], "answers": {}, "upstream": 0,
                      "first_upstream": 0} for label in socks}

    def counted() -> int:
        return sum(nsd_queries(p) for p in zone_nsd)

    for chunk in range(0, COLD_NAMES, COLD_CHUNK):
        order = list(socks) if chunk // COLD_CHUNK % 2 == 0 else list(reversed(socks))
        for label in order:
            r = result[label]
            seen = counted()
            for i, (name, qtype, kind) in enumerate(names[chunk:chunk + COLD_CHUNK], chunk):
                wire = dns.message.make_query(name, qtype, use_edns=0, payload=1232).to_wire()
                seconds, reply = ask(socks[label], wire)
                if seconds is None:
                    r["timeouts"].append(f"{name} {qtype}")
                elif i == 0:
                    r["first"] = seconds
                    r["first_upstream"] = counted() - seen
                else:
                    r["lat"].append(seconds)
                    r.setdefault(kind, []).append((seconds, name, qtype))
                r["answers"][(name, qtype)] = summary(reply)
            r["upstream"] += counted() - seen
    for s in socks.values():
        s.close()
    return result


def print_cold(result: dict) -> list[str]:
    ours, ub = result["dns-suite"], result["unbound"]
    print(f"\n== 1. cold resolution latency: {COLD_NAMES} distinct names, one at a time (ms) ==")
    print(f"{'resolver':<11}{'first':>8}{'median':>9}{'p95':>9}{'max':>9}{'timeouts':>10}{'upstream q':>12}"
          f"{'per name':>10}")
    for label, r in (("dns-suite", ours), ("unbound", ub)):
        lat = r["lat"] or [float("nan")]
        print(f"{label:<11}{1000 * (r['first'] or float('nan')):>8.2f}{1000 * statistics.median(lat):>9.2f}"
              f"{1000 * percentile(lat, 95):>9.2f}{1000 * max(lat):>9.2f}{len(r['timeouts']):>10}"
              f"{r['upstream']:>12}{r['upstream'] / COLD_NAMES:>10.2f}")
    for label, r in (("dns-suite", ours), ("unbound", ub)):
        kinds = []
        for kind in ("A", "CNAME", "NODATA", "NXDOMAIN"):
            lat = [x[0] for x in r.get(kind, [])]
            if lat:
                kinds.append(f"{kind} {1000 * statistics.median(lat):.2f}/{1000 * percentile(lat, 95):.2f}")
        slowest = max((x for kind in ("A", "CNAME", "NODATA", "NXDOMAIN") for x in r.get(kind, [])), default=None)
        print(f"  {label} median/p95 ms by kind: {', '.join(kinds)}"
              + (f"; slowest {slowest[1]} {slowest[2]} {1000 * slowest[0]:.1f} ms" if slowest else ""))
    print(f"priming (first query) upstream queries: dns-suite {ours.get('first_upstream')}, "
          f"unbound {ub.get('first_upstream')}")
    ratio_med = statistics.median(ours["lat"]) / statistics.median(ub["lat"])
    ratio_p95 = percentile(ours["lat"], 95) / percentile(ub["lat"], 95)
    print(f"ratio dns-suite/unbound (latency, lower is better): median {ratio_med:.2f}, p95 {ratio_p95:.2f}")
    problems = []
    rcodes: dict[str, dict[str, int]] = {"dns-suite": {}, "unbound": {}}
    for key, theirs in ub["answers"].items():
        mine = ours["answers"].get(key)
        for label, s in (("dns-suite", mine), ("unbound", theirs)):
            code = (s or "MISSING").split()[0]
            rcodes[label][code] = rcodes[label].get(code, 0) + 1
        if mine != theirs:
            problems.append(f"cold {key[0]} {key[1]}: dns-suite {mine} / unbound {theirs}")
    print(f"rcodes: dns-suite {rcodes['dns-suite']}, unbound {rcodes['unbound']}; "
          f"answers differing: {len(problems)}")
    for p in problems[:5]:
        print("  " + p)
    return problems + [f"cold timeout (dns-suite): {t}" for t in ours["timeouts"]]


def memory_phase(block: str, tmp: str, resolvers: dict[str, Proc], zone_nsd: Proc, count: int) -> list[str]:
    path = os.path.join(tmp, "memory.txt")
    with open(path, "w") as f:
        f.writelines(f"m{i}.example.test. A\n" for i in range(1, count + 1))
    print(f"\n== 2. memory per cached RRset: {count} distinct A names (dnsperf, one pass, -c 1 -q 20) ==")
    print(f"{'resolver':<11}{'RSS before':>12}{'RSS after':>12}{'B/RRset':>9}{'pass s':>8}{'rcodes':>24}"
          f"{'re-asked reaching NSD':>23}")
    problems = []
    sample = random.Random(9).sample(range(1, count + 1), min(RECHECK, count))
    rows = {}
    for label, octet in (("dns-suite", OURS), ("unbound", UNBOUND)):
        proc = resolvers[label]
        before = proc.rss_kb()
        t0 = time.monotonic()
        run = dnsperf(f"{block}.{octet}", path, outstanding=20, clients=1)
        took = time.monotonic() - t0
        time.sleep(1)
        after = proc.rss_kb()
        seen0 = nsd_queries(zone_nsd)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5.0)
            s.connect((f"{block}.{octet}", PORT))
            for i in sample:
                ask(s, dns.message.make_query(f"m{i}.example.test.", "A").to_wire())
        reached = nsd_queries(zone_nsd) - seen0
        per = (after - before) * 1024 / count
        rows[label] = per
        rc = ",".join(f"{k}:{v}" for k, v in run["rcodes"].items())
        print(f"{label:<11}{before / 1024:>10.1f}MB{after / 1024:>10.1f}MB{per:>9.0f}{took:>8.1f}{rc:>24}"
              f"{reached:>17}/{len(sample)}")
        if run["rcodes"].get("NOERROR", 0) != count or run["lost"]:
            problems.append(f"memory pass on {label}: {run['rcodes']} lost {run['lost']}")
    print(f"ratio dns-suite/unbound bytes per RRset: {rows['dns-suite'] / rows['unbound']:.2f}"
          if rows["unbound"] > 0 else "unbound RSS did not grow (preallocated)")
    stats = unbound_stats(resolvers["unbound"])
    if stats:
        print("unbound-control: " + ", ".join(f"{k}={stats.get(k)}" for k in (
            "mem.cache.rrset", "mem.cache.message", "total.num.cachemiss", "total.num.cachehits")))
    return problems


REFERENCES = {  # label -> (last octet, server code); argv: address, reply after its ID (hex)
    "ref:block": (60, """
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], %d))
recvfrom, sendto, tail = sock.recvfrom, sock.sendto, bytes.fromhex(sys.argv[2])
while True:
    data, addr = recvfrom(65535)
    sendto(data[:2] + tail, addr)
""" % PORT),
    "ref:asyncio": (61, """
import asyncio, sys
TAIL = bytes.fromhex(sys.argv[2])
class Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport): self.transport = transport
    def datagram_received(self, data, addr): self.transport.sendto(data[:2] + TAIL, addr)
async def serve():
    await asyncio.get_running_loop().create_datagram_endpoint(Echo, local_addr=(sys.argv[1], %d))
    await asyncio.sleep(3600)
asyncio.run(serve())
""" % PORT),
}


def start_references(tmp: str, block: str) -> dict[str, tuple[str, Proc]]:
    """Two Python servers that only patch the ID of one precomputed reply, on CPU 1 like the
    resolvers: in a blocking recvfrom/sendto loop (bench/ceiling_server.py) and on a stock
    asyncio DatagramProtocol (how the resolver's UDP listener receives)."""
    from ceiling_server import REPLY
    refs = {}
    for label, (octet, code) in REFERENCES.items():
        addr = f"{block}.{octet}"
        proc = Proc(label, [sys.executable, "-c", code, addr, REPLY[2:].hex()],
                    os.path.join(tmp, f"{label[4:]}.log"), CPU_RESOLVER)
        wait_ready(proc, addr, PORT)
        refs[label] = (addr, proc)
    return refs


def hit_phase(block: str, tmp: str, resolvers: dict[str, Proc], seconds: int, rounds: int,
              references: dict[str, tuple[str, Proc]]) -> list[str]:
    path = os.path.join(tmp, "hits.txt")
    with open(path, "w") as f:
        f.writelines(f"h{i}.example.test. A\n" for i in range(1, HIT_NAMES + 1))
    problems = []
    addrs = {"dns-suite": f"{block}.{OURS}", "unbound": f"{block}.{UNBOUND}"}
    for label, addr in addrs.items():
        warm = dnsperf(addr, path, outstanding=20, clients=1)
        if warm["rcodes"].get("NOERROR", 0) != HIT_NAMES:
            problems.append(f"warm-up of {label}: {warm['rcodes']} lost {warm['lost']}")
    probe = "h7.example.test."
    first = {label: kdig_ttl(addr, probe) for label, addr in addrs.items()}
    time.sleep(2)
    second = {label: kdig_ttl(addr, probe) for label, addr in addrs.items()}
    print(f"\n== 3. cache-hit qps: {HIT_NAMES} warmed names, dnsperf -l {seconds} -c 4 -q 100, "
          f"resolver on CPU {CPU_RESOLVER}, dnsperf on CPU {CPU_LOAD} ==")
    for label in addrs:
        ok = first[label] is not None and second[label] is not None and 1 <= first[label] - second[label] <= 3
        print(f"TTL of {probe} on {label}: {first[label]} then, 2 s later, {second[label]}"
              f" ({'counts down' if ok else 'WRONG'})")
        if not ok:
            problems.append(f"TTL on {label}: {first[label]} then {second[label]} 2 s later")
    targets = {label: (addr, resolvers[label]) for label, addr in addrs.items()} | references
    print(f"{'round':<7}{'server':<12}{'qps':>10}{'lat ms':>8}{'cpu':>6}{'qps/cpu':>10}{'lost':>7}"
          f"{'vs unbound':>11}  rcodes")
    ratios: dict[str, list[float]] = {label: [] for label in targets if label != "unbound"}
    per_cpu: list[float] = []
    for rnd in range(1, rounds + 1):
        order = list(targets) if rnd % 2 else list(reversed(targets))
        got = {}
        for label in order:
            addr, proc = targets[label]
            cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
            run = dnsperf(addr, path, seconds=seconds)
            run["cpu"] = (cpu_seconds(proc.pid) - cpu0) / (time.monotonic() - wall0)
            got[label] = run
            if label in addrs and set(run["rcodes"]) != {"NOERROR"}:
                problems.append(f"hit round {rnd} on {label}: {run['rcodes']}")
        for label in targets:
            run = got[label]
            if label != "unbound":
                ratios[label].append(run["qps"] / got["unbound"]["qps"])
            rc = ",".join(f"{k}:{v}" for k, v in run["rcodes"].items())
            print(f"{rnd:<7}{label:<12}{run['qps']:>10.0f}{run['latency_ms']:>8.2f}{run['cpu']:>6.2f}"
                  f"{run['qps'] / run['cpu'] if run['cpu'] else 0:>10.0f}{run['lost']:>7}"
                  f"{run['qps'] / got['unbound']['qps']:>11.2f}  {rc}")
        per_cpu.append((got["dns-suite"]["qps"] / got["dns-suite"]["cpu"])
                       / (got["unbound"]["qps"] / got["unbound"]["cpu"]))
    print("ratio dns-suite/unbound qps per round: " + ", ".join(f"{r:.2f}" for r in ratios["dns-suite"])
          + f"; median {statistics.median(ratios['dns-suite']):.2f} (goal >= 0.75); per CPU second: median "
          f"{statistics.median(per_cpu):.2f}")
    for label in references:
        print(f"reference {label}/unbound: median {statistics.median(ratios[label]):.2f}")
    return problems


def log_findings(resolvers: dict[str, Proc]) -> list[str]:
    found = []
    for label, proc in resolvers.items():
        lines = [ln for ln in open(proc.log, errors="replace") if re.search(r"error|warn|exception|trace", ln, re.I)]
        if lines:
            found.append(f"{label} log: {len(lines)} warning/error lines, first: {lines[0].strip()[:300]}")
    return found


# --- profiling -----------------------------------------------------------------------------

PROFILED = """
import cProfile, pstats, sys
from dns_suite.cli import main
profile = cProfile.Profile()
profile.enable()
try:
    main(["resolver", "--config", sys.argv[1]])
finally:
    profile.disable()
    stats = pstats.Stats(profile, stream=open(sys.argv[2], "w"))
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(35)
"""


def profile_run(seconds: int, misses: int) -> None:
    """Two dns-suite resolvers under cProfile: one resolves ``misses`` distinct names (one
    dnsperf pass), the other is warmed with the hit names and loaded for ``seconds``."""
    block = choose_block()
    with tempfile.TemporaryDirectory() as tmp:
        files = write_zones(tmp, block, misses)
        procs = [start_nsd(tmp, block, o, *files[o]) for o in (ROOT, TLD, ZONE)]
        try:
            for kind in ("misses", "hits"):
                work = os.path.join(tmp, kind)
                os.mkdir(work)
                out = os.path.join(work, "profile.txt")
                proc = Proc(f"dns-suite (cProfile, {kind})", [
                    sys.executable, "-c", PROFILED, resolver_toml(work, block, os.path.join(tmp, "root.hints")),
                    out], os.path.join(work, "resolver.log"), CPU_RESOLVER)
                try:
                    wait_ready(proc, f"{block}.{OURS}", PORT)
                    path = os.path.join(tmp, f"{kind}.txt")
                    prefix, count = ("h", HIT_NAMES) if kind == "hits" else ("m", misses)
                    with open(path, "w") as f:
                        f.writelines(f"{prefix}{i}.example.test. A\n" for i in range(1, count + 1))
                    run = dnsperf(f"{block}.{OURS}", path, outstanding=20, clients=1)
                    if kind == "hits":
                        run = dnsperf(f"{block}.{OURS}", path, seconds=seconds)
                    print(f"\n== {kind} under cProfile: {run['completed']} queries, {run['qps']:.0f} qps, "
                          f"rcodes {run['rcodes']}, load {load()} ==")
                finally:
                    proc.stop()
                print(open(out).read() if os.path.exists(out) else f"no profile; see {proc.log}")
        finally:
            for p in procs:
                p.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="dnsperf seconds per hit run")
    parser.add_argument("--rounds", type=int, default=3, help="alternating hit rounds")
    parser.add_argument("--memory-names", type=int, default=20000, help="names cached for the RSS figure")
    parser.add_argument("--no-references", action="store_true",
                        help="leave out the two Python ID-patch servers from the hit rounds")
    parser.add_argument("--profile", type=int, metavar="SECONDS", help="profile dns-suite's hit path instead")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root: the local Internet listens on port 53")
    os.sched_setaffinity(0, {int(CPU_LOAD)})
    if args.profile:
        profile_run(args.profile, args.memory_names)
        return
    started = time.monotonic()
    block = choose_block()
    print(f"load before: {load()}; local Internet on {block}.0/24; "
          f"{subprocess.run(['unbound', '-V'], capture_output=True, text=True).stdout.split(chr(10))[0]}")
    resolvers: dict[str, Proc] = {}
    servers: list[Proc] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            files = write_zones(tmp, block, args.memory_names)
            servers = [start_nsd(tmp, block, o, *files[o]) for o in (ROOT, TLD, ZONE)]
            hints = os.path.join(tmp, "root.hints")
            resolvers["dns-suite"] = start_ours(tmp, block, hints)
            resolvers["unbound"] = start_unbound(tmp, block, hints)
            problems = print_cold(cold_phase(block, servers))
            problems += memory_phase(block, tmp, resolvers, servers[2], args.memory_names)
            references = {} if args.no_references else start_references(tmp, block)
            servers += [proc for _, proc in references.values()]
            problems += hit_phase(block, tmp, resolvers, args.seconds, args.rounds, references)
            problems += log_findings(resolvers)
        finally:
            for p in [*resolvers.values(), *servers]:
                p.stop()
    print(f"\nload after: {load()}; {time.monotonic() - started:.0f} s")
    print("problems: " + ("none" if not problems else f"{len(problems)}"))
    for p in problems[:20]:
        print("  " + p)


if __name__ == "__main__":
    main()
