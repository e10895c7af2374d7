"""Benchmark: dnsperf against dns-suite authoritative, NSD and the ceiling server, one run.

Run by hand (not a test): ``python3 bench/auth_dnsperf.py [SECONDS]`` (default 10).
Each server is one process pinned to CPU 0 (taskset), dnsperf pinned to
CPU 1; the server's CPU time is read from /proc/PID/stat before and after.
Same zone (zones/example.test.zone plus a generated 10,000-name zone) and
the same query file for all. Prints qps, mean latency, qps per server core
and the ratios to NSD.
"""

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and all its descendants (NSD forks its server)."""
    total = 0.0
    for task in os.listdir(f"/proc/{pid}/task"):
        fields = open(f"/proc/{pid}/task/{task}/stat").read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICKS
        for child in open(f"/proc/{pid}/task/{task}/children").read().split():
            total += cpu_seconds(int(child))
    return total


def wait_answering(port: int, proc: subprocess.Popen, limit: float = 20.0) -> None:
    query = bytes.fromhex("1234 0000 0001 0000 0000 0000 0765 7861 6d70 6c65 0474 6573 7400 0006 0001"
                          .replace(" ", ""))
    deadline = time.monotonic() + limit
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                sys.exit(f"server exited: {proc.args}")
            s.sendto(query, ("127.0.0.1", port))
            try:
                if s.recv(4096)[:2] == query[:2]:
                    return
            except OSError:
                time.sleep(0.2)
    sys.exit(f"server not answering: {proc.args}")


def write_zones(tmp: str) -> list[tuple[str, str]]:
    gen = os.path.join(tmp, "bench.test.zone")
    with open(gen, "w") as f:
        subprocess.run([sys.executable, os.path.join(HERE, "gen_zone.py"), "10000"], stdout=f, check=True)
    example = os.path.join(tmp, "example.test.zone")
    shutil.copy(os.path.join(REPO, "zones", "example.test.zone"), example)
    return [("example.test.", example), ("bench.test.", gen)]


def write_queries(tmp: str, zones: list[tuple[str, str]]) -> str:
    rnd = random.Random(7)
    owners = []
    for origin, path in zones:
        for line in open(path):
            m = re.match(r"^([\w*-][\w.*-]*)\s+(?:\d+\s+)?IN\s+(A|AAAA|MX|TXT|CNAME|NS)\b", line)
            if m and not m.group(1).startswith("*"):
                name = m.group(1) if m.group(1).endswith(".") else f"{m.group(1)}.{origin}"
                owners.append((name, m.group(2)))
    path = os.path.join(tmp, "queries.txt")
    with open(path, "w") as f:
        for _ in range(20000):
            name, qtype = rnd.choice(owners)
            if rnd.random() < 0.1:
                name = f"nx{rnd.randrange(10**6)}.{name}"
            f.write(f"{name} {qtype}\n")
    return path


def nsd_conf(tmp: str, port: int, zones) -> str:
    conf = os.path.join(tmp, "nsd.conf")
    lines = ["server:", f"  ip-address: 127.0.0.1@{port}", "  username: \"\"", "  chroot: \"\"",
             f"  zonesdir: \"{tmp}\"", f"  pidfile: \"{tmp}/nsd.pid\"", f"  xfrdfile: \"{tmp}/xfrd.state\"",
             f"  zonelistfile: \"{tmp}/zone.list\"", "  database: \"\"", "  server-count: 1",
             "  rrl-ratelimit: 0", "  rrl-whitelist-ratelimit: 0", "  minimal-responses: yes",
             "  hide-version: yes", "  hide-identity: yes", "  verbosity: 0", "remote-control:",
             "  control-enable: no"]
    for origin, path in zones:
        lines += ["zone:", f"  name: {origin}", f"  zonefile: \"{path}\""]
    open(conf, "w").write("\n".join(lines) + "\n")
    return conf


def rrl_conf(tmp: str, port: int, zones, rate: int) -> str:
    """A config as the command line above with ``rrl_rate = rate`` (10,000,000: RRL checked on
    every reply, never limiting; 0: off)."""
    conf = os.path.join(tmp, f"rrl{rate}.toml")
    lines = ["[authoritative]", f'listen = ["127.0.0.1:{port}"]', "workers = 1", f"rrl_rate = {rate}",
             f'control_socket = "{tmp}/ctl.sock"']
    for origin, path in zones:
        lines += ["[[authoritative.zones]]", f'origin = "{origin}"', f'file = "{path}"', "notify_ns = false"]
    open(conf, "w").write("\n".join(lines) + "\n")
    return conf


def measure(name: str, cmd: list[str], port: int, queries: str, seconds: int) -> dict:
    proc = subprocess.Popen(["taskset", "-c", "0", *cmd], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_answering(port, proc)
        cpu0, wall0 = cpu_seconds(proc.pid), time.monotonic()
        run = subprocess.run(["taskset", "-c", "1", "dnsperf", "-s", "127.0.0.1", "-p", str(port),
                              "-d", queries, "-l", str(seconds), "-c", "8", "-q", "200", "-t", "2"],
                             capture_output=True, text=True)
        cpu1, wall1 = cpu_seconds(proc.pid), time.monotonic()
    finally:
        proc.terminate()
        proc.wait(10)
    qps = float(re.search(r"Queries per second:\s+([\d.]+)", run.stdout).group(1))
    lat = float(re.search(r"Average Latency \(s\):\s+([\d.]+)", run.stdout).group(1))
    lost = re.search(r"Queries lost:\s+(\d+)", run.stdout).group(1)
    cores = (cpu1 - cpu0) / (wall1 - wall0)
    return {"name": name, "qps": qps, "latency_ms": lat * 1000, "cores": cores,
            "qps_per_core": qps / cores if cores else 0.0, "lost": lost}


def main() -> None:
    seconds = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    with tempfile.TemporaryDirectory() as tmp:
        zones = write_zones(tmp)
        queries = write_queries(tmp, zones)
        rows = []
        port = free_port()
        rows.append(measure("nsd", ["nsd", "-d", "-c", nsd_conf(tmp, port, zones)], port, queries, seconds))
        port = free_port()
        args = ["dns-suite", "authoritative", "--listen", f"127.0.0.1:{port}", "--workers", "1",
                "--log-level", "error"] + [a for o, p in zones for a in ("--zone", f"{o}={p}")]
        rows.append(measure("dns-suite", args, port, queries, seconds))
        for name, rate in (("dns-suite conf", 0), ("dns-suite+rrl", 10_000_000)):  # the cost of RRL's check
            port = free_port()
            rows.append(measure(name, ["dns-suite", "authoritative", "--config",
                                       rrl_conf(tmp, port, zones, rate), "--log-level", "error"],
                                port, queries, seconds))
        port = free_port()
        rows.append(measure("ceiling", [sys.executable, os.path.join(HERE, "ceiling_server.py"), str(port)],
                            port, queries, seconds))
    nsd = rows[0]["qps_per_core"] or 1.0
    print(f"{'server':<14}{'qps':>10}{'lat ms':>8}{'cores':>7}{'qps/core':>10}{'vs NSD':>8}{'lost':>7}")
    for r in rows:
        print(f"{r['name']:<14}{r['qps']:>10.0f}{r['latency_ms']:>8.2f}{r['cores']:>7.2f}"
              f"{r['qps_per_core']:>10.0f}{r['qps_per_core'] / nsd:>8.2f}{r['lost']:>7}")


if __name__ == "__main__":
    main()
