"""Benchmark: AXFR of a generated zone out of ``dns-suite authoritative`` and out of NSD.

Run by hand (not a test): ``python3 bench/axfr_bench.py [RECORDS] [ROUNDS]`` (default 1,000,000
records, 2 rounds). Both servers load the same file (``bench/gen_zone.py``) on 127.0.0.1, free
ports, transfers allowed to 127.0.0.1 without a key; the same receiver (``kdig axfr``, output to
/dev/null) times each transfer (best of ROUNDS). Peak RSS is VmHWM from /proc, the largest of
the server's process tree (NSD forks its serving processes), read after the transfers. Prints
seconds, records/s, and dns-suite's ratio to NSD's transfer rate (issue 5 goal: >= 0.25).
Every process started here runs in its own session and is killed by that id at the end.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HOST, ORIGIN = "127.0.0.1", "bench.test."
START_TIMEOUT = 600.0  # seconds for a server to load the zone
XFR_TIMEOUT = 600.0


def free_port() -> int:
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
            u.bind((HOST, 0))
            port = u.getsockname()[1]
            with socket.socket() as t:
                try:
                    t.bind((HOST, port))
                except OSError:
                    continue
                return port


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


def peak_rss(pid: int) -> int:
    """The largest VmHWM (octets) in ``pid``'s process tree."""
    best = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        best = max(best, int(line.split()[1]) * 1024)
        except OSError:
            pass
    return best


def serving(port: int) -> bool:
    run = subprocess.run(["kdig", "-p", str(port), f"@{HOST}", ORIGIN, "SOA", "+short", "+time=1",
                          "+retry=0"], capture_output=True, text=True)
    return run.returncode == 0 and bool(run.stdout.strip())


def start(name: str, argv: list[str], port: int, workdir: str) -> subprocess.Popen:
    log = open(os.path.join(workdir, f"{name}.log"), "wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            cwd=workdir, start_new_session=True)
    began = time.monotonic()
    while not serving(port):
        if proc.poll() is not None:
            sys.exit(f"{name} exited ({proc.returncode}); see {log.name}:\n"
                     + open(log.name, errors="replace").read()[-2000:])
        if time.monotonic() - began > START_TIMEOUT:
            stop(proc)
            sys.exit(f"{name} did not serve {ORIGIN} within {START_TIMEOUT:g} s")
        time.sleep(0.5)
    print(f"{name}: serving after {time.monotonic() - began:.1f} s", flush=True)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(20)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the session started for it (NSD's children)
    except (ProcessLookupError, PermissionError):
        pass


def transfer(port: int) -> tuple[float, int]:
    """(seconds, records) of one ``kdig axfr`` from ``port``; the records counted from kdig's summary."""
    began = time.monotonic()
    run = subprocess.run(["kdig", "-p", str(port), f"@{HOST}", ORIGIN, "AXFR", "+nocomments"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=XFR_TIMEOUT)
    took = time.monotonic() - began
    if run.returncode != 0:
        sys.exit(f"kdig axfr from {port} failed: {run.stderr.decode()[-500:]}")
    tail = run.stdout[-400:].decode(errors="replace")
    records = 0
    for line in tail.splitlines():
        if ";; Received" in line and "records" in line:  # ";; Received N B (M messages, R records)"
            records = int(line.rsplit("(", 1)[1].split(",")[1].split()[0])
    return took, records


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory() as tmp:
        zone = os.path.join(tmp, "bench.test.zone")
        with open(zone, "w") as f:
            subprocess.run([sys.executable, os.path.join(HERE, "gen_zone.py"), str(count)], stdout=f, check=True)
        ours_port, nsd_port = free_port(), free_port()
        with open(os.path.join(tmp, "auth.toml"), "w") as f:
            f.write(f'[authoritative]\nlisten = ["{HOST}:{ours_port}"]\ncontrol_socket = "ctl.sock"\n'
                    f'[[authoritative.zones]]\norigin = "{ORIGIN}"\nfile = "{zone}"\n'
                    'notify_ns = false\nallow_transfer = ["127.0.0.1"]\n')
        with open(os.path.join(tmp, "nsd.conf"), "w") as f:
            f.write(f"""server:
  ip-address: {HOST}@{nsd_port}
  username: ""
  chroot: ""
  zonesdir: "{tmp}"
  pidfile: "{tmp}/nsd.pid"
  xfrdfile: "{tmp}/xfrd.state"
  zonelistfile: "{tmp}/zone.list"
  database: ""
  server-count: 1
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
  verbosity: 1
remote-control:
  control-enable: no
zone:
  name: {ORIGIN}
  zonefile: "{zone}"
  provide-xfr: 127.0.0.1 NOKEY
""")
        rows = {}
        for name, argv, port in (
                ("dns-suite", ["dns-suite", "authoritative", "--config", os.path.join(tmp, "auth.toml")], ours_port),
                ("nsd", ["nsd", "-d", "-c", os.path.join(tmp, "nsd.conf")], nsd_port)):
            proc = start(name, argv, port, tmp)
            try:
                loaded = peak_rss(proc.pid)
                runs = [transfer(port) for _ in range(rounds)]
                rows[name] = (min(t for t, _ in runs), runs[0][1], loaded, peak_rss(proc.pid))
                print(f"{name}: transfers {', '.join(f'{t:.2f} s' for t, _ in runs)}", flush=True)
            finally:
                stop(proc)
    print(f"\n{count} records in the zone file; receiver kdig axfr > /dev/null; best of {rounds}")
    print(f"{'server':<11}{'seconds':>9}{'records':>10}{'records/s':>11}{'RSS loaded MB':>15}{'peak RSS MB':>13}")
    for name, (took, records, loaded, peak) in rows.items():
        print(f"{name:<11}{took:>9.2f}{records:>10}{records / took:>11.0f}{loaded / 2**20:>15.0f}"
              f"{peak / 2**20:>13.0f}")
    ours, nsd = rows["dns-suite"], rows["nsd"]
    if ours[1] != nsd[1]:
        print(f"WARNING: record counts differ: dns-suite {ours[1]}, nsd {nsd[1]}")
    print(f"transfer rate ratio dns-suite/NSD: {(ours[1] / ours[0]) / (nsd[1] / nsd[0]):.2f} (goal >= 0.25)")


if __name__ == "__main__":
    main()
